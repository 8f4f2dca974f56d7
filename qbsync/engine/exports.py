"""The export step: which approved changes go in the next message, as which requests, and what
QuickBooks' answer means for each of them. Pure: plain data in, requests and outcomes out.

Order. Changes are taken in the catalogue's dependency order (accounts, classes, terms, tax
codes, items and customers before transactions; invoices before payments), oldest first within
a type. A change is *ready* when every record it refers to by local id is known to QuickBooks
(a ListID/TxnID in the mirror, which includes what this session synced in an earlier message).
A reference to a record whose own export is still queued *defers* the change to a later message
(a parent and its dependent never share a message); a reference to a record that is neither
synced nor queued makes it *wait* ("waiting for Customer C-1"): it stays queued, and no request
is sent that could only fail with 3140.

Requests. References become ``{"ListID": …}`` (or the bare TxnID where the field is an id);
lines move from their base name (``InvoiceLine``) to the Add or Mod element. A Mod carries the
record's ListID/TxnID and current EditSequence, and sends every line the app still has: a line
QuickBooks knows keeps its TxnLineID, a new one gets ``-1``. Every request is validated alone
before it joins a message, so one bad change never blocks the rest of its batch.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from qbsync.engine import locks as lock_rules
from qbsync.engine.lines import match_line_ids
from qbsync.engine.model import (
    ExportChange,
    Failed,
    Mirror,
    MirrorRecord,
    Outcome,
    Refreshed,
    Requeued,
    Synced,
    Unknown,
    Waiting,
    kind_label,
)
from qbsync.qbxml import QbxmlValidationError, Request, build_request, load_schema, parse_response
from qbsync.qbxml.entities import LineAggregate, dependency_order, entity

CONTINUE_ON_ERROR = "continueOnError"
PARSE_ERROR_HRESULT = "0x80040400"  # QuickBooks could not parse the message: nothing applied
NOT_PROCESSED = 3231  # skipped after an earlier failure under stopOnError: nothing applied
NOT_FOUND_CODES = (1, 500, 3120)  # a query by id that found nothing: the record is gone
WRITE, REFRESH = "write", "refresh"
_INDEX = re.compile(r"\[\d+\]$")


# -- plans -------------------------------------------------------------------------------------


@dataclass
class PlannedRequest:
    request_id: str
    change_id: int
    request: Request
    note: str | None = None  # something worth a log line (e.g. a re-read before a Mod)
    type_name: str | None = None  # the entity type (when the plan has no change to tell it)
    locks: int = 0  # lock answers in a row the change had before this send (qbsync.engine.locks)


@dataclass
class ExportPlan:
    """The next message of the export step, and what the engine learned while choosing it."""

    kind: str  # WRITE (Add/Mod/Del) or REFRESH (queries re-reading records before a Mod)
    requests: list[PlannedRequest] = field(default_factory=list)
    invalid: list[Failed] = field(default_factory=list)  # never sent: Error Log
    waiting: list[Waiting] = field(default_factory=list)  # a reference is neither synced nor queued
    deferred: list[Waiting] = field(default_factory=list)  # waits on a change still queued
    settled: list[Outcome] = field(default_factory=list)  # decided without a message
    # Error recovery (the settle step): the message set asked about, and the requestIDs of its
    # saved responses that come back with this message (requestID -> change id).
    old_message_set_id: str | None = None
    recovered: dict[str, int] = field(default_factory=dict)
    # The message, built and validated while planning: (version, newMessageSetID, text).
    built: tuple[str, str | None, str] | None = None

    @property
    def empty(self) -> bool:
        return not self.requests and not self.recovered

    def change_ids(self) -> list[int]:
        return [p.change_id for p in self.requests]


def request_id_for(kind: str, change_id: int) -> str:
    """The requestID of a change's request (well under the 50-character limit)."""
    return f"{'r' if kind == REFRESH else 'c'}{change_id}"


