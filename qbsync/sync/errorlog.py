"""The Error Log (changes in error now), Failed Syncs (every failed attempt), and the two
ways out of the Error Log: retry and fix-edit-sequence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qbsync.engine.refresh import APP_WINS, CONFLICT
from qbsync.errors import QbsyncError, UsageError
from qbsync.store import changes as store_changes
from qbsync.store import logs as store_logs
from qbsync.store.db import Store
from qbsync.sync.catalogue import status_info
from qbsync.sync.wizard import direction_label

# The table shows QuickBooks' own message (which item, which customer) next to the catalogue's reason.
ERROR_COLUMNS = ("id", "name", "type", "direction", "status_code", "reason", "message", "attempts", "last_tried", "actions")
FAILED_COLUMNS = ("id", "change_id", "name", "type", "direction", "status_code", "reason", "failed_at", "resolved")
# The JSON keys of each row (also the csv/tsv header when there are no rows); *_COLUMNS are the
# table's readable subset. `errors --explain` adds "steps".
ERROR_KEYS = (
    "id", "name", "type", "direction", "status_code", "reason", "attempts", "last_tried", "actions", "action", "local_id",
    "message", "outcome_unknown", "resolve_in",
)
FAILED_KEYS = (
    "id", "change_id", "name", "type", "direction", "action", "status_code", "reason", "message", "attempt",
    "failed_at", "resolved", "change_status",
)
OUTCOME_UNKNOWN_REASON = (
    "outcome unknown: QuickBooks may or may not have applied it, so it is not re-sent; check QuickBooks, "
    "then `qbsync retry --force ID` if the record is not there"
)


# An approved import whose re-read found nothing: the record vanished from QuickBooks. The
# message qbsync wrote says so; the code's general meaning (a missing key) would not.
_VANISHED_CODES = (1, 500, 3120)


def reason(status_code: int | None, message: str | None, outcome_unknown: bool = False,
           direction: str | None = None) -> str:
    """The reason in plain words: the catalogue's meaning of the code, else QuickBooks' message."""
    if outcome_unknown:
        return OUTCOME_UNKNOWN_REASON + (f" ({message})" if message else "")
    if direction == "import" and status_code in _VANISHED_CODES and message:
        return message
    info = status_info(status_code)
    if info is not None and getattr(info, "known", True):
        return info.meaning
    return message or (info.meaning if info is not None else "failed")


def merge_conflict(change: Mapping[str, Any]) -> bool:
    """The last re-read found QuickBooks and the app changed the same field differently."""
    return change["status_code"] is None and str(change["status_message"] or "").startswith(CONFLICT)


def fix_edit_sequence_applies(change: Mapping[str, Any]) -> bool:
    info = status_info(change["status_code"])
    return (
        change["direction"] == "export"
        and change["action"] == "mod"
        and not change["outcome_unknown"]
        and (merge_conflict(change) or (info is not None and bool(info.fix_edit_sequence_helps)))
    )


def actions(change: Mapping[str, Any]) -> list[str]:
    """What a user may do about a change in error. An unknown outcome offers nothing to do by
    hand: a plain retry could apply the change twice (`retry --force` exists for after a check
    in QuickBooks)."""
    if change["outcome_unknown"]:
        return []
    out = ["retry"]
    if fix_edit_sequence_applies(change):
        out.append("fix-edit-sequence")
    return out


def error_details(change: Mapping[str, Any], explain: bool = False) -> dict[str, Any]:
    info = status_info(change["status_code"])
    out = {
        "status_code": change["status_code"],
        "severity": change["status_severity"],
        "reason": reason(change["status_code"], change["status_message"], bool(change["outcome_unknown"]),
                         change["direction"]),
        "message": change["status_message"],
        "outcome_unknown": bool(change["outcome_unknown"]),
        "resolve_in": None if info is None else info.who_acts,
        "actions": actions(change),
    }
    if explain:
        out["steps"] = list(info.steps) if info is not None else []
        out["retry_helps"] = None if info is None else info.retry_helps
    return out


def errors(store: Store, connection: Mapping[str, Any], *, explain: bool = False) -> list[dict[str, Any]]:
    rows = []
    for c in store_changes.list_changes(store, connection["id"], ["error"]):
        details = error_details(c, explain)
        row = {
            "id": c["id"],
            "name": c["name"],
            "type": c["type"],
            "direction": direction_label(c["direction"]),
            "status_code": c["status_code"],
            "reason": details["reason"],
            "attempts": c["attempts"],
            "last_tried": c["last_tried"],
            "actions": details["actions"],
            "action": c["action"],
            "local_id": c["local_id"],
            "message": c["status_message"],
            "outcome_unknown": details["outcome_unknown"],
            "resolve_in": details["resolve_in"],
        }
        if explain:
            row["steps"] = details["steps"]
        rows.append(row)
    return rows


def failed(store: Store, connection: Mapping[str, Any], *, since: str | None = None) -> list[dict[str, Any]]:
    return [
        {
            "id": f["id"],
            "change_id": f["change_id"],
            "name": f["name"],
            "type": f["type"],
            "direction": direction_label(f["direction"]),
            "action": f["action"],
            "status_code": f["status_code"],
            "reason": reason(f["status_code"], f["status_message"], f["outcome_unknown"], f["direction"]),
            "message": f["status_message"],
            "attempt": f["attempt"],
            "failed_at": f["failed_at"],
            "resolved": f["change_status"] in ("synced", "cleared"),
            "change_status": f["change_status"],
        }
        for f in store_logs.list_failures(store, connection["id"], since)
    ]


def _targets(store: Store, connection: Mapping[str, Any], ids: Sequence[int], all_: bool) -> list[dict[str, Any]]:
    if bool(ids) == bool(all_):
        raise UsageError("give change ids or --all (not both)")
    if all_:
        return store_changes.list_changes(store, connection["id"], ["error"])
    rows = store_changes.get_changes(store, list(ids), connection["id"])
    not_error = [f"{r['id']} ({r['status']})" for r in rows if r["status"] != "error"]
    if not_error:
        raise QbsyncError(f"not in the Error Log: change {', '.join(not_error)}; nothing was changed")
    return rows


def retry(
    store: Store, connection: Mapping[str, Any], ids: Sequence[int] = (), *, all_: bool = False, force: bool = False
) -> dict[str, list[int]]:
    """Errors back to `queued`. Changes whose outcome is unknown are refused (they may already be
    in QuickBooks) unless `force`; with --all they are skipped and reported."""
    with store.transaction():
        rows = _targets(store, connection, ids, all_)
        unknown = [r["id"] for r in rows if r["outcome_unknown"] and not force]
        if unknown and not all_:
            raise QbsyncError(
                f"change {', '.join(map(str, unknown))}: outcome unknown (QuickBooks may already have applied it); "
                "it is never re-sent blindly. After checking QuickBooks yourself, `qbsync retry --force ID` "
                "sends it again; nothing was changed"
            )
        chosen, superseded = [], []
        for r in rows:
            if r["id"] in unknown:
                continue
            if _drop_superseded_fields(store, connection, r):
                chosen.append(r["id"])
            else:
                superseded.append(r["id"])
        store_changes.set_status(store, chosen, "queued", outcome_unknown=0, note="retried from the Error Log")
    return {"queued": chosen, "skipped": unknown, "superseded": superseded}


def _drop_superseded_fields(store: Store, connection: Mapping[str, Any], change: Mapping[str, Any]) -> bool:
    """A retried export Mod must not put back values a later change of the same record has
    already sent: QuickBooks holds the newer ones. Those fields leave the retried change; when
    none is left it is cleared as superseded. Returns whether anything is left to send."""
    if change["direction"] != "export" or change["action"] != "mod":
        return True
    later = [
        c for c in store_changes.changes_for_entity(
            store, connection["id"], "export", change["type"], change["local_id"], ["synced"]
        )
        if c["id"] > change["id"]
    ]
    if not later:
        return True
    newer = {field for c in later for field in c["payload"]}
    payload = {k: v for k, v in change["payload"].items() if k not in newer}
    if payload == change["payload"]:
        return True
    if not payload:
        store_changes.set_status(
            store, [change["id"]], "cleared",
            note=f"superseded: change {later[-1]['id']} already sent newer values to QuickBooks",
        )
        return False
    before = {k: v for k, v in (change.get("before") or {}).items() if k in payload}
    store_changes.update_change(store, change["id"], payload=payload, before=before)
    return True


def fix_edit_sequence(
    store: Store, connection: Mapping[str, Any], ids: Sequence[int] = (), *, all_: bool = False, force: bool = False
) -> dict[str, list[int]]:
    """Queue changes so the next run re-reads the QuickBooks record (fresh EditSequence), merges
    the app's change with what changed in QuickBooks, and sends the merged Mod. Only where the
    catalogue says a fresh EditSequence helps (3200) or the last merge found a conflict, unless
    `force` (still only for export mods: nothing else carries an EditSequence). With `force`
    the app's values win: the re-read only takes QuickBooks' EditSequence, no merge."""
    with store.transaction():
        rows = _targets(store, connection, ids, all_)
        refused: list[str] = []
        chosen: list[int] = []
        for r in rows:
            if fix_edit_sequence_applies(r) or (force and r["direction"] == "export" and r["action"] == "mod"):
                chosen.append(r["id"])
                continue
            if r["direction"] != "export" or r["action"] != "mod":
                why = f"an {r['direction']} {r['action']} carries no EditSequence"
            elif r["outcome_unknown"]:
                why = "its outcome is unknown"
            else:
                why = f"status {r['status_code']} is not fixed by a fresh EditSequence (only 3200 is); try retry"
            refused.append(f"{r['id']} ({why})")
        if refused and not all_:
            raise QbsyncError(f"refused: change {'; '.join(refused)}; nothing was changed")
        store_changes.set_status(store, chosen, "queued", refresh_edit_sequence=APP_WINS if force else 1,
                                 note="fix-edit-sequence --force (the app's values win)" if force else "fix-edit-sequence")
    return {"queued": chosen, "refused": refused}  # type: ignore[dict-item]
