"""SQL for records: the mirror of each entity known on both sides."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from qbsync.store.db import Store, chunks
from qbsync.timeutil import utc_now

_JSON_COLUMNS = ("data", "qb_data")
# json.dumps(value, sort_keys=True), the same text, without making an encoder for every value
# (a response's synced changes write two each).
_SORTED_JSON = json.JSONEncoder(sort_keys=True).encode


def _row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None:
        for col in _JSON_COLUMNS:
            if isinstance(row.get(col), str):
                row[col] = json.loads(row[col])
    return row


def get_record(store: Store, connection_id: int, type_: str, local_id: str) -> dict[str, Any] | None:
    return _row(
        store.query_one(
            "SELECT * FROM records WHERE connection_id = ? AND type = ? AND local_id = ?",
            (connection_id, type_, local_id),
        )
    )


def get_records(store: Store, connection_id: int, type_: str, local_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`get_record` for many local ids at once (a query per 500): {local_id: record}."""
    wanted = list(local_ids)
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(wanted):
        for row in store.query(
            f"SELECT * FROM records WHERE connection_id = ? AND type = ? AND local_id IN ({', '.join('?' * len(chunk))})",
            (connection_id, type_, *chunk),
        ):
            out[row["local_id"]] = _row(row)  # type: ignore[assignment]
    return out


def get_record_by_qb_id(store: Store, connection_id: int, type_: str, qb_id: str) -> dict[str, Any] | None:
    return _row(
        store.query_one(
            "SELECT * FROM records WHERE connection_id = ? AND type = ? AND qb_id = ?", (connection_id, type_, qb_id)
        )
    )


def find_by_local_id(store: Store, connection_id: int, local_id: str) -> list[dict[str, Any]]:
    """Records of any type with this local id (references carry no type)."""
    return [
        _row(r)  # type: ignore[misc]
        for r in store.query(
            "SELECT * FROM records WHERE connection_id = ? AND local_id = ? ORDER BY id", (connection_id, local_id)
        )
    ]


def list_records(store: Store, connection_id: int, type_: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM records WHERE connection_id = ?"
    params: list[Any] = [connection_id]
    if type_:
        sql += " AND type = ?"
        params.append(type_)
    return [_row(r) for r in store.query(sql + " ORDER BY type, id", params)]  # type: ignore[misc]


def save_record(
    store: Store,
    connection_id: int,
    type_: str,
    local_id: str,
    *,
    qb_id: str | None,
    edit_sequence: str | None,
    name: str | None,
    data: dict[str, Any],
    qb_data: dict[str, Any] | None,
    now: str | None = None,
) -> None:
    """Insert or replace the mirror of one entity (`now`: the time stamped, default the clock's)."""
    save_records(store, [MirrorWrite(connection_id, type_, local_id, qb_id, edit_sequence, name, data, qb_data)],
                 now=now)


class MirrorWrite(NamedTuple):
    """One entity's mirror as `save_records` writes it."""

    connection_id: int
    type: str
    local_id: str
    qb_id: str | None
    edit_sequence: str | None
    name: str | None
    data: dict[str, Any]
    qb_data: dict[str, Any] | None


def save_records(store: Store, records: Iterable[MirrorWrite], *, now: str | None = None) -> None:
    """`save_record` for many entities in one statement run (a response's synced changes)."""
    now = now or utc_now()
    store.executemany(
        "INSERT INTO records (connection_id, type, local_id, qb_id, edit_sequence, name, data, qb_data, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (connection_id, type, local_id) DO UPDATE SET qb_id = excluded.qb_id,"
        " edit_sequence = excluded.edit_sequence, name = excluded.name, data = excluded.data,"
        " qb_data = excluded.qb_data, updated_at = excluded.updated_at",
        [(r.connection_id, r.type, r.local_id, r.qb_id, r.edit_sequence, r.name, _SORTED_JSON(r.data),
          None if r.qb_data is None else _SORTED_JSON(r.qb_data), now, now) for r in records],
    )


def delete_record(store: Store, connection_id: int, type_: str, local_id: str) -> None:
    store.execute(
        "DELETE FROM records WHERE connection_id = ? AND type = ? AND local_id = ?", (connection_id, type_, local_id)
    )


def relink(store: Store, connection_id: int, type_: str, old_local_id: str, new_local_id: str) -> None:
    """The app links its own id to an entity that came from QuickBooks (keyed by its QuickBooks id
    until now): every row that names the entity follows."""
    params = (new_local_id, connection_id, type_, old_local_id)
    store.execute("UPDATE records SET local_id = ? WHERE connection_id = ? AND type = ? AND local_id = ?", params)
    store.execute("UPDATE changes SET local_id = ? WHERE connection_id = ? AND type = ? AND local_id = ?", params)
    store.execute("UPDATE failures SET local_id = ? WHERE connection_id = ? AND type = ? AND local_id = ?", params)
    store.execute("UPDATE OR REPLACE seen SET local_id = ? WHERE connection_id = ? AND type = ? AND local_id = ?", params)
    store.execute(
        "UPDATE change_refs SET local_id = ? WHERE local_id = ?"
        " AND change_id IN (SELECT id FROM changes WHERE connection_id = ?)",
        (new_local_id, old_local_id, connection_id),
    )


def local_ids_present(store: Store, connection_id: int, local_ids: Iterable[str], types: Sequence[str]) -> set[str]:
    """Which of `local_ids` name a mirror record of one of `types` (references carry no type:
    pass every type; naming them lets SQLite search the (connection, type, local id) index)."""
    wanted = sorted(set(local_ids))
    found: set[str] = set()
    for chunk in chunks(wanted):
        rows = store.query(
            f"SELECT DISTINCT local_id FROM records WHERE connection_id = ? AND type IN ({', '.join('?' * len(types))})"
            f" AND local_id IN ({', '.join('?' * len(chunk))})",
            [connection_id, *types, *chunk],
        )
        found.update(r["local_id"] for r in rows)
    return found


def names_of_types(store: Store, connection_id: int, types: Iterable[str]) -> list[dict[str, Any]]:
    """What decides the FullName of each mirror record of these list types, without loading
    whole records: type, local_id, qb_id, `name` (Name), `parent` (ParentRef, parsed) and
    `full_name` (the FullName QuickBooks last reported, when it did)."""
    types = list(types)
    if not types:
        return []
    rows = store.query(
        "SELECT type, local_id, qb_id, json_extract(data, '$.Name') AS name,"
        " json_quote(json_extract(data, '$.ParentRef')) AS parent, json_extract(qb_data, '$.FullName') AS full_name"
        f" FROM records WHERE connection_id = ? AND type IN ({', '.join('?' * len(types))}) ORDER BY id",
        [connection_id, *types],
    )
    for r in rows:
        r["parent"] = json.loads(r["parent"]) if r["parent"] else None
    return rows
