"""ConnectorService under stress: a busy store, a missing store, two connections at once from
several threads, random Web Connector call sequences (hypothesis); authenticate's optional
postpone / minimum-run-interval values; sessions that time out while QuickBooks starts."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbsync.errors import QbsyncError
from qbsync.connector.service import ConnectorService, ticket_hash
from qbsync.store import connections as store_connections
from qbsync.store import open_store
from qbsync.store import sessions as store_sessions
from qbsync.testing.fake_quickbooks import FakeQuickBooks
from test_service_export import PASSWORD, Env, customer, env  # noqa: F401 - env is a fixture


def test_a_busy_store_pauses_instead_of_failing(tmp_path, monkeypatch):
    env = Env(tmp_path)
    env.stage("Customer", [customer("C1")])
    env.approve()
    ticket = env.service.authenticate("acme-sync", PASSWORD)[0]
    monkeypatch.setenv("QBSYNC_BUSY_TIMEOUT", "0.05")
    blocker = sqlite3.connect(env.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        assert env.service.send_request_xml(ticket, "", "", "US", 13, 0) == ""
        assert env.service.get_last_error(ticket) == "NoOp"  # QBWC waits and asks again
        assert env.service.authenticate("acme-sync", PASSWORD)[1] == "busy"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    # the session goes on once the store is free
    xml = env.service.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    assert "CustomerAdd" in xml
    assert env.service.receive_response_xml(ticket, env.fq.process(xml).xml, "", "") == 100
    assert env.service.close_connection(ticket) == "Synced 1"


def test_a_missing_store_never_raises(tmp_path):
    svc = ConnectorService(tmp_path / "nope.db")
    assert svc.authenticate("u", "p")[1] == "busy"
    assert svc.send_request_xml("t", "", "", "US", 13, 0) == ""
    assert svc.receive_response_xml("t", "", "", "") < 0
    assert svc.get_last_error("t").startswith("qbsync: no store at")  # what failed, said plainly
    assert svc.connection_error("t", "0x80040408", "x") == "done"
    assert svc.close_connection("t")


def test_two_connections_sync_at_the_same_time_without_crossing(tmp_path):
    env = Env(tmp_path)
    other = env.add_connection("beta", "beta-sync")
    env.stage("Customer", [customer(f"A{i}", f"Alpha {i}") for i in range(120)])
    env.stage("Customer", [customer(f"B{i}", f"Beta {i}") for i in range(120)], conn=other)
    env.approve()
    env.approve(conn=other)
    companies = {"acme-sync": FakeQuickBooks(), "beta-sync": FakeQuickBooks()}
    results: dict[str, object] = {}

    def worker(username):
        svc = ConnectorService(env.path, batch_size=10, clock=env.clock)
        results[username] = env.run(username, fq=companies[username], service=svc)

    threads = [threading.Thread(target=worker, args=(u,)) for u in companies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results["acme-sync"].summary == "Synced 120"
    assert results["beta-sync"].summary == "Synced 120"
    assert {c["Name"][:4] for c in companies["acme-sync"].all("Customer")} == {"Alph"}
    assert {c["Name"][:4] for c in companies["beta-sync"].all("Customer")} == {"Beta"}
    assert len(env.records("Customer")) == 120 and len(env.records("Customer", conn=other)) == 120


CALLS = st.lists(
    st.sampled_from(["authenticate", "send", "receive", "receive_hresult", "last_error", "close", "wait", "lose"]),
    max_size=25,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=CALLS)
def test_random_call_sequences_keep_the_store_consistent(tmp_path_factory, calls):
    env = Env(tmp_path_factory.mktemp("random"))
    env.stage("Customer", [customer(f"C{i}") for i in range(6)] + [customer("J1", ParentRef={"local_id": "C0"})])
    env.approve()
    svc = ConnectorService(env.path, batch_size=3, clock=env.clock, session_timeout=60)
    ticket, last_xml, percents = None, None, []
    for call in calls:
        if call == "authenticate":
            auth = svc.authenticate("acme-sync", PASSWORD)
            assert auth[1] in ("", "none", "busy")
            if auth[1] == "":
                ticket, percents = auth[0], []
        elif call == "send":
            last_xml = svc.send_request_xml(ticket or "", env.fq.hcp_response(), "", "US", 13, 0) or None
        elif call in ("receive", "receive_hresult", "lose"):
            # QuickBooks applies a message it could parse; a parse error (0x80040400) applies nothing
            reply = env.fq.process(last_xml) if last_xml and call != "receive_hresult" else None
            if call == "lose":
                continue  # applied in QuickBooks, answer never delivered
            if call == "receive_hresult":
                percent = svc.receive_response_xml(ticket or "", "", "0x80040400", "parse error")
            else:
                percent = svc.receive_response_xml(ticket or "", reply.xml if reply and reply.xml else "", "", "")
            assert isinstance(percent, int) and (percent < 0 or 0 <= percent <= 100)
            if percent >= 0:
                assert not percents or percent >= percents[-1]
                percents.append(percent)
            last_xml = None
        elif call == "last_error":
            assert isinstance(svc.get_last_error(ticket or ""), str)
        elif call == "close":
            assert svc.close_connection(ticket or "")
        elif call == "wait":
            env.clock.advance(61)
    with open_store(env.path) as store:
        statuses = {r["status"] for r in store.query("SELECT status FROM changes")}
        open_sessions = store.query("SELECT * FROM sessions WHERE closed_at IS NULL")
        sending = store.query("SELECT * FROM changes WHERE status = 'sending'")
        synced_without_id = store.query("SELECT * FROM changes c WHERE status = 'synced' AND NOT EXISTS"
                                        " (SELECT 1 FROM records r WHERE r.local_id = c.local_id AND r.qb_id IS NOT NULL)")
    assert statuses <= {"queued", "sending", "synced", "error"}
    assert len(open_sessions) <= 1
    assert not sending or open_sessions  # only a live session has changes out
    assert not synced_without_id
    # every record QuickBooks holds was added once (never re-sent blindly)
    names = [c["Name"] for c in env.fq.all("Customer")]
    assert len(names) == len(set(names))


# -- authenticate's optional values: postpone (index 2) and minimum run interval (index 3) --------


def test_authenticate_answers_two_strings_when_nothing_optional_applies(env):
    assert env.service.authenticate("acme-sync", "wrong") == ["", "nvu"]
    ticket, status = env.service.authenticate("acme-sync", PASSWORD)
    assert status == "none" and ticket
    env.stage("Customer", [customer("C1")])
    env.approve()
    ticket, status = env.service.authenticate("acme-sync", PASSWORD)
    assert status == "" and ticket


def test_a_minimum_run_interval_rides_on_every_answer_with_a_ticket(env):
    svc = ConnectorService(env.path, clock=env.clock, min_run_interval=300)
    assert svc.authenticate("acme-sync", "wrong") == ["", "nvu"]  # no ticket: nothing to run
    none = svc.authenticate("acme-sync", PASSWORD)
    assert none[1:] == ["none", "", "300"] and none[0]
    env.stage("Customer", [customer("C1")])
    env.approve()
    work = svc.authenticate("acme-sync", PASSWORD)
    assert work[1:] == ["", "", "300"] and work[0]
    env.clock.advance(50)
    busy = svc.authenticate("acme-sync", PASSWORD)
    assert busy[1:] == ["busy", "70", "300"] and busy[0] != work[0]


def test_busy_postpones_until_the_running_session_would_expire(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = ConnectorService(env.path, clock=env.clock, response_timeout=120)  # session timeout 120 s
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    assert svc.authenticate("acme-sync", PASSWORD)[1:] == ["busy", "120"]  # capped at the timeout
    env.clock.advance(30)
    assert svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)  # a call: alive again
    env.clock.advance(0.4)
    assert svc.authenticate("acme-sync", PASSWORD)[1:] == ["busy", "120"]
    env.clock.advance(119)
    assert svc.authenticate("acme-sync", PASSWORD)[1:] == ["busy", "1"]  # at least 1
    env.clock.advance(1)  # 120 s without a call: the first session has expired
    assert svc.authenticate("acme-sync", PASSWORD)[1] in ("", "none")


def test_an_auto_run_retry_after_the_postpone_is_no_longer_busy(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.approve()
    svc = ConnectorService(env.path, clock=env.clock, session_timeout=45)
    svc.authenticate("acme-sync", PASSWORD)
    env.clock.advance(17.6)
    answer = svc.authenticate("acme-sync", PASSWORD)
    assert answer[1] == "busy" and answer[2] == "28"  # ceil(45 - 17.6)
    env.clock.advance(int(answer[2]) - 1)
    assert svc.authenticate("acme-sync", PASSWORD)[1:] == ["busy", "1"]
    env.clock.advance(1)
    assert svc.authenticate("acme-sync", PASSWORD)[1] == ""  # the abandoned one expired: a new session


def test_busy_postpone_can_be_turned_off(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = ConnectorService(env.path, clock=env.clock, busy_postpone=False)
    svc.authenticate("acme-sync", PASSWORD)
    assert svc.authenticate("acme-sync", PASSWORD)[1:] == ["busy"]
    svc = ConnectorService(env.path, clock=env.clock, busy_postpone=False, min_run_interval=60)
    assert svc.authenticate("acme-sync", PASSWORD)[1:] == ["busy", "", "60"]


def test_a_busy_store_answer_carries_the_minimum_run_interval_too(env, monkeypatch):
    svc = ConnectorService(env.path, clock=env.clock, min_run_interval=120)
    monkeypatch.setenv("QBSYNC_BUSY_TIMEOUT", "0.05")
    blocker = sqlite3.connect(env.path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        answer = svc.authenticate("acme-sync", PASSWORD)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert answer[1:] == ["busy", "", "120"] and answer[0]


def test_a_minimum_run_interval_below_one_second_is_refused(tmp_path):
    with pytest.raises(QbsyncError, match="at least 1 second"):
        ConnectorService(tmp_path / "x.db", min_run_interval=0)


# -- QuickBooks slow to start: a session that timed out with nothing out carries on -------------


def _session_row(env, ticket):
    with env.store() as store:
        return store_sessions.get_session(store, ticket_hash(ticket))


def _contact(env):
    with env.store() as store:
        return store_connections.get_connection(store, "acme")["last_contact_outcome"]


def test_a_session_silent_for_200_s_before_its_first_message_carries_on(env, caplog):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.approve()
    caplog.set_level("INFO", logger="qbsync.connector")
    trace = env.run(service=_SlowStart(env, seconds=200))
    assert trace.summary == "Synced 2" and trace.percents[-1] == 100
    assert len(env.fq.all("Customer")) == 2
    assert {c["status"] for c in env.changes().values()} == {"synced"}
    (session,) = env.sessions()
    assert session["summary"] == "Synced 2" and session["closed_at"] == "2026-11-26T08:03:20Z"
    assert _contact(env) == "Synced 2"
    revived = [r.getMessage() for r in caplog.records if "carried on" in r.getMessage()]
    assert len(revived) == 1 and "200 s" in revived[0]


class _SlowStart:
    """The service, with the clock moved on between authenticate and the first sendRequestXML
    (QBWC starting QuickBooks and opening the company file)."""

    def __init__(self, env, seconds):
        self.svc, self.env, self.seconds, self.waited = env.service, env, seconds, False

    def __getattr__(self, name):
        return getattr(self.svc, name)

    def send_request_xml(self, *args):
        if not self.waited:
            self.waited = True
            self.env.clock.advance(self.seconds)
        return self.svc.send_request_xml(*args)


def test_a_session_closed_by_expiry_meanwhile_is_revived_too(env):
    beta = env.add_connection("beta", "beta-sync")
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = env.service
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    env.clock.advance(200)
    svc.authenticate("beta-sync", PASSWORD)  # sweeps every stale session: acme's is closed as expired
    row = _session_row(env, ticket)
    assert row["closed_at"] and row["state"]["expired_idle"] is True
    assert _contact(env).startswith("expired")
    xml = svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    assert "<CustomerAddRq" in xml
    row = _session_row(env, ticket)
    assert row["closed_at"] is None and row["summary"] is None and row["state"]["expired_at"] is None
    assert _contact(env) == "in progress"
    assert svc.receive_response_xml(ticket, env.fq.process(xml).xml, "", "") == 100
    assert svc.close_connection(ticket) == "Synced 1"
    assert beta  # untouched by acme's session
    # while revived, the session is alive again: a second one is busy
    env.stage("Customer", [customer("C2")])
    env.approve()
    t2 = svc.authenticate("acme-sync", PASSWORD)[0]
    env.clock.advance(150)
    svc.connection_error(t2, "0x80040408", "Could not start QuickBooks.")  # revived, then ended with the reason
    assert _contact(env).startswith("connection error: QuickBooks could not be opened (0x80040408)")


def test_no_revival_once_another_session_of_the_connection_has_started(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = env.service
    first = svc.authenticate("acme-sync", PASSWORD)[0]
    env.clock.advance(119)
    assert svc.authenticate("acme-sync", PASSWORD)[1] == "busy"  # the busy rule holds
    env.clock.advance(81)
    second, status = svc.authenticate("acme-sync", PASSWORD)[:2]
    assert status == ""  # the first expired; this one owns the connection now
    assert svc.send_request_xml(first, env.fq.hcp_response(), "", "US", 13, 0) == ""
    assert "timed out with nothing waiting for QuickBooks" in svc.get_last_error(first)
    assert svc.close_connection(first) == "Nothing to sync"  # what it did before it expired
    assert _session_row(env, first)["closed_at"]
    xml = svc.send_request_xml(second, env.fq.hcp_response(), "", "US", 13, 0)
    assert svc.receive_response_xml(second, env.fq.process(xml).xml, "", "") == 100
    assert svc.close_connection(second) == "Synced 1"
    assert len(env.fq.all("Customer")) == 1


def test_no_revival_when_a_message_was_out_its_outcome_stays_unknown(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.approve()
    svc = ConnectorService(env.path, clock=env.clock, response_timeout=120)
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    xml = svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    reply = env.fq.process(xml)  # applied in QuickBooks ...
    env.clock.advance(200)  # ... but the answer comes after even the response timeout
    assert svc.receive_response_xml(ticket, reply.xml, "", "") < 0
    assert "timed out while message 1 was with QuickBooks" in svc.get_last_error(ticket)
    assert svc.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    changes = env.changes()
    assert [changes[i]["outcome_unknown"] for i in (1, 2)] == [1, 1]
    assert {changes[i]["status"] for i in (1, 2)} == {"error"}
    row = _session_row(env, ticket)
    assert row["closed_at"] and row["state"]["expired_idle"] is False
    assert svc.close_connection(ticket) == "Synced 0, 2 outcomes unknown"
    assert len(env.fq.all("Customer")) == 2  # never re-sent


def test_a_late_answer_within_the_response_timeout_is_applied(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.approve()
    svc = env.service  # session timeout 120 s, response timeout 1800 s
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    xml = svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    reply = env.fq.process(xml)
    env.clock.advance(600)  # QuickBooks took 10 minutes over the message
    assert svc.authenticate("acme-sync", PASSWORD)[1:] == ["busy", "1200"]  # it still owns the connection
    assert svc.receive_response_xml(ticket, reply.xml, "", "") == 100
    assert svc.close_connection(ticket) == "Synced 2"
    assert {c["status"] for c in env.changes().values()} == {"synced"}


def test_a_session_closed_normally_is_never_revived(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = env.service
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    assert svc.close_connection(ticket) == "Nothing to sync"
    env.clock.advance(200)
    assert svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0) == ""
    assert _session_row(env, ticket)["closed_at"]
