"""FakeQuickBooks at scale: a company of 20,000 customers is created and read back through
iterator pages in a few seconds. Nothing here is timed: a fake that scans every record for each
record it adds or returns (as it once did) needs minutes for this, so the test would not finish
in any reasonable run; one that looks records up through its index (by name, parent,
customer, item, applied invoice) does it in seconds.

Each answer is checked too, so that the indexes answer what the scans did: every customer once,
in FullName order, with its balances; names unique case-insensitively; jobs and invoices
counted into their customer's balances.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from qbsync.qbxml import Request, build_request, parse_response
from qbsync.testing.fake_quickbooks import FakeQuickBooks, QbStatus

PST = timezone(timedelta(hours=-8))
NOON = datetime(2026, 11, 26, 12, 0, 0, tzinfo=PST)
CUSTOMERS = 20_000
PAGE = 500
WITH_JOB = 100  # every 100th customer has a job with an invoice of 10.00


def ask(fq: FakeQuickBooks, data: dict, attrs: dict | None = None, include: tuple[str, ...] = ()):
    xml = build_request([Request("CustomerQuery", data, request_id="1", attrs=attrs or {}, include_ret=include)])
    reply = fq.process(xml)
    assert reply.hresult == "", reply
    (rs,) = parse_response(reply.xml, validate=False).responses
    return rs


@pytest.fixture(scope="module")
def company() -> FakeQuickBooks:
    fq = FakeQuickBooks(clock=lambda: NOON)
    fq.create("ItemService", {"Name": "Hour", "SalesOrPurchase": {"Price": "10.00", "AccountRef": {"FullName": "Services"}}})
    for i in range(CUSTOMERS):
        customer = fq.create("Customer", {"Name": f"Customer {i:05d}"})
        if i % WITH_JOB == 0:
            job = fq.create("Customer", {"Name": "Job", "ParentRef": {"ListID": customer["ListID"]}})
            fq.create("Invoice", {"CustomerRef": {"ListID": job["ListID"]}, "InvoiceLineAdd": [{"ItemRef": {"FullName": "Hour"}}]})
    return fq


def test_every_customer_comes_back_once_through_iterator_pages_in_full_name_order(company):
    include = ("FullName", "TotalBalance")
    rs = ask(company, {"ActiveStatus": "All", "MaxReturned": str(PAGE)}, {"iterator": "Start"}, include)
    names, totals = [], {}
    while True:
        assert rs.status_code == 0
        for ret in rs.records:
            names.append(ret["FullName"])
            totals[ret["FullName"]] = ret["TotalBalance"]
        if rs.iterator_remaining_count == 0:
            break
        rs = ask(company, {"MaxReturned": str(PAGE)}, {"iterator": "Continue", "iteratorID": rs.iterator_id}, include)
    jobs = CUSTOMERS // WITH_JOB
    assert len(names) == len(set(names)) == CUSTOMERS + jobs
    assert names == sorted(names, key=str.casefold)
    assert totals["Customer 00100"] == "10.00"  # the job's invoice counts in its parent's total
    assert totals["Customer 00100:Job"] == "10.00"
    assert totals["Customer 00101"] == "0.00"
    assert company.find("Customer", "Customer 00100")["Balance"] == "0.00"


def test_names_are_found_and_kept_unique_among_many(company):
    rs = ask(company, {"FullName": ["customer 12345", "Customer 19900:JOB"]})
    assert [r["FullName"] for r in rs.records] == ["Customer 12345", "Customer 19900:Job"]
    assert company.find("Customer", "CUSTOMER 00007")["Name"] == "Customer 00007"
    with pytest.raises(QbStatus) as failure:
        company.create("Customer", {"Name": "customer 04242"})
    assert failure.value.code == 3100


def test_a_renamed_parent_moves_its_job_in_the_name_index(company):
    parent = company.find("Customer", "Customer 00200")
    company.edit("Customer", parent["ListID"], {"Name": "Renamed 00200"})
    assert company.find("Customer", "Customer 00200:Job") is None
    job = company.find("Customer", "renamed 00200:job")
    assert job is not None and job["Sublevel"] == "1" and job["Balance"] == "10.00"
    assert company.find("Customer", "Renamed 00200")["TotalBalance"] == "10.00"


# ---- the company file: a row per record, only changed rows written ---------------------------


def _workflow(fq: FakeQuickBooks) -> None:
    """Writes of every kind that change stored records in place: renames cascading to jobs,
    line and payment edits, an invoice deleted under a payment, a list record deleted."""
    fq.create("ItemInventory", {"Name": "Widget", "SalesPrice": "4.00", "QuantityOnHand": "10",
                                "IncomeAccountRef": {"FullName": "Sales"}, "COGSAccountRef": {"FullName": "Cost of Goods Sold"},
                                "AssetAccountRef": {"FullName": "Inventory Asset"}})
    acme = fq.create("Customer", {"Name": "Acme"})
    job = fq.create("Customer", {"Name": "Roof", "ParentRef": {"FullName": "Acme"}})
    spare = fq.create("Customer", {"Name": "Spare"})
    vendor = fq.create("Vendor", {"Name": "Supplier"})
    one = fq.create("Invoice", {"CustomerRef": {"ListID": job["ListID"]}, "InvoiceLineAdd": [{"ItemRef": {"FullName": "Widget"}, "Quantity": "2"}]})
    two = fq.create("Invoice", {"CustomerRef": {"FullName": "Acme"}, "InvoiceLineAdd": [{"ItemRef": {"FullName": "Widget"}}]})
    fq.create("ReceivePayment", {"CustomerRef": {"FullName": "Acme:Roof"}, "TotalAmount": "5.00", "IsAutoApply": "true"})
    fq.create("Bill", {"VendorRef": {"ListID": vendor["ListID"]}, "ItemLineAdd": [{"ItemRef": {"FullName": "Widget"}, "Quantity": "3", "Cost": "2.00"}]})
    fq.edit("Customer", acme["ListID"], {"Name": "Acme Corp"})
    fq.edit("Invoice", two["TxnID"], {"InvoiceLineAdd": [{"ItemRef": {"FullName": "Widget"}, "Quantity": "5"}]})
    fq.delete("Invoice", one["TxnID"])
    fq.make_inactive("Customer", job["ListID"])
    fq.delete("Customer", spare["ListID"])


def _everything(fq: FakeQuickBooks) -> dict:
    from qbsync.testing.fake_quickbooks import catalog

    return {t: fq.all(t) for t in catalog.TYPES} | {"deleted": fq.deleted()}


def test_a_company_file_keeps_what_each_write_changed(tmp_path):
    path = tmp_path / "company.db"
    writer = FakeQuickBooks(path=path, clock=lambda: NOON)
    memory = FakeQuickBooks(clock=lambda: NOON)
    _workflow(writer)
    _workflow(memory)
    reader = FakeQuickBooks(path=path, clock=lambda: NOON)
    assert _everything(reader) == _everything(writer) == _everything(memory)


def test_a_write_rewrites_only_its_own_rows(tmp_path):
    import sqlite3

    path = tmp_path / "company.db"
    fq = FakeQuickBooks(path=path, clock=lambda: NOON)
    kept = fq.create("Customer", {"Name": "Kept"})
    changed = fq.create("Customer", {"Name": "Changed"})
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE company_records SET data = '{\"marker\": 1}' WHERE id = ?", (kept["ListID"],))
        (revision,) = conn.execute("SELECT revision FROM company").fetchone()
    fq.edit("Customer", changed["ListID"], {"Phone": "555-0101"})  # this instance does not reload: same revision
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT id, data FROM company_records"))
        assert conn.execute("SELECT revision FROM company").fetchone() == (revision + 1,)
    assert rows[kept["ListID"]] == '{"marker": 1}'  # untouched row, not written again
    assert '"555-0101"' in rows[changed["ListID"]]


def test_a_company_file_of_the_older_layout_is_read_and_rewritten_in_rows(tmp_path):
    import json
    import sqlite3

    source = FakeQuickBooks(clock=lambda: NOON)
    acme = source.create("Customer", {"Name": "Acme"})
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # format 1: the whole company, records included, in one row
        conn.execute("CREATE TABLE company (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, data TEXT NOT NULL)")
        conn.execute("INSERT INTO company VALUES (1, 7, ?)", (json.dumps({**source._company.state, "format": 1}),))
    fq = FakeQuickBooks(path=path, clock=lambda: NOON)
    assert fq.get("Customer", acme["ListID"])["Name"] == "Acme"
    assert len(fq.all("SalesTaxCode")) == 2
    fq.create("Customer", {"Name": "Next"})
    with sqlite3.connect(path) as conn:
        state = json.loads(conn.execute("SELECT data FROM company").fetchone()[0])
        names = [json.loads(d)["Name"] for (d,) in conn.execute("SELECT data FROM company_records WHERE type = 'Customer' ORDER BY seq")]
    assert "records" not in state and state["format"] == 2
    assert names == ["Acme", "Next"]
    assert [c["Name"] for c in FakeQuickBooks(path=path).all("Customer")] == ["Acme", "Next"]


def test_invoice_numbers_follow_the_highest_number_left(company):
    invoices = company.all("Invoice")
    assert [inv["RefNumber"] for inv in invoices] == [str(n) for n in range(1, len(invoices) + 1)]
    customer = invoices[0]["CustomerRef"]
    last = company.create("Invoice", {"CustomerRef": customer, "InvoiceLineAdd": [{"ItemRef": {"FullName": "Hour"}}]})
    assert last["RefNumber"] == str(len(invoices) + 1)
    company.edit("Invoice", invoices[0]["TxnID"], {"RefNumber": "9000"})
    assert company.create("Invoice", {"CustomerRef": customer})["RefNumber"] == "9001"
    company.delete("Invoice", invoices[0]["TxnID"])
    assert company.create("Invoice", {"CustomerRef": customer})["RefNumber"] == "9002"  # 9001 is still there
    company.delete("Invoice", company.find("Invoice", "9002")["TxnID"])
    company.delete("Invoice", company.find("Invoice", "9001")["TxnID"])
    assert company.create("Invoice", {"CustomerRef": customer})["RefNumber"] == str(len(invoices) + 2)


class TakingTurns:
    """Two FakeQuickBooks on one file, each doing every other action."""

    def __init__(self, *companies: FakeQuickBooks):
        self.companies, self.turn = companies, 0

    def __getattr__(self, name: str):
        self.turn += 1
        return getattr(self.companies[self.turn % len(self.companies)], name)


def test_two_instances_on_one_file_take_each_others_writes(tmp_path):
    path = tmp_path / "company.db"
    one, two = FakeQuickBooks(path=path, clock=lambda: NOON), FakeQuickBooks(path=path, clock=lambda: NOON)
    memory = FakeQuickBooks(clock=lambda: NOON)
    _workflow(TakingTurns(one, two))  # type: ignore[arg-type]
    _workflow(memory)
    assert _everything(one) == _everything(two) == _everything(FakeQuickBooks(path=path)) == _everything(memory)
    acme = one.find("Customer", "Acme Corp")
    two.edit("Customer", acme["ListID"], {"Name": "Acme Inc"})  # a rename seen by the other: its job's name follows
    assert one.find("Customer", "acme inc:roof")["FullName"] == "Acme Inc:Roof"
