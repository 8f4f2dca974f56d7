"""The Web Connector session machine (`qbsync.engine.session.Session`) without a store or HTTP:
its transition table, event by event, and hypothesis over random Web Connector event sequences.
QuickBooks is the shipped FakeQuickBooks (in memory); the "store" is a dict of change statuses
kept by this test from the outcomes the machine returns."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbsync.engine import session as engine
from qbsync.engine.model import ExportChange, Failed, Mirror, MirrorRecord, Requeued, Synced, Unknown, Waiting
from qbsync.engine.session import (
    CLOSED,
    EVENTS,
    FATAL,
    FINISHED,
    OUT,
    READY,
    REPORTING,
    TRANSITIONS,
    Limits,
    ProtocolError,
    Session,
    SessionState,
    Work,
)
from qbsync.testing import FakeQuickBooks

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def customers(n: int, start: int = 1) -> list[ExportChange]:
    return [ExportChange(i, "Customer", "add", f"C{i}", name=f"Customer {i}", payload={"Name": f"Customer {i}"})
            for i in range(start, start + n)]


class Books:
    """The changes' statuses as a store would keep them, and the Work a shell would load."""

    def __init__(self, changes: list[ExportChange]):
        self.changes = {c.id: c for c in changes}
        self.status = {c.id: "queued" for c in changes}
        self.mirror = Mirror()
        self.written: dict[int, int] = {}  # change id -> messages that wrote it

    def work(self) -> Work:
        mirror = Mirror(copy.deepcopy(list(self.mirror._by_key.values())))
        return Work([copy.deepcopy(c) for i, c in self.changes.items() if self.status[i] in ("queued", "sending")],
                    mirror)

    def take(self, reply: engine.Reply) -> None:
        if reply.message is not None:
            for cid in reply.message.writes:
                assert self.status[cid] == "queued", f"change {cid} written while {self.status[cid]}"
                self.status[cid] = "sending"
                self.written[cid] = self.written.get(cid, 0) + 1
        for o in reply.outcomes:
            if isinstance(o, Synced):
                assert self.status[o.change_id] == "sending"
                self.status[o.change_id] = "synced"
                c = self.changes[o.change_id]
                self.mirror.add(MirrorRecord(c.type, c.local_id, o.qb_id, o.edit_sequence))
            elif isinstance(o, Failed):
                self.status[o.change_id] = "error"
            elif isinstance(o, Unknown):
                if self.status[o.change_id] == "sending":
                    self.status[o.change_id] = "unknown"
            elif isinstance(o, Requeued):
                self.status[o.change_id] = "queued"


def session_in(phase: str, *, n: int = 3) -> tuple[Session, Books, FakeQuickBooks]:
    """A session (with `n` customers to add) brought into `phase` by legal events."""
    books, fq = Books(customers(n)), FakeQuickBooks()
    s = Session(1, SessionState(total=n, max_change_id=n), Limits(batch_size=2), available_versions=["13.0"],
                new_token=lambda: "t")
    if phase == READY:
        return s, books, fq
    reply = s.send_request(books.work(), major=13, minor=0)
    books.take(reply)
    if phase == OUT:
        return s, books, fq
    if phase in (REPORTING, FINISHED):
        while True:
            out = fq.process(reply.answer)
            r = s.receive_response(books.work(), out.xml or "", out.hresult, out.message)
            books.take(r)
            if r.answer == 100:
                break
            reply = s.send_request(books.work())
            books.take(reply)
        if phase == REPORTING:
            books.take(s.send_request(books.work()))  # "": nothing more, getLastError has the summary
        return s, books, fq
    if phase == CLOSED:
        books.take(s.close())
        return s, books, fq
    raise AssertionError(phase)


def fire(s: Session, books: Books, fq: FakeQuickBooks, event: str) -> engine.Reply:
    if event == "send_request":
        return s.send_request(books.work(), major=13, minor=0)
    if event == "receive_response":  # an empty answer: whatever was out is outcome unknown
        return s.receive_response(books.work(), '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs/></QBXML>', "", "")
    if event == "connection_error":
        return s.connection_error("0x80040408", "Could not start QuickBooks.")
    if event == "get_last_error":
        return s.get_last_error()
    if event == "close":
        return s.close()
    if event == "expire":
        return s.expire("2026-12-01T09:30:00Z")
    raise AssertionError(event)


PHASES = (READY, OUT, REPORTING, FINISHED, CLOSED)


def test_the_table_names_every_phase_and_only_known_events():
    assert set(TRANSITIONS) == set(PHASES)
    assert all(set(events) <= set(EVENTS) for events in TRANSITIONS.values())
    assert TRANSITIONS[CLOSED] == frozenset()  # a closed session takes nothing
    assert "receive_response" in TRANSITIONS[OUT]
    assert all("receive_response" not in TRANSITIONS[p] for p in PHASES if p != OUT)


