"""An idle connection that keeps a store's WAL open for a long-running server.

SQLite checkpoints the write-ahead log into the store file whenever the last connection to it
closes: with one connection per callback (qbsync.connector.service), that is every callback,
about a millisecond of CPU and several of disk each. While one idle connection stays open no
callback's close is the last; SQLite checkpoints every 1000 pages instead, as in any busy
database. The idle connection reads the schema once and never again, so it holds no snapshot:
every other connection still reads the store as it is.
"""

from __future__ import annotations

import os
import sqlite3


def hold_open(path: str | os.PathLike[str]) -> sqlite3.Connection | None:
    """An idle connection joined to the store's WAL (close it to let go), or None when the store
    cannot be read just now (only an optimisation: try again later)."""
    holder = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        holder.execute("SELECT count(*) FROM sqlite_master").fetchall()  # joins the WAL, then idles
    except sqlite3.Error:
        holder.close()
        return None
    return holder
