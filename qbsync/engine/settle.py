"""The settle step: before anything new is sent, every outcome-unknown export (sent, no usable
answer) is settled against QuickBooks. Pure: plain data in, requests and outcomes out.

One message per lost message set (changes of the same ``message_id``, up to the batch size):

* **Error recovery first.** The message carries ``oldMessageSetID`` = the ``newMessageSetID``
  the changes went out with; QuickBooks answers with the responses it saved for that set
  (``messageSetStatusCode`` on ``QBXMLMsgsRs``; 600: nothing saved). A saved response is read
  exactly like the answer that never came (`exports.interpret`'s rules): applied (`Synced`),
  refused (`Failed`, Error Log with retry), or not processed (3231: `Requeued`, sent again in
  this session).
* **Then a lookup**, in the same message, used when recovery cannot tell (600, no saved
  response for the change, a change sent without a message-set id):

  - an Add of a list record: a query by name (``FullName``; a job or sub-item: ``NameFilter``
    on the name, inactive records included, then the parent compared). Not there → it was not
    applied: sent again. There with the fields that were sent → applied (the mirror and the
    feed get the record). When the Add carried an ``ExternalGUID`` and the Ret has one, they
    decide: equal is ours, different is someone else's (ours was then not applied: a name is
    unique). ExternalGUID itself cannot be queried (protocol notes §7.7).
  - an Add of a transaction: a query by ``RefNumber``, kept to the ones of the same
    customer/vendor and ``TxnDate`` as sent; none → sent again; one with the fields sent →
    applied. Without a RefNumber it cannot be looked up.
  - a Mod: a query by ListID/TxnID. The EditSequence that was sent still current → not
    applied: sent again; moved and every field as sent → applied; else undecidable.
  - a Delete: a query by ListID/TxnID, and the deleted-records query (``ListDeletedQuery`` /
    ``TxnDeletedQuery``, from the day before it was sent). Not found (1, 500, 3120) → applied;
    still there → not applied: sent again; the lookup failing, the deleted-records query
    listing its ListID/TxnID → applied.

* Anything else is **undecidable** (`Undecided`): the change stays in the Error Log, marked
  checked, with the evidence (what QuickBooks holds against what was sent) and what is safe to
  do. Nothing is re-sent blindly.

A settle message carries no ``newMessageSetID`` (it writes nothing). A lost settle message
applied nothing: its changes stay outcome unknown for the next session.

Assumed, not verified against a live QuickBooks (protocol notes §7.8 summarise the flow): the
requests of a message that carries ``oldMessageSetID`` are answered after the saved responses
(as FakeQuickBooks does), and QuickBooks may keep only the latest message set (the others get
600, and the lookups decide).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from qbsync.engine.exports import (
    NOT_FOUND_CODES,
    WRITE,
    ExportPlan,
    Interpretation,
    PlannedRequest,
    SentMessage,
    UnresolvedReference,
    _one,
    change_request,
    request_id_for,
)
from qbsync.engine.model import ExportChange, Failed, Mirror, Outcome, Requeued, Synced, Undecided
from qbsync.qbxml import QbxmlValidationError, Request, build_request, load_schema, parse_response
from qbsync.qbxml.entities import EntityType, entity

SETTLE_KIND = "settle"  # the kind of a settle message (no writes, no newMessageSetID)
NO_SAVED_STATE = 600  # messageSetStatusCode: QuickBooks saved nothing under that message-set id
UNDECIDED = "checked QuickBooks, still undecided"  # how an undecided change's message starts
SAFE_ACTIONS = ("Check the record in QuickBooks: if the change is not there, `qbsync retry --force {id}` sends it "
                "again; if it is, nothing needs doing (stage the record again to bring the app's values back)")
_IDS = ("ListID", "TxnID", "EditSequence", "ExternalGUID")


def lookup_request_id(change_id: int) -> str:
    return f"s{change_id}"


def deleted_request_id(change_id: int) -> str:
    return f"d{change_id}"


def deleted_request(change: ExportChange) -> Request:
    """The deleted-records query that lists the record a delete removed (from the day before
    the delete was sent, when qbsync knows that day)."""
    et = entity(change.type)
    data: dict[str, Any] = {et.del_type_field: [et.list_deleted_type]}
    since = _day_before(change.last_tried)
    if since:
        data["DeletedDateRangeFilter"] = {"FromDeletedDate": since}
    return Request(et.deleted_query_rq, data, request_id=deleted_request_id(change.id))


def _day_before(utc_text: str | None) -> str | None:
    if not utc_text:
        return None
    try:
        moment = datetime.fromisoformat(utc_text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment.date() - timedelta(days=1)).isoformat()


# -- planning ----------------------------------------------------------------------------------


def lookup_request(change: ExportChange, mirror: Mirror) -> Request | str:
    """The query that tells whether `change` reached QuickBooks, or why there is none."""
    et = entity(change.type)
    rid = lookup_request_id(change.id)
    lines = {"IncludeLineItems": True} if not et.is_list and et.lines else {}
    if change.action in ("mod", "delete"):
        rec = mirror.get(change.type, change.local_id)
        qb_id = (rec.qb_id if rec else None) or change.qb_id
        if not qb_id:
            return f"qbsync has no {et.id_field} for {change.type} {change.local_id} to look it up by"
        return Request(et.query_rq, {et.id_field: qb_id, **lines}, request_id=rid)
    try:
        sent = change_request(change, mirror).data
    except (UnresolvedReference, QbxmlValidationError) as exc:
        return f"the request that was sent cannot be rebuilt ({exc})"
    if et.is_list:
        name = sent.get("Name")
        if not name:
            return f"the {change.type} was sent without a Name to look it up by"
        if sent.get("ParentRef"):
            return Request(et.query_rq, {"ActiveStatus": "All",
                                         "NameFilter": {"MatchCriterion": "EndsWith", "Name": str(name)}},
                           request_id=rid)
        return Request(et.query_rq, {"FullName": str(name)}, request_id=rid)
    ref = sent.get("RefNumber")
    if not ref:
        return f"the {change.type} was sent without a RefNumber to look it up by"
    return Request(et.query_rq, {"RefNumber": str(ref), **lines}, request_id=rid)


def plan_settle(unknown: Iterable[ExportChange], mirror: Mirror, *, skip: Container[int] = (),
                batch_size: int = 50, version: str = "13.0") -> ExportPlan:
    """The next settle message: the outcome-unknown changes of one lost message set (oldest
    first), error recovery for the set and a lookup for each change that has one (each lookup
    validated alone). A change with neither (no message-set id, nothing to look it up by) is
    undecidable at once (`settled`)."""
    pending = sorted((c for c in unknown if c.id not in skip), key=lambda c: c.id)
    plan = ExportPlan(SETTLE_KIND)
    schema = load_schema(version)

    def lookup(c: ExportChange) -> Request | str:
        found = lookup_request(c, mirror)
        if isinstance(found, Request):
            try:
                build_request([found], version=version, schema=schema)
            except QbxmlValidationError as exc:
                return f"its lookup breaks the qbXML schema ({exc})"
        return found

    lookups: dict[int, Request | str] = {c.id: lookup(c) for c in pending if not c.message_id}
    for c in pending:
        if c.id in lookups and not isinstance(lookups[c.id], Request):
            plan.settled.append(Undecided(c.id, undecided_text(
                c, f"it was sent without a message-set id for error recovery, and {lookups[c.id]}")))
    pending = [c for c in pending if c.message_id or isinstance(lookups.get(c.id), Request)]
    if not pending:
        return plan
    message_set_id = pending[0].message_id
    plan.old_message_set_id = message_set_id or None
    for c in [c for c in pending if c.message_id == message_set_id][:batch_size]:  # only this message's cost
        if message_set_id:
            plan.recovered[request_id_for(WRITE, c.id)] = c.id
        found = lookups[c.id] if c.id in lookups else lookup(c)
        if isinstance(found, Request):
            plan.requests.append(PlannedRequest(lookup_request_id(c.id), c.id, found,
                                                note=None, type_name=c.type))
        if c.action == "delete":
            plan.requests.append(PlannedRequest(deleted_request_id(c.id), c.id, deleted_request(c), type_name=c.type))
    return plan


# -- what the answers mean ---------------------------------------------------------------------


def interpret(sent: SentMessage, response: str, hresult: str, message: str,
              unknown: Iterable[ExportChange], mirror: Mirror) -> Interpretation:
    """Settle each change of `sent` from QuickBooks' answer: the saved response first, then the
    lookup. A change that can be told neither way is `Undecided`; a whole-message failure (an
    HRESULT) ends the session and leaves every change outcome unknown for the next one."""
    hresult, message = (hresult or "").strip(), (message or "").strip()
    if hresult:
        return Interpretation([], f"QuickBooks failed the request: {hresult} {message}".strip(),
                              f"message {sent.seq}: {hresult} while settling unknown outcomes")
    try:
        parsed = parse_response(response or "", validate=False)
    except Exception as exc:  # noqa: BLE001 - unreadable: nothing decided, the next session asks again
        return Interpretation([], None, f"message {sent.seq}: unreadable response while settling "
                                        f"({type(exc).__name__}); the outcomes stay unknown")
    by_id = {c.id: c for c in unknown}
    by_rid = {r.request_id: r for r in parsed.responses if r.request_id is not None}
    set_status = parsed.message_set_status_code
    outcomes: list[Outcome] = []
    for cid in dict.fromkeys(sent.requests.values()):
        change = by_id.get(cid)
        if change is None:  # settled some other way meanwhile (e.g. `retry --force`)
            continue
        saved = by_rid.get(request_id_for(WRITE, cid)) if set_status != NO_SAVED_STATE else None
        lookup = by_rid.get(lookup_request_id(cid))
        outcomes.append(settle_one(change, mirror, saved, lookup, set_status, by_rid.get(deleted_request_id(cid))))
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[type(o).__name__.lower()] = counts.get(type(o).__name__.lower(), 0) + 1
    return Interpretation(outcomes, None, f"message {sent.seq} (settling {sent.label}): "
                          + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing to settle"))


def settle_one(change: ExportChange, mirror: Mirror, saved: Any, lookup: Any, set_status: int | None,
               deleted: Any = None) -> Outcome:
    """One change from its saved response (error recovery) and its lookup's response (for a
    delete also the deleted-records query's, `deleted`)."""
    if saved is not None:
        write = SentMessage(WRITE, 0, {saved.request_id: change.id}, {saved.request_id: change.type})
        o = _one(write, change.id, change.type, saved)
        if isinstance(o, Requeued):
            return Requeued(change.id, "error recovery: QuickBooks did not process it "
                                       f"({o.status_code}); sent again", o.status_code, retry_now=True)
        if isinstance(o, Failed):
            return Failed(change.id, o.status_code, o.message, o.severity)
        if isinstance(o, Synced):
            return _with_current_record(o, change, lookup)
    why_recovery = ("QuickBooks kept no answer for its message set (600)" if set_status == NO_SAVED_STATE
                    else "error recovery gave no usable answer for it" if change.message_id
                    else "it was sent without a message-set id")
    if change.action == "delete" and not _usable(lookup):
        listed = _deleted_listing(change, mirror, deleted)
        if listed is not None:
            return Synced(change.id, None, None, None)  # QuickBooks lists it as deleted
    if lookup is None:
        return Undecided(change.id, undecided_text(change, f"{why_recovery}, and it could not be looked up"))
    if not str(lookup.attrs.get("statusCode", "")).lstrip("-").isdigit():
        return Undecided(change.id, undecided_text(change, f"{why_recovery}, and the lookup has no status code"))
    code = lookup.status_code
    if code >= 1000 and code not in NOT_FOUND_CODES:
        return Undecided(change.id, undecided_text(
            change, f"{why_recovery}, and the lookup failed ({code}: {lookup.status_message or 'no message'})"))
    rets = [data for _, data in lookup.rets] if code < 1000 else []
    if change.action == "delete":
        return _settle_delete(change, rets)
    if change.action == "mod":
        return _settle_mod(change, mirror, rets, why_recovery)
    return _settle_add(change, mirror, rets, why_recovery)


