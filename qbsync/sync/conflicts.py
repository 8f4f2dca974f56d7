"""Both sides changed the same record: an export and an import awaiting approval for one record
(same connection, type and local_id) are one change in the wizard, a conflict, until the admin
picks a side with `resolve`.

A conflict is not stored: it is read from the two `awaiting` changes each time (no schema of its
own, nothing to keep in step). Resolving clears one side and leaves the other an ordinary,
checked change of its direction:

- `app`: the import is cleared; the mirror takes the EditSequence and the record QuickBooks had
  at detection (the import's payload, and QuickBooks' values of the fields it changed: the base
  the app's later stagings compare with), so the export's Mod goes with that EditSequence:
  QuickBooks answers 3200 only if it changed the record again since (then `fix-edit-sequence`
  merges as usual). A field only QuickBooks changed stays as QuickBooks has it (the Mod leaves it
  out); the export's `before` shows QuickBooks' value of each field both changed. That
  QuickBooks version is remembered as seen: it does not come back as an import.
- `quickbooks`: the export is cleared and the feed tells the app (result `dropped`); QuickBooks
  is not touched; the import waits for approval like any other. The app's staged content stays
  the export side's last seen content, so staging the same values again is "unchanged" and does
  not bring the conflict back; different values are a new change (a new conflict while the
  import still awaits).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from qbsync.errors import QbsyncError, UsageError
from qbsync.store import changes as store_changes
from qbsync.store import logs as store_logs
from qbsync.store import records as store_records
from qbsync.store.db import Store
from qbsync.timeutil import utc_now
from qbsync.sync import content, import_shape

SIDES = ("app", "quickbooks")
FEED_DROPPED = "dropped"  # the feed's result for an export change dropped in favour of QuickBooks' version
HINT = "qbsync resolve ID --use app|quickbooks"
# The JSON keys of each change `resolve` returns (also the csv/tsv header).
RESULT_KEYS = ("id", "direction", "type", "action", "name", "local_id", "qb_id", "status", "checked", "note", "summary")


@dataclass(frozen=True)
class Conflict:
    """One record changed on both sides: its awaiting export and its awaiting import."""

    export: Mapping[str, Any]
    import_: Mapping[str, Any]

    @property
    def id(self) -> int:
        """The id the wizard shows for the pair: the export change's."""
        return int(self.export["id"])

    @property
    def ids(self) -> tuple[int, int]:
        return int(self.export["id"]), int(self.import_["id"])

    def other(self, change_id: int) -> int:
        exp, imp = self.ids
        return imp if change_id == exp else exp


def _key(change: Mapping[str, Any]) -> tuple[Any, str, str]:
    return change["connection_id"], change["type"], change["local_id"]


def find(changes: Iterable[Mapping[str, Any]]) -> dict[int, Conflict]:
    """The conflicts among these changes (only `awaiting` ones count), by the id of each member.
    Oldest export pairs with oldest import of the same record (in practice there is one of each:
    staging and detection fold into the change already awaiting)."""
    exports: dict[tuple[Any, str, str], list[Mapping[str, Any]]] = {}
    imports: dict[tuple[Any, str, str], list[Mapping[str, Any]]] = {}
    for c in changes:
        if c["status"] == "awaiting":
            (exports if c["direction"] == "export" else imports).setdefault(_key(c), []).append(c)
    out: dict[int, Conflict] = {}
    for key, exps in exports.items():
        for exp, imp in zip(sorted(exps, key=lambda c: c["id"]), sorted(imports.get(key, []), key=lambda c: c["id"])):
            conflict = Conflict(exp, imp)
            out[conflict.ids[0]] = out[conflict.ids[1]] = conflict
    return out


def conflict_of(store: Store, change: Mapping[str, Any]) -> Conflict | None:
    """The conflict `change` belongs to, or None."""
    if change["status"] != "awaiting":
        return None
    cid, type_name, local_id = _key(change)
    found = [
        *store_changes.changes_for_entity(store, cid, "export", type_name, local_id, ["awaiting"]),
        *store_changes.changes_for_entity(store, cid, "import", type_name, local_id, ["awaiting"]),
    ]
    return find(found).get(int(change["id"]))


def count(store: Store, connection_id: int) -> int:
    """How many conflicts a connection has (each pair once)."""
    return store_changes.count_awaiting_pairs(store, connection_id)


# -- what the wizard shows ------------------------------------------------------------------------


