"""The import steps of a session. Pure: plain data in, requests and outcomes out.

``apply`` (before the exports): every approved import is re-read from QuickBooks by its
ListID/TxnID, and that current version is what the app gets (`Applied`); a record that vanished
meanwhile fails ("QB → app"). An approved deletion needs no query.

``detect`` (after the exports, so qbsync's own saves are already in the mirror and come back
only as echoes): for each import type, what QuickBooks changed since the type's watermark, then
the deleted-records queries. The watermark is QuickBooks' own newest ``TimeModified`` (or
``TimeDeleted``) read so far, never the server's clock; each query starts `OVERLAP` earlier, for
clock skew and records saved in the same second, and the store drops what it has seen already.
Types whose query takes an iterator are read in pages of `Detection.page_size` (``MaxReturned``;
``iterator="Start"`` then ``"Continue"`` until ``iteratorRemainingCount`` is 0); the others
(Employee, Class, StandardTerms, Account, SalesTaxCode and the deleted-records queries take no
iterator in qbXML) in one response. Inactive list records are included (``ActiveStatus`` All),
transactions come with their lines. A type's watermark moves only when its last page was read.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from qbsync.engine.exports import NOT_FOUND_CODES, ExportPlan, Interpretation, PlannedRequest, SentMessage
from qbsync.engine.model import Applied, Detected, Failed, ImportChange, Outcome, Requeued, Watermark
from qbsync.qbxml import Request, parse_response
from qbsync.qbxml.entities import dependency_order, entity

READ, DETECT_KIND = "read", "detect"  # message kinds: re-reads of approved imports, detection queries
DELETED_LISTS, DELETED_TXNS = "ListDeleted", "TxnDeleted"
OVERLAP = timedelta(minutes=5)
DEFAULT_PAGE_SIZE = 500
INVALID_ITERATOR = 3391  # the iterator is unknown or finished: the pass starts over
MAX_RESTARTS = 2  # a type whose pass broke off this often is left for the next session


# -- apply: approved imports re-read by id ------------------------------------------------------


def read_request_id(change_id: int) -> str:
    return f"a{change_id}"


def plan_apply(imports: Sequence[ImportChange], *, skip: Container[int], batch_size: int) -> ExportPlan:
    """The next message re-reading approved imports (one query by id each). Deletions are
    applied at once: QuickBooks has nothing left to read."""
    plan = ExportPlan(READ)
    for change in imports:
        if change.id in skip:
            continue
        if change.action == "delete":
            plan.settled.append(Applied(change.id, None))
            continue
        if len(plan.requests) >= batch_size:
            continue
        et = entity(change.type)
        if not change.qb_id:
            plan.invalid.append(Failed(change.id, None, f"this import has no {et.id_field}; it cannot be re-read"))
            continue
        data: dict[str, Any] = {et.id_field: change.qb_id}
        if not et.is_list and et.lines:
            data["IncludeLineItems"] = True
        plan.requests.append(PlannedRequest(read_request_id(change.id), change.id,
                                            Request(et.query_rq, data, request_id=read_request_id(change.id)),
                                            type_name=change.type))
    return plan


def interpret_apply(sent: SentMessage, response: str, hresult: str, message: str) -> Interpretation:
    """What the re-reads found: the record now (applied), gone (fails "QB → app"), or nothing
    usable (the import stays approved for the next session)."""
    if hresult.strip():
        reason = f"QuickBooks returned {hresult.strip()} ({message.strip() or 'no message'}) for the whole message"
        return Interpretation(lost(sent, reason), f"QuickBooks failed the request: {hresult} {message}".strip(),
                              f"message {sent.seq}: {hresult}")
    try:
        parsed = parse_response(response, validate=False)
    except Exception as exc:  # noqa: BLE001 - unreadable: nothing was applied, read again next time
        return Interpretation(lost(sent, f"the response could not be read ({type(exc).__name__})"), None,
                              f"message {sent.seq}: unreadable response")
    by_id = {r.request_id: r for r in parsed.responses if r.request_id is not None}
    outcomes: list[Outcome] = []
    for rid, cid in sent.requests.items():
        rs = by_id.get(rid)
        if rs is None or not str(rs.attrs.get("statusCode", "")).lstrip("-").isdigit():
            outcomes.append(Requeued(cid, f"QuickBooks' response has no usable answer for request {rid}"))
            continue
        code, msg = rs.status_code, rs.status_message or ""
        ret = rs.rets[0][1] if rs.rets else None
        id_field = entity(sent.types[rid]).id_field
        if code in NOT_FOUND_CODES or (code < 1000 and (ret is None or not ret.get(id_field))):
            outcomes.append(Failed(cid, code or 500, "the record is no longer in QuickBooks (deleted or merged since "
                                                     f"the import was detected); nothing was applied: {msg}".rstrip(": ")))
        elif code >= 1000 or code < 0:
            outcomes.append(Failed(cid, code, msg or f"status {code}", rs.status_severity or "Error"))
        else:
            outcomes.append(Applied(cid, dict(ret)))  # type: ignore[arg-type]
    applied = sum(isinstance(o, Applied) for o in outcomes)
    return Interpretation(outcomes, None, f"message {sent.seq} ({sent.label}): {applied} re-read, "
                                          f"{len(outcomes) - applied} not")


def lost(sent: SentMessage, reason: str) -> list[Outcome]:
    """A re-read whose answer never came applied nothing: the imports stay approved."""
    if sent.kind != READ:
        return []
    return [Requeued(cid, f"re-read not answered ({reason})") for cid in sent.requests.values()]


# -- detect: what changed in QuickBooks ---------------------------------------------------------


@dataclass
class Detection:
    """Where detection stands in a session (kept in the session's state). `tasks`: the import
    types in dependency order, then the deleted-records queries; `since`: the watermark of each
    (None: never read, or read from `first_since`)."""

    tasks: list[str]
    since: dict[str, str | None]
    page_size: int = DEFAULT_PAGE_SIZE
    at: int = 0  # the task being read
    iterator_id: str | None = None  # the pass's iterator (None: the next query starts one)
    page: int = 0  # pages read in the current pass
    newest: str | None = None  # the newest QuickBooks time read in the current pass
    restarts: int = 0  # how often the current pass broke off and started over
    read: int = 0  # records read in this session
    remaining: int = 0  # records the iterator still holds
    problems: list[str] = field(default_factory=list)  # tasks given up in this session, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Detection:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def start(cls, types: Iterable[str], since: Mapping[str, str | None], *, first_since: str | None,
              page_size: int = DEFAULT_PAGE_SIZE) -> Detection:
        """Detection of `types` from their watermarks (`first_since`, in qbXML's date-time form,
        for a type never read; None: everything)."""
        order = {name: i for i, name in enumerate(dependency_order())}
        wanted = sorted({entity(t).name for t in types}, key=lambda t: order.get(t, len(order)))
        tasks = list(wanted)
        if any(entity(t).is_list for t in wanted):
            tasks.append(DELETED_LISTS)
        if any(not entity(t).is_list for t in wanted):
            tasks.append(DELETED_TXNS)
        return cls(tasks, {t: since.get(t) or first_since for t in tasks}, max(1, int(page_size)))

    @property
    def done(self) -> bool:
        return self.at >= len(self.tasks)

    @property
    def task(self) -> str:
        return self.tasks[self.at]

    def deleted_types(self, kind: str) -> list[str]:
        lists = kind == DELETED_LISTS
        return [entity(t).del_type for t in self.tasks
                if t not in (DELETED_LISTS, DELETED_TXNS) and entity(t).is_list == lists]

    def next_task(self) -> None:
        self.at += 1
        self.iterator_id, self.page, self.newest, self.restarts, self.remaining = None, 0, None, 0, 0

    def restart(self, why: str) -> str:
        """The current pass broke off (a lost page, a dead iterator): read the type again from
        its watermark (what was read already is dropped as seen), or give up for this session."""
        self.restarts += 1
        task = self.task
        if self.restarts > MAX_RESTARTS:
            self.problems.append(f"{task}: {why}")
            self.next_task()
            return f"detection of {task} given up for this session ({why}); the next session reads it again"
        self.iterator_id, self.page, self.remaining = None, 0, 0
        return f"detection of {task} starts over ({why})"


def _since_value(since: str | None) -> str | None:
    """The query's From date: the watermark minus the overlap, in QuickBooks' own offset."""
    if not since:
        return None
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        return since
    return (moment - OVERLAP).isoformat(timespec="seconds")


def detect_request(det: Detection) -> Request:
    """The next query of detection."""
    task, rid = det.task, f"d{det.at}"
    since = _since_value(det.since.get(task))
    if task in (DELETED_LISTS, DELETED_TXNS):
        key = "ListDelType" if task == DELETED_LISTS else "TxnDelType"
        data: dict[str, Any] = {key: det.deleted_types(task)}
        if since:
            data["DeletedDateRangeFilter"] = {"FromDeletedDate": since}
        return Request("ListDeletedQuery" if task == DELETED_LISTS else "TxnDeletedQuery", data, request_id=rid)
    et = entity(task)
    data = {}
    if et.is_list:
        data["ActiveStatus"] = "All"
        if since:
            data["FromModifiedDate"] = since
    elif since:
        data["ModifiedDateRangeFilter"] = {"FromModifiedDate": since}
    attrs: dict[str, str] = {}
    if et.iterator:
        data["MaxReturned"] = det.page_size
        attrs = {"iterator": "Continue", "iteratorID": det.iterator_id} if det.iterator_id else {"iterator": "Start"}
    if not et.is_list and et.lines:
        data["IncludeLineItems"] = True
    return Request(et.query_rq, data, request_id=rid, attrs=attrs)


def plan_detect(det: Detection | None) -> ExportPlan:
    plan = ExportPlan(DETECT_KIND)
    if det is not None and not det.done:
        req = detect_request(det)
        plan.requests.append(PlannedRequest(str(req.request_id), 0, req, type_name=det.task))
    return plan


def _newest(times: Iterable[Any]) -> str | None:
    """The latest of QuickBooks times (texts with their offset; None and unreadable ones
    ignored). Each is parsed once: a page holds hundreds."""
    best: tuple[datetime, str] | None = None
    for text in times:
        if not text:
            continue
        try:
            moment = datetime.fromisoformat(str(text))
        except (TypeError, ValueError):
            continue
        if best is None or moment > best[0]:
            best = (moment, str(text))
    return best[1] if best else None


@dataclass
class DetectResult:
    found: list[Any]  # Detected / Watermark
    notes: list[str]
    fatal: str | None = None


def interpret_detect(det: Detection, sent: SentMessage, response: str, hresult: str, message: str) -> DetectResult:
    """Read one detection response into `det` (which moves on) and what it found."""
    task = det.task
    if hresult.strip():
        return DetectResult([], [], f"QuickBooks failed the request: {hresult.strip()} {message.strip()}".strip())
    try:
        parsed = parse_response(response, validate=False)
        rs = next(r for r in parsed.responses if r.request_id == f"d{det.at}")
    except Exception as exc:  # noqa: BLE001 - unreadable or missing: read the type again
        return DetectResult([], [det.restart(f"the response could not be read ({type(exc).__name__})")])
    code = rs.status_code
    if code == INVALID_ITERATOR:
        return DetectResult([], [det.restart(f"QuickBooks no longer knows the iterator: {rs.status_message}")])
    if code >= 1000 or code < 0 or not str(rs.attrs.get("statusCode", "")).lstrip("-").isdigit():
        det.problems.append(f"{task}: QuickBooks answered {code} {rs.status_message or ''}".rstrip())
        det.next_task()
        return DetectResult([], [f"detection of {task} failed: {code} {rs.status_message or ''}; "
                                 "the next session reads it again"])
    deleted = task in (DELETED_LISTS, DELETED_TXNS)
    found: list[Any] = []
    stamp = "TimeDeleted" if deleted else "TimeModified"
    for _, ret in rs.rets:
        if deleted:
            type_name = str(ret.get("ListDelType") or ret.get("TxnDelType") or "")
            found.append(Detected(type_name, ret, deleted=True))
        else:
            found.append(Detected(task, ret))
    det.newest = _newest([det.newest, *(ret.get(stamp) for _, ret in rs.rets)])
    det.read += len(rs.rets)
    det.page += 1
    remaining = rs.attrs.get("iteratorRemainingCount")
    det.remaining = int(remaining) if str(remaining or "").isdigit() else 0
    page = f"page {det.page}, " if entity_iterates(task) else ""
    notes = [f"import {task}: {page}{len(rs.rets)} record(s) read"
             + (f", {det.remaining} to come" if det.remaining else "")]
    if det.remaining > 0 and rs.attrs.get("iteratorID"):
        det.iterator_id = str(rs.attrs["iteratorID"])
    else:
        newest = _newest([det.since.get(task), det.newest])
        if newest and newest != det.since.get(task):
            found.append(Watermark(task, newest))
            det.since[task] = newest
        det.next_task()
    return DetectResult(found, notes)


def entity_iterates(task: str) -> bool:
    return task not in (DELETED_LISTS, DELETED_TXNS) and entity(task).iterator


def qbxml_time(utc_text: str | None) -> str | None:
    """A time qbsync stores (``2026-01-31`` or ``2026-01-31T08:00:00Z``, UTC) as a qbXML
    date-time with its offset (``2026-01-31T00:00:00+00:00``)."""
    if not utc_text:
        return None
    moment = datetime.fromisoformat(utc_text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat(timespec="seconds")
