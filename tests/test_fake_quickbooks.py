"""FakeQuickBooks: the company model and the business rules behind QuickBooks' status codes.

Every response a test here makes the fake produce is validated, at teardown, against Intuit's
published 13.0 and 16.0 schemas (QBSYNC_PUBLISHED_XSD).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from qbsync.qbxml import Request, build_request, parse_response
from qbsync.testing.fake_quickbooks import FakeQuickBooks, QbStatus

PST = timezone(timedelta(hours=-8))
LIST_ID = re.compile(r"^[0-9A-F]+-\d{10}$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


class Clock:
    def __init__(self, start: datetime = datetime(2026, 11, 26, 8, 30, 0, tzinfo=PST)):
        self.t = start

    def __call__(self) -> datetime:
        return self.t

    def advance(self, **kw) -> datetime:
        self.t += timedelta(**kw)
        return self.t


@pytest.fixture(scope="session")
def published(published_xsd: Path) -> dict[str, etree.XMLSchema]:
    out = {}
    for version in ("13.0", "16.0"):
        entry = published_xsd / version / f"qbxmlops{version.replace('.', '')}.xsd"
        assert entry.is_file(), f"missing {entry}"
        out[version] = etree.XMLSchema(etree.parse(str(entry)))
    return out


def assert_published_valid(fq: FakeQuickBooks, published: dict[str, etree.XMLSchema]) -> None:
    for exchange in fq.history:
        if exchange.reply is None or exchange.reply.xml is None:
            continue
        doc = etree.fromstring(exchange.reply.xml.encode())
        for version, schema in published.items():
            assert schema.validate(doc), f"{version}: {schema.error_log}\n{exchange.reply.xml[:2000]}"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fq(clock, published):
    company = FakeQuickBooks(clock=clock)
    yield company
    assert_published_valid(company, published)


def send(fq: FakeQuickBooks, *requests: Request, on_error="stopOnError", version="13.0", **kw):
    xml = build_request(list(requests), version=version, on_error=on_error, **kw)
    reply = fq.process(xml)
    assert reply.hresult == "", reply
    return parse_response(reply.xml)


def one(fq: FakeQuickBooks, name: str, data=None, **kw):
    msg = send(fq, Request(name, data or {}, request_id=kw.pop("request_id", "1"), attrs=kw.pop("attrs", {}),
                           include_ret=kw.pop("include_ret", ())), **kw)
    assert len(msg.responses) == 1
    return msg.responses[0]


def del_fields(fq: FakeQuickBooks) -> dict:
    """The fields of the last ListDelRs/TxnDelRs (they sit in the Rs itself, read with lxml)."""
    rs = etree.fromstring(fq.history[-1].reply.xml.encode()).find("QBXMLMsgsRs")[0]
    return {c.tag: c.text for c in rs}


def add_customer(fq, name, **fields):
    rs = one(fq, "CustomerAdd", {"Name": name, **fields})
    assert rs.status_code == 0, rs.status_message
    return rs.records[0]


def seed_items(fq):
    fq.create("ItemService", {"Name": "Installation", "SalesOrPurchase": {"Price": "150.00", "AccountRef": {"FullName": "Services"}}})
    fq.create("ItemNonInventory", {"Name": "Widget", "SalesOrPurchase": {"Desc": "Blue widget", "Price": "19.99", "AccountRef": {"FullName": "Sales"}}})


# ---- Add / Ret shapes -----------------------------------------------------------------------


def test_customer_add_returns_quickbooks_shaped_ret(fq, clock):
    rs = one(fq, "CustomerAdd", {"Name": "Acme", "CompanyName": "Acme Inc",
                                 "BillAddress": {"Addr1": "1 Main St", "City": "Springfield", "State": "CA", "PostalCode": "94000"}})
    assert (rs.status_code, rs.status_severity, rs.status_message, rs.request_id) == (0, "Info", "Status OK", "1")
    c = rs.records[0]
    assert LIST_ID.match(c["ListID"]) and c["ListID"].startswith("8000")
    assert c["ListID"].endswith(str(int(clock.t.timestamp())))
    assert c["TimeCreated"] == c["TimeModified"] == "2026-11-26T08:30:00-08:00"
    assert c["EditSequence"].isdigit() and len(c["EditSequence"]) <= 16
    assert (c["Name"], c["FullName"], c["IsActive"], c["Sublevel"]) == ("Acme", "Acme", "true", "0")
    assert (c["Balance"], c["TotalBalance"]) == ("0.00", "0.00")
    assert c["BillAddressBlock"] == {"Addr1": "1 Main St", "Addr2": "Springfield, CA 94000"}
    assert c["SalesTaxCodeRef"]["FullName"] == "Tax" and c["SalesTaxCodeRef"]["ListID"]


def test_each_add_gets_a_new_list_id(fq):
    a, b = add_customer(fq, "A"), add_customer(fq, "B")
    assert a["ListID"] != b["ListID"]
    assert int(b["ListID"].split("-")[0], 16) == int(a["ListID"].split("-")[0], 16) + 1


@pytest.mark.parametrize("type_name,data", [
    ("Vendor", {"Name": "Paper Supply", "VendorAddress": {"Addr1": "9 Mill Rd", "City": "Salem"}, "TermsRef": {"FullName": "Net 30"}}),
    ("Employee", {"FirstName": "Ann", "LastName": "Lee", "EmployeeAddress": {"Addr1": "1 Elm"}}),
    ("ItemService", {"Name": "Consulting", "SalesOrPurchase": {"Price": "95.00", "AccountRef": {"FullName": "Services"}}}),
    ("ItemNonInventory", {"Name": "Cable", "SalesAndPurchase": {"SalesPrice": "5.00", "IncomeAccountRef": {"FullName": "Sales"},
                                                                 "PurchaseCost": "2.00", "ExpenseAccountRef": {"FullName": "Office Supplies"}}}),
    ("ItemInventory", {"Name": "Gadget", "SalesPrice": "12.50", "IncomeAccountRef": {"FullName": "Sales"}, "PurchaseCost": "4.00",
                       "COGSAccountRef": {"FullName": "Cost of Goods Sold"}, "AssetAccountRef": {"FullName": "Inventory Asset"},
                       "QuantityOnHand": "7"}),
    ("ItemOtherCharge", {"Name": "Shipping", "SalesOrPurchase": {"Price": "10.00", "AccountRef": {"FullName": "Sales"}}}),
    ("Class", {"Name": "West"}),
    ("StandardTerms", {"Name": "Net 45", "StdDueDays": "45"}),
    ("Account", {"Name": "Savings", "AccountType": "Bank", "AccountNumber": "1010"}),
    ("SalesTaxCode", {"Name": "Out", "IsTaxable": "false", "Desc": "Out of state"}),
])
def test_every_list_type_adds_and_queries(fq, type_name, data):
    rs = one(fq, f"{type_name}Add", data)
    assert rs.status_code == 0, rs.status_message
    ret_name, ret = rs.rets[0]
    assert ret_name == f"{type_name}Ret" and LIST_ID.match(ret["ListID"]) and STAMP.match(ret["TimeModified"])
    for key, value in data.items():
        if key.endswith("Ref") and key in ret:
            assert ret[key]["ListID"] and ret[key]["FullName"] == value["FullName"]
    q = one(fq, f"{type_name}Query", {"ListID": [ret["ListID"]]})
    assert q.status_code == 0 and q.records[0]["ListID"] == ret["ListID"]
    if type_name == "Employee":
        assert ret["Name"] == "Ann Lee"
    if type_name == "ItemInventory":
        assert (ret["QuantityOnHand"], ret["AverageCost"]) == ("7", "4.00")
    if type_name != "StandardTerms":  # QuickBooks has no StandardTermsMod
        mod = one(fq, f"{type_name}Mod", {"ListID": ret["ListID"], "EditSequence": ret["EditSequence"], "IsActive": "false"})
        assert mod.status_code == 0 and mod.records[0]["IsActive"] == "false"


# ---- names: jobs, FullName, 3100 ------------------------------------------------------------


def test_jobs_have_full_name_and_sublevel_and_follow_a_parent_rename(fq, clock):
    parent = add_customer(fq, "Acme")
    job = add_customer(fq, "Roof", ParentRef={"FullName": "Acme"})
    assert (job["FullName"], job["Sublevel"], job["ParentRef"]) == ("Acme:Roof", "1", {"ListID": parent["ListID"], "FullName": "Acme"})
    sub = add_customer(fq, "Phase 1", ParentRef={"ListID": job["ListID"]})
    assert (sub["FullName"], sub["Sublevel"]) == ("Acme:Roof:Phase 1", "2")
    clock.advance(minutes=1)
    renamed = one(fq, "CustomerMod", {"ListID": parent["ListID"], "EditSequence": parent["EditSequence"], "Name": "Acme Corp"})
    assert renamed.status_code == 0 and renamed.records[0]["FullName"] == "Acme Corp"
    q = one(fq, "CustomerQuery", {"FullName": ["Acme Corp:Roof:Phase 1"]})
    assert q.status_code == 0 and q.records[0]["ParentRef"]["FullName"] == "Acme Corp:Roof"
    assert one(fq, "CustomerQuery", {"FullName": ["Acme:Roof"]}).status_code == 500  # the old name is no key now


def test_3100_names_are_unique_across_customers_vendors_employees(fq):
    add_customer(fq, "Example Hardware Co")
    dup = one(fq, "CustomerAdd", {"Name": "example hardware co"})
    assert (dup.status_code, dup.status_severity) == (3100, "Error")
    assert dup.status_message == 'The name "example hardware co" of the list element is already in use.'
    assert dup.rets == []
    assert one(fq, "VendorAdd", {"Name": "Example Hardware Co"}).status_code == 3100
    fq.create("Employee", {"FirstName": "Jo", "LastName": "Smith"})
    assert one(fq, "CustomerAdd", {"Name": "Jo Smith"}).status_code == 3100


def test_3100_scopes_jobs_by_full_name_and_other_lists_separately(fq):
    add_customer(fq, "Acme")
    add_customer(fq, "Roof", ParentRef={"FullName": "Acme"})
    assert one(fq, "CustomerAdd", {"Name": "Roof"}).status_code == 0  # "Roof" differs from "Acme:Roof"
    assert one(fq, "CustomerAdd", {"Name": "Roof", "ParentRef": {"FullName": "Acme"}}).status_code == 3100
    assert one(fq, "ClassAdd", {"Name": "Acme"}).status_code == 0  # classes are their own list
    fq.create("ItemService", {"Name": "Labor", "SalesOrPurchase": {"AccountRef": {"FullName": "Services"}}})
    other_type = one(fq, "ItemNonInventoryAdd", {"Name": "Labor", "SalesOrPurchase": {"AccountRef": {"FullName": "Sales"}}})
    assert other_type.status_code == 3100  # one item list


def test_inactive_records_still_hold_their_name(fq):
    c = add_customer(fq, "Dormant")
    fq.make_inactive("Customer", c["ListID"])
    assert one(fq, "CustomerAdd", {"Name": "Dormant"}).status_code == 3100


def test_renaming_onto_a_used_name_is_3100(fq):
    add_customer(fq, "One")
    two = add_customer(fq, "Two")
    rs = one(fq, "CustomerMod", {"ListID": two["ListID"], "EditSequence": two["EditSequence"], "Name": "ONE"})
    assert rs.status_code == 3100


# ---- 3120 / 3130 / 3140 ---------------------------------------------------------------------


def test_3120_for_mod_and_delete_of_unknown_ids(fq):
    rs = one(fq, "CustomerMod", {"ListID": "80000099-1705334400", "EditSequence": "1", "Phone": "1"})
    assert (rs.status_code, rs.status_severity) == (3120, "Error")
    assert rs.status_message == 'Object "80000099-1705334400" specified in the request cannot be found.'
    assert one(fq, "ListDel", {"ListDelType": "Customer", "ListID": "80000099-1705334400"}).status_code == 3120
    assert one(fq, "TxnDel", {"TxnDelType": "Invoice", "TxnID": "99-1705334400"}).status_code == 3120
    c = add_customer(fq, "Typed")
    assert one(fq, "ListDel", {"ListDelType": "Vendor", "ListID": c["ListID"]}).status_code == 3120


def test_3140_invalid_reference_names_the_list_and_the_object(fq):
    rs = one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": "Nobody"}, "InvoiceLineAdd": [{"Desc": "x"}]})
    assert rs.status_code == 3140
    assert rs.status_message == ('There is an invalid reference to QuickBooks Customer "Nobody" in the Invoice.  '
                                 "QuickBooks error message: Invalid argument.  The specified record does not exist in the list.")
    add_customer(fq, "Somebody")
    rs = one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": "Somebody"}, "InvoiceLineAdd": [{"ItemRef": {"FullName": "sooo wrong"}}]})
    assert rs.status_code == 3140 and 'QuickBooks Item "sooo wrong" in the Invoice line.' in rs.status_message
    rs = one(fq, "CustomerAdd", {"Name": "X", "TermsRef": {"FullName": "Net 99"}})
    assert rs.status_code == 3140 and 'QuickBooks Terms "Net 99"' in rs.status_message
    assert fq.find("Customer", "X") is None  # nothing was saved


def test_3130_invalid_parent_reference(fq):
    rs = one(fq, "CustomerAdd", {"Name": "Orphan", "ParentRef": {"FullName": "NONEXISTENT-PARENT-CUSTOMER"}})
    assert rs.status_code == 3130
    assert rs.status_message.startswith('There is an invalid reference to a parent "NONEXISTENT-PARENT-CUSTOMER" in the Customers list.')


def test_refs_resolve_by_list_id_and_return_both_keys(fq):
    c = add_customer(fq, "ById")
    seed_items(fq)
    widget = fq.find("ItemNonInventory", "Widget")
    rs = one(fq, "InvoiceAdd", {"CustomerRef": {"ListID": c["ListID"]}, "InvoiceLineAdd": [{"ItemRef": {"ListID": widget["ListID"]}, "Quantity": "1"}]})
    inv = rs.records[0]
    assert inv["CustomerRef"] == {"ListID": c["ListID"], "FullName": "ById"}
    assert inv["InvoiceLineRet"][0]["ItemRef"] == {"ListID": widget["ListID"], "FullName": "Widget"}


# ---- 3200 and EditSequence ------------------------------------------------------------------


def test_3200_after_a_change_in_quickbooks(fq, clock):
    c = add_customer(fq, "Stale Inc")
    clock.advance(minutes=5)
    changed = fq.edit("Customer", c["ListID"], {"Phone": "555-0199"})
    assert changed["EditSequence"] != c["EditSequence"] and changed["TimeModified"] == "2026-11-26T08:35:00-08:00"
    rs = one(fq, "CustomerMod", {"ListID": c["ListID"], "EditSequence": c["EditSequence"], "Email": "a@b.c"})
    assert (rs.status_code, rs.status_severity) == (3200, "Error")
    assert rs.status_message == f'The provided edit sequence "{c["EditSequence"]}" is out-of-date. '
    assert fq.get("Customer", c["ListID"]).get("Email") is None
    ok = one(fq, "CustomerMod", {"ListID": c["ListID"], "EditSequence": changed["EditSequence"], "Email": "a@b.c"})
    assert ok.status_code == 0 and ok.records[0]["Phone"] == "555-0199" and ok.records[0]["Email"] == "a@b.c"


def test_edit_sequence_changes_on_every_modification_even_within_a_second(fq):
    c = add_customer(fq, "Quick")
    seen = {c["EditSequence"]}
    es = c["EditSequence"]
    for i in range(3):
        rs = one(fq, "CustomerMod", {"ListID": c["ListID"], "EditSequence": es, "Phone": str(i)})
        assert rs.status_code == 0
        es = rs.records[0]["EditSequence"]
        assert es not in seen and len(es) <= 16
        seen.add(es)


def test_mod_merges_aggregates_and_empty_value_clears(fq):
    c = add_customer(fq, "Merge", BillAddress={"Addr1": "1 Main", "City": "Salem"}, Phone="1")
    rs = one(fq, "CustomerMod", {"ListID": c["ListID"], "EditSequence": c["EditSequence"], "BillAddress": {"City": "Boston"}, "Phone": ""})
    got = rs.records[0]
    assert got["BillAddress"] == {"Addr1": "1 Main", "City": "Boston"} and "Phone" not in got


# ---- 3170 / 3175 locks ----------------------------------------------------------------------


@pytest.mark.parametrize("code,fragment", [(3170, "modified by another user"), (3175, "could not be locked")])
def test_locked_record_fails_mod_and_delete_until_unlocked(fq, code, fragment):
    c = add_customer(fq, "Busy")
    fq.lock("Customer", c["ListID"], code=code)
    rs = one(fq, "CustomerMod", {"ListID": c["ListID"], "EditSequence": c["EditSequence"], "Phone": "1"})
    assert rs.status_code == code and fragment in rs.status_message and rs.status_severity == "Error"
    assert one(fq, "ListDel", {"ListDelType": "Customer", "ListID": c["ListID"]}).status_code == code
    fq.unlock("Customer", c["ListID"])
    assert one(fq, "CustomerMod", {"ListID": c["ListID"], "EditSequence": c["EditSequence"], "Phone": "1"}).status_code == 0


def test_lock_rejects_other_codes(fq):
    with pytest.raises(ValueError):
        fq.lock("Customer", "x", code=3200)


# ---- transactions, totals, payments ---------------------------------------------------------


def test_invoice_totals_lines_and_ids(fq, clock):
    add_customer(fq, "Example Hardware Co")
    seed_items(fq)
    rs = one(fq, "InvoiceAdd", {
        "CustomerRef": {"FullName": "Example Hardware Co"}, "TxnDate": "2026-11-20", "RefNumber": "INV-1001",
        "TermsRef": {"FullName": "Net 30"},
        "InvoiceLineAdd": [
            {"ItemRef": {"FullName": "Widget"}, "Quantity": "3", "Rate": "19.99"},
            {"ItemRef": {"FullName": "Installation"}, "Amount": "150.00"},
            {"ItemRef": {"FullName": "Widget"}, "Quantity": "2"},
        ]})
    assert rs.status_code == 0, rs.status_message
    inv = rs.records[0]
    assert re.match(r"^[0-9A-F]+-\d{10}$", inv["TxnID"]) and inv["TxnNumber"] == "1"
    lines = inv["InvoiceLineRet"]
    assert [ln["Amount"] for ln in lines] == ["59.97", "150.00", "39.98"]
    assert lines[1]["Rate"] == "150.00" and lines[2]["Rate"] == "19.99" and lines[2]["Desc"] == "Blue widget"
    assert len({ln["TxnLineID"] for ln in lines} | {inv["TxnID"]}) == 4
    assert all(re.match(r"^[0-9A-F]+-\d{10}$", ln["TxnLineID"]) for ln in lines)
    assert (inv["Subtotal"], inv["SalesTaxTotal"], inv["AppliedAmount"], inv["BalanceRemaining"], inv["IsPaid"]) == \
        ("249.95", "0.00", "0.00", "249.95", "false")
    assert inv["DueDate"] == "2026-12-20" and inv["ARAccountRef"]["FullName"] == "Accounts Receivable"
    cust = fq.find("Customer", "Example Hardware Co")
    assert (cust["Balance"], cust["TotalBalance"]) == ("249.95", "249.95")


def test_invoice_ref_numbers_are_assigned_when_missing(fq):
    add_customer(fq, "Auto")
    first = one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": "Auto"}, "InvoiceLineAdd": [{"Desc": "a", "Amount": "1.00"}]})
    second = one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": "Auto"}, "InvoiceLineAdd": [{"Desc": "b", "Amount": "1.00"}]})
    assert (first.records[0]["RefNumber"], second.records[0]["RefNumber"]) == ("1", "2")


def _invoice(fq, customer, amount, ref):
    rs = one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": customer}, "RefNumber": ref, "TxnDate": f"2026-11-{int(ref[-1]) + 1:02d}",
                                "InvoiceLineAdd": [{"Desc": "work", "Amount": amount}]})
    assert rs.status_code == 0, rs.status_message
    return rs.records[0]


def test_receive_payment_applies_to_invoices_and_updates_balances(fq):
    add_customer(fq, "Payer")
    inv = _invoice(fq, "Payer", "100.00", "A1")
    rs = one(fq, "ReceivePaymentAdd", {"CustomerRef": {"FullName": "Payer"}, "TotalAmount": "130.00", "RefNumber": "CHK-9",
                                       "AppliedToTxnAdd": [{"TxnID": inv["TxnID"], "PaymentAmount": "60.00"}]})
    assert rs.status_code == 0, rs.status_message
    pay = rs.records[0]
    assert (pay["TotalAmount"], pay["UnusedPayment"], pay["UnusedCredits"]) == ("130.00", "70.00", "0.00")
    applied = pay["AppliedToTxnRet"][0]
    assert (applied["TxnID"], applied["TxnType"], applied["Amount"], applied["BalanceRemaining"]) == (inv["TxnID"], "Invoice", "60.00", "40.00")
    assert pay["DepositToAccountRef"]["FullName"] == "Undeposited Funds"
    after = one(fq, "InvoiceQuery", {"TxnID": [inv["TxnID"]]}).records[0]
    assert (after["AppliedAmount"], after["BalanceRemaining"], after["IsPaid"]) == ("-60.00", "40.00", "false")
    assert fq.find("Customer", "Payer")["Balance"] == "-30.00"  # 40 open less 70 unused
    rest = one(fq, "ReceivePaymentAdd", {"CustomerRef": {"FullName": "Payer"}, "AppliedToTxnAdd": [{"TxnID": inv["TxnID"], "PaymentAmount": "40.00"}]})
    assert rest.records[0]["TotalAmount"] == "40.00"
    paid = one(fq, "InvoiceQuery", {"TxnID": [inv["TxnID"]]}, attrs={}).records[0]
    assert (paid["BalanceRemaining"], paid["IsPaid"]) == ("0.00", "true")


def test_3210_payment_above_the_open_balance(fq):
    add_customer(fq, "Over")
    inv = _invoice(fq, "Over", "50.00", "B1")
    rs = one(fq, "ReceivePaymentAdd", {"CustomerRef": {"FullName": "Over"}, "TotalAmount": "80.00",
                                       "AppliedToTxnAdd": [{"TxnID": inv["TxnID"], "PaymentAmount": "80.00"}]})
    assert (rs.status_code, rs.status_severity) == (3210, "Error")
    assert '"PaymentAmount" field has an invalid value "80.00"' in rs.status_message
    assert fq.all("ReceivePayment") == []
    assert one(fq, "ReceivePaymentAdd", {"CustomerRef": {"FullName": "Over"}, "AppliedToTxnAdd": [{"TxnID": "77-1700000000", "PaymentAmount": "1.00"}]}).status_code == 3120


def test_auto_apply_pays_the_oldest_invoices_first(fq):
    add_customer(fq, "Auto Payer")
    a = _invoice(fq, "Auto Payer", "30.00", "C1")
    b = _invoice(fq, "Auto Payer", "50.00", "C2")
    rs = one(fq, "ReceivePaymentAdd", {"CustomerRef": {"FullName": "Auto Payer"}, "TotalAmount": "40.00", "IsAutoApply": "true"})
    applied = {r["TxnID"]: r["Amount"] for r in rs.records[0]["AppliedToTxnRet"]}
    assert applied == {a["TxnID"]: "30.00", b["TxnID"]: "10.00"}


def test_invoice_mod_replaces_lines(fq, clock):
    add_customer(fq, "Lines")
    seed_items(fq)
    inv = one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": "Lines"}, "InvoiceLineAdd": [
        {"ItemRef": {"FullName": "Widget"}, "Quantity": "1", "Rate": "10.00"},
        {"ItemRef": {"FullName": "Widget"}, "Quantity": "2", "Rate": "10.00"},
    ]}).records[0]
    keep, drop = inv["InvoiceLineRet"]
    clock.advance(seconds=30)
    rs = one(fq, "InvoiceMod", {"TxnID": inv["TxnID"], "EditSequence": inv["EditSequence"], "Memo": "changed", "InvoiceLineMod": [
        {"TxnLineID": keep["TxnLineID"], "Quantity": "4"},
        {"TxnLineID": "-1", "ItemRef": {"FullName": "Installation"}, "Amount": "5.00"},
    ]})
    assert rs.status_code == 0, rs.status_message
    got = rs.records[0]
    ids = [ln["TxnLineID"] for ln in got["InvoiceLineRet"]]
    assert ids[0] == keep["TxnLineID"] and drop["TxnLineID"] not in ids and len(ids) == 2
    assert [ln["Amount"] for ln in got["InvoiceLineRet"]] == ["40.00", "5.00"]
    assert (got["Subtotal"], got["Memo"], got["TimeCreated"]) == ("45.00", "changed", inv["TimeCreated"])
    assert got["TimeModified"] == "2026-11-26T08:30:30-08:00" and got["EditSequence"] != inv["EditSequence"]
    bad = one(fq, "InvoiceMod", {"TxnID": inv["TxnID"], "EditSequence": got["EditSequence"],
                                 "InvoiceLineMod": [{"TxnLineID": "FFFF-1700000000", "Quantity": "1"}]})
    assert bad.status_code == 3120 and "FFFF-1700000000" in bad.status_message
    untouched = one(fq, "InvoiceMod", {"TxnID": inv["TxnID"], "EditSequence": got["EditSequence"], "Memo": "header only"})
    assert len(untouched.records[0]["InvoiceLineRet"]) == 2  # no line sent: lines stay


@pytest.mark.parametrize("type_name,line_kind", [("Estimate", "EstimateLine"), ("SalesReceipt", "SalesReceiptLine"), ("CreditMemo", "CreditMemoLine")])
def test_sales_transactions_total_their_lines(fq, type_name, line_kind):
    add_customer(fq, "Buyer")
    seed_items(fq)
    rs = one(fq, f"{type_name}Add", {"CustomerRef": {"FullName": "Buyer"}, f"{line_kind}Add": [
        {"ItemRef": {"FullName": "Widget"}, "Quantity": "2", "Rate": "2.50"}, {"ItemRef": {"FullName": "Installation"}}]})
    assert rs.status_code == 0, rs.status_message
    txn = rs.records[0]
    assert [ln["Amount"] for ln in txn[f"{line_kind}Ret"]] == ["5.00", "150.00"]
    assert (txn["Subtotal"], txn["TotalAmount"]) == ("155.00", "155.00")
    if type_name == "CreditMemo":
        assert txn["CreditRemaining"] == "155.00"
        assert fq.find("Customer", "Buyer")["Balance"] == "-155.00"
    q = one(fq, f"{type_name}Query", {"TxnID": [txn["TxnID"]], "IncludeLineItems": "true"})
    assert len(q.records[0][f"{line_kind}Ret"]) == 2
    assert f"{line_kind}Ret" not in one(fq, f"{type_name}Query", {"TxnID": [txn["TxnID"]]}).records[0]


def test_bill_with_expense_and_item_lines(fq):
    fq.create("Vendor", {"Name": "Supplier"})
    seed_items(fq)
    rs = one(fq, "BillAdd", {"VendorRef": {"FullName": "Supplier"}, "TxnDate": "2026-11-01", "TermsRef": {"FullName": "Net 15"},
                             "ExpenseLineAdd": [{"AccountRef": {"FullName": "Office Supplies"}, "Amount": "12.00"}],
                             "ItemLineAdd": [{"ItemRef": {"FullName": "Widget"}, "Quantity": "3", "Cost": "2.00"}]})
    assert rs.status_code == 0, rs.status_message
    bill = rs.records[0]
    assert (bill["AmountDue"], bill["OpenAmount"], bill["IsPaid"], bill["DueDate"]) == ("18.00", "18.00", "false", "2026-11-16")
    assert bill["ItemLineRet"][0]["Amount"] == "6.00" and bill["APAccountRef"]["FullName"] == "Accounts Payable"
    assert fq.find("Vendor", "Supplier")["Balance"] == "18.00"
    mod = one(fq, "BillMod", {"TxnID": bill["TxnID"], "EditSequence": bill["EditSequence"], "ClearExpenseLines": "true"})
    assert mod.status_code == 0 and "ExpenseLineRet" not in mod.records[0] and mod.records[0]["AmountDue"] == "6.00"


def test_delete_list_record_in_use_is_refused_and_unused_is_deleted(fq, clock):
    c = add_customer(fq, "Used")
    _invoice(fq, "Used", "1.00", "D1")
    assert one(fq, "ListDel", {"ListDelType": "Customer", "ListID": c["ListID"]}).status_code == 3170
    other = add_customer(fq, "Unused")
    clock.advance(hours=1)
    rs = one(fq, "ListDel", {"ListDelType": "Customer", "ListID": other["ListID"]})
    assert rs.status_code == 0
    assert rs.attrs["statusMessage"] == "Status OK"
    assert fq.get("Customer", other["ListID"]) is None


# ---- queries --------------------------------------------------------------------------------


def test_query_status_1_and_500(fq):
    # A filter that matches nothing is 1; a key that does not exist is 500, even when it is the only one.
    empty = one(fq, "CustomerQuery", {"NameFilter": {"MatchCriterion": "StartsWith", "Name": "Nobody"}})
    assert (empty.status_code, empty.status_severity, empty.status_message) == (1, "Info", "A query request did not find a matching object in QuickBooks")
    assert (one(fq, "CustomerQuery", {"FullName": ["Nobody"]}).status_code, empty.rets) == (500, [])
    a = add_customer(fq, "Present")
    part = one(fq, "CustomerQuery", {"ListID": [a["ListID"], "80000777-1700000000"]})
    assert (part.status_code, part.status_severity) == (500, "Warn")
    assert part.status_message == ('The query request has not been fully completed. There was a required element '
                                   '("80000777-1700000000") that could not be found in QuickBooks.')
    assert [r["ListID"] for r in part.records] == [a["ListID"]]


def test_active_status_defaults_to_active_only(fq):
    add_customer(fq, "Active")
    gone = add_customer(fq, "Gone")
    fq.make_inactive("Customer", gone["ListID"])
    names = lambda rs: [r["Name"] for r in rs.records]  # noqa: E731
    assert names(one(fq, "CustomerQuery")) == ["Active"]
    assert names(one(fq, "CustomerQuery", {"ActiveStatus": "All"})) == ["Active", "Gone"]
    assert names(one(fq, "CustomerQuery", {"ActiveStatus": "InactiveOnly"})) == ["Gone"]
    assert names(one(fq, "CustomerQuery", {"FullName": ["Gone"]})) == ["Gone"]  # exact keys ignore ActiveStatus


def test_modified_date_filters_max_returned_and_name_filter(fq, clock):
    add_customer(fq, "Alpha")
    clock.advance(hours=2)
    add_customer(fq, "Beta")
    add_customer(fq, "Gamma")
    since = one(fq, "CustomerQuery", {"FromModifiedDate": "2026-11-26T09:00:00-08:00"})
    assert [r["Name"] for r in since.records] == ["Beta", "Gamma"]
    until = one(fq, "CustomerQuery", {"ToModifiedDate": "2026-11-26T09:00:00"})  # company time zone
    assert [r["Name"] for r in until.records] == ["Alpha"]
    assert len(one(fq, "CustomerQuery", {"MaxReturned": "2"}).records) == 2
    assert [r["Name"] for r in one(fq, "CustomerQuery", {"NameFilter": {"MatchCriterion": "Contains", "Name": "mm"}}).records] == ["Gamma"]
    assert one(fq, "CustomerQuery", {"FromModifiedDate": "2026-11-27"}).status_code == 1


def test_transaction_queries_by_ref_number_entity_and_dates(fq, clock):
    add_customer(fq, "Q1")
    add_customer(fq, "Q2")
    a = _invoice(fq, "Q1", "10.00", "R1")
    clock.advance(days=1)
    b = _invoice(fq, "Q2", "20.00", "R2")
    assert [r["TxnID"] for r in one(fq, "InvoiceQuery", {"RefNumber": ["r2"]}).records] == [b["TxnID"]]
    assert [r["TxnID"] for r in one(fq, "InvoiceQuery", {"EntityFilter": {"FullName": ["Q1"]}}).records] == [a["TxnID"]]
    mod = one(fq, "InvoiceQuery", {"ModifiedDateRangeFilter": {"FromModifiedDate": "2026-11-27"}})
    assert [r["TxnID"] for r in mod.records] == [b["TxnID"]]
    txn_dates = one(fq, "InvoiceQuery", {"TxnDateRangeFilter": {"FromTxnDate": "2026-11-03", "ToTxnDate": "2026-11-03"}})
    assert [r["RefNumber"] for r in txn_dates.records] == ["R2"]
    part = one(fq, "InvoiceQuery", {"TxnID": [a["TxnID"], "1-1"]})
    assert part.status_code == 500 and len(part.records) == 1


def test_include_ret_element_and_metadata(fq):
    add_customer(fq, "Meta")
    rs = one(fq, "CustomerQuery", {"ActiveStatus": "All"}, include_ret=("ListID", "EditSequence", "FullName"))
    assert set(rs.records[0]) == {"ListID", "EditSequence", "FullName"}
    count = one(fq, "CustomerQuery", attrs={"metaData": "MetaDataOnly"})
    assert count.ret_count == 1 and count.rets == []


def test_item_query_spans_every_item_type(fq):
    seed_items(fq)
    rs = one(fq, "ItemQuery")
    assert [name for name, _ in rs.rets] == ["ItemServiceRet", "ItemNonInventoryRet"]


# ---- iterators ------------------------------------------------------------------------------


def test_iterator_pages_through_and_then_the_id_is_stale(fq):
    for i in range(5):
        add_customer(fq, f"Customer {i}")
    start = one(fq, "CustomerQuery", {"MaxReturned": "2"}, attrs={"iterator": "Start"})
    assert start.status_code == 0 and start.iterator_remaining_count == 3
    it = start.iterator_id
    assert re.match(r"^\{[0-9a-f-]{36}\}$", it)
    seen = [r["Name"] for r in start.records]
    while True:
        page = one(fq, "CustomerQuery", {"MaxReturned": "2"}, attrs={"iterator": "Continue", "iteratorID": it})
        assert page.status_code == 0 and page.iterator_id == it
        seen += [r["Name"] for r in page.records]
        if page.iterator_remaining_count == 0:
            break
    assert seen == [f"Customer {i}" for i in range(5)]
    stale = one(fq, "CustomerQuery", {"MaxReturned": "2"}, attrs={"iterator": "Continue", "iteratorID": it})
    assert (stale.status_code, stale.status_severity) == (3391, "Error")
    assert stale.status_message == f'The iteratorID "{it}" is not valid.'


def test_iterator_with_no_match_and_iterators_die_with_the_session(fq):
    empty = one(fq, "CustomerQuery", {"MaxReturned": "10"}, attrs={"iterator": "Start"})
    assert (empty.status_code, empty.iterator_remaining_count) == (1, 0) and empty.iterator_id
    for i in range(3):
        add_customer(fq, f"C{i}")
    start = one(fq, "CustomerQuery", {"MaxReturned": "1"}, attrs={"iterator": "Start"})
    fq.end_session()
    rs = one(fq, "CustomerQuery", {"MaxReturned": "1"}, attrs={"iterator": "Continue", "iteratorID": start.iterator_id})
    assert rs.status_code == 3391


def test_an_iterator_belongs_to_its_query_type(fq):
    for i in range(3):
        add_customer(fq, f"K{i}")
    start = one(fq, "CustomerQuery", {"MaxReturned": "1"}, attrs={"iterator": "Start"})
    other = one(fq, "VendorQuery", {"MaxReturned": "1"}, attrs={"iterator": "Continue", "iteratorID": start.iterator_id})
    assert other.status_code == 3391
    stop = one(fq, "CustomerQuery", {"MaxReturned": "1"}, attrs={"iterator": "Stop", "iteratorID": start.iterator_id})
    assert stop.status_code == 0 and stop.iterator_remaining_count == 0
    after = one(fq, "CustomerQuery", {"MaxReturned": "1"}, attrs={"iterator": "Continue", "iteratorID": start.iterator_id})
    assert after.status_code == 3391


def test_transaction_iterator(fq):
    add_customer(fq, "It")
    for i in range(3):
        _invoice(fq, "It", "1.00", f"I{i}")
    start = one(fq, "InvoiceQuery", {"MaxReturned": "2"}, attrs={"iterator": "Start"})
    assert len(start.records) == 2 and start.iterator_remaining_count == 1
    rest = one(fq, "InvoiceQuery", {"MaxReturned": "2"}, attrs={"iterator": "Continue", "iteratorID": start.iterator_id})
    assert len(rest.records) == 1 and rest.iterator_remaining_count == 0


# ---- deleted records ------------------------------------------------------------------------


def test_list_and_txn_deleted_queries(fq, clock):
    c = add_customer(fq, "Temp")
    add_customer(fq, "Keep")
    inv = _invoice(fq, "Keep", "5.00", "X1")
    clock.advance(minutes=10)
    one(fq, "ListDel", {"ListDelType": "Customer", "ListID": c["ListID"]})
    tx = one(fq, "TxnDel", {"TxnDelType": "Invoice", "TxnID": inv["TxnID"]})
    assert tx.status_code == 0
    listed = one(fq, "ListDeletedQuery", {"ListDelType": ["Customer"]})
    assert listed.rets == [("ListDeletedRet", {"ListDelType": "Customer", "ListID": c["ListID"], "TimeCreated": c["TimeCreated"],
                                                "TimeDeleted": "2026-11-26T08:40:00-08:00", "FullName": "Temp"})]
    txns = one(fq, "TxnDeletedQuery", {"TxnDelType": ["Invoice"]})
    assert txns.records[0]["TxnID"] == inv["TxnID"] and txns.records[0]["RefNumber"] == "X1"
    assert one(fq, "TxnDeletedQuery", {"TxnDelType": ["Bill"]}).status_code == 1
    window = one(fq, "ListDeletedQuery", {"ListDelType": ["Customer"], "DeletedDateRangeFilter": {"FromDeletedDate": "2026-11-27"}})
    assert window.status_code == 1
    assert fq.find("Customer", "Keep")["Balance"] == "0.00"


# ---- message-level behaviour ----------------------------------------------------------------


def test_stop_on_error_answers_the_rest_with_3231(fq):
    msg = send(fq, Request("CustomerAdd", {"Name": "First"}, request_id="a"),
               Request("CustomerAdd", {"Name": "First"}, request_id="b"),
               Request("CustomerAdd", {"Name": "Third"}, request_id="c"),
               Request("CustomerQuery", {}, request_id="d"))
    assert [(r.request_id, r.status_code) for r in msg.responses] == [("a", 0), ("b", 3100), ("c", 3231), ("d", 3231)]
    assert msg.responses[2].status_message == "The request has not been processed."
    assert msg.responses[2].status_severity == "Error"
    assert fq.find("Customer", "First") is not None and fq.find("Customer", "Third") is None


def test_continue_on_error_runs_everything(fq):
    msg = send(fq, Request("CustomerAdd", {"Name": "First"}, request_id="a"),
               Request("CustomerAdd", {"Name": "First"}, request_id="b"),
               Request("CustomerAdd", {"Name": "Third"}, request_id="c"), on_error="continueOnError")
    assert [r.status_code for r in msg.responses] == [0, 3100, 0]
    assert fq.find("Customer", "Third") is not None


def test_warnings_and_no_match_do_not_stop_a_message(fq):
    msg = send(fq, Request("CustomerQuery", {"FullName": ["Nobody"]}, request_id="1"),
               Request("CustomerQuery", {"NameFilter": {"MatchCriterion": "StartsWith", "Name": "Nobody"}}, request_id="2"),
               Request("CustomerAdd", {"Name": "After"}, request_id="3"))
    assert [r.status_code for r in msg.responses] == [500, 1, 0]


def test_request_id_is_echoed_or_absent(fq):
    xml = build_request([Request("CustomerQuery", {}), Request("CustomerQuery", {}, request_id="q-7")])
    reply = fq.process(xml)
    msg = parse_response(reply.xml)
    assert [r.request_id for r in msg.responses] == [None, "q-7"]
    assert reply.xml.startswith('<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n<CustomerQueryRs ') and "<?qbxml" not in reply.xml


def test_bytes_are_read_in_their_declared_encoding(fq):
    body = '<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerAddRq><CustomerAdd><Name>Café Ñandú</Name></CustomerAdd></CustomerAddRq></QBXMLMsgsRq></QBXML>'
    latin = ('<?xml version="1.0" encoding="ISO-8859-1"?>' + body).encode("latin-1")
    assert parse_response(fq.process(latin).xml).responses[0].records[0]["Name"] == "Café Ñandú"
    as_text = '<?xml version="1.0" encoding="ISO-8859-1"?>' + body.replace("Café", "Cafe")
    assert parse_response(fq.process(as_text).xml).responses[0].records[0]["Name"] == "Cafe Ñandú"
    assert fq.process(b"\xff\xfe not xml").hresult == "0x80040400"


def test_request_id_longer_than_50_is_1060_and_stops(fq):
    long_id = "x" * 51
    xml = ('<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
           f'<CustomerAddRq requestID="{long_id}"><CustomerAdd><Name>Long</Name></CustomerAdd></CustomerAddRq>'
           '<CustomerQueryRq requestID="2"/></QBXMLMsgsRq></QBXML>')
    msg = parse_response(fq.process(xml).xml)
    assert [(r.request_id, r.status_code) for r in msg.responses] == [(long_id, 1060), ("2", 3231)]
    assert fq.find("Customer", "Long") is None


def test_response_data_include_none_gives_statuses_only(fq):
    xml = ('<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError" responseData="includeNone">'
           '<CustomerAddRq requestID="1"><CustomerAdd><Name>Quiet</Name></CustomerAdd></CustomerAddRq></QBXMLMsgsRq></QBXML>')
    rs = parse_response(fq.process(xml).xml).responses[0]
    assert rs.status_code == 0 and rs.rets == []
    assert fq.find("Customer", "Quiet") is not None


# ---- invalid messages -----------------------------------------------------------------------

FIXTURES = Path(os.environ.get("QBSYNC_PUBLISHED_XSD") or Path(__file__).resolve().parents[2] / "shared" / "qbxml-xsd").parent / "qbxml-fixtures"


@pytest.mark.parametrize("text", [
    "<QBXML><QBXMLMsgsRq onError='stopOnError'><CustomerQueryRq/></QBXMLMsgsRq></QBXML>",  # no version PI
    '<?qbxml version="14.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerQueryRq/></QBXMLMsgsRq></QBXML>',
    '<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerQueryRq></QBXMLMsgsRq></QBXML>',
    '<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerAddRq><CustomerAdd><Phone>1</Phone>'
    "</CustomerAdd></CustomerAddRq></QBXMLMsgsRq></QBXML>",
    '<?qbxml version="13.0"?><QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode="0" statusSeverity="Info"/></QBXMLMsgsRs></QBXML>',
    "not xml at all",
])
def test_invalid_messages_get_0x80040400_and_nothing_runs(fq, text):
    reply = fq.process(text)
    assert (reply.xml, reply.hresult, reply.message) == (None, "0x80040400", "QuickBooks found an error when parsing the provided XML text stream.")


@pytest.mark.parametrize("name", ["invalid_wrong_order_rq.xml", "invalid_amount_rq.xml", "invalid_missing_onerror_rq.xml"])
def test_invalid_fixtures_are_not_processed(fq, name):
    before = len(fq.all("Customer"))
    reply = fq.process((FIXTURES / "authored" / name).read_text())
    assert reply.hresult == "0x80040400" and reply.xml is None
    assert len(fq.all("Customer")) == before


def test_version_above_the_fake_is_refused_and_16_accepts_16(clock, published):
    assert FakeQuickBooks(clock=clock).process(build_request([Request("CustomerQuery", {})], version="16.0")).hresult == "0x80040400"
    fq16 = FakeQuickBooks(qbxml_version="16.0", clock=clock)
    msg = send(fq16, Request("CustomerAdd", {"Name": "Sixteen"}, request_id="1"), Request("HostQuery", {}, request_id="2"), version="16.0")
    assert msg.responses[0].status_code == 0
    assert msg.responses[1].records[0]["SupportedQBXMLVersion"][-1] == "16.0"
    assert_published_valid(fq16, published)


def test_unsupported_but_valid_request_gets_1030(fq, clock, published_xsd):
    fq_sdk = FakeQuickBooks(clock=clock, schema_dir=str(published_xsd))
    text = (FIXTURES / "intuit-sdk-samples" / "JournalEntryAddRq.xml").read_text()
    reply = fq_sdk.process(text)
    assert reply.hresult == ""
    rs = parse_response(reply.xml).responses[0]
    assert (rs.name, rs.status_code, rs.status_severity) == ("JournalEntryAdd", 1030, "Error")
    # with the embedded schema (supported types only) the same message is not valid qbXML here
    assert fq.process(text).hresult == "0x80040400"


# ---- host, company, preferences -------------------------------------------------------------


def test_hcp_response_answers_host_company_preferences(fq):
    msg = parse_response(fq.hcp_response())
    assert [r.name for r in msg.responses] == ["HostQuery", "CompanyQuery", "PreferencesQuery"]
    host = msg.responses[0].records[0]
    assert host["SupportedQBXMLVersion"][0] == "1.0" and host["SupportedQBXMLVersion"][-1] == "13.0"
    assert msg.responses[1].records[0]["CompanyName"] == "Fake QuickBooks Company"
    assert fq.history[-1].reply.xml.count("Rs ") >= 3  # recorded, so teardown validates it too


# ---- acting in QuickBooks -------------------------------------------------------------------


def test_in_quickbooks_api(fq, clock):
    c = fq.create("Customer", {"Name": "Api", "Phone": "1"})
    assert fq.get("Customer", c["ListID"])["Phone"] == "1"
    clock.advance(minutes=1)
    e = fq.edit("Customer", c["ListID"], {"Phone": "2"})
    assert e["Phone"] == "2" and e["TimeModified"] != c["TimeModified"]
    assert fq.make_inactive("Customer", c["ListID"])["IsActive"] == "false"
    assert [x["Name"] for x in fq.all("Customer")] == ["Api"]
    with pytest.raises(QbStatus) as err:
        fq.create("Customer", {"Name": "api"})
    assert err.value.code == 3100
    inv = fq.create("Invoice", {"CustomerRef": {"FullName": "Api"}, "RefNumber": "77", "InvoiceLineAdd": [{"Desc": "x", "Amount": "3.00"}]})
    assert fq.find("Invoice", "77")["TxnID"] == inv["TxnID"]
    edited = fq.edit("Invoice", inv["TxnID"], {"InvoiceLineAdd": [{"Desc": "more", "Amount": "4.00"}]})
    assert edited["Subtotal"] == "7.00" and len(edited["InvoiceLineRet"]) == 2  # a line added in QuickBooks
    fq.delete("Invoice", inv["TxnID"])
    assert fq.get("Invoice", inv["TxnID"]) is None and fq.deleted()[-1]["TxnID"] == inv["TxnID"]
    with pytest.raises(KeyError):
        fq.all("SalesOrder")


def test_create_keeps_given_ids_for_seeding_recorded_sessions(fq):
    c = fq.create("Customer", {"ListID": "F230000-1196864585", "Name": "Seeded"})
    assert c["ListID"] == "F230000-1196864585"
    inv = fq.create("Invoice", {"TxnID": "12006-1196864828", "CustomerRef": {"ListID": "F230000-1196864585"},
                                "InvoiceLineAdd": [{"Desc": "x", "Amount": "200.00"}]})
    assert inv["TxnID"] == "12006-1196864828"
    with pytest.raises(QbStatus):
        fq.create("Customer", {"ListID": "F230000-1196864585", "Name": "Clash"})


@pytest.mark.parametrize("type_name,data", [
    ("Customer", {"Name": "Del C"}), ("Vendor", {"Name": "Del V"}), ("Employee", {"FirstName": "Del", "LastName": "E"}),
    ("ItemService", {"Name": "Del S", "SalesOrPurchase": {"AccountRef": {"FullName": "Services"}}}),
    ("ItemNonInventory", {"Name": "Del N", "SalesOrPurchase": {"AccountRef": {"FullName": "Sales"}}}),
    ("ItemInventory", {"Name": "Del I", "IncomeAccountRef": {"FullName": "Sales"}, "COGSAccountRef": {"FullName": "Cost of Goods Sold"},
                       "AssetAccountRef": {"FullName": "Inventory Asset"}}),
    ("ItemOtherCharge", {"Name": "Del O", "SalesOrPurchase": {"AccountRef": {"FullName": "Sales"}}}),
    ("Class", {"Name": "Del Cl"}), ("StandardTerms", {"Name": "Del T"}), ("Account", {"Name": "Del A", "AccountType": "Expense"}),
    ("SalesTaxCode", {"Name": "Del", "IsTaxable": "true"}),
])
def test_every_list_type_deletes_and_is_listed_as_deleted(fq, type_name, data):
    rec = fq.create(type_name, data)
    rs = one(fq, "ListDel", {"ListDelType": type_name, "ListID": rec["ListID"]})
    assert rs.status_code == 0 and del_fields(fq) == {"ListDelType": type_name, "ListID": rec["ListID"],
                                                      "TimeDeleted": "2026-11-26T08:30:00-08:00", "FullName": data.get("Name", "Del E")}
    deleted = one(fq, "ListDeletedQuery", {"ListDelType": [type_name]})
    assert [r["ListID"] for r in deleted.records] == [rec["ListID"]]
    assert one(fq, f"{type_name}Query", {"ListID": [rec["ListID"]]}).status_code == 500  # asked by key: a warning


@pytest.mark.parametrize("type_name,data", [
    ("Invoice", {"CustomerRef": {"FullName": "T"}, "InvoiceLineAdd": [{"Desc": "x", "Amount": "1.00"}]}),
    ("Estimate", {"CustomerRef": {"FullName": "T"}, "EstimateLineAdd": [{"Desc": "x", "Amount": "1.00"}]}),
    ("SalesReceipt", {"CustomerRef": {"FullName": "T"}, "SalesReceiptLineAdd": [{"Desc": "x", "Amount": "1.00"}]}),
    ("CreditMemo", {"CustomerRef": {"FullName": "T"}, "CreditMemoLineAdd": [{"Desc": "x", "Amount": "1.00"}]}),
    ("ReceivePayment", {"CustomerRef": {"FullName": "T"}, "TotalAmount": "5.00", "IsAutoApply": "true"}),
    ("Bill", {"VendorRef": {"FullName": "V"}, "ExpenseLineAdd": [{"AccountRef": {"FullName": "Office Supplies"}, "Amount": "2.00"}]}),
])
def test_every_transaction_type_adds_mods_queries_and_deletes(fq, clock, type_name, data):
    fq.create("Customer", {"Name": "T"})
    fq.create("Vendor", {"Name": "V"})
    added = one(fq, f"{type_name}Add", data)
    assert added.status_code == 0, added.status_message
    txn = added.records[0]
    clock.advance(seconds=1)
    mod = one(fq, f"{type_name}Mod", {"TxnID": txn["TxnID"], "EditSequence": txn["EditSequence"], "Memo": "edited"})
    assert mod.status_code == 0 and mod.records[0]["Memo"] == "edited"
    assert one(fq, f"{type_name}Query", {"TxnID": [txn["TxnID"]]}).records[0]["Memo"] == "edited"
    rs = one(fq, "TxnDel", {"TxnDelType": type_name, "TxnID": txn["TxnID"]})
    fields = del_fields(fq)
    assert rs.status_code == 0 and (fields["TxnDelType"], fields["TxnID"]) == (type_name, txn["TxnID"])
    assert fields.get("RefNumber") == txn.get("RefNumber")
    assert [r["TxnID"] for r in one(fq, "TxnDeletedQuery", {"TxnDelType": [type_name]}).records] == [txn["TxnID"]]
    assert one(fq, f"{type_name}Query", {"TxnID": [txn["TxnID"]]}).status_code == 500  # asked by key: a warning


def test_total_balance_includes_jobs(fq):
    add_customer(fq, "Parent Co")
    add_customer(fq, "Job A", ParentRef={"FullName": "Parent Co"})
    one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": "Parent Co"}, "InvoiceLineAdd": [{"Desc": "x", "Amount": "5.00"}]})
    one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": "Parent Co:Job A"}, "InvoiceLineAdd": [{"Desc": "y", "Amount": "7.00"}]})
    parent = one(fq, "CustomerQuery", {"FullName": ["Parent Co"]}).records[0]
    job = one(fq, "CustomerQuery", {"FullName": ["Parent Co:Job A"]}).records[0]
    assert (parent["Balance"], parent["TotalBalance"]) == ("5.00", "12.00")
    assert (job["Balance"], job["TotalBalance"]) == ("7.00", "7.00")
    opening = add_customer(fq, "Opening", OpenBalance="20.00", OpenBalanceDate="2026-01-01")
    assert opening["Balance"] == "20.00"


def test_inventory_quantity_follows_bills_and_sales(fq):
    item = fq.create("ItemInventory", {"Name": "Stock", "SalesPrice": "9.00", "IncomeAccountRef": {"FullName": "Sales"},
                                       "COGSAccountRef": {"FullName": "Cost of Goods Sold"},
                                       "AssetAccountRef": {"FullName": "Inventory Asset"}, "QuantityOnHand": "10"})
    fq.create("Vendor", {"Name": "Maker"})
    add_customer(fq, "Shopper")
    one(fq, "BillAdd", {"VendorRef": {"FullName": "Maker"}, "ItemLineAdd": [{"ItemRef": {"FullName": "Stock"}, "Quantity": "5"}]})
    sale = one(fq, "InvoiceAdd", {"CustomerRef": {"FullName": "Shopper"}, "InvoiceLineAdd": [{"ItemRef": {"FullName": "Stock"}, "Quantity": "2.5"}]})
    assert sale.records[0]["InvoiceLineRet"][0]["Amount"] == "22.50"  # the item's price
    assert one(fq, "ItemInventoryQuery", {"ListID": [item["ListID"]]}).records[0]["QuantityOnHand"] == "12.5"


def test_include_ret_element_on_add(fq):
    rs = one(fq, "CustomerAdd", {"Name": "Lean"}, include_ret=("ListID", "EditSequence"))
    assert set(rs.records[0]) == {"ListID", "EditSequence"}


def test_deleting_a_paid_invoice_frees_the_payment(fq):
    add_customer(fq, "Refund")
    inv = _invoice(fq, "Refund", "10.00", "P1")
    one(fq, "ReceivePaymentAdd", {"CustomerRef": {"FullName": "Refund"}, "AppliedToTxnAdd": [{"TxnID": inv["TxnID"], "PaymentAmount": "10.00"}]})
    assert fq.find("Customer", "Refund")["Balance"] == "0.00"
    one(fq, "TxnDel", {"TxnDelType": "Invoice", "TxnID": inv["TxnID"]})
    pay = fq.all("ReceivePayment")[0]
    assert pay["UnusedPayment"] == "10.00" and pay["AppliedToTxnRet"] == []
    assert fq.find("Customer", "Refund")["Balance"] == "-10.00"


def test_a_fixed_clock_gives_byte_identical_answers(published):
    def session() -> list[str]:
        fq = FakeQuickBooks(clock=Clock())
        out = []
        for rq in [Request("CustomerAdd", {"Name": "Same"}, request_id="1"),
                   Request("InvoiceAdd", {"CustomerRef": {"FullName": "Same"}, "InvoiceLineAdd": [{"Desc": "x", "Amount": "2.00"}]}),
                   Request("CustomerQuery", {"MaxReturned": "1"}, attrs={"iterator": "Start"})]:
            out.append(fq.process(build_request([rq])).xml)
        assert_published_valid(fq, published)
        return out

    first, second = session(), session()
    assert first == second
    assert "\n<CustomerRet>\n<ListID>" in first[0]
