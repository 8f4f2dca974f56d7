"""ConnectorService on a real SQLite store, driven callback by callback in QuickBooks Web
Connector's call order, with FakeQuickBooks answering every message (no HTTP here: the SOAP
adapter has its own end-to-end tests)."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, field

import pytest

from qbsync.qbxml import RsSpec, build_response, parse_request, parse_response
from qbsync.connector.service import ConnectorService
from qbsync.store import connections as store_connections
from qbsync.store import open_store
from qbsync.sync import errorlog, overview, staging, wizard
from qbsync.sync.passwords import hash_password
from qbsync.testing.fake_quickbooks import FakeQuickBooks
from clock import Clock

PASSWORD = "s3cret-Pa55"


@dataclass
class Trace:
    auth: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    percents: list[int] = field(default_factory=list)
    last_error: str | None = None
    summary: str | None = None


class Env:
    def __init__(self, tmp_path):
        self.path = tmp_path / "qbsync.db"
        self.clock = Clock()
        with open_store(self.path, create=True) as store:
            self.conn = store_connections.add_connection(
                store, name="acme", username="acme-sync", password_hash=hash_password(PASSWORD))
        self.fq = FakeQuickBooks()
        self.service = ConnectorService(self.path, clock=self.clock)

    def store(self):
        return open_store(self.path)

    def add_connection(self, name, username):
        with self.store() as store:
            return store_connections.add_connection(store, name=name, username=username,
                                                    password_hash=hash_password(PASSWORD))

    def stage(self, type_name, rows, conn=None):
        with self.store() as store:
            return staging.stage_lines(store, conn or self.conn, type_name, [json.dumps(r) for r in rows])

    def approve(self, conn=None, **kw):
        with self.store() as store:
            return wizard.approve(store, conn or self.conn, **kw)

    def changes(self):
        with self.store() as store:
            return {c["id"]: c for c in store.query("SELECT * FROM changes ORDER BY id")}

    def records(self, type_name=None, conn=None):
        with self.store() as store:
            return {r["local_id"]: r for r in overview.records(store, conn or self.conn, type_name)}

    def errors(self, conn=None):
        with self.store() as store:
            return errorlog.errors(store, conn or self.conn)

    def failed(self, conn=None):
        with self.store() as store:
            return errorlog.failed(store, conn or self.conn)

    def sessions(self):
        with self.store() as store:
            return store.query("SELECT * FROM sessions ORDER BY id")

    def run(self, username="acme-sync", password=PASSWORD, *, fq=None, version=(13, 0), tamper=None,
            service=None, max_calls=500) -> Trace:
        """One Web Connector update, in QBWC's call order."""
        svc, fq = service or self.service, fq or self.fq
        trace = Trace()
        trace.auth = svc.authenticate(username, password)
        ticket, status = trace.auth[0], trace.auth[1]
        if status in ("nvu", "none", "busy"):
            return trace
        first = True
        for _ in range(max_calls):
            xml = svc.send_request_xml(ticket, fq.hcp_response() if first else "", "C:\\Acme.QBW", "US", *version)
            first = False
            if not xml:
                trace.last_error = svc.get_last_error(ticket)
                if trace.last_error == "NoOp":
                    continue
                break
            trace.requests.append(xml)
            reply = fq.process(xml)
            response = reply.xml or ""
            if tamper is not None:
                response = tamper(len(trace.requests), response)
            percent = svc.receive_response_xml(ticket, response, reply.hresult, reply.message)
            trace.percents.append(percent)
            if percent < 0:
                trace.last_error = svc.get_last_error(ticket)
                break
            if percent >= 100:
                break
        trace.summary = svc.close_connection(ticket)
        return trace


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def customer(local_id, name=None, **fields):
    return {"id": local_id, "Name": name or local_id, **fields}


ITEM = {"id": "I1", "Name": "Labor", "SalesOrPurchase": {"Price": "10.00", "AccountRef": {"FullName": "Services"}}}


def invoice(local_id, cust, lines):
    return {"id": local_id, "CustomerRef": {"local_id": cust}, "RefNumber": local_id, "TxnDate": "2026-11-20",
            "InvoiceLine": lines}


# -- the happy path ------------------------------------------------------------------------------