def _usable(rs: Any) -> bool:
    """A lookup that answered: found, or certainly not found."""
    if rs is None or not str(rs.attrs.get("statusCode", "")).lstrip("-").isdigit():
        return False
    return rs.status_code < 1000 or rs.status_code in NOT_FOUND_CODES


def _deleted_listing(change: ExportChange, mirror: Mirror, deleted: Any) -> dict | None:
    """The deleted-records query's row for the record `change` deleted, if it lists it."""
    if deleted is None or not _usable(deleted):
        return None
    et = entity(change.type)
    rec = mirror.get(change.type, change.local_id)
    qb_id = (rec.qb_id if rec else None) or change.qb_id
    for _, row in deleted.rets or ():
        if qb_id and str(row.get(et.id_field)) == qb_id:
            return dict(row)
    return None


def _with_current_record(o: Synced, change: ExportChange, lookup: Any) -> Synced:
    """A saved response may hold only the ErrorRecovery ids: the lookup's Ret of the same record
    (QuickBooks' record as it is now) is the better snapshot."""
    if lookup is not None and change.action != "delete" and o.qb_id:
        id_field = entity(change.type).id_field
        for _, data in lookup.rets or ():
            if str(data.get(id_field)) == o.qb_id and data.get("EditSequence"):
                return Synced(o.change_id, o.qb_id, str(data["EditSequence"]), dict(data), o.status_code,
                              o.status_message)
    return o


