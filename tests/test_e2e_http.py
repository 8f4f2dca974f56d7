"""End to end over real HTTP: a real store, the real ConnectorService behind the real WSGI app
on a running waitress server (127.0.0.1, any free port), driven by the shipped WebConnector
double with a FakeQuickBooks company. 2,000 changes in ceil(2000 / batch) + a few round trips,
dependency ordering, authenticate's optional values on the wire, and the WSDL's address behind
a reverse proxy."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lxml import etree
from e2e_support import PASSWORD, USER, approve, db, error_log, stage  # noqa: F401 - db is a fixture
from soap_helpers import INTUIT, NS, call, post_soap, request

from qbsync.qbxml import parse_request
from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.store import open_store
from qbsync.store.connections import get_connection
from qbsync.sync import overview
from qbsync.testing import WebConnector
from qbsync.testing.fake_quickbooks import FakeQuickBooks
from qbsync.testing.web_connector.soap import build_envelope

ROOT = Path(__file__).resolve().parents[1]
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"


def changes(db) -> list[dict]:
    with open_store(db) as store:
        return store.query("SELECT * FROM changes ORDER BY id")


def records(db, type_name: str) -> dict[str, dict]:
    with open_store(db) as store:
        return {r["local_id"]: r for r in overview.records(store, get_connection(store, "acme"), type_name)}


def run_connector(db, company: FakeQuickBooks, **service_options):
    service = ConnectorService(str(db), **service_options)
    with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as server:
        return WebConnector(server.url("/qbwc"), USER, PASSWORD, company=company, noop_delay=0).run()


# -- 2,000 changes --------------------------------------------------------------------------------


def test_2000_changes_in_ceil_2000_over_batch_and_a_few_round_trips(db):
    stage(db, "Customer", [{"id": f"C{i}", "Name": f"Customer {i:04d}", "Phone": f"555-{i:04d}"} for i in range(2000)])
    approve(db)
    company = FakeQuickBooks()
    started = time.monotonic()
    report = run_connector(db, company, batch_size=50)
    elapsed = time.monotonic() - started

    assert report.ok, (report.errors, report.violations)
    assert report.outcome == "complete" and report.calls[-1] == "closeConnection"
    assert report.round_trips <= math.ceil(2000 / 50) + 3
    assert set(report.status_codes) == {0} and len(report.status_codes) == 2000
    trace = report.percent_trace
    assert trace == sorted(trace) and trace[-1] == 100 and all(0 <= p <= 100 for p in trace)
    assert 100 not in trace[:-1]  # 100 only when done
    assert report.final_message == "Synced 2000"
    in_quickbooks = {c["Name"]: c for c in company.all("Customer")}
    assert set(in_quickbooks) == {f"Customer {i:04d}" for i in range(2000)}
    assert in_quickbooks["Customer 1234"]["Phone"] == "555-1234"
    mirror = records(db, "Customer")
    assert len(mirror) == 2000
    assert all(r["qb_id"] == in_quickbooks[r["name"]]["ListID"] and r["edit_sequence"] for r in mirror.values())
    assert {c["status"] for c in changes(db)} == {"synced"}
    assert error_log(db) == []
    assert elapsed < 60, f"2,000 changes took {elapsed:.1f} s"


# -- dependency ordering --------------------------------------------------------------------------


def test_dependencies_go_parent_first_over_http_even_when_staged_in_reverse(db):
    # stage refuses a reference to a record not staged yet, except to a line of the same file:
    # there the job comes before its customer, and is still sent after it
    stage(db, "Customer", [{"id": "J1", "Name": "Roof job", "ParentRef": {"local_id": "C1"}},
                           {"id": "C1", "Name": "Acme Roofing"}])
    stage(db, "ItemService", [{"id": "I1", "Name": "Labor",
                               "SalesOrPurchase": {"Price": "15.00", "AccountRef": {"FullName": "Services"}}}])
    stage(db, "Invoice", [{"id": "INV1", "CustomerRef": {"local_id": "J1"}, "RefNumber": "INV-1", "TxnDate": "2026-11-20",
                           "InvoiceLine": [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": 3}]}])
    stage(db, "ReceivePayment", [{"id": "P1", "CustomerRef": {"local_id": "J1"}, "TotalAmount": "45.00",
                                  "AppliedToTxn": [{"TxnID": {"local_id": "INV1"}, "PaymentAmount": "45.00"}]}])
    approve(db)
    company = FakeQuickBooks()
    report = run_connector(db, company)

    assert report.ok, (report.errors, report.violations)
    sent = [sorted(r.name for r in parse_request(x).requests) for x in report.requests]
    assert sent == [["CustomerAdd", "ItemServiceAdd"], ["CustomerAdd"], ["InvoiceAdd"], ["ReceivePaymentAdd"]]
    assert report.final_message == "Synced 5"
    assert {c["status"] for c in changes(db)} == {"synced"} and error_log(db) == []

    customer_id = records(db, "Customer")["C1"]["qb_id"]
    job_id = records(db, "Customer")["J1"]["qb_id"]
    invoice_id = records(db, "Invoice")["INV1"]["qb_id"]
    job = company.get("Customer", job_id)
    assert job["ParentRef"]["ListID"] == customer_id and job["FullName"] == "Acme Roofing:Roof job"
    invoice = company.get("Invoice", invoice_id)
    assert invoice["CustomerRef"]["ListID"] == job_id
    assert invoice["InvoiceLineRet"][0]["ItemRef"]["ListID"] == records(db, "ItemService")["I1"]["qb_id"]
    (payment,) = company.all("ReceivePayment")
    assert payment["TxnID"] == records(db, "ReceivePayment")["P1"]["qb_id"]
    assert payment["CustomerRef"]["ListID"] == job_id
    assert [a["TxnID"] for a in payment["AppliedToTxnRet"]] == [invoice["TxnID"]]


# -- authenticate's optional values on the wire ---------------------------------------------------


def _auth_strings(url: str) -> list[str | None]:
    """authenticate's <string> children read straight from the HTTP reply."""
    reply = post_soap(url, build_envelope("authenticate", {"strUserName": USER, "strPassword": PASSWORD}),
                      "authenticate")
    assert reply.status == 200, reply.body[:300]
    result = reply.result("authenticate")
    children = list(result)
    assert all(child.tag == f"{{{INTUIT}}}string" for child in children), etree.tostring(result)
    return [child.text for child in children]


