"""What a Web Connector session does to the store (the connector shell calls these; each is one
transaction). Export path: record one result per change the engine sent (`sending`): synced,
error, back to queued, or outcome unknown. Import path: record
what QuickBooks reported (→ an `awaiting` import change), apply approved imports. End of
session: held changes come back, the contact is remembered.

Outcome unknown: a change was sent but no usable answer came back (connection lost,
whole-message HRESULT after sending). It goes to the Error Log as `error` with
`outcome_unknown` set (1) and no actions: it is never re-sent blindly. The next session settles
it before sending anything new (`qbsync.engine.settle`: error recovery with the message's
newMessageSetID as oldMessageSetID, then a lookup by name / RefNumber / id) and records what it
found: `record_synced` (it was applied: mirror and feed as if the answer had come),
`record_requeue` (it was not: back to the queue, sent again in that session), `record_error`
(QuickBooks' saved answer was a refusal) or `record_undecided` (still unknown: the evidence goes
in its message and `outcome_unknown` becomes 2, checked, so later sessions do not ask again). An
admin who checked QuickBooks by hand can `qbsync retry --force ID`.

Imports: detection records what QuickBooks reported (`record_import`: an `awaiting` change, or
nothing for qbsync's own saves and unchanged records); an approved import is applied with the
version re-read from QuickBooks (`apply_import`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from qbsync.errors import QbsyncError
from qbsync.store import changes as store_changes
from qbsync.store import connections as store_connections
from qbsync.store import imports as store_imports
from qbsync.store import logs as store_logs
from qbsync.store import records as store_records
from qbsync.store.db import Store
from qbsync.timeutil import utc_now
from qbsync.sync import catalogue, content, import_shape

_WAITS_FOR = ("awaiting", "held", "queued", "sending", "error")


def _cid(connection: Mapping[str, Any] | int) -> int:
    return connection if isinstance(connection, int) else int(connection["id"])


def _sent(store: Store, change_id: int, change: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    if change is None or change["id"] != change_id:
        change = store_changes.get_change(store, change_id)
    if change["status"] != "sending" and not (change["status"] == "error" and change["outcome_unknown"]):
        raise QbsyncError(f"change {change_id} is {change['status']}, not being sent; its result cannot be recorded")
    return change


def record_synced(
    store: Store, change_id: int, *, qb_id: str, edit_sequence: str | None, snapshot: Mapping[str, Any] | None,
    change: Mapping[str, Any] | None = None, echoes_possible: bool = True, now: str | None = None,
) -> None:
    """QuickBooks applied the change: store its id, EditSequence and the record as it now is in
    QuickBooks, update the mirror, and tell the app (feed). `change`: the change's row as read in
    this transaction (else it is read here); `echoes_possible` False: the caller found no import
    awaiting or held for the connection, so none can be this write's echo; `now`: the time
    stamped (default: the clock's; one for a response's changes recorded together)."""
    record_synced_many(store, [SyncedAnswer(change_id, qb_id, edit_sequence, snapshot, change)],
                       echoes_possible=echoes_possible, now=now)


class SyncedAnswer(NamedTuple):
    """What QuickBooks answered for one applied change (`record_synced`'s arguments)."""

    change_id: int
    qb_id: str
    edit_sequence: str | None
    snapshot: Mapping[str, Any] | None
    change: Mapping[str, Any] | None = None


def record_synced_many(store: Store, answers: Sequence[SyncedAnswer], *, echoes_possible: bool = True,
                       now: str | None = None) -> None:
    """`record_synced` for several changes, in one transaction, their writes made together (one
    statement run per table: most of a synced change's cost was running four statements). Each
    change once and no two of one entity: a Mod overlays the mirror as it was before them all."""
    now = now or utc_now()
    records: list[store_records.MirrorWrite] = []
    seen: list[tuple[int, str, str, str, str]] = []
    feed: list[tuple[dict[str, Any], str, str | None, dict[str, Any] | None]] = []
    sent: list[tuple[Mapping[str, Any], SyncedAnswer]] = []
    with store.transaction():
        written: set[tuple[int, str, str]] = set()
        for a in answers:
            change = _sent(store, a.change_id, a.change)
            cid, type_name, local_id = change["connection_id"], change["type"], change["local_id"]
            if (cid, type_name, local_id) in written:
                raise ValueError(f"record_synced_many: {type_name} {local_id} given twice")
            written.add((cid, type_name, local_id))
            if change["action"] == "delete":
                store_records.delete_record(store, cid, type_name, local_id)
                store_changes.forget_seen(store, cid, type_name, local_id)
            else:
                records.append(_mirror_write(store, change, a))
                if a.edit_sequence:  # our own save must not come back as an import
                    seen.append((cid, "import", type_name, local_id, f"es:{a.edit_sequence}"))
            # the feed's columns of the change are none of those updated here
            feed.append((dict(change), a.qb_id, a.edit_sequence, dict(a.snapshot) if a.snapshot else None))
            sent.append((change, a))
        store_records.save_records(store, records, now=now)
        store_changes.set_seen_many(store, seen, now=now)
        store_changes.mark_synced_many(store, [(a.change_id, a.qb_id) for a in answers], at=now)
        store_logs.append_synced_feeds(store, feed)
        if echoes_possible:
            for change, a in sent:
                _drop_own_echoes(store, change, a.qb_id, a.edit_sequence)


def _mirror_write(store: Store, change: Mapping[str, Any], a: SyncedAnswer) -> store_records.MirrorWrite:
    """The mirror of a synced add or mod: the app's values (a Mod overlays the mirror's record),
    the lines' TxnLineIDs and the name from QuickBooks' record."""
    cid, type_name, local_id = change["connection_id"], change["type"], change["local_id"]
    if change["action"] == "add":
        data = change["payload"]
    else:  # a Mod overlays the mirror's record
        record = store_records.get_record(store, cid, type_name, local_id)
        data = content.overlay((record or {}).get("data") or {}, change["payload"])
    snap = dict(a.snapshot or {})
    data = content.take_line_ids_from_ret(data, snap, catalogue.line_rets(type_name))
    name = catalogue.entity_type(type_name).display_name(snap) if snap else (change["name"] or local_id)
    return store_records.MirrorWrite(cid, type_name, local_id, a.qb_id, a.edit_sequence, name or change["name"], data,
                                     snap or None)


def _drop_own_echoes(store: Store, change: Mapping[str, Any], qb_id: str, edit_sequence: str | None) -> None:
    """Import changes that are this change seen from QuickBooks' side: detection found the record
    before qbsync knew its write had landed (the answer was lost, then settled). They are cleared,
    never offered to the app as QuickBooks' own: an add under QuickBooks' id, a mod carrying the
    EditSequence qbsync's write left, the deletion qbsync made."""
    cid, type_name = change["connection_id"], change["type"]
    keys = {change["local_id"], qb_id} if qb_id else {change["local_id"]}
    for key in keys:
        for echo in store_changes.changes_for_entity(store, cid, "import", type_name, key, ("awaiting", "held")):
            payload = echo["payload"] or {}
            ours = (change["action"] == "delete" and echo["action"] == "delete") or (
                bool(edit_sequence) and str(payload.get("EditSequence")) == str(edit_sequence))
            if ours:
                store_changes.update_change(store, echo["id"], status="cleared", resolved_at=utc_now(),
                                            note=f"qbsync's own write (change {change['id']}), not QuickBooks'")


def record_error(
    store: Store, change_id: int, *, status_code: int | None, message: str | None, severity: str = "Error"
) -> None:
    """QuickBooks refused the change: to the Error Log, one Failed Syncs row, a feed entry."""
    with store.transaction():
        change = _sent(store, change_id)
        store_changes.update_change(
            store, change_id, status="error", status_code=status_code, status_severity=severity,
            status_message=message, outcome_unknown=0,
        )
        change = store_changes.get_change(store, change_id)
        store_logs.append_failure(store, change, status_code=status_code, status_severity=severity, status_message=message)
        record = store_records.get_record(store, change["connection_id"], change["type"], change["local_id"])
        store_logs.append_feed(
            store, change, result="error", qb_id=change["qb_id"] or (record or {}).get("qb_id"),
            status_code=status_code, status_message=message,
        )


def record_requeue(store: Store, change_id: int, *, reason: str, status_code: int | None = None) -> None:
    """Not processed (3231 after an earlier failure, or the whole message could not be parsed):
    back to `queued`, the attempt not counted, the reason noted once. Not a failure."""
    with store.transaction():
        change = _sent(store, change_id)
        note = reason if status_code is None else f"{status_code}: {reason}"
        cleared = {} if change["status"] == "sending" else {  # settled as not applied: out of the Error Log
            "status_code": None, "status_severity": None, "status_message": None}
        store_changes.update_change(
            store, change_id, status="queued", attempts=max(0, change["attempts"] - (change["status"] == "sending")),
            note=note, outcome_unknown=0, **cleared,
        )


def record_locked(store: Store, change_id: int, *, reason: str, status_code: int) -> None:
    """QuickBooks answered with a lock (3170/3175/3176, see qbsync.engine.locks): nothing was
    applied, and it is not a failure either. Back to `queued` with the attempt counted (the lock
    answers in a row are the attempts since the last Failed Syncs row), the lock code kept and
    the reason noted; no Failed Syncs row."""
    with store.transaction():
        _sent(store, change_id)
        store_changes.update_change(
            store, change_id, status="queued", status_code=status_code, status_severity="Error", status_message=None,
            note=reason, outcome_unknown=0,
        )


def record_outcome_unknown(store: Store, change_id: int, *, reason: str) -> None:
    """Sent, but no usable answer: Error Log with outcome_unknown (never re-sent blindly)."""
    with store.transaction():
        change = _sent(store, change_id)
        if change["status"] == "error":
            return  # already unknown
        store_changes.update_change(
            store, change_id, status="error", status_code=None, status_severity=None, status_message=reason,
            outcome_unknown=1,
        )
        change = store_changes.get_change(store, change_id)
        store_logs.append_failure(
            store, change, status_code=None, status_severity=None, status_message=reason, outcome_unknown=True
        )


UNKNOWN_UNCHECKED, UNKNOWN_CHECKED = 1, 2  # outcome_unknown: to be settled; settling could not decide


def record_undecided(store: Store, change_id: int, *, reason: str) -> None:
    """Settling checked QuickBooks and still cannot tell whether the change was applied: it
    stays in the Error Log (outcome unknown, no actions) with the evidence as its message,
    marked checked so later sessions do not ask again."""
    with store.transaction():
        change = store_changes.get_change(store, change_id)
        if change["status"] != "error" or not change["outcome_unknown"]:
            raise QbsyncError(f"change {change_id} is {change['status']}, not outcome unknown; it cannot be settled")
        store_changes.update_change(store, change_id, status_message=reason, outcome_unknown=UNKNOWN_CHECKED)


def abandon_sending(store: Store, connection: Mapping[str, Any] | int, *, reason: str, sent: bool = True) -> list[int]:
    """Settle every `sending` change of a connection when a session breaks off: as outcome
    unknown when the message went out (`sent`), else back to the queue."""
    with store.transaction():
        rows = store_changes.list_changes(store, _cid(connection), ["sending"])
        for r in rows:
            if sent:
                record_outcome_unknown(store, r["id"], reason=reason)
            else:
                record_requeue(store, r["id"], reason=reason)
    return [r["id"] for r in rows]


def start_session(store: Store, connection: Mapping[str, Any] | int) -> None:
    with store.transaction():
        store_connections.record_contact(store, _cid(connection), "in progress")


def end_session(store: Store, connection: Mapping[str, Any] | int, *, outcome: str = "ok") -> list[int]:
    """End of a Web Connector run: held changes come back to the wizard, checked; changes left
    `sending` (sent, never answered) become outcome unknown; the contact is remembered.
    Returns the ids of the changes that came back."""
    cid = _cid(connection)
    with store.transaction():
        abandon_sending(store, cid, reason="the Web Connector session ended before QuickBooks answered")
        held = [r["id"] for r in store_changes.list_changes(store, cid, ["held"])]
        store_changes.set_status(store, held, "awaiting", checked=1)
        store_connections.record_contact(store, cid, outcome)
    return held


# -- imports ---------------------------------------------------------------------------------


def _seen_fingerprint(ret: Mapping[str, Any]) -> str:
    """How a version of a record QuickBooks reported is remembered: its EditSequence, or (without
    one) its content less QuickBooks' bookkeeping."""
    es = ret.get("EditSequence")
    return f"es:{es}" if es else content.fingerprint({k: v for k, v in ret.items() if k not in content.VOLATILE})


def record_import(
    store: Store, connection: Mapping[str, Any] | int, type_name: str, data: Mapping[str, Any], *, deleted: bool = False
) -> int | None:
    """QuickBooks reported a record (a Ret, or with `deleted` a ListDeleted/TxnDeleted row):
    compare with the mirror and create or update the `awaiting` import change for it (never a
    second one while one awaits). Returns the change id, or None when nothing changed."""
    cid = _cid(connection)
    et = catalogue.entity_type(type_name)
    qb_id = data.get(et.id_field)
    if not qb_id:
        raise QbsyncError(f"{et.name} data from QuickBooks has no {et.id_field}")
    with store.transaction():
        record = store_records.get_record_by_qb_id(store, cid, et.name, qb_id)
        local_id = record["local_id"] if record else qb_id
        found = store_changes.changes_for_entity(store, cid, "import", et.name, local_id, _WAITS_FOR)
        fold = next((c for c in reversed(found) if c["status"] in ("awaiting", "held")
                     or (c["status"] == "error" and not c["outcome_unknown"])), None)
        snapshot = dict(data)
        if deleted:
            fp = "deleted"
            if store_changes.get_seen(store, cid, "import", et.name, local_id) == fp:
                return None
            if record is None:
                if fold is not None and fold["status"] != "error":  # added and deleted before anyone approved it
                    store_changes.update_change(store, fold["id"], status="cleared", resolved_at=utc_now(),
                                                note="deleted in QuickBooks before it was approved")
                store_changes.set_seen(store, cid, "import", et.name, local_id, fp)
                return None
            action, payload, before = "delete", snapshot, dict(record.get("qb_data") or record["data"])
            name = record["name"] or local_id
        else:
            es = snapshot.get("EditSequence")
            fp = _seen_fingerprint(snapshot)
            if store_changes.get_seen(store, cid, "import", et.name, local_id) == fp:
                return None
            if record is not None and es and record["edit_sequence"] == es:
                store_changes.set_seen(store, cid, "import", et.name, local_id, fp)
                return None
            name = et.display_name(snapshot) or local_id
            if record is None:
                action, payload, before = "add", snapshot, {}
            else:
                changed = content.diff_snapshots(snapshot, record.get("qb_data") or record["data"])
                if not changed:  # only QuickBooks' bookkeeping moved: keep the EditSequence fresh
                    store_records.save_record(
                        store, cid, et.name, local_id, qb_id=qb_id, edit_sequence=es or record["edit_sequence"],
                        name=record["name"], data=record["data"], qb_data=snapshot,
                    )
                    store_changes.set_seen(store, cid, "import", et.name, local_id, fp)
                    return None
                action, payload, before = "mod", snapshot, {k: old for k, (old, _) in changed.items()}
        if fold is not None:
            store_changes.update_change(
                store, fold["id"], action=action, payload=payload, before=before, name=name, qb_id=qb_id,
                status="awaiting", checked=int(fold["checked"]) if fold["status"] == "awaiting" else 1,
                status_code=None, status_severity=None, status_message=None, note=None, detected_at=utc_now(),
            )
            change_id = fold["id"]
        else:
            change_id = store_changes.insert_change(
                store, connection_id=cid, direction="import", type_=et.name, action=action, local_id=local_id,
                qb_id=qb_id, name=name, payload=payload, before=before,
            )
        store_changes.set_seen(store, cid, "import", et.name, local_id, fp)
    return change_id


def record_imports(store: Store, connection: Mapping[str, Any] | int, type_name: str,
                   rets: list[Mapping[str, Any]]) -> int:
    """`record_import` for a page of records detection read, with a few queries for the page:
    what qbsync has seen already (its own saves, the overlap read again) is dropped, a record new
    to qbsync becomes an import add at once, the rest go through `record_import`. Returns how
    many import changes were created or updated."""
    cid = _cid(connection)
    et = catalogue.entity_type(type_name)
    rets = [r for r in rets if r.get(et.id_field)]
    qb_ids = [str(r[et.id_field]) for r in rets]
    with store.transaction():
        known = store_imports.records_by_qb_ids(store, cid, et.name, qb_ids)
        local_ids = [known[q]["local_id"] if q in known else q for q in qb_ids]
        seen = store_imports.seen_imports(store, cid, et.name, local_ids)
        open_ = store_imports.with_open_imports(store, cid, et.name, [lid for q, lid in zip(qb_ids, local_ids)
                                                                     if q not in known])
        new: dict[str, tuple[str, str, str, dict[str, Any], str]] = {}
        changed = 0
        for ret, qb_id, local_id in zip(rets, qb_ids, local_ids):
            es = ret.get("EditSequence")
            fp = _seen_fingerprint(ret)
            if seen.get(local_id) == fp or (qb_id in known and es and known[qb_id]["edit_sequence"] == es):
                continue  # seen already, or qbsync's own save: record_import would say so, slower
            if qb_id not in known and local_id not in open_ and local_id not in seen:
                new[local_id] = (local_id, qb_id, et.display_name(ret) or local_id, dict(ret), fp)
            elif record_import(store, cid, et.name, ret) is not None:
                changed += 1
        store_imports.insert_new_imports(store, cid, et.name, list(new.values()), utc_now())
    return changed + len(new)


def apply_import(store: Store, change_id: int, snapshot: Mapping[str, Any] | None) -> None:
    """An approved import reaches the app: QuickBooks' version of the record as re-read just now
    (`snapshot`; None for a deletion) goes to the mirror, and the feed gets it in the shape the
    app stages (`import_shape`). An awaiting import of the same record that this version
    already covers is done with it."""
    with store.transaction():
        change = store_changes.get_change(store, change_id)
        if change["status"] != "queued" or change["direction"] != "import":
            raise QbsyncError(f"change {change_id} is not an approved import; it cannot be applied")
        cid, type_name, local_id = change["connection_id"], change["type"], change["local_id"]
        et = catalogue.entity_type(type_name)
        record = store_records.get_record(store, cid, type_name, local_id)
        edit_sequence = qb_id = data = None
        if snapshot is None:
            store_records.delete_record(store, cid, type_name, local_id)
            # The app's last content is forgotten (staging it again is a new add), and the
            # deletion is remembered (the deleted-records query does not offer it again).
            store_changes.forget_seen(store, cid, type_name, local_id)
            store_changes.set_seen(store, cid, "import", type_name, local_id, "deleted")
            qb_id = change["qb_id"]
        else:
            snapshot = dict(snapshot)
            qb_id = str(snapshot.get(et.id_field) or change["qb_id"])
            edit_sequence = snapshot.get("EditSequence")
            data = import_shape.app_data(type_name, snapshot, old_data=(record or {}).get("data"),
                                         local_id_of=_local_id_of(store, cid))
            store_records.save_record(
                store, cid, type_name, local_id, qb_id=qb_id, edit_sequence=edit_sequence,
                name=et.display_name(snapshot) or change["name"], data=data, qb_data=snapshot,
            )
            if edit_sequence:
                store_changes.set_seen(store, cid, "import", type_name, local_id, f"es:{edit_sequence}")
        store_changes.update_change(store, change_id, status="synced", resolved_at=utc_now(),
                                    **({"payload": snapshot} if snapshot is not None else {}))
        store_logs.append_feed(store, store_changes.get_change(store, change_id), result="applied", qb_id=qb_id,
                               edit_sequence=edit_sequence, data=data)
        for other in store_changes.changes_for_entity(store, cid, "import", type_name, local_id, ("awaiting", "held")):
            if snapshot is None or (edit_sequence and other["payload"].get("EditSequence") == edit_sequence):
                store_changes.update_change(store, other["id"], status="cleared", resolved_at=utc_now(),
                                            note=f"applied with change {change_id}")


def _local_id_of(store: Store, connection_id: int) -> import_shape.LocalIdOf:
    """The app's id of a record QuickBooks refers to. A record only known by its ListID/TxnID
    (imported, never linked by the app) has none: the reference stays QuickBooks', so it still
    holds when the app links that record to an id of its own."""
    def local_id_of(types: tuple[str, ...], qb_id: str) -> str | None:
        for type_name in types:
            record = store_records.get_record_by_qb_id(store, connection_id, type_name, qb_id)
            if record is not None and str(record["local_id"]) != qb_id:
                return str(record["local_id"])
        return None

    return local_id_of
