"""Hypothesis strategies that generate qbXML from a schema's content model (`XsdModel`).

    from strategies import element_tree, element_data, leaf_text, request_message  # tests/ is on sys.path
    tree = data.draw(element_tree(schema.element("CustomerAdd")))      # an lxml element
    plain = data.draw(element_data(schema.element("CustomerAdd")))     # builder-style dict

The walk follows the content model: sequences in order, one branch of each choice, occurrences
within min/max (repeats capped), attributes (required ones always, optional ones sometimes), and
leaf values that satisfy the leaf's simple type (length limits, enumerations, qbXML's numeric
and date patterns). Text values include characters that need escaping (&, <, quotes) and
non-ASCII letters, never characters XML 1.0 cannot carry.
"""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import strategies as st
from lxml import etree

from qbsync.qbxml.xsdmodel import ElementDecl, Particle, SimpleType

MAX_REPEAT = 2  # repeated elements occur at most this many times
MAX_TEXT = 24  # text length when the schema sets no limit
MAX_DEPTH = 14  # below this depth only required content is generated (guards against recursion)

# Characters XML 1.0 can carry, biased towards the ones that need care.
_SPECIAL = "&<>\"' éüñ€中-/:.,#"
_TEXT_CHARS = st.one_of(
    st.sampled_from(string.ascii_letters + string.digits + _SPECIAL),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co", "Zl", "Zp")),
)

# XSD builtins, by their local name
_BUILTIN_INT = {"integer", "int", "long", "short", "nonNegativeInteger", "positiveInteger", "unsignedInt", "unsignedShort"}


def text_values(max_length: int | None) -> st.SearchStrategy[str]:
    """Text for a string leaf: 0..max_length characters, no leading/trailing whitespace quirks
    (whitespace is kept: qbXML strings are xsd:string)."""
    limit = MAX_TEXT if max_length is None else min(max_length, MAX_TEXT)
    return st.text(_TEXT_CHARS, min_size=0, max_size=limit)


def _number(int_digits: int, frac: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda sign, whole, f: f"{sign}{whole}{f}",
        st.sampled_from(["", "-"]),
        st.integers(0, 10**int_digits - 1).map(str),
        frac,
    )


AMOUNTS = _number(13, st.one_of(st.just(""), st.integers(0, 99).map(lambda n: f".{n:02d}")))
DECIMALS_5 = _number(10, st.one_of(st.just(""), st.integers(1, 5).flatmap(lambda k: st.integers(0, 10**k - 1).map(lambda n: f".{n:0{k}d}"))))
DATES = st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31)).map(lambda d: d.isoformat())
DATETIMES = st.builds(
    lambda d, offset: d.isoformat(timespec="seconds") + offset,
    st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2099, 12, 31)),
    st.sampled_from(["", "", "-08:00", "+05:30"]),
)  # qbXML rejects a trailing Z
GUIDS = st.one_of(st.just("0"), st.uuids().map(lambda u: "{" + str(u).upper() + "}"))
BOOLEANS = st.sampled_from(["true", "false"])
# Named qbXML integer leaves carry small ranges (ExpirationMonth 1-12, DayOfMonthDue 1-31,
# MaxReturned >= 1) that SimpleType does not record, so integers stay within 1..12.
INTEGERS = st.integers(1, 12).map(str)
TIME_INTERVALS = st.builds(lambda h, m: f"PT{h}H{m}M", st.integers(0, 23), st.integers(0, 59))

_BY_BASE: dict[str, st.SearchStrategy[str]] = {
    "AMTTYPE": AMOUNTS,
    "PRICETYPE": DECIMALS_5,
    "QUANTYPE": DECIMALS_5,
    "PERCENTTYPE": DECIMALS_5,
    "BOOLTYPE": BOOLEANS,
    "DATETYPE": DATES,
    "DATETIMETYPE": DATETIMES,
    "GUIDTYPE": GUIDS,
    "INTTYPE": INTEGERS,
    "FLOATTYPE": DECIMALS_5,
    "TIMEINTERVALTYPE": TIME_INTERVALS,
    "xsd:boolean": BOOLEANS,
    "xsd:date": DATES,
    "xsd:decimal": DECIMALS_5,
}


def leaf_text(simple: SimpleType) -> st.SearchStrategy[str]:
    """A value that satisfies `simple` (enumeration, qbXML pattern type, or length-limited text)."""
    if simple.enumeration:
        return st.sampled_from(simple.enumeration)
    if simple.base in _BY_BASE:
        return _BY_BASE[simple.base]
    if simple.base.startswith("xsd:") and simple.base[4:] in _BUILTIN_INT:
        return INTEGERS
    # STRTYPE, IDTYPE, ENUMTYPE without values, UUIDTYPE, MACROTYPE, xsd:string, …
    return text_values(simple.max_length)


