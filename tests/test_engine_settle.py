"""The settle step on its own (qbsync.engine.settle) and inside the pure Session: outcome-unknown
exports settled by error recovery, then by lookups. No store, no HTTP: responses are built with
qbsync.qbxml.build_response, as QuickBooks would send them."""

from __future__ import annotations

from qbsync.engine import exports, settle
from qbsync.engine.model import ExportChange, Failed, Mirror, MirrorRecord, Ref, Requeued, Synced, Undecided
from qbsync.engine.session import EXPORT, SETTLE, Limits, Session, SessionState, Work
from qbsync.qbxml import RsSpec, build_response, parse_request

MS = "qbsync-1-3-abcd"


def unknown(cid, type_, local_id, payload=None, action="add", refs=(), message_id=MS, qb_id=None):
    return ExportChange(cid, type_, action, local_id, qb_id, None, dict(payload or {}), tuple(refs),
                        message_id=message_id)


def customer(cid, local_id, name, phone="555-0001", **kw):
    return unknown(cid, "Customer", local_id, {"Name": name, "Phone": phone}, **kw)


def invoice(cid, local_id, ref="INV-1", cust="C1", **kw):
    payload = {"CustomerRef": {"local_id": cust}, "RefNumber": ref, "TxnDate": "2026-11-20",
               "InvoiceLine": [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": 2}]}
    refs = (Ref("CustomerRef", cust, ("Customer",)), Ref("InvoiceLine[0]/ItemRef", "I1", ("ItemService",)))
    return unknown(cid, "Invoice", local_id, payload, refs=refs, **kw)


def mirror(*records):
    return Mirror([MirrorRecord("Customer", "C1", "80000001-1", "100"),
                   MirrorRecord("ItemService", "I1", "80000002-1", "100"), *records])


def customer_ret(list_id="80000009-1", name="Acme", phone="555-0001", es="200", **extra):
    return {"ListID": list_id, "EditSequence": es, "Name": name, "FullName": name, "IsActive": "true",
            "Phone": phone, **extra}


def invoice_ret(txn_id="9-1", ref="INV-1", cust="80000001-1", date="2026-11-20", quantity="2"):
    return {"TxnID": txn_id, "EditSequence": "300", "TxnDate": date, "RefNumber": ref,
            "CustomerRef": {"ListID": cust, "FullName": "Acme"},
            "InvoiceLineRet": [{"TxnLineID": "L-1", "ItemRef": {"ListID": "80000002-1", "FullName": "Labor"},
                                "Quantity": quantity, "Amount": "20.00"}]}


def respond(specs, status=None):
    return build_response(specs, message_set_status_code=status, validate=False)


def plan_and_send(changes, m, **kw):
    plan = settle.plan_settle(changes, m, **kw)
    xml = exports.build_message(plan, version="13.0", message_set_id=None)  # validated against the schema
    sent = exports.SentMessage.from_plan(plan, 1, None, {c.id: c.type for c in changes})
    return plan, xml, sent


def settle_with(changes, m, specs, status=None):
    _, _, sent = plan_and_send(changes, m)
    return settle.interpret(sent, respond(specs, status), "", "", changes, m)


# -- planning ----------------------------------------------------------------------------------


def test_a_settle_message_asks_for_the_lost_message_set_and_looks_each_change_up():
    m = mirror(MirrorRecord("Customer", "C2", "80000003-1", "150"))
    changes = [
        customer(1, "C9", "Acme"),
        unknown(2, "Customer", "J1", {"Name": "Job 1", "ParentRef": {"local_id": "C1"}},
                refs=(Ref("ParentRef", "C1", ("Customer",)),)),
        invoice(3, "INV1"),
        unknown(4, "Customer", "C2", {"Phone": "555-0002"}, action="mod"),
        unknown(5, "Customer", "C2", {}, action="delete"),
    ]
    plan, xml, sent = plan_and_send(changes, m)
    assert plan.kind == settle.SETTLE_KIND and plan.old_message_set_id == MS
    assert 'oldMessageSetID="qbsync-1-3-abcd"' in xml and "newMessageSetID" not in xml
    rq = {r.request_id: (r.name, r.data) for r in parse_request(xml).requests}
    assert rq["s1"] == ("CustomerQuery", {"FullName": ["Acme"]})
    assert rq["s2"][0] == "CustomerQuery" and rq["s2"][1]["NameFilter"] == {"MatchCriterion": "EndsWith",
                                                                           "Name": "Job 1"}
    assert rq["s3"][0] == "InvoiceQuery" and rq["s3"][1]["RefNumber"] == ["INV-1"]
    assert rq["s4"] == ("CustomerQuery", {"ListID": ["80000003-1"]}) and rq["s5"] == rq["s4"]
    assert rq["d5"] == ("ListDeletedQuery", {"ListDelType": ["Customer"]})  # with a delete, the deleted records
    # the saved answers come back under the requestIDs the writes had
    assert {k: v for k, v in sent.requests.items() if k.startswith("c")} == {f"c{i}": i for i in range(1, 6)}


def test_one_message_set_per_message_oldest_first_and_skipped_changes_left_out():
    changes = [customer(1, "C8", "A", message_id="ms-a"), customer(2, "C9", "B", message_id="ms-b"),
               customer(3, "C7", "C", message_id="ms-a")]
    plan = settle.plan_settle(changes, mirror())
    assert plan.old_message_set_id == "ms-a" and plan.change_ids() == [1, 3]
    plan = settle.plan_settle(changes, mirror(), skip={1, 3})
    assert plan.old_message_set_id == "ms-b" and plan.change_ids() == [2]
    assert settle.plan_settle(changes, mirror(), skip={1, 2, 3}).empty


def test_a_change_with_neither_a_message_set_nor_a_key_is_undecidable_at_once():
    no_ref = invoice(1, "INV1", message_id=None)
    no_ref.payload.pop("RefNumber")
    plan = settle.plan_settle([no_ref, customer(2, "C9", "Acme", message_id=None)], mirror())
    (undecided,) = plan.settled
    assert isinstance(undecided, Undecided) and undecided.change_id == 1
    assert "without a RefNumber" in undecided.reason and "retry --force 1" in undecided.reason
    assert plan.old_message_set_id is None and plan.change_ids() == [2] and not plan.recovered


# -- error recovery -----------------------------------------------------------------------------


def test_saved_answers_decide_applied_refused_and_not_processed():
    changes = [customer(1, "C7", "Acme"), customer(2, "C8", "Beta"), customer(3, "C9", "Gamma")]
    found = settle_with(changes, mirror(), [
        RsSpec("CustomerAdd", "c1", rets=[("CustomerRet", customer_ret())]),
        RsSpec("CustomerAdd", "c2", 3100, "Error", 'The name "Beta" of the list element is already in use.'),
        RsSpec("CustomerAdd", "c3", 3231, "Error", "The request has not been processed."),
        RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", customer_ret(es="201"))]),
        RsSpec("CustomerQuery", "s2", 500, "Warn", "not found"),
        RsSpec("CustomerQuery", "s3", 500, "Warn", "not found"),
    ], status=3100)
    synced, failed, requeued = found.outcomes
    # applied: the record as it is now (the lookup's Ret) goes to the mirror and the feed
    assert isinstance(synced, Synced) and synced.qb_id == "80000009-1" and synced.edit_sequence == "201"
    assert isinstance(failed, Failed) and failed.status_code == 3100
    assert isinstance(requeued, Requeued) and requeued.retry_now and requeued.status_code == 3231
    assert found.fatal is None


def test_saved_answers_with_only_error_recovery_ids_are_enough():
    found = settle_with([customer(1, "C7", "Acme")], mirror(), [
        RsSpec("CustomerAdd", "c1", rets=[("ErrorRecovery", {"ListID": "80000009-1", "EditSequence": "200"})]),
    ], status=0)
    (synced,) = found.outcomes
    assert isinstance(synced, Synced) and synced.qb_id == "80000009-1"


# -- lookups when recovery cannot tell (600) ---------------------------------------------------


def test_a_list_add_not_found_by_name_is_sent_again():
    (o,) = settle_with([customer(1, "C7", "Acme")], mirror(),
                       [RsSpec("CustomerQuery", "s1", 500, "Warn", "not found")], status=600).outcomes
    assert isinstance(o, Requeued) and o.retry_now and "no Customer named 'Acme'" in o.reason


def test_a_list_add_found_by_name_with_the_fields_sent_is_applied():
    (o,) = settle_with([customer(1, "C7", "Acme")], mirror(),
                       [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", customer_ret())])], status=600).outcomes
    assert isinstance(o, Synced) and o.qb_id == "80000009-1" and o.snapshot["Phone"] == "555-0001"


def test_a_list_add_found_with_other_fields_is_undecidable_with_the_evidence():
    (o,) = settle_with([customer(1, "C7", "Acme")], mirror(),
                       [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", customer_ret(phone="555-9999"))])],
                       status=600).outcomes
    assert isinstance(o, Undecided)
    assert "600" in o.reason and "Customer named 'Acme'" in o.reason and "80000009-1" in o.reason
    assert "Phone: sent '555-0001', QuickBooks has '555-9999'" in o.reason
    assert "retry --force 1" in o.reason


def test_external_guid_tells_ours_from_someone_elses():
    guid = "{11111111-2222-3333-4444-555555555555}"
    ours = unknown(1, "Customer", "C7", {"Name": "Acme", "Phone": "1", "ExternalGUID": guid})
    (o,) = settle_with([ours], mirror(), [RsSpec("CustomerQuery", "s1", rets=[(
        "CustomerRet", customer_ret(phone="2", ExternalGUID=guid))])], status=600).outcomes
    assert isinstance(o, Synced)  # edited in QuickBooks since, but certainly ours
    other = "{99999999-2222-3333-4444-555555555555}"
    (o,) = settle_with([ours], mirror(), [RsSpec("CustomerQuery", "s1", rets=[(
        "CustomerRet", customer_ret(ExternalGUID=other))])], status=600).outcomes
    assert isinstance(o, Requeued)  # the name is someone else's record: ours was not applied


def test_a_job_is_matched_by_its_name_and_parent():
    job = unknown(1, "Customer", "J1", {"Name": "Job 1", "ParentRef": {"local_id": "C1"}},
                  refs=(Ref("ParentRef", "C1", ("Customer",)),))
    other_parent = customer_ret(name="Job 1", ParentRef={"ListID": "80000077-1", "FullName": "Other"})
    (o,) = settle_with([job], mirror(), [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", other_parent)])],
                       status=600).outcomes
    assert isinstance(o, Requeued)
    ours = customer_ret(name="Job 1", ParentRef={"ListID": "80000001-1", "FullName": "Acme"})
    ours.pop("Phone")
    (o,) = settle_with([job], mirror(), [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", ours)])],
                       status=600).outcomes
    assert isinstance(o, Synced) and o.qb_id == "80000009-1"


def test_a_transaction_add_is_looked_up_by_ref_number_customer_and_date():
    inv = invoice(1, "INV1")
    (o,) = settle_with([inv], mirror(), [RsSpec("InvoiceQuery", "s1", rets=[
        ("InvoiceRet", invoice_ret(cust="80000055-1")), ("InvoiceRet", invoice_ret(date="2025-01-01"))])],
        status=600).outcomes
    assert isinstance(o, Requeued) and "RefNumber 'INV-1'" in o.reason  # others' invoices, not ours
    (o,) = settle_with([inv], mirror(), [RsSpec("InvoiceQuery", "s1", rets=[("InvoiceRet", invoice_ret())])],
                       status=600).outcomes
    assert isinstance(o, Synced) and o.qb_id == "9-1" and o.snapshot["InvoiceLineRet"][0]["TxnLineID"] == "L-1"
    three = invoice_ret(quantity="3")
    (o,) = settle_with([inv], mirror(), [RsSpec("InvoiceQuery", "s1", rets=[("InvoiceRet", three)])],
                       status=600).outcomes
    assert isinstance(o, Undecided) and "InvoiceLineAdd[0]/Quantity: sent '2', QuickBooks has '3'" in o.reason


def test_a_mod_is_settled_by_its_edit_sequence_then_its_fields():
    m = mirror(MirrorRecord("Customer", "C2", "80000003-1", "150"))
    mod = unknown(1, "Customer", "C2", {"Phone": "555-0002"}, action="mod")
    ret = customer_ret(list_id="80000003-1", name="Beta")
    unchanged = {**ret, "EditSequence": "150"}
    (o,) = settle_with([mod], m, [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", unchanged)])],
                       status=600).outcomes
    assert isinstance(o, Requeued) and o.retry_now and "still the one sent (150)" in o.reason
    (o,) = settle_with([mod], m, [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", {**ret, "Phone": "555-0002"})])],
                       status=600).outcomes
    assert isinstance(o, Synced) and o.edit_sequence == "200"
    (o,) = settle_with([mod], m, [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", ret)])], status=600).outcomes
    assert isinstance(o, Undecided) and "moved from 150 to 200" in o.reason and "Phone" in o.reason


def test_a_delete_is_applied_when_the_record_is_gone_and_sent_again_when_it_is_not():
    m = mirror(MirrorRecord("Customer", "C2", "80000003-1", "150"))
    delete = unknown(1, "Customer", "C2", {}, action="delete")
    (o,) = settle_with([delete], m, [RsSpec("CustomerQuery", "s1", 500, "Warn", "not found")], status=600).outcomes
    assert isinstance(o, Synced)
    (o,) = settle_with([delete], m, [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", customer_ret())])],
                       status=600).outcomes
    assert isinstance(o, Requeued) and o.retry_now


def test_a_whole_message_failure_or_an_unreadable_answer_decides_nothing():
    changes = [customer(1, "C7", "Acme")]
    _, _, sent = plan_and_send(changes, mirror())
    failed = settle.interpret(sent, "", "0x80040402", "Unexpected error", changes, mirror())
    assert failed.outcomes == [] and "0x80040402" in failed.fatal
    unreadable = settle.interpret(sent, "<QBXML><QBXMLMsgsRs>", "", "", changes, mirror())
    assert unreadable.outcomes == [] and unreadable.fatal is None


def test_a_lookup_that_fails_leaves_it_undecided():
    (o,) = settle_with([customer(1, "C7", "Acme")], mirror(),
                       [RsSpec("CustomerQuery", "s1", 3175, "Error", "could not be locked")], status=600).outcomes
    assert isinstance(o, Undecided) and "3175" in o.reason


# -- inside the session ------------------------------------------------------------------------


def _session():
    return Session(7, SessionState(total=2), new_token=lambda: "t")


def test_the_session_settles_first_then_sends_what_was_not_applied_in_the_same_session():
    lost = customer(1, "C7", "Acme")
    queued = ExportChange(2, "Customer", "add", "C8", payload={"Name": "Beta"})
    work = Work([queued], mirror(), frozenset(), [], [lost])
    s = _session()
    first = s.send_request(work, major="13", minor="0")
    assert s.state.step == SETTLE and 'oldMessageSetID="qbsync-1-3-abcd"' in first.answer
    assert first.message.writes == []  # nothing is marked as sent: it writes nothing
    answer = respond([RsSpec("CustomerQuery", "s1", 500, "Warn", "not found")], status=600)
    reply = s.receive_response(Work([queued], mirror(), frozenset(), [], [lost]), answer)
    (o,) = reply.outcomes
    assert isinstance(o, Requeued) and reply.answer < 100  # more to come: it goes again
    # the store has it queued again now: it goes with the queued change
    requeued = ExportChange(1, "Customer", "add", "C7", payload=lost.payload)
    second = s.send_request(Work([requeued, queued], mirror(), frozenset(), [], []))
    assert s.state.step == EXPORT and second.message.writes == [1, 2]


def test_an_add_settled_as_applied_lets_its_dependents_go_in_the_same_session():
    lost = customer(1, "C7", "Acme")
    inv = invoice(2, "INV1", cust="C7", message_id=None)
    work = lambda: Work([inv], mirror(), frozenset({"C7"}), [], [lost])  # noqa: E731
    s = _session()
    s.send_request(work(), major="13", minor="0")
    reply = s.receive_response(work(), respond([RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", customer_ret())])],
                                               status=600))
    assert isinstance(reply.outcomes[0], Synced) and reply.answer < 100
    m = mirror(MirrorRecord("Customer", "C7", "80000009-1", "200"))
    nxt = s.send_request(Work([inv], m, frozenset(), [], []))
    assert nxt.message.writes == [2] and "80000009-1" in nxt.answer


def test_a_lost_settle_message_leaves_the_outcomes_unknown_and_is_not_asked_again_this_session():
    lost = customer(1, "C7", "Acme")
    s = _session()
    s.send_request(Work([], mirror(), frozenset(), [], [lost]), major="13", minor="0")
    reply = s.send_request(Work([], mirror(), frozenset(), [], [lost]))  # the answer never came
    assert reply.outcomes == [] and reply.message is None and reply.answer == ""
    assert 1 in s.state.skip


def test_a_record_without_the_fields_sent_is_not_taken_for_ours():
    # a QuickBooks user's customer with the same name and no phone: not the Add qbsync sent
    bare = customer_ret()
    bare.pop("Phone")
    (o,) = settle_with([customer(1, "C7", "Acme")], mirror(),
                       [RsSpec("CustomerQuery", "s1", rets=[("CustomerRet", bare)])], status=600).outcomes
    assert isinstance(o, Undecided) and "Phone: sent '555-0001', QuickBooks has none" in o.reason


def test_message_set_ids_fit_quickbooks_limit_of_23_characters():
    s = Session(9_999_999, SessionState(total=1))  # the default random token
    reply = s.send_request(Work([ExportChange(1, "Customer", "add", "C1", payload={"Name": "Acme"})], Mirror(),
                                frozenset(), [], []), major="13", minor="0")
    assert reply.message.message_set_id.startswith("q9999999-1-")
    assert len(reply.message.message_set_id) <= 23


# -- random faults over several sessions ---------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qbsync.engine.model import Unknown  # noqa: E402
from qbsync.engine.session import ProtocolError  # noqa: E402
from qbsync.testing import FakeQuickBooks  # noqa: E402


class Store:
    """What a store keeps between sessions: each change's status and message-set id, the mirror."""

    def __init__(self, n: int):
        self.changes = {i: ExportChange(i, "Customer", "add", f"C{i}", payload={"Name": f"Customer {i}",
                                                                                "Phone": f"555-{i:04d}"})
                        for i in range(1, n + 1)}
        self.status = {i: "queued" for i in self.changes}
        self.message_id: dict[int, str | None] = {}
        self.mirror = Mirror()

    def work(self) -> Work:
        def copy_of(i):
            c = self.changes[i]
            return ExportChange(c.id, c.type, c.action, c.local_id, payload=dict(c.payload),
                                message_id=self.message_id.get(i))
        mirror = Mirror(MirrorRecord(r.type, r.local_id, r.qb_id, r.edit_sequence) for r in self.mirror._by_key.values())
        return Work([copy_of(i) for i, s in self.status.items() if s in ("queued", "sending")], mirror, frozenset(),
                    [], [copy_of(i) for i, s in self.status.items() if s == "unknown"])

    def take(self, reply) -> None:
        if reply.message is not None:
            for cid in reply.message.writes:
                assert self.status[cid] == "queued", (cid, self.status[cid])
                self.status[cid], self.message_id[cid] = "sending", reply.message.message_set_id
        for o in reply.outcomes:
            if isinstance(o, Synced):
                assert self.status[o.change_id] in ("sending", "unknown")
                self.status[o.change_id] = "synced"
                self.mirror.add(MirrorRecord("Customer", f"C{o.change_id}", o.qb_id, o.edit_sequence))
            elif isinstance(o, Failed):
                self.status[o.change_id] = "error"
            elif isinstance(o, Unknown) and self.status[o.change_id] == "sending":
                self.status[o.change_id] = "unknown"
            elif isinstance(o, Undecided):
                self.status[o.change_id] = "undecided"
            elif isinstance(o, Requeued):
                self.status[o.change_id] = "queued"

    def end(self) -> None:  # the store's end of session: what is still out is outcome unknown
        self.status = {i: "unknown" if s == "sending" else s for i, s in self.status.items()}


FAULT = st.sampled_from(["answer", "answer", "answer", "lose", "hresult", "never_arrives", "end"])


def _session_run(store: Store, fq: FakeQuickBooks, sid: int, faults: list[str], batch: int) -> None:
    s = Session(sid, SessionState(total=len(store.changes)), Limits(batch_size=batch))
    reply = s.send_request(store.work(), major=13, minor=0)
    store.take(reply)
    for fault in [*faults, *["answer"] * 40]:
        if reply.message is None or fault == "end":
            break
        try:
            if fault == "lose":  # applied, the answer lost: the Web Connector asks for the next message
                fq.process(reply.answer)
                reply = s.send_request(store.work())
            else:
                if fault == "answer":
                    out = fq.process(reply.answer)
                    answer = (out.xml or "", out.hresult, out.message)
                elif fault == "hresult":  # QuickBooks failed the whole message: nothing applied
                    answer = ("", "0x80040402", "Unexpected error")
                else:  # never reached QuickBooks, and the session died
                    break
                r = s.receive_response(store.work(), *answer)
                store.take(r)
                if r.answer == 100 or r.answer < 0:
                    break
                reply = s.send_request(store.work())
        except ProtocolError:
            break
        store.take(reply)
    store.take(s.close())
    store.end()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 6), batch=st.integers(1, 3),
       sessions=st.lists(st.lists(FAULT, max_size=6), min_size=1, max_size=4))
def test_whatever_faults_hit_a_session_the_next_clean_one_leaves_each_record_once_and_nothing_unknown(n, batch,
                                                                                                        sessions):
    store, fq = Store(n), FakeQuickBooks()
    for sid, faults in enumerate(sessions, start=1):
        _session_run(store, fq, sid, faults, batch)
        names = [c["Name"] for c in fq.all("Customer")]
        assert len(names) == len(set(names)), names  # never twice in QuickBooks
    _session_run(store, fq, len(sessions) + 1, [], batch)
    assert set(store.status.values()) == {"synced"}, store.status
    assert sorted(c["Name"] for c in fq.all("Customer")) == sorted(f"Customer {i}" for i in store.changes)


def test_a_lookup_that_breaks_the_schema_leaves_error_recovery_alone_to_decide():
    bad = customer(1, "C7", "a\x01b")  # a character QuickBooks cannot take
    plan = settle.plan_settle([bad], mirror())
    assert plan.change_ids() == [] and plan.recovered == {"c1": 1}
    (o,) = settle.plan_settle([customer(1, "C7", "a\x01b", message_id=None)], mirror()).settled
    assert isinstance(o, Undecided) and "breaks the qbXML schema" in o.reason


def test_a_delete_whose_lookup_fails_is_applied_when_the_deleted_records_list_it():
    m = mirror(MirrorRecord("Customer", "C2", "80000003-1", "150"))
    delete = unknown(1, "Customer", "C2", {}, action="delete")
    delete.last_tried = "2026-11-20T10:00:00Z"
    plan, xml, _ = plan_and_send([delete], m)
    (dq,) = [r for r in parse_request(xml).requests if r.request_id == "d1"]
    assert dq.data["DeletedDateRangeFilter"] == {"FromDeletedDate": "2026-11-19"}
    failed = RsSpec("CustomerQuery", "s1", 3175, "Error", "could not be locked")
    listed = RsSpec("ListDeletedQuery", "d1", rets=[("ListDeletedRet", {
        "ListDelType": "Customer", "ListID": "80000003-1", "TimeCreated": "2026-11-01T00:00:00+00:00",
        "TimeDeleted": "2026-11-20T10:00:01+00:00", "FullName": "Beta"})])
    (o,) = settle_with([delete], m, [failed, listed], status=600).outcomes
    assert isinstance(o, Synced)
    (o,) = settle_with([delete], m, [failed, RsSpec("ListDeletedQuery", "d1", 1, "Info", "no match")],
                       status=600).outcomes
    assert isinstance(o, Undecided) and "3175" in o.reason
