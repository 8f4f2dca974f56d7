"""SQL for changes (the wizard's rows), their references, and what each side last showed us."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from qbsync.errors import NotFound
from qbsync.store.db import Store, chunks
from qbsync.timeutil import utc_now

OPEN = ("awaiting", "held")  # in the wizard (held = kept unchecked until the next run)
IN_FLIGHT = ("queued", "sending", "error")  # approved, not yet settled
_JSON_COLUMNS = ("payload", "before")


_scan_json = json.JSONDecoder().scan_once


def _decode(text: str) -> Any:
    """A JSON column's value. The store writes them with json.dumps (no whitespace around), so
    the decoder's scanner reads them straight (json.loads first matches whitespace twice per
    value: a tenth of `pending --format json`); anything else goes through json.loads."""
    try:
        value, end = _scan_json(text, 0)
    except (StopIteration, ValueError):
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


def _row(row: dict[str, Any] | None, json_text: bool = False) -> dict[str, Any] | None:
    if row is not None:
        for col in () if json_text else _JSON_COLUMNS:
            value = row.get(col)
            if isinstance(value, str):
                row[col] = {} if value == "{}" else _decode(value)
        for col in ("checked", "outcome_unknown"):
            if col in row and row[col] is not None:
                row[col] = bool(row[col])
        # refresh_edit_sequence stays the number it is: 0 none, 1 re-read and merge, 2 the app wins
    return row


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_row(r) for r in rows]  # type: ignore[misc]


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def get_change(store: Store, change_id: int) -> dict[str, Any]:
    row = _row(store.query_one("SELECT * FROM changes WHERE id = ?", (change_id,)))
    if row is None:
        raise NotFound(f"no change with id {change_id}")
    return row


def get_changes(store: Store, ids: Sequence[int], connection_id: int | None = None) -> list[dict[str, Any]]:
    """The changes with these ids, in the order given; NotFound names every unknown id."""
    if not ids:
        return []
    rows = {
        r["id"]: r
        for chunk in chunks(list(ids))
        for r in _rows(store.query(f"SELECT * FROM changes WHERE id IN ({_marks(len(chunk))})", list(chunk)))
    }
    if connection_id is not None:
        rows = {k: v for k, v in rows.items() if v["connection_id"] == connection_id}
    missing = [str(i) for i in ids if i not in rows]
    if missing:
        noun = "change" if len(missing) == 1 else "changes"
        raise NotFound(f"no {noun} with id {', '.join(missing)}" + (" in this connection" if connection_id else ""))
    return [rows[i] for i in ids]


def _where(
    connection_id: int | None, statuses: Iterable[str], direction: str | None, type_: str | None
) -> tuple[str, list[Any]]:
    statuses = list(statuses)
    sql = f"status IN ({_marks(len(statuses))})"
    params: list[Any] = list(statuses)
    if connection_id is not None:
        sql += " AND connection_id = ?"
        params.append(connection_id)
    if direction:
        sql += " AND direction = ?"
        params.append(direction)
    if type_:
        sql += " AND type = ?"
        params.append(type_)
    return sql, params


# The columns of a change without its content (payload, before): what approving needs.
BRIEF_COLUMNS = ("id", "connection_id", "direction", "type", "local_id", "action", "status", "checked")


def query_changes(store: Store, sql: str, params: Sequence[Any], *, json_text: bool = False) -> list[dict[str, Any]]:
    """Rows of `changes` selected by `sql` (for the store's other modules), JSON decoded; with
    `json_text`, payload and before stay JSON text (for a caller that decodes only what it uses)."""
    return [_row(r, json_text) for r in store.query(sql, params)]  # type: ignore[misc]


def iter_changes(
    store: Store,
    connection_id: int | None,
    statuses: Iterable[str],
    *,
    direction: str | None = None,
    type_: str | None = None,
    imports_first: bool = False,
    brief: bool = False,
    columns: Sequence[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Changes in these statuses, oldest first (with `imports_first`, every import before the
    exports), one at a time: memory holds a few rows whatever the queue's length. `brief`: only
    BRIEF_COLUMNS (no JSON to decode); `columns`: only these (a caller's fixed list)."""
    if columns is not None and not all(c.isidentifier() for c in columns):
        raise ValueError(f"not column names: {columns!r}")
    cols = ", ".join(BRIEF_COLUMNS if brief else columns) if brief or columns else "*"
    # Imports first: one query per direction, each in the order of the changes_by_status index
    # (no sort of the whole queue before the first row comes).
    for d in ("import", "export") if imports_first and not direction else (direction,):
        where, params = _where(connection_id, statuses, d, type_)
        for row in store.iter_query(f"SELECT {cols} FROM changes WHERE {where} ORDER BY id", params):
            yield _row(row)  # type: ignore[misc]


def list_changes(
    store: Store,
    connection_id: int | None,
    statuses: Iterable[str],
    *,
    direction: str | None = None,
    type_: str | None = None,
    imports_first: bool = False,
    brief: bool = False,
    columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Changes in these statuses, oldest first (with `imports_first`, every import before the exports)."""
    return list(iter_changes(store, connection_id, statuses, direction=direction, type_=type_,
                             imports_first=imports_first, brief=brief, columns=columns))


def count_changes(
    store: Store, connection_id: int | None, statuses: Iterable[str], *, direction: str | None = None,
    type_: str | None = None,
) -> int:
    """How many changes `list_changes` would return (one COUNT, nothing decoded)."""
    where, params = _where(connection_id, statuses, direction, type_)
    return int(store.scalar(f"SELECT count(*) FROM changes WHERE {where}", params))


def count_by_status(store: Store, connection_id: int) -> dict[tuple[str, str], int]:
    """{(status, direction): count} for one connection."""
    rows = store.query(
        "SELECT status, direction, count(*) AS n FROM changes WHERE connection_id = ? GROUP BY status, direction",
        (connection_id,),
    )
    return {(r["status"], r["direction"]): r["n"] for r in rows}


# Records with an import awaiting and an export awaiting too: driven by the imports (usually few)
# and the changes_by_entity index, so a queue of 100,000 exports costs nothing here.
_PAIRED_IMPORTS = (
    "FROM changes i WHERE i.connection_id = ? AND i.status = 'awaiting' AND i.direction = 'import'{type}"
    " AND EXISTS (SELECT 1 FROM changes e WHERE e.connection_id = i.connection_id AND e.direction = 'export'"
    " AND e.type = i.type AND e.local_id = i.local_id AND e.status = 'awaiting')"
)


def count_awaiting_pairs(store: Store, connection_id: int, type_: str | None = None) -> int:
    """How many (export, import) pairs await approval for one record: the wizard's conflicts
    (qbsync.sync.conflicts pairs them oldest with oldest), counted without loading the changes."""
    where = _PAIRED_IMPORTS.format(type=" AND i.type = ?" if type_ else "")
    params = (connection_id, *((type_,) if type_ else ()))
    return int(store.scalar(
        "SELECT coalesce(sum(min(n, (SELECT count(*) FROM changes e WHERE e.connection_id = ? AND e.direction = 'export'"
        " AND e.type = k.type AND e.local_id = k.local_id AND e.status = 'awaiting'))), 0)"
        f" FROM (SELECT i.type, i.local_id, count(*) AS n {where} GROUP BY i.type, i.local_id) AS k",
        (connection_id, *params),
    ) or 0)


def awaiting_pair_changes(store: Store, connection_id: int, type_: str | None = None) -> list[dict[str, Any]]:
    """Every awaiting change of the records with both an export and an import awaiting (what
    qbsync.sync.conflicts.find pairs), oldest first: a few rows, whatever the queue's length."""
    where = _PAIRED_IMPORTS.format(type=" AND i.type = ?" if type_ else "")
    keys = store.query(f"SELECT DISTINCT i.type, i.local_id {where}", (connection_id, *((type_,) if type_ else ())))
    found = [c for k in keys for d in ("export", "import")
             for c in changes_for_entity(store, connection_id, d, k["type"], k["local_id"], ["awaiting"])]
    return sorted(found, key=lambda c: c["id"])


def changes_for_entity(
    store: Store, connection_id: int, direction: str, type_: str, local_id: str, statuses: Iterable[str]
) -> list[dict[str, Any]]:
    statuses = list(statuses)
    return _rows(
        store.query(
            f"SELECT * FROM changes WHERE connection_id = ? AND direction = ? AND type = ? AND local_id = ?"
            f" AND status IN ({_marks(len(statuses))}) ORDER BY id",
            (connection_id, direction, type_, local_id, *statuses),
        )
    )


def changes_for_entities(
    store: Store, connection_id: int, direction: str, type_: str, local_ids: Iterable[str], statuses: Iterable[str]
) -> dict[str, list[dict[str, Any]]]:
    """`changes_for_entity` for many local ids at once (a query per 500): {local_id: changes,
    oldest first}; an id with none is absent."""
    statuses = list(statuses)
    out: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunks(list(local_ids)):  # type: ignore[arg-type]
        for row in _rows(store.query(
            f"SELECT * FROM changes WHERE connection_id = ? AND direction = ? AND type = ?"
            f" AND local_id IN ({_marks(len(chunk))}) AND status IN ({_marks(len(statuses))}) ORDER BY id",
            (connection_id, direction, type_, *chunk, *statuses),
        )):
            out.setdefault(row["local_id"], []).append(row)
    return out


def insert_change(
    store: Store,
    *,
    connection_id: int,
    direction: str,
    type_: str,
    action: str,
    local_id: str,
    qb_id: str | None,
    name: str | None,
    payload: dict[str, Any],
    before: dict[str, Any],
    status: str = "awaiting",
    now: str | None = None,
) -> int:
    """A new change (checked); `now`: its detection time (default: the clock's), one for many
    changes staged together."""
    now = now or utc_now()
    cur = store.execute(
        "INSERT INTO changes (connection_id, direction, type, action, local_id, qb_id, name, payload, before,"
        " status, checked, detected_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
        (connection_id, direction, type_, action, local_id, qb_id, name, json.dumps(payload), json.dumps(before), status, now, now),
    )
    return int(cur.lastrowid)  # type: ignore[arg-type]


_UPDATABLE = {
    "action", "qb_id", "name", "payload", "before", "status", "checked", "approved_at", "resolved_at", "attempts",
    "last_tried", "message_id", "status_code", "status_severity", "status_message", "note", "outcome_unknown",
    "refresh_edit_sequence", "detected_at",
}


def update_change(store: Store, change_id: int, **fields: Any) -> None:
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    for col in _JSON_COLUMNS:
        if col in fields:
            fields[col] = json.dumps(fields[col])
    store.update_row("changes", change_id, {**fields, "updated_at": utc_now()})


def mark_sending(store: Store, ids: Sequence[int], *, message_id: str | None, at: str) -> None:
    """The changes of a message going out: `sending`, one more attempt, sent `at` in message
    `message_id` (one UPDATE per 500). NotFound names any id that is not a change."""
    updated = 0
    with store.transaction():
        for chunk in chunks(list(ids)):
            updated += store.execute(
                f"UPDATE changes SET status = 'sending', attempts = attempts + 1, last_tried = ?, message_id = ?,"
                f" updated_at = ? WHERE id IN ({_marks(len(chunk))})",
                (at, message_id, utc_now(), *chunk),
            ).rowcount
        if updated != len(set(ids)):
            found = {r["id"] for c in chunks(list(ids))
                     for r in store.query(f"SELECT id FROM changes WHERE id IN ({_marks(len(c))})", list(c))}
            missing = ", ".join(str(i) for i in ids if i not in found)
            raise NotFound(f"no change with id {missing}")


def mark_synced(store: Store, change_id: int, *, qb_id: str, at: str) -> None:
    """QuickBooks applied the change: `synced` with its ListID/TxnID, resolved `at`, its last
    status Info 0, no outcome unknown, no re-read pending (one UPDATE)."""
    mark_synced_many(store, [(change_id, qb_id)], at=at)


def mark_synced_many(store: Store, synced: Iterable[tuple[int, str]], *, at: str) -> None:
    """`mark_synced` for many (change id, ListID/TxnID) in one statement run."""
    store.executemany(
        "UPDATE changes SET status = 'synced', qb_id = ?, resolved_at = ?, status_code = 0, status_severity = 'Info',"
        " status_message = NULL, outcome_unknown = 0, refresh_edit_sequence = 0, updated_at = ? WHERE id = ?",
        [(qb_id, at, at, change_id) for change_id, qb_id in synced],
    )


def has_changes(store: Store, connection_id: int, direction: str, statuses: Iterable[str]) -> bool:
    """Whether the connection has any change of `direction` in these statuses (one indexed probe)."""
    statuses = list(statuses)
    return store.scalar(
        f"SELECT 1 FROM changes WHERE connection_id = ? AND status IN ({_marks(len(statuses))}) AND direction = ?"
        " LIMIT 1", (connection_id, *statuses, direction),
    ) is not None


def set_checked(store: Store, ids: Sequence[int], checked: bool) -> int:
    moved = 0
    with store.transaction():
        for chunk in chunks(list(ids)):
            cur = store.execute(
                f"UPDATE changes SET checked = ?, updated_at = ? WHERE status = 'awaiting' AND id IN ({_marks(len(chunk))})",
                (int(checked), utc_now(), *chunk),
            )
            moved += cur.rowcount
    return moved


def set_status(store: Store, ids: Sequence[int], status: str, **extra: Any) -> int:
    """Move the given changes to `status` (with extra column values); returns how many moved."""
    unknown = set(extra) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    extra["updated_at"] = utc_now()
    assignments = ", ".join(f"{k} = ?" for k in extra)
    moved = 0
    with store.transaction():
        for chunk in chunks(list(ids)):
            cur = store.execute(
                f"UPDATE changes SET status = ?, {assignments} WHERE id IN ({_marks(len(chunk))})",
                (status, *extra.values(), *chunk),
            )
            moved += cur.rowcount
    return moved


def attempts_since_failure(store: Store, ids: Sequence[int]) -> dict[int, int]:
    """For each change: its attempts since its last Failed Syncs row (every attempt when it has
    none). Every answer to a send either settles the change, writes a Failed Syncs row, or gives
    the attempt back, except a lock (qbsync.engine.locks): for a queued change whose last answer
    was a lock, this is the number of lock answers in a row."""
    out: dict[int, int] = {}
    for chunk in chunks(list(ids)):
        for r in store.query(
            f"SELECT c.id AS id, c.attempts - coalesce(max(f.attempt), 0) AS n FROM changes c"
            f" LEFT JOIN failures f ON f.change_id = c.id WHERE c.id IN ({_marks(len(chunk))}) GROUP BY c.id",
            list(chunk),
        ):
            out[int(r["id"])] = max(0, int(r["n"] or 0))
    return out


# -- references ----------------------------------------------------------------------------


def set_refs(store: Store, change_id: int, refs: Iterable[tuple[str, str, str | None]]) -> None:
    """Replace the references of a change: (path, local_id, ref_type or None)."""
    store.execute("DELETE FROM change_refs WHERE change_id = ?", (change_id,))
    for path, local_id, ref_type in refs:
        store.execute(
            "INSERT INTO change_refs (change_id, path, local_id, ref_type) VALUES (?, ?, ?, ?)",
            (change_id, path, local_id, ref_type),
        )


def get_refs(store: Store, change_id: int) -> list[dict[str, Any]]:
    return store.query("SELECT path, local_id, ref_type FROM change_refs WHERE change_id = ? ORDER BY path", (change_id,))


def pending_changes_for_local_id(store: Store, connection_id: int, local_id: str) -> list[dict[str, Any]]:
    """Export changes not yet settled (awaiting … error) for an entity of any type with this local id."""
    return _rows(
        store.query(
            "SELECT * FROM changes WHERE connection_id = ? AND local_id = ? AND direction = 'export'"
            " AND status IN ('awaiting', 'held', 'queued', 'sending', 'error') ORDER BY id",
            (connection_id, local_id),
        )
    )


# -- what each side last showed us ----------------------------------------------------------


def get_seen(store: Store, connection_id: int, direction: str, type_: str, local_id: str) -> str | None:
    return store.scalar(
        "SELECT fingerprint FROM seen WHERE connection_id = ? AND direction = ? AND type = ? AND local_id = ?",
        (connection_id, direction, type_, local_id),
    )


def seen_fingerprints(
    store: Store, connection_id: int, direction: str, type_: str, local_ids: Iterable[str]
) -> dict[str, str]:
    """`get_seen` for many local ids at once (a query per 500): {local_id: fingerprint}."""
    out: dict[str, str] = {}
    for chunk in chunks(list(local_ids)):  # type: ignore[arg-type]
        rows = store.execute(
            f"SELECT local_id, fingerprint FROM seen WHERE connection_id = ? AND direction = ? AND type = ?"
            f" AND local_id IN ({_marks(len(chunk))})",
            (connection_id, direction, type_, *chunk),
        ).fetchall()
        out.update(rows)
    return out


def set_seen(
    store: Store, connection_id: int, direction: str, type_: str, local_id: str, fingerprint: str, now: str | None = None
) -> None:
    set_seen_many(store, [(connection_id, direction, type_, local_id, fingerprint)], now=now)


def set_seen_many(store: Store, seen: Iterable[tuple[int, str, str, str, str]], *, now: str | None = None) -> None:
    """`set_seen` for many (connection id, direction, type, local id, fingerprint) in one statement run."""
    now = now or utc_now()
    store.executemany(
        "INSERT INTO seen (connection_id, direction, type, local_id, fingerprint, seen_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (connection_id, direction, type, local_id) DO UPDATE SET fingerprint = excluded.fingerprint,"
        " seen_at = excluded.seen_at",
        [(*key, now) for key in seen],
    )


def forget_seen(store: Store, connection_id: int, type_: str, local_id: str) -> None:
    store.execute("DELETE FROM seen WHERE connection_id = ? AND type = ? AND local_id = ?", (connection_id, type_, local_id))


def local_ids_with_unsettled_exports(
    store: Store, connection_id: int, local_ids: Iterable[str], types: Sequence[str]
) -> set[str]:
    """Which of `local_ids` name an entity of one of `types` with an export change not yet
    settled (pass every type for a reference; naming them lets SQLite use changes_by_entity)."""
    wanted = sorted(set(local_ids))
    statuses = (*OPEN, *IN_FLIGHT)
    found: set[str] = set()
    for chunk in chunks(wanted):  # type: ignore[arg-type]
        rows = store.query(
            f"SELECT DISTINCT local_id FROM changes WHERE connection_id = ? AND direction = 'export'"
            f" AND type IN ({_marks(len(types))}) AND local_id IN ({_marks(len(chunk))})"
            f" AND status IN ({_marks(len(statuses))})",
            [connection_id, *types, *chunk, *statuses],
        )
        found.update(r["local_id"] for r in rows)
    return found


def unsettled_export_names(store: Store, connection_id: int, types: Iterable[str]) -> list[dict[str, Any]]:
    """The name-deciding part of each unsettled export change of these types, oldest first:
    type, local_id, action, and for Name and ParentRef whether the payload sets them
    (`has_name`, `has_parent`) and to what (`name`, `parent` parsed; None clears)."""
    types = list(types)
    if not types:
        return []
    rows = store.query(
        "SELECT type, local_id, action, json_extract(payload, '$.Name') AS name,"
        " json_type(payload, '$.Name') IS NOT NULL AS has_name,"
        " json_quote(json_extract(payload, '$.ParentRef')) AS parent,"
        " json_type(payload, '$.ParentRef') IS NOT NULL AS has_parent"
        f" FROM changes WHERE connection_id = ? AND direction = 'export' AND type IN ({_marks(len(types))})"
        f" AND status IN ({_marks(len(OPEN + IN_FLIGHT))}) ORDER BY id",
        [connection_id, *types, *OPEN, *IN_FLIGHT],
    )
    for r in rows:
        r["parent"] = json.loads(r["parent"]) if r["parent"] else None
        r["has_name"], r["has_parent"] = bool(r["has_name"]), bool(r["has_parent"])
    return rows