def send_order(mirror: Mirror) -> Any:
    """The sort key of the order changes are sent in: adds and mods in dependency order (what a
    record refers to first), oldest first within a type; then deletes the other way round, so a
    record goes before what it uses (an invoice before its customer and items, a job before its
    parent customer: deeper in the name hierarchy first), else QuickBooks refuses with 3170."""
    rank = {name: i for i, name in enumerate(dependency_order())}
    last = len(rank)

    def key(c: ExportChange) -> tuple[int, int, int, int]:
        if c.action == "delete":
            return (1, -rank.get(c.type, last), -_depth(mirror.get(c.type, c.local_id)), c.id)
        return (0, rank.get(c.type, last), 0, c.id)

    return key


def _depth(rec: MirrorRecord | None) -> int:
    """How deep a list record sits in QuickBooks' name hierarchy (a job of a customer: 1)."""
    if rec is None:
        return 0
    for data in (rec.qb_data or {}, rec.data):
        if str(data.get("Sublevel", "")).isdigit():
            return int(data["Sublevel"])
        if data.get("FullName"):
            return str(data["FullName"]).count(":")
    return 1 if rec.data.get("ParentRef") else 0


def needs_refresh(change: ExportChange, mirror: Mirror, refreshed: Mapping[int, str]) -> bool:
    """A Mod re-reads the record first when fix-edit-sequence asked for it, or when the mirror
    has no EditSequence to send."""
    if change.action != "mod" or change.id in refreshed:
        return False
    if change.refresh_edit_sequence:
        return True
    rec = mirror.get(change.type, change.local_id)
    return rec is None or not rec.edit_sequence


def _qb_id(change: ExportChange, mirror: Mirror) -> str | None:
    rec = mirror.get(change.type, change.local_id)
    return (rec.qb_id if rec else None) or change.qb_id


def _blocker(
    change: ExportChange,
    mirror: Mirror,
    queued_entities: Mapping[tuple[str, str], list[int]],
    queued_local: Mapping[str, list[tuple[str, int]]],
    unapproved: Container[str] | None = None,
) -> tuple[str, str] | None:
    """Why `change` cannot go in this message: ("defer", reason) when what it needs is still
    queued (a later message), ("wait", reason) when what it needs is not coming yet (awaiting
    approval, held or in the Error Log), ("gone", reason) when it never will (cleared or deleted:
    `unapproved` names the local ids that still have such a change; None: not known, so wait);
    None: ready."""
    earlier = [i for i in queued_entities.get(change.entity, ()) if i < change.id]
    if earlier:
        return "defer", f"waiting for change {earlier[0]} to the same {change.type} to be sent first"
    if change.action != "add" and not _qb_id(change, mirror):
        if unapproved is not None and change.local_id not in unapproved:
            return "gone", (f"not sent: {change.type} {change.local_id} never reached QuickBooks and its add is "
                            "no longer on its way (cleared or deleted); stage the record again as new")
        return "wait", f"waiting for {change.type} {change.local_id} (it has not reached QuickBooks yet)"
    for ref in change.refs:
        if mirror.find(ref.local_id, ref.types):
            continue
        pending = [
            t for t, i in queued_local.get(ref.local_id, ()) if i != change.id and (not ref.types or t in ref.types)
        ]
        label = f"{pending[0]} {ref.local_id}" if pending else ref.label()
        if pending:
            return "defer", f"waiting for {label}"
        if unapproved is not None and ref.local_id not in unapproved:
            return "gone", (f"not sent: it refers to {label}, which is neither in QuickBooks nor on its way "
                            f"(cleared or deleted); stage {ref.local_id} again, or the change without that reference")
        return "wait", f"waiting for {label} (not in QuickBooks yet, and not approved to go)"
    return None


