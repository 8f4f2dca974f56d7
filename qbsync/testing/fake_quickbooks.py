"""FakeQuickBooks: a QuickBooks Desktop company that answers qbXML request messages the way
QuickBooks does, for tests (yours and ours) and for ``qbsync simulate``.

    from qbsync.testing import FakeQuickBooks

    fq = FakeQuickBooks()                       # in memory; path="company.db" to keep it
    reply = fq.process(request_xml)             # what QBXMLRP2's ProcessRequest returns
    reply.xml, reply.hresult, reply.message     # response text | "" or "0x80040400" | text

What it does, as QuickBooks does:

* Every message is validated against the qbXML schema of the version in its
  ``<?qbxml version?>`` instruction (which may not exceed ``qbxml_version``). A message that is
  not well-formed, breaks the schema or has no (or too high a) version is not processed at
  all: ``hresult="0x80040400"``, QuickBooks' parse-error message, ``xml=None``.
* Add / Mod / Query / Del for Customer (jobs through ParentRef), Vendor, Employee, ItemService,
  ItemNonInventory, ItemInventory, ItemOtherCharge, Class, StandardTerms, Account,
  SalesTaxCode, Invoice, Estimate, SalesReceipt, CreditMemo, Bill and ReceivePayment, plus
  ItemQuery, ListDeletedQuery, TxnDeletedQuery, HostQuery, CompanyQuery and PreferencesQuery.
  Other valid requests get status 1030 (not supported by this implementation).
* One ``…Rs`` per request, in order, requestID echoed; ``stopOnError`` (and
  ``rollbackOnError``, whose QuickBooks behaviour is unverified) answers the requests after
  the first error with 3231; ``continueOnError`` runs them all.
* Error recovery: a message with ``newMessageSetID`` has its response saved in the company;
  a later message with ``oldMessageSetID`` gets the saved responses (with their
  ``ErrorRecovery`` IDs) first and ``messageSetStatusCode`` on ``QBXMLMsgsRs`` (0 when every
  saved request succeeded, else the first failing code; 600 when nothing is saved under that
  ID), then the answers to its own requests.

Fault injection (each for tests of your error handling):

* ``lose_next_response()``: the next message is applied, then its response is lost:
  ``process`` raises :class:`ConnectionLost` (``.xml`` holds the response that never arrived).
* ``malformed_next_response()``: the next response is cut short (not well-formed XML).
* ``lock(type, id, code=3170)``: Mod/Del of that record fails with 3170 (or 3175) until
  ``unlock``.
* ``delay(seconds, count=1)``: the next `count` messages (None: all) take that long.
* ``fail_open(hresult="0x80040408", message=..., times=None)``: the company file cannot be
  opened: ``open_error`` / ``begin_session()`` return the failure (the Web Connector's
  connectionError path) and ``process`` answers with that HRESULT.

Acting "in QuickBooks" (what users do between syncs): ``create``, ``edit``, ``make_inactive``,
``delete``, ``get``, ``find``, ``all``. They use qbXML field names and return Ret-shaped dicts.

Time comes from ``clock`` (a callable returning a datetime; naive means UTC), so tests decide
TimeCreated/TimeModified and the EditSequences derived from them.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from qbsync.errors import QbsyncError
from qbsync.qbxml import RsSpec, build_response, load_schema, parse_request, qbxml_version
from qbsync.qbxml.schema import Schema, available_versions, version_key
from qbsync.testing import fq_catalog, fq_host, fq_lists, fq_query, fq_status, fq_txns
from qbsync.testing.fq_ids import now as clock_now
from qbsync.testing.fq_ids import system_clock
from qbsync.testing.fq_query import Answer
from qbsync.testing.fq_records import Ctx, as_list, find_by_name
from qbsync.testing.fq_shape import shape
from qbsync.testing.fq_store import Company, SqliteFile

QbStatus = fq_status.QbStatus
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
_STOPPING = ("stopOnError", "rollbackOnError")
KEPT_MESSAGE_SETS = 10  # QuickBooks answers about the latest message set; the fake keeps a few


@dataclass(frozen=True)
class Reply:
    """What ProcessRequest gives back: the response text, or an HRESULT and its message."""

    xml: str | None
    hresult: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.hresult


class ConnectionLost(Exception):
    """The message was applied in QuickBooks but its response never reached the caller."""

    def __init__(self, xml: str | None):
        super().__init__("the response to this message was lost (FakeQuickBooks.lose_next_response)")
        self.xml = xml


@dataclass
class Exchange:
    request: str
    reply: Reply | None
    lost: bool = False


@dataclass
class _Faults:
    lose: int = 0
    malformed: int = 0
    delay: float = 0.0
    delay_count: int | None = 0
    open_error: Reply | None = None
    open_times: int | None = None
    locks: dict[str, int] = field(default_factory=dict)


class FakeQuickBooks:
    """A QuickBooks company answering qbXML. See the module documentation."""

    def __init__(
        self,
        qbxml_version: str = "13.0",
        path: str | Path | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        schema_dir: str | Path | None = None,
        company_name: str = "Fake QuickBooks Company",
        company_file: str | None = None,
        seed: bool = True,
    ):
        version_key(qbxml_version)  # reject nonsense early
        self.qbxml_version = qbxml_version
        self.schema_dir = schema_dir
        self.clock = clock or system_clock
        self.company_name = company_name
        self.path = Path(path) if path is not None else None
        self.company_file = company_file or (str(self.path) if self.path else r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\fake.QBW")
        self.history: list[Exchange] = []
        self._seed = seed
        self._company = Company()
        self._file = SqliteFile(self.path) if self.path is not None else None
        self._faults = _Faults()
        self._iterators: dict[str, fq_query.Iterator] = {}
        self._lock = threading.RLock()  # one message at a time, as QuickBooks' request processor
        self._own_schema = self._schema(qbxml_version)
        with self._state():
            pass

    # ---- the request processor ---------------------------------------------------------------

    def process(self, request_xml: str | bytes) -> Reply:
        """Process one qbXML request message, as QuickBooks' request processor does."""
        text = request_xml.decode("utf-8", "replace") if isinstance(request_xml, bytes) else request_xml
        self._wait()
        if self._faults.open_error is not None:
            reply = self._faults.open_error
            self.history.append(Exchange(text, reply))
            return reply
        checked = self._check(request_xml)
        if isinstance(checked, Reply):
            self.history.append(Exchange(text, checked))
            return checked
        schema, message = checked
        xml = self._run(message, schema)
        if self._faults.lose:
            self._faults.lose -= 1
            self.history.append(Exchange(text, None, lost=True))
            raise ConnectionLost(xml)
        if self._faults.malformed:
            self._faults.malformed -= 1
            xml = xml[: max(len(xml) // 2, 1)]
        reply = Reply(xml)
        self.history.append(Exchange(text, reply))
        return reply

    def hcp_response(self) -> str:
        """The Host + Company + Preferences answer QBWC sends in the first sendRequestXML."""
        v = self.qbxml_version
        request = (
            f'<?xml version="1.0"?><?qbxml version="{v}"?><QBXML><QBXMLMsgsRq onError="continueOnError">'
            '<HostQueryRq requestID="1"/><CompanyQueryRq requestID="2"/><PreferencesQueryRq requestID="3"/>'
            "</QBXMLMsgsRq></QBXML>"
        )
        checked = self._check(request)
        assert not isinstance(checked, Reply), checked
        xml = self._run(checked[1], checked[0])
        self.history.append(Exchange(request, Reply(xml)))
        return xml

    def begin_session(self, company_file: str = "") -> Reply | None:
        """Open the company (the Web Connector calls this before its first request). None when
        it opened; otherwise the failure injected with :meth:`fail_open`."""
        error = self._faults.open_error
        if error is None:
            return None
        if self._faults.open_times is not None:
            self._faults.open_times -= 1
            if self._faults.open_times <= 0:
                self._faults.open_error, self._faults.open_times = None, None
        return error

    def end_session(self) -> None:
        """Close the session: iterators die with it, as in QuickBooks."""
        self._iterators.clear()

    # ---- fault injection ----------------------------------------------------------------------

    def lose_next_response(self, count: int = 1) -> None:
        self._faults.lose += count

    def malformed_next_response(self, count: int = 1) -> None:
        self._faults.malformed += count

    def delay(self, seconds: float, count: int | None = 1) -> None:
        """Make the next `count` messages (None: every message) take `seconds` longer."""
        self._faults.delay, self._faults.delay_count = float(seconds), count

    def fail_open(self, hresult: str = fq_status.HRESULT_CANNOT_START, message: str = fq_status.CANNOT_START_MESSAGE, times: int | None = None) -> None:
        """The company file cannot be opened, `times` times (None: until :meth:`clear_open_error`)."""
        self._faults.open_error = Reply(None, hresult, message)
        self._faults.open_times = times

    def clear_open_error(self) -> None:
        self._faults.open_error, self._faults.open_times = None, None

    @property
    def open_error(self) -> Reply | None:
        """The injected failure to open the company (hresult, message), or None."""
        return self._faults.open_error

    def lock(self, type_name: str, object_id: str, code: int = fq_status.MODIFY_FAILED) -> None:
        """Someone holds this record: Mod/Del of it fail with `code` (3170 or 3175)."""
        if code not in (fq_status.MODIFY_FAILED, fq_status.LOCK_FAILED):
            raise ValueError("lock code must be 3170 or 3175")
        fq_catalog.get(type_name)
        self._faults.locks[object_id] = code

    def unlock(self, type_name: str, object_id: str) -> None:
        self._faults.locks.pop(object_id, None)

    # ---- acting in QuickBooks -----------------------------------------------------------------

    def create(self, type_name: str, data: Mapping[str, Any]) -> dict:
        """Add a record as a QuickBooks user would (qbXML Add field names; Refs by FullName or
        ListID). Raises QbStatus (e.g. 3100, 3140) like the matching Add request."""
        info = fq_catalog.get(type_name)
        with self._state() as ctx:
            rec = (fq_lists if info.is_list else fq_txns).add(ctx, type_name, data)
            return self._public(ctx, type_name, rec)

    def edit(self, type_name: str, object_id: str, changes: Mapping[str, Any]) -> dict:
        """Change a record in QuickBooks: its EditSequence and TimeModified move on, so a sync
        holding the old EditSequence now gets 3200."""
        info = fq_catalog.get(type_name)
        with self._state() as ctx:
            rec = ctx.company.get(type_name, object_id)
            if rec is None:
                raise fq_status.not_found(object_id)
            data = {**changes, info.id_field: object_id, "EditSequence": rec["EditSequence"]}
            if not info.is_list:
                data = _lines_as_mods(info, data, rec)
            rec = (fq_lists if info.is_list else fq_txns).mod(_unlocked(ctx), type_name, data)
            return self._public(ctx, type_name, rec)

    def make_inactive(self, type_name: str, list_id: str) -> dict:
        return self.edit(type_name, list_id, {"IsActive": "false"})

    def delete(self, type_name: str, object_id: str) -> dict:
        info = fq_catalog.get(type_name)
        with self._state() as ctx:
            return dict((fq_lists if info.is_list else fq_txns).delete(_unlocked(ctx), type_name, object_id))

    def get(self, type_name: str, object_id: str) -> dict | None:
        fq_catalog.get(type_name)
        with self._state() as ctx:
            rec = ctx.company.get(type_name, object_id)
            return self._public(ctx, type_name, rec) if rec is not None else None

    def find(self, type_name: str, name: str) -> dict | None:
        """A list record by FullName, or a transaction by RefNumber."""
        info = fq_catalog.get(type_name)
        with self._state() as ctx:
            if info.is_list:
                found = find_by_name(ctx.company, (type_name,), name)
                return self._public(ctx, type_name, found[1]) if found else None
            for rec in ctx.company.records(type_name).values():
                if rec.get("RefNumber") == name:
                    return self._public(ctx, type_name, rec)
            return None

    def all(self, type_name: str) -> list[dict]:
        """Every record of the type, inactive ones included, in creation order."""
        fq_catalog.get(type_name)
        with self._state() as ctx:
            return [self._public(ctx, type_name, rec) for rec in ctx.company.records(type_name).values()]

    def deleted(self) -> list[dict]:
        with self._state() as ctx:
            return [dict(e) for e in ctx.company.deleted]

    # ---- internals ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self) -> Iterator[Ctx]:
        """One unit of work: the company (reloaded from / saved to the file when there is one)
        and the time of this unit."""
        with self._lock:
            yield from self._unit()

    def _unit(self) -> Iterator[Ctx]:
        if self._file is None:
            ctx = Ctx(self._company, clock_now(self.clock), self._faults.locks, self._own_schema)
            if self._seed and not self._company.state.get("seeded"):
                fq_lists.seed(ctx)
                self._company.state["seeded"] = True
            yield ctx
            return
        with self._file.transaction(self._company) as fresh:
            ctx = Ctx(self._company, clock_now(self.clock), self._faults.locks, self._own_schema)
            if fresh:
                self._company.state.clear()
                self._company.state.update(Company().state)
                if self._seed:
                    fq_lists.seed(ctx)
                self._company.state["seeded"] = self._seed
            yield ctx

    def _public(self, ctx: Ctx, type_name: str, rec: Mapping) -> dict:
        ret = fq_query.record_ret(ctx, type_name, rec)
        return {k: v for k, v in ret.items() if not k.startswith("_")}

    def _wait(self) -> None:
        f = self._faults
        if f.delay > 0 and (f.delay_count is None or f.delay_count > 0):
            if f.delay_count is not None:
                f.delay_count -= 1
            time.sleep(f.delay)

    def _schema(self, version: str) -> Schema:
        try:
            return load_schema(version, self.schema_dir)
        except QbsyncError:
            # Older than every schema we have (e.g. 2.0): QuickBooks accepts old versions, and
            # their messages are valid under the oldest schema available.
            oldest = available_versions(self.schema_dir)[0]
            return load_schema(oldest, self.schema_dir)

    def _check(self, request: str | bytes) -> Reply | tuple[Schema, Any]:
        """The schema and parsed message, or the 0x80040400 reply for a message QuickBooks
        would reject without processing it. Bytes are read in the encoding they declare; text
        has its XML declaration (and any encoding it names) dropped first."""
        bad = Reply(None, fq_status.HRESULT_PARSE_ERROR, fq_status.PARSE_ERROR_MESSAGE)
        raw = request if isinstance(request, bytes) else _XML_DECL.sub("", request, count=1).encode("utf-8")
        version = qbxml_version(request)
        try:
            if version is None or version_key(version) > version_key(self.qbxml_version):
                return bad
        except QbsyncError:
            return bad
        try:
            tree = etree.fromstring(raw, _PARSER)
        except (etree.XMLSyntaxError, ValueError):
            return bad
        if tree.tag != "QBXML" or tree.find("QBXMLMsgsRq") is None:
            return bad
        schema = self._schema(version)
        if schema.validate_tree(etree.ElementTree(tree)):
            return bad
        message = parse_request(request, schema)
        # responseData="includeNone": statuses only (parse_request does not carry it)
        message.include_none = tree.find("QBXMLMsgsRq").get("responseData") == "includeNone"
        return schema, message

    def _run(self, message: Any, schema: Schema) -> str:
        with self._state() as ctx:
            specs: list[RsSpec] = []
            saved_status: int | None = None
            if message.old_message_set_id is not None:
                saved = ctx.company.message_sets.get(message.old_message_set_id)
                if saved is None:
                    saved_status = fq_status.NO_SAVED_STATE
                else:
                    saved_status = saved["status"]
                    specs.extend(self._saved_specs(saved["responses"], schema))
            stopped = False
            recorded = []
            for req in message.requests:
                if stopped:
                    answer = Answer(fq_status.NOT_PROCESSED, fq_status.NOT_PROCESSED_MESSAGE)
                elif req.request_id is not None and len(req.request_id) > fq_status.MAX_REQUEST_ID:
                    answer = Answer(fq_status.INVALID_REQUEST_ID, fq_status.invalid_request_id(req.request_id))
                else:
                    answer = self._answer(ctx, req)
                if answer.code >= 1000 and message.on_error in _STOPPING:
                    stopped = True
                if getattr(message, "include_none", False):
                    answer.rets = []
                spec = self._spec(req, answer, schema)
                specs.append(spec)
                recorded.append((req, answer, spec))
            if message.new_message_set_id is not None:
                saved = ctx.company.message_sets
                saved.pop(message.new_message_set_id, None)
                saved[message.new_message_set_id] = self._saved_record(recorded)
                for old in list(saved)[:-KEPT_MESSAGE_SETS]:
                    del saved[old]
            return quickbooks_layout(
                build_response(
                    specs,
                    new_message_set_id=message.new_message_set_id,
                    message_set_status_code=saved_status,
                    schema=schema,
                )
            )

    def _answer(self, ctx: Ctx, req: Any) -> Answer:
        try:
            return self._dispatch(ctx, req)
        except QbStatus as status:
            return Answer(status.code, status.message)

    def _dispatch(self, ctx: Ctx, req: Any) -> Answer:
        name: str = req.name
        data = req.data
        for suffix in ("Add", "Mod", "Query"):
            if name.endswith(suffix) and name[: -len(suffix)] in fq_catalog.TYPES:
                type_name = name[: -len(suffix)]
                info = fq_catalog.TYPES[type_name]
                module = fq_lists if info.is_list else fq_txns
                if suffix == "Query":
                    return fq_query.query(ctx, (type_name,), data, req.attrs, req.include_ret, self._iterators)
                rec = module.add(ctx, type_name, data) if suffix == "Add" else module.mod(ctx, type_name, data)
                return Answer(rets=[(info.ret, fq_query.record_ret(ctx, type_name, rec, {"include": req.include_ret}))])
        if name == "ItemQuery":
            return fq_query.query(ctx, fq_catalog.ITEM_TYPES, data, req.attrs, req.include_ret, self._iterators)
        if name in ("ListDel", "TxnDel"):
            return self._delete(ctx, name, data)
        if name == "ListDeletedQuery":
            return fq_query.deleted_query(ctx, "list", data, req.include_ret)
        if name == "TxnDeletedQuery":
            return fq_query.deleted_query(ctx, "txn", data, req.include_ret)
        if name == "HostQuery":
            return Answer(rets=[("HostRet", fq_host.host_ret(self.qbxml_version))])
        if name == "CompanyQuery":
            return Answer(rets=[("CompanyRet", fq_host.company_ret(ctx, self.company_name))])
        if name == "PreferencesQuery":
            return Answer(rets=[("PreferencesRet", fq_host.preferences_ret(ctx))])
        raise fq_status.unsupported(name)

    def _delete(self, ctx: Ctx, name: str, data: Mapping) -> Answer:
        is_list = name == "ListDel"
        type_name = str(data.get("ListDelType" if is_list else "TxnDelType"))
        object_id = str(data.get("ListID" if is_list else "TxnID"))
        info = fq_catalog.TYPES.get(type_name)
        if info is None or info.is_list != is_list:
            raise fq_status.not_found(object_id)  # a type the fake does not hold
        entry = (fq_lists if is_list else fq_txns).delete(ctx, type_name, object_id)
        fields = {k: v for k, v in entry.items() if k not in ("kind", "TimeCreated")}
        return Answer(rets=[("", fields)])  # ListDelRs/TxnDelRs carry the fields directly

    def _spec(self, req: Any, answer: Answer, schema: Schema) -> RsSpec:
        rs_name = req.name + "Rs"
        decl = schema.element(rs_name)
        rets: list[tuple[str, dict]] = []
        attrs = {k: v for k, v in answer.attrs.items() if decl is not None and k in decl.attributes}
        if decl is not None and answer.code < 1000:
            for ret_name, data in answer.rets:
                if ret_name == "":  # ListDel/TxnDel: the fields sit in the Rs itself
                    rets.extend((k, v) for k, v in (shape(decl, data) or {}).items())
                    continue
                info = decl.child(ret_name)
                if info is not None:
                    shaped = shape(info.decl, data)
                    if shaped is not None:
                        rets.append((ret_name, shaped))
        return RsSpec(req.name, req.request_id, answer.code, fq_status.severity(answer.code), answer.message, rets, attrs)

    def _saved_record(self, recorded: list[tuple[Any, Answer, RsSpec]]) -> dict:
        """What error recovery keeps of a message set: each response and the IDs it made."""
        status = next((a.code for _, a, _ in recorded if a.code >= 1000), 0)
        responses = []
        for req, answer, spec in recorded:
            recovery: dict[str, str] = {}
            for ret_name, data in spec.rets:
                if isinstance(data, Mapping):
                    for key in ("ListID", "TxnID", "TxnNumber", "EditSequence", "ExternalGUID"):
                        if key in data:
                            recovery[key] = str(data[key])
            responses.append(
                {
                    "name": spec.name,
                    "request_id": spec.request_id,
                    "code": spec.status_code,
                    "message": spec.message,
                    # writes keep their records; a query's rows are not worth keeping
                    "rets": [] if spec.name.endswith("Query") else [[n, d] for n, d in spec.rets],
                    "attrs": dict(spec.attrs),
                    "recovery": recovery,
                }
            )
        return {"status": status, "responses": responses}

    def _saved_specs(self, responses: list[dict], schema: Schema) -> list[RsSpec]:
        specs = []
        for r in responses:
            decl = schema.element(r["name"] + "Rs")
            if decl is None:
                continue
            rets = [(n, d) for n, d in r["rets"] if decl.child(n) is not None]
            if r["recovery"] and decl.child("ErrorRecovery") is not None:
                rets.append(("ErrorRecovery", shape(decl.child("ErrorRecovery").decl, r["recovery"])))
            specs.append(RsSpec(r["name"], r["request_id"], r["code"], fq_status.severity(r["code"]), r["message"], rets, r["attrs"]))
        return specs


def quickbooks_layout(xml: str) -> str:
    """Lay a response out as QuickBooks writes it: the `<?xml version="1.0" ?>` line, then
    every element on a line of its own, without indentation."""
    root = etree.fromstring(re.sub(r"^<\?xml[^>]*\?>", "", xml).encode("utf-8"))
    for el in root.iter():
        if len(el):
            el.text = "\n"
            for child in el:
                child.tail = "\n"
    return '<?xml version="1.0" ?>\n' + etree.tostring(root, encoding="unicode") + "\n"


def _unlocked(ctx: Ctx) -> Ctx:
    """Locks stand for other users holding a record; QuickBooks' own user is not blocked."""
    return Ctx(ctx.company, ctx.now, {}, ctx.schema)


def _lines_as_mods(info: fq_catalog.TypeInfo, data: dict, rec: Mapping) -> dict:
    """`edit` takes lines as a Mod does (`InvoiceLineMod`: the lines after the change), or
    `InvoiceLineAdd` to append lines to the ones the transaction has."""
    out = dict(data)
    for kind in info.lines:
        added = as_list(out.pop(f"{kind}Add", None))
        if added:
            kept = as_list(out.get(f"{kind}Mod")) or [{"TxnLineID": ln["TxnLineID"]} for ln in rec.get(f"{kind}Ret", [])]
            out[f"{kind}Mod"] = kept + [{"TxnLineID": "-1", **line} for line in added]
    return out


__all__ = ["ConnectionLost", "Exchange", "FakeQuickBooks", "QbStatus", "Reply"]
