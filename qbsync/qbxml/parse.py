"""Parsing qbXML messages into plain data.

Responses: every `…Rs` of a message (never assume one), with requestID, status, iterator
fields and its `…Ret` records as dicts; repeated elements become lists by the schema (a
one-line invoice still has a list of lines). Parsing is lenient: QuickBooks' own output
sometimes breaks the schema, so violations become warnings, never failures.

`iter_response` yields one record at a time. Text up to `WHOLE_PARSE_MAX` (a page of
detection, an answer to writes) is parsed at once, which is several times faster; files,
streams and bigger text are streamed, holding one record at a time, so a 50 MB query response
costs bounded memory. Both walks give the same items. `parse_response` is the walk collected
into lists.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lxml import etree

from qbsync.errors import InvalidInput
from qbsync.qbxml import safexml
from qbsync.qbxml.schema import Schema, load_schema
from qbsync.qbxml.xsdmodel import ElementDecl

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.DOTALL)
_QBXML_PI = re.compile(r'<\?qbxml\s+version\s*=\s*["\']([^"\']+)["\']\s*\?>')


@dataclass
class RsHeader:
    """The attributes of one `…Rs` element. `name` has no `Rs` suffix."""

    name: str
    request_id: str | None
    status_code: int
    status_severity: str
    status_message: str
    ret_count: int | None = None
    iterator_id: str | None = None
    iterator_remaining_count: int | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    # Plain values directly inside the Rs (ListDelRs/TxnDelRs carry ListID, TimeDeleted, …).
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The request ran (0-999: info and warnings); 1000+ means nothing was applied."""
        return self.status_code < 1000


@dataclass
class RsResult(RsHeader):
    rets: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def records(self) -> list[dict]:
        return [data for _, data in self.rets]


@dataclass
class ResponseMessage:
    responses: list[RsResult]
    new_message_set_id: str | None = None
    message_set_status_code: int | None = None
    warnings: list[str] = field(default_factory=list)

    def by_request_id(self) -> dict[str | None, RsResult]:
        return {r.request_id: r for r in self.responses}


@dataclass
class ParsedRequest:
    name: str  # without `Rq`
    request_id: str | None
    attrs: dict[str, str]
    data: dict  # Add/Mod: the inner element's content; otherwise the request's content
    include_ret: list[str] = field(default_factory=list)


@dataclass
class RequestMessage:
    version: str | None
    on_error: str | None
    new_message_set_id: str | None
    old_message_set_id: str | None
    requests: list[ParsedRequest]
    response_data: str | None = None  # "includeAll" (the default) or "includeNone"


# ---- responses ------------------------------------------------------------------------------


def _int(value: str | None) -> int | None:
    """An integer attribute, or None when it is missing, not a number, or too big for a 64-bit
    integer (no status code or count is: such a number is noise, and SQLite could not store it)."""
    try:
        number = int(value) if value not in (None, "") else None
    except ValueError:
        return None
    return number if number is None or -(2**63) <= number < 2**63 else None


def _header(el: etree._Element) -> RsHeader:
    a = dict(el.attrib)
    code = _int(a.get("statusCode"))
    return RsHeader(
        name=el.tag[:-2] if el.tag.endswith("Rs") else el.tag,
        request_id=a.get("requestID"),
        status_code=code if code is not None else -1,
        status_severity=a.get("statusSeverity", ""),
        status_message=a.get("statusMessage", ""),
        ret_count=_int(a.get("retCount")),
        iterator_id=a.get("iteratorID"),
        iterator_remaining_count=_int(a.get("iteratorRemainingCount")),
        attrs=a,
    )


def _utf8(data: str | bytes) -> bytes:
    """The bytes lxml reads: text loses its XML declaration, which may name an encoding that no
    longer applies once the text is decoded, and is encoded as UTF-8; bytes stay as they are."""
    return _XML_DECL.sub("", data, count=1).encode("utf-8") if isinstance(data, str) else data