def test_a_whole_export_cycle_syncs_in_dependency_order_and_fills_the_mirror(env):
    env.stage("Customer", [customer("C1", "Acme"), customer("J1", "Roof job", ParentRef={"local_id": "C1"})])
    env.stage("ItemService", [ITEM])
    env.stage("Invoice", [invoice("INV1", "J1", [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": 3}])])
    env.stage("ReceivePayment", [{"id": "P1", "CustomerRef": {"local_id": "J1"}, "TotalAmount": "30.00",
                                  "AppliedToTxn": [{"TxnID": {"local_id": "INV1"}, "PaymentAmount": "30.00"}]}])
    env.approve()
    trace = env.run()
    assert trace.auth[1] == ""  # the open company file
    assert len(trace.auth[0]) >= 32
    assert trace.percents == sorted(trace.percents) and trace.percents[-1] == 100
    assert trace.summary == "Synced 5"
    names = [[r.name for r in parse_request(x).requests] for x in trace.requests]
    assert sorted(names[0]) == ["CustomerAdd", "ItemServiceAdd"]
    assert names[1:] == [["CustomerAdd"], ["InvoiceAdd"], ["ReceivePaymentAdd"]]
    for xml in trace.requests:
        parsed = parse_request(xml)
        assert parsed.on_error == "continueOnError" and parsed.new_message_set_id

    customers = env.records("Customer")
    job = env.fq.get("Customer", customers["J1"]["qb_id"])
    assert job["FullName"] == "Acme:Roof job"
    assert job["ParentRef"]["ListID"] == customers["C1"]["qb_id"]
    inv = env.records("Invoice")["INV1"]
    assert inv["qb_id"] and inv["edit_sequence"]
    assert inv["data"]["InvoiceLine"][0]["TxnLineID"]  # kept for later Mods
    payment = env.fq.get("ReceivePayment", env.records("ReceivePayment")["P1"]["qb_id"])
    assert payment["AppliedToTxnRet"][0]["TxnID"] == inv["qb_id"]
    changes = env.changes()
    assert {c["status"] for c in changes.values()} == {"synced"}
    assert all(c["message_id"] for c in changes.values())
    with env.store() as store:
        feed = overview.feed(store, env.conn)
        conn = store_connections.get_connection(store, "acme")
    assert len(feed) == 5 and all(f["result"] == "synced" for f in feed)
    assert conn["last_contact_outcome"] == "Synced 5"
    assert conn["last_contact_at"] == "2026-11-26T08:00:00Z"  # the service's clock
    (session,) = env.sessions()
    assert session["closed_at"] and session["summary"] == "Synced 5" and session["percent"] == 100
    assert len(session["ticket_hash"]) == 64 and trace.auth[0] not in json.dumps(session)


def test_a_transaction_mod_keeps_lines_by_txn_line_id(env):
    env.stage("Customer", [customer("C1")])
    env.stage("ItemService", [ITEM])
    env.stage("Invoice", [invoice("INV1", "C1", [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": 2},
                                                 {"id": "L2", "ItemRef": {"local_id": "I1"}, "Quantity": 1}])])
    env.approve()
    env.run()
    before = env.fq.get("Invoice", env.records("Invoice")["INV1"]["qb_id"])
    kept = before["InvoiceLineRet"][0]["TxnLineID"]
    env.stage("Invoice", [invoice("INV1", "C1", [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": 5},
                                                 {"id": "L3", "ItemRef": {"local_id": "I1"}, "Quantity": 1}])])
    env.approve()
    trace = env.run()
    (mod,) = parse_request(trace.requests[0]).requests
    assert mod.name == "InvoiceMod" and mod.data["EditSequence"] == before["EditSequence"]
    assert [line["TxnLineID"] for line in mod.data["InvoiceLineMod"]] == [kept, "-1"]
    after = env.fq.get("Invoice", before["TxnID"])
    assert [line["Quantity"] for line in after["InvoiceLineRet"]] == ["5", "1"]
    assert after["InvoiceLineRet"][0]["TxnLineID"] == kept  # L1 kept, L2 deleted, L3 added
    assert trace.summary == "Synced 1"


def test_2000_changes_in_ceil_2000_over_batch_round_trips(env):
    env.stage("Customer", [customer(f"C{i}", f"Customer {i}") for i in range(2000)])
    env.approve()
    trace = env.run()
    assert len(trace.requests) == math.ceil(2000 / 50)
    assert trace.percents == sorted(trace.percents) and trace.percents[-1] == 100
    assert len(set(trace.percents)) > 10
    assert trace.summary == "Synced 2000"
    assert len(env.fq.all("Customer")) == 2000


def test_batch_size_is_configurable(env):
    env.stage("Customer", [customer(f"C{i}") for i in range(25)])
    env.approve()
    trace = env.run(service=ConnectorService(env.path, batch_size=10, clock=env.clock))
    assert [len(parse_request(x).requests) for x in trace.requests] == [10, 10, 5]


# -- errors, warnings, requeues, unknown outcomes -----------------------------------------------


def test_errors_go_to_the_error_log_and_failed_syncs_and_the_rest_still_syncs(env):
    env.fq.create("Customer", {"Name": "Taken"})
    env.stage("Customer", [customer("C1", "Taken"), customer("C2", "Fine")])
    env.approve()
    trace = env.run()
    assert trace.summary == "Synced 1, 1 error"
    (err,) = env.errors()
    assert (err["name"], err["direction"], err["status_code"]) == ("Taken", "app → QB", 3100)
    assert err["actions"] == ["retry"]
    (fail,) = env.failed()
    assert fail["status_code"] == 3100 and "already in use" in fail["message"]
    assert env.changes()[1]["status"] == "error" and env.changes()[2]["status"] == "synced"


def test_a_change_that_breaks_the_schema_is_never_sent(env):
    env.stage("Customer", [customer("C1", "Acme"), customer("C2", "Other")])
    env.approve()
    env.run()
    # OpenBalance can be given on an Add but not on a Mod: the Mod request is invalid
    env.stage("Customer", [customer("C1", "Acme", OpenBalance="10.00"), customer("C2", "Other", Phone="555")])
    env.approve()
    trace = env.run()
    assert [r.name for x in trace.requests for r in parse_request(x).requests] == ["CustomerMod"]
    assert trace.summary == "Synced 1, 1 error"
    (err,) = env.errors()
    assert err["name"] == "Acme" and err["direction"] == "app → QB" and err["status_code"] is None
    assert "OpenBalance" in err["reason"]
    assert env.failed()[0]["message"].startswith("not sent")


def _replace_status(index, code, severity, message, *, drop=False):
    """A tamper function that rewrites the `index`-th Rs of the first response."""
    def tamper(n, xml):
        if n != 1:
            return xml
        parsed = parse_response(xml)
        specs = []
        for i, rs in enumerate(parsed.responses):
            if i == index:
                if drop:
                    continue
                specs.append(RsSpec(rs.name, rs.request_id, code, severity, message,
                                    rets=rs.rets if code < 1000 else []))
            else:
                specs.append(RsSpec(rs.name, rs.request_id, rs.status_code, rs.status_severity, rs.status_message,
                                    rets=rs.rets))
        return build_response(specs)
    return tamper


def test_a_warning_is_synced_with_the_warning_kept(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    trace = env.run(tamper=_replace_status(0, 530, "Warn", "The field JobTitle is not supported"))
    assert trace.summary == "Synced 1, 1 with a warning"
    c = env.changes()[1]
    assert (c["status"], c["status_code"], c["status_severity"]) == ("synced", 530, "Warn")
    assert "not supported" in c["status_message"]
    assert env.records("Customer")["C1"]["qb_id"]


def test_3231_goes_back_to_the_queue_and_is_sent_again(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.approve()
    replace = _replace_status(1, 3231, "Error", "The request has not been processed.")

    def not_processed(n, xml):
        if n == 1:  # as if QuickBooks had skipped C2: undo it in the company too
            env.fq.delete("Customer", env.fq.find("Customer", "C2")["ListID"])
        return replace(n, xml)

    trace = env.run(tamper=not_processed)
    assert len(trace.requests) == 2  # C2 went again in a second message
    assert trace.summary == "Synced 2"
    assert not env.failed()


def test_a_missing_response_for_a_request_is_outcome_unknown(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.approve()
    trace = env.run(tamper=_replace_status(1, 0, "Info", "", drop=True))
    assert trace.summary == "Synced 1, 1 outcome unknown"
    c2 = env.changes()[2]
    assert c2["status"] == "error" and c2["outcome_unknown"] == 1
    (err,) = env.errors()
    assert err["actions"] == [] and "outcome unknown" in err["reason"]
    assert env.failed()[0]["change_id"] == 2


def test_a_whole_message_parse_error_sends_each_change_alone_once_then_logs_it(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.approve()
    with env.store() as store:
        store_connections.update_connection(store, "acme", qbxml_version="16.0")
    # QBWC reports 16.0 but this company only parses 13.0: QuickBooks answers 0x80040400
    trace = env.run(fq=FakeQuickBooks(qbxml_version="13.0"), version=(16, 0))
    assert len(trace.requests) == 3  # both together, then each alone: never a loop
    assert [r.count("CustomerAddRq requestID") for r in trace.requests] == [2, 1, 1]
    assert trace.percents[-1] == 100 and trace.percents == sorted(trace.percents)
    assert trace.summary == "Synced 0, 2 errors"
    changes = env.changes()
    assert {c["status"] for c in changes.values()} == {"error"}
    errors = env.errors()
    assert {e["status_code"] for e in errors} == {"0x80040400"}
    assert all("parse" in e["reason"].lower() for e in errors)
    assert len(env.failed()) == 2
    # the next run sends nothing: they wait in the Error Log for the admin
    assert env.run(fq=FakeQuickBooks(qbxml_version="13.0"), version=(16, 0)).auth[1] == "none"


def test_another_hresult_leaves_the_outcome_unknown_and_ends_with_a_negative_percent(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = env.service
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    assert svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    assert svc.receive_response_xml(ticket, "", "0x80040402", "Unexpected error. Check the qbsdklog.txt file") < 0
    assert "0x80040402" in svc.get_last_error(ticket)
# closeConnection's text (QBWC's Status column) says what went wrong, then what was done
    assert svc.close_connection(ticket) == ("QuickBooks failed the request: 0x80040402 Unexpected error. Check the "
                                            "qbsdklog.txt file (Synced 0, 1 outcome unknown)")
    c = env.changes()[1]
    assert c["status"] == "error" and c["outcome_unknown"] == 1 and "0x80040402" in c["status_message"]


def test_a_lost_response_is_outcome_unknown_and_never_resent_blindly(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = env.service
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    first = svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    env.fq.process(first)  # applied in QuickBooks; the answer never reaches us
    assert svc.send_request_xml(ticket, "", "", "US", 13, 0) == ""  # out of sequence: nothing resent
    assert "Nothing more to send" in svc.get_last_error(ticket)
    assert svc.close_connection(ticket) == "Synced 0, 1 outcome unknown"
    assert env.changes()[1]["outcome_unknown"] == 1
    assert len(env.fq.all("Customer")) == 1  # added once


def test_fix_edit_sequence_re_reads_then_sends_the_mod(env, caplog):
    env.stage("Customer", [customer("C1", "Acme")])
    env.approve()
    env.run()
    qb_id = env.records("Customer")["C1"]["qb_id"]
    env.clock.advance(60)
    env.fq.edit("Customer", qb_id, {"Fax": "111"})  # someone edits it in QuickBooks
    env.stage("Customer", [customer("C1", "Acme", Phone="222")])
    env.approve()
    trace = env.run()
    assert trace.summary == "Synced 0, 1 error"
    (err,) = env.errors()
    assert err["status_code"] == 3200 and "fix-edit-sequence" in err["actions"]
    with env.store() as store:
        errorlog.fix_edit_sequence(store, env.conn, [err["id"]])
    caplog.set_level("INFO", logger="qbsync.connector")
    trace = env.run()
    kinds = [[r.name for r in parse_request(x).requests] for x in trace.requests]
    assert kinds == [["CustomerQuery"], ["CustomerMod"]]
    assert trace.summary == "Synced 1"
    assert env.fq.get("Customer", qb_id)["Phone"] == "222"  # the app's value is sent
    assert env.fq.get("Customer", qb_id)["Fax"] == "111"  # QuickBooks' edit is kept
    assert "re-read" in caplog.text


def test_a_re_read_that_finds_nothing_keeps_quickbooks_status_in_the_error_log(env):
    # The app links its invoice to a TxnID QuickBooks does not have: the re-read before the Mod
    # asks for that TxnID and QuickBooks answers 500 (a key that does not exist); the Error Log and
    # Failed Syncs say so with that code.
    env.stage("Invoice", [{"id": "I9", "TxnID": "ABCD-1234567890", "CustomerRef": {"FullName": "Nobody"}, "RefNumber": "9"}])
    env.approve()
    trace = env.run()
    assert [[r.name for r in parse_request(x).requests] for x in trace.requests] == [["InvoiceQuery"]]
    (err,) = env.errors()
    assert err["status_code"] == 500 and "no longer in QuickBooks" in err["message"]
    (failure,) = env.failed()
    assert failure["status_code"] == 500


# -- the wizard around a session ----------------------------------------------------------------


def test_kept_unchecked_changes_come_back_checked_after_the_session(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    with env.store() as store:
        wizard.approve(store, env.conn, uncheck=[2])
    assert env.changes()[2]["status"] == "held"
    trace = env.run()
    assert trace.summary == "Synced 1"
    c2 = env.changes()[2]
    assert c2["status"] == "awaiting" and c2["checked"] == 1


def test_a_change_waiting_for_an_unapproved_parent_stays_queued_with_the_reason(env):
    env.stage("Customer", [customer("C1")])
    env.stage("ItemService", [ITEM])
    env.stage("Invoice", [invoice("INV1", "C1", [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": 1}])])
    env.approve(uncheck=[1])  # the customer is kept unchecked
    trace = env.run()
    assert trace.summary == "Synced 1, 1 waiting"
    inv = env.changes()[3]
    assert inv["status"] == "queued" and inv["note"].startswith("waiting for Customer C1")
    assert not env.failed()
    assert env.changes()[1]["status"] == "awaiting"
    env.approve()
    trace = env.run()
    assert trace.summary == "Synced 2"


# -- sessions -------------------------------------------------------------------------------------


def test_nvu_and_none_leave_no_session_behind(env):
    assert env.service.authenticate("acme-sync", "wrong") == ["", "nvu"]
    assert env.service.authenticate("nobody", PASSWORD) == ["", "nvu"]
    ticket, status = env.service.authenticate("acme-sync", PASSWORD)
    assert status == "none" and ticket
    assert env.sessions() == []
    assert env.service.send_request_xml(ticket, "", "", "US", 13, 0) == ""


def test_a_second_session_of_the_same_connection_is_busy_until_the_first_closes(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = env.service
    ticket, status = svc.authenticate("acme-sync", PASSWORD)
    assert status == ""
    env.clock.advance(60)
    assert svc.authenticate("acme-sync", PASSWORD)[1] == "busy"
    assert len(env.sessions()) == 1
    svc.close_connection(ticket)
    env.stage("Customer", [customer("C2")])
    env.approve()
    assert svc.authenticate("acme-sync", PASSWORD)[1] == ""


def test_an_abandoned_session_expires_its_message_becomes_outcome_unknown(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.stage("Customer", [customer("C3")])
    with env.store() as store:
        wizard.approve(store, env.conn, uncheck=[3])
    svc = ConnectorService(env.path, clock=env.clock, response_timeout=120)
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    assert svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    env.clock.advance(119)
    assert svc.authenticate("acme-sync", PASSWORD)[1] == "busy"
    env.clock.advance(2)  # 121 s without a call: abandoned
    ticket2, status = svc.authenticate("acme-sync", PASSWORD)
    assert status == ""  # nothing queued any more, but both went out and are unknown: a session settles them
    changes = env.changes()
    assert [changes[i]["outcome_unknown"] for i in (1, 2)] == [1, 1]
    assert "timed out" in changes[1]["status_message"]
    assert changes[3]["status"] == "awaiting"  # held came back
    session = env.sessions()[0]
    assert session["closed_at"] and session["summary"] == "Synced 0, 2 outcomes unknown"
    assert svc.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    assert "timed out while message 1 was with QuickBooks" in svc.get_last_error(ticket)
    assert svc.receive_response_xml(ticket, "<x/>", "", "") < 0


def test_expiry_is_noticed_by_the_sessions_own_next_call(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    svc = ConnectorService(env.path, clock=env.clock, session_timeout=30, response_timeout=30)
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    assert svc.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)  # a message out
    env.clock.advance(31)
    assert svc.send_request_xml(ticket, "", "", "US", 13, 0) == ""
    (session,) = env.sessions()
    assert session["closed_at"]
    assert env.changes()[1]["outcome_unknown"] == 1  # what was out stays unknown
    # (a session silent before its first message carries on instead: tests/test_service_robustness.py)


def test_tickets_are_bound_to_one_connection(env):
    other = env.add_connection("beta", "beta-sync")
    env.stage("Customer", [customer("A1", "Alpha one")])
    env.stage("Customer", [customer("B1", "Beta one")], conn=other)
    env.approve()
    env.approve(conn=other)
    svc = env.service
    ta = svc.authenticate("acme-sync", PASSWORD)[0]
    tb = svc.authenticate("beta-sync", PASSWORD)[0]
    assert ta != tb
    fq_b = FakeQuickBooks()
    xa = svc.send_request_xml(ta, env.fq.hcp_response(), "", "US", 13, 0)
    xb = svc.send_request_xml(tb, fq_b.hcp_response(), "", "US", 13, 0)
    assert "Alpha one" in xa and "Beta one" not in xa
    assert "Beta one" in xb and "Alpha one" not in xb
    # A's ticket answers only for A's message: B's response under A's ticket matches nothing
    rb = fq_b.process(xb)
    assert svc.receive_response_xml(tb, rb.xml, "", "") == 100
    ra = env.fq.process(xa)
    assert svc.receive_response_xml(ta, ra.xml, "", "") == 100
    assert svc.close_connection(ta) == "Synced 1"
    assert svc.close_connection(tb) == "Synced 1"
    assert set(env.records("Customer")) == {"A1"}
    assert set(env.records("Customer", conn=other)) == {"B1"}
    assert svc.send_request_xml("made-up-ticket", "", "", "US", 13, 0) == ""


def test_a_server_restart_mid_session_carries_on(env):
    env.stage("Customer", [customer(f"C{i}") for i in range(3)])
    env.approve()
    first = ConnectorService(env.path, batch_size=2, clock=env.clock)
    ticket = first.authenticate("acme-sync", PASSWORD)[0]
    xml = first.send_request_xml(ticket, env.fq.hcp_response(), "", "US", 13, 0)
    reply = env.fq.process(xml)
    second = ConnectorService(env.path, batch_size=2, clock=env.clock)  # a new process
    assert second.receive_response_xml(ticket, reply.xml, "", "") == 66
    xml = second.send_request_xml(ticket, "", "", "US", 13, 0)
    assert second.receive_response_xml(ticket, env.fq.process(xml).xml, "", "") == 100
    assert second.close_connection(ticket) == "Synced 3"


def test_connection_error_records_the_reason_and_ends_the_session(env):
    env.stage("Customer", [customer("C1"), customer("C2")])
    env.approve(uncheck=[2])
    svc = env.service
    ticket = svc.authenticate("acme-sync", PASSWORD)[0]
    assert svc.connection_error(ticket, "0x80040408", "Could not start QuickBooks.") == "done"
    with env.store() as store:
        conn = store_connections.get_connection(store, "acme")
    assert "0x80040408" in conn["last_contact_outcome"]
    assert env.changes()[1]["status"] == "queued" and env.changes()[2]["status"] == "awaiting"
    assert env.sessions()[0]["closed_at"]
    assert svc.authenticate("acme-sync", PASSWORD)[1] == ""  # not busy


def test_get_last_error_answers_noop_when_there_is_nothing_to_report(env):
    env.stage("Customer", [customer("C1")])
    env.approve()
    ticket = env.service.authenticate("acme-sync", PASSWORD)[0]
    assert env.service.get_last_error(ticket) == "NoOp"


def test_small_callbacks():
    svc = ConnectorService("unused.db", min_client_version="2.3.0.215", server_version_text="acme 1.0")
    assert svc.server_version() == "acme 1.0"
    assert svc.client_version("2.3.0.215") == ""
    assert svc.client_version("2.1.0.30").startswith("W:")
    assert svc.client_version("") == ""
    assert svc.get_interactive_url("t", "1") == ""
    assert svc.interactive_done("t") == "Done"
    assert svc.interactive_rejected("t", "no")


# -- recording ------------------------------------------------------------------------------------


def test_a_recorded_session_holds_the_exchange_and_no_secrets(env, tmp_path):
    env.stage("Customer", [customer("C1"), customer("J1", ParentRef={"local_id": "C1"})])
    env.approve()
    rec_dir = tmp_path / "recordings"
    trace = env.run(service=ConnectorService(env.path, clock=env.clock, record_dir=rec_dir))
    (folder,) = list(rec_dir.iterdir())
    assert folder.name == "20261126T080000Z-acme"
    session = json.loads((folder / "session.json").read_text())
    calls = [c["call"] for c in session["calls"]]
    assert calls[0] == "authenticate" and calls[-1] == "closeConnection"
    assert calls.count("sendRequestXML") == 2 and calls.count("receiveResponseXML") == 2
    assert (folder / "001-request.xml").read_text() == trace.requests[0]
    assert (folder / "002-response.xml").exists() and (folder / "hcp-response.xml").exists()
    assert [c["result"] for c in session["calls"] if c["call"] == "receiveResponseXML"] == trace.percents
    everything = "".join(p.read_text(errors="replace") for p in folder.iterdir() if p.suffix != ".db")
    assert trace.auth[0] not in everything and PASSWORD not in everything
    copy = sqlite3.connect(folder / "store-at-start.db")
    assert copy.execute("SELECT password_hash FROM connections").fetchall() == [("",)]
    assert copy.execute("SELECT count(*) FROM changes WHERE status = 'queued'").fetchone() == (2,)
    copy.close()


# -- logging --------------------------------------------------------------------------------------


def test_one_line_per_session_and_batch_and_no_secrets(env, caplog):
    env.stage("Customer", [customer("C1"), customer("J1", ParentRef={"local_id": "C1"})])
    env.approve()
    caplog.set_level("DEBUG", logger="qbsync.connector")
    trace = env.run()
    info = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert info == [
        "session 1 started for connection acme: 2 change(s) queued",
        "session 1: message 1 (1 CustomerAdd): 1 synced",
        "session 1: message 2 (1 CustomerAdd): 1 synced",
        "session 1 ended (connection acme, qbXML 13.0, 2 messages): Synced 2",
    ]
    assert trace.auth[0] not in caplog.text and PASSWORD not in caplog.text
    assert "<QBXML>" not in caplog.text  # full qbXML only with log_qbxml


def test_log_qbxml_logs_every_message(env, caplog):
    env.stage("Customer", [customer("C1")])
    env.approve()
    caplog.set_level("INFO", logger="qbsync.connector")
    trace = env.run(service=ConnectorService(env.path, clock=env.clock, log_qbxml=True))
    assert trace.requests[0] in caplog.text
    assert "CustomerAddRs" in caplog.text
    assert trace.auth[0] not in caplog.text and PASSWORD not in caplog.text


def test_a_change_waiting_for_a_record_still_to_be_approved_makes_no_session(env):
    env.stage("Customer", [customer("C1", "Acme")])
    env.stage("Invoice", [invoice("INV1", "C1", [{"id": "L1", "Desc": "Mowing", "Amount": "10.00"}])])
    env.approve(uncheck=[1])  # the invoice goes, its customer is held back (kept)
    assert env.run().auth[1] == "none"  # nothing could go: no session, no run ending in failure
    note = env.changes()[2]["note"]
    assert note.startswith("waiting for Customer C1") and env.changes()[2]["status"] == "queued"
    assert env.errors() == []
    env.approve()  # the customer comes back after that run, checked: approved now
    assert env.run().summary == "Synced 2"


def test_a_change_whose_reference_was_cleared_goes_to_the_error_log_not_waiting_forever(env):
    env.stage("Customer", [customer("C1", "Acme")])
    env.stage("Invoice", [invoice("INV1", "C1", [{"id": "L1", "Desc": "Mowing", "Amount": "10.00"}])])
    env.approve(uncheck=[1], unchecked="clear")  # the customer is cleared: it will never go
    assert env.run().auth[1] == "none"
    (err,) = env.errors()
    assert err["id"] == 2 and "Customer C1" in err["reason"] and "cleared or deleted" in err["reason"]
    assert env.changes()[2]["status"] == "error" and len(env.failed()) == 1
    assert env.run().auth[1] == "none"  # and it is not offered again
    assert len(env.failed()) == 1
