"""The Sync Wizard: what awaits approval, checking and unchecking, approving."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from qbsync.errors import QbsyncError, UsageError
from qbsync.store import changes as store_changes
from qbsync.store.db import Store
from qbsync.timeutil import utc_now
from qbsync.sync import conflicts, import_shape

SECTIONS = (("import", "Import from QuickBooks"), ("export", "Export to QuickBooks"))
DIRECTIONS = ("import", "export")
PENDING_COLUMNS = ("id", "direction", "type", "action", "name", "checked", "detected_at", "summary")


def direction_label(direction: str) -> str:
    return "QB → app" if direction == "import" else "app → QB"


def _check_direction(direction: str | None) -> str | None:
    """The direction in lower case (like type names, any case is accepted); UsageError otherwise."""
    if direction is None:
        return None
    if direction.strip().lower() not in DIRECTIONS:
        raise UsageError(f"unknown direction {direction!r}; use import or export")
    return direction.strip().lower()


def _type_name(type_name: str | None) -> str | None:
    if type_name is None:
        return None
    from qbsync.sync.catalogue import entity_type

    return entity_type(type_name).name


def pending_row(
    change: Mapping[str, Any], connection_name: str | None = None, conflict: conflicts.Conflict | None = None
) -> dict[str, Any]:
    """One row of the wizard. A conflict (both sides changed the record) is one row: the export
    change's id and direction, `conflict` true, `conflict_with` the import change's id, not
    checked (approve leaves it until a side is picked), detected when the later side was."""
    row = {
        "id": change["id"],
        "direction": change["direction"],
        "type": change["type"],
        "action": change["action"],
        "name": change["name"],
        "checked": bool(change["checked"]),
        "detected_at": change["detected_at"],
        "summary": import_shape.summary(change),
        "local_id": change["local_id"],
        "qb_id": change["qb_id"],
    }
    if connection_name is not None:
        row["connection"] = connection_name
    row["conflict"], row["conflict_with"] = False, None
    if conflict is not None:
        imp = conflict.import_
        row.update(
            checked=False, detected_at=max(change["detected_at"], imp["detected_at"]),
            summary=conflicts.summary(conflict), qb_id=change["qb_id"] or imp["qb_id"],
            conflict=True, conflict_with=imp["id"],
        )
    return row


def pending(
    store: Store, connection: Mapping[str, Any], *, direction: str | None = None, type_name: str | None = None
) -> list[dict[str, Any]]:
    """Changes awaiting approval: imports first, then exports, oldest first in each. A conflict
    is one row among the exports, and matches either direction."""
    return list(iter_pending(store, connection, direction=direction, type_name=type_name))


# What pending_row reads of a change: the listing reads only these columns.
_ROW_SOURCE = ("id", "direction", "type", "action", "name", "checked", "detected_at", "payload", "before", "local_id", "qb_id")


def iter_pending(
    store: Store, connection: Mapping[str, Any], *, direction: str | None = None, type_name: str | None = None
) -> Iterator[dict[str, Any]]:
    """`pending`, one row at a time (the JSON, jsonl, csv and tsv listings stream it): the
    conflicts are read first (the few records changed on both sides), then the changes from a
    cursor, imports then exports."""
    direction = _check_direction(direction)
    type_ = _type_name(type_name)
    cid, name = connection["id"], connection["name"]
    found = conflicts.find(store_changes.awaiting_pair_changes(store, cid, type_))

    def rows() -> Iterator[dict[str, Any]]:
        if direction in (None, "import"):
            for c in store_changes.iter_changes(store, cid, ["awaiting"], direction="import", type_=type_,
                                                columns=_ROW_SOURCE):
                if c["id"] not in found:  # the import side of a conflict shows in its conflict's row
                    yield pending_row(c, name)
        if direction == "import":  # asked for imports, a conflict shows too (QuickBooks changed it)
            for conflict in sorted({c.id: c for c in found.values()}.values(), key=lambda c: c.id):
                yield pending_row(conflict.export, name, conflict)
            return
        for c in store_changes.iter_changes(store, cid, ["awaiting"], direction="export", type_=type_,
                                            columns=_ROW_SOURCE):
            yield pending_row(c, name, found.get(c["id"]))

    return rows()


def count_pending(
    store: Store, connection: Mapping[str, Any], *, direction: str | None = None, type_name: str | None = None
) -> int:
    """How many rows `pending` has, counted in SQL (the badge): a conflict is one row, counted
    with either direction."""
    direction = _check_direction(direction)
    type_ = _type_name(type_name)
    n = store_changes.count_changes(store, connection["id"], ["awaiting"], direction=direction, type_=type_)
    return n if direction else n - store_changes.count_awaiting_pairs(store, connection["id"], type_)


def show(store: Store, connection: Mapping[str, Any], change_id: int) -> dict[str, Any]:
    """One change in full, with a field-by-field before/after. A change in a conflict (either id
    of the pair) also carries both versions: `app` (the export) and `quickbooks` (the import)."""
    change = store_changes.get_changes(store, [change_id], connection["id"])[0]
    payload, before = change["payload"], change["before"]
    if change["action"] == "add":
        names = [k for k in payload]
        fields = [{"field": k, "before": None, "after": payload[k]} for k in names]
    elif change["action"] == "delete":
        fields = [{"field": k, "before": v, "after": None} for k, v in before.items()]
    else:
        fields = [{"field": k, "before": v, "after": payload.get(k)} for k, v in before.items()]
    from qbsync.sync.errorlog import error_details

    out = {
        "id": change["id"],
        "connection": connection["name"],
        "direction": change["direction"],
        "type": change["type"],
        "action": change["action"],
        "status": change["status"],
        "checked": bool(change["checked"]),
        "name": change["name"],
        "local_id": change["local_id"],
        "qb_id": change["qb_id"],
        "detected_at": change["detected_at"],
        "updated_at": change["updated_at"],
        "approved_at": change["approved_at"],
        "resolved_at": change["resolved_at"],
        "attempts": change["attempts"],
        "last_tried": change["last_tried"],
        "note": change["note"],
        "summary": import_shape.summary(change),
        "fields": fields,
        "references": store_changes.get_refs(store, change["id"]),
        "payload": payload,
    }
    if change["status"] == "error":
        out["error"] = error_details(change)
    conflict = conflicts.conflict_of(store, change)
    out["conflict"], out["conflict_with"] = conflict is not None, None
    if conflict is not None:
        out["conflict_with"] = conflict.other(change["id"])
        out["checked"] = False  # as in `pending`: approve leaves a conflict until a side is picked
        out["summary"] = conflicts.summary(conflict)
        out["app"] = conflicts.side(conflict.export)
        out["quickbooks"] = conflicts.side(conflict.import_)
    return out


def _select(
    store: Store, connection: Mapping[str, Any], ids: Sequence[int], type_name: str | None, direction: str | None
) -> list[int]:
    direction = _check_direction(direction)
    if not ids and not type_name and not direction:
        raise UsageError("name the changes: give ids, --type or --direction")
    if ids:
        rows = store_changes.get_changes(store, list(ids), connection["id"])
        not_open = [str(r["id"]) for r in rows if r["status"] != "awaiting"]
        if not_open:
            raise QbsyncError(
                f"change {', '.join(not_open)} is not awaiting approval (see `qbsync show ID`); nothing was changed"
            )
        in_conflict = _conflicts(store, connection)
        named = [r["id"] for r in rows if r["id"] in in_conflict]
        if named:
            first = in_conflict[named[0]].id
            raise QbsyncError(
                f"change {', '.join(map(str, named))} is a conflict (both sides changed the record): it has no check"
                f" box until a side is picked with `qbsync resolve {first} --use app|quickbooks`; nothing was changed"
            )
        if type_name or direction:
            wanted = _type_name(type_name)
            rows = [r for r in rows if (not wanted or r["type"] == wanted) and (not direction or r["direction"] == direction)]
        return [r["id"] for r in rows]
    awaiting = store_changes.list_changes(store, connection["id"], ["awaiting"])
    in_conflict = conflicts.find(awaiting)
    wanted = _type_name(type_name)
    return [
        r["id"] for r in awaiting
        if (not wanted or r["type"] == wanted) and (not direction or r["direction"] == direction)
        and r["id"] not in in_conflict  # a conflict waits for `resolve`
    ]


def _conflicts(store: Store, connection: Mapping[str, Any]) -> dict[int, conflicts.Conflict]:
    return conflicts.find(store_changes.awaiting_pair_changes(store, connection["id"]))  # the few records in pairs


def set_checked(
    store: Store, connection: Mapping[str, Any], checked: bool, ids: Sequence[int] = (), *,
    type_name: str | None = None, direction: str | None = None,
) -> list[int]:
    """Check or uncheck changes awaiting approval; returns the ids touched. A conflict has no
    check box: named by id it is refused, chosen by --type/--direction it is left out."""
    with store.transaction():
        chosen = _select(store, connection, ids, type_name, direction)
        store_changes.set_checked(store, chosen, checked)
    return chosen


def approve(
    store: Store, connection: Mapping[str, Any], *, uncheck: Sequence[int] = (), unchecked: str = "keep",
    only: Sequence[int] | None = None,
) -> dict[str, list[int]]:
    """Approve checked changes in both sections; one rule for all unchecked ones.

    `unchecked="keep"`: they become `held` and return, checked, after the next Web Connector
    run. `"clear"`: they become `cleared` and never return unless the entity changes again.
    `only`: restrict to these ids (what an interactive user was shown), so a change staged
    while the user read the prompt is neither approved nor held unseen.
    A conflict (an export and an import awaiting for one record) is left awaiting whatever its
    check boxes say: `conflicts` lists the pairs' ids (see `qbsync resolve`).
    """
    if unchecked not in ("keep", "clear"):
        raise UsageError("unchecked must be keep or clear")
    with store.transaction():
        if uncheck:
            named = store_changes.get_changes(store, list(uncheck), connection["id"])  # unknown ids → NotFound
            not_open = [str(r["id"]) for r in named if r["status"] != "awaiting"]
            if not_open:
                raise QbsyncError(f"change {', '.join(not_open)} is not awaiting approval; nothing was approved")
            store_changes.set_checked(store, list(uncheck), False)
        rows = store_changes.list_changes(store, connection["id"], ["awaiting"], columns=("id", "checked"))
        in_conflict = _conflicts(store, connection)
        waiting = sorted({c.id for c in in_conflict.values()})
        rows = [r for r in rows if r["id"] not in in_conflict]  # neither approved, held nor cleared
        if only is not None:
            allowed = set(only)
            rows = [r for r in rows if r["id"] in allowed]
        approved = [r["id"] for r in rows if r["checked"]]
        left = [r["id"] for r in rows if not r["checked"]]
        now = utc_now()
        store_changes.set_status(store, approved, "queued", approved_at=now)
        if unchecked == "keep":
            store_changes.set_status(store, left, "held")
        else:
            store_changes.set_status(store, left, "cleared", resolved_at=now, note="cleared unchecked in the wizard")
    return {"queued": approved, "held" if unchecked == "keep" else "cleared": left, "conflicts": waiting}


def queue(store: Store, connection: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Pending syncs: approved changes waiting for (or being sent by) the Web Connector."""
    rows = store_changes.list_changes(store, connection["id"], ["queued", "sending"])
    return [
        {
            "id": c["id"], "direction": c["direction"], "type": c["type"], "action": c["action"], "name": c["name"],
            "status": c["status"], "approved_at": c["approved_at"], "attempts": c["attempts"],
            "refresh_edit_sequence": bool(c["refresh_edit_sequence"]), "note": c["note"],
            "summary": import_shape.summary(c),
        }
        for c in rows
    ]