def _source(data: str | bytes | Path | IO[bytes]) -> Any:
    """Something lxml.iterparse reads as bytes (see `_utf8`)."""
    if isinstance(data, Path):
        return str(data)
    if isinstance(data, (str, bytes)):
        return io.BytesIO(_utf8(data))
    return data


class ResponseStream:
    """Stream a response message: iterating yields `(header, ret_name, record)` per `…Ret`,
    then `(header, None, None)` when each `…Rs` ends, so responses without records are seen
    too. All items of one `…Rs` share the same header object. The message-level attributes
    (`newMessageSetID`, `messageSetStatusCode`) are in `message_attrs` once iteration began."""

    def __init__(self, data: str | bytes | Path | IO[bytes], schema: Schema | None = None):
        self._data = data
        self.schema = schema or load_schema()
        self.message_attrs: dict[str, str] = {}

    def __iter__(self) -> Iterator[tuple[RsHeader, str | None, dict | None]]:
        rs_env = self.schema.element("QBXMLMsgsRs")
        whole = _whole_text(self._data)
        try:
            if whole is not None:
                yield from self._walk_tree(whole, rs_env)
            else:
                yield from self._walk_stream(rs_env)
        except etree.XMLSyntaxError as exc:
            raise InvalidInput(f"response is not well-formed XML: {exc}") from None

    def _walk_tree(self, raw: bytes, rs_env: ElementDecl | None) -> Iterator[tuple[RsHeader, str | None, dict | None]]:
        """A message small enough to hold: parsed at once (lxml's tree builder is several times
        faster than its events), then walked like the stream below."""
        root = etree.fromstring(raw, safexml.parser(remove_comments=True, remove_pis=True))
        if safexml.has_doctype(root.getroottree()):
            raise InvalidInput(f"response refused: {safexml.DOCTYPE_REFUSED}")
        for msgs in root:
            if msgs.tag == "QBXMLMsgsRs":
                self.message_attrs = dict(msgs.attrib)
            for rs in msgs:
                header, rs_decl = _open_rs(rs, rs_env)
                for el in rs:
                    item = _rs_item(header, rs_decl, el)
                    if item is not None:
                        yield item
                yield header, None, None

    def _walk_stream(self, rs_env: ElementDecl | None) -> Iterator[tuple[RsHeader, str | None, dict | None]]:
        """Any message, one record at a time: memory stays flat however big the response."""
        events = etree.iterparse(
            _source(self._data), events=("start", "end"), remove_comments=True, remove_pis=True,
            **safexml.PARSER_OPTIONS,
        )
        depth = 0
        header: RsHeader | None = None
        rs_decl: ElementDecl | None = None
        for event, el in events:
            if event == "start":
                depth += 1
                if depth == 1 and safexml.has_doctype(el.getroottree()):
                    raise InvalidInput(f"response refused: {safexml.DOCTYPE_REFUSED}")
                if depth == 2 and el.tag == "QBXMLMsgsRs":
                    self.message_attrs = dict(el.attrib)
                elif depth == 3:
                    header, rs_decl = _open_rs(el, rs_env)
                continue
            depth -= 1
            if depth == 3 and header is not None:  # a Ret (or ErrorRecovery) closed
                item = _rs_item(header, rs_decl, el)
                _release(el)
                if item is not None:
                    yield item
            elif depth == 2 and header is not None:
                yield header, None, None
                _release(el)
                header, rs_decl = None, None


# Text or bytes up to this size are parsed whole (a page of 500 records is well under 1 MB);
# beyond it, and from files and streams, the response is streamed.
WHOLE_PARSE_MAX = 8 * 1024 * 1024


def _whole_text(data: str | bytes | Path | IO[bytes]) -> bytes | None:
    """The bytes to parse at once, or None when the response is to be streamed."""
    if isinstance(data, (str, bytes)) and len(data) <= WHOLE_PARSE_MAX:
        return _utf8(data)
    return None


def _open_rs(el: etree._Element, rs_env: ElementDecl | None) -> tuple[RsHeader, ElementDecl | None]:
    """The header of an `…Rs` element and its declaration."""
    info = rs_env.child(el.tag) if rs_env is not None else None
    return _header(el), (info.decl if info else None)


