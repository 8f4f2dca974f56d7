"""The export step of the engine with plain data: no SQLite, no HTTP.

Requests are built and validated by the real qbXML layer; responses are real qbXML response
messages made with `build_response`."""

from __future__ import annotations

import math

import pytest

from qbsync.engine import exports
from qbsync.engine.model import (
    ExportChange,
    Failed,
    Mirror,
    MirrorRecord,
    Ref,
    Refreshed,
    Requeued,
    Synced,
    Unknown,
)
from qbsync.qbxml import RsSpec, build_response, parse_request
from qbsync.qbxml.entities import ITEM_TYPES


def change(cid, type_, local_id, payload=None, action="add", refs=(), qb_id=None, refresh=False):
    return ExportChange(cid, type_, action, local_id, qb_id=qb_id, name=local_id, payload=payload or {},
                        refs=tuple(refs), refresh_edit_sequence=refresh)


def customer(cid, local_id, parent=None):
    payload = {"Name": local_id}
    refs = []
    if parent:
        payload["ParentRef"] = {"local_id": parent}
        refs.append(Ref("ParentRef", parent, ("Customer",)))
    return change(cid, "Customer", local_id, payload, refs=refs)


def item(cid, local_id):
    return change(cid, "ItemService", local_id,
                  {"Name": local_id, "SalesOrPurchase": {"Price": "10.00", "AccountRef": {"FullName": "Income"}}})


def invoice(cid, local_id, cust, item_id):
    payload = {"CustomerRef": {"local_id": cust}, "RefNumber": local_id,
               "InvoiceLine": [{"id": "L1", "ItemRef": {"local_id": item_id}, "Quantity": "2"}]}
    refs = [Ref("CustomerRef", cust, ("Customer",)), Ref("InvoiceLine[0]/ItemRef", item_id, ITEM_TYPES)]
    return change(cid, "Invoice", local_id, payload, refs=refs)


def payment(cid, local_id, cust, inv):
    payload = {"CustomerRef": {"local_id": cust}, "TotalAmount": "20.00",
               "AppliedToTxn": [{"TxnID": {"local_id": inv}, "PaymentAmount": "20.00"}]}
    refs = [Ref("CustomerRef", cust, ("Customer",)), Ref("AppliedToTxn[0]/TxnID", inv, ("Invoice",))]
    return change(cid, "ReceivePayment", local_id, payload, refs=refs)


def qb_ids():
    n = 0
    while True:
        n += 1
        yield f"{n:X}-1700000000"


def sync_all(changes, mirror, *, batch_size=50, limit=1000):
    """Plan, 'send', and mark every request synced (adding it to the mirror), until nothing is
    left: returns the list of messages (each a list of (type, local_id))."""
    ids = qb_ids()
    pending = {c.id: c for c in changes}
    messages = []
    for _ in range(limit):
        plan = exports.plan_exports(pending.values(), mirror, batch_size=batch_size)
        assert not plan.invalid, plan.invalid
        if plan.empty:
            return messages, plan
        xml = exports.build_message(plan, version="13.0", message_set_id="ms-1")
        assert parse_request(xml).on_error == "continueOnError"
        sent = []
        for p in plan.requests:
            c = pending.pop(p.change_id)
            sent.append((c.type, c.local_id))
            mirror.add(MirrorRecord(c.type, c.local_id, next(ids), "1", c.payload))
        messages.append(sent)
    raise AssertionError("did not finish")


# -- ordering ----------------------------------------------------------------------------------


