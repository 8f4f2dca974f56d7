"""fix-edit-sequence merges three ways over the real service and FakeQuickBooks: what only
QuickBooks changed is kept, what only the app changed is sent, a field both changed differently
is a conflict in the Error Log until `--force` lets the app's values win."""

from __future__ import annotations

import pytest

from qbsync.qbxml import parse_request
from qbsync.sync import errorlog, overview
from test_service_export import ITEM, Env, customer, invoice


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def _stale_mod(env, type_name, row, qb_edit):
    """Sync `row`'s record, edit it in QuickBooks, stage `row` changed by the app: 3200."""
    env.run()
    qb_id = env.records(type_name)[row["id"]]["qb_id"]
    env.clock.advance(60)
    env.fq.edit(type_name, qb_id, qb_edit)
    env.stage(type_name, [row])
    env.approve()
    assert env.run().summary == "Synced 0, 1 error"
    (err,) = env.errors()
    assert err["status_code"] == 3200
    return qb_id, err["id"]


def _fix(env, change_id, force=False):
    with env.store() as store:
        errorlog.fix_edit_sequence(store, env.conn, [change_id], force=force)
    return env.run()


def test_disjoint_fields_keep_both_edits(env):
    env.stage("Customer", [customer("C1", "Acme", Phone="1", Fax="2")])
    env.approve()
    qb_id, cid = _stale_mod(env, "Customer", customer("C1", "Acme", Phone="222", Fax="2"), {"Fax": "999"})
    trace = _fix(env, cid)
    assert trace.summary == "Synced 1"
    mod = parse_request(trace.requests[-1]).requests[0]
    assert mod.name == "CustomerMod" and "Fax" not in mod.data  # QuickBooks' Fax is not overwritten
    rec = env.fq.get("Customer", qb_id)
    assert rec["Phone"] == "222" and rec["Fax"] == "999"
    mirror = env.records("Customer")["C1"]
    assert mirror["data"]["Fax"] == "999" and mirror["data"]["Phone"] == "222"
    change = env.changes()[cid]
    assert change["status"] == "synced" and "Fax" in change["note"]
    with env.store() as store:
        entry = [f for f in overview.feed(store, env.conn) if f["change_id"] == cid][-1]
    assert entry["data"]["Fax"] == "999" and entry["data"]["Phone"] == "222"  # the app reads QuickBooks' edit


def test_same_field_different_values_is_a_conflict_until_force(env):
    env.stage("Customer", [customer("C1", "Acme", Phone="1")])
    env.approve()
    qb_id, cid = _stale_mod(env, "Customer", customer("C1", "Acme", Phone="222"), {"Phone": "111"})
    trace = _fix(env, cid)
    assert [[r.name for r in parse_request(x).requests] for x in trace.requests] == [["CustomerQuery"]]
    assert trace.summary == "Synced 0, 1 error"
    (err,) = env.errors()
    assert "conflict" in err["reason"] and "Phone" in err["reason"]
    assert "'222'" in err["message"] and "'111'" in err["message"]
    assert "fix-edit-sequence" in err["actions"]
    assert env.fq.get("Customer", qb_id)["Phone"] == "111"  # nothing was sent
    trace = _fix(env, cid, force=True)
    assert [[r.name for r in parse_request(x).requests] for x in trace.requests] == [["CustomerQuery"], ["CustomerMod"]]
    assert trace.summary == "Synced 1"
    assert env.fq.get("Customer", qb_id)["Phone"] == "222"  # the app wins
    assert not env.errors()


def test_same_field_same_value_is_no_conflict(env):
    env.stage("Customer", [customer("C1", "Acme", Phone="1")])
    env.approve()
    qb_id, cid = _stale_mod(env, "Customer", customer("C1", "Acme", Phone="222"), {"Phone": "222"})
    assert _fix(env, cid).summary == "Synced 1"
    assert env.fq.get("Customer", qb_id)["Phone"] == "222"


def test_a_nested_address_merges_field_by_field(env):
    env.stage("Customer", [customer("C1", "Acme", BillAddress={"Addr1": "1 Main", "City": "Reno"})])
    env.approve()
    row = customer("C1", "Acme", BillAddress={"Addr1": "2 Oak", "City": "Reno"})
    qb_id, cid = _stale_mod(env, "Customer", row, {"BillAddress": {"Addr1": "1 Main", "City": "Elko"}})
    assert _fix(env, cid).summary == "Synced 1"
    addr = env.fq.get("Customer", qb_id)["BillAddress"]
    assert addr["Addr1"] == "2 Oak" and addr["City"] == "Elko"


