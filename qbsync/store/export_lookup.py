"""SQL the export step reads in bulk: the queued exports of a session, their references, and
the mirror records they name (one query per chunk instead of one per change)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from qbsync.store import changes as store_changes
from qbsync.store import records as store_records
from qbsync.store.db import Store, chunks

def queued_exports(store: Store, connection_id: int, max_change_id: int | None = None, *,
                   with_sending: bool = False) -> list[dict[str, Any]]:
    """Queued export changes of a connection (up to `max_change_id`), oldest first; with
    `with_sending`, also those of the message out (whose answer is being read)."""
    statuses = ["queued", "sending"] if with_sending else ["queued"]
    rows = store_changes.list_changes(store, connection_id, statuses, direction="export")
    if max_change_id is not None:
        rows = [r for r in rows if r["id"] <= max_change_id]
    return _with_lock_counts(store, rows)


# The columns of a change the export step reads (qbsync.engine.model.ExportChange.from_row).
_WINDOW_COLUMNS = ("id, connection_id, type, action, local_id, qb_id, name, payload, before, status, status_code,"
                   " refresh_edit_sequence, last_tried, message_id")


def queued_window(store: Store, connection_id: int, max_change_id: int, *, limit: int, skip: Iterable[int] = (),
                  with_sending: bool = False, refs: dict[int, list[tuple[str, str, str | None]]] | None = None,
                  ) -> tuple[list[dict[str, Any]], bool]:
    """A window of the queued exports, for a callback whose cost must not grow with the queue:
    those of the message out (with `with_sending`), the oldest `limit` adds and mods leaving out
    `skip` (read in the index's order: nothing sorted), every queued delete (they go last and
    the other way round, so they are planned together; there are few), and the queued changes
    the window's references name, and theirs in turn (a change must see what it waits for).
    Also whether more adds and mods are queued beyond the window. Payload and before are JSON
    text (qbsync.engine.model.ExportChange decodes those of the changes it sends). `refs`, when
    given, takes the references read on the way (`refs_for_changes`' rows, by change id)."""
    skip = sorted(set(skip))
    if len(skip) > 5000:  # thousands waiting: past SQLite's comfort with parameters, read them all
        return queued_exports(store, connection_id, max_change_id, with_sending=with_sending), False
    not_skipped = f" AND id NOT IN ({', '.join('?' * len(skip))})" if skip else ""
    base = f"SELECT {_WINDOW_COLUMNS} FROM changes WHERE connection_id = ? AND direction = 'export' AND status = ?" \
           " AND id <= ?"
    rows: list[dict[str, Any]] = []
    if with_sending:
        rows += store_changes.query_changes(store, base + " ORDER BY id", [connection_id, "sending", max_change_id],
                                            json_text=True)
    window = [r for action in ("add", "mod") for r in store_changes.query_changes(  # each in the index's order
        store, base + f" AND action = ?{not_skipped} ORDER BY id LIMIT ?",
        [connection_id, "queued", max_change_id, action, *skip, limit + 1], json_text=True,
    )]
    window = sorted(window, key=lambda r: r["id"])[: limit + 1]
    more = len(window) > limit
    rows += window[:limit]
    rows += store_changes.query_changes(store, base + f" AND action = ?{not_skipped} ORDER BY id",
                                        [connection_id, "queued", max_change_id, "delete", *skip], json_text=True)
    have = {r["id"] for r in rows}
    new = sorted(have)
    for _ in range(10):  # what the window refers to, and what that refers to (a few levels at most)
        found = refs_for_changes(store, new)
        if refs is not None:
            refs.update(found)
        named = sorted({local_id for change_refs in found.values() for _, local_id, _ in change_refs})
        types = sorted({t for change_refs in found.values() for _, _, ref_type in change_refs
                        for t in (ref_type or "").split(",") if t})
        typed = all(ref_type for change_refs in found.values() for _, _, ref_type in change_refs)
        new = []
        for chunk in chunks(named):
            for r in _queued_by_local_id(store, base, connection_id, max_change_id, chunk, types if typed else None):
                if r["id"] not in have and r["id"] not in skip:
                    have.add(r["id"])
                    rows.append(r)
                    new.append(r["id"])
        if not new:
            break
    return _with_lock_counts(store, rows), more


def _queued_by_local_id(store: Store, base: str, connection_id: int, max_change_id: int, local_ids: Sequence[str],
                        types: Sequence[str] | None) -> list[dict[str, Any]]:
    """The queued exports with these local ids, in id order. With the references' `types`, the
    (connection, direction, type, local id) index is sought for each pair, so the cost stays
    with the window; without them (a reference of unknown type) every queued export of the
    connection is read (the status index)."""
    marks = ", ".join("?" * len(local_ids))
    if types is None:
        return store_changes.query_changes(store, base + f" AND local_id IN ({marks}) ORDER BY id",
                                           [connection_id, "queued", max_change_id, *local_ids], json_text=True)
    sql = (base.replace(" FROM changes WHERE ", " FROM changes INDEXED BY changes_by_entity WHERE ")
           + f" AND type IN ({', '.join('?' * len(types))}) AND local_id IN ({marks})")
    rows = store_changes.query_changes(store, sql, [connection_id, "queued", max_change_id, *types, *local_ids],
                                       json_text=True)
    return sorted(rows, key=lambda r: r["id"])


def _with_lock_counts(store: Store, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A queued change with a status code was answered before (a lock, or an error retried): the
    # engine needs its attempts since its last failure to count lock answers in a row.
    answered = [r["id"] for r in rows if r["status"] == "queued" and r["status_code"] is not None]
    since = store_changes.attempts_since_failure(store, answered) if answered else {}
    for r in rows:
        r["attempts_since_failure"] = since.get(r["id"], 0)
    return rows


def count_queued(store: Store, connection_id: int) -> tuple[int, int]:
    """(how many exports are queued, the highest change id of the connection)."""
    row = store.query_one(
        "SELECT count(*) AS n, (SELECT coalesce(max(id), 0) FROM changes WHERE connection_id = ?) AS top"
        " FROM changes WHERE connection_id = ? AND status = 'queued' AND direction = 'export'",
        (connection_id, connection_id),
    )
    return (int(row["n"]), int(row["top"])) if row else (0, 0)


def refs_for_changes(store: Store, change_ids: Sequence[int]) -> dict[int, list[tuple[str, str, str | None]]]:
    """Each change's references as `(path, local_id, ref_type)` rows, in path order: plain tuples,
    not dicts (a window of invoices reads thousands; `ExportChange.from_row` takes them so)."""
    out: dict[int, list[tuple[str, str, str | None]]] = {i: [] for i in change_ids}
    for chunk in chunks(list(change_ids)):
        marks = ", ".join("?" * len(chunk))
        rows = store.execute(
            # each change's in path order, in the primary key's order (nothing sorted)
            f"SELECT change_id, path, local_id, ref_type FROM change_refs WHERE change_id IN ({marks})"
            " ORDER BY change_id, path",
            list(chunk),
        ).fetchall()
        for change_id, path, local_id, ref_type in rows:
            out[change_id].append((path, local_id, ref_type))
    return out


def records_for_local_ids(store: Store, connection_id: int, local_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Mirror records of any type whose local id is one of `local_ids`. References carry no
    type, so the types the mirror holds are named: SQLite then seeks the (connection, type,
    local id) index, where the local ids alone would read every record of the connection."""
    wanted = sorted(set(local_ids))
    types = _record_types(store, connection_id) if wanted else []
    found: list[dict[str, Any]] = []
    type_marks = ", ".join("?" * len(types))
    for chunk in chunks(wanted) if types else ():
        marks = ", ".join("?" * len(chunk))
        rows = store.query(
            f"SELECT * FROM records WHERE connection_id = ? AND type IN ({type_marks}) AND local_id IN ({marks})"
            " ORDER BY id",
            [connection_id, *types, *chunk],
        )
        found.extend(store_records._row(r) for r in rows)  # type: ignore[misc]
    return found


def _record_types(store: Store, connection_id: int) -> list[str]:
    """The types of the connection's mirror records: the index hopped from one type to the next
    (a seek per type, however many records)."""
    rows = store.query(
        "WITH RECURSIVE present(type) AS ("
        " SELECT min(type) FROM records WHERE connection_id = ?"
        " UNION ALL SELECT (SELECT min(type) FROM records WHERE connection_id = ? AND type > present.type)"
        " FROM present WHERE present.type IS NOT NULL)"
        " SELECT type FROM present WHERE type IS NOT NULL",
        (connection_id, connection_id),
    )
    return [r["type"] for r in rows]


def unapproved_local_ids(store: Store, connection_id: int, local_ids: Iterable[str],
                         types: Sequence[str]) -> frozenset[str]:
    """Which of `local_ids` (records of any of `types`: pass every type) have an export change
    still to be approved (awaiting), held, queued (beyond the window a callback loads) or in the
    Error Log: records on their way to QuickBooks, not gone."""
    return frozenset(store_changes.local_ids_with_unsettled_exports(store, connection_id, local_ids, types))


def outcome_unknown_exports(store: Store, connection_id: int) -> list[dict[str, Any]]:
    """Export changes of a connection sent with no usable answer and not yet checked by the
    settle step (`error`, outcome_unknown 1), oldest first."""
    rows = store.query(
        "SELECT * FROM changes WHERE connection_id = ? AND direction = 'export' AND status = 'error'"
        " AND outcome_unknown = 1 ORDER BY id",
        (connection_id,),
    )
    return store_changes._rows(rows)


def count_outcome_unknown(store: Store, connection_id: int) -> int:
    """How many exports the settle step still has to settle."""
    row = store.query_one(
        "SELECT count(*) AS n FROM changes WHERE connection_id = ? AND direction = 'export' AND status = 'error'"
        " AND outcome_unknown = 1",
        (connection_id,),
    )
    return int(row["n"]) if row else 0
