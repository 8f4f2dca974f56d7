"""A record in use in QuickBooks (3170/3175/3176) is transient: the change stays queued with a
note, rests (1, 2, 4, 8 minutes … at most an hour) and goes again in a later session; only the
5th lock answer in a row sends it to the Error Log, with ONE Failed Syncs row. The engine decides
(pure, times as data); end to end over HTTP with FakeQuickBooks' lock/unlock and a moving clock."""

from __future__ import annotations

import pytest
from clock import Clock
from e2e_support import PASSWORD, USER, approve, db, error_log, stage  # noqa: F401 - db is a fixture

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.engine import locks
from qbsync.engine.exports import REFRESH, WRITE, ExportPlan, PlannedRequest, SentMessage, interpret, plan_exports
from qbsync.engine.model import ExportChange, Failed, Mirror, MirrorRecord, Ref, Requeued
from qbsync.qbxml import Request
from qbsync.store import open_store
from qbsync.store.connections import get_connection
from qbsync.sync import errorlog
from qbsync.testing import WebConnector
from qbsync.testing.fake_quickbooks import FakeQuickBooks


def _answer(code, message="", request_id="c7", name="CustomerMod", ret: str = "") -> str:
    msg = f' statusMessage="{message}"' if message else ""
    return (f'<?xml version="1.0"?><QBXML><QBXMLMsgsRs><{name}Rs requestID="{request_id}" statusCode="{code}" '
            f'statusSeverity="Error"{msg}>{ret}</{name}Rs></QBXMLMsgsRs></QBXML>')


def _sent(locks_before: int = 0, kind: str = WRITE) -> SentMessage:
    return SentMessage(kind, 1, {"c7": 7}, {"c7": "Customer"}, "m1", "1 CustomerMod",
                       locks={"c7": locks_before} if locks_before else {})


# -- the engine ------------------------------------------------------------------------------


