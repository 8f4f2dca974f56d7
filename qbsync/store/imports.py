"""SQL of import detection and of approved imports: each connection's watermarks (QuickBooks'
own newest TimeModified / TimeDeleted read, per type), when detection last ran, and the
approved imports a session applies."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from qbsync.store import changes as store_changes
from qbsync.store.db import Store, chunks


def watermarks(store: Store, connection_id: int) -> dict[str, str]:
    """kind (a type, ListDeleted or TxnDeleted) -> QuickBooks' newest time read."""
    rows = store.query("SELECT kind, since FROM import_watermarks WHERE connection_id = ?", (connection_id,))
    return {r["kind"]: r["since"] for r in rows}


def set_watermark(store: Store, connection_id: int, kind: str, since: str, at: str) -> None:
    store.execute(
        "INSERT INTO import_watermarks (connection_id, kind, since, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (connection_id, kind) DO UPDATE SET since = excluded.since, updated_at = excluded.updated_at",
        (connection_id, kind, since, at),
    )


def clear_watermarks(store: Store, connection_id: int) -> None:
    """The next detection reads from --import-since (or everything) again."""
    store.execute("DELETE FROM import_watermarks WHERE connection_id = ?", (connection_id,))


def mark_detected(store: Store, connection_id: int, at: str) -> None:
    store.execute("UPDATE connections SET last_detected_at = ? WHERE id = ?", (at, connection_id))


def count_queued_imports(store: Store, connection_id: int) -> int:
    return int(store.scalar(
        "SELECT count(*) FROM changes WHERE connection_id = ? AND status = 'queued' AND direction = 'import'",
        (connection_id,),
    ))


def queued_imports(store: Store, connection_id: int, max_change_id: int | None = None, *, limit: int | None = None,
                   skip: Iterable[int] = ()) -> tuple[list[dict[str, Any]], bool]:
    """Approved imports of a connection (up to `max_change_id`), oldest first: the first `limit`
    of them leaving out `skip`, and whether more are approved beyond those."""
    skip = sorted(set(skip))[:5000]
    where = "connection_id = ? AND direction = 'import' AND status = 'queued' AND id <= ?"
    if skip:
        where += f" AND id NOT IN ({', '.join('?' * len(skip))})"
    rows = store_changes.query_changes(
        store, f"SELECT * FROM changes WHERE {where} ORDER BY id" + (" LIMIT ?" if limit else ""),
        [connection_id, max_change_id if max_change_id is not None else 2**62, *skip,
         *([limit + 1] if limit else [])],
    )
    more = bool(limit) and len(rows) > limit
    return (rows[:limit] if limit else rows), more


# -- detection's records, a page at a time ---------------------------------------------------

# json.dumps' own text (same separators, ASCII escapes), without its check for reference cycles:
# a record parsed from XML has none, and a page holds hundreds.
_PAYLOAD_JSON = json.JSONEncoder(check_circular=False)


def records_by_qb_ids(store: Store, connection_id: int, type_: str, qb_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The mirror's local id and EditSequence of each of `qb_ids` it knows."""
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(qb_ids):
        for r in store.query(
            f"SELECT qb_id, local_id, edit_sequence FROM records WHERE connection_id = ? AND type = ?"
            f" AND qb_id IN ({', '.join('?' * len(chunk))})", (connection_id, type_, *chunk),
        ):
            out[r["qb_id"]] = r
    return out


def seen_imports(store: Store, connection_id: int, type_: str, local_ids: list[str]) -> dict[str, str]:
    """What QuickBooks last showed of each of `local_ids` (its fingerprint)."""
    out: dict[str, str] = {}
    for chunk in chunks(local_ids):
        for r in store.query(
            f"SELECT local_id, fingerprint FROM seen WHERE connection_id = ? AND direction = 'import' AND type = ?"
            f" AND local_id IN ({', '.join('?' * len(chunk))})", (connection_id, type_, *chunk),
        ):
            out[r["local_id"]] = r["fingerprint"]
    return out


def with_open_imports(store: Store, connection_id: int, type_: str, local_ids: list[str]) -> set[str]:
    """Which of `local_ids` have an import change not yet settled (awaiting, held, queued,
    sending or in the Error Log)."""
    out: set[str] = set()
    for chunk in chunks(local_ids):
        out.update(r["local_id"] for r in store.query(
            f"SELECT DISTINCT local_id FROM changes WHERE connection_id = ? AND direction = 'import' AND type = ?"
            f" AND status IN ('awaiting', 'held', 'queued', 'sending', 'error') AND local_id IN ({', '.join('?' * len(chunk))})",
            (connection_id, type_, *chunk),
        ))
    return out


def insert_new_imports(store: Store, connection_id: int, type_: str, rows: list[tuple[str, str, str, dict[str, Any], str]],
                       at: str) -> None:
    """Import adds awaiting approval, many at once: (local_id, qb_id, name, payload, fingerprint)
    each; QuickBooks' fingerprint of each is remembered as seen."""
    store.executemany(
        "INSERT INTO changes (connection_id, direction, type, action, local_id, qb_id, name, payload, before, status,"
        " checked, detected_at, updated_at) VALUES (?, 'import', ?, 'add', ?, ?, ?, ?, '{}', 'awaiting', 1, ?, ?)",
        [(connection_id, type_, lid, qb_id, name, _PAYLOAD_JSON.encode(payload), at, at) for lid, qb_id, name, payload, _ in rows],
    )
    store.executemany(
        "INSERT INTO seen (connection_id, direction, type, local_id, fingerprint, seen_at) VALUES (?, 'import', ?, ?, ?, ?)"
        " ON CONFLICT (connection_id, direction, type, local_id) DO UPDATE SET fingerprint = excluded.fingerprint,"
        " seen_at = excluded.seen_at",
        [(connection_id, type_, lid, fp, at) for lid, _, _, _, fp in rows],
    )
