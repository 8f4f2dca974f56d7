"""The three-way merge of fix-edit-sequence, as a table: base (last synced), theirs (QuickBooks
now), ours (the app's Mod payload and its before values)."""

from __future__ import annotations

import pytest

from qbsync.engine.merge import merge, same

BASE = {"ListID": "80-1", "EditSequence": "1", "Name": "Acme", "Phone": "1", "Fax": "2",
        "BillAddress": {"Addr1": "1 Main", "City": "Reno"}}


def qb(**changes):
    return {**BASE, "EditSequence": "2", **changes}


CASES = [
    # name, ours, before, theirs, send, kept, conflicts
    ("disjoint fields", {"Phone": "9"}, {"Phone": "1"}, qb(Fax="7"), {"Phone": "9"}, {"Fax": "7"}, []),
    ("only the app", {"Phone": "9"}, {"Phone": "1"}, qb(), {"Phone": "9"}, {}, []),
    ("same field same value", {"Phone": "9"}, {"Phone": "1"}, qb(Phone="9"), {"Phone": "9"}, {}, []),
    ("money written two ways", {"Phone": 10}, {"Phone": "1"}, qb(Phone="10.00"), {"Phone": 10}, {}, []),
    ("same field different values", {"Phone": "9"}, {"Phone": "1"}, qb(Phone="5"), {}, {}, ["Phone (app '9', QuickBooks '5')"]),
    ("nested disjoint", {"BillAddress": {"Addr1": "2 Oak", "City": "Reno"}}, {"BillAddress": BASE["BillAddress"]},
     qb(BillAddress={"Addr1": "1 Main", "City": "Elko"}),
     {"BillAddress": {"Addr1": "2 Oak", "City": "Elko"}}, {"BillAddress/City": "Elko"}, []),
    ("nested conflict", {"BillAddress": {"Addr1": "2 Oak", "City": "Reno"}}, {"BillAddress": BASE["BillAddress"]},
     qb(BillAddress={"Addr1": "3 Elm", "City": "Reno"}), {}, {}, ["BillAddress/Addr1 (app '2 Oak', QuickBooks '3 Elm')"]),
    ("a reference resolved for comparing", {"ParentRef": {"local_id": "P1"}}, {"ParentRef": None},
     qb(ParentRef={"ListID": "80-9", "FullName": "Parent"}), {"ParentRef": {"local_id": "P1"}}, {}, []),
]


@pytest.mark.parametrize("name,ours,before,theirs,send,kept,conflicts", CASES, ids=[c[0] for c in CASES])
def test_fields(name, ours, before, theirs, send, kept, conflicts):
    resolve = lambda v: {"ListID": "80-9"} if v == {"local_id": "P1"} else v  # noqa: E731
    base = BASE if name != "a reference resolved for comparing" else {**BASE, "ParentRef": {"ListID": "80-8"}}
    got = merge(ours, before, base, theirs, resolve=resolve)
    assert got.conflicts == conflicts
    if not conflicts:
        assert got.send == send
        assert got.kept == kept


def test_without_a_base_a_field_quickbooks_holds_differently_from_before_is_changed_there():
    assert merge({"Phone": "9"}, {"Phone": "1"}, None, qb(Phone="5")).conflicts
    assert merge({"Phone": "9"}, {"Phone": "1"}, None, qb(Phone="1")).send == {"Phone": "9"}


def test_bookkeeping_fields_are_no_edit():
    got = merge({"Phone": "9"}, {"Phone": "1"}, BASE, qb(TimeModified="later"))
    assert got.ok and got.kept == {}


# -- lines, matched by TxnLineID ------------------------------------------------------------------

LINES = {"InvoiceLine": "InvoiceLineRet"}
MIRROR = {"InvoiceLine": [{"id": "L1", "TxnLineID": "T1"}, {"id": "L2", "TxnLineID": "T2"}]}
APP_BEFORE = [{"id": "L1", "Desc": "one", "Quantity": 1}, {"id": "L2", "Desc": "two", "Quantity": 2}]
RET_BASE = [{"TxnLineID": "T1", "Desc": "one", "Quantity": "1"}, {"TxnLineID": "T2", "Desc": "two", "Quantity": "2"}]