def test_authenticate_sends_postpone_and_minimum_run_interval_as_string_array(db):
    stage(db, "Customer", [{"id": "C1", "Name": "Acme"}])
    approve(db)
    service = ConnectorService(str(db), min_run_interval=300)
    with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as server:
        url = server.url("/qbwc")
        ticket, company_file, postpone, interval = _auth_strings(url)
        assert ticket and len(ticket) >= 32
        assert (company_file or "", postpone or "", interval) == ("", "", "300")
        busy = _auth_strings(url)  # the first session is alive: busy, and when to try again
        assert len(busy) == 4 and busy[1] == "busy" and busy[3] == "300"
        assert 115 <= int(busy[2]) <= 120  # default session timeout 120 s
        assert call(url, "closeConnection", ticket=ticket).text

        report = WebConnector(url, USER, PASSWORD, company=FakeQuickBooks(), noop_delay=0).run()
        assert report.ok and report.outcome == "complete", report.errors + report.violations
        assert report.auth["min_run_interval_seconds"] == 300 and report.auth["postpone_seconds"] is None
        again = WebConnector(url, USER, PASSWORD, company=FakeQuickBooks(), noop_delay=0).run()
        assert again.outcome == "no_work" and again.auth["min_run_interval_seconds"] == 300


def test_authenticate_sends_two_strings_when_nothing_optional_applies(db):
    stage(db, "Customer", [{"id": "C1", "Name": "Acme"}])
    approve(db)
    with serve(make_wsgi_app(ConnectorService(str(db)), "/qbwc"), "127.0.0.1", 0) as server:
        first = _auth_strings(server.url("/qbwc"))
        assert len(first) == 2 and first[0] and (first[1] or "") == ""
        busy = _auth_strings(server.url("/qbwc"))
        assert len(busy) == 3 and busy[1] == "busy" and 1 <= int(busy[2]) <= 120


# -- behind a reverse proxy -----------------------------------------------------------------------

PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sync.acme.example"}


def _wsdl_address(url: str, headers: dict[str, str] | None = None) -> str:
    reply = request(url + "?wsdl", headers=headers)
    assert reply.status == 200
    (address,) = reply.xml().iterfind(f".//{{{WSDL}}}service/{{{WSDL}}}port/{{{WSDL_SOAP}}}address")
    return address.get("location")


def test_forwarded_scheme_and_host_are_honoured_only_behind_a_proxy(db):
    service = ConnectorService(str(db))
    with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as direct:
        url = direct.url("/qbwc")
        assert _wsdl_address(url) == url
        assert _wsdl_address(url, PROXY_HEADERS) == url  # forgeable on a direct connection: ignored
    with serve(make_wsgi_app(service, "/qbwc", behind_proxy=True), "127.0.0.1", 0) as proxied:
        url = proxied.url("/qbwc")
        assert _wsdl_address(url) == url  # no headers: as before
        assert _wsdl_address(url, PROXY_HEADERS) == "https://sync.acme.example/qbwc"
        # a chain of proxies: the first value is the client's
        chain = {"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "sync.acme.example:8443, 10.0.0.5"}
        assert _wsdl_address(url, chain) == "https://sync.acme.example:8443/qbwc"
        # the proto alone: the Host header the proxy passed on
        assert _wsdl_address(url, {"X-Forwarded-Proto": "https", "Host": "qb.example.com"}) == "https://qb.example.com/qbwc"
        # malformed values are ignored, never written into the WSDL
        bad = {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example/phish?x="}
        assert _wsdl_address(url, bad) == url
        # the SOAP service itself is unaffected
        assert call(url, "serverVersion").text.startswith("qbsync")


def test_serve_connector_behind_proxy_with_a_minimum_run_interval(db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(PYTHONPATH=str(ROOT), QBSYNC_DB=str(db))
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbsync", "serve-connector", "--port", "0", "--behind-proxy",
         "--min-run-interval", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env, cwd=str(ROOT),
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.endswith("/qbwc"), proc.stderr.read() if not url else url
        assert _wsdl_address(url, PROXY_HEADERS) == "https://sync.acme.example/qbwc"
        none = _auth_strings(url)  # nothing queued
        assert none[1:] == ["none", None, "600"] or none[1:] == ["none", "", "600"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "minimum run interval 600s" in err and "behind a proxy" in err


def test_serve_connector_refuses_a_minimum_run_interval_below_one(db):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(PYTHONPATH=str(ROOT), QBSYNC_DB=str(db))
    done = subprocess.run([sys.executable, "-m", "qbsync", "serve-connector", "--min-run-interval", "0"],
                          capture_output=True, text=True, env=env, cwd=str(ROOT), timeout=30, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stdout == "" and "--min-run-interval" in done.stderr
