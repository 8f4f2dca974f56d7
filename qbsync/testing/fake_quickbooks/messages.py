"""One qbXML request message through FakeQuickBooks: read and validate it, answer each request
in order under its onError mode, keep and replay message sets for error recovery, and write the
response as QuickBooks lays it out."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from qbsync.qbxml import safexml
from qbsync.errors import QbsyncError
from qbsync.qbxml import RequestMessage, RsSpec, build_response, parse_request, qbxml_version
from qbsync.qbxml.schema import Schema
from qbsync.qbxml.versions import version_key
from qbsync.testing.fake_quickbooks import catalog, lists, query, status, txns
from qbsync.testing.fake_quickbooks.host import company_ret, host_ret, preferences_ret
from qbsync.testing.fake_quickbooks.ids import check_object_id
from qbsync.testing.fake_quickbooks.query import Answer
from qbsync.testing.fake_quickbooks.records import Ctx
from qbsync.testing.fake_quickbooks.shape import shape

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_PARSER = safexml.parser()
_STOPPING = ("stopOnError", "rollbackOnError")  # rollbackOnError: QuickBooks' behaviour unverified
KEPT_MESSAGE_SETS = 10  # QuickBooks answers about the latest message set; the fake keeps a few
MAX_REQUEST_ID = 50  # characters; a longer requestID is answered with 1060


@dataclass(frozen=True)
class Host:
    """What the fake says about itself in HostRet and CompanyRet."""

    qbxml_version: str
    company_name: str


@dataclass
class Message:
    schema: Schema
    request: RequestMessage
    include_none: bool  # responseData="includeNone": statuses only


def read_message(request: str | bytes, max_version: str, schema_for: Callable[[str], Schema]) -> Message | None:
    """The validated message, or None when QuickBooks would refuse it unprocessed (HRESULT
    0x80040400): not well-formed, not a request message, no or too high a qbXML version,
    or invalid under the schema of its version. Bytes are read in the encoding they declare;
    text has its XML declaration (and any encoding named there) dropped first."""
    raw = request if isinstance(request, bytes) else _XML_DECL.sub("", request, count=1).encode("utf-8")
    version = qbxml_version(request)
    try:
        if version is None or version_key(version) > version_key(max_version):
            return None
    except QbsyncError:
        return None
    try:
        tree = etree.fromstring(raw, _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None
    msgs = tree.find("QBXMLMsgsRq")
    if tree.tag != "QBXML" or msgs is None:
        return None
    schema = schema_for(version)
    if schema.validate_tree(etree.ElementTree(tree)):
        return None
    return Message(schema, parse_request(request, schema), msgs.get("responseData") == "includeNone")


def answer_message(ctx: Ctx, message: Message, iterators: dict, host: Host) -> str:
    """The response text for a valid message (its writes applied to `ctx.company`)."""
    rq, schema = message.request, message.schema
    specs: list[RsSpec] = []
    saved_status: int | None = None
    if rq.old_message_set_id is not None:
        saved = ctx.company.message_sets.get(rq.old_message_set_id)
        if saved is None:
            saved_status = status.NO_SAVED_STATE
        else:
            saved_status = saved["status"]
            specs.extend(_saved_specs(saved["responses"], schema))
    stopped = False
    answered: list[tuple[Answer, RsSpec]] = []
    for req in rq.requests:
        if stopped:
            answer = Answer(status.NOT_PROCESSED, status.NOT_PROCESSED_MESSAGE)
        elif req.request_id is not None and len(req.request_id) > MAX_REQUEST_ID:
            answer = Answer(status.INVALID_REQUEST_ID, status.invalid_request_id(req.request_id, MAX_REQUEST_ID))
        else:
            answer = _answer(ctx, req, iterators, host)
        stopped = stopped or (answer.code >= 1000 and rq.on_error in _STOPPING)
        if message.include_none:
            answer.rets = []
        spec = _spec(req, answer, schema)
        specs.append(spec)
        answered.append((answer, spec))
    if rq.new_message_set_id is not None:
        saved_sets = ctx.company.message_sets
        saved_sets.pop(rq.new_message_set_id, None)
        saved_sets[rq.new_message_set_id] = _saved_record(answered)
        for old in list(saved_sets)[:-KEPT_MESSAGE_SETS]:
            del saved_sets[old]
    text = build_response(specs, new_message_set_id=rq.new_message_set_id, message_set_status_code=saved_status, schema=schema)
    return quickbooks_layout(text)


def _answer(ctx: Ctx, req: Any, iterators: dict, host: Host) -> Answer:
    try:
        return _dispatch(ctx, req, iterators, host)
    except status.QbStatus as failure:
        return Answer(failure.code, failure.message)


def _dispatch(ctx: Ctx, req: Any, iterators: dict, host: Host) -> Answer:
    name: str = req.name
    data = req.data
    for suffix in ("Add", "Mod", "Query"):
        if name.endswith(suffix) and name[: -len(suffix)] in catalog.TYPES:
            type_name = name[: -len(suffix)]
            info = catalog.TYPES[type_name]
            if suffix == "Query":
                return query.query(ctx, (type_name,), data, req.attrs, req.include_ret, iterators)
            module = lists if info.is_list else txns
            rec = module.add(ctx, type_name, data) if suffix == "Add" else module.mod(ctx, type_name, data)
            return Answer(rets=[(info.ret, query.record_ret(ctx, type_name, rec, {"include": req.include_ret}))])
    if name == "ItemQuery":
        return query.query(ctx, catalog.ITEM_TYPES, data, req.attrs, req.include_ret, iterators)
    if name in ("ListDel", "TxnDel"):
        return _delete(ctx, name, data)
    if name == "ListDeletedQuery":
        return query.deleted_query(ctx, "list", data, req.include_ret)
    if name == "TxnDeletedQuery":
        return query.deleted_query(ctx, "txn", data, req.include_ret)
    if name == "HostQuery":
        return Answer(rets=[("HostRet", host_ret(host.qbxml_version))])
    if name == "CompanyQuery":
        return Answer(rets=[("CompanyRet", company_ret(ctx, host.company_name))])
    if name == "PreferencesQuery":
        return Answer(rets=[("PreferencesRet", preferences_ret(ctx))])
    raise status.unsupported(name)


def _delete(ctx: Ctx, name: str, data: Mapping) -> Answer:
    is_list = name == "ListDel"
    type_name = str(data.get("ListDelType" if is_list else "TxnDelType"))
    id_field = "ListID" if is_list else "TxnID"
    object_id = check_object_id(id_field, data.get(id_field))
    info = catalog.TYPES.get(type_name)
    if info is None or info.is_list != is_list:
        raise status.not_found(object_id)  # a type the fake does not hold
    entry = (lists if is_list else txns).delete(ctx, type_name, object_id)
    fields = {k: v for k, v in entry.items() if k not in ("kind", "TimeCreated")}
    return Answer(rets=[("", fields)])  # ListDelRs/TxnDelRs carry the fields directly


def _spec(req: Any, answer: Answer, schema: Schema) -> RsSpec:
    decl = schema.element(req.name + "Rs")
    rets: list[tuple[str, Any]] = []
    attrs = {k: v for k, v in answer.attrs.items() if decl is not None and k in decl.attributes}
    if decl is not None and answer.code < 1000:
        for ret_name, data in answer.rets:
            if ret_name == "":  # ListDel/TxnDel: the fields sit in the Rs itself
                rets.extend((shape(decl, data) or {}).items())
                continue
            info = decl.child(ret_name)
            shaped = shape(info.decl, data) if info is not None else None
            if shaped is not None:
                rets.append((ret_name, shaped))
    return RsSpec(req.name, req.request_id, answer.code, status.severity(answer.code), answer.message, rets, attrs)


def _saved_record(answered: list[tuple[Answer, RsSpec]]) -> dict:
    """What error recovery keeps of a message set: each response and the IDs it made."""
    first_failure = next((a.code for a, _ in answered if a.code >= 1000), 0)
    responses = []
    for _, spec in answered:
        recovery: dict[str, str] = {}
        for _, data in spec.rets:
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
    return {"status": first_failure, "responses": responses}


def _saved_specs(responses: list[dict], schema: Schema) -> list[RsSpec]:
    specs = []
    for r in responses:
        decl = schema.element(r["name"] + "Rs")
        if decl is None:
            continue
        rets = []
        for n, d in r["rets"]:  # saved under another message's version: fit them to this one
            info = decl.child(n)
            shaped = (shape(info.decl, d) if isinstance(d, Mapping) else d) if info is not None else None
            if shaped is not None:
                rets.append((n, shaped))
        recovery = decl.child("ErrorRecovery")
        if r["recovery"] and recovery is not None:
            rets.append(("ErrorRecovery", shape(recovery.decl, r["recovery"])))
        specs.append(RsSpec(r["name"], r["request_id"], r["code"], status.severity(r["code"]), r["message"], rets, r["attrs"]))
    return specs


def quickbooks_layout(xml: str) -> str:
    """Lay a response out as QuickBooks writes it: the `<?xml version="1.0" ?>` line, then
    every element on a line of its own, without indentation."""
    root = etree.fromstring(_XML_DECL.sub("", xml, count=1).encode("utf-8"))
    for el in root.iter():
        if len(el):
            el.text = "\n"
            for child in el:
                child.tail = "\n"
    return '<?xml version="1.0" ?>\n' + etree.tostring(root, encoding="unicode") + "\n"
