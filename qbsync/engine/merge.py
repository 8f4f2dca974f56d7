"""The three-way merge of fix-edit-sequence: which fields of a Mod go to QuickBooks after a re-read.

BASE is the record as last synced (the mirror's QuickBooks snapshot), THEIRS the record QuickBooks
holds now (the re-read), OURS the app's change (a Mod's payload: only the fields it changes, with
the values they had before in `before`). Per field, and per line by TxnLineID:

- only the app changed it: sent;
- only QuickBooks changed it: kept (not sent; a line QuickBooks added is sent by its TxnLineID
  alone, since a Mod with lines deletes the lines it leaves out);
- both changed it, to the same value: sent (nothing is lost);
- both changed it, to different values: a conflict (nothing is sent).

Aggregates such as BillAddress merge field by field. Plain dicts in, a MergeResult out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from qbsync.engine.lines import match_line_ids

# Fields QuickBooks changes on every save, or derives: never a user's edit.
BOOKKEEPING = frozenset({"EditSequence", "TimeModified", "TimeCreated", "ListID", "TxnID", "TxnNumber"})
_REF_KEYS = frozenset({"ListID", "FullName", "local_id", "TxnID"})
QB_LINE_PREFIX = "qb:"  # the app-side id given to a line QuickBooks added (kept by its TxnLineID)


@dataclass
class MergeResult:
    send: dict[str, Any] = field(default_factory=dict)  # the Mod's payload (app form)
    kept: dict[str, Any] = field(default_factory=dict)  # QuickBooks-only changes: path -> its value
    conflicts: list[str] = field(default_factory=list)  # "Phone (app '222', QuickBooks '111')"
    added_lines: dict[str, list[str]] = field(default_factory=dict)  # line field -> TxnLineIDs QuickBooks added

    @property
    def ok(self) -> bool:
        return not self.conflicts


def _scalar(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    s = str(v).strip()
    try:
        return Decimal(s).normalize() if s and s.lower() not in ("nan", "inf", "infinity") else s
    except InvalidOperation:
        return s.lower() if s.lower() in ("true", "false") else s


def same(a: Any, b: Any) -> bool:
    """Equal as QuickBooks would store them (10 == "10.00", True == "true")."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = (set(a) | set(b)) - BOOKKEEPING - {"TxnLineID"}
        return all(same(a.get(k), b.get(k)) for k in keys)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (Mapping, list)) or isinstance(b, (Mapping, list)):
        return not a and not b
    return _scalar(a) == _scalar(b)


def covers(ours: Any, theirs: Any) -> bool:
    """QuickBooks holds what the app sends: every field the app gives has that value (a reference
    by ListID matches QuickBooks' ListID + FullName)."""
    if isinstance(ours, Mapping):
        if not isinstance(theirs, Mapping):
            return False
        if "ListID" in ours and "ListID" in theirs:
            return same(ours["ListID"], theirs["ListID"])
        return all(covers(v, theirs.get(k)) for k, v in ours.items() if k not in ("id", "TxnLineID"))
    if isinstance(ours, list):
        return isinstance(theirs, list) and len(ours) == len(theirs) and all(map(covers, ours, theirs))
    return same(ours, theirs)


def _is_aggregate(v: Any) -> bool:
    return isinstance(v, Mapping) and not (set(v) & _REF_KEYS)


def _show(v: Any) -> str:
    if isinstance(v, Mapping) and ("FullName" in v or "ListID" in v or "local_id" in v):
        v = v.get("FullName") or v.get("ListID") or v.get("local_id")
    return repr(v if v is None or isinstance(v, (str, int, float)) else str(v))