def plan_exports(
    changes: Iterable[ExportChange],
    mirror: Mirror,
    *,
    batch_size: int = 50,
    version: str = "13.0",
    skip: Iterable[int] = (),
    refreshed: Mapping[int, str] | None = None,
    alone: Iterable[int] = (),
    unapproved: Container[str] | None = None,
    validate: bool = True,
    message_set_id: str | None = None,
) -> ExportPlan:
    """Choose the next message. `changes` are the connection's queued exports; `skip` the ones
    this session will not send again; `refreshed` maps a change to the EditSequence re-read for
    it; `alone` the changes that go in a message of their own (they were in a message QuickBooks
    could not parse), first; `unapproved` the local ids that have a change still to be approved,
    held or in the Error Log (a reference to anything else that is not in QuickBooks fails).
    Re-reads come first (one REFRESH message), then writes in dependency order. A validated
    WRITE plan holds its message, built with `message_set_id` (see `build_message`)."""
    refreshed = dict(refreshed or {})
    skip, alone = set(skip), set(alone)
    schema = load_schema(version) if validate else None
    every = sorted(changes, key=send_order(mirror))
    queued_entities: dict[tuple[str, str], list[int]] = {}
    queued_local: dict[str, list[tuple[str, int]]] = {}
    for c in every:
        queued_entities.setdefault(c.entity, []).append(c.id)
        queued_local.setdefault(c.local_id, []).append((c.type, c.id))
    for ids in queued_entities.values():
        ids.sort()
    candidates = [c for c in every if c.id not in skip]

    waiting: list[Waiting] = []
    deferred: list[Waiting] = []
    gone: list[Failed] = []
    ready: list[ExportChange] = []
    for c in candidates:
        if c.not_before is not None:  # resting after a lock answer; what needs it waits behind it
            waiting.append(Waiting(c.id, lock_rules.resting_reason(c.lock_code, c.locks, c.not_before)))
            continue
        block = _blocker(c, mirror, queued_entities, queued_local, unapproved)
        if block is None:
            ready.append(c)
        elif block[0] == "gone":
            gone.append(Failed(c.id, None, block[1]))
        elif block[0] == "wait":
            waiting.append(Waiting(c.id, block[1]))
        else:
            deferred.append(Waiting(c.id, block[1]))

    isolated = [c for c in ready if c.id in alone]
    if isolated:
        ready, batch_size = isolated[:1], 1
    to_refresh = [c for c in ready if needs_refresh(c, mirror, refreshed)]
    if to_refresh:
        plan = ExportPlan(REFRESH, invalid=gone, waiting=waiting, deferred=deferred)
        for c in to_refresh[:batch_size]:
            plan.requests.append(PlannedRequest(request_id_for(REFRESH, c.id), c.id, refresh_request(c, mirror)))
        return plan

    # Validated as the message it will be, built once (`build_message` hands that text back). A
    # message that breaks the schema is chosen again with every request checked alone, so one
    # bad change never blocks the rest of its batch.
    plan = _pick_writes(ready, mirror, refreshed, batch_size, gone, waiting, deferred)
    if validate and plan.requests:
        try:
            plan.built = (version, message_set_id, _build(plan, version, message_set_id, schema))
        except QbxmlValidationError:
            plan = _pick_writes(ready, mirror, refreshed, batch_size, gone, waiting, deferred,
                                check=lambda req: build_request([req], version=version, on_error=CONTINUE_ON_ERROR,
                                                                schema=schema))
    return plan


