"""The import steps of the session engine, without a store or HTTP: what detection asks
QuickBooks, how its answers move the pass on, and how approved imports are re-read."""

from __future__ import annotations

from qbsync.engine import imports
from qbsync.engine.exports import SentMessage
from qbsync.engine.model import Applied, Detected, Failed, ImportChange, Requeued, Watermark
from qbsync.engine.session import DETECT, Session, SessionState, Work
from qbsync.qbxml import RsSpec, build_response, parse_request

T1 = "2026-11-26T09:00:00-08:00"
T2 = "2026-11-26T09:30:00-08:00"


def detection(at="Customer", **kw):
    det = imports.Detection.start(["Invoice", "Customer", "Employee"], kw.pop("since", {}), first_since=None, **kw)
    det.at = det.tasks.index(at)
    return det


def sent_for(det):
    plan = imports.plan_detect(det)
    return SentMessage.from_plan(plan, 1, None, {}), plan.requests[0].request


def answer(name, rets, request_id="d1", **attrs):
    return build_response([RsSpec(name, request_id=request_id, rets=rets, attrs=attrs,
                                  status_code=0 if rets else 1, message="Status OK" if rets else "no match")],
                          validate=False)


def customer(list_id, modified):
    return ("CustomerRet", {"ListID": list_id, "Name": list_id, "EditSequence": "1", "TimeModified": modified})


def test_types_go_in_dependency_order_then_the_deleted_records_queries():
    det = detection()
    assert det.tasks == ["Employee", "Customer", "Invoice", "ListDeleted", "TxnDeleted"]  # what a type refers to first
    assert det.deleted_types(imports.DELETED_LISTS) == ["Employee", "Customer"]
    assert det.deleted_types(imports.DELETED_TXNS) == ["Invoice"]


def test_a_first_query_reads_everything_active_or_not_in_pages():
    _, req = sent_for(detection(page_size=200))
    assert (req.name, dict(req.attrs)) == ("CustomerQuery", {"iterator": "Start"})
    assert req.data == {"ActiveStatus": "All", "MaxReturned": 200}


def test_a_query_starts_five_minutes_before_the_watermark_in_quickbooks_offset():
    _, req = sent_for(detection(since={"Customer": T1}))
    assert req.data["FromModifiedDate"] == "2026-11-26T08:55:00-08:00"
    det = detection("Invoice", since={"Invoice": T1})
    _, req = sent_for(det)
    assert req.data["ModifiedDateRangeFilter"] == {"FromModifiedDate": "2026-11-26T08:55:00-08:00"}
    assert req.data["IncludeLineItems"] is True


def test_types_without_iterators_are_read_in_one_answer():
    det = detection("Employee")
    _, req = sent_for(det)
    assert req.name == "EmployeeQuery" and not req.attrs and "MaxReturned" not in req.data


def test_pages_continue_and_the_watermark_moves_only_after_the_last_one():
    det = detection(since={"Customer": T1})
    sent, _ = sent_for(det)
    first = imports.interpret_detect(det, sent, answer("CustomerQuery", [customer("A", T2)], iteratorID="{it}",
                                                       iteratorRemainingCount=1), "", "")
    assert [f for f in first.found if isinstance(f, Watermark)] == []
    assert det.task == "Customer" and det.iterator_id == "{it}"
    sent, req = sent_for(det)
    assert dict(req.attrs) == {"iterator": "Continue", "iteratorID": "{it}"}
    last = imports.interpret_detect(det, sent, answer("CustomerQuery", [customer("B", T1)], iteratorID="{it}",
                                                      iteratorRemainingCount=0), "", "")
    assert [f.record["ListID"] for f in last.found if isinstance(f, Detected)] == ["B"]
    assert Watermark("Customer", T2) in last.found  # the newest time of the whole pass
    assert det.task == "Invoice" and det.since["Customer"] == T2