def test_customer_job_invoice_payment_go_in_dependency_order_across_messages():
    changes = [
        payment(1, "P1", "J1", "INV1"),
        invoice(2, "INV1", "J1", "I1"),
        customer(3, "J1", parent="C1"),
        customer(4, "C1"),
        item(5, "I1"),
    ]
    messages, final = sync_all(changes, Mirror())
    order = [key for msg in messages for key in msg]
    pos = {key: i for i, key in enumerate(order)}
    assert pos[("Customer", "C1")] < pos[("Customer", "J1")] < pos[("Invoice", "INV1")] < pos[("ReceivePayment", "P1")]
    assert pos[("ItemService", "I1")] < pos[("Invoice", "INV1")]
    # a parent and its dependent never share a message
    for msg in messages:
        assert not ({("Customer", "C1"), ("Customer", "J1")} <= set(msg))
        assert not ({("Invoice", "INV1"), ("ReceivePayment", "P1")} <= set(msg))
    assert len(messages) == 4  # C1+I1, J1, INV1, P1
    assert messages[0] == [("ItemService", "I1"), ("Customer", "C1")] or set(messages[0]) == {
        ("ItemService", "I1"), ("Customer", "C1")}
    assert not final.waiting and not final.deferred


def test_items_before_invoices_in_the_same_message_when_independent():
    mirror = Mirror([MirrorRecord("Customer", "C1", "80000001-1", "1"), MirrorRecord("ItemService", "I0", "80000002-1", "1")])
    changes = [invoice(1, "INV1", "C1", "I0"), item(2, "I1")]
    plan = exports.plan_exports(changes, mirror)
    assert [p.request.name for p in plan.requests] == ["ItemServiceAdd", "InvoiceAdd"]


def test_references_resolve_to_list_ids_and_txn_ids():
    mirror = Mirror([
        MirrorRecord("Customer", "C1", "80000001-1", "1"),
        MirrorRecord("Invoice", "INV1", "1A-1", "1"),
    ])
    plan = exports.plan_exports([payment(1, "P1", "C1", "INV1")], mirror)
    req = plan.requests[0].request
    assert req.name == "ReceivePaymentAdd"
    assert req.data["CustomerRef"] == {"ListID": "80000001-1"}
    assert req.data["AppliedToTxnAdd"] == [{"TxnID": "1A-1", "PaymentAmount": "20.00"}]
    assert "AppliedToTxn" not in req.data


def test_a_reference_neither_synced_nor_queued_waits_with_a_reason_instead_of_a_3140():
    mirror = Mirror([MirrorRecord("ItemService", "I1", "80000002-1", "1")])
    plan = exports.plan_exports([invoice(1, "INV1", "C9", "I1"), customer(2, "C2")], mirror)
    assert [p.change_id for p in plan.requests] == [2]
    assert len(plan.waiting) == 1
    assert plan.waiting[0].change_id == 1
    assert plan.waiting[0].reason.startswith("waiting for Customer C9")


def test_a_reference_to_a_queued_record_defers_to_a_later_message():
    plan = exports.plan_exports([customer(1, "C1"), customer(2, "J1", parent="C1")], Mirror())
    assert plan.change_ids() == [1]
    assert [w.change_id for w in plan.deferred] == [2]
    assert "Customer C1" in plan.deferred[0].reason


def test_a_mod_of_a_record_quickbooks_does_not_know_waits():
    plan = exports.plan_exports([change(1, "Customer", "C1", {"Phone": "1"}, action="mod")], Mirror())
    assert plan.empty and plan.waiting[0].reason.startswith("waiting for Customer C1")


def test_a_later_change_to_the_same_record_waits_for_the_earlier_one():
    mirror = Mirror([MirrorRecord("Customer", "C1", "80000001-1", "5")])
    changes = [change(1, "Customer", "C1", {"Phone": "1"}, action="mod"),
               change(2, "Customer", "C1", {"Phone": "2"}, action="mod")]
    plan = exports.plan_exports(changes, mirror)
    assert plan.change_ids() == [1]
    assert [w.change_id for w in plan.deferred] == [2]


# -- batching and request ids -----------------------------------------------------------------


def test_2000_changes_take_ceil_2000_over_batch_messages():
    changes = [customer(i, f"C{i}") for i in range(1, 2001)]
    messages, _ = sync_all(changes, Mirror(), batch_size=50)
    assert len(messages) == math.ceil(2000 / 50)
    assert sum(len(m) for m in messages) == 2000
    messages, _ = sync_all([customer(i, f"C{i}") for i in range(1, 2001)], Mirror(), batch_size=300)
    assert len(messages) == math.ceil(2000 / 300)


