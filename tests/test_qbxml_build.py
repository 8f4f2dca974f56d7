"""Building requests: schema order, value formatting, validation, and golden files checked
against Intuit's published schema in the same test."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from qbsync.qbxml import QbxmlValidationError, Request, RsSpec, build_request, build_response, check_fields, load_schema
from qbsync.qbxml.values import format_value
from qbsync.qbxml.xmlchars import first_invalid_xml_char
from qbsync.qbxml.xsdmodel import SimpleType

GOLDEN = Path(__file__).parent / "golden"


def published_validator(published_xsd: Path, version: str) -> etree.XMLSchema:
    digits = version.replace(".", "")
    return etree.XMLSchema(etree.parse(str(published_xsd / version / f"qbxmlops{digits}.xsd")))


def golden_requests() -> dict[str, str]:
    """Each golden file's request, built from data whose keys are deliberately out of order."""
    return {
        "customer_add.xml": build_request(
            [
                Request(
                    "CustomerAdd",
                    {
                        "Phone": "555-0100",
                        "BillAddress": {"PostalCode": "94043", "City": "Mountain View", "Addr1": "1 Main St"},
                        "Name": "Acme & Sons <HQ>",
                        "CompanyName": "Acme",
                        "IsActive": True,
                        "CreditLimit": 2500,
                    },
                    request_id="cust-1",
                )
            ],
            version="13.0",
        ),
        "job_add.xml": build_request(
            [Request("CustomerAdd", {"ParentRef": {"FullName": "Acme & Sons <HQ>"}, "Name": "Roof repair"}, request_id="job-1")]
        ),
        "invoice_add.xml": build_request(
            [
                Request(
                    "InvoiceAdd",
                    {
                        "InvoiceLineAdd": [
                            {"Rate": Decimal("95.5"), "Quantity": 3, "ItemRef": {"FullName": "Labor"}, "Desc": "Labour, hours"},
                            {"Amount": Decimal("12"), "ItemRef": {"FullName": "Parts"}},
                        ],
                        "RefNumber": "INV-1001",
                        "TxnDate": dt.date(2026, 11, 26),
                        "CustomerRef": {"FullName": "Acme & Sons <HQ>:Roof repair"},
                    },
                    request_id="inv-1",
                )
            ],
            on_error="continueOnError",
            new_message_set_id="ms-42",
        ),
        "invoice_mod.xml": build_request(
            [
                Request(
                    "InvoiceMod",
                    {
                        "InvoiceLineMod": [{"TxnLineID": "1A-1", "Amount": "10.00"}, {"TxnLineID": "-1", "ItemRef": {"FullName": "Parts"}, "Amount": 5}],
                        "EditSequence": "1700000000",
                        "TxnID": "1A-1700000000",
                    },
                    request_id="inv-2",
                )
            ]
        ),
        "customer_query_iterator.xml": build_request(
            [
                Request(
                    "CustomerQuery",
                    {"FromModifiedDate": dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=-8))), "ActiveStatus": "All", "MaxReturned": 100},
                    request_id="q-1",
                    attrs={"iterator": "Start"},
                )
            ]
        ),
        "deletes.xml": build_request(
            [
                Request("ListDel", {"ListID": "80000001-1700000000", "ListDelType": "Customer"}, request_id="d-1"),
                Request("TxnDel", {"TxnID": "1A-1700000000", "TxnDelType": "Invoice"}, request_id="d-2"),
            ]
        ),
    }


@pytest.mark.parametrize("version", ["13.0", "16.0"])
def test_golden_requests_match_and_validate_against_published_schema(published_xsd, version):
    validator = published_validator(published_xsd, version)
    for name, xml in golden_requests().items():
        assert xml == (GOLDEN / name).read_text(encoding="utf-8").rstrip("\n"), f"{name} changed; regenerate with tests/golden/regenerate.py"
        doc = etree.fromstring(xml.split("?>", 2)[2].encode())
        assert validator.validate(doc), f"{name} under {version}: {validator.error_log}"