def _invoice_in_quickbooks(env):
    env.stage("Customer", [customer("C1")])
    env.stage("ItemService", [ITEM])
    lines = [{"id": "L1", "ItemRef": {"local_id": "I1"}, "Quantity": 1, "Desc": "one"},
             {"id": "L2", "ItemRef": {"local_id": "I1"}, "Quantity": 2, "Desc": "two"}]
    env.stage("Invoice", [invoice("INV1", "C1", lines)])
    env.approve()
    return lines


def _qb_lines(env, qb_id):
    return env.fq.get("Invoice", qb_id)["InvoiceLineRet"]


def test_invoice_lines_edited_on_both_sides_are_both_kept(env):
    lines = _invoice_in_quickbooks(env)
    env.run()
    qb_id = env.records("Invoice")["INV1"]["qb_id"]
    first, second = _qb_lines(env, qb_id)
    ours = [dict(lines[0], Desc="app"), lines[1]]
    env.clock.advance(60)
    env.fq.edit("Invoice", qb_id, {"InvoiceLineMod": [{"TxnLineID": first["TxnLineID"]},
                                                       {"TxnLineID": second["TxnLineID"], "Desc": "qb"}]})
    env.stage("Invoice", [invoice("INV1", "C1", ours)])
    env.approve()
    assert env.run().summary == "Synced 0, 1 error"
    (err,) = env.errors()
    assert _fix(env, err["id"]).summary == "Synced 1"
    got = {line["TxnLineID"]: line["Desc"] for line in _qb_lines(env, qb_id)}
    assert got == {first["TxnLineID"]: "app", second["TxnLineID"]: "qb"}


def test_a_line_quickbooks_added_is_kept_and_the_same_line_field_conflicts(env):
    lines = _invoice_in_quickbooks(env)
    env.run()
    qb_id = env.records("Invoice")["INV1"]["qb_id"]
    first, second = _qb_lines(env, qb_id)
    item = env.records("ItemService")["I1"]["qb_id"]
    env.clock.advance(60)
    env.fq.edit("Invoice", qb_id, {"InvoiceLineMod": [
        {"TxnLineID": first["TxnLineID"], "Desc": "qb"}, {"TxnLineID": second["TxnLineID"]},
        {"TxnLineID": "-1", "ItemRef": {"ListID": item}, "Quantity": 3, "Desc": "added in QuickBooks"}]})
    env.stage("Invoice", [invoice("INV1", "C1", [dict(lines[0], Desc="app"), lines[1]])])
    env.approve()
    assert env.run().summary == "Synced 0, 1 error"
    (err,) = env.errors()
    assert _fix(env, err["id"]).summary == "Synced 0, 1 error"
    (err,) = env.errors()
    assert f"InvoiceLine[{first['TxnLineID']}]/Desc" in err["message"] and "conflict" in err["reason"]
    assert _fix(env, err["id"], force=True).summary == "Synced 1"
    assert [line["Desc"] for line in _qb_lines(env, qb_id)] == ["app", "two"]  # the app's lines, as the admin chose


def test_a_line_quickbooks_added_survives_the_apps_line_edit(env):
    lines = _invoice_in_quickbooks(env)
    env.run()
    qb_id = env.records("Invoice")["INV1"]["qb_id"]
    first, second = _qb_lines(env, qb_id)
    item = env.records("ItemService")["I1"]["qb_id"]
    env.clock.advance(60)
    env.fq.edit("Invoice", qb_id, {"InvoiceLineMod": [
        {"TxnLineID": first["TxnLineID"]}, {"TxnLineID": second["TxnLineID"]},
        {"TxnLineID": "-1", "ItemRef": {"ListID": item}, "Quantity": 3, "Desc": "added in QuickBooks"}]})
    env.stage("Invoice", [invoice("INV1", "C1", [dict(lines[0], Desc="app"), lines[1]])])
    env.approve()
    assert env.run().summary == "Synced 0, 1 error"
    (err,) = env.errors()
    assert _fix(env, err["id"]).summary == "Synced 1"
    assert [line["Desc"] for line in _qb_lines(env, qb_id)] == ["app", "two", "added in QuickBooks"]
