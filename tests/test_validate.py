"""validate_document: kinds, versions, and plain-word messages that name the path, value and rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from strategies import request_message, response_message

from qbsync.errors import QbsyncError
from qbsync.qbxml.problems import Problem, QbxmlValidationError
from qbsync.qbxml.schema import embedded_dir, load_schema
from qbsync.qbxml.validate import ValidationReport, validate_document, validate_file

FIXTURES = (Path(os.environ.get("QBSYNC_PUBLISHED_XSD") or Path(__file__).resolve().parents[2] / "shared" / "qbxml-xsd").parent / "qbxml-fixtures")
if not FIXTURES.is_dir():  # the fixtures sit beside the schemas in ../shared
    FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "qbxml-fixtures"

# Files that break the published schema itself (see qbxml-fixtures/SOURCES.md)
PUBLISHED_INVALID = {
    "authored/invalid_amount_rq.xml",
    "authored/invalid_missing_onerror_rq.xml",
    "authored/invalid_wrong_order_rq.xml",
    "qbwc-qbxml-gem/responses/receive_payment_query_rs.xml",
    "hotglue-qbwc-common/customer-batch-mixed.response.xml",
    "hotglue-qbwc-common/customer-batch-valid.response.xml",
}
# Valid qbXML whose request types the embedded schema does not cover
NOT_EMBEDDED = {
    "intuit-sdk-samples/ErrRecovery1.xml": "CheckAddRq",
    "intuit-sdk-samples/JournalEntryAddRq.xml": "JournalEntryAddRq",
    "qbwc-qbxml-gem/responses/purchase_order_query_rs.xml": "PurchaseOrderQueryRs",
}


def all_fixtures() -> list[str]:
    return sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.xml"))


def rq(body: str, version: str | None = "13.0", on_error: str = 'onError="stopOnError"') -> str:
    pi = f'<?qbxml version="{version}"?>\n' if version else ""
    return f'<?xml version="1.0" encoding="utf-8"?>\n{pi}<QBXML>\n<QBXMLMsgsRq {on_error}>\n{body}\n</QBXMLMsgsRq>\n</QBXML>\n'


def one_error(report: ValidationReport) -> Problem:
    assert not report.valid
    assert len(report.errors) == 1, report.errors
    return report.errors[0]


# ---- the fixture files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", all_fixtures())
def test_fixture_against_published_13(name, published_xsd):
    report = validate_file(FIXTURES / name, schema_dir=published_xsd / "13.0")
    assert report.kind == ("response" if "_rs" in name or ".response" in name or "responses/" in name else "request")
    assert report.valid == (name not in PUBLISHED_INVALID), [str(p) for p in report.errors]
    assert report.schema_version == "13.0"
    for p in report.errors:
        assert p.line and p.path.startswith("/QBXML/") and p.message


@pytest.mark.parametrize("name", all_fixtures())
def test_fixture_against_embedded(name):
    report = validate_file(FIXTURES / name)
    expected_valid = name not in PUBLISHED_INVALID and name not in NOT_EMBEDDED
    assert report.valid == expected_valid, [str(p) for p in report.errors]
    if name in NOT_EMBEDDED:
        p = one_error(report)
        assert NOT_EMBEDDED[name] in p.message and "--schema-dir" in p.message
        assert p.path.endswith("/" + NOT_EMBEDDED[name])


def test_invalid_amount_names_the_rule():
    p = one_error(validate_file(FIXTURES / "authored/invalid_amount_rq.xml"))
    assert p.line == 10
    assert p.path == "/QBXML/QBXMLMsgsRq/InvoiceAddRq/InvoiceAdd/InvoiceLineAdd/Amount"
    assert p.message == "amount '10.5' must have 0 or 2 decimals (e.g. 10.50)"


def test_invalid_missing_onerror_names_the_attribute():
    p = one_error(validate_file(FIXTURES / "authored/invalid_missing_onerror_rq.xml"))
    assert (p.line, p.path) == (4, "/QBXML/QBXMLMsgsRq")
    assert "onError" in p.message and "stopOnError" in p.message


def test_invalid_wrong_order_names_both_elements():
    p = one_error(validate_file(FIXTURES / "authored/invalid_wrong_order_rq.xml"))
    assert (p.line, p.path) == (7, "/QBXML/QBXMLMsgsRq/CustomerAddRq/CustomerAdd/CompanyName")
    assert "out of order" in p.message and "Name comes before CompanyName" in p.message


def test_out_of_order_in_a_response_says_what_must_come_first():
    report = validate_file(FIXTURES / "hotglue-qbwc-common/customer-batch-mixed.response.xml")
    assert report.kind == "response" and report.version is None
    assert [p.line for p in report.errors] == [14, 32]
    assert report.errors[0].path == "/QBXML/QBXMLMsgsRs/CustomerAddRs[1]/CustomerRet/Sublevel"
    assert "must come before 'CompanyName'" in report.errors[0].message


# ---- messages ------------------------------------------------------------------------------------


def test_max_length_counts_characters_and_shows_value():
    name = "Ünïcødé & <Sons> " * 3  # 51 characters, several bytes each
    body = f"<CustomerAddRq><CustomerAdd><Name>{name.replace('&', '&amp;').replace('<', '&lt;')}</Name></CustomerAdd></CustomerAddRq>"
    p = one_error(validate_document(rq(body)))
    assert p.path == "/QBXML/QBXMLMsgsRq/CustomerAddRq/CustomerAdd/Name"
    assert p.message == f"'{name}' is 51 characters; the limit for 'Name' is 41"


@pytest.mark.parametrize(
    "element,value,expected",
    [
        ("IsActive", "True", "'True' is not a qbXML boolean: write true (lower case)"),
        ("OpenBalanceDate", "2024-13-01", "'2024-13-01' is not valid for 'OpenBalanceDate': it must be a date: YYYY-MM-DD"),
        ("OpenBalance", "1,000.00", "amount '1,000.00' is not valid for 'OpenBalance'"),
        ("OpenBalance", "10.000", "amount '10.000' must have 0 or 2 decimals (e.g. 10.00 (rounded as you intend))"),
        ("OpenBalance", " 10.00 ", "amount ' 10.00 ' has spaces around it"),
    ],
)
def test_leaf_value_messages(element, value, expected):
    body = f"<CustomerAddRq><CustomerAdd><Name>A</Name><{element}>{value}</{element}></CustomerAdd></CustomerAddRq>"
    if element == "OpenBalanceDate":
        body = body.replace("<Name>A</Name>", "<Name>A</Name><OpenBalance>1.00</OpenBalance>")
    p = one_error(validate_document(rq(body)))
    assert p.path.endswith("/" + element)
    assert p.message.startswith(expected), p.message


def test_datetime_with_z_is_explained():
    body = "<CustomerQueryRq><FromModifiedDate>2024-05-01T00:00:00Z</FromModifiedDate></CustomerQueryRq>"
    p = one_error(validate_document(rq(body)))
    assert "ends in Z" in p.message and "2024-05-01T00:00:00" in p.message


def test_enumeration_and_min_inclusive():
    body = '<CustomerQueryRq iterator="start"><MaxReturned>0</MaxReturned></CustomerQueryRq>'
    report = validate_document(rq(body))
    messages = [p.message for p in report.errors]
    assert any("'start' is not allowed for attribute 'iterator'; use one of: Start, Continue, Stop" in m for m in messages)
    assert any("'0' is below the minimum of 1 for 'MaxReturned'" in m for m in messages)


def test_unexpected_and_repeated_and_missing_elements():
    body = (
        "<CustomerAddRq><CustomerAdd><Name>a</Name><Name>b</Name></CustomerAdd></CustomerAddRq>"
        "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>a</FullName></CustomerRef>"
        "<InvoiceLineAdd><Bogus/></InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>"
        "<CustomerModRq/>"
        "<NotARequest/>"
    )
    report = validate_document(rq(body))
    by_path = {p.path: p.message for p in report.errors}
    assert "appears more than once" in by_path["/QBXML/QBXMLMsgsRq/CustomerAddRq/CustomerAdd/Name[2]"]
    assert by_path["/QBXML/QBXMLMsgsRq/InvoiceAddRq/InvoiceAdd/InvoiceLineAdd/Bogus"].startswith(
        "element 'Bogus' is not expected here in 'InvoiceLineAdd'; expected one of: "
    )
    assert "required child is missing; expected CustomerMod" in by_path["/QBXML/QBXMLMsgsRq/CustomerModRq"]
    assert "is not a qbXML request" in by_path["/QBXML/QBXMLMsgsRq/NotARequest"]


def test_request_outside_version_points_to_later_version(published_xsd):
    body = "<PayrollItemQueryRq/>"  # added in qbXML 15.0
    p = one_error(validate_document(rq(body), schema_dir=published_xsd))
    assert p.message == "request 'PayrollItemQueryRq' is not part of qbXML 13.0; it exists in qbXML 15.0"
    assert validate_document(rq(body, "15.0"), schema_dir=published_xsd).valid


def test_sdk_folder_makes_every_request_available(published_xsd):
    body = "<JournalEntryQueryRq/>"
    assert not validate_document(rq(body)).valid  # embedded: not covered
    assert validate_document(rq(body), schema_dir=published_xsd / "16.0").valid


def test_response_status_attributes_are_checked():
    doc = '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode="x" statusSeverity="Info"/></QBXMLMsgsRs></QBXML>'
    report = validate_document(doc)
    assert report.kind == "response"
    p = one_error(report)
    assert p.message == "'x' is not valid for attribute 'statusCode': it must be a whole number"


# ---- document-level facts ------------------------------------------------------------------------


def test_version_from_pi_after_comments_selects_schema():
    doc = "<?xml version='1.0'?>\n<!-- a comment -->\n<!-- another -->\n" + rq("<CustomerQueryRq/>", "16.0").split("\n", 1)[1]
    report = validate_document(doc)
    assert (report.version, report.schema_version, report.valid) == ("16.0", "16.0", True)


def test_forced_version_wins_over_pi():
    report = validate_document(rq("<CustomerQueryRq/>", "13.0"), version="16.0")
    assert (report.version, report.schema_version) == ("16.0", "16.0")


def test_older_version_checked_against_oldest_schema_with_warning():
    report = validate_document(rq("<CustomerQueryRq/>", "2.0"))
    assert report.valid and report.schema_version == "13.0" and report.version == "2.0"
    assert len(report.warnings) == 1 and "no qbXML 2.0 schema" in report.warnings[0].message


def test_version_above_all_schemas_is_an_error_naming_them():
    p = one_error(validate_document(rq("<CustomerQueryRq/>", "17.0")))
    assert "17.0" in p.message and "13.0, 14.0, 15.0, 16.0" in p.message


def test_request_without_pi_is_an_error_but_still_checked():
    report = validate_document(rq("<CustomerQueryRq><Bogus/></CustomerQueryRq>", version=None))
    assert report.kind == "request" and report.version is None
    assert "<?qbxml version" in report.errors[0].message and report.errors[0].path == "/QBXML"
    assert report.errors[1].path.endswith("/Bogus")  # structure checked against the default 13.0


def test_response_without_pi_is_fine():
    doc = '<?xml version="1.0" ?>\n<QBXML><QBXMLMsgsRs><CustomerAddRs statusCode="3100" statusSeverity="Error" statusMessage="x"/></QBXMLMsgsRs></QBXML>'
    report = validate_document(doc)
    assert report.valid and report.kind == "response" and not report.warnings


@pytest.mark.parametrize(
    "doc,line,needle",
    [
        ("", 1, "not well-formed XML"),
        ('<?xml version="1.0"?>\n<QBXML>\n<QBXMLMsgsRq onError="stopOnError">\n</QBXML>', 4, "not well-formed XML"),
        ("<QBXML><QBXMLMsgsRq onError='stopOnError'>&bogus;</QBXMLMsgsRq></QBXML>", 1, "not well-formed XML"),
    ],
)
def test_malformed_xml_is_one_error_with_line(doc, line, needle):
    report = validate_document(doc)
    p = one_error(report)
    assert report.kind == "unknown" and p.line == line and needle in p.message and p.path == "/"


def test_not_a_qbxml_message():
    for doc, needle in [
        ("<Invoice/>", "found <Invoice>"),
        ("<QBXML/>", "holds no"),
        ('<QBXML xmlns="urn:x"><QBXMLMsgsRq onError="stopOnError"/></QBXML>', 'remove xmlns="urn:x" from <QBXML>'),
    ]:
        report = validate_document(doc)
        assert report.kind == "unknown" and needle in one_error(report).message


def test_text_and_bytes_with_declared_encodings():
    body = "<CustomerAddRq><CustomerAdd><Name>Café Ñandú</Name></CustomerAdd></CustomerAddRq>"
    text = rq(body).replace("utf-8", "windows-1252")
    assert validate_document(text).valid  # str: already decoded
    assert validate_document(text.encode("cp1252")).valid  # bytes: decoded by the declaration


def test_report_as_dict_and_problem_types():
    report = validate_file(FIXTURES / "authored/invalid_amount_rq.xml")
    d = report.as_dict()
    assert list(d)[:5] == ["file", "kind", "version", "schema_version", "valid"]
    assert d["errors"] == [{"line": 10, "path": report.errors[0].path, "message": report.errors[0].message}]
    assert d["file"].endswith("invalid_amount_rq.xml") and d["kind"] == "request" and d["valid"] is False
    err = QbxmlValidationError(report.errors + [Problem("/x", "y")])
    assert err.exit_code == 3 and err.problems[1].path == "/x" and "and 1 more problem" in str(err)


def test_missing_schema_folder_raises():
    with pytest.raises(QbsyncError):
        validate_document(rq("<CustomerQueryRq/>"), schema_dir="/nonexistent/folder")


# ---- generated documents -------------------------------------------------------------------------

SCHEMA = load_schema("13.0") if not os.environ.get("QBSYNC_QBXML_SCHEMA_DIR") else load_schema("13.0", embedded_dir())
REQUESTS = ["CustomerAdd", "InvoiceAdd", "InvoiceMod", "BillQuery", "ReceivePaymentAdd", "ItemInventoryMod"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_generated_documents_are_valid_and_amount_breakage_is_caught(data):
    name = data.draw(st.sampled_from(REQUESTS))
    doc = data.draw(request_message(SCHEMA, name))
    report = validate_document(doc)
    assert report.valid and report.kind == "request", [str(p) for p in report.errors]
    # break every amount: each becomes an error naming its path and the rule
    tree = etree.fromstring(doc).getroottree()
    amounts = [el for el in tree.iter() if isinstance(el.tag, str) and _is_amount(el)]
    for el in amounts:
        el.text = "1.5"
    if amounts:
        report = validate_document(etree.tostring(tree, encoding="utf-8"))
        assert len(report.errors) == len(amounts)
        paths = {tree.getpath(el) for el in amounts}
        assert {p.path for p in report.errors} == paths
        assert all(p.message == "amount '1.5' must have 0 or 2 decimals (e.g. 1.50)" for p in report.errors)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_generated_responses_are_valid(data):
    doc = data.draw(response_message(SCHEMA, "CustomerQuery", "CustomerRet"))
    report = validate_document(doc)
    assert report.valid and report.kind == "response" and report.version is None


def _is_amount(el: etree._Element) -> bool:
    path = el.getroottree().getpath(el)
    decl = SCHEMA.model.element("QBXML")
    for step in path.split("/")[2:]:
        info = decl.child(step.split("[")[0]) if decl is not None else None
        decl = info.decl if info else None
    return decl is not None and decl.simple is not None and decl.simple.base == "AMTTYPE"


def test_missing_required_element_is_not_called_out_of_order():
    report = validate_file(FIXTURES / "qbwc-qbxml-gem/responses/receive_payment_query_rs.xml")
    assert [p.line for p in report.errors] == [36, 41]  # in line order
    assert report.errors[1].message == (
        "a required element is missing before 'TransactionMode' in 'CreditCardTxnInputInfo': expected NameOnCard"
    )
