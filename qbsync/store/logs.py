"""SQL for the append-only logs: Failed Syncs (`failures`) and the app's feed (`feed`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from qbsync.store.db import Store
from qbsync.timeutil import utc_now


def append_failure(
    store: Store,
    change: dict[str, Any],
    *,
    status_code: int | None,
    status_severity: str | None,
    status_message: str | None,
    outcome_unknown: bool = False,
    at: str | None = None,
) -> int:
    cur = store.execute(
        "INSERT INTO failures (change_id, connection_id, direction, type, action, local_id, name, attempt,"
        " message_id, status_code, status_severity, status_message, outcome_unknown, failed_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            change["id"], change["connection_id"], change["direction"], change["type"], change["action"],
            change["local_id"], change["name"], change["attempts"], change["message_id"], status_code,
            status_severity, status_message, int(outcome_unknown), at or utc_now(),
        ),
    )
    return int(cur.lastrowid)  # type: ignore[arg-type]


def list_failures(store: Store, connection_id: int | None, since: str | None = None) -> list[dict[str, Any]]:
    """Every failed attempt (oldest first), with the change's current status."""
    sql = (
        "SELECT f.*, c.status AS change_status FROM failures f LEFT JOIN changes c ON c.id = f.change_id WHERE 1 = 1"
    )
    params: list[Any] = []
    if connection_id is not None:
        sql += " AND f.connection_id = ?"
        params.append(connection_id)
    if since:
        sql += " AND f.failed_at >= ?"
        params.append(since)
    rows = store.query(sql + " ORDER BY f.id", params)
    for r in rows:
        r["outcome_unknown"] = bool(r["outcome_unknown"])
    return rows


def append_feed(
    store: Store,
    change: dict[str, Any],
    *,
    result: str,
    qb_id: str | None = None,
    edit_sequence: str | None = None,
    data: dict[str, Any] | None = None,
    status_code: int | None = None,
    status_message: str | None = None,
) -> int:
    cur = store.execute(_FEED_INSERT, _feed_row(change, result, qb_id, edit_sequence, data, status_code,
                                                status_message, utc_now()))
    return int(cur.lastrowid)  # type: ignore[arg-type]


def append_synced_feeds(store: Store, entries: Iterable[tuple[dict[str, Any], str, str | None, dict[str, Any] | None]],
                        ) -> None:
    """`append_feed` with result "synced" for many (change, qb_id, edit_sequence, data), in their
    order, in one statement run (a response's synced changes)."""
    at = utc_now()
    store.executemany(_FEED_INSERT, [_feed_row(change, "synced", qb_id, edit_sequence, data, None, None, at)
                                     for change, qb_id, edit_sequence, data in entries])


_FEED_INSERT = (
    "INSERT INTO feed (connection_id, change_id, direction, type, action, result, local_id, qb_id,"
    " edit_sequence, name, data, status_code, status_message, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _feed_row(change: dict[str, Any], result: str, qb_id: str | None, edit_sequence: str | None,
              data: dict[str, Any] | None, status_code: int | None, status_message: str | None, at: str) -> tuple:
    return (change["connection_id"], change["id"], change["direction"], change["type"], change["action"], result,
            change["local_id"], qb_id, edit_sequence, change["name"], None if data is None else json.dumps(data),
            status_code, status_message, at)


def list_feed(store: Store, connection_id: int | None, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM feed WHERE cursor > ?"
    params: list[Any] = [since]
    if connection_id is not None:
        sql += " AND connection_id = ?"
        params.append(connection_id)
    sql += " ORDER BY cursor"
    if limit:
        sql += " LIMIT ?"
        params.append(limit)
    rows = store.query(sql, params)
    for r in rows:
        if isinstance(r.get("data"), str):
            r["data"] = json.loads(r["data"])
    return rows