def _pick_writes(
    ready: list[ExportChange], mirror: Mirror, refreshed: Mapping[int, str], batch_size: int, gone: list[Failed],
    waiting: list[Waiting], deferred: list[Waiting], check: Callable[[Request], object] | None = None,
) -> ExportPlan:
    """The WRITE plan: the first `batch_size` ready changes that make a request (`check`, when
    given, validates each request alone; one that fails it is invalid)."""
    plan = ExportPlan(WRITE, invalid=list(gone), waiting=list(waiting), deferred=list(deferred))
    taken: set[tuple[str, str]] = set()
    taken_local: set[str] = set()
    for c in ready:
        if len(plan.requests) >= batch_size:
            break
        # Never a record and its dependent in one message (defensive: _blocker has deferred them).
        if c.entity in taken or any(ref.local_id in taken_local and not mirror.find(ref.local_id, ref.types)
                                    for ref in c.refs):
            plan.deferred.append(Waiting(c.id, "waiting for a record sent in the same batch"))
            continue
        try:
            req = change_request(c, mirror, refreshed)
            if check is not None:
                check(req)
        except QbxmlValidationError as exc:
            plan.invalid.append(Failed(c.id, None, invalid_message(exc.problems)))
            continue
        except UnresolvedReference as exc:
            plan.waiting.append(Waiting(c.id, str(exc)))
            continue
        note = None
        if c.id in refreshed:
            note = f"sending the app's values with the EditSequence re-read from QuickBooks ({refreshed[c.id]})"
        plan.requests.append(PlannedRequest(request_id_for(WRITE, c.id), c.id, req, note, locks=c.locks))
        taken.add(c.entity)
        taken_local.add(c.local_id)
    return plan


def invalid_message(problems: Sequence[Any], limit: int = 3) -> str:
    """The validation problems of a change in one line: 'not sent: the request breaks the
    qbXML schema: <path>: <rule>; …'."""
    parts = []
    for p in problems[:limit]:
        path = _short_path(getattr(p, "path", "") or "")
        message = getattr(p, "message", str(p))
        parts.append(f"{path}: {message}" if path else message)
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "not sent: the request breaks the qbXML schema: " + "; ".join(parts) + more


def _short_path(path: str) -> str:
    # /QBXML/QBXMLMsgsRq/CustomerAddRq/CustomerAdd/Name -> CustomerAdd/Name
    parts = [p for p in path.split("/") if p and p not in ("QBXML", "QBXMLMsgsRq")]
    if parts and parts[0].endswith("Rq") and len(parts) > 1:
        parts = parts[1:]
    return "/".join(parts)


def build_message(plan: ExportPlan, *, version: str, message_set_id: str | None) -> str:
    """The whole message for a plan: writes carry `newMessageSetID` (kept with the changes for
    error recovery); requests are independent, so QuickBooks goes on after a failed one. A plan
    that was built while planning, for this version and id, gives that text."""
    if plan.built is not None and plan.built[:2] == (version, message_set_id):
        return plan.built[2]
    return _build(plan, version, message_set_id)


def _build(plan: ExportPlan, version: str, message_set_id: str | None, schema: Any = None) -> str:
    return build_request(
        [p.request for p in plan.requests],
        version=version,
        on_error=CONTINUE_ON_ERROR,
        new_message_set_id=message_set_id if plan.kind == WRITE else None,
        old_message_set_id=plan.old_message_set_id,
        schema=schema,
    )


# -- requests ----------------------------------------------------------------------------------


class UnresolvedReference(Exception):
    """A local-id reference with no ListID/TxnID to send (the change waits)."""


def _resolve_refs(value: Any, path: str, refs: Mapping[str, tuple[str, ...]], mirror: Mirror) -> Any:
    if type(value) is dict or isinstance(value, Mapping):  # a dict without the ABC's check
        if "local_id" in value:
            local_id = str(value["local_id"])
            types = refs.get(path, ())
            rec = mirror.find(local_id, types)
            if rec is None or not rec.qb_id:
                raise UnresolvedReference(f"waiting for {kind_label(types)} {local_id}")
            if _names_a_ref(path):
                return {"ListID" if entity(rec.type).is_list else "TxnID": rec.qb_id}
            return rec.qb_id  # an id field such as AppliedToTxn/TxnID or LinkToTxnID
        return {k: v if type(v) in _LEAVES else _resolve_refs(v, f"{path}/{k}" if path else k, refs, mirror)
                for k, v in value.items()}
    if isinstance(value, list):
        return [v if type(v) in _LEAVES else _resolve_refs(v, f"{path}[{i}]", refs, mirror)
                for i, v in enumerate(value)]
    return value