def _rs_item(header: RsHeader, rs_decl: ElementDecl | None, el: etree._Element) -> tuple[RsHeader, str, dict] | None:
    """A child of an `…Rs`: a record to yield, or (None) a plain field kept in `header.fields`."""
    tag = el.tag
    if not isinstance(tag, str):  # an entity reference left unresolved
        return None
    info = rs_decl.child(tag) if rs_decl is not None else None
    record = element_to_data(el, info.decl if info else None)
    if isinstance(record, dict):
        return header, tag, record
    header.fields[tag] = record
    return None


def _release(el: etree._Element) -> None:
    """Free a finished element and the siblings before it: memory stays flat while streaming."""
    el.clear()
    parent = el.getparent()
    while parent is not None and el.getprevious() is not None:
        del parent[0]


def iter_response(data: str | bytes | Path | IO[bytes], schema: Schema | None = None) -> ResponseStream:
    return ResponseStream(data, schema)


def parse_response(data: str | bytes | Path | IO[bytes], schema: Schema | None = None, validate: bool = True,
                   max_rets: int | None = None) -> ResponseMessage:
    """The whole response message. With `validate`, schema violations become warnings
    (text or bytes input only; streams are not read twice). `max_rets`: keep at most that many
    records per response and stream past the rest (an answer to writes needs the first only:
    memory stays flat however big the response)."""
    schema = schema or load_schema()
    stream = ResponseStream(data, schema)
    responses: list[RsResult] = []
    current: RsResult | None = None
    seen: RsHeader | None = None
    for header, ret_name, record in stream:
        if header is not seen:
            seen = header
            current = _result_of(header)
            responses.append(current)
        if ret_name is not None and current is not None and record is not None:
            if max_rets is None or len(current.rets) < max_rets:
                current.rets.append((ret_name, record))
    warnings = _schema_warnings(data, schema) if validate and isinstance(data, (str, bytes)) else []
    attrs = stream.message_attrs
    return ResponseMessage(
        responses=responses,
        new_message_set_id=attrs.get("newMessageSetID"),
        message_set_status_code=_int(attrs.get("messageSetStatusCode")),
        warnings=warnings,
    )


def _result_of(header: RsHeader) -> RsResult:
    """An `RsResult` with the header's fields (the same objects: `fields` is filled while the Rs
    streams) and no records yet. Copied as the instance's dict, not field by field through the
    constructor: a response to writes has one per request."""
    result = RsResult.__new__(RsResult)
    result.__dict__.update(vars(header))
    result.rets = []
    return result


def _schema_warnings(data: str | bytes, schema: Schema) -> list[str]:
    raw = _utf8(data)
    try:
        tree = etree.parse(io.BytesIO(raw), safexml.parser())
    except etree.XMLSyntaxError:
        return []
    return [f"line {e.line}: {e.message}" for e in schema.validate_tree(tree)]


# ---- plain data -------------------------------------------------------------------------


def element_to_data(el: etree._Element, decl: ElementDecl | None) -> dict | str:
    """An element as plain data: text for a leaf, a dict for an aggregate. Children the
    schema declares repeatable are always lists; unknown ones become lists only when they
    actually repeat."""
    if len(el) == 0:
        if decl is not None and decl.content is not None:
            return {}
        return el.text or ""
    return _aggregate(el, _children_plan(decl))


def _aggregate(el: etree._Element, plan: dict[str, tuple[ElementDecl | None, bool, bool]]) -> dict[str, Any]:
    """`element_to_data` of an element with children. The hot loop of reading a response: one
    pass over the children; a declared single leaf (most of them) takes the short way."""
    out: dict[str, Any] = {}
    for child in el:
        tag = child.tag
        entry = plan.get(tag, _UNKNOWN)
        if entry is _LEAF and tag not in out and not len(child):
            out[tag] = child.text or ""
            continue
        if not isinstance(tag, str):  # comments, PIs
            continue
        child_decl, repeated, aggregate = entry
        if len(child):
            value: Any = _aggregate(child, _children_plan(child_decl))
        else:
            value = {} if aggregate else (child.text or "")
        if repeated:
            values = out.get(tag)
            if values is None:
                out[tag] = [value]
            else:
                values.append(value)
        elif tag in out:
            prev = out[tag]
            out[tag] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[tag] = value
    return out