def _settle_delete(change: ExportChange, rets: list[dict]) -> Outcome:
    if not rets:
        return Synced(change.id, None, None, None)  # gone from QuickBooks: the delete was applied
    return Requeued(change.id, "settled: QuickBooks still has the record, so the delete was not applied; "
                               "sent again", retry_now=True)


def _settle_mod(change: ExportChange, mirror: Mirror, rets: list[dict], why: str) -> Outcome:
    et = entity(change.type)
    if not rets:
        return Undecided(change.id, undecided_text(
            change, f"{why}, and the {change.type} is no longer in QuickBooks (deleted or merged?)"))
    ret = rets[0]
    rec = mirror.get(change.type, change.local_id)
    sent_es = rec.edit_sequence if rec else None
    now_es = ret.get("EditSequence")
    if sent_es and now_es is not None and str(now_es) == str(sent_es):
        return Requeued(change.id, f"settled: the {change.type}'s EditSequence is still the one sent ({sent_es}), "
                                   "so the change was not applied; sent again", retry_now=True)
    try:
        sent = change_request(change, mirror).data
    except (UnresolvedReference, QbxmlValidationError) as exc:
        return Undecided(change.id, undecided_text(change, f"{why}; the request sent cannot be rebuilt ({exc})"))
    diffs, compared = differences(sent, ret, et)
    if not diffs and compared:
        return Synced(change.id, str(ret.get(et.id_field) or ""), _text(now_es), dict(ret))
    moved = f"its EditSequence moved from {sent_es} to {now_es}" if sent_es else f"its EditSequence is {now_es}"
    return Undecided(change.id, undecided_text(
        change, f"{why}; the {change.type} in QuickBooks ({et.id_field} {ret.get(et.id_field)}) was changed "
                f"({moved}) but {_evidence(diffs) if diffs else 'none of the fields sent can be compared'}"))