# Kept as they are, without naming their path (any other value goes through `_resolve_refs`,
# which keeps what is neither a mapping nor a list).
_LEAVES = frozenset({str, int, float, bool, type(None)})


@functools.lru_cache(maxsize=4096)
def _names_a_ref(path: str) -> bool:
    """Whether a reference's path ends in a `…Ref` aggregate (`InvoiceLine[2]/ItemRef`), not an
    id field; a few distinct paths, asked for every reference of every request built."""
    return _INDEX.sub("", path.rsplit("/", 1)[-1]).endswith("Ref")


def _lines_in_quickbooks(rec: MirrorRecord | None, agg: LineAggregate) -> set[str] | None:
    """The TxnLineIDs the last QuickBooks snapshot lists for `agg`, or None when it has none. A
    TxnLineID missing there (e.g. after a re-read for fix-edit-sequence) was deleted in QuickBooks."""
    if rec is None or not isinstance(rec.qb_data, Mapping) or agg.ret not in rec.qb_data:
        return None
    rets = rec.qb_data[agg.ret]
    return {str(r.get("TxnLineID")) for r in (rets if isinstance(rets, list) else [rets]) if isinstance(r, Mapping)}


def _add_lines(data: dict[str, Any], aggs: Iterable[LineAggregate]) -> dict[str, Any]:
    for agg in aggs:
        if agg.base in data:
            lines = data.pop(agg.base)
            data[agg.add] = [_strip_line_keys(line) for line in (lines if isinstance(lines, list) else [lines])]
    return data


def _strip_line_keys(line: Any) -> Any:
    if not isinstance(line, Mapping):
        return line
    return {k: v for k, v in line.items() if k not in ("id", "TxnLineID")}


def _mod_lines(data: dict[str, Any], aggs: Iterable[LineAggregate], rec: MirrorRecord | None) -> dict[str, Any]:
    """Lines in the Mod form: each keeps the TxnLineID `match_line_ids` finds for it (by the app's
    line id, against the mirror as it is now), the others go as new."""
    for agg in aggs:
        if agg.base not in data:
            continue
        lines = data.pop(agg.base)
        if agg.mod is None:
            continue  # such lines cannot change once saved; the Mod leaves them as they are
        lines = lines if isinstance(lines, list) else [lines]
        items = [{k: v for k, v in line.items() if k not in ("id", "TxnLineID")} if isinstance(line, Mapping) else line
                 for line in lines]
        if agg.id_field == "TxnLineID":
            mirror_lines = rec.data.get(agg.base) if rec else None
            for item, line_id in zip(items, match_line_ids(lines, mirror_lines, _lines_in_quickbooks(rec, agg))):
                if isinstance(item, dict):
                    item["TxnLineID"] = line_id or agg.new_line_id
        data[agg.mod] = items
    return data