def txn(lines):
    return {"TxnID": "T", "EditSequence": "1", "InvoiceLineRet": lines}


def lmerge(ours, theirs_lines):
    return merge({"InvoiceLine": ours}, {"InvoiceLine": APP_BEFORE}, txn(RET_BASE), txn(theirs_lines),
                 lines=LINES, mirror_lines=MIRROR)


def line(i, **changes):
    return {**APP_BEFORE[i], **changes}


def ret(i, **changes):
    return {**RET_BASE[i], **changes}


LINE_CASES = [
    # name, ours, theirs, sent lines, kept keys, conflicts
    ("quickbooks left the lines alone", [line(0, Desc="x"), line(1)], [ret(0), ret(1)],
     [line(0, Desc="x"), line(1)], [], []),
    ("different lines changed", [line(0, Desc="x"), line(1)], [ret(0), ret(1, Desc="qb")],
     [line(0, Desc="x"), {"id": "L2", "Quantity": 2}], ["InvoiceLine[T2]/Desc"], []),
    ("different fields of one line", [line(0, Desc="x"), line(1)], [ret(0, Quantity="5"), ret(1)],
     [{"id": "L1", "Desc": "x"}, line(1)], ["InvoiceLine[T1]/Quantity"], []),
    ("one field of one line both ways", [line(0, Desc="x"), line(1)], [ret(0, Desc="qb"), ret(1)],
     None, None, ["InvoiceLine[T1]/Desc (app 'x', QuickBooks 'qb')"]),
    ("same value on both sides", [line(0, Desc="x"), line(1)], [ret(0, Desc="x"), ret(1)],
     [line(0, Desc="x"), {"id": "L2", "Desc": "two", "Quantity": 2}], [], []),
    ("quickbooks added a line", [line(0, Desc="x"), line(1)], [ret(0), ret(1), {"TxnLineID": "T3", "Desc": "new"}],
     [line(0, Desc="x"), line(1), {"id": "qb:T3"}], ["InvoiceLine[T3]"], []),
    ("the app added a line", [line(0), line(1), {"id": "L3", "Desc": "new"}], [ret(0), ret(1, Desc="qb")],
     [line(0), {"id": "L2", "Quantity": 2}, {"id": "L3", "Desc": "new"}], ["InvoiceLine[T2]/Desc"], []),
    ("quickbooks removed an untouched line", [line(0, Desc="x"), line(1)], [ret(0)],
     [line(0, Desc="x")], ["InvoiceLine[T2]"], []),
    ("quickbooks removed a line the app changed", [line(0), line(1, Desc="x")], [ret(0)],
     None, None, ["InvoiceLine[T2] (changed in the app, deleted in QuickBooks)"]),
    ("the app removed an untouched line", [line(0)], [ret(0), ret(1)], [line(0)], [], []),
    ("the app removed a line quickbooks changed", [line(0)], [ret(0), ret(1, Desc="qb")],
     None, None, ["InvoiceLine[T2] (removed in the app, changed in QuickBooks)"]),
]


@pytest.mark.parametrize("name,ours,theirs,sent,kept,conflicts", LINE_CASES, ids=[c[0] for c in LINE_CASES])
def test_lines(name, ours, theirs, sent, kept, conflicts):
    got = lmerge(ours, theirs)
    assert got.conflicts == conflicts
    if not conflicts:
        assert got.send["InvoiceLine"] == sent
        assert sorted(got.kept) == kept


def test_same_compares_as_quickbooks_stores():
    assert same("10.00", 10) and same(True, "true") and not same("a", "b")
    assert same({"ListID": "1", "TimeModified": "x"}, {"ListID": "1"})