def test_elements_follow_schema_order_whatever_the_key_order():
    xml = golden_requests()["customer_add.xml"]
    body = etree.fromstring(xml.split("?>", 2)[2].encode())
    add = body.find("QBXMLMsgsRq/CustomerAddRq/CustomerAdd")
    assert [c.tag for c in add] == ["Name", "IsActive", "CompanyName", "BillAddress", "Phone", "CreditLimit"]
    assert [c.tag for c in add.find("BillAddress")] == ["Addr1", "City", "PostalCode"]


def test_envelope_is_compact_with_version_and_message_set():
    xml = golden_requests()["invoice_add.xml"]
    assert xml.startswith('<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="continueOnError" newMessageSetID="ms-42">')
    assert "\n" not in xml and "> <" not in xml
    assert "<Name>Acme &amp; Sons &lt;HQ&gt;:Roof repair</Name>" not in xml  # a ref is FullName, not Name
    assert "<FullName>Acme &amp; Sons &lt;HQ&gt;:Roof repair</FullName>" in xml


@pytest.mark.parametrize(
    "base,value,text",
    [
        ("AMTTYPE", 100, "100.00"),
        ("AMTTYPE", Decimal("10.5"), "10.50"),
        ("AMTTYPE", -3.1, "-3.10"),
        ("AMTTYPE", "100", "100"),
        ("PRICETYPE", Decimal("95.50000"), "95.5"),
        ("QUANTYPE", 2, "2"),
        ("PERCENTTYPE", 0.125, "0.125"),
        ("BOOLTYPE", True, "true"),
        ("BOOLTYPE", False, "false"),
        ("DATETYPE", dt.date(2026, 1, 2), "2026-01-02"),
        ("DATETIMETYPE", dt.datetime(2026, 1, 2, 3, 4, 5, 999), "2026-01-02T03:04:05"),
        ("DATETIMETYPE", dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "2026-01-02T03:04:05+00:00"),
        ("DATETIMETYPE", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05+00:00"),
        ("INTTYPE", 7, "7"),
        ("STRTYPE", "a  b", "a  b"),
    ],
)
def test_values_are_formatted_as_quickbooks_requires(base, value, text):
    assert format_value(SimpleType(base), value) == text


def test_values_never_rounded_or_cut_silently():
    with pytest.raises(QbxmlValidationError) as err:
        build_request([Request("CustomerAdd", {"Name": "N" * 42, "CreditLimit": 10.005, "Notes": "bell\x07"})])
    messages = {p.path.rsplit("/", 1)[-1]: p.message for p in err.value.problems}
    assert "42 characters; the limit is 41" in messages["Name"]
    assert "3 decimals" in messages["CreditLimit"]
    assert "U+0007" in messages["Notes"]


def test_check_fields_names_field_and_rule():
    problems = check_fields("CustomerAdd", {"Name": "ok", "CreditLimit": "10.5", "IsActive": "True", "Bogus": 1, "Emial": "x"})
    by_field = {p.path: p.message for p in problems}
    assert "0 or 2 decimals" in by_field["CustomerAdd/CreditLimit"]
    assert "true or false" in by_field["CustomerAdd/IsActive"]
    assert "unknown field 'Bogus'" in by_field["CustomerAdd/Bogus"]
    assert "did you mean Email" in by_field["CustomerAdd/Emial"]
    assert check_fields("CustomerAdd", {"CompanyName": "x"})[0].message == "CustomerAdd needs Name, which is missing"
    assert check_fields("InvoiceAdd", {"CustomerRef": {"ListID": "80000001-1"}, "InvoiceLineAdd": [{"Amount": "1.00"}]}) == []


def test_request_level_rules():
    with pytest.raises(QbxmlValidationError) as err:
        build_request([Request("CustomerAdd", {"Name": "x"}, request_id="r" * 51)])
    assert "1060" in str(err.value)
    with pytest.raises(QbxmlValidationError) as err:
        build_request([Request("JournalEntryAdd", {})])
    assert "--schema-dir" in str(err.value)
    with pytest.raises(QbxmlValidationError):
        build_request([Request("CustomerQuery", {})], on_error="ignoreErrors")
    with pytest.raises(QbxmlValidationError) as err:
        build_request([Request("CustomerQuery", {"MaxReturned": 5}, attrs={"iterater": "Start"})])
    assert "iterater" in str(err.value)


def test_schema_choice_is_enforced_by_validation():
    # ListID and MaxReturned are alternative branches of a query: lxml rejects mixing them
    with pytest.raises(QbxmlValidationError):
        build_request([Request("CustomerQuery", {"ListID": ["80000001-1"], "MaxReturned": 5})])


def test_sdk_schema_dir_makes_every_request_type_available(published_xsd):
    schema = load_schema("13.0", published_xsd / "13.0")
    xml = build_request([Request("JournalEntryQuery", {"MaxReturned": 1})], schema=schema)
    assert "<JournalEntryQueryRq><MaxReturned>1</MaxReturned></JournalEntryQueryRq>" in xml


def test_build_response_orders_rets_and_validates(published_xsd):
    xml = build_response(
        [
            RsSpec(
                "CustomerAdd",
                request_id="1",
                rets=[("CustomerRet", {"Name": "Acme", "EditSequence": "1", "TimeModified": "2026-01-01T00:00:00", "TimeCreated": "2026-01-01T00:00:00", "ListID": "80000001-1", "FullName": "Acme", "Sublevel": 0, "IsActive": True})],
            ),
            RsSpec("CustomerAdd", request_id="2", status_code=3100, severity="Error", message="The name \"Acme\" of the list element is already in use."),
        ]
    )
    assert xml.startswith('<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerAddRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK"><CustomerRet><ListID>')
    assert published_validator(published_xsd, "13.0").validate(etree.fromstring(xml.split("?>", 1)[1].encode()))


# The builder writes text itself (not through an lxml tree): what it writes must be exactly what
# lxml writes for the same tree, whatever the characters of the values and attributes.
_XML_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff")
                    .filter(lambda c: first_invalid_xml_char(c) is None), max_size=40)


