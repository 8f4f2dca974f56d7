"""What a Web Connector session records for its changes, beyond `qbsync.sync.delivery`:
marking a message's changes as sent, a synced change that came with a warning, a change that
never left (invalid, waiting), and the EditSequence re-read before a fix-edit-sequence Mod.
Each function joins the caller's transaction; `record_outcomes` records what the session engine
decided for each change."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from qbsync.engine.merge import QB_LINE_PREFIX
from qbsync.engine.model import Applied, Failed, Outcome, Refreshed, Requeued, Synced, Undecided, Unknown, Waiting
from qbsync.store import changes as store_changes
from qbsync.store import records as store_records
from qbsync.store.db import Store
from qbsync.timeutil import utc_now
from qbsync.sync import delivery


def mark_sending(store: Store, change_ids: Iterable[int], *, message_id: str | None, at: str | None = None) -> None:
    """The changes of a message that goes out now: `sending`, one more attempt, the message-set
    id kept (error recovery asks QuickBooks about it by that id)."""
    store_changes.mark_sending(store, list(change_ids), message_id=message_id, at=at or utc_now())


def record_synced(
    store: Store, change: Mapping[str, Any], *, qb_id: str | None, edit_sequence: str | None,
    snapshot: Mapping[str, Any] | None, status_code: int = 0, warning: str | None = None, current: bool = False,
    echoes_possible: bool = True, now: str | None = None,
) -> None:
    """QuickBooks applied the change; with a warning (500–999) the code and QuickBooks' words
    stay on the change so `qbsync show` tells what QuickBooks left out. `current`: `change` was
    read in this transaction and is as the store has it (not read again); `echoes_possible`:
    False when the connection has no import awaiting or held (see `delivery.record_synced`)."""
    outcome = Synced(change["id"], qb_id, edit_sequence, snapshot, status_code, warning)
    record_synced_together(store, [(change, outcome)], current=current, echoes_possible=echoes_possible, now=now)


def record_synced_together(
    store: Store, synced: Sequence[tuple[Mapping[str, Any], Synced]], *, current: bool = True,
    echoes_possible: bool = True, now: str | None = None,
) -> None:
    """`record_synced` for several changes (each once, no two of one entity), their writes made
    together (`delivery.record_synced_many`)."""
    with store.transaction():
        delivery.record_synced_many(store, [
            delivery.SyncedAnswer(change["id"], o.qb_id or change.get("qb_id") or "", o.edit_sequence, o.snapshot,
                                  change if current else None)
            for change, o in synced], echoes_possible=echoes_possible, now=now)
        for change, o in synced:
            if o.status_message is not None or o.status_code:
                store_changes.update_change(
                    store, change["id"], status_code=o.status_code, status_severity="Warn",
                    status_message=o.status_message,
                    note=f"synced with warning {o.status_code}: {o.status_message}" if o.status_message else None,
                )


def record_not_sent(store: Store, change_id: int, *, message: str, at: str | None = None) -> None:
    """A change qbsync refused to send (its request breaks the schema): Error Log (`app → QB`)
    and a Failed Syncs row, exactly like a refusal by QuickBooks but with no status code."""
    with store.transaction():
        mark_sending(store, [change_id], message_id=None, at=at)
        delivery.record_error(store, change_id, status_code=None, message=message)


def record_failed_lookup(store: Store, change_id: int, *, status_code: int | None, message: str) -> None:
    """The re-read before a Mod failed (the record is gone): the change goes to the Error Log."""
    with store.transaction():
        mark_sending(store, [change_id], message_id=None)
        delivery.record_error(store, change_id, status_code=status_code, message=message)


def note_waiting(store: Store, change_id: int, reason: str) -> None:
    """The change stays queued with the reason it was not sent ("waiting for Customer C-1")."""
    store_changes.update_change(store, change_id, note=reason)


def record_refreshed(store: Store, change: Mapping[str, Any], outcome: Refreshed) -> None:
    """QuickBooks' current EditSequence (and record) re-read before a Mod: the mirror takes them.
    After a merge the change carries the merged payload, and what only QuickBooks changed flows
    into the mirror's data (a line QuickBooks added is kept there by its TxnLineID); else the
    app's values win."""
    with store.transaction():
        cid, type_name, local_id = change["connection_id"], change["type"], change["local_id"]
        record = store_records.get_record(store, cid, type_name, local_id)
        data = dict(record["data"]) if record is not None else {}
        if outcome.send is not None:
            data = merged_data(data, outcome)
        if record is not None:
            store_records.save_record(
                store, cid, type_name, local_id, qb_id=record["qb_id"], edit_sequence=outcome.edit_sequence,
                name=record["name"], data=data, qb_data=dict(outcome.snapshot),
            )
        note = f"re-read from QuickBooks (EditSequence {outcome.edit_sequence}); "
        if outcome.send is None:
            store_changes.update_change(store, change["id"], refresh_edit_sequence=0, note=note + "the app's values win")
            return
        kept = sorted(outcome.kept)
        note += ("merged: QuickBooks' changes kept (" + ", ".join(kept) + "), the app's sent"
                 if kept else "merged: QuickBooks changed none of the app's fields")
        store_changes.update_change(store, change["id"], refresh_edit_sequence=0, payload=outcome.send, note=note)