def test_request_ids_map_to_changes_and_write_messages_carry_a_new_message_set_id():
    plan = exports.plan_exports([customer(7, "C7"), customer(12345678, "C8")], Mirror())
    xml = exports.build_message(plan, version="13.0", message_set_id="qbsync-1-1-abcd")
    parsed = parse_request(xml)
    assert parsed.new_message_set_id == "qbsync-1-1-abcd"
    assert [(r.request_id, r.name) for r in parsed.requests] == [("c7", "CustomerAdd"), ("c12345678", "CustomerAdd")]
    assert all(len(r.request_id) <= 50 for r in parsed.requests)
    sent = exports.SentMessage.from_plan(plan, 1, "qbsync-1-1-abcd", {7: "Customer", 12345678: "Customer"})
    assert sent.requests == {"c7": 7, "c12345678": 12345678}
    assert exports.SentMessage.from_dict(sent.to_dict()) == sent


def test_an_invalid_change_goes_to_the_error_log_and_the_rest_of_the_batch_still_goes():
    changes = [customer(1, "C1"), change(2, "Customer", "C2", {"Name": "x" * 60}), customer(3, "C3")]
    plan = exports.plan_exports(changes, Mirror())
    assert plan.change_ids() == [1, 3]
    assert [f.change_id for f in plan.invalid] == [2]
    assert "Name" in plan.invalid[0].message and plan.invalid[0].message.startswith("not sent")


def test_delete_uses_the_catalogue_del_type():
    mirror = Mirror([MirrorRecord("Invoice", "INV1", "1A-1", "3"), MirrorRecord("Customer", "C1", "80000001-1", "2")])
    plan = exports.plan_exports([change(1, "Invoice", "INV1", action="delete"),
                                 change(2, "Customer", "C1", action="delete")], mirror)
    reqs = {p.change_id: p.request for p in plan.requests}
    assert (reqs[1].name, dict(reqs[1].data)) == ("TxnDel", {"TxnDelType": "Invoice", "TxnID": "1A-1"})
    assert (reqs[2].name, dict(reqs[2].data)) == ("ListDel", {"ListDelType": "Customer", "ListID": "80000001-1"})


# -- Mods ------------------------------------------------------------------------------------------


def test_a_transaction_mod_keeps_known_lines_by_txn_line_id_and_adds_new_ones_with_minus_one():
    mirror = Mirror([
        MirrorRecord("Customer", "C1", "80000001-1", "1"),
        MirrorRecord("ItemService", "I1", "80000002-1", "1"),
        MirrorRecord("Invoice", "INV1", "1A-1", "1699999999", {
            "CustomerRef": {"local_id": "C1"},
            "InvoiceLine": [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": "2", "TxnLineID": "1B-1"},
                            {"id": "L2", "ItemRef": {"local_id": "I1"}, "Quantity": "1", "TxnLineID": "1C-1"}]}),
    ])
    payload = {"InvoiceLine": [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": "3"},
                               {"id": "L3", "ItemRef": {"local_id": "I1"}, "Quantity": "1"}],
               "Memo": "changed"}
    refs = [Ref("InvoiceLine[0]/ItemRef", "I1", ITEM_TYPES), Ref("InvoiceLine[1]/ItemRef", "I1", ITEM_TYPES)]
    plan = exports.plan_exports([change(9, "Invoice", "INV1", payload, action="mod", refs=refs)], mirror)
    assert not plan.invalid, plan.invalid
    req = plan.requests[0].request
    assert req.name == "InvoiceMod"
    assert req.data["TxnID"] == "1A-1" and req.data["EditSequence"] == "1699999999"
    lines = req.data["InvoiceLineMod"]
    assert [line["TxnLineID"] for line in lines] == ["1B-1", "-1"]  # L2 is not sent: QuickBooks deletes it
    assert lines[0]["ItemRef"] == {"ListID": "80000002-1"} and "id" not in lines[0]
    xml = exports.build_message(plan, version="13.0", message_set_id="m")
    assert "<TxnLineID>1B-1</TxnLineID>" in xml and "<TxnLineID>-1</TxnLineID>" in xml


