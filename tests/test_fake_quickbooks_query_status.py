"""FakeQuickBooks answers queries with the status codes real QuickBooks uses
(qbxml-status-codes.md): a key that does not exist is 500 (Warn) and the rows of the keys that
do exist still come back; only filters that match nothing are 1 (Info); a From later than its
To is 3030 (3031 for a name range); an ID that is not in QuickBooks' shape is 3000.

Raw qbXML in, raw qbXML out: every response is validated against Intuit's published 13.0 and
16.0 schemas before it is read.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from qbsync.testing.fake_quickbooks import FakeQuickBooks

PST = timezone(timedelta(hours=-8))
NOON = datetime(2026, 11, 26, 12, 0, 0, tzinfo=PST)
NO_MATCH = (1, "Info", "A query request did not find a matching object in QuickBooks")
MISSING_ID = "80000999-1700000000"  # QuickBooks' shape, but no such record


@pytest.fixture(scope="module")
def schemas(published_xsd: Path) -> dict[str, etree.XMLSchema]:
    out = {}
    for version in ("13.0", "16.0"):
        entry = published_xsd / version / f"qbxmlops{version.replace('.', '')}.xsd"
        assert entry.is_file(), f"missing {entry}"
        out[version] = etree.XMLSchema(etree.parse(str(entry)))
    return out


@pytest.fixture
def fq() -> FakeQuickBooks:
    return FakeQuickBooks(clock=lambda: NOON)


def ask(fq: FakeQuickBooks, schemas: dict[str, etree.XMLSchema], *requests: str, on_error: str = "continueOnError") -> list[etree._Element]:
    """Send the request elements as one message; the schema-valid response elements."""
    xml = (f'<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML>'
           f'<QBXMLMsgsRq onError="{on_error}">{"".join(requests)}</QBXMLMsgsRq></QBXML>')
    reply = fq.process(xml)
    assert reply.hresult == "", f"the request itself was refused: {reply.message}"
    doc = etree.fromstring(reply.xml.encode())
    for version, schema in schemas.items():
        assert schema.validate(doc), f"{version}: {schema.error_log}\n{reply.xml}"
    return list(doc.find("QBXMLMsgsRs"))


def status(rs: etree._Element) -> tuple[int, str, str]:
    return int(rs.get("statusCode")), rs.get("statusSeverity"), rs.get("statusMessage")


def rows(rs: etree._Element, field: str) -> list[str]:
    return [ret.findtext(field) for ret in rs if ret.tag.endswith("Ret")]


@pytest.fixture
def company(fq: FakeQuickBooks) -> dict[str, str]:
    """Acme (with invoice 1001), Idle (no invoices), vendor Supplier, item Labor; their IDs."""
    fq.create("ItemService", {"Name": "Labor", "SalesOrPurchase": {"AccountRef": {"FullName": "Services"}}})
    acme = fq.create("Customer", {"Name": "Acme"})
    idle = fq.create("Customer", {"Name": "Idle"})
    vendor = fq.create("Vendor", {"Name": "Supplier"})
    invoice = fq.create("Invoice", {"CustomerRef": {"FullName": "Acme"}, "RefNumber": "1001", "TxnDate": "2026-11-26",
                                    "InvoiceLineAdd": [{"Desc": "Work", "Amount": "10.00"}]})
    return {"acme": acme["ListID"], "idle": idle["ListID"], "vendor": vendor["ListID"], "invoice": invoice["TxnID"]}


# ---- 500: a key that does not exist -----------------------------------------------------------


def test_a_full_name_that_does_not_exist_is_a_500_warning_not_1(fq, schemas, company):
    (rs,) = ask(fq, schemas, '<CustomerQueryRq requestID="1"><FullName>Nobody</FullName></CustomerQueryRq>')
    assert status(rs) == (500, "Warn", 'The query request has not been fully completed. There was a required element '
                                       '("Nobody") that could not be found in QuickBooks.')
    assert rows(rs, "ListID") == []


@pytest.mark.parametrize("query,key,present,missing,field", [
    ("CustomerQueryRq", "ListID", "{acme}", MISSING_ID, "ListID"),
    ("CustomerQueryRq", "FullName", "Acme", "Nobody", "ListID"),
    ("VendorQueryRq", "ListID", "{vendor}", MISSING_ID, "ListID"),
    ("ItemQueryRq", "FullName", "Labor", "No Such Item", "ListID"),
    ("InvoiceQueryRq", "TxnID", "{invoice}", "999-1700000000", "TxnID"),
    ("InvoiceQueryRq", "RefNumber", "1001", "2002", "TxnID"),
    ("InvoiceQueryRq", "RefNumberCaseSensitive", "1001", "2002", "TxnID"),
])
def test_missing_keys_are_500_and_the_keys_that_exist_still_return_their_rows(fq, schemas, company, query, key, present,
                                                                                missing, field):
    (rs,) = ask(fq, schemas, f'<{query}><{key}>{present.format(**company)}</{key}><{key}>{missing}</{key}></{query}>')
    code, severity, message = status(rs)
    assert (code, severity) == (500, "Warn")
    assert f'("{missing}")' in message
    assert len(rows(rs, field)) == 1


@pytest.mark.parametrize("query,key,value", [
    ("CustomerQueryRq", "ListID", MISSING_ID),
    ("AccountQueryRq", "FullName", "No Such Account"),
    ("InvoiceQueryRq", "TxnID", "999-1700000000"),
    ("InvoiceQueryRq", "RefNumber", "no-such-ref"),
    ("BillQueryRq", "RefNumber", "1001"),  # the RefNumber of an invoice, not of a bill
])
def test_every_key_missing_is_still_500_with_no_rows(fq, schemas, company, query, key, value):
    (rs,) = ask(fq, schemas, f'<{query}><{key}>{value}</{key}></{query}>')
    assert status(rs)[:2] == (500, "Warn")
    assert [el for el in rs if el.tag.endswith("Ret")] == []


def test_a_record_deleted_in_quickbooks_is_500_when_asked_for_by_its_id(fq, schemas, company):
    fq.delete("Invoice", company["invoice"])
    (rs,) = ask(fq, schemas, f'<InvoiceQueryRq><TxnID>{company["invoice"]}</TxnID></InvoiceQueryRq>')
    assert status(rs)[:2] == (500, "Warn") and company["invoice"] in status(rs)[2]


def test_an_entity_filter_naming_a_missing_customer_is_500(fq, schemas, company):
    (by_name,) = ask(fq, schemas, "<InvoiceQueryRq><EntityFilter><FullName>Ghost</FullName></EntityFilter></InvoiceQueryRq>")
    assert status(by_name)[:2] == (500, "Warn") and '("Ghost")' in status(by_name)[2]
    (mixed,) = ask(fq, schemas, f"<InvoiceQueryRq><EntityFilter><ListID>{company['acme']}</ListID><ListID>{MISSING_ID}</ListID>"
                                "</EntityFilter></InvoiceQueryRq>")
    assert status(mixed)[:2] == (500, "Warn") and rows(mixed, "TxnID") == [company["invoice"]]


def test_a_500_does_not_stop_a_stop_on_error_message(fq, schemas, company):
    answers = ask(fq, schemas, '<CustomerQueryRq requestID="1"><FullName>Nobody</FullName></CustomerQueryRq>',
                  '<CustomerAddRq requestID="2"><CustomerAdd><Name>After</Name></CustomerAdd></CustomerAddRq>', on_error="stopOnError")
    assert [status(rs)[0] for rs in answers] == [500, 0]


# ---- 1: filters that match nothing ------------------------------------------------------------


@pytest.mark.parametrize("request_xml", [
    "<CustomerQueryRq><FromModifiedDate>2026-11-27</FromModifiedDate></CustomerQueryRq>",
    "<CustomerQueryRq><ActiveStatus>InactiveOnly</ActiveStatus></CustomerQueryRq>",
    "<CustomerQueryRq><NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>Zed</Name></NameFilter></CustomerQueryRq>",
    "<CustomerQueryRq><NameRangeFilter><FromName>X</FromName><ToName>Y</ToName></NameRangeFilter></CustomerQueryRq>",
    "<InvoiceQueryRq><ModifiedDateRangeFilter><ToModifiedDate>2026-11-25</ToModifiedDate></ModifiedDateRangeFilter></InvoiceQueryRq>",
    "<InvoiceQueryRq><TxnDateRangeFilter><FromTxnDate>2026-12-01</FromTxnDate></TxnDateRangeFilter></InvoiceQueryRq>",
    "<InvoiceQueryRq><EntityFilter><FullName>Idle</FullName></EntityFilter></InvoiceQueryRq>",  # exists, no invoices
    "<InvoiceQueryRq><RefNumberFilter><MatchCriterion>StartsWith</MatchCriterion><RefNumber>9</RefNumber></RefNumberFilter></InvoiceQueryRq>",
    "<InvoiceQueryRq><PaidStatus>PaidOnly</PaidStatus></InvoiceQueryRq>",
    "<BillQueryRq/>",
    "<ListDeletedQueryRq><ListDelType>Customer</ListDelType></ListDeletedQueryRq>",
])
def test_filters_that_match_nothing_are_1(fq, schemas, company, request_xml):
    (rs,) = ask(fq, schemas, request_xml)
    assert status(rs) == NO_MATCH
    assert [el for el in rs if el.tag.endswith("Ret")] == []


# ---- 3030 / 3031: a range whose From is later than its To -------------------------------------


@pytest.mark.parametrize("request_xml,bounds", [
    ("<CustomerQueryRq><FromModifiedDate>2026-11-27</FromModifiedDate><ToModifiedDate>2026-11-26</ToModifiedDate></CustomerQueryRq>",
     ("FromModifiedDate", "2026-11-27", "ToModifiedDate", "2026-11-26")),
    ("<CustomerQueryRq><FromModifiedDate>2026-11-26T12:00:01-08:00</FromModifiedDate>"
     "<ToModifiedDate>2026-11-26T12:00:00-08:00</ToModifiedDate></CustomerQueryRq>",
     ("FromModifiedDate", "2026-11-26T12:00:01-08:00", "ToModifiedDate", "2026-11-26T12:00:00-08:00")),
    ("<InvoiceQueryRq><ModifiedDateRangeFilter><FromModifiedDate>2026-11-27</FromModifiedDate>"
     "<ToModifiedDate>2026-11-01</ToModifiedDate></ModifiedDateRangeFilter></InvoiceQueryRq>",
     ("FromModifiedDate", "2026-11-27", "ToModifiedDate", "2026-11-01")),
    ("<InvoiceQueryRq><TxnDateRangeFilter><FromTxnDate>2026-11-27</FromTxnDate><ToTxnDate>2026-11-26</ToTxnDate>"
     "</TxnDateRangeFilter></InvoiceQueryRq>",
     ("FromTxnDate", "2026-11-27", "ToTxnDate", "2026-11-26")),
    ("<TxnDeletedQueryRq><TxnDelType>Invoice</TxnDelType><DeletedDateRangeFilter><FromDeletedDate>2026-11-27</FromDeletedDate>"
     "<ToDeletedDate>2026-11-26</ToDeletedDate></DeletedDateRangeFilter></TxnDeletedQueryRq>",
     ("FromDeletedDate", "2026-11-27", "ToDeletedDate", "2026-11-26")),
])
def test_a_date_range_from_later_than_to_is_3030(fq, schemas, company, request_xml, bounds):
    (rs,) = ask(fq, schemas, request_xml)
    from_key, from_value, to_key, to_value = bounds
    assert status(rs) == (3030, "Error", f'Invalid date range: the From date ({from_key} "{from_value}") is later than '
                                         f'the To date ({to_key} "{to_value}").')
    assert list(rs) == []


def test_one_day_as_from_and_to_is_a_valid_range(fq, schemas, company):
    (rs,) = ask(fq, schemas, "<CustomerQueryRq><FromModifiedDate>2026-11-26</FromModifiedDate>"
                             "<ToModifiedDate>2026-11-26</ToModifiedDate></CustomerQueryRq>")
    assert status(rs)[0] == 0 and rows(rs, "Name") == ["Acme", "Idle"]


def test_a_name_range_from_after_to_is_3031(fq, schemas, company):
    (rs,) = ask(fq, schemas, "<CustomerQueryRq><NameRangeFilter><FromName>b</FromName><ToName>A</ToName></NameRangeFilter></CustomerQueryRq>")
    assert status(rs)[:2] == (3031, "Error") and "NameRangeFilter" in status(rs)[2]
    (fine,) = ask(fq, schemas, "<CustomerQueryRq><NameRangeFilter><FromName>a</FromName><ToName>B</ToName></NameRangeFilter></CustomerQueryRq>")
    assert status(fine)[0] == 0 and rows(fine, "Name") == ["Acme"]


def test_a_3030_stops_a_stop_on_error_message(fq, schemas, company):
    answers = ask(fq, schemas, "<CustomerQueryRq><FromModifiedDate>2026-11-27</FromModifiedDate><ToModifiedDate>2026-11-26"
                               "</ToModifiedDate></CustomerQueryRq>",
                  "<CustomerAddRq><CustomerAdd><Name>Never</Name></CustomerAdd></CustomerAddRq>", on_error="stopOnError")
    assert [status(rs)[0] for rs in answers] == [3030, 3231]
    assert fq.find("Customer", "Never") is None


# ---- 3000: an ID QuickBooks could not have made ----------------------------------------------


@pytest.mark.parametrize("request_xml,field,bad", [
    ("<CustomerQueryRq><ListID>not-an-id</ListID></CustomerQueryRq>", "ListID", "not-an-id"),
    ("<InvoiceQueryRq><TxnID>12345</TxnID></InvoiceQueryRq>", "TxnID", "12345"),
    ("<InvoiceQueryRq><EntityFilter><ListID>customer 1</ListID></EntityFilter></InvoiceQueryRq>", "ListID", "customer 1"),
    ("<CustomerModRq><CustomerMod><ListID>local:42</ListID><EditSequence>1</EditSequence><Phone>1</Phone></CustomerMod></CustomerModRq>",
     "ListID", "local:42"),
    ("<ListDelRq><ListDelType>Customer</ListDelType><ListID>ACME</ListID></ListDelRq>", "ListID", "ACME"),
    ("<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>INV-1001</TxnID></TxnDelRq>", "TxnID", "INV-1001"),
    ("<InvoiceAddRq><InvoiceAdd><CustomerRef><ListID>{acme}</ListID></CustomerRef><InvoiceLineAdd><ItemRef><ListID>item 7</ListID>"
     "</ItemRef></InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>", "ListID", "item 7"),
    ("<ReceivePaymentAddRq><ReceivePaymentAdd><CustomerRef><FullName>Acme</FullName></CustomerRef><TotalAmount>1.00</TotalAmount>"
     "<AppliedToTxnAdd><TxnID>invoice-1001</TxnID><PaymentAmount>1.00</PaymentAmount></AppliedToTxnAdd></ReceivePaymentAdd>"
     "</ReceivePaymentAddRq>", "TxnID", "invoice-1001"),
])
def test_an_id_not_in_quickbooks_shape_is_3000(fq, schemas, company, request_xml, field, bad):
    (rs,) = ask(fq, schemas, request_xml.format(**company))
    assert status(rs) == (3000, "Error", f'The given object ID "{bad}" in the field "{field}" is invalid.')
    assert list(rs) == []


def test_a_malformed_txn_line_id_in_a_mod_is_3000(fq, schemas, company):
    invoice = fq.get("Invoice", company["invoice"])
    (rs,) = ask(fq, schemas, f"<InvoiceModRq><InvoiceMod><TxnID>{invoice['TxnID']}</TxnID><EditSequence>{invoice['EditSequence']}"
                             "</EditSequence><InvoiceLineMod><TxnLineID>line-1</TxnLineID><Amount>5.00</Amount></InvoiceLineMod>"
                             "</InvoiceMod></InvoiceModRq>")
    assert status(rs)[:2] == (3000, "Error") and '"line-1"' in status(rs)[2]
    assert fq.get("Invoice", company["invoice"])["EditSequence"] == invoice["EditSequence"]  # nothing changed


def test_one_malformed_id_fails_the_whole_query(fq, schemas, company):
    (rs,) = ask(fq, schemas, f"<CustomerQueryRq><ListID>{company['acme']}</ListID><ListID>bogus</ListID></CustomerQueryRq>")
    assert status(rs)[:2] == (3000, "Error") and rows(rs, "ListID") == []


def test_a_well_formed_id_that_does_not_exist_is_not_3000(fq, schemas, company):
    query, mod = ask(fq, schemas, f"<CustomerQueryRq><ListID>{MISSING_ID}</ListID></CustomerQueryRq>",
                     f"<CustomerModRq><CustomerMod><ListID>{MISSING_ID}</ListID><EditSequence>1</EditSequence>"
                     "</CustomerMod></CustomerModRq>")
    assert (status(query)[0], status(mod)[0]) == (500, 3120)