# Plan entries: (declaration, repeatable, an aggregate). A declared leaf that does not repeat is
# `_LEAF` (its declaration has no children to plan); a name the schema does not know, `_UNKNOWN`.
# Two objects (equal tuple constants would be one): the short way is for declared leaves only.
_LEAF: tuple[ElementDecl | None, bool, bool] = tuple([None, False, False])  # type: ignore[assignment]
_UNKNOWN: tuple[ElementDecl | None, bool, bool] = tuple([None, False, False])  # type: ignore[assignment]
_PLANS: dict[int, tuple[ElementDecl | None, dict[str, tuple[ElementDecl | None, bool, bool]]]] = {}
_NO_PLAN: dict[str, tuple[ElementDecl | None, bool, bool]] = {}


def _children_plan(decl: ElementDecl | None) -> dict[str, tuple[ElementDecl | None, bool, bool]]:
    """For each child a declaration knows: (its declaration, repeatable, an aggregate), worked
    out once per declaration (responses convert thousands of records of the same shape)."""
    if decl is None:
        return _NO_PLAN
    found = _PLANS.get(id(decl))
    if found is None or found[0] is not decl:
        plan = {tag: _plan_entry(info.decl, bool(info.repeated)) for tag, info in decl.children.items()}
        found = _PLANS[id(decl)] = (decl, plan)
    return found[1]


def _plan_entry(decl: ElementDecl | None, repeated: bool) -> tuple[ElementDecl | None, bool, bool]:
    aggregate = decl is not None and decl.content is not None
    return (decl, repeated, aggregate) if repeated or aggregate else _LEAF


# ---- requests -------------------------------------------------------------------------------


def qbxml_version(text: str | bytes) -> str | None:
    """The version in the `<?qbxml version="X.Y"?>` instruction, or None."""
    head = text[:4096].decode("utf-8", "replace") if isinstance(text, bytes) else text[:4096]
    m = _QBXML_PI.search(head)
    return m.group(1) if m else None


def parse_request(text: str | bytes, schema: Schema | None = None) -> RequestMessage:
    """A request message as plain data (used by FakeQuickBooks and replay)."""
    version = qbxml_version(text)
    schema = schema or load_schema(version)
    raw = _utf8(text)
    try:
        root = etree.fromstring(raw, safexml.parser(remove_comments=True, remove_pis=True))
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"request is not well-formed XML: {exc}") from None
    if safexml.has_doctype(root.getroottree()):
        raise InvalidInput(f"request refused: {safexml.DOCTYPE_REFUSED}")
    msgs = root.find("QBXMLMsgsRq")
    if root.tag != "QBXML" or msgs is None:
        raise InvalidInput("not a qbXML request message (expected QBXML/QBXMLMsgsRq)")
    env = schema.element("QBXMLMsgsRq")
    requests = []
    for rq in msgs:
        if not isinstance(rq.tag, str):
            continue
        name = rq.tag[:-2] if rq.tag.endswith("Rq") else rq.tag
        info = env.child(rq.tag) if env is not None else None
        content = element_to_data(rq, info.decl if info else None)
        content = content if isinstance(content, dict) else {}
        include_ret = content.pop("IncludeRetElement", [])
        attrs = dict(rq.attrib)
        request_id = attrs.pop("requestID", None)
        data = content.pop(name) if name in content and isinstance(content.get(name), dict) else content
        requests.append(ParsedRequest(name, request_id, attrs, data, include_ret if isinstance(include_ret, list) else [include_ret]))
    return RequestMessage(
        version=version,
        on_error=msgs.get("onError"),
        new_message_set_id=msgs.get("newMessageSetID"),
        old_message_set_id=msgs.get("oldMessageSetID"),
        requests=requests,
        response_data=msgs.get("responseData"),
    )
