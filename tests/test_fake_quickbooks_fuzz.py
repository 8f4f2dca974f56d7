"""FakeQuickBooks under generated requests: any schema-valid request of a supported type (random
fields, filters, attributes, characters that need escaping) is processed without a crash, gets
exactly one `…Rs` with a sane status, and the response validates against Intuit's published
13.0 and 16.0 schemas (a 16.0 fake's answers to 16.0 requests: against 16.0)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from strategies import element_tree, request_document

from qbsync.qbxml import load_schema, parse_response
from qbsync.testing.fake_quickbooks import catalog, status
from qbsync.testing.fake_quickbooks import FakeQuickBooks

SCHEMAS = {v: load_schema(v) for v in ("13.0", "16.0")}
REQUESTS = SCHEMAS["13.0"].request_names()
assert REQUESTS == SCHEMAS["16.0"].request_names()
# Refs the fake resolves: generated names would almost always be 3140, so half of the examples
# drop them to let the Add succeed and exercise the Ret built from random fields.
RESOLVED_REFS = set(catalog.REF_TARGETS) | {"ParentRef"}
KNOWN_CODES = set(status.codes())  # the codes `qbsync explain` is checked to know


@pytest.fixture(scope="module")
def published(published_xsd: Path) -> dict[str, etree.XMLSchema]:
    return {v: etree.XMLSchema(etree.parse(str(published_xsd / v / f"qbxmlops{v.replace('.', '')}.xsd"))) for v in ("13.0", "16.0")}


@pytest.fixture(scope="module", params=["13.0", "16.0"])
def company(request) -> FakeQuickBooks:
    return make_company(request.param)


def make_company(version: str = "13.0") -> FakeQuickBooks:
    fq = FakeQuickBooks(version, clock=lambda: datetime(2026, 11, 26, 8, 30, tzinfo=timezone(timedelta(hours=-8))))
    fq.create("Customer", {"Name": "Fuzz Customer"})
    fq.create("Vendor", {"Name": "Fuzz Vendor"})
    fq.create("ItemService", {"Name": "Fuzz Item", "SalesOrPurchase": {"Price": "3.00", "AccountRef": {"FullName": "Services"}}})
    inv = fq.create("Invoice", {"CustomerRef": {"FullName": "Fuzz Customer"}, "InvoiceLineAdd": [{"ItemRef": {"FullName": "Fuzz Item"}, "Quantity": "2"}]})
    fq.create("ReceivePayment", {"CustomerRef": {"FullName": "Fuzz Customer"}, "TotalAmount": "1.00",
                                 "AppliedToTxnAdd": [{"TxnID": inv["TxnID"], "PaymentAmount": "1.00"}]})
    # one record of every type, for Mods aimed at something that exists
    fq.create("Employee", {"FirstName": "Fuzz", "LastName": "Employee"})
    fq.create("ItemNonInventory", {"Name": "Fuzz NI", "SalesOrPurchase": {"AccountRef": {"FullName": "Sales"}}})
    fq.create("ItemOtherCharge", {"Name": "Fuzz OC", "SalesOrPurchase": {"AccountRef": {"FullName": "Sales"}}})
    fq.create("ItemInventory", {"Name": "Fuzz Inv", "IncomeAccountRef": {"FullName": "Sales"}, "COGSAccountRef": {"FullName": "Cost of Goods Sold"},
                                "AssetAccountRef": {"FullName": "Inventory Asset"}})
    fq.create("Class", {"Name": "Fuzz Class"})
    for kind in ("Estimate", "SalesReceipt", "CreditMemo"):
        fq.create(kind, {"CustomerRef": {"FullName": "Fuzz Customer"}, f"{kind}LineAdd": [{"ItemRef": {"FullName": "Fuzz Item"}}]})
    fq.create("Bill", {"VendorRef": {"FullName": "Fuzz Vendor"}, "ItemLineAdd": [{"ItemRef": {"FullName": "Fuzz Item"}, "Quantity": "1"}]})
    return fq


def _aim_at_existing(fq: FakeQuickBooks, name: str, rq: etree._Element, draw) -> None:
    """Point a generated Mod at a record that exists, with its current EditSequence (and
    some of its lines at existing or new TxnLineIDs), so the Mod runs on random fields."""
    type_name = name[: -len("Mod")]
    records = fq.all(type_name)
    mod = rq.find(name)
    if not records or mod is None:
        return
    rec = draw(st.sampled_from(records), label="target")
    info = catalog.get(type_name)
    mod.find(info.id_field).text = rec[info.id_field]
    mod.find("EditSequence").text = rec["EditSequence"]
    line_ids = [ln["TxnLineID"] for kind in info.lines for ln in rec.get(f"{kind}Ret", [])] + ["-1"]
    for line_id in mod.iter("TxnLineID"):
        line_id.text = draw(st.sampled_from(line_ids), label="line")


def _drop_refs(rq: etree._Element) -> None:
    for el in list(rq.iter()):
        if isinstance(el.tag, str) and el.tag in RESOLVED_REFS and el.getparent() is not None:
            el.getparent().remove(el)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_generated_requests_get_valid_quickbooks_answers(company, published, data):
    version = company.qbxml_version
    schema_used = SCHEMAS[version]
    name = data.draw(st.sampled_from(REQUESTS), label="request")
    rq = data.draw(element_tree(schema_used.element(name + "Rq")), label="rq")
    if data.draw(st.booleans(), label="drop refs"):
        _drop_refs(rq)
    if name.endswith("Mod") and data.draw(st.booleans(), label="existing"):
        _aim_at_existing(company, name, rq, data.draw)
    text = request_document(rq, version, data.draw(st.sampled_from(["stopOnError", "continueOnError"]))).decode()
    reply = company.process(text)
    if reply.hresult:
        # dropping a required Ref can make the message invalid: then it is refused, not run
        assert reply.hresult == "0x80040400" and reply.xml is None
        assert schema_used.validate_tree(etree.fromstring(text.split("?>", 2)[-1].encode()))
        return
    doc = etree.fromstring(reply.xml.encode())
    # a 13.0 answer is valid in 13.0 and 16.0; a 16.0 answer may use 16.0-only fields
    for checked, schema in published.items():
        if checked < version:
            continue
        assert schema.validate(doc), f"{checked}: {schema.error_log}\n{text[:1500]}\n{reply.xml[:1500]}"
    msg = parse_response(reply.xml)
    assert [r.name for r in msg.responses] == [name]
    rs = msg.responses[0]
    assert rs.status_code in KNOWN_CODES, (rs.status_code, rs.status_message)
    assert rs.status_severity == ("Info" if rs.status_code < 500 else "Warn" if rs.status_code < 1000 else "Error")
    assert rs.request_id == rq.get("requestID")
