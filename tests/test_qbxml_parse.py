"""Parsing responses and requests: every recorded fixture, lenient parsing of invalid ones,
hypothesis round trips of arbitrary text, and bounded memory while streaming."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbsync.errors import InvalidInput
from qbsync.qbxml import Request, RsSpec, build_request, build_response, iter_response, load_schema, parse_request, parse_response



def fixtures_dir(published_xsd: Path) -> Path:
    return published_xsd.parent / "qbxml-fixtures"


def all_fixture_files(published_xsd: Path) -> list[Path]:
    files = sorted(p for p in fixtures_dir(published_xsd).rglob("*.xml"))
    assert len(files) >= 40, "the shared fixtures are missing"
    return files


def is_response(text: str) -> bool:
    return "<QBXMLMsgsRs" in text


def test_every_fixture_parses_without_crashing(published_xsd):
    schemas = [load_schema(), load_schema("16.0", published_xsd / "16.0")]
    for path in all_fixture_files(published_xsd):
        text = path.read_text(encoding="utf-8")
        for schema in schemas:
            if is_response(text):
                msg = parse_response(text, schema=schema)
                assert msg.responses, path
                for rs in msg.responses:
                    assert rs.name and rs.status_severity, path
            elif "<QBXMLMsgsRq" in text:
                msg = parse_request(text, schema=schema)
                assert msg.on_error is not None or "invalid_missing_onerror" in path.name, path


def test_hand_edited_invalid_responses_parse_with_warnings(published_xsd):
    fixtures = fixtures_dir(published_xsd)
    schema = load_schema("13.0", published_xsd / "13.0")
    mixed = parse_response((fixtures / "hotglue-qbwc-common/customer-batch-mixed.response.xml").read_text(), schema=schema)
    assert [r.status_code for r in mixed.responses] == [0, 3100, 3250, 3130, 0]
    assert mixed.warnings and any("Sublevel" in w or "CompanyName" in w for w in mixed.warnings)
    assert mixed.responses[1].status_severity == "Error" and not mixed.responses[1].rets
    assert mixed.responses[0].rets[0][0] == "CustomerRet"
    payment = parse_response((fixtures / "qbwc-qbxml-gem/responses/receive_payment_query_rs.xml").read_text(), schema=schema)
    assert payment.warnings and payment.responses[0].records


def test_iterator_and_status_fields(published_xsd):
    text = (fixtures_dir(published_xsd) / "qbwc-qbxml-gem/responses/customer_query_terator_rs.xml").read_text()
    rs = parse_response(text).responses[0]
    assert rs.name == "CustomerQuery"
    assert rs.iterator_remaining_count == 18
    assert rs.iterator_id and rs.iterator_id.startswith("{eb05f701")
    assert rs.status_code == 0 and rs.ok
    assert all(name == "CustomerRet" for name, _ in rs.rets)


def test_repeated_elements_are_lists_by_schema():
    xml = build_response(
        [
            RsSpec(
                "InvoiceQuery",
                request_id="q",
                rets=[
                    (
                        "InvoiceRet",
                        {
                            "TxnID": "1-1",
                            "TimeCreated": "2026-01-01T00:00:00",
                            "TimeModified": "2026-01-01T00:00:00",
                            "EditSequence": "1",
                            "TxnNumber": 1,
                            "CustomerRef": {"ListID": "80000001-1", "FullName": "Acme"},
                            "TxnDate": "2026-01-01",
                            "InvoiceLineRet": [{"TxnLineID": "2-1", "Desc": "only line", "Amount": "5.00"}],
                        },
                    )
                ],
            )
        ]
    )
    rec = parse_response(xml).responses[0].records[0]
    assert rec["InvoiceLineRet"] == [{"TxnLineID": "2-1", "Desc": "only line", "Amount": "5.00"}]
    assert rec["CustomerRef"] == {"ListID": "80000001-1", "FullName": "Acme"}


def test_message_set_attributes_and_several_responses():
    xml = build_response(
        [RsSpec("CustomerQuery", request_id="a", status_code=1, message="A query request did not find a matching object in QuickBooks"), RsSpec("ItemQuery", request_id="b", status_code=1)],
        new_message_set_id="ms-1",
        message_set_status_code=0,
    )
    msg = parse_response(xml)
    assert msg.new_message_set_id == "ms-1" and msg.message_set_status_code == 0
    assert [(r.request_id, r.status_code) for r in msg.responses] == [("a", 1), ("b", 1)]
    assert msg.by_request_id()["b"].name == "ItemQuery"


def test_not_well_formed_is_one_clear_error():
    with pytest.raises(InvalidInput, match="not well-formed"):
        parse_response("<QBXML><QBXMLMsgsRs><CustomerAddRs")
    with pytest.raises(InvalidInput):
        parse_request("<QBXML><oops/></QBXML>")


# Text QuickBooks can carry: any XML character, including markup characters and non-ASCII.
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufffe\uffff", min_codepoint=0x20).filter(lambda c: c not in "\r"),
    max_size=41,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=xml_text.filter(lambda s: s.strip() == s), memo=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=200))
def test_build_parse_round_trip_keeps_arbitrary_text(name, memo):
    xml = build_request([Request("CustomerAdd", {"Name": name, "Notes": memo}, request_id="rt")])
    parsed = parse_request(xml).requests[0]
    assert parsed.name == "CustomerAdd" and parsed.request_id == "rt"
    assert parsed.data.get("Name", "") == name
    assert parsed.data.get("Notes", "") == memo
    back = build_response([RsSpec("CustomerQuery", rets=[("CustomerRet", {"ListID": "1-1", "TimeCreated": "2026-01-01T00:00:00", "TimeModified": "2026-01-01T00:00:00", "EditSequence": "1", "Name": name, "FullName": name, "Sublevel": 0, "Notes": memo})])])
    rec = parse_response(back).responses[0].records[0]
    assert rec.get("Name", "") == name and rec.get("Notes", "") == memo


def customer_ret(i: int) -> str:
    return (
        f"<CustomerRet><ListID>{80000000 + i}-1700000000</ListID><TimeCreated>2026-01-01T00:00:00</TimeCreated>"
        f"<TimeModified>2026-01-01T00:00:00</TimeModified><EditSequence>1700000000</EditSequence><Name>Customer {i}</Name>"
        f"<FullName>Customer {i}</FullName><IsActive>true</IsActive><Sublevel>0</Sublevel>"
        f"<BillAddress><Addr1>{i} Long Street Name For Padding</Addr1><City>Springfield</City><State>IL</State><PostalCode>62701</PostalCode></BillAddress>"
        f"<Phone>555-0100</Phone><Email>customer{i}@example.com</Email><Notes>{'n' * 300}</Notes></CustomerRet>"
    )


def big_response(records: int) -> bytes:
    head = b'<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK" iteratorRemainingCount="0" iteratorID="{x}">'
    body = "".join(customer_ret(i) for i in range(records)).encode()
    return head + body + b"</CustomerQueryRs></QBXMLMsgsRs></QBXML>"


# VmHWM is this address space's peak RSS (ru_maxrss would carry the parent's across exec).
STREAM_SCRIPT = """
import re, sys
from pathlib import Path
from qbsync.qbxml import iter_response
count = 0
for header, ret_name, record in iter_response(Path(sys.argv[1])):
    if ret_name is not None:
        count += 1
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
print(count, header.iterator_remaining_count, peak_kb // 1024)
"""


def test_streaming_a_50mb_response_holds_bounded_memory(tmp_path):
    path = tmp_path / "big.xml"
    path.write_bytes(big_response(75_000))
    assert path.stat().st_size > 50_000_000
    out = subprocess.run([sys.executable, "-c", STREAM_SCRIPT, str(path)], capture_output=True, text=True, check=True)
    count, remaining, peak_mb = out.stdout.split()
    assert (count, remaining) == ("75000", "0")
    # A parsed tree of this file would take several hundred MB; streaming keeps the process
    # near its start-up size (interpreter + lxml + schema ~ 40 MB).
    assert int(peak_mb) < 90, f"peak RSS {peak_mb} MB while streaming a 50 MB response"


def test_plain_fields_of_delete_responses_are_kept():
    xml = build_response(
        [RsSpec("ListDel", request_id="d", rets=[]), RsSpec("CustomerQuery", request_id="q", status_code=1, message="none")],
        validate=False,
    ).replace(
        '<ListDelRs requestID="d" statusCode="0" statusSeverity="Info" statusMessage="Status OK"/>',
        '<ListDelRs requestID="d" statusCode="0" statusSeverity="Info" statusMessage="Status OK"><ListDelType>Customer</ListDelType>'
        "<ListID>80000001-1</ListID><TimeDeleted>2026-11-26T08:00:00-08:00</TimeDeleted><FullName>Acme</FullName></ListDelRs>",
    )
    msg = parse_response(xml)
    assert not msg.warnings
    deleted = msg.responses[0]
    assert deleted.fields == {"ListDelType": "Customer", "ListID": "80000001-1", "TimeDeleted": "2026-11-26T08:00:00-08:00", "FullName": "Acme"}
    assert deleted.rets == [] and msg.responses[1].fields == {}


def test_request_response_data_attribute():
    xml = build_request([Request("CustomerQuery", {})]).replace('onError="stopOnError"', 'onError="stopOnError" responseData="includeNone"')
    assert parse_request(xml).response_data == "includeNone"