@st.composite
def _attributes(draw, decl: ElementDecl) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, attr in decl.attributes.items():
        if attr.required or draw(st.booleans()):
            out[name] = draw(leaf_text(attr.type))
    return out


def _occurrences(draw, p: Particle) -> int:
    if p.max_occurs == 0:
        return 0
    hi = MAX_REPEAT if p.max_occurs is None else min(p.max_occurs, MAX_REPEAT)
    lo = min(p.min_occurs, hi)
    return draw(st.integers(lo, hi))


def _fill(draw, parent: etree._Element, p: Particle, depth: int) -> None:
    required_only = depth >= MAX_DEPTH
    count = p.min_occurs if required_only else _occurrences(draw, p)
    for _ in range(count):
        if p.kind == "element":
            assert p.element is not None
            parent.append(_build(draw, p.element, depth + 1))
        elif p.kind == "sequence":
            for child in p.children:
                _fill(draw, parent, child, depth)
        else:  # choice: one branch per occurrence (a choice with no branches adds nothing)
            branches = [c for c in p.children if c.max_occurs != 0]
            if branches:
                _fill(draw, parent, draw(st.sampled_from(branches)), depth)


def _build(draw, decl: ElementDecl, depth: int = 0) -> etree._Element:
    el = etree.Element(decl.name)
    for name, value in draw(_attributes(decl)).items():
        el.set(name, value)
    if decl.content is not None:
        _fill(draw, el, decl.content, depth)
    elif decl.simple is not None and decl.simple.base != "xsd:anyType":
        text = draw(leaf_text(decl.simple))
        if text:
            el.text = text
    return el


@st.composite
def element_tree(draw, decl: ElementDecl) -> etree._Element:
    """An lxml element valid for `decl`."""
    return _build(draw, decl)


def tree_to_data(el: etree._Element, decl: ElementDecl) -> dict | str:
    """Builder-style plain data for a generated element: nested dicts, lists for elements the
    schema lets repeat, strings at the leaves (attributes are not part of plain data)."""
    if decl.content is None:
        return el.text or ""
    out: dict = {}
    for child in el:
        info = decl.child(child.tag)
        assert info is not None, f"{child.tag} is not a child of {decl.name}"
        value = tree_to_data(child, info.decl)
        if info.repeated:
            out.setdefault(child.tag, []).append(value)
        else:
            out[child.tag] = value
    return out


@st.composite
def element_data(draw, decl: ElementDecl) -> dict | str:
    """Plain data (as the builder takes it) that is valid for `decl`."""
    return tree_to_data(_build(draw, decl), decl)


ON_ERROR = ("stopOnError", "continueOnError", "rollbackOnError")


def request_document(rq: etree._Element, version: str, on_error: str = "stopOnError") -> bytes:
    """A whole request message around one `…Rq` element."""
    root = etree.Element("QBXML")
    msgs = etree.SubElement(root, "QBXMLMsgsRq", onError=on_error)
    msgs.append(rq)
    body = etree.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="' + version.encode() + b'"?>\n' + body


def response_document(rs: etree._Element) -> bytes:
    """A whole response message around one `…Rs` element (no qbxml PI, as QuickBooks sends it)."""
    root = etree.Element("QBXML")
    etree.SubElement(root, "QBXMLMsgsRs").append(rs)
    return b'<?xml version="1.0" ?>\n' + etree.tostring(root, encoding="utf-8")


@st.composite
def request_message(draw, schema, request: str) -> bytes:
    """A full request message (PI, QBXML, QBXMLMsgsRq with onError) holding one generated
    `<request>Rq` for `schema` (a `qbsync.qbxml.Schema`)."""
    decl = schema.element(request + "Rq")
    assert decl is not None, f"{request}Rq is not in {schema}"
    return request_document(draw(element_tree(decl)), schema.version, draw(st.sampled_from(ON_ERROR)))


@st.composite
def response_message(draw, schema, response: str, ret: str | None = None) -> bytes:
    """A full response message holding one `<response>Rs` with status attributes and, when `ret`
    is given, at least one generated `ret` record (e.g. CustomerRet)."""
    decl = schema.element(response + "Rs")
    assert decl is not None, f"{response}Rs is not in {schema}"
    rs = etree.Element(decl.name, statusCode="0", statusSeverity="Info", statusMessage="Status OK")
    if "requestID" in decl.attributes:
        rs.set("requestID", draw(text_values(10)))
    if ret is None:
        if decl.content is not None:
            _fill(draw, rs, decl.content, 1)
    else:
        info = decl.child(ret)
        assert info is not None, f"{ret} is not in {decl.name}"
        for _ in range(draw(st.integers(1, MAX_REPEAT if info.repeated else 1))):
            rs.append(draw(element_tree(info.decl)))
    return response_document(rs)
