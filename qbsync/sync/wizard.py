"""The Sync Wizard: what awaits approval, checking and unchecking, approving."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from qbsync.errors import QbsyncError, UsageError
from qbsync.store import changes as store_changes
from qbsync.store.db import Store
from qbsync.timeutil import utc_now
from qbsync.sync import content

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


def pending_row(change: Mapping[str, Any], connection_name: str | None = None) -> dict[str, Any]:
    row = {
        "id": change["id"],
        "direction": change["direction"],
        "type": change["type"],
        "action": change["action"],
        "name": change["name"],
        "checked": bool(change["checked"]),
        "detected_at": change["detected_at"],
        "summary": content.summary(change["action"], change["direction"], change["payload"], change["before"]),
        "local_id": change["local_id"],
        "qb_id": change["qb_id"],
    }
    if connection_name is not None:
        row["connection"] = connection_name
    return row


def pending(
    store: Store, connection: Mapping[str, Any], *, direction: str | None = None, type_name: str | None = None
) -> list[dict[str, Any]]:
    """Changes awaiting approval: imports first, then exports, oldest first in each."""
    return list(iter_pending(store, connection, direction=direction, type_name=type_name))


def iter_pending(
    store: Store, connection: Mapping[str, Any], *, direction: str | None = None, type_name: str | None = None
) -> Iterator[dict[str, Any]]:
    """`pending`, one row at a time (the JSON, jsonl, csv and tsv listings stream it)."""
    direction = _check_direction(direction)
    rows = store_changes.iter_changes(
        store, connection["id"], ["awaiting"], direction=direction, type_=_type_name(type_name), imports_first=True
    )
    return (pending_row(c, connection["name"]) for c in rows)


def count_pending(
    store: Store, connection: Mapping[str, Any], *, direction: str | None = None, type_name: str | None = None
) -> int:
    """How many rows `pending` has (one COUNT: the badge)."""
    direction = _check_direction(direction)
    return store_changes.count_changes(store, connection["id"], ["awaiting"], direction=direction,
                                       type_=_type_name(type_name))


def show(store: Store, connection: Mapping[str, Any], change_id: int) -> dict[str, Any]:
    """One change in full, with a field-by-field before/after."""
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
        "summary": content.summary(change["action"], change["direction"], payload, before),
        "fields": fields,
        "references": store_changes.get_refs(store, change["id"]),
        "payload": payload,
    }
    if change["status"] == "error":
        out["error"] = error_details(change)
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
        if type_name or direction:
            wanted = _type_name(type_name)
            rows = [r for r in rows if (not wanted or r["type"] == wanted) and (not direction or r["direction"] == direction)]
        return [r["id"] for r in rows]
    rows = store_changes.list_changes(store, connection["id"], ["awaiting"], direction=direction, type_=_type_name(type_name))
    return [r["id"] for r in rows]


def set_checked(
    store: Store, connection: Mapping[str, Any], checked: bool, ids: Sequence[int] = (), *,
    type_name: str | None = None, direction: str | None = None,
) -> list[int]:
    """Check or uncheck changes awaiting approval; returns the ids touched."""
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
        rows = store_changes.list_changes(store, connection["id"], ["awaiting"], brief=True)
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
    return {"queued": approved, "held" if unchecked == "keep" else "cleared": left}


def queue(store: Store, connection: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Pending syncs: approved changes waiting for (or being sent by) the Web Connector."""
    rows = store_changes.list_changes(store, connection["id"], ["queued", "sending"])
    return [
        {
            "id": c["id"], "direction": c["direction"], "type": c["type"], "action": c["action"], "name": c["name"],
            "status": c["status"], "approved_at": c["approved_at"], "attempts": c["attempts"],
            "refresh_edit_sequence": bool(c["refresh_edit_sequence"]), "note": c["note"],
            "summary": content.summary(c["action"], c["direction"], c["payload"], c["before"]),
        }
        for c in rows
    ]