def test_backoff_doubles_from_a_minute_and_stops_at_an_hour():
    assert [locks.backoff(n) for n in range(0, 9)] == [0, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert locks.backoff(10_000) == 3600
    assert locks.not_before("2026-11-26T08:00:00Z", 3) == "2026-11-26T08:04:00Z"
    assert locks.not_before(None, 3) is None and locks.not_before("2026-11-26T08:00:00Z", 0) is None


@pytest.mark.parametrize("code", [3170, 3175, 3176])
def test_a_lock_answer_is_requeued_with_a_backoff_not_failed(code):
    (o,) = interpret(_sent(), _answer(code, "The record is in use"), None, None).outcomes
    assert isinstance(o, Requeued) and o.status_code == code and o.retry_after == 60
    assert not o.retry_now and not o.alone  # never again in this session
    assert f"record in use in QuickBooks ({code})" in o.reason and "The record is in use" in o.reason
    assert "1 min" in o.reason and "lock answer 1 of 5" in o.reason


def test_the_backoff_grows_with_each_lock_answer_in_a_row():
    (o,) = interpret(_sent(locks_before=3), _answer(3175), None, None).outcomes
    assert isinstance(o, Requeued) and o.retry_after == 480 and "lock answer 4 of 5" in o.reason


def test_the_fifth_lock_answer_in_a_row_goes_to_the_error_log():
    (o,) = interpret(_sent(locks_before=4), _answer(3170, "modified by another user"), None, None).outcomes
    assert isinstance(o, Failed) and o.status_code == 3170
    assert o.message.startswith("modified by another user") and "5 times in a row" in o.message
    assert "qbsync retry 7" in o.message


def test_other_errors_still_fail_at_once():
    (o,) = interpret(_sent(locks_before=2), _answer(3200, "out of date"), None, None).outcomes
    assert isinstance(o, Failed) and o.status_code == 3200


def test_a_lock_on_a_re_read_is_not_counted_as_a_lock():
    # a query takes no lock: whatever it answers is what it was before (the record re-read failed)
    sent = SentMessage(REFRESH, 1, {"c7": 7}, {"c7": "Customer"}, None, "1 CustomerQuery")
    (o,) = interpret(sent, _answer(3175, request_id="c7", name="CustomerQuery"), None, None).outcomes
    assert isinstance(o, Failed)


def test_the_lock_count_travels_with_the_message_out():
    plan = ExportPlan(WRITE, [PlannedRequest("c7", 7, Request("CustomerModRq", {}), locks=2)])
    sent = SentMessage.from_plan(plan, 3, "m", {7: "Customer"})
    again = SentMessage.from_dict(sent.to_dict())
    assert again.locks == {"c7": 2}
    # a message saved by an older qbsync has no counts: none is assumed
    assert SentMessage.from_dict({k: v for k, v in sent.to_dict().items() if k != "locks"}).locks == {}


def _row(**extra):
    row = {"id": 7, "type": "Customer", "action": "mod", "local_id": "C1", "status": "queued", "attempts": 3,
           "last_tried": "2026-11-26T08:00:00Z", "status_code": 3175, "attempts_since_failure": 2}
    row.update(extra)
    return row


def test_a_change_rests_until_its_backoff_has_passed():
    resting = ExportChange.from_row(_row(), now="2026-11-26T08:01:59Z")
    assert resting.locks == 2 and resting.lock_code == 3175 and resting.not_before == "2026-11-26T08:02:00Z"
    due = ExportChange.from_row(_row(), now="2026-11-26T08:02:00Z")
    assert due.locks == 2 and due.not_before is None
    assert ExportChange.from_row(_row()).not_before is None  # no time given: it may go


def test_only_a_queued_change_whose_last_answer_was_a_lock_counts_locks():
    assert ExportChange.from_row(_row(status_code=3200)).locks == 0  # an error retried from the Error Log
    assert ExportChange.from_row(_row(status="sending")).locks == 0
    assert ExportChange.from_row(_row(attempts_since_failure=0)).locks == 0  # retried after its Error Log row


def _mirror() -> Mirror:
    return Mirror([MirrorRecord("Customer", "C1", "80000001-1", "es1", {"Name": "Acme"})])


def test_a_resting_change_waits_and_what_depends_on_it_waits_behind_it():
    locked = ExportChange.from_row(_row(payload={"Name": "Acme 2"}), now="2026-11-26T08:01:00Z")
    later = ExportChange(8, "Customer", "mod", "C1", payload={"Name": "Acme 3"})
    invoice = ExportChange(9, "Invoice", "add", "INV1", payload={"CustomerRef": {"local_id": "C2"}},
                           refs=(Ref("CustomerRef", "C2", ("Customer",)),))
    add = ExportChange.from_row(_row(id=10, action="add", local_id="C2", payload={"Name": "Bolt"}),
                                now="2026-11-26T08:01:00Z")
    plan = plan_exports([locked, later, invoice, add], _mirror())
    assert plan.empty
    waiting = {w.change_id: w.reason for w in plan.waiting}
    assert set(waiting) == {7, 10}
    assert waiting[7].startswith("waiting until 2026-11-26T08:02:00Z") and "(3175)" in waiting[7]
    deferred = {w.change_id: w.reason for w in plan.deferred}
    assert set(deferred) == {8, 9}  # the later Mod of C1 never overtakes the locked one


def test_once_its_time_has_come_the_change_goes_with_its_count():
    due = ExportChange.from_row(_row(payload={"Name": "Acme 2"}), now="2026-11-26T09:00:00Z")
    plan = plan_exports([due], _mirror())
    assert [(p.change_id, p.locks) for p in plan.requests] == [(7, 2)]


# -- end to end over HTTP --------------------------------------------------------------------


def _change(db) -> dict:
    with open_store(db) as store:
        return store.query_one("SELECT * FROM changes WHERE local_id = 'C1' ORDER BY id DESC LIMIT 1")


def _failed_syncs(db) -> int:
    with open_store(db) as store:
        return len(errorlog.failed(store, get_connection(store, "acme")))


class Runs:
    """Web Connector runs against one real server with a clock the test moves."""

    def __init__(self, db, company):
        self.clock = Clock()
        self.service = ConnectorService(str(db), clock=self.clock)
        self.company = company
        self._server = serve(make_wsgi_app(self.service, "/qbwc"), "127.0.0.1", 0)
        self.server = self._server.__enter__()

    def run(self):
        report = WebConnector(self.server.url("/qbwc"), USER, PASSWORD, company=self.company, noop_delay=0).run()
        assert report.ok, (report.errors, report.violations)
        return report

    def close(self):
        self._server.__exit__(None, None, None)


@pytest.fixture
def synced_customer(db):
    stage(db, "Customer", [{"id": "C1", "Name": "Acme", "Phone": "555-0001"}])
    approve(db)
    company = FakeQuickBooks()
    runs = Runs(db, company)
    assert runs.run().final_message == "Synced 1"
    stage(db, "Customer", [{"id": "C1", "Name": "Acme", "Phone": "555-0002"}])
    approve(db)
    qb_id = company.find("Customer", "Acme")["ListID"]
    yield runs, company, qb_id
    runs.close()


def test_a_locked_record_is_retried_with_backoff_then_goes_through_once_unlocked(db, synced_customer):
    runs, company, qb_id = synced_customer
    company.lock("Customer", qb_id, 3175)

    report = runs.run()
    assert report.status_codes == [3175] and report.final_message == "Synced 0, 1 back in the queue"
    change = _change(db)
    assert change["status"] == "queued" and change["status_code"] == 3175 and change["attempts"] == 1
    assert "record in use in QuickBooks (3175)" in change["note"] and "1 min" in change["note"]
    assert error_log(db) == [] and _failed_syncs(db) == 0

    runs.clock.advance(30)  # too soon: no session at all (QuickBooks is not even opened)
    assert runs.run().outcome == "no_work"
    assert _change(db)["note"].startswith("waiting until 2026-11-26T08:01:00Z")

    runs.clock.advance(31)
    assert runs.run().status_codes == [3175]  # the second lock answer: now it rests 2 minutes
    assert _change(db)["attempts"] == 2 and "lock answer 2 of 5" in _change(db)["note"]
    runs.clock.advance(90)
    assert runs.run().outcome == "no_work"

    company.unlock("Customer", qb_id)
    runs.clock.advance(31)
    report = runs.run()
    assert report.final_message == "Synced 1"
    change = _change(db)
    assert change["status"] == "synced" and change["attempts"] == 3
    assert company.get("Customer", qb_id)["Phone"] == "555-0002"
    assert error_log(db) == [] and _failed_syncs(db) == 0


def test_a_record_locked_for_ten_runs_costs_one_failed_syncs_row(db, synced_customer):
    runs, company, qb_id = synced_customer
    company.lock("Customer", qb_id, 3170)
    sent = 0
    for _ in range(10):
        report = runs.run()
        sent += len(report.status_codes)
        runs.clock.advance(3600)  # every backoff has passed by the next run
    assert sent == 5  # the 5th lock answer in a row sends it to the Error Log; then it is not sent
    (entry,) = error_log(db)
    assert entry["status_code"] == 3170 and entry["attempts"] == 5 and "5 times in a row" in entry["message"]
    assert _failed_syncs(db) == 1

    # retried by hand while the record is still held: a new episode, counted from one again
    with open_store(db) as store:
        errorlog.retry(store, get_connection(store, "acme"), [entry["id"]])
    assert runs.run().status_codes == [3170]
    change = _change(db)
    assert change["status"] == "queued" and "lock answer 1 of 5" in change["note"] and _failed_syncs(db) == 1

    company.unlock("Customer", qb_id)
    runs.clock.advance(60)
    assert runs.run().final_message == "Synced 1"
    assert _change(db)["status"] == "synced" and _failed_syncs(db) == 1


def test_a_later_change_of_a_locked_record_waits_for_it(db, synced_customer):
    runs, company, qb_id = synced_customer
    company.lock("Customer", qb_id, 3175)
    runs.run()
    stage(db, "Customer", [{"id": "C1", "Name": "Acme", "Phone": "555-0003"}])
    approve(db)
    runs.clock.advance(10)
    assert runs.run().outcome == "no_work"  # the newer change must not overtake the resting one
    company.unlock("Customer", qb_id)
    runs.clock.advance(60)
    assert runs.run().final_message == "Synced 2"
    assert company.get("Customer", qb_id)["Phone"] == "555-0003"


def test_authenticate_starts_no_session_for_changes_that_only_rest():
    from qbsync.engine.session import AUTH_GO, AUTH_NO_WORK, Work, admit

    resting = ExportChange.from_row(_row(payload={"Name": "Acme 2"}), now="2026-11-26T08:01:00Z")
    admission = admit(queued=1, imports_due=False, running_seconds_left=[], busy_postpone=True,
                      work=Work([resting], _mirror(), frozenset()))
    assert admission.status == AUTH_NO_WORK
    (waiting,) = admission.outcomes
    assert waiting.change_id == 7 and waiting.reason.startswith("waiting until 2026-11-26T08:02:00Z")
    due = ExportChange.from_row(_row(payload={"Name": "Acme 2"}), now="2026-11-26T08:02:00Z")
    assert admit(queued=1, imports_due=False, running_seconds_left=[], busy_postpone=True,
                 work=Work([due], _mirror(), frozenset())).status == AUTH_GO
