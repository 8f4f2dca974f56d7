"""End to end over real HTTP: the real waitress server running our WSGI app around the real
ConnectorService on a real SQLite file, driven by the shipped WebConnector double with
FakeQuickBooks companies."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from soap_helpers import call, request

from qbsync.connector.service import ConnectorService
from qbsync.connector.app import make_wsgi_app, serve
from qbsync.store import open_store
from qbsync.store import sessions as store_sessions
from qbsync.store.changes import count_by_status
from qbsync.store.connections import add_connection, get_connection
from qbsync.sync import staging, wizard
from qbsync.sync.passwords import hash_password
from qbsync.testing import WebConnector
from qbsync.testing.fake_quickbooks import FakeQuickBooks

PASSWORDS = {"acme": "acme-pass-1", "beta": "beta-pass-2"}


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    with open_store(path, create=True) as store:
        for name, password in PASSWORDS.items():
            add_connection(store, name=name, username=f"{name}-sync", password_hash=hash_password(password))
    return path


@pytest.fixture
def log():
    handler = Lines()
    logger = logging.getLogger("test.qbsync.connector")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.lines = handler.lines
    return logger


def stage_customers(db, connection: str, count: int, prefix: str | None = None) -> None:
    prefix = prefix or connection
    with open_store(db) as store:
        conn = get_connection(store, connection)
        lines = [json.dumps({"id": f"{prefix}-{i}", "Name": f"{prefix} customer {i}"}) for i in range(count)]
        staging.stage_lines(store, conn, "Customer", lines)
        wizard.approve(store, conn)


def counts(db, connection: str) -> dict:
    with open_store(db) as store:
        return count_by_status(store, get_connection(store, connection)["id"])


def connector(url: str, name: str, company: FakeQuickBooks) -> WebConnector:
    return WebConnector(url, f"{name}-sync", PASSWORDS[name], company=company, noop_delay=0)


def app_for(db, log, **kw):
    return make_wsgi_app(ConnectorService(str(db), log=log, **kw), "/qbwc", log=log)


def test_a_whole_export_run(db, log):
    stage_customers(db, "acme", 120)
    company = FakeQuickBooks()
    with serve(app_for(db, log, batch_size=50), "127.0.0.1", 0) as server:
        url = server.url("/qbwc")
        report = connector(url, "acme", company).run()
        assert report.ok, report.as_dict()
        assert report.round_trips == 3  # ceil(120 / 50)
        assert report.percent_trace[-1] == 100 and report.percent_trace == sorted(report.percent_trace)
        assert report.calls[:3] == ["serverVersion", "clientVersion", "authenticate"]
        assert report.calls[-1] == "closeConnection"
        assert set(report.status_codes) == {0}
        assert "120" in report.final_message
        assert len(company.all("Customer")) == 120
        assert counts(db, "acme") == {("synced", "export"): 120}

        again = connector(url, "acme", company).run()
        assert again.outcome == "no_work" and again.ok

        page = request(server.url("/support")).body.decode()
        assert "Latest Web Connector runs" in page and report.final_message in page
    assert all(PASSWORDS["acme"] not in line for line in log.lines)
    assert log.lines  # one line per session and per batch


def test_a_wrong_password_gets_nvu_and_leaves_no_session(db, log):
    stage_customers(db, "acme", 1)
    with serve(app_for(db, log), "127.0.0.1", 0) as server:
        report = WebConnector(server.url("/qbwc"), "acme-sync", "wrong", company=FakeQuickBooks(), noop_delay=0).run()
    assert report.outcome == "invalid_user"
    with open_store(db) as store:
        assert store_sessions.recent_sessions(store) == []
    assert counts(db, "acme") == {("queued", "export"): 1}


def test_a_quickbooks_error_shows_on_the_support_page_with_its_steps(db, log):
    from qbsync.qbxml.status_codes import lookup
    import html

    stage_customers(db, "acme", 3)
    company = FakeQuickBooks()
    company.create("Customer", {"Name": "acme customer 1"})  # the name is taken in QuickBooks: 3100
    with serve(app_for(db, log), "127.0.0.1", 0) as server:
        report = connector(server.url("/qbwc"), "acme", company).run()
        assert 3100 in report.status_codes
        page = request(server.url("/support")).body.decode()
    assert "<td>3100</td>" in page
    assert html.escape(lookup(3100).steps[0]) in page
    assert counts(db, "acme")[("error", "export")] == 1


def test_two_connections_sync_at_the_same_time_without_crossing(db, log):
    stage_customers(db, "acme", 60)
    stage_customers(db, "beta", 60)
    companies = {"acme": FakeQuickBooks(), "beta": FakeQuickBooks()}
    reports = {}
    with serve(app_for(db, log, batch_size=10), "127.0.0.1", 0, threads=4) as server:
        url = server.url("/qbwc")
        threads = [threading.Thread(target=lambda n=n: reports.__setitem__(n, connector(url, n, companies[n]).run()))
                   for n in companies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    for name, company in companies.items():
        assert reports[name].ok, reports[name].as_dict()
        names = {c["Name"] for c in company.all("Customer")}
        assert len(names) == 60 and all(n.startswith(f"{name} customer") for n in names)
        assert counts(db, name) == {("synced", "export"): 60}


def test_a_second_session_for_the_same_connection_is_busy(db, log):
    stage_customers(db, "acme", 2)
    with serve(app_for(db, log), "127.0.0.1", 0) as server:
        url = server.url("/qbwc")
        first = call(url, "authenticate", strUserName="acme-sync", strPassword=PASSWORDS["acme"]).strings
        assert first[0] and first[1] not in ("nvu", "none", "busy")
        second = call(url, "authenticate", strUserName="acme-sync", strPassword=PASSWORDS["acme"]).strings
        assert second[1] == "busy"
        # Another connection is not blocked by acme's session.
        stage_customers(db, "beta", 1)
        other = call(url, "authenticate", strUserName="beta-sync", strPassword=PASSWORDS["beta"]).strings
        assert other[1] not in ("nvu", "none", "busy")
        # A ticket of one connection reaches nothing of another.
        call(url, "closeConnection", ticket=first[0])
        third = call(url, "authenticate", strUserName="acme-sync", strPassword=PASSWORDS["acme"]).strings
        assert third[1] not in ("nvu", "none", "busy")
        assert len({first[0], other[0], third[0]}) == 3
    assert not any(t in line for line in log.lines for t in (first[0], other[0], third[0]))


def test_a_server_restart_mid_session_and_between_sessions(db, log):
    stage_customers(db, "acme", 30)
    company = FakeQuickBooks()
    hcp = company.hcp_response()
    with serve(app_for(db, log, batch_size=10), "127.0.0.1", 0) as first_server:
        url = first_server.url("/qbwc")
        ticket, status = call(url, "authenticate", strUserName="acme-sync", strPassword=PASSWORDS["acme"]).strings[:2]
        request_xml = call(url, "sendRequestXML", ticket=ticket, strHCPResponse=hcp, strCompanyFileName="acme.QBW",
                           qbXMLCountry="US", qbXMLMajorVers=13, qbXMLMinorVers=0).text
        assert "<CustomerAddRq" in request_xml
    reply = company.process(request_xml)
    # A new server process on the same store carries the session on.
    with serve(app_for(db, log, batch_size=10), "127.0.0.1", 0) as second_server:
        url = second_server.url("/qbwc")
        percent = int(call(url, "receiveResponseXML", ticket=ticket, response=reply.xml, hresult="", message="").text)
        while 0 <= percent < 100:
            xml = call(url, "sendRequestXML", ticket=ticket, strHCPResponse="", strCompanyFileName="acme.QBW",
                       qbXMLCountry="US", qbXMLMajorVers=13, qbXMLMinorVers=0).text
            assert xml
            percent = int(call(url, "receiveResponseXML", ticket=ticket, response=company.process(xml).xml,
                               hresult="", message="").text)
        assert percent == 100
        assert call(url, "closeConnection", ticket=ticket).text
    assert counts(db, "acme") == {("synced", "export"): 30}
    # ... and between sessions: more work, a third server, a whole run.
    stage_customers(db, "acme", 5, prefix="more")
    with serve(app_for(db, log), "127.0.0.1", 0) as third_server:
        report = connector(third_server.url("/qbwc"), "acme", company).run()
    assert report.ok and len(company.all("Customer")) == 35


def test_the_company_file_cannot_be_opened(db, log):
    stage_customers(db, "acme", 3)
    company = FakeQuickBooks()
    company.fail_open(times=None)
    with serve(app_for(db, log), "127.0.0.1", 0) as server:
        url = server.url("/qbwc")
        report = connector(url, "acme", company).run()
        assert report.outcome == "connection_error"
        assert report.connection_errors and report.connection_errors[-1]["reply"].lower() == "done"
        assert counts(db, "acme") == {("queued", "export"): 3}  # nothing lost, nothing sent
        company.clear_open_error()
        assert connector(url, "acme", company).run().ok
    assert counts(db, "acme") == {("synced", "export"): 3}