@pytest.mark.parametrize("phase", PHASES)
def test_every_phase_is_reachable(phase):
    s, _, _ = session_in(phase)
    assert s.phase == phase


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("event", EVENTS)
def test_transition_table(phase, event):
    """A legal event gives a reply; an illegal one raises ProtocolError and changes nothing."""
    s, books, fq = session_in(phase)
    before = copy.deepcopy(s.state.to_dict())
    if event in TRANSITIONS[phase]:
        reply = fire(s, books, fq, event)
        assert isinstance(reply, engine.Reply)
    else:
        with pytest.raises(ProtocolError) as refused:
            fire(s, books, fq, event)
        assert s.state.to_dict() == before
        assert refused.value.phase == phase and refused.value.event == event


def test_a_second_answer_to_the_same_message_is_refused_with_the_first_answer_again():
    books, fq = Books(customers(3)), FakeQuickBooks()
    s = Session(1, SessionState(total=3, max_change_id=3), Limits(batch_size=2), available_versions=["13.0"])
    sent = s.send_request(books.work(), major=13, minor=0)
    books.take(sent)
    out = fq.process(sent.answer)
    first = s.receive_response(books.work(), out.xml, "", "")
    books.take(first)
    assert first.answer == 66
    state = copy.deepcopy(s.state.to_dict())
    with pytest.raises(ProtocolError) as refused:
        s.receive_response(books.work(), out.xml, "", "")
    assert refused.value.answer == first.answer  # QBWC goes on as after the first
    assert s.state.to_dict() == state
    assert books.status == {1: "synced", 2: "synced", 3: "queued"}


def test_a_response_before_any_message_is_refused_with_a_negative_answer():
    s, books, _ = session_in(READY)
    with pytest.raises(ProtocolError) as refused:
        s.receive_response(books.work(), "<QBXML/>", "", "")
    assert refused.value.answer == FATAL


def test_connection_error_ends_the_session_and_close_says_why():
    s, books, _ = session_in(READY)
    reply = s.connection_error("0x80040408", "Could not start QuickBooks.")
    assert reply.answer == "done" and s.phase == CLOSED
    assert "0x80040408" in reply.closing and "Could not start QuickBooks" in s.state.closing_text()


def test_an_unsupported_qbxml_version_is_what_getlasterror_and_close_say():
    s, books, _ = session_in(READY)
    reply = s.send_request(books.work(), major=12, minor=0)
    assert reply.answer == "" and reply.message is None
    text = s.get_last_error().answer
    assert "qbXML 12.0" in text and "update QuickBooks" in text
    assert s.close().answer == text


def test_a_parse_error_sends_each_change_alone_then_fails_the_culprit_only():
    changes = customers(3)
    books, fq = Books(changes), FakeQuickBooks()
    s = Session(1, SessionState(total=3, max_change_id=3), Limits(batch_size=10), available_versions=["13.0"])
    culprit = 2

    def quickbooks(xml: str) -> tuple[str, str, str]:
        if f"Customer {culprit}<" in xml:
            return "", "0x80040400", "QuickBooks found an error when parsing the provided XML text stream."
        out = fq.process(xml)
        return out.xml or "", out.hresult, out.message

    sizes = []
    for _ in range(10):
        reply = s.send_request(books.work(), major=13, minor=0)
        books.take(reply)
        if reply.message is None:
            break
        sizes.append(len(reply.message.writes))
        r = s.receive_response(books.work(), *quickbooks(reply.answer))
        books.take(r)
        if r.answer == 100:
            break
    assert sizes == [3, 1, 1, 1]  # together, then one by one: never a loop
    assert books.status == {1: "synced", 2: "error", 3: "synced"}
    assert s.state.summary() == "Synced 2, 1 error"


def test_deletes_go_dependents_first():
    from qbsync.engine.exports import plan_exports

    mirror = Mirror([
        MirrorRecord("Customer", "C1", "80-1", "1", {"Name": "Acme"}, {"FullName": "Acme", "Sublevel": "0"}),
        MirrorRecord("Customer", "J1", "80-2", "1", {"Name": "Roof"}, {"FullName": "Acme:Roof", "Sublevel": "1"}),
        MirrorRecord("ItemService", "I1", "80-3", "1"),
        MirrorRecord("Invoice", "INV1", "90-1", "1"),
    ])
    deletes = [ExportChange(1, "Customer", "delete", "C1"), ExportChange(2, "ItemService", "delete", "I1"),
               ExportChange(3, "Customer", "delete", "J1"), ExportChange(4, "Invoice", "delete", "INV1")]
    plan = plan_exports(deletes, mirror, version="13.0")
    order = [p.change_id for p in plan.requests]
    assert order.index(4) < order.index(2) and order.index(4) < order.index(3)  # the invoice first
    assert order.index(3) < order.index(1)  # the job before its parent customer