def merged_data(data: Mapping[str, Any], outcome: Refreshed) -> dict[str, Any]:
    """The mirror's data with what only QuickBooks changed: fields the app keeps there take
    QuickBooks' values; lines QuickBooks added join the app's lines (id ``qb:<TxnLineID>``)."""
    out = dict(data)
    for key, value in outcome.kept.items():
        if "/" not in key and "[" not in key and key in out:
            out[key] = value
    for key, added in outcome.added_lines.items():
        lines = out.get(key) if isinstance(out.get(key), list) else []
        out[key] = [*lines, *({"id": QB_LINE_PREFIX + t, "TxnLineID": t} for t in added)]
    return out


def requeue(store: Store, change: Mapping[str, Any], *, reason: str, status_code: int | str | None = None,
            locked: bool = False) -> None:
    """Back to the queue with the reason noted once (a sent change loses the attempt it was
    counted; one that never left just keeps its place). `locked`: QuickBooks answered with a
    lock, so the attempt counts (see `delivery.record_locked`)."""
    with store.transaction():
        if change["status"] == "sending" and locked and isinstance(status_code, int):
            delivery.record_locked(store, change["id"], reason=reason, status_code=status_code)
        elif change["status"] == "sending" or _unknown(change):
            code = status_code if isinstance(status_code, int) else None  # an HRESULT is in the reason
            delivery.record_requeue(store, change["id"], reason=reason, status_code=code)
        else:
            store_changes.update_change(store, change["id"], note=reason)


def _unknown(change: Mapping[str, Any]) -> bool:
    """An outcome-unknown change (in the Error Log) that the settle step is deciding."""
    return change["status"] == "error" and bool(change["outcome_unknown"])


def record_outcomes(store: Store, outcomes: Iterable[Outcome], *, at: str) -> dict[int, dict[str, Any]]:
    """Record the engine's outcome for each change (in the caller's transaction). Returns the
    changes as they were before, by id (for the log)."""
    outcomes = list(outcomes)
    rows = {r["id"]: r for r in store_changes.get_changes(store, sorted({o.change_id for o in outcomes}))}
    # A change with one outcome is recorded from the row read above (in this transaction); one
    # with several is read again for each. Imports awaiting or held are looked for once (own
    # echoes of the writes synced: delivery.record_synced).
    outcomes_of = Counter(o.change_id for o in outcomes)
    echoes: dict[int, bool] = {}
    now = utc_now()  # one time for the changes recorded together
    # Synced changes in a row (each with one outcome, no two of one entity) are written together;
    # any other outcome writes them first, so the writes keep the outcomes' order (the feed's).
    together: list[tuple[dict[str, Any], Synced]] = []
    entities: set[tuple[int, str, str]] = set()  # theirs (connection, type, local id)

    def echoes_possible(conn: int) -> bool:
        if conn not in echoes:
            echoes[conn] = store_changes.has_changes(store, conn, "import", ("awaiting", "held"))
        return echoes[conn]

    def write_together() -> None:
        if together:
            record_synced_together(store, together, echoes_possible=echoes_possible(together[0][0]["connection_id"]),
                                   now=now)
            together.clear()
            entities.clear()

    for o in outcomes:
        change = rows[o.change_id]
        if isinstance(o, Synced) and outcomes_of[o.change_id] == 1:
            entity = (change["connection_id"], change["type"], change["local_id"])
            if entity in entities or (together and together[0][0]["connection_id"] != entity[0]):
                write_together()
            together.append((change, o))
            entities.add(entity)
            continue
        write_together()
        if isinstance(o, Synced):  # one of several outcomes of its change: read again
            record_synced(store, change, qb_id=o.qb_id, edit_sequence=o.edit_sequence, snapshot=o.snapshot,
                          status_code=o.status_code, warning=o.status_message,
                          echoes_possible=echoes_possible(change["connection_id"]), now=now)
        elif isinstance(o, Failed):
            if change["status"] == "sending" or _unknown(change):  # an unknown outcome settled: refused
                delivery.record_error(store, o.change_id, status_code=o.status_code, message=o.message,
                                      severity=o.severity)
            elif o.status_code is not None:  # the re-read before a Mod: QuickBooks' answer counts
                record_failed_lookup(store, o.change_id, status_code=o.status_code, message=o.message)
            else:  # refused by qbsync itself (the request breaks the schema): no status code
                record_not_sent(store, o.change_id, message=o.message, at=at)
        elif isinstance(o, Unknown):
            if change["status"] == "sending":
                delivery.record_outcome_unknown(store, o.change_id, reason=o.reason)
        elif isinstance(o, Undecided):
            delivery.record_undecided(store, o.change_id, reason=o.reason)
        elif isinstance(o, Requeued):
            requeue(store, change, reason=o.reason, status_code=o.status_code, locked=o.retry_after is not None)
        elif isinstance(o, Waiting):
            note_waiting(store, o.change_id, o.reason)
        elif isinstance(o, Refreshed):
            record_refreshed(store, change, o)
        elif isinstance(o, Applied):
            delivery.apply_import(store, o.change_id, o.snapshot)
    write_together()
    return rows