def test_a_lost_page_or_a_dead_iterator_starts_the_type_over_then_gives_up():
    det = detection()
    det.iterator_id, det.page = "{it}", 3
    note = det.restart("message 4 was not answered")
    assert det.iterator_id is None and det.page == 0 and "starts over" in note
    sent, _ = sent_for(det)
    gone = build_response([RsSpec("CustomerQuery", request_id="d1", status_code=3391, severity="Error",
                                  message="iterator gone")], validate=False)
    imports.interpret_detect(det, sent, gone, "", "")
    assert det.task == "Customer" and det.restarts == 2
    imports.interpret_detect(det, sent, gone, "", "")
    assert det.task == "Invoice" and det.problems and "Customer" in det.problems[0]


def test_deleted_records_are_found_with_their_types():
    det = detection("ListDeleted", since={"ListDeleted": T1})
    sent, req = sent_for(det)
    assert req.data == {"ListDelType": ["Employee", "Customer"],
                        "DeletedDateRangeFilter": {"FromDeletedDate": "2026-11-26T08:55:00-08:00"}}
    ret = ("ListDeletedRet", {"ListDelType": "Customer", "ListID": "X", "TimeCreated": T1, "TimeDeleted": T2,
                              "FullName": "Gone"})
    result = imports.interpret_detect(det, sent, answer("ListDeletedQuery", [ret], request_id="d3"), "", "")
    assert Detected("Customer", ret[1], deleted=True) in result.found and Watermark("ListDeleted", T2) in result.found


def test_approved_imports_are_re_read_by_id_and_deletions_applied_at_once():
    changes = [ImportChange(1, "Customer", "mod", "C1", "80-1"), ImportChange(2, "Invoice", "add", "90-1", "90-1"),
               ImportChange(3, "Customer", "delete", "C3", "80-3")]
    plan = imports.plan_apply(changes, skip=set(), batch_size=50)
    assert plan.settled == [Applied(3, None)]
    assert [(p.request.name, dict(p.request.data)) for p in plan.requests] == [
        ("CustomerQuery", {"ListID": "80-1"}), ("InvoiceQuery", {"TxnID": "90-1", "IncludeLineItems": True})]
    sent = SentMessage.from_plan(plan, 1, None, {c.id: c.type for c in changes})
    response = build_response([
        RsSpec("CustomerQuery", request_id="a1", rets=[customer("80-1", T1)]),
        RsSpec("InvoiceQuery", request_id="a2", status_code=500, severity="Warn", message="not found"),
    ], validate=False)
    found = imports.interpret_apply(sent, response, "", "").outcomes
    assert found[0] == Applied(1, customer("80-1", T1)[1])
    assert isinstance(found[1], Failed) and found[1].status_code == 500 and "no longer in QuickBooks" in found[1].message
    assert all(isinstance(o, Requeued) for o in imports.lost(sent, "lost"))  # nothing applied: read again


def test_a_session_runs_detection_after_the_exports_and_counts_what_it_read():
    state = SessionState(detect=imports.Detection.start(["Customer"], {}, first_since=None).to_dict())
    session = Session(1, state, new_token=lambda: "t")
    reply = session.send_request(Work(), major=13, minor=0)
    (request,) = parse_request(reply.answer).requests
    assert request.name == "CustomerQuery" and state.step == DETECT
    reply = session.receive_response(Work(), answer("CustomerQuery", [customer("A", T1)], "d0", iteratorID="{i}",
                                                    iteratorRemainingCount=0))
    assert [type(f).__name__ for f in reply.found] == ["Detected", "Watermark"] and 0 < reply.answer < 100
    reply = session.send_request(Work())
    assert parse_request(reply.answer).requests[0].name == "ListDeletedQuery"
    reply = session.receive_response(Work(), answer("ListDeletedQuery", [], "d1"))
    assert reply.answer == 100 and [type(f).__name__ for f in reply.found] == ["DetectionDone"]


def test_no_detection_in_a_session_whose_write_may_have_landed_unseen():
    state = SessionState(detect=imports.Detection.start(["Customer"], {}, first_since=None).to_dict())
    state.step, state.counts = DETECT, {"unknown": 1, "lost": 1}
    session = Session(1, state, new_token=lambda: "t")
    reply = session.send_request(Work(), major=13, minor=0)
    assert reply.answer == "" and reply.message is None  # the next session settles it, then looks