def test_expiry_waits_longer_while_a_message_is_out():
    limits = Limits(session_timeout=120, response_timeout=1800)
    idle, out = SessionState(), SessionState(sent={"kind": "write", "seq": 1, "requests": {}, "types": {}})
    assert engine.is_expired(idle, T0, T0 + timedelta(seconds=120), limits)
    assert not engine.is_expired(out, T0, T0 + timedelta(seconds=1799), limits)
    assert engine.is_expired(out, T0, T0 + timedelta(seconds=1800), limits)
    assert engine.seconds_left(out, T0, T0 + timedelta(seconds=600), limits) == 1200


def test_getlasterror_for_a_gone_ticket_tells_what_happened():
    s, books, _ = session_in(OUT)
    s.expire("2026-12-01T09:30:00Z")
    text = engine.unknown_ticket_text(s.state)
    assert "timed out while message 1 was with QuickBooks" in text and "outcome unknown" in text
    assert "nothing was sent" not in engine.unknown_ticket_text(None)


def test_admission_and_authenticate_answers():
    assert engine.admit(queued=0, imports_due=False, running_seconds_left=[], busy_postpone=True).status == "none"
    assert engine.admit(queued=0, imports_due=True, running_seconds_left=[], busy_postpone=True).status == ""
    busy = engine.admit(queued=5, imports_due=False, running_seconds_left=[30, 90], busy_postpone=True)
    assert (busy.status, busy.postpone) == ("busy", 90)
    assert engine.auth_answer("t", "nvu", min_run_interval=60) == ["", "nvu"]
    assert engine.auth_answer("t", "busy", postpone=90) == ["t", "busy", "90"]
    assert engine.auth_answer("t", "", min_run_interval=60) == ["t", "", "", "60"]


# -- random event sequences -----------------------------------------------------------------------

EVENT = st.sampled_from(["send", "answer", "answer", "answer", "lose", "hresult", "parse_error", "duplicate",
                         "get_last_error", "connection_error", "close", "expire"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 7), batch=st.integers(1, 3), events=st.lists(EVENT, max_size=30))
def test_random_event_sequences_keep_every_rule(n, batch, events):
    books, fq = Books(customers(n)), FakeQuickBooks()
    s = Session(7, SessionState(total=n, max_change_id=n), Limits(batch_size=batch), available_versions=["13.0"])
    out_xml: str | None = None
    last: tuple[str, str, str] | None = None
    percents: list[int] = []
    for event in events:
        before = copy.deepcopy(s.state.to_dict())
        try:
            if event == "send":
                reply = s.send_request(books.work(), major=13, minor=0)
                out_xml = reply.message.xml if reply.message else None
            elif event in ("answer", "duplicate") or (event == "lose" and out_xml is None):
                answer = last if event == "duplicate" and last else (
                    _process(fq, out_xml) if out_xml else ("<QBXML/>", "", ""))
                reply = s.receive_response(books.work(), *answer)
                last, out_xml = answer, None
            elif event == "lose":  # QuickBooks applied it, the answer is lost: QBWC asks for the next
                fq.process(out_xml)
                reply = s.send_request(books.work(), major=13, minor=0)
                out_xml = reply.message.xml if reply.message else None
            elif event == "hresult":
                reply = s.receive_response(books.work(), "", "0x80040402", "Unexpected error")
                out_xml = None
            elif event == "parse_error":
                reply = s.receive_response(books.work(), "", "0x80040400", "could not parse")
                out_xml = None
            elif event == "get_last_error":
                reply = s.get_last_error()
            elif event == "connection_error":
                reply = s.connection_error("0x80040408", "Could not start QuickBooks.")
            elif event == "close":
                reply = s.close()
            else:
                reply = s.expire("2026-12-01T10:00:00Z")
        except ProtocolError:
            assert s.state.to_dict() == before  # refused: nothing changed
            continue
        books.take(reply)
        if event in ("answer", "duplicate", "hresult", "parse_error") and reply.answer != FATAL:
            assert isinstance(reply.answer, int) and 0 <= reply.answer <= 100
            percents.append(reply.answer)
        if event in ("connection_error", "close", "expire"):
            out_xml = None
        assert (s.state.sent is not None) == (out_xml is not None)  # at most one message out, known
    assert percents == sorted(percents)  # never goes down
    assert 100 not in percents[:-1] or set(percents[percents.index(100):]) == {100}
    assert all(count == 1 for count in books.written.values()) or any(
        e in events for e in ("parse_error",))  # a change is written once, except to find a culprit
    if s.phase == CLOSED:
        assert s.state.sent is None
        assert all(v != "sending" for v in books.status.values())


def _process(fq: FakeQuickBooks, xml: str) -> tuple[str, str, str]:
    out = fq.process(xml)
    return out.xml or "", out.hresult, out.message