def _field_name(type_name: str, field: str) -> str:
    """A QuickBooks snapshot's line list (`InvoiceLineRet`) under the app's name (`InvoiceLine`)."""
    from qbsync.sync import catalogue  # here: the catalogue loads the qbXML layer (lxml), and
    # `status` and `pending --count` import this module for their conflict count only

    by_ret = {ret: base for base, ret in catalogue.line_rets(type_name).items()}
    return by_ret.get(field, field)


def _app_fields(change: Mapping[str, Any]) -> list[str]:
    return [k for k in change["payload"] if k != "id"] if change["action"] != "delete" else []


def _qb_fields(change: Mapping[str, Any]) -> list[str]:
    if change["action"] == "add":
        return [k for k in change["payload"] if k not in content.VOLATILE]
    return [_field_name(change["type"], k) for k in change["before"]] if change["action"] == "mod" else []


def _what(side: str, change: Mapping[str, Any], fields: list[str]) -> str:
    who = "app" if side == "app" else "QuickBooks"
    if change["action"] == "delete":
        return f"{who} deletes it" if side == "app" else "QuickBooks deleted it"
    if change["action"] == "add":
        return f"{who} adds it" if side == "app" else "QuickBooks added it"
    return f"{who} changed {', '.join(fields) or 'nothing'}"


def summary(conflict: Conflict, limit: int = 100) -> str:
    """"conflict: app changed Phone; QuickBooks changed Phone, Email"."""
    app_fields = _app_fields(conflict.export)
    qb_fields = sorted(_qb_fields(conflict.import_), key=lambda f: f not in app_fields)  # both changed: first
    text = (f"conflict: {_what('app', conflict.export, app_fields)}; "
            f"{_what('quickbooks', conflict.import_, qb_fields)}")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def side(change: Mapping[str, Any]) -> dict[str, Any]:
    """One side of a conflict as `show` gives it: the change's id, what it does, field by field."""
    payload, before = change["payload"], change["before"]
    if change["action"] == "add":
        fields = [{"field": k, "before": None, "after": v} for k, v in payload.items()]
    elif change["action"] == "delete":
        fields = [{"field": k, "before": v, "after": None} for k, v in before.items()]
    else:
        fields = [{"field": k, "before": v, "after": payload.get(k)} for k, v in before.items()]
    out = {
        "id": change["id"], "direction": change["direction"], "action": change["action"],
        "detected_at": change["detected_at"],
        "summary": import_shape.summary(change),
        "fields": fields, "payload": payload,
    }
    if change["direction"] == "import":
        out["edit_sequence"] = payload.get("EditSequence")
    return out


def side_by_side_of(app: Mapping[str, Any], quickbooks: Mapping[str, Any], type_name: str) -> list[dict[str, Any]]:
    """For the table of `show`, from the two `side`s: each field either side changed, with its
    value before, the app's and QuickBooks'; "(unchanged)" where that side left it alone,
    "(deleted)" on every row of a side that deletes the record. Volatile fields (EditSequence,
    times) are left out."""
    rows: dict[str, dict[str, Any]] = {}
    sides = (("app", app), ("quickbooks", quickbooks))
    for who, one in sides:
        if one["action"] == "delete":
            continue
        for f in one["fields"]:
            if f["field"] in content.VOLATILE:
                continue
            name = _field_name(type_name, f["field"])
            row = rows.setdefault(name, {"field": name, "before": f["before"], "app": "(unchanged)",
                                         "quickbooks": "(unchanged)"})
            if row["before"] is None:
                row["before"] = f["before"]
            row[who] = f["after"]
    if not rows:
        rows["(record)"] = {"field": "(record)", "before": None, "app": "(unchanged)", "quickbooks": "(unchanged)"}
    for who, one in sides:
        if one["action"] == "delete":
            for row in rows.values():
                row[who] = "(deleted)"
    return list(rows.values())


# -- resolving ------------------------------------------------------------------------------------


def result_row(change: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": change["id"], "direction": change["direction"], "type": change["type"], "action": change["action"],
        "name": change["name"], "local_id": change["local_id"], "qb_id": change["qb_id"], "status": change["status"],
        "checked": bool(change["checked"]), "note": change["note"],
        "summary": import_shape.summary(change),
    }


