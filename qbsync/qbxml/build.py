"""Building qbXML request and response messages from plain data.

Plain data uses qbXML element names: aggregates are dicts, repeated elements are lists, leaves
are text (or Python values, formatted by `values.format_value`). Keys may come in any order:
every element is placed by the schema's content model. `None` leaves a field out.

Every message is validated (lxml) before it is returned, so nothing that breaks the schema can
reach QuickBooks; problems name the element path, the value and the rule.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from qbsync.qbxml import safexml
from qbsync.qbxml.problems import Problem, QbxmlValidationError
from qbsync.qbxml.schema import Schema, load_schema
from qbsync.qbxml.values import ValueProblem, format_value, rule_problem, text_rule
from qbsync.qbxml.xmlchars import NOT_XML_CHAR
from qbsync.qbxml.xsdmodel import ElementDecl

ON_ERROR_VALUES = ("stopOnError", "continueOnError", "rollbackOnError")
MAX_REQUEST_ID = 50  # QuickBooks answers 1060 beyond this


@dataclass
class Request:
    """One request of a message. `name` has no `Rq` suffix (`CustomerAdd`, `InvoiceQuery`,
    `ListDel`). For Add/Mod, `data` is the content of the inner `<CustomerAdd>`; otherwise the
    content of the request element itself. `attrs` are the request's attributes (e.g.
    `iterator`, `iteratorID`, `metaData`); `include_ret` lists IncludeRetElement values."""

    name: str
    data: Mapping = field(default_factory=dict)
    request_id: str | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)
    include_ret: Sequence[str] = ()


@dataclass
class RsSpec:
    """One response of a message, as QuickBooks would send it (used by FakeQuickBooks).
    `rets` is a list of `(ret_element_name, data)`, kept in the given order."""

    name: str
    request_id: str | None = None
    status_code: int = 0
    severity: str = "Info"
    message: str = "Status OK"
    rets: Sequence[tuple[str, Mapping]] = ()
    attrs: Mapping[str, object] = field(default_factory=dict)


def build_request(
    requests: Iterable[Request],
    *,
    version: str = "13.0",
    on_error: str = "stopOnError",
    new_message_set_id: str | None = None,
    old_message_set_id: str | None = None,
    schema: Schema | None = None,
) -> str:
    """The complete request message as text, validated. Raises QbxmlValidationError."""
    schema = schema or load_schema(version)
    problems: list[Problem] = []
    if on_error not in ON_ERROR_VALUES:
        problems.append(Problem("/QBXML/QBXMLMsgsRq/@onError", f"onError {on_error!r} must be one of {', '.join(ON_ERROR_VALUES)}"))
    attrs = {"onError": on_error}
    if new_message_set_id is not None:
        attrs["newMessageSetID"] = str(new_message_set_id)
    if old_message_set_id is not None:
        attrs["oldMessageSetID"] = str(old_message_set_id)
    out = ["<QBXML>"]
    _start(out, "QBXMLMsgsRq", attrs)
    mark = len(out)
    for req in requests:
        _append_request(out, req, schema, problems)
    _end(out, "QBXMLMsgsRq", mark)
    out.append("</QBXML>")
    body = "".join(out)
    _finish(body, schema, problems)
    return f'<?xml version="1.0" encoding="utf-8"?><?qbxml version="{version}"?>{body}'


def build_response(
    responses: Iterable[RsSpec],
    *,
    new_message_set_id: str | None = None,
    message_set_status_code: int | None = None,
    schema: Schema | None = None,
    validate: bool = True,
) -> str:
    """A response message as QuickBooks writes it (no qbxml PI), ordered by the schema."""
    schema = schema or load_schema()
    problems: list[Problem] = []
    attrs: dict[str, str] = {}
    if new_message_set_id is not None:
        attrs["newMessageSetID"] = str(new_message_set_id)
    if message_set_status_code is not None:
        attrs["messageSetStatusCode"] = str(message_set_status_code)
    out = ["<QBXML>"]
    _start(out, "QBXMLMsgsRs", attrs)
    msgs_mark = len(out)
    for rs in responses:
        decl = schema.element(rs.name + "Rs")
        path = f"/QBXML/QBXMLMsgsRs/{rs.name}Rs"
        if decl is None:
            problems.append(Problem(path, f"{rs.name}Rs is not in the qbXML {schema.version} schema ({schema.source})"))
            continue
        rs_attrs: dict[str, str] = {}
        if rs.request_id is not None:
            rs_attrs["requestID"] = str(rs.request_id)
        rs_attrs["statusCode"] = str(rs.status_code)
        rs_attrs["statusSeverity"] = rs.severity
        if rs.message is not None:
            rs_attrs["statusMessage"] = rs.message
        for k, v in rs.attrs.items():
            if v is not None:
                rs_attrs[k] = str(v)
        _start(out, rs.name + "Rs", rs_attrs)
        mark = len(out)
        for ret_name, data in rs.rets:  # given order kept: a query may mix Ret kinds
            info = decl.child(ret_name)
            if info is None:
                problems.append(Problem(f"{path}/{ret_name}", f"{ret_name} cannot appear in {rs.name}Rs"))
                continue
            _fill(out, ret_name, info.decl, data, f"{path}/{ret_name}", problems)
        _end(out, rs.name + "Rs", mark)
    _end(out, "QBXMLMsgsRs", msgs_mark)
    out.append("</QBXML>")
    body = "".join(out)
    if validate:
        _finish(body, schema, problems)
    elif problems:
        raise QbxmlValidationError(problems)
    return '<?xml version="1.0" ?>' + body


def build_element(element_name: str, data: Mapping, schema: Schema | None = None) -> etree._Element:
    """One element (e.g. `CustomerRet`) from data, ordered and formatted; not validated."""
    schema = schema or load_schema()
    decl = schema.element(element_name)
    if decl is None:
        raise QbxmlValidationError([Problem(element_name, f"{element_name} is not in the qbXML {schema.version} schema ({schema.source})")])
    problems: list[Problem] = []
    out: list[str] = []
    _fill(out, element_name, decl, data, element_name, problems)
    if problems:
        raise QbxmlValidationError(problems)
    return _parse("".join(out))


def check_fields(element_name: str, data: Mapping, schema: Schema | None = None) -> list[Problem]:
    """Every problem of `data` as the content of `element_name` (e.g. `CustomerAdd`): unknown
    fields, wrong types, over-long values, missing required fields. Nothing is sent anywhere."""
    schema = schema or load_schema()
    decl = schema.element(element_name)
    if decl is None:
        return [Problem(element_name, f"{element_name} is not in the qbXML {schema.version} schema ({schema.source})")]
    problems: list[Problem] = []
    out: list[str] = []
    _fill(out, element_name, decl, data, element_name, problems)
    if problems:
        return problems
    if schema.model.element(element_name) is not None:  # lxml validates global elements only
        problems.extend(lxml_problems(schema.validate_tree(etree.ElementTree(_parse("".join(out)))), schema, lines=False))
    return problems


# ---- internals -----------------------------------------------------------------------------
#
# Messages are written as text (each element's tags and escaped text appended to a list of
# parts), exactly as lxml serialises the same tree, then parsed once for validation: an lxml
# element made per field costs more than all the rest of the building.


def _append_request(out: list[str], req: Request, schema: Schema, problems: list[Problem]) -> None:
    rq_name = req.name + "Rq"
    path = f"/QBXML/QBXMLMsgsRq/{rq_name}"
    decl = schema.element(rq_name)
    if decl is None:
        hint = "" if schema.source != "embedded" else "; point --schema-dir (or QBSYNC_QBXML_SCHEMA_DIR) at Intuit's SDK schemas for other request types"
        problems.append(Problem(path, f"{rq_name} is not in the qbXML {schema.version} schema ({schema.source}){hint}"))
        return
    attrs: dict[str, str] = {}
    if req.request_id is not None:
        rid = str(req.request_id)
        if len(rid) > MAX_REQUEST_ID:
            problems.append(Problem(f"{path}/@requestID", f"requestID {rid!r} is {len(rid)} characters; QuickBooks allows {MAX_REQUEST_ID} (status 1060)"))
        attrs["requestID"] = rid
    for k, v in req.attrs.items():
        if k not in decl.attributes:
            problems.append(Problem(f"{path}/@{k}", f"{rq_name} has no attribute {k!r}; it has: {', '.join(decl.attributes) or 'none'}"))
        elif v is not None:
            attrs[k] = str(v)
    content: dict = {}
    if decl.child(req.name) is not None and req.name not in req.data:
        content[req.name] = req.data  # Add/Mod: the data is the inner element's content
    else:
        content.update(req.data)
    if req.include_ret:
        content["IncludeRetElement"] = list(req.include_ret)
    _fill(out, rq_name, decl, content, path, problems, attrs)


@dataclass(slots=True)
class _Plan:
    """What filling one declaration needs, read from the schema once (`_plan` caches it):
    an aggregate's children by name as (document position, may repeat, declaration, the
    child's `accepts` if it is a leaf) and its required children; a leaf's `accepts`, a quick
    test for the usual value (a string written as it is: no formatting, no escaping, no rule
    broken), which may say False to leave it to `_leaf_text`."""

    children: dict[str, tuple[int, bool, ElementDecl, Callable[[object], bool] | None]] | None
    required: tuple[str, ...] = ()
    accepts: Callable[[object], bool] | None = None


_plans: dict[ElementDecl, _Plan] = {}


def _plan(decl: ElementDecl) -> _Plan:
    plan = _plans.get(decl)
    if plan is None:
        if decl.content is None:
            plan = _Plan(None, accepts=_accepts(decl))
        else:
            children = {name: (info.index, info.repeated, info.decl, _leaf_accepts(info.decl))
                        for name, info in decl.children.items()}
            plan = _Plan(children, decl.required_children)
        _plans[decl] = plan
    return plan


def _fill(out: list[str], name: str, decl: ElementDecl, data: object, path: str, problems: list[Problem],
          attrs: dict[str, str] | None = None) -> None:
    """Append the element `name` holding `data`, by `decl` (`attrs`: attributes already set)."""
    plan = _plans.get(decl) or _plan(decl)
    children = plan.children
    if children is None:
        # A leaf: text by the simple type.
        text = _leaf_text(decl, data, path, problems)
        _start(out, name, attrs or {})
        _end(out, name, len(out), None if text is None else _escape_text(text))
        return
    if type(data) is not dict and not isinstance(data, Mapping):  # a dict first: the ABC check is slow
        problems.append(Problem(path, f"{decl.name} is an aggregate; give an object of its fields, not {_describe(data)}"))
        return
    attrs = dict(attrs) if attrs else {}
    placed: list[tuple[int, str, object, bool, ElementDecl, Callable[[object], bool] | None]] = []
    for key, value in data.items():
        if value is None:
            continue
        info = children.get(key)
        if info is not None:
            placed.append((info[0], key, value, info[1], info[2], info[3]))
        elif key.startswith("@"):
            attr = key[1:]
            if attr in decl.attributes:
                attrs[attr] = str(value)
            else:
                problems.append(Problem(f"{path}/@{attr}", f"{decl.name} has no attribute {attr!r}"))
        else:
            problems.append(Problem(f"{path}/{key}", f"unknown field {key!r} in {decl.name}{_suggest(key, children)}"))
    if plan.required:
        given = {p[1] for p in placed}
        for required in plan.required:
            if required not in given:
                problems.append(Problem(f"{path}/{required}", f"{decl.name} needs {required}, which is missing"))
    placed.sort(key=_position)  # stable: a list keeps its order
    _start(out, name, attrs)
    mark = len(out)
    for _, key, value, repeated, child_decl, accepts in placed:
        values = value if isinstance(value, (list, tuple)) else (value,)
        if len(values) > 1 and not repeated:
            problems.append(Problem(f"{path}/{key}", f"{key} may appear only once in {decl.name}, got {len(values)}"))
            continue
        for i, item in enumerate(values):
            if item is None:
                continue
            if accepts is not None and accepts(item):
                out.append(f"<{key}>{item}</{key}>")  # accepts(): a str to write as it is
                continue
            child_path = f"{path}/{key}" + (f"[{i + 1}]" if repeated and len(values) > 1 else "")
            _fill(out, key, child_decl, item, child_path, problems)
    _end(out, name, mark)


def _position(placed: tuple) -> int:
    return placed[0]


def _start(out: list[str], name: str, attrs: Mapping[str, str]) -> None:
    if not attrs:
        out.append(f"<{name}>")
        return
    for value in attrs.values():
        if NOT_XML_CHAR.search(value):  # what lxml says of such an attribute value
            raise ValueError("All strings must be XML compatible: Unicode or ASCII, no NULL bytes or control characters")
    out.append(f"<{name}" + "".join(f' {k}="{_escape_attr(v)}"' for k, v in attrs.items()) + ">")


def _end(out: list[str], name: str, mark: int, text: str | None = None) -> None:
    """Close the element `name` whose start tag is out[mark - 1]: with `text` (escaped), or
    after what was appended since, or as an empty element `<name/>`, as lxml writes them."""
    if text is not None:
        out.append(f"{text}</{name}>")
    elif len(out) > mark:
        out.append(f"</{name}>")
    else:
        out[mark - 1] = out[mark - 1][:-1] + "/>"


def _escape_text(text: str) -> str:
    """Text as lxml writes it: &, <, > and carriage return escaped."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    return text