def test_a_list_mod_carries_list_id_and_the_current_edit_sequence():
    mirror = Mirror([MirrorRecord("Customer", "C1", "80000001-1", "1700000001")])
    plan = exports.plan_exports([change(1, "Customer", "C1", {"Phone": "555"}, action="mod")], mirror)
    assert dict(plan.requests[0].request.data) == {"Phone": "555", "ListID": "80000001-1", "EditSequence": "1700000001"}


def test_fix_edit_sequence_re_reads_the_record_before_the_mod():
    mirror = Mirror([MirrorRecord("Customer", "C1", "80000001-1", "old")])
    c = change(1, "Customer", "C1", {"Phone": "555"}, action="mod", refresh=True)
    plan = exports.plan_exports([c], mirror)
    assert plan.kind == exports.REFRESH
    assert plan.requests[0].request.name == "CustomerQuery"
    assert dict(plan.requests[0].request.data) == {"ListID": "80000001-1"}
    xml = exports.build_message(plan, version="13.0", message_set_id="ignored")
    assert parse_request(xml).new_message_set_id is None  # a read, not a write
    sent = exports.SentMessage.from_plan(plan, 1, None, {1: "Customer"})
    response = build_response([RsSpec("CustomerQuery", "r1", rets=[("CustomerRet", {
        "ListID": "80000001-1", "TimeCreated": "2026-01-01T00:00:00", "TimeModified": "2026-01-02T00:00:00",
        "EditSequence": "fresh", "Name": "C1", "FullName": "C1", "Sublevel": "0"})])])
    found = exports.interpret(sent, response, "", "")
    assert found.outcomes == [Refreshed(1, "fresh", found.outcomes[0].snapshot)]
    plan = exports.plan_exports([c], mirror, refreshed={1: "fresh"})
    assert plan.kind == exports.WRITE
    assert plan.requests[0].request.data["EditSequence"] == "fresh"
    assert plan.requests[0].request.data["Phone"] == "555"  # the app's values win
    assert "re-read" in (plan.requests[0].note or "")


# -- responses ---------------------------------------------------------------------------------

CUSTOMER_RET = {"ListID": "80000001-1", "TimeCreated": "2026-01-01T00:00:00", "TimeModified": "2026-01-01T00:00:00",
                "EditSequence": "1700000000", "Name": "C1", "FullName": "C1", "Sublevel": "0"}


def test_a_mod_uses_the_mod_forms_names_and_refuses_add_only_fields():
    mirror = Mirror([MirrorRecord("ItemService", "I1", "80000001-1", "7"), MirrorRecord("Customer", "C1", "80000002-1", "3")])
    plan = exports.plan_exports(
        [
            change(1, "ItemService", "I1", {"SalesOrPurchase": {"Price": "12.00"}}, action="mod"),
            change(2, "Customer", "C1", {"Phone": "555", "OpenBalance": "10.00"}, action="mod"),
        ],
        mirror,
    )
    (item,) = plan.requests
    assert item.request.data == {"SalesOrPurchaseMod": {"Price": "12.00"}, "ListID": "80000001-1", "EditSequence": "7"}
    # OpenBalance has no Mod form: the change is refused (never sent, never silently half-applied)
    (refused,) = plan.invalid
    assert refused.change_id == 2 and "OpenBalance can be set only when a Customer is added" in refused.message


def sent_customers(*ids):
    plan = exports.plan_exports([customer(i, f"C{i}") for i in ids], Mirror())
    return exports.SentMessage.from_plan(plan, 1, "ms", {i: "Customer" for i in ids})