def merge(
    ours: Mapping[str, Any],
    before: Mapping[str, Any],
    base: Mapping[str, Any] | None,
    theirs: Mapping[str, Any],
    *,
    lines: Mapping[str, str] | None = None,
    mirror_lines: Mapping[str, Any] | None = None,
    resolve: Callable[[Any], Any] = lambda v: v,
) -> MergeResult:
    """Merge the app's Mod payload `ours` (old values in `before`) with QuickBooks' record
    `theirs`, against `base` (None: not known; then only the app's fields are compared, and a
    field QuickBooks holds differently from `before` counts as changed there). `lines` maps a
    line field to its Ret name ("InvoiceLine" -> "InvoiceLineRet"); `mirror_lines` are the
    mirror's lines by field (the app's line ids with their TxnLineIDs); `resolve` turns the
    app's references by local id into QuickBooks' ids, for comparing."""
    out = MergeResult()
    lines = lines or {}
    for key, value in ours.items():
        if key in lines:
            _merge_lines(out, key, value, before.get(key), base, theirs, lines[key], (mirror_lines or {}).get(key), resolve)
            continue
        old, now = before.get(key), theirs.get(key)
        qb_changed = (not same(base.get(key), now)) if base is not None else not covers(resolve(old), now) and old is not None
        if not qb_changed:
            out.send[key] = value
        elif _is_aggregate(value) and isinstance(now, Mapping):
            sub = merge(value, old if isinstance(old, Mapping) else {},
                        (base or {}).get(key) if isinstance((base or {}).get(key), Mapping) else ({} if base is not None else None),
                        now, resolve=resolve)
            out.send[key] = {**value, **sub.send, **{k: now.get(k) for k in sub.kept}}
            out.kept.update({f"{key}/{k}": v for k, v in sub.kept.items()})
            out.conflicts += [f"{key}/{c}" for c in sub.conflicts]
        elif covers(resolve(value), now):
            out.send[key] = value  # both changed it to the same value
        elif not same(value, old) or old is None:
            out.conflicts.append(f"{key} (app {_show(value)}, QuickBooks {_show(now)})")
        else:
            out.kept[key] = now  # in the payload unchanged (an aggregate resent whole): QuickBooks' value stays
            out.send[key] = now
    if base is not None:
        for key in (set(base) | set(theirs)) - set(ours) - BOOKKEEPING - set(lines.values()):
            if not same(base.get(key), theirs.get(key)):
                out.kept[key] = theirs.get(key)
    return out


def _by_line_id(record: Mapping[str, Any] | None, ret: str) -> dict[str, Mapping[str, Any]]:
    rets = (record or {}).get(ret) or []
    rets = rets if isinstance(rets, list) else [rets]
    return {str(r["TxnLineID"]): r for r in rets if isinstance(r, Mapping) and r.get("TxnLineID")}


def _merge_lines(out: MergeResult, key: str, ours: Any, before: Any, base: Mapping[str, Any] | None,
                 theirs: Mapping[str, Any], ret: str, mirror: Any, resolve: Callable[[Any], Any]) -> None:
    ours_lines: Sequence[Any] = ours if isinstance(ours, list) else [ours]
    base_lines, their_lines = _by_line_id(base, ret), _by_line_id(theirs, ret)
    if base is None or all(same(base_lines.get(t), their_lines.get(t)) for t in set(base_lines) | set(their_lines)):
        out.send[key] = ours  # QuickBooks left the lines alone: the app's lines as they are
        return
    old_by_id = {str(b["id"]): b for b in (before if isinstance(before, list) else []) if isinstance(b, Mapping) and "id" in b}
    sent: list[Any] = []
    claimed: set[str] = set()
    for line, txn_line_id in zip(ours_lines, match_line_ids(ours_lines, mirror, set(base_lines))):
        if txn_line_id is None or not isinstance(line, Mapping):
            sent.append(line)  # a line the app added
            continue
        claimed.add(txn_line_id)
        where = f"{key}[{txn_line_id}]"
        old = old_by_id.get(str(line.get("id")))
        app_changed = {k for k in line if k not in ("id", "TxnLineID") and (old is None or not same(line[k], old.get(k)))}
        b, t = base_lines[txn_line_id], their_lines.get(txn_line_id)
        if t is None:
            if app_changed:
                out.conflicts.append(f"{where} (changed in the app, deleted in QuickBooks)")
            else:
                out.kept[where] = None  # deleted in QuickBooks: stays deleted
            continue
        qb_changed = {k for k in (set(b) | set(t)) - BOOKKEEPING - {"TxnLineID"} if not same(b.get(k), t.get(k))}
        for k in sorted(app_changed & qb_changed):
            if not covers(resolve(line[k]), t.get(k)):
                out.conflicts.append(f"{where}/{k} (app {_show(line[k])}, QuickBooks {_show(t.get(k))})")
        keep = qb_changed - app_changed
        out.kept.update({f"{where}/{k}": t.get(k) for k in sorted(keep)})
        sent.append({k: v for k, v in line.items() if k not in keep})  # left out: QuickBooks keeps its value
    for txn_line_id in sorted(set(base_lines) - claimed):  # lines the app removed
        t = their_lines.get(txn_line_id)
        if t is not None and not same(base_lines[txn_line_id], t):
            out.conflicts.append(f"{key}[{txn_line_id}] (removed in the app, changed in QuickBooks)")
    for txn_line_id in [t for t in their_lines if t not in base_lines]:  # lines QuickBooks added: kept
        sent.append({"id": QB_LINE_PREFIX + txn_line_id})
        out.kept[f"{key}[{txn_line_id}]"] = their_lines[txn_line_id]
        out.added_lines.setdefault(key, []).append(txn_line_id)
    out.send[key] = sent