def _mod_form(data: Mapping[str, Any], mod_decl: Any, path: str, dropped: list[str]) -> dict[str, Any]:
    """Add-form data in the Mod form's names, by the schema: an aggregate the Mod form has only
    as `<name>Mod` (ItemService's SalesOrPurchase → SalesOrPurchaseMod) is renamed, at any depth.
    Fields QuickBooks takes only when a record is added (OpenBalance, …) have no Mod form: they
    are named in `dropped` (the caller refuses the change rather than lose them silently)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        info, target = mod_decl.child(key), key
        if info is None:
            info, target = mod_decl.child(key + "Mod"), key + "Mod"
        if info is None:
            dropped.append(path + key)
            continue
        if info.decl.content is not None:
            if isinstance(value, Mapping):
                value = _mod_form(value, info.decl, f"{path}{key}/", dropped)
            elif isinstance(value, list):
                value = [_mod_form(v, info.decl, f"{path}{key}/", dropped) if isinstance(v, Mapping) else v for v in value]
        out[target] = value
    return out


def change_request(change: ExportChange, mirror: Mirror, refreshed: Mapping[int, str] | None = None) -> Request:
    """The Add, Mod or Del request for one change, references resolved."""
    et = entity(change.type)
    rid = request_id_for(WRITE, change.id)
    rec = mirror.get(change.type, change.local_id)
    if change.action == "delete":
        qb_id = _qb_id(change, mirror)
        return Request(et.del_rq, {et.del_type_field: et.del_type, et.id_field: qb_id}, request_id=rid)
    refs = {r.path: r.types for r in change.refs}
    data = _resolve_refs(dict(change.payload), "", refs, mirror)
    data = {k: v for k, v in data.items() if k not in ("id", "ListID", "TxnID", "EditSequence")}
    if change.action == "add":
        if et.supports_external_guid and not data.get("ExternalGUID"):
            data["ExternalGUID"] = external_guid(change)
        return Request(et.add_rq, _add_lines(data, et.lines), request_id=rid)
    if et.mod_rq is None:
        raise QbxmlValidationError([_Problem(change.type, f"QuickBooks has no {change.type}Mod: a {change.type} cannot be changed once added")])
    edit_sequence = (refreshed or {}).get(change.id) or (rec.edit_sequence if rec else None)
    data = _mod_lines(data, et.lines, rec)
    mod_decl = load_schema().element(et.mod_rq)
    if mod_decl is not None:
        dropped: list[str] = []
        data = _mod_form(data, mod_decl, "", dropped)
        if dropped:
            raise QbxmlValidationError([_Problem(
                change.type, f"{', '.join(dropped)} can be set only when a {change.type} is added, not changed "
                             f"by a {et.mod_rq}; stage the record without {'them' if len(dropped) > 1 else 'it'}")])
    data[et.id_field] = _qb_id(change, mirror)
    data["EditSequence"] = edit_sequence
    return Request(et.mod_rq, data, request_id=rid)


_GUID_NAMESPACE = uuid.UUID("5c1d8a4e-7b0f-4f3e-9a61-2f6f3b0c9d11")  # qbsync's, fixed: the same GUID every time


def external_guid(change: ExportChange) -> str:
    """The ExternalGUID an Add carries (for the types that take one): the same for every send of
    the change, so when its answer is lost the record found in QuickBooks is known to be this
    change's (qbsync.engine.settle), not someone else's of the same name."""
    name = f"qbsync:{change.type}:{change.local_id}:{change.id}"
    return "{" + str(uuid.uuid5(_GUID_NAMESPACE, name)).upper() + "}"


@dataclass
class _Problem:
    path: str
    message: str


def refresh_request(change: ExportChange, mirror: Mirror) -> Request:
    """A query by ListID/TxnID re-reading the record a Mod will change."""
    et = entity(change.type)
    data: dict[str, Any] = {et.id_field: _qb_id(change, mirror)}
    if not et.is_list and et.lines:
        data["IncludeLineItems"] = True
    return Request(et.query_rq, data, request_id=request_id_for(REFRESH, change.id))


# -- responses ---------------------------------------------------------------------------------


@dataclass
class SentMessage:
    """A message out with QuickBooks, as kept in the session between two callbacks."""

    kind: str
    seq: int
    requests: dict[str, int]  # requestID -> change id
    types: dict[str, str]  # requestID -> entity type
    message_set_id: str | None = None
    label: str = ""  # what it holds, for the log: "48 CustomerAdd, 2 CustomerMod"
    step: str = "export"  # the session step whose response this is (engine.session.STEPS)
    locks: dict[str, int] = field(default_factory=dict)  # requestID -> lock answers in a row before

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "seq": self.seq, "requests": self.requests, "types": self.types,
               "message_set_id": self.message_set_id, "label": self.label, "step": self.step}
        if self.locks:
            out["locks"] = self.locks
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SentMessage:
        return cls(d["kind"], int(d["seq"]), {k: int(v) for k, v in d["requests"].items()}, dict(d["types"]),
                   d.get("message_set_id"), d.get("label", ""), d.get("step", "export"),
                   {k: int(v) for k, v in (d.get("locks") or {}).items()})

    @classmethod
    def from_plan(cls, plan: ExportPlan, seq: int, message_set_id: str | None,
                  types: Mapping[int, str]) -> SentMessage:
        kinds: dict[str, int] = {}
        for p in plan.requests:
            kinds[p.request.name] = kinds.get(p.request.name, 0) + 1
        if plan.old_message_set_id is not None:
            kinds[f"saved answers of {plan.old_message_set_id}"] = len(plan.recovered)
        label = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        requests = {**plan.recovered, **{p.request_id: p.change_id for p in plan.requests}}
        type_of = {p.change_id: p.type_name or types[p.change_id] for p in plan.requests}
        return cls(plan.kind, seq, requests, {rid: type_of.get(cid) or types[cid] for rid, cid in requests.items()},
                   message_set_id, label, locks={p.request_id: p.locks for p in plan.requests if p.locks})


@dataclass
class Interpretation:
    outcomes: list[Outcome]
    fatal: str | None = None  # the session cannot go on (shown by getLastError)
    summary: str = ""  # one line for the log


def lost(sent: SentMessage, reason: str) -> list[Outcome]:
    """The answer to `sent` will never come. Writes may have been applied: outcome unknown.
    Queries applied nothing: their changes simply stay queued."""
    if sent.kind == REFRESH:
        return [Requeued(cid, f"re-read not answered ({reason})") for cid in sent.requests.values()]
    return [Unknown(cid, reason) for cid in sent.requests.values()]


def interpret(sent: SentMessage, response: str | None, hresult: str | None, message: str | None) -> Interpretation:
    """What QuickBooks' answer (or its HRESULT) means for every change of `sent`."""
    hresult = (hresult or "").strip()
    message = (message or "").strip()
    if hresult:
        if hresult.lower() == PARSE_ERROR_HRESULT:
            return _unparsable(sent, message)
        reason = f"QuickBooks returned {hresult} ({message or 'no message'}) for the whole message"
        return Interpretation(lost(sent, reason), f"QuickBooks failed the request: {hresult} {message}".strip(),
                              f"message {sent.seq}: {hresult}")
    if not response or not response.strip():
        return Interpretation(lost(sent, "QuickBooks returned an empty response"), None,
                              f"message {sent.seq}: empty response")
    try:
        parsed = parse_response(response, validate=False, max_rets=1)  # one record per answer is all it needs
    except Exception as exc:  # a malformed response: we cannot tell what was applied
        return Interpretation(lost(sent, f"the response could not be read ({type(exc).__name__}: {exc})"), None,
                              f"message {sent.seq}: unreadable response")
    by_id = {r.request_id: r for r in parsed.responses if r.request_id is not None}
    outcomes = []
    for rid, cid in sent.requests.items():
        rs = by_id.get(rid)
        if rs is None:
            if sent.kind == REFRESH:
                outcomes.append(Requeued(cid, f"QuickBooks' response has no answer for request {rid}"))
            else:
                outcomes.append(Unknown(cid, f"QuickBooks' response has no answer for request {rid}"))
            continue
        outcomes.append(_one(sent, cid, sent.types.get(rid, ""), rs))
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[type(o).__name__.lower()] = counts.get(type(o).__name__.lower(), 0) + 1
    summary = f"message {sent.seq} ({sent.label}): " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return Interpretation(outcomes, None, summary)


