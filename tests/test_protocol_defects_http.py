"""Regression tests over real HTTP for the export path's protocol defects (issue 8): a real
store, the real ConnectorService behind the real WSGI app on waitress (127.0.0.1, any free port),
driven by the shipped WebConnector with a FakeQuickBooks company."""

from __future__ import annotations

from e2e_support import PASSWORD, USER, approve, db, error_log, stage  # noqa: F401 - db is a fixture

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.store import open_store
from qbsync.store.connections import get_connection
from qbsync.store.sessions import recent_sessions
from qbsync.sync import errorlog, overview, staging
from qbsync.testing import FakeQuickBooks, Reply, WebConnector

PARSE_ERROR = "QuickBooks found an error when parsing the provided XML text stream."


def stage_deletes(db, type_name: str, ids: list[str]) -> None:
    with open_store(db) as store:
        staging.stage_deletes(store, get_connection(store, "acme"), type_name, ids)


def failed(db) -> list[dict]:
    with open_store(db) as store:
        return errorlog.failed(store, get_connection(store, "acme"))


def last_session(db) -> dict:
    with open_store(db) as store:
        return recent_sessions(store, limit=1)[0]


def connection_status(db) -> dict:
    with open_store(db) as store:
        (row,) = overview.status(store, "acme")
    return row


def run(db, company, *, wc_options=None, **service_options):
    service = ConnectorService(str(db), **service_options)
    with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as server:
        return WebConnector(server.url("/qbwc"), USER, PASSWORD, company=company, noop_delay=0,
                            **(wc_options or {})).run()


class CannotParse(FakeQuickBooks):
    """A company whose request processor cannot parse any message that holds `marker` (as
    QuickBooks does with a request it does not support): 0x80040400 for the whole message."""

    def __init__(self, marker: str, **kw):
        super().__init__(**kw)
        self.marker = marker
        self.sizes: list[int] = []

    def process(self, request_xml):
        text = request_xml.decode() if isinstance(request_xml, bytes) else request_xml
        self.sizes.append(text.count("AddRq requestID"))
        if self.marker in text:
            return Reply(None, "0x80040400", PARSE_ERROR)
        return super().process(request_xml)


def test_a_message_quickbooks_cannot_parse_finds_the_culprit_and_logs_it_never_loops(db):
    stage(db, "Customer", [{"id": f"C{i}", "Name": f"Customer {i}"} for i in range(1, 6)])
    approve(db)
    company = CannotParse("Customer 3<")
    report = run(db, company, batch_size=10)
    assert report.ok, (report.errors, report.violations)
    assert company.sizes == [5, 1, 1, 1, 1, 1]  # all five, then one by one
    assert sorted(c["Name"] for c in company.all("Customer")) == [f"Customer {i}" for i in (1, 2, 4, 5)]
    (err,) = error_log(db)
    assert err["name"] == "Customer 3" and err["status_code"] == "0x80040400"
    assert "parse" in err["reason"].lower()
    (fail,) = failed(db)
    assert fail["status_code"] == "0x80040400"
    assert report.final_message == "Synced 4, 1 error"
    # the next run does not send it again: it waits in the Error Log for the admin
    again = run(db, company, batch_size=10)
    assert again.round_trips == 0 and again.outcome != "complete"


def test_a_late_answer_within_the_response_timeout_is_applied(db):
    stage(db, "Customer", [{"id": "C1", "Name": "Slow Co"}, {"id": "C2", "Name": "Slower Co"}])
    approve(db)
    company = FakeQuickBooks()
    company.delay(2.5)  # QuickBooks takes longer than the session timeout over the message
    report = run(db, company, session_timeout=1)
    assert report.ok, (report.errors, report.violations)
    assert report.final_message == "Synced 2"
    assert error_log(db) == []
    assert len(company.all("Customer")) == 2


def test_deletes_go_dependents_first(db):
    stage(db, "Customer", [{"id": "C1", "Name": "Acme Roofing"}])
    stage(db, "Customer", [{"id": "J1", "Name": "Roof job", "ParentRef": {"local_id": "C1"}}])
    stage(db, "ItemService", [{"id": "I1", "Name": "Labor",
                               "SalesOrPurchase": {"Price": "15.00", "AccountRef": {"FullName": "Services"}}}])
    stage(db, "Invoice", [{"id": "INV1", "CustomerRef": {"local_id": "J1"}, "RefNumber": "INV-1",
                           "TxnDate": "2026-11-20", "InvoiceLine": [{"id": "L1", "ItemRef": {"local_id": "I1"},
                                                                     "Quantity": 3}]}])
    approve(db)
    company = FakeQuickBooks()
    assert run(db, company).final_message == "Synced 4"
    # deleted in the order they were added: QuickBooks would refuse each with 3170 (in use)
    stage_deletes(db, "Customer", ["C1"])
    stage_deletes(db, "Customer", ["J1"])
    stage_deletes(db, "ItemService", ["I1"])
    stage_deletes(db, "Invoice", ["INV1"])
    approve(db)
    report = run(db, company)
    assert report.ok, (report.errors, report.violations)
    assert report.final_message == "Synced 4", error_log(db)
    assert company.all("Customer") == [] and company.all("Invoice") == [] and company.all("ItemService") == []


def test_after_a_connection_error_the_status_says_so(db):
    stage(db, "Customer", [{"id": "C1", "Name": "Acme"}])
    approve(db)
    company = FakeQuickBooks()
    company.fail_open(times=None)
    report = run(db, company)
    assert report.connection_errors
    session = last_session(db)
    assert "0x80040408" in session["summary"] and "Nothing to sync" not in session["summary"]
    assert "QuickBooks could not be opened" in connection_status(db)["last_contact_outcome"]
    service = ConnectorService(str(db))
    assert service.close_connection("an unknown ticket") == "OK"


def test_an_unsupported_qbxml_version_is_what_the_run_ends_with(db):
    stage(db, "Customer", [{"id": "C1", "Name": "Acme"}])
    approve(db)
    report = run(db, FakeQuickBooks(), wc_options={"qbxml_version": "12.0"})
    assert "qbXML 12.0" in report.final_message
    session = last_session(db)
    assert "qbXML 12.0" in session["summary"] and "update QuickBooks" in session["summary"]
    assert connection_status(db)["queued"] == 1  # nothing lost: it waits for a QuickBooks that can take it