@pytest.mark.parametrize("code,expected", [
    (0, Synced), (530, Synced), (3100, Failed), (3140, Failed), (3200, Failed), (3231, Requeued),
])
def test_each_status_code_path(code, expected):
    sent = sent_customers(1)
    severity = "Info" if code == 0 else "Warn" if code < 1000 else "Error"
    rets = [("CustomerRet", CUSTOMER_RET)] if code < 1000 else []
    response = build_response([RsSpec("CustomerAdd", "c1", code, severity, f"message {code}", rets=rets)])
    found = exports.interpret(sent, response, "", "")
    assert found.fatal is None
    (outcome,) = found.outcomes
    assert isinstance(outcome, expected)
    if expected is Synced:
        assert outcome.qb_id == "80000001-1" and outcome.edit_sequence == "1700000000"
        assert outcome.snapshot["Name"] == "C1"
        assert outcome.warning == (code == 530)
        assert outcome.status_message == (None if code == 0 else "message 530")
    elif expected is Failed:
        assert outcome.status_code == code and outcome.message == f"message {code}"
    else:
        assert outcome.retry_now and outcome.status_code == 3231


def test_3231_under_stop_on_error_requeues_the_skipped_and_fails_only_the_first_error():
    sent = sent_customers(1, 2, 3)
    response = build_response([
        RsSpec("CustomerAdd", "c1", rets=[("CustomerRet", CUSTOMER_RET)]),
        RsSpec("CustomerAdd", "c2", 3100, "Error", 'The name "C2" of the list element is already in use.'),
        RsSpec("CustomerAdd", "c3", 3231, "Error", "The request has not been processed."),
    ])
    kinds = [type(o) for o in exports.interpret(sent, response, "", "").outcomes]
    assert kinds == [Synced, Failed, Requeued]


def test_whole_message_parse_error_requeues_everything_with_the_reason():
    sent = sent_customers(1, 2)
    found = exports.interpret(sent, "", "0x80040400", "QuickBooks found an error when parsing the provided XML text stream.")
    assert found.fatal is None
    assert [type(o) for o in found.outcomes] == [Requeued, Requeued]
    assert all(o.status_code == "0x80040400" and not o.retry_now for o in found.outcomes)
    assert "could not parse" in found.outcomes[0].reason


def test_another_hresult_leaves_the_outcome_unknown_and_ends_the_session():
    found = exports.interpret(sent_customers(1, 2), "", "0x80040402", "Unexpected error")
    assert [type(o) for o in found.outcomes] == [Unknown, Unknown]
    assert "0x80040402" in found.outcomes[0].reason
    assert found.fatal and "0x80040402" in found.fatal


def test_a_missing_rs_for_a_request_id_is_outcome_unknown():
    sent = sent_customers(1, 2)
    response = build_response([RsSpec("CustomerAdd", "c1", rets=[("CustomerRet", CUSTOMER_RET)])])
    outcomes = exports.interpret(sent, response, "", "").outcomes
    assert isinstance(outcomes[0], Synced)
    assert isinstance(outcomes[1], Unknown) and "c2" in outcomes[1].reason


def test_an_rs_without_a_readable_status_code_is_outcome_unknown_not_failed():
    # A failure would invite a retry; without a status nobody knows whether the Add was applied.
    for status in ('statusCode=""', 'statusCode="oops"', ""):
        response = (f'<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerAddRs requestID="c1" {status} '
                    'statusSeverity="Error"/></QBXMLMsgsRs></QBXML>')
        outcomes = exports.interpret(sent_customers(1), response, "", "").outcomes
        assert [type(o) for o in outcomes] == [Unknown], status


def test_an_unreadable_or_empty_response_is_outcome_unknown_for_writes():
    for response in ("<QBXML><QBXMLMsgsRs><CustomerAddRs", ""):
        outcomes = exports.interpret(sent_customers(1), response, "", "").outcomes
        assert [type(o) for o in outcomes] == [Unknown]


def test_a_lost_refresh_query_just_stays_queued():
    plan = exports.plan_exports([change(1, "Customer", "C1", {"Phone": "1"}, action="mod", refresh=True)],
                                Mirror([MirrorRecord("Customer", "C1", "80000001-1", "1")]))
    sent = exports.SentMessage.from_plan(plan, 1, None, {1: "Customer"})
    assert [type(o) for o in exports.lost(sent, "gone")] == [Requeued]


