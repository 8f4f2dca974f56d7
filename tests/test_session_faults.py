"""Sessions that break off (issue 10 §3): connectionError after some messages were answered (their
results are kept, what was out is outcome unknown, the rest stays queued), a session abandoned
with a message out (its changes outcome unknown once it expires), and in every case the next
session starts at once and sends only what is left. The real ConnectorService on a real store,
callback by callback, with FakeQuickBooks answering."""

from __future__ import annotations

from test_service_export import PASSWORD, Env, customer, env  # noqa: F401 - env is a fixture

from qbsync.connector.service import ConnectorService

USER = "acme-sync"


def _three(env) -> ConnectorService:
    env.stage("Customer", [customer(f"C{i}", f"Customer {i}") for i in range(1, 4)])
    env.approve()
    return ConnectorService(env.path, batch_size=1, clock=env.clock, session_timeout=60, response_timeout=300)


def _statuses(env) -> dict[str, tuple[str, bool]]:
    return {c["local_id"]: (c["status"], bool(c["outcome_unknown"])) for c in env.changes().values()}


def test_connection_error_after_an_answered_message_keeps_its_result(env):
    svc = _three(env)
    ticket = svc.authenticate(USER, PASSWORD)[0]
    xml = svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    assert svc.receive_response_xml(ticket, env.fq.process(xml).xml, "", "") == 33
    # QuickBooks went away before the next message was asked for
    assert svc.connection_error(ticket, "0x80040408", "Could not start QuickBooks.") == "done"
    assert _statuses(env) == {"C1": ("synced", False), "C2": ("queued", False), "C3": ("queued", False)}
    assert set(env.records("Customer")) == {"C1"} and env.errors() == [] and env.failed() == []
    (session,) = env.sessions()
    assert session["closed_at"] and "0x80040408" in session["last_error"]
    assert "0x80040408" in svc.get_last_error(ticket)
    assert svc.close_connection(ticket)  # QBWC closes after the error: no second ending

    # the next run starts at once (not busy) and sends only what is left
    trace = env.run(service=svc)
    assert trace.auth[1] == "" and trace.summary == "Synced 2"
    assert {c["Name"] for c in env.fq.all("Customer")} == {"Customer 1", "Customer 2", "Customer 3"}
    assert set(_statuses(env).values()) == {("synced", False)}


def test_connection_error_while_a_message_is_out_makes_only_that_message_unknown(env):
    svc = _three(env)
    ticket = svc.authenticate(USER, PASSWORD)[0]
    xml = svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    assert svc.receive_response_xml(ticket, env.fq.process(xml).xml, "", "") == 33
    second = svc.send_request_xml(ticket, "", "", "US", 13, 0)
    env.fq.process(second)  # QuickBooks applied it, and the answer never came back
    assert svc.connection_error(ticket, "0x80040422", "QuickBooks closed.") == "done"
    assert _statuses(env) == {"C1": ("synced", False), "C2": ("error", True), "C3": ("queued", False)}
    (unknown,) = env.errors()
    assert unknown["outcome_unknown"] and unknown["actions"] == [] and unknown["local_id"] == "C2"

    trace = env.run(service=svc)  # the next session settles C2 first: QuickBooks has it
    assert trace.auth[1] == "" and trace.summary == "Synced 2"
    names = [c["Name"] for c in env.fq.all("Customer")]
    assert sorted(names) == ["Customer 1", "Customer 2", "Customer 3"]  # C2 never sent twice
    assert _statuses(env)["C2"] == ("synced", False) and _statuses(env)["C3"] == ("synced", False)
    assert env.errors() == []


def test_a_session_abandoned_mid_way_leaves_its_answered_results_and_the_next_one_goes_on(env):
    svc = _three(env)
    ticket = svc.authenticate(USER, PASSWORD)[0]
    xml = svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    assert svc.receive_response_xml(ticket, env.fq.process(xml).xml, "", "") == 33
    assert "Customer 2" in svc.send_request_xml(ticket, "", "", "US", 13, 0)  # out, never answered
    env.clock.advance(200)
    assert svc.authenticate(USER, PASSWORD)[1] == "busy"  # still within the response timeout
    env.clock.advance(101)  # 301 s without a call while a message was out: abandoned

    trace = env.run(service=svc)  # settles C2 first (QuickBooks never got it: sent once now), then C3
    assert trace.auth[1] == "" and trace.summary == "Synced 2"
    assert _statuses(env) == {"C1": ("synced", False), "C2": ("synced", False), "C3": ("synced", False)}
    first, second = env.sessions()
    assert first["closed_at"] and first["summary"] == "Synced 1, 1 outcome unknown"
    assert second["summary"] == "Synced 2"
    assert env.errors() == []
    assert sorted(c["Name"] for c in env.fq.all("Customer")) == ["Customer 1", "Customer 2", "Customer 3"]
    # the old ticket takes no more calls, and says why
    assert svc.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    assert "timed out while message 2 was with QuickBooks" in svc.get_last_error(ticket)
    assert len(env.failed()) == 1


def test_a_session_abandoned_with_nothing_out_loses_nothing(env):
    svc = _three(env)
    ticket = svc.authenticate(USER, PASSWORD)[0]
    xml = svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    assert svc.receive_response_xml(ticket, env.fq.process(xml).xml, "", "") == 33
    env.clock.advance(61)  # silent past the session timeout, nothing with QuickBooks
    trace = env.run(service=svc)  # another session of the connection starts: the old one is done
    assert trace.auth[1] == "" and trace.summary == "Synced 2"
    assert set(_statuses(env).values()) == {("synced", False)} and env.errors() == []