def _unparsable(sent: SentMessage, message: str) -> Interpretation:
    """QuickBooks could not parse the message (0x80040400): nothing of it was applied. A message
    of several changes is sent again one change per message, to find the culprit; a change that
    fails alone goes to the Error Log with the HRESULT (never sent again in a loop)."""
    said = f"{PARSE_ERROR_HRESULT}: {message or 'no message'}"
    ids = list(sent.requests.values())
    if len(ids) == 1:
        outcomes: list[Outcome] = [Failed(ids[0], PARSE_ERROR_HRESULT,
                                          f"QuickBooks could not parse this change's request, sent alone ({said})")]
        return Interpretation(outcomes, None, f"message {sent.seq}: {PARSE_ERROR_HRESULT} for change {ids[0]} alone")
    reason = f"QuickBooks could not parse the message it was in ({said}); nothing was applied, it goes again alone"
    outcomes = [Requeued(cid, reason, PARSE_ERROR_HRESULT, alone=True) for cid in ids]
    return Interpretation(outcomes, None, f"message {sent.seq}: {PARSE_ERROR_HRESULT}, "
                                          f"its {len(ids)} changes go again one by one")


def usable_status(rs: Any) -> bool:
    """Whether an answer's statusCode is a number qbsync can act on: digits (with a sign), small
    enough to be a status code at all (QuickBooks' are 0-9999; anything past 32 bits is noise,
    and past 64 bits SQLite could not even store it)."""
    raw = str(rs.attrs.get("statusCode", "")).strip()
    return bool(_STATUS.fullmatch(raw)) and rs.status_code == int(raw) and abs(rs.status_code) < 2**31


