"""ConnectorService under stress: a busy store, a missing store, two connections at once from
several threads, and random Web Connector call sequences (hypothesis)."""

from __future__ import annotations

import sqlite3
import threading

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbsync.service import ConnectorService
from qbsync.store import open_store
from qbsync.testing.fake_quickbooks import FakeQuickBooks
from test_service_export import PASSWORD, Env, customer


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
    assert svc.get_last_error("t").startswith("qbsync: internal error")
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