def test_a_delete_response_is_synced_without_a_ret():
    mirror = Mirror([MirrorRecord("Customer", "C1", "80000001-1", "2")])
    plan = exports.plan_exports([change(1, "Customer", "C1", action="delete")], mirror)
    sent = exports.SentMessage.from_plan(plan, 1, "ms", {1: "Customer"})
    response = build_response([RsSpec("ListDel", "c1")])
    (outcome,) = exports.interpret(sent, response, "", "").outcomes
    assert isinstance(outcome, Synced)


def test_a_line_deleted_in_quickbooks_goes_back_as_a_new_line():
    lines = [{"id": "L1", "Quantity": "2", "TxnLineID": "1B-1"}, {"id": "L2", "Quantity": "1", "TxnLineID": "1C-1"}]
    snapshot = {"TxnID": "1A-1", "EditSequence": "fresh", "InvoiceLineRet": [{"TxnLineID": "1C-1"}]}
    mirror = Mirror([MirrorRecord("Invoice", "INV1", "1A-1", "fresh", {"InvoiceLine": lines}, snapshot)])
    payload = {"InvoiceLine": [{"id": "L1", "Quantity": "3", "TxnLineID": "1B-1"}, {"id": "L2", "Quantity": "1"}]}
    plan = exports.plan_exports([change(1, "Invoice", "INV1", payload, action="mod")], mirror)
    assert [line["TxnLineID"] for line in plan.requests[0].request.data["InvoiceLineMod"]] == ["-1", "1C-1"]


# -- a property over random dependency graphs ------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def graphs(draw):
    """Random customers (some jobs of earlier ones), items, invoices of those customers and
    payments of those invoices, approved in a random order."""
    n_cust = draw(st.integers(1, 6))
    specs = []
    for i in range(n_cust):
        parent = draw(st.one_of(st.none(), st.integers(0, i - 1))) if i else None
        specs.append(("cust", f"C{i}", None if parent is None else f"C{parent}"))
    n_item = draw(st.integers(1, 3))
    specs += [("item", f"I{i}", None) for i in range(n_item)]
    n_inv = draw(st.integers(0, 5))
    invs = []
    for i in range(n_inv):
        invs.append((f"INV{i}", f"C{draw(st.integers(0, n_cust - 1))}", f"I{draw(st.integers(0, n_item - 1))}"))
        specs.append(("inv",) + invs[-1])
    for i in range(draw(st.integers(0, 3)) if invs else 0):
        inv = draw(st.sampled_from(invs))
        specs.append(("pay", f"P{i}", inv[1], inv[0]))
    ids = draw(st.permutations(list(range(1, len(specs) + 1))))
    return specs, ids, draw(st.integers(1, 5))


@settings(max_examples=60, deadline=None)
@given(graphs())
def test_every_change_goes_after_what_it_refers_to_and_never_with_it(graph):
    specs, ids, batch = graph
    changes = []
    parents: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for cid, spec in zip(ids, specs):
        if spec[0] == "cust":
            c = customer(cid, spec[1], parent=spec[2])
            parents[("Customer", spec[1])] = {("Customer", spec[2])} if spec[2] else set()
        elif spec[0] == "item":
            c = item(cid, spec[1])
            parents[("ItemService", spec[1])] = set()
        elif spec[0] == "inv":
            c = invoice(cid, spec[1], spec[2], spec[3])
            parents[("Invoice", spec[1])] = {("Customer", spec[2]), ("ItemService", spec[3])}
        else:
            c = payment(cid, spec[1], spec[2], spec[3])
            parents[("ReceivePayment", spec[1])] = {("Customer", spec[2]), ("Invoice", spec[3])}
        changes.append(c)
    messages, final = sync_all(changes, Mirror(), batch_size=batch)
    when = {key: n for n, msg in enumerate(messages) for key in msg}
    assert len(when) == len(changes)  # everything went
    for key, deps in parents.items():
        for dep in deps:
            assert when[dep] < when[key], (dep, key)  # strictly earlier message
    assert all(len(m) <= batch for m in messages)
