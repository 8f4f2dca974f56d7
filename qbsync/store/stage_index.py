"""The valid lines of one `qbsync stage` call, between its checks and its write pass: each
line's normalised content, fingerprint, id, link, name and references wait in a private
temporary SQLite database (on disk, gone when closed; its page cache is SQLite's default, a few
MB) instead of in memory, so that staging a file takes memory independent of its size. The
file-wide checks (stage_checks) read back only the lines they may refuse: those sharing an id,
those whose name may clash, those with references; the write pass reads every line not refused.

Not the store: nothing here is kept, and the store's connection and its locks are untouched.
"""

from __future__ import annotations

import pickle
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from qbsync.errors import QbsyncError
from qbsync.store.db import chunks

_BATCH = 500  # lines written together


@contextmanager
def _temporary_file() -> Iterator[None]:
    """SQLite failing to write the index (a full or read-only temporary folder) is one clear error."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise QbsyncError(f"cannot write staging's temporary file in {tempfile.gettempdir()} ({exc});"
                          " point TMPDIR at a folder with room") from exc


class StageIndex:
    def __init__(self) -> None:
        self.conn = sqlite3.connect("", isolation_level=None)  # "": a temporary database of its own
        with _temporary_file():
            self._create()
        self._waiting: list[tuple[Any, ...]] = []
        self._indexed = False

    def _create(self) -> None:
        self.conn.execute("PRAGMA query_only = OFF")  # private and temporary: always writable
        self.conn.execute(
            "CREATE TABLE lines (line INTEGER PRIMARY KEY, local_id TEXT NOT NULL, link_id TEXT, data BLOB NOT NULL,"
            " has_refs INTEGER NOT NULL, unchanged INTEGER NOT NULL, fingerprint TEXT NOT NULL, leaf TEXT,"
            " parent_id TEXT, plain INTEGER NOT NULL, refused INTEGER NOT NULL DEFAULT 0)"
        )
        self.conn.execute("BEGIN")  # one transaction, never committed: the file goes with the connection

    def add(self, line: int, local_id: str, link_id: str | None, data: dict[str, Any], has_refs: bool,
            unchanged: bool, fingerprint: str, leaf: str | None, parent_id: str | None, plain: bool) -> None:
        """One valid line: `data` its content (kept as it is, keys in their order); `leaf` its
        folded name's last part; `parent_id` the app's id its ParentRef names; `plain`: no
        ParentRef, no link."""
        self._waiting.append((line, local_id, link_id, pickle.dumps(data, pickle.HIGHEST_PROTOCOL), int(has_refs),
                              int(unchanged), fingerprint, leaf, parent_id, int(plain)))
        if len(self._waiting) >= _BATCH:
            self._write()

    def _write(self) -> None:
        with _temporary_file():
            self._insert()

    def _insert(self) -> None:
        self.conn.executemany("INSERT INTO lines (line, local_id, link_id, data, has_refs, unchanged, fingerprint, leaf,"
                              " parent_id, plain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._waiting)
        self._waiting.clear()

    def _ready(self) -> sqlite3.Connection:
        """Everything written, and indexed for the checks' questions (built once, after loading)."""
        if self._waiting:
            self._write()
        if not self._indexed:
            with _temporary_file():
                for column in ("local_id", "leaf", "parent_id"):
                    self.conn.execute(f"CREATE INDEX lines_by_{column} ON lines ({column})")
            self._indexed = True
        return self.conn

    def count(self) -> int:
        return self._ready().execute("SELECT count(*) FROM lines").fetchone()[0]

    def lines_sharing_an_id(self) -> Iterator[dict[str, Any]]:
        """The lines whose id is on another line too, in line order."""
        return self._rows("SELECT * FROM lines WHERE local_id IN"
                          " (SELECT local_id FROM lines GROUP BY local_id HAVING count(*) > 1) ORDER BY line")

    def lines_for_names(self) -> Iterator[dict[str, Any]]:
        """The lines not refused, in line order, each with `shared` (its leaf is on another line
        too) and `is_parent` (another line's ParentRef names its id)."""
        return self._rows(
            "SELECT *, leaf IN (SELECT leaf FROM lines WHERE leaf IS NOT NULL GROUP BY leaf HAVING count(*) > 1)"
            " AS shared, local_id IN (SELECT parent_id FROM lines WHERE parent_id IS NOT NULL) AS is_parent"
            " FROM lines WHERE refused = 0 ORDER BY line"
        )

    def lines_with_refs(self) -> Iterator[dict[str, Any]]:
        """The lines not refused that hold a local-id reference, in line order."""
        return self._rows("SELECT * FROM lines WHERE refused = 0 AND has_refs = 1 ORDER BY line")

    def lines_kept(self) -> Iterator[dict[str, Any]]:
        """Every line not refused, in line order (the write pass)."""
        return self._rows("SELECT * FROM lines WHERE refused = 0 ORDER BY line")

    def id_counts(self, ids: Iterable[str]) -> dict[str, int]:
        """How many lines not refused carry each of `ids` (ids on no line are left out)."""
        conn, out = self._ready(), {}
        for chunk in chunks(sorted(set(ids))):
            out.update(conn.execute(f"SELECT local_id, count(*) FROM lines WHERE refused = 0 AND local_id IN"
                                    f" ({', '.join('?' * len(chunk))}) GROUP BY local_id", tuple(chunk)).fetchall())
        return out

    def refuse(self, lines: Iterable[int]) -> None:
        self._ready().executemany("UPDATE lines SET refused = 1 WHERE line = ?", ((n,) for n in lines))

    def _rows(self, sql: str) -> Iterator[dict[str, Any]]:
        cur = self._ready().execute(sql)
        cols = [d[0] for d in cur.description]
        while batch := cur.fetchmany(_BATCH):
            for row in batch:
                yield dict(zip(cols, row))

    @staticmethod
    def data(row: dict[str, Any]) -> dict[str, Any]:
        """The content of a line read back (decoded only for the lines a caller keeps)."""
        return pickle.loads(row["data"])

    def close(self) -> None:
        self.conn.close()