def _settle_add(change: ExportChange, mirror: Mirror, rets: list[dict], why: str) -> Outcome:
    et = entity(change.type)
    try:
        sent = change_request(change, mirror).data
    except (UnresolvedReference, QbxmlValidationError) as exc:
        return Undecided(change.id, undecided_text(change, f"{why}; the request sent cannot be rebuilt ({exc})"))
    candidates = [r for r in rets if _same_key(et, sent, r)]
    guid = sent.get("ExternalGUID")
    if guid:
        ours = [r for r in candidates if _text(r.get("ExternalGUID")).lower() == str(guid).lower()]
        if ours:
            return _found(change, et, ours[0])
        candidates = [r for r in candidates if not r.get("ExternalGUID")]
    key = _key_label(et, sent)
    if not candidates:
        return Requeued(change.id, f"settled: QuickBooks has no {key}, so the add was not applied; sent again",
                        retry_now=True)
    if len(candidates) > 1:
        ids = ", ".join(str(r.get(et.id_field)) for r in candidates)
        return Undecided(change.id, undecided_text(change, f"{why}; QuickBooks has {len(candidates)} records that "
                                                           f"match ({key}: {et.id_field} {ids})"))
    ret = candidates[0]
    diffs, compared = differences(sent, ret, et)
    if not diffs and compared:
        return _found(change, et, ret)
    return Undecided(change.id, undecided_text(
        change, f"{why}; QuickBooks has {_a(key)} ({et.id_field} {ret.get(et.id_field)}) but "
                f"{_evidence(diffs) if diffs else 'none of the fields sent can be compared'}"))