def resolve(store: Store, connection: Mapping[str, Any], change_id: int, use: str) -> list[dict[str, Any]]:
    """Pick a side of the conflict `change_id` belongs to (either id of the pair). Returns the two
    changes after it: the one kept (awaiting, checked) first, then the one cleared. Nothing is
    changed when it raises."""
    if use not in SIDES:
        raise UsageError(f"--use takes app or quickbooks, not {use!r}")
    with store.transaction():
        (change,) = store_changes.get_changes(store, [change_id], connection["id"])  # unknown id → NotFound
        conflict = conflict_of(store, change)
        if conflict is None:
            state = "is not awaiting approval" if change["status"] != "awaiting" else "is not in a conflict"
            raise QbsyncError(
                f"change {change_id} {state}: only an export and an import both awaiting approval for one record"
                " are a conflict (see `qbsync pending`); nothing was changed"
            )
        if use == "app":
            _use_app(store, conflict)
            kept, dropped = conflict.export, conflict.import_
        else:
            _use_quickbooks(store, conflict)
            kept, dropped = conflict.import_, conflict.export
        return [result_row(c) for c in store_changes.get_changes(store, [kept["id"], dropped["id"]])]


def _use_app(store: Store, conflict: Conflict) -> None:
    exp, imp = conflict.export, conflict.import_
    cid, type_name, local_id = _key(exp)
    if imp["action"] == "delete":
        raise QbsyncError(
            f"QuickBooks deleted {type_name} {local_id}: the app's change cannot go to a record that no longer exists."
            f" `qbsync resolve {conflict.id} --use quickbooks` accepts the deletion (the app is told);"
            " nothing was changed"
        )
    now = utc_now()
    snap = dict(imp["payload"])
    es = snap.get("EditSequence")
    record = store_records.get_record(store, cid, type_name, local_id)
    app_fields = _app_fields(exp)
    kept_from_qb: list[str] = []
    before = dict(exp["before"])
    if record is not None:
        # The mirror takes the record as QuickBooks had it at detection: its EditSequence goes with
        # the app's Mod, and what QuickBooks changed is the base the app's later stagings compare
        # with. A field only QuickBooks changed keeps QuickBooks' value (the Mod leaves it out);
        # a field both changed is the app's after the Mod, replacing QuickBooks' value (`before`).
        # Line lists are left as the app has them (QuickBooks' lines come in another shape).
        from qbsync.sync import catalogue

        line_rets = set(catalogue.line_rets(type_name).values())
        qb_changed = [k for k in imp["before"] if k not in line_rets and k not in content.VOLATILE] \
            if imp["action"] == "mod" else []
        kept_from_qb = [k for k in qb_changed if k not in app_fields]
        data = content.overlay(record["data"], {k: snap.get(k) for k in qb_changed})
        store_records.save_record(
            store, cid, type_name, local_id, qb_id=record["qb_id"] or imp["qb_id"],
            edit_sequence=es or record["edit_sequence"], name=record["name"], data=data, qb_data=snap,
        )
        if exp["action"] == "mod":
            before.update({k: snap.get(k) for k in qb_changed if k in before})
    if es:  # that QuickBooks version is not an import any more
        store_changes.set_seen(store, cid, "import", type_name, local_id, f"es:{es}")
    store_changes.update_change(
        store, imp["id"], status="cleared", resolved_at=now,
        note=f"conflict: the app's version was chosen (change {exp['id']})",
    )
    note = "conflict: the app's version was chosen" + (f"; sent with QuickBooks' EditSequence {es} seen at detection" if es else "")
    if kept_from_qb:
        note += f"; QuickBooks' {', '.join(kept_from_qb)} kept"
    store_changes.update_change(store, exp["id"], checked=1, note=note, before=before)


def _use_quickbooks(store: Store, conflict: Conflict) -> None:
    exp, imp = conflict.export, conflict.import_
    cid, type_name, local_id = _key(exp)
    now = utc_now()
    message = f"the admin chose QuickBooks' version in a conflict (change {imp['id']}); the app's change was not sent"
    store_changes.update_change(store, exp["id"], status="cleared", resolved_at=now,
                                note=f"conflict: QuickBooks' version was chosen (change {imp['id']}); not sent")
    record = store_records.get_record(store, cid, type_name, local_id)
    store_logs.append_feed(
        store, store_changes.get_change(store, exp["id"]), result=FEED_DROPPED,
        qb_id=exp["qb_id"] or (record or {}).get("qb_id") or imp["qb_id"], status_message=message,
    )
    store_changes.update_change(store, imp["id"], checked=1,
                                note=f"conflict: QuickBooks' version was chosen over the app's (change {exp['id']})")
