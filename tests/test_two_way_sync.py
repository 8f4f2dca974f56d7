"""Two-way sync end to end: records added, changed, deactivated and deleted in QuickBooks (a
FakeQuickBooks company edited by the test, as a QuickBooks user would) are detected by the real
service over HTTP, shown in the wizard, approved through the CLI and applied to the mirror and
the feed on the next Web Connector run."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from clock import Clock
from wizard_support import company_for, jsonl, run_cli, simulate_web_connector_run

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.qbxml import parse_request
from qbsync.store import changes as store_changes
from qbsync.store import connections, open_store
from qbsync.sync.passwords import hash_password
from qbsync.testing import FakeQuickBooks, WebConnector


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    run_cli("init", db=path, check=True)
    run_cli("connection", "add", "main", "--username", "qbwc", "--import", "Customer,ItemService,Invoice",
            "--password-stdin", db=path, input="s3cret\n", check=True)
    return path


def as_json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def pending(db):
    return as_json(run_cli("pending", "--format", "json", db=db))


def feed(db):
    proc = run_cli("changes", "--since", "0", db=db, check=True)
    return [json.loads(line) for line in proc.stdout.splitlines()]


def records(db, type_name):
    return {r["local_id"]: r for r in as_json(run_cli("records", type_name, "--format", "json", db=db))}


def approve_and_run(db):
    run_cli("approve", "--yes", db=db, check=True)
    return simulate_web_connector_run(db)


def test_list_records_added_changed_deactivated_and_deleted_in_quickbooks(db):
    qb = company_for(db)
    acme = qb.create("Customer", {"Name": "Acme", "Phone": "555-0100"})["ListID"]
    report = simulate_web_connector_run(db)
    (row,) = pending(db)
    assert (row["direction"], row["action"], row["type"], row["name"], row["qb_id"]) == (
        "import", "add", "Customer", "Acme", acme)
    assert "Phone=555-0100" in row["summary"] and report["detected"] == [row["id"]]

    report = approve_and_run(db)
    assert report["applied"] == [row["id"]] and pending(db) == []
    mirror = records(db, "Customer")[acme]
    assert mirror["qb_id"] == acme and mirror["data"]["Phone"] == "555-0100"
    (entry,) = feed(db)
    assert (entry["direction"], entry["action"], entry["result"], entry["qb_id"]) == ("import", "add", "applied", acme)
    # The feed carries the record in the shape `stage` takes: QuickBooks' bookkeeping left out.
    assert entry["data"]["Name"] == "Acme" and "ListID" not in entry["data"] and "EditSequence" not in entry["data"]
    assert entry["edit_sequence"] == qb.get("Customer", acme)["EditSequence"]

    # Nothing changed in QuickBooks: nothing is offered again (the overlap re-reads it).
    simulate_web_connector_run(db)
    assert pending(db) == []

    # A change in QuickBooks: a mod with the field's before and after.
    qb.edit("Customer", acme, {"Phone": "555-0199"})
    simulate_web_connector_run(db)
    (row,) = pending(db)
    assert row["action"] == "mod" and row["summary"] == "Phone: 555-0100 → 555-0199"
    shown = as_json(run_cli("show", str(row["id"]), "--format", "json", db=db))
    assert shown["fields"] == [{"field": "Phone", "before": "555-0100", "after": "555-0199"}]
    # It changes again while awaiting approval: the same change, updated.
    qb.edit("Customer", acme, {"Phone": "555-0177"})
    simulate_web_connector_run(db)
    (again,) = pending(db)
    assert again["id"] == row["id"] and again["summary"] == "Phone: 555-0100 → 555-0177"
    approve_and_run(db)
    assert records(db, "Customer")[acme]["data"]["Phone"] == "555-0177"

    # Made inactive: a mod of IsActive.
    qb.make_inactive("Customer", acme)
    simulate_web_connector_run(db)
    (row,) = pending(db)
    assert row["action"] == "mod" and row["summary"] == "IsActive: true → false"
    approve_and_run(db)
    assert records(db, "Customer")[acme]["data"]["IsActive"] == "false"

    # Deleted in QuickBooks: a delete; applied, the mirror forgets it and the feed says so.
    qb.delete("Customer", acme)
    simulate_web_connector_run(db)
    (row,) = pending(db)
    assert (row["action"], row["summary"]) == ("delete", "deleted in QuickBooks")
    approve_and_run(db)
    assert acme not in records(db, "Customer")
    assert [(e["action"], e["result"]) for e in feed(db)] == [
        ("add", "applied"), ("mod", "applied"), ("mod", "applied"), ("delete", "applied")]


def test_transactions_come_with_their_lines_and_references_the_app_knows(db):
    qb = company_for(db)
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C1", "Name": "Acme"}), check=True)
    approve_and_run(db)  # the app's customer is in QuickBooks now
    qb.create("ItemService", {"Name": "Labor", "SalesOrPurchase": {"AccountRef": {"FullName": "Services"}}})
    invoice = qb.create("Invoice", {"CustomerRef": {"FullName": "Acme"}, "RefNumber": "1001", "TxnDate": "2026-11-20",
                                    "InvoiceLineAdd": [{"ItemRef": {"FullName": "Labor"}, "Desc": "Work",
                                                        "Amount": "10.00"}]})
    simulate_web_connector_run(db)
    rows = pending(db)
    assert {(r["type"], r["action"]) for r in rows} == {("ItemService", "add"), ("Invoice", "add")}
    approve_and_run(db)
    mirror = records(db, "Invoice")[invoice["TxnID"]]["data"]
    (line,) = mirror["InvoiceLine"]
    assert line["Desc"] == "Work" and line["TxnLineID"] == invoice["InvoiceLineRet"][0]["TxnLineID"]
    assert mirror["CustomerRef"] == {"local_id": "C1"}  # the app's id for its own customer
    assert set(line["ItemRef"]) == {"ListID", "FullName"}  # an item the app never named keeps QuickBooks' id
    assert "InvoiceLineRet" not in mirror and "TxnID" not in mirror

    # A line added in QuickBooks: a mod; then the invoice deleted: TxnDeletedQuery finds it.
    qb.edit("Invoice", invoice["TxnID"], {"InvoiceLineAdd": [{"Desc": "Travel", "Amount": "5.00"}]})
    simulate_web_connector_run(db)
    (row,) = pending(db)
    assert (row["type"], row["action"]) == ("Invoice", "mod") and "InvoiceLineRet" in row["summary"]
    approve_and_run(db)
    assert [ln["Desc"] for ln in records(db, "Invoice")[invoice["TxnID"]]["data"]["InvoiceLine"]] == ["Work", "Travel"]
    qb.delete("Invoice", invoice["TxnID"])
    simulate_web_connector_run(db)
    (row,) = pending(db)
    assert (row["type"], row["action"]) == ("Invoice", "delete")
    approve_and_run(db)
    assert records(db, "Invoice") == {}


def test_qbsyncs_own_exports_never_come_back_as_imports(db):
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt"}),
            check=True)
    approve_and_run(db)  # exported, then detection reads them back in the same session
    assert pending(db) == []
    simulate_web_connector_run(db)
    assert pending(db) == []
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C1", "Name": "Acme", "Phone": "1"}), check=True)
    approve_and_run(db)  # a Mod qbsync sent: QuickBooks' new EditSequence is qbsync's own
    simulate_web_connector_run(db)
    assert pending(db) == []
    assert all(e["direction"] == "export" for e in feed(db))


def test_an_approved_import_that_vanished_goes_to_the_error_log_qb_to_app(db):
    qb = company_for(db)
    zed = qb.create("Customer", {"Name": "Zed"})["ListID"]
    simulate_web_connector_run(db)
    (row,) = pending(db)
    run_cli("approve", "--yes", db=db, check=True)
    qb.delete("Customer", zed)  # gone before the next run re-reads it
    simulate_web_connector_run(db)
    (error,) = as_json(run_cli("errors", "--format", "json", db=db))
    assert error["id"] == row["id"] and error["direction"] == "QB → app"
    assert "no longer in QuickBooks" in error["reason"]
    assert zed not in records(db, "Customer")


def test_keep_and_clear_unchecked_for_imports(db):
    qb = company_for(db)
    keep = qb.create("Customer", {"Name": "Keep"})["ListID"]
    clear = qb.create("Customer", {"Name": "Clear"})["ListID"]
    simulate_web_connector_run(db)
    ids = {r["name"]: r["id"] for r in pending(db)}
    run_cli("approve", "--uncheck", str(ids["Keep"]), "--yes", db=db, check=True)  # keep unchecked
    assert pending(db) == []
    simulate_web_connector_run(db)
    assert [(r["name"], r["checked"]) for r in pending(db)] == [("Keep", True)]  # back, checked
    assert clear in records(db, "Customer") and keep not in records(db, "Customer")
    run_cli("approve", "--uncheck", str(ids["Keep"]), "--clear-unchecked", "--yes", db=db, check=True)
    simulate_web_connector_run(db)
    simulate_web_connector_run(db)
    assert pending(db) == []  # cleared: never back...
    qb.edit("Customer", keep, {"Phone": "1"})
    simulate_web_connector_run(db)
    assert [r["name"] for r in pending(db)] == ["Keep"]  # ...until it changes again in QuickBooks


def test_first_run_honours_import_since(tmp_path):
    db = tmp_path / "qbsync.db"
    run_cli("init", db=db, check=True)
    run_cli("connection", "add", "main", "--username", "qbwc", "--import", "Customer", "--import-since", "2026-01-01",
            "--password-stdin", db=db, input="s3cret\n", check=True)
    old = FakeQuickBooks(path=Path(f"{db}.quickbooks"), clock=lambda: datetime(2025, 6, 1, 12, tzinfo=timezone.utc))
    old.create("Customer", {"Name": "Old Timer"})
    company_for(db).create("Customer", {"Name": "Newcomer"})
    simulate_web_connector_run(db)
    assert [r["name"] for r in pending(db)] == ["Newcomer"]


# -- the protocol: pages, watermarks, when detection runs ---------------------------------------------


def _served(db_path, clock, **kw):
    service = ConnectorService(str(db_path), clock=clock, **kw)
    return serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0, threads=2)


def test_ten_thousand_records_are_paged_with_iterators(tmp_path, caplog):
    db = tmp_path / "qbsync.db"
    with open_store(db, create=True) as store:
        connections.add_connection(store, name="big", username="big", password_hash=hash_password("pw"),
                                   import_types=["Customer"])
    qb = FakeQuickBooks()
    for i in range(10_000):
        qb.create("Customer", {"Name": f"Customer {i:05d}"})
    caplog.set_level(logging.INFO, logger="qbsync.connector")
    with _served(db, Clock()) as server:
        report = WebConnector(server.url("/qbwc"), "big", "pw", company=qb, noop_delay=0).run()
    assert report.ok, report.errors + report.violations
    requests = [parse_request(x.request).requests[0] for x in qb.history]
    customer_queries = [r for r in requests if r.name == "CustomerQuery"]
    assert len(customer_queries) == 20  # 10,000 / 500
    assert [r.attrs.get("iterator") for r in customer_queries] == ["Start"] + ["Continue"] * 19
    assert {str(r.data["MaxReturned"]) for r in customer_queries} == {"500"}
    assert all(r.data["ActiveStatus"] == "All" for r in customer_queries)
    assert [r.name for r in requests if r.name not in ("CustomerQuery", "HostQuery")] == ["ListDeletedQuery"]
    with open_store(db) as store:
        awaiting = store_changes.list_changes(store, 1, ["awaiting"], direction="import")
    assert len(awaiting) == 10_000 and len({c["qb_id"] for c in awaiting}) == 10_000
    pages = [m for r in caplog.records if "import Customer: page" in (m := r.getMessage())]
    assert len(pages) == 20 and "page 1, 500 record(s) read, 9500 to come" in pages[0]
    assert report.percent_trace == sorted(report.percent_trace) and report.percent_trace[-1] == 100


def test_watermark_is_quickbooks_time_minus_an_overlap_and_moves_on(tmp_path):
    db = tmp_path / "qbsync.db"
    with open_store(db, create=True) as store:
        connections.add_connection(store, name="w", username="w", password_hash=hash_password("pw"),
                                   import_types=["Customer"], import_page_size=2)
    qb_now = [datetime(2026, 11, 26, 9, 0, tzinfo=timezone(timedelta(hours=-8)))]
    qb = FakeQuickBooks(clock=lambda: qb_now[0])
    for name in ("A", "B", "C"):
        qb.create("Customer", {"Name": name})
        qb_now[0] += timedelta(minutes=1)
    clock = Clock()
    with _served(db, clock) as server:
        assert WebConnector(server.url("/qbwc"), "w", "pw", company=qb, noop_delay=0).run().ok
        first = [r for r in (parse_request(x.request).requests[0] for x in qb.history) if r.name == "CustomerQuery"]
        qb.history.clear()
        qb_now[0] += timedelta(hours=1)
        qb.create("Customer", {"Name": "D"})
        clock.advance(3600)
        assert WebConnector(server.url("/qbwc"), "w", "pw", company=qb, noop_delay=0).run().ok
        second = [r for r in (parse_request(x.request).requests[0] for x in qb.history) if r.name == "CustomerQuery"]
    assert "FromModifiedDate" not in first[0].data  # a first run reads everything
    assert [r.attrs.get("iterator") for r in first] == ["Start", "Continue"]
    # C was saved at 09:02 QuickBooks time: the next run starts 5 minutes earlier, in QuickBooks' offset.
    assert second[0].data["FromModifiedDate"] == "2026-11-26T08:57:00-08:00"
    with open_store(db) as store:
        names = [c["name"] for c in store_changes.list_changes(store, 1, ["awaiting"], direction="import")]
    assert names == ["A", "B", "C", "D"]  # the overlap re-read C without offering it twice


def test_authenticate_runs_detection_when_due_and_respects_the_minimum_interval(tmp_path):
    db = tmp_path / "qbsync.db"
    with open_store(db, create=True) as store:
        connections.add_connection(store, name="m", username="m", password_hash=hash_password("pw"),
                                   import_types=["Customer"])
        connections.add_connection(store, name="x", username="x", password_hash=hash_password("pw"))
    clock = Clock()
    qb = FakeQuickBooks()
    with _served(db, clock, min_run_interval=600) as server:
        url = server.url("/qbwc")
        assert WebConnector(url, "x", "pw", company=qb, noop_delay=0).run().outcome == "no_work"  # imports nothing
        first = WebConnector(url, "m", "pw", company=qb, noop_delay=0).run()
        assert first.ok and first.outcome != "no_work"  # nothing queued, but detection is due
        clock.advance(60)
        assert WebConnector(url, "m", "pw", company=qb, noop_delay=0).run().outcome == "no_work"  # looked 1 min ago
        clock.advance(600)
        assert WebConnector(url, "m", "pw", company=qb, noop_delay=0).run().outcome != "no_work"
