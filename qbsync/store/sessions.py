"""SQL for Web Connector sessions, the .qwc identifiers, and store copies for recordings.

A session row is found by the SHA-256 of its ticket: the ticket itself is never stored, so a
copy of the store cannot be used to hijack a session. `state` is the engine's JSON.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from qbsync.store.db import Store

OWNER_ID_SETTING = "qwc_owner_id"

def _row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None:
        for col in ("state", "counts"):
            if isinstance(row.get(col), str):
                row[col] = json.loads(row[col])
    return row


def create_session(store: Store, *, ticket_hash: str, connection_id: int, at: str, state: dict[str, Any]) -> int:
    cur = store.execute(
        "INSERT INTO sessions (ticket_hash, connection_id, created_at, last_call_at, state) VALUES (?, ?, ?, ?, ?)",
        (ticket_hash, connection_id, at, at, json.dumps(state)),
    )
    return int(cur.lastrowid)  # type: ignore[arg-type]


def get_session(store: Store, ticket_hash: str) -> dict[str, Any] | None:
    return _row(store.query_one("SELECT * FROM sessions WHERE ticket_hash = ?", (ticket_hash,)))


def open_sessions(store: Store, connection_id: int) -> list[dict[str, Any]]:
    """Sessions of a connection not closed yet (alive or abandoned), oldest first."""
    return [
        _row(r)  # type: ignore[misc]
        for r in store.query(
            "SELECT * FROM sessions WHERE connection_id = ? AND closed_at IS NULL ORDER BY id", (connection_id,)
        )
    ]


def stale_sessions(store: Store, before: str) -> list[dict[str, Any]]:
    """Open sessions of any connection whose last call was before `before` (ISO UTC).

    Every authenticate asks, inside its write transaction, and sessions are kept: looked up per
    connection through sessions_by_connection (connection_id, closed_at), the open ones are found
    without reading every session ever held (a scan: ~50 ms at 200,000 sessions, a few days of
    200 companies)."""
    return [
        _row(r)  # type: ignore[misc]
        for r in store.query(
            "SELECT * FROM sessions WHERE connection_id IN (SELECT id FROM connections) AND closed_at IS NULL"
            " AND last_call_at < ? ORDER BY id", (before,)
        )
    ]


def started_since(store: Store, connection_id: int, session_id: int) -> bool:
    """Whether another session of the connection started after session `session_id`."""
    return bool(store.scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE connection_id = ? AND id > ?)", (connection_id, session_id)
    ))


_UPDATABLE = {"last_call_at", "closed_at", "state", "last_error", "percent", "counts", "summary"}


def update_session(store: Store, session_id: int, **fields: Any) -> None:
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    for col in ("state", "counts"):
        if col in fields and not isinstance(fields[col], str):
            fields[col] = json.dumps(fields[col])
    store.update_row("sessions", session_id, fields)


def recent_sessions(store: Store, connection_id: int | None = None, limit: int = 10) -> list[dict[str, Any]]:
    """The last Web Connector runs (newest first), without their state."""
    sql = (
        "SELECT s.id, s.connection_id, c.name AS connection, s.created_at, s.last_call_at, s.closed_at,"
        " s.percent, s.counts, s.summary, s.last_error FROM sessions s JOIN connections c ON c.id = s.connection_id"
    )
    params: list[Any] = []
    if connection_id is not None:
        sql += " WHERE s.connection_id = ?"
        params.append(connection_id)
    sql += " ORDER BY s.id DESC LIMIT ?"
    params.append(limit)
    return [_row(r) for r in store.query(sql, params)]  # type: ignore[misc]


# -- the .qwc identifiers -----------------------------------------------------------------------


def _guid() -> str:
    return "{" + str(uuid.uuid4()).upper() + "}"


def get_setting(store: Store, key: str) -> str | None:
    return store.scalar("SELECT value FROM settings WHERE key = ?", (key,))


def set_setting(store: Store, key: str, value: str) -> None:
    store.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def qwc_identifiers(store: Store, connection_id: int) -> tuple[str, str]:
    """(OwnerID, FileID) for a connection's .qwc file: one OwnerID for the whole store (the
    application), one FileID per connection, made once and kept so a re-issued .qwc matches."""
    with store.transaction():
        owner = get_setting(store, OWNER_ID_SETTING)
        if not owner:
            owner = _guid()
            set_setting(store, OWNER_ID_SETTING, owner)
        file_id = store.scalar("SELECT file_id FROM qwc_files WHERE connection_id = ?", (connection_id,))
        if not file_id:
            file_id = _guid()
            store.execute("INSERT INTO qwc_files (connection_id, file_id) VALUES (?, ?)", (connection_id, file_id))
    return owner, file_id


# -- copies for recordings ----------------------------------------------------------------------


def copy_without_secrets(store: Store, dest: str | Path) -> Path:
    """A consistent copy of the store (SQLite's backup API) with every password hash blanked
    and no session tickets' hashes, failed logins or lockouts (user names people tried, their
    addresses), for a session recording."""
    dest = Path(dest)
    target = sqlite3.connect(str(dest))
    try:
        store.conn.backup(target)
        # Overwrite the freed bytes too: without it the old hashes stay readable in free pages.
        target.execute("PRAGMA secure_delete = ON")
        target.execute("UPDATE connections SET password_hash = ''")
        target.execute("UPDATE sessions SET ticket_hash = 'redacted-' || id")
        target.execute("DELETE FROM login_failures")
        target.execute("DELETE FROM login_lockouts")
        target.commit()
    finally:
        target.close()
    return dest