def _found(change: ExportChange, et: EntityType, ret: Mapping[str, Any]) -> Synced:
    return Synced(change.id, str(ret.get(et.id_field) or ""), _text(ret.get("EditSequence")) or None, dict(ret))


def _same_key(et: EntityType, sent: Mapping[str, Any], ret: Mapping[str, Any]) -> bool:
    """Whether `ret` is a record the Add could have made: same name and parent (lists); same
    RefNumber, customer/vendor and date, where the Add set them (transactions)."""
    if et.is_list:
        if _text(ret.get("Name")).casefold() != _text(sent.get("Name")).casefold():
            return False
        return _ref_id(sent.get("ParentRef")) == _ref_id(ret.get("ParentRef"))
    if _text(ret.get("RefNumber")) != _text(sent.get("RefNumber")):
        return False
    for ref in ("CustomerRef", "VendorRef", "EntityRef"):
        if ref in sent and not _same_ref(sent[ref], ret.get(ref)):
            return False
    return "TxnDate" not in sent or _text(ret.get("TxnDate")) == _text(sent["TxnDate"])


def _a(text: str) -> str:
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text


def _key_label(et: EntityType, sent: Mapping[str, Any]) -> str:
    if et.is_list:
        return f"{et.name} named {_text(sent.get('Name'))!r}"
    parts = [f"RefNumber {_text(sent.get('RefNumber'))!r}"]
    for ref in ("CustomerRef", "VendorRef", "EntityRef"):
        if isinstance(sent.get(ref), Mapping):
            parts.append(f"{ref[:-3].lower()} {_ref_label(sent[ref])}")
    if sent.get("TxnDate"):
        parts.append(f"dated {sent['TxnDate']}")
    return f"{et.name} with " + ", ".join(parts)


# -- comparing what was sent with what QuickBooks holds -----------------------------------------


def differences(sent: Mapping[str, Any], ret: Mapping[str, Any], et: EntityType) -> tuple[list[str], int]:
    """The fields of the request `sent` (Add or Mod form) whose value QuickBooks' `ret` does not
    hold ("Phone: sent '555-2', QuickBooks has '555-1'"), and how many fields were compared. A
    field the Ret does not carry counts as a difference (a record with the same name but without
    the fields sent is not taken for ours; at worst the change stays undecided)."""
    lines = {}
    for agg in et.lines:
        lines[agg.add] = agg.ret
        if agg.mod:
            lines[agg.mod] = agg.ret
    out: list[str] = []
    counter = [0]
    _compare(sent, ret, "", out, counter, lines)
    return out, counter[0]


