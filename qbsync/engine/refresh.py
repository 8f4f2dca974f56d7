"""What a re-read before a fix-edit-sequence Mod decides: merge the app's change with QuickBooks'
current record (qbsync.engine.merge) against the mirror's snapshot as it was before the re-read.
A conflict fails the change (Error Log, nothing sent); else the Mod carries the merged payload."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from qbsync.engine.merge import merge
from qbsync.engine.model import ExportChange, Failed, Mirror, Outcome, Refreshed
from qbsync.qbxml.entities import entity

MERGE, APP_WINS = 1, 2  # refresh_edit_sequence: re-read and merge; re-read, the app's values win (--force)
CONFLICT = "merge conflict"  # how the Error Log's message starts (errorlog offers --force)


def conflict_message(change: ExportChange, conflicts: list[str]) -> str:
    return (f"{CONFLICT}: QuickBooks and the app both changed {'; '.join(conflicts)}; nothing was sent. "
            f"Change it in one place, or run `qbsync fix-edit-sequence --force {change.id}` to let the app's values win")


def _resolver(mirror: Mirror) -> Any:
    def resolve(value: Any) -> Any:
        if isinstance(value, Mapping):
            if "local_id" in value:
                rec = mirror.find(str(value["local_id"]))
                return {"ListID": rec.qb_id} if rec is not None else value
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value
    return resolve


def decide(outcome: Refreshed, change: ExportChange | None, mirror: Mirror) -> Outcome:
    """The re-read `outcome` merged with `change` when fix-edit-sequence marked it for a merge;
    else as it is (a re-read because the mirror has no EditSequence, or --force: the app wins)."""
    if change is None or change.refresh_edit_sequence != MERGE or change.action != "mod":
        return outcome
    rec = mirror.get(change.type, change.local_id)
    base = rec.qb_data if rec is not None and isinstance(rec.qb_data, Mapping) else None
    aggs = [a for a in entity(change.type).lines if a.id_field == "TxnLineID"]
    result = merge(
        change.payload, change.before, base, outcome.snapshot,
        lines={a.base: a.ret for a in aggs},
        mirror_lines={a.base: rec.data.get(a.base) for a in aggs} if rec is not None else {},
        resolve=_resolver(mirror),
    )
    if not result.ok:
        return Failed(change.id, None, conflict_message(change, result.conflicts))
    return Refreshed(outcome.change_id, outcome.edit_sequence, outcome.snapshot, result.send, result.kept,
                     result.added_lines)


def decide_all(outcomes: Iterable[Outcome], changes: Iterable[ExportChange], mirror: Mirror) -> list[Outcome]:
    by_id = {c.id: c for c in changes}
    return [decide(o, by_id.get(o.change_id), mirror) if isinstance(o, Refreshed) else o for o in outcomes]