_STATUS = re.compile(r"[+-]?\d{1,12}")


def _one(sent: SentMessage, cid: int, type_name: str, rs: Any) -> Outcome:
    code, msg = rs.status_code, rs.status_message or ""
    if not usable_status(rs):
        # No usable status: a write may or may not have been applied, so never call it failed.
        if sent.kind == REFRESH:
            return Requeued(cid, f"QuickBooks' answer to request {rs.request_id} has no usable status code")
        return Unknown(cid, f"QuickBooks' answer to request {rs.request_id} has no usable status code")
    if code == NOT_PROCESSED:
        return Requeued(cid, f"not processed by QuickBooks ({msg or 'an earlier request failed'})", code,
                        retry_now=True)
    if sent.kind == WRITE and lock_rules.is_lock(code):
        return _locked(cid, code, msg, sent.locks.get(rs.request_id, 0) + 1)
    if code >= 1000 or code < 0:
        return Failed(cid, code, msg or f"status {code}", rs.status_severity or "Error")
    ret = rs.rets[0][1] if rs.rets else None
    id_field = entity(type_name).id_field if type_name else "ListID"
    if sent.kind == REFRESH:
        if code in NOT_FOUND_CODES or ret is None or not ret.get("EditSequence"):
            return Failed(cid, code if code else 3120,
                          f"the record is no longer in QuickBooks (deleted or merged?): {msg}".rstrip(": "))
        return Refreshed(cid, str(ret["EditSequence"]), dict(ret))
    if rs.name in ("ListDel", "TxnDel"):  # no Ret: the id sent is the id deleted
        return Synced(cid, None, None, None, code, msg if code >= 500 else None)
    if ret is None or not ret.get(id_field):
        return Unknown(cid, f"QuickBooks answered {code} without returning the record")
    return Synced(cid, str(ret[id_field]), ret.get("EditSequence"), dict(ret), code, msg if code >= 500 else None)


def _locked(cid: int, code: int, msg: str, locks: int) -> Outcome:
    """The `locks`-th lock answer in a row: the change rests and goes again later (nothing was
    applied); the LOCK_LIMIT-th sends it to the Error Log."""
    said = f"{lock_rules.lock_words(code)}: {msg}" if msg else lock_rules.lock_words(code)
    if locks >= lock_rules.LOCK_LIMIT:
        return Failed(cid, code, f"{msg or 'the record is in use'} (QuickBooks answered with a lock {locks} times "
                                 f"in a row; once nobody holds the record in QuickBooks, `qbsync retry {cid}`)")
    rest = lock_rules.backoff(locks)
    return Requeued(cid, f"{said}; sent again in {lock_rules.duration(rest)} at the earliest (the first session "
                         f"after that), lock answer {locks} of {lock_rules.LOCK_LIMIT} before the Error Log",
                    code, retry_after=rest)