def _compare(sent: Mapping[str, Any], ret: Mapping[str, Any], path: str, out: list[str], counter: list[int],
             lines: Mapping[str, str]) -> None:
    for key, value in sent.items():
        if key in _IDS and not path:
            continue
        if key == "TxnLineID" and str(value) == "-1":
            continue  # a line added by the Mod: QuickBooks gave it an id of its own
        target = lines.get(key) if not path else None
        if target is None:
            target = key if key in ret or not key.endswith("Mod") else key[:-3]
        where = f"{path}{key}"
        if target not in ret:  # QuickBooks returns what a record has: sent but not there is a difference
            counter[0] += 1
            out.append(f"{where}: sent {_ref_label(value) if isinstance(value, Mapping) else repr(_text(value))}, "
                       "QuickBooks has none")
            continue
        have = ret[target]
        if isinstance(value, Mapping) and key.endswith("Ref"):
            counter[0] += 1
            if not _same_ref(value, have):
                out.append(f"{where}: sent {_ref_label(value)}, QuickBooks has {_ref_label(have)}")
        elif isinstance(value, Mapping):
            if isinstance(have, Mapping):
                _compare(value, have, where + "/", out, counter, lines)
            else:
                out.append(f"{where}: sent a {key}, QuickBooks has {have!r}")
        elif isinstance(value, list) or key in lines:
            sent_items = value if isinstance(value, list) else [value]
            have_items = have if isinstance(have, list) else [have]
            counter[0] += 1
            if len(sent_items) != len(have_items):
                out.append(f"{where}: sent {len(sent_items)}, QuickBooks has {len(have_items)}")
                continue
            for i, (a, b) in enumerate(zip(sent_items, have_items)):
                if isinstance(a, Mapping) and isinstance(b, Mapping):
                    _compare(a, b, f"{where}[{i}]/", out, counter, lines)
                elif _norm(a) != _norm(b):
                    out.append(f"{where}[{i}]: sent {_text(a)!r}, QuickBooks has {_text(b)!r}")
        else:
            counter[0] += 1
            if _norm(value) != _norm(have):
                out.append(f"{where}: sent {_text(value)!r}, QuickBooks has {_text(have)!r}")


def _norm(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = _text(value).strip()
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        return Decimal(text) if text and (text[0].isdigit() or text[0] in "-+.") else text
    except InvalidOperation:
        return text


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _ref_id(ref: Any) -> str | None:
    if not isinstance(ref, Mapping):
        return None
    return _text(ref.get("ListID") or ref.get("TxnID")) or _text(ref.get("FullName")).casefold() or None


def _same_ref(sent: Any, have: Any) -> bool:
    if not isinstance(sent, Mapping) or not isinstance(have, Mapping):
        return _norm(sent) == _norm(have)
    if sent.get("ListID"):
        return _text(have.get("ListID")) == _text(sent["ListID"])
    if sent.get("FullName"):
        return _text(have.get("FullName")).casefold() == _text(sent["FullName"]).casefold()
    return True


def _ref_label(ref: Any) -> str:
    if not isinstance(ref, Mapping):
        return repr(_text(ref))
    return " ".join(f"{k} {v!r}" for k, v in ref.items() if k in ("ListID", "FullName")) or "nothing"


def _evidence(diffs: Sequence[str], limit: int = 3) -> str:
    more = f" (and {len(diffs) - limit} more)" if len(diffs) > limit else ""
    return "its fields differ from what was sent: " + "; ".join(diffs[:limit]) + more


def undecided_text(change: ExportChange | int, evidence: str) -> str:
    """The Error Log's message for a change settling could not decide: the evidence, then what
    is safe to do."""
    change_id = change if isinstance(change, int) else change.id
    return f"{UNDECIDED}: {evidence}. {SAFE_ACTIONS.format(id=change_id)}"


def lost(sent: SentMessage) -> list[int]:
    """The changes of a settle message whose answer never came: nothing was applied by it, they
    stay outcome unknown (asked again in the next session)."""
    return list(dict.fromkeys(sent.requests.values()))

