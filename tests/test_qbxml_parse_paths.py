"""A response is read in one of two ways (issue 11): text up to `WHOLE_PARSE_MAX` is parsed at
once, files, streams and bigger text are streamed. Both give the same headers, records, fields
and message attributes, and both refuse a DOCTYPE."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from xml.sax.saxutils import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from qbsync.errors import InvalidInput
from qbsync.qbxml import RsSpec, build_response, iter_response, load_schema, parse_response
from qbsync.qbxml import parse as qbxml_parse


def read_all(source) -> tuple[list, dict]:
    stream = iter_response(source)
    items = list(stream)  # headers are complete (their plain fields filled) once the walk ends
    return [(dataclasses.asdict(h), name, record) for h, name, record in items], stream.message_attrs


def both_ways(data: bytes) -> tuple[tuple[list, dict], tuple[list, dict]]:
    return read_all(data), read_all(io.BytesIO(data))


def fixture_responses(published_xsd: Path) -> list[Path]:
    files = sorted(p for p in (published_xsd.parent / "qbxml-fixtures").rglob("*.xml")
                   if "<QBXMLMsgsRs" in p.read_text(encoding="utf-8", errors="replace"))
    assert len(files) >= 10, "the shared fixtures are missing"
    return files


def test_every_fixture_reads_the_same_whole_and_streamed(published_xsd):
    for path in fixture_responses(published_xsd):
        raw = path.read_bytes()
        try:
            whole, streamed = both_ways(raw)
        except InvalidInput:  # a fixture that is not well-formed fails both ways
            with pytest.raises(InvalidInput):
                read_all(io.BytesIO(raw))
            continue
        assert whole == streamed, path
        assert read_all(path.read_text(encoding="utf-8")) == streamed, path


def test_records_plain_fields_and_message_attributes_are_the_same_both_ways():
    rets = [("CustomerRet", {"ListID": f"{i}-1", "TimeCreated": "2026-01-01T00:00:00", "TimeModified": "2026-01-01T00:00:00",
                             "EditSequence": "1", "Name": f"C{i}", "FullName": f"C{i}", "Sublevel": "0",
                             "BillAddress": {"Addr1": "1 Main St", "City": "Zürich"}}) for i in range(3)]
    xml = build_response([RsSpec("CustomerQuery", request_id="q", rets=rets, attrs={"iteratorID": "{i}", "iteratorRemainingCount": 7}),
                          RsSpec("ListDel", request_id="d", rets=[])], new_message_set_id="ms", message_set_status_code=0,
                         validate=False)
    xml = xml.replace('<ListDelRs requestID="d" statusCode="0" statusSeverity="Info" statusMessage="Status OK"/>',
                      '<ListDelRs requestID="d" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
                      "<ListDelType>Customer</ListDelType><ListID>1-1</ListID></ListDelRs>")
    raw = xml.encode("utf-8")
    whole, streamed = both_ways(raw)
    assert whole == streamed
    items, attrs = whole
    assert attrs["newMessageSetID"] == "ms"
    assert [name for _, name, _ in items] == ["CustomerRet"] * 3 + [None, None]
    assert items[-1][0]["fields"] == {"ListDelType": "Customer", "ListID": "1-1"}
    assert items[0][2]["BillAddress"] == {"Addr1": "1 Main St", "City": "Zürich"}


def test_text_beyond_the_limit_is_streamed_and_reads_the_same(monkeypatch):
    rets = [("CustomerRet", {"ListID": f"{i}-1", "Name": f"C{i}", "EditSequence": "1"}) for i in range(50)]
    xml = build_response([RsSpec("CustomerQuery", request_id="q", rets=rets)], validate=False)
    whole = parse_response(xml, validate=False)
    assert qbxml_parse._whole_text(xml) is not None
    monkeypatch.setattr(qbxml_parse, "WHOLE_PARSE_MAX", len(xml) - 1)
    assert qbxml_parse._whole_text(xml) is None
    assert parse_response(xml, validate=False) == whole
    assert parse_response(xml, validate=False, max_rets=1).responses[0].rets == whole.responses[0].rets[:1]


DOCTYPE = ('<?xml version="1.0"?><!DOCTYPE QBXML [<!ENTITY x "boom">]><QBXML><QBXMLMsgsRs>'
           '<CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info"><CustomerRet><Name>&x;</Name>'
           "</CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>")


@pytest.mark.parametrize("source", [DOCTYPE, DOCTYPE.encode(), io.BytesIO(DOCTYPE.encode())], ids=["text", "bytes", "stream"])
def test_a_doctype_is_refused_both_ways(source):
    with pytest.raises(InvalidInput, match="DOCTYPE and entities are not allowed"):
        list(iter_response(source))


@pytest.mark.parametrize("make", [lambda s: s, lambda s: io.BytesIO(s.encode())], ids=["whole", "stream"])
def test_not_well_formed_is_refused_both_ways(make):
    with pytest.raises(InvalidInput, match="not well-formed"):
        list(iter_response(make("<QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode='0'><CustomerRet>")))


# -- the converter against the plain recursive one it replaced --------------------------------


def reference_element_to_data(el, decl):
    """element_to_data as it was before the short way for leaves (issue 11)."""
    if len(el) == 0:
        return {} if decl is not None and decl.content is not None else (el.text or "")
    out: dict = {}
    children = decl.children if decl is not None else {}
    for child in el:
        if not isinstance(child.tag, str):
            continue
        info = children.get(child.tag)
        child_decl = info.decl if info else None
        if len(child):
            value = reference_element_to_data(child, child_decl)
        else:
            value = {} if child_decl is not None and child_decl.content is not None else (child.text or "")
        if info is not None and info.repeated:
            out.setdefault(child.tag, []).append(value)
        elif child.tag in out:
            prev = out[child.tag]
            out[child.tag] = (prev if isinstance(prev, list) else [prev]) + [value]
        else:
            out[child.tag] = value
    return out


# Known leaves, aggregates, repeatable aggregates, names the schema does not know.
TAGS = ["ListID", "Name", "IsActive", "BillAddress", "Addr1", "City", "DataExtRet", "DataExtName", "DataExtValue",
        "ContactsRet", "Unknown", "Other"]
trees = st.recursive(
    st.tuples(st.sampled_from(TAGS), st.sampled_from(["", "x", "Zürich & <co>"]), st.just([])),
    lambda kids: st.tuples(st.sampled_from(TAGS), st.just(""), st.lists(kids, max_size=5)),
    max_leaves=25,
)


def to_xml(node) -> str:
    tag, text, kids = node
    inner = "".join(to_xml(k) for k in kids) if kids else escape(text)
    return f"<{tag}>{inner}</{tag}>"


@settings(max_examples=300, deadline=None)
@given(kids=st.lists(trees, max_size=8), comment=st.booleans())
def test_the_converter_gives_what_the_plain_recursive_one_gave(kids, comment):
    decl = load_schema().element("QBXMLMsgsRs").child("CustomerQueryRs").decl.child("CustomerRet").decl
    body = "".join(to_xml(k) for k in kids) + ("<!-- note -->" if comment else "")
    el = etree.fromstring(f"<CustomerRet>{body}</CustomerRet>")
    assert qbxml_parse.element_to_data(el, decl) == reference_element_to_data(el, decl)