def _escape_attr(text: str) -> str:
    """An attribute value as lxml writes it: also the quote, line feed and tab escaped."""
    return _escape_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


_parsers = threading.local()  # an lxml parser is never shared between threads


def _parse(text: str) -> etree._Element:
    """The tree of a message (or element) written here, for validation."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = safexml.parser()
    return etree.fromstring(text, parser)


def _leaf_accepts(decl: ElementDecl) -> Callable[[object], bool] | None:
    return (_plans.get(decl) or _plan(decl)).accepts if decl.content is None else None


# The characters of a text that XML cannot carry or that lxml escapes (&, <, >, carriage return).
_NOT_AS_IS = re.compile(NOT_XML_CHAR.pattern[:-1] + "&<>\r]")


def _accepts(decl: ElementDecl) -> Callable[[object], bool] | None:
    """The quick test of a leaf's usual value: a str written as it is (the types whose text
    `format_value` never rewrites), within the length, with nothing to escape, matching the
    type's rule. Anything else (numbers, dates, enumerations, ranges, text to escape) goes the
    whole way (`_leaf_text`, `_escape_text`)."""
    simple = decl.simple
    if simple is None or simple.enumeration or simple.min_inclusive is not None or simple.max_inclusive is not None:
        return None
    if simple.base in ("DATETYPE", "DATETIMETYPE"):  # a calendar check, and the Z rewrite
        return None
    limit = simple.max_length
    rule = text_rule(simple)
    bad_char = _NOT_AS_IS.search

    def accepts(value: object) -> bool:
        return (type(value) is str and (limit is None or len(value) <= limit) and bad_char(value) is None  # type: ignore[arg-type]
                and (rule is None or rule(value) is not None))  # type: ignore[arg-type]

    return accepts


def _leaf_text(decl: ElementDecl, value: object, path: str, problems: list[Problem]) -> str | None:
    """The text of a leaf holding `value`, or None with the problem added."""
    simple = decl.simple
    assert simple is not None
    if type(value) is not str and isinstance(value, (Mapping, list, tuple)):  # a str first: the ABC check is slow
        problems.append(Problem(path, f"{decl.name} takes a single value, not {_describe(value)}"))
        return None
    try:
        text = format_value(simple, value)
    except ValueProblem as exc:
        problems.append(Problem(path, f"{decl.name}: {exc}"))
        return None
    if simple.max_length is not None and len(text) > simple.max_length:
        problems.append(Problem(path, f"{decl.name} {_clip(text)!r} is {len(text)} characters; the limit is {simple.max_length}"))
        return None
    broken = rule_problem(simple, text)
    if broken:
        problems.append(Problem(path, f"{decl.name} {broken}"))
        return None
    if (simple.min_inclusive is not None or simple.max_inclusive is not None) and text:
        lo, hi = simple.min_inclusive, simple.max_inclusive
        if (lo is not None and int(text) < lo) or (hi is not None and int(text) > hi):
            bounds = f"at least {lo}" if hi is None else f"from {lo} to {hi}" if lo is not None else f"at most {hi}"
            problems.append(Problem(path, f"{decl.name} {text} is out of range: it must be {bounds}"))
            return None
    if simple.enumeration and text not in simple.enumeration:
        problems.append(Problem(path, f"{decl.name} {text!r} is not one of: {', '.join(simple.enumeration)}"))
        return None
    return text


def _finish(body: str, schema: Schema, problems: list[Problem]) -> None:
    if problems:
        raise QbxmlValidationError(problems)
    errors = schema.validate_tree(etree.ElementTree(_parse(body)))
    if errors:
        raise QbxmlValidationError(lxml_problems(errors, schema, lines=False))


_LXML_ELEMENT = re.compile(r"^Element '([^']+)'(?:, attribute '([^']+)')?: ")


def lxml_problems(entries: Iterable, schema: Schema, lines: bool = True) -> list[Problem]:
    """lxml's error log as Problems: path, plain message (the element prefix dropped), and the
    line (`lines` False: the document is our own one-line text, its line says nothing)."""
    out = []
    for e in entries:
        message = _LXML_ELEMENT.sub("", e.message).strip()
        m = _LXML_ELEMENT.match(e.message)
        if m:
            message = f"{m.group(1)}{'/@' + m.group(2) if m.group(2) else ''}: {message}"
        out.append(Problem(e.path or "", message, (e.line or None) if lines else None))
    return out


def _describe(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _suggest(key: str, children: Mapping[str, object]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(children), n=3, cutoff=0.75)
    return f"; did you mean {' or '.join(close)}?" if close else ""