@settings(max_examples=300, deadline=None)
@given(name=_XML_TEXT.filter(lambda t: t.strip() != ""), notes=_XML_TEXT, rid=_XML_TEXT.filter(bool))
def test_the_text_written_is_what_lxml_writes_for_the_same_tree(name, notes, rid):
    data = {"Name": name[:41], "Notes": notes or None, "BillAddress": {"Addr1": notes[:41] or None}}
    try:
        xml = build_request([Request("CustomerAdd", data, request_id=rid[:50])], new_message_set_id=rid)
    except QbxmlValidationError:
        return  # a value the schema refuses (e.g. a pattern): nothing is written
    body = xml.split("?>", 2)[2]
    tree = etree.fromstring(body)
    assert etree.tostring(tree, encoding="unicode") == body
    assert tree.find(".//Name").text == name[:41] and tree.find(".//CustomerAddRq").get("requestID") == rid[:50]
    assert tree.find("QBXMLMsgsRq").get("newMessageSetID") == rid


def test_empty_elements_and_attributes_are_written_as_lxml_writes_them():
    xml = build_response([RsSpec("CustomerQuery", request_id='a"<&>\n\t\r', rets=[])], new_message_set_id="x")
    body = xml.split("?>", 1)[1]
    assert etree.tostring(etree.fromstring(body), encoding="unicode") == body
    assert "<CustomerQueryRs " in body and "/></QBXMLMsgsRs>" in body
    # an empty value is an element with empty text, as lxml writes `el.text = ""`
    xml = build_request([Request("CustomerAdd", {"Name": "A", "Notes": ""})])
    assert "<Name>A</Name><Notes></Notes>" in xml
