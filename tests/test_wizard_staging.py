"""Staging through the library: adds, mods carrying what changed, unchanged records, links,
lines, deletes, references, validation."""

from __future__ import annotations

import json

import pytest
from wizard_support import company_for, quickbooks_id, simulate_web_connector_run

from qbsync.errors import InvalidInput, NotFound
from qbsync.store import changes as store_changes
from qbsync.store import connections, open_store
from qbsync.sync import delivery, overview, staging, wizard


@pytest.fixture
def env(tmp_path):
    store = open_store(tmp_path / "s.db", create=True)
    conn = connections.add_connection(store, name="main", username="u", password_hash="h",
                                      import_types=["Customer", "Invoice"])
    yield store, conn
    store.close()


def stage(env, type_name, *records, **kw):
    store, conn = env
    return staging.stage_lines(store, conn, type_name, [json.dumps(r) for r in records], **kw)


def awaiting(env):
    store, conn = env
    return wizard.pending(store, conn)


def sync_all(env):
    """Approve everything and run the Web Connector: the real service and FakeQuickBooks."""
    store, conn = env
    wizard.approve(store, conn)
    simulate_web_connector_run(store.path)


def imported(env, *records):
    """`records` created in QuickBooks, then detected, approved and applied by two Web Connector
    runs; they are in the mirror under their ListID/TxnID (see `quickbooks_id`)."""
    store, _ = env
    simulate_web_connector_run(store.path, imports=list(records))
    sync_all(env)


def test_new_records_are_adds_and_numbers_are_normalised(env):
    result = stage(env, "Customer", {"id": "C1", "Name": "Acme", "CreditLimit": 100, "IsActive": True})
    assert (result.added, result.unchanged) == (1, 0)
    (row,) = awaiting(env)
    change = store_changes.get_change(env[0], row["id"])
    assert change["payload"] == {"Name": "Acme", "CreditLimit": "100.00", "IsActive": "true"}
    again = stage(env, "Customer", {"id": "C1", "Name": "Acme", "CreditLimit": "100.00", "IsActive": "true"})
    assert again.unchanged == 1 and len(awaiting(env)) == 1


def test_restaging_while_awaiting_updates_the_same_change(env):
    stage(env, "Customer", {"id": "C1", "Name": "Acme"})
    stage(env, "Customer", {"id": "C1", "Name": "Acme", "Phone": "555"})
    (row,) = awaiting(env)
    assert row["action"] == "add" and "Phone=555" in row["summary"]


def test_changed_record_is_a_mod_carrying_only_what_changed(env):
    stage(env, "Customer", {"id": "C1", "Name": "Acme", "Phone": "555-0100", "Email": "a@x.com"})
    sync_all(env)
    stage(env, "Customer", {"id": "C1", "Name": "Acme", "Phone": "555-0199", "Email": "a@x.com"})
    (row,) = awaiting(env)
    change = store_changes.get_change(env[0], row["id"])
    assert change["action"] == "mod" and change["payload"] == {"Phone": "555-0199"}
    assert change["before"] == {"Phone": "555-0100"}
    shown = wizard.show(*env, row["id"])
    assert shown["fields"] == [{"field": "Phone", "before": "555-0100", "after": "555-0199"}]
    # Back to the synced content: nothing left to send.
    stage(env, "Customer", {"id": "C1", "Name": "Acme", "Phone": "555-0100", "Email": "a@x.com"})
    assert awaiting(env) == []


def test_lines_keep_their_txn_line_ids_on_a_mod(env):
    stage(env, "Customer", {"id": "C1", "Name": "Acme"})
    inv = {"id": "I1", "CustomerRef": {"local_id": "C1"}, "RefNumber": "7",
           "InvoiceLine": [{"id": "a", "Desc": "one", "Amount": 10}, {"id": "b", "Desc": "two", "Amount": 20}]}
    stage(env, "Invoice", inv)
    sync_all(env)
    inv["InvoiceLine"] = [{"id": "b", "Desc": "two", "Amount": 25}, {"Desc": "new", "Amount": 1}]
    stage(env, "Invoice", inv)
    (row,) = awaiting(env)
    payload = store_changes.get_change(env[0], row["id"])["payload"]
    first, second = payload["InvoiceLine"]
    in_quickbooks = [line["TxnLineID"] for line in company_for(env[0].path).all("Invoice")[0]["InvoiceLineRet"]]
    assert first["id"] == "b" and first["TxnLineID"] == in_quickbooks[1] and first["Amount"] == "25.00"
    assert "TxnLineID" not in second  # a new line
    assert set(payload) == {"InvoiceLine"}


def test_references_are_kept_and_recorded(env):
    stage(env, "Customer", {"id": "C9", "Name": "Cedar"})
    stage(env, "ItemService", {"id": 42, "Name": "Mowing", "SalesOrPurchase": {"Price": 5, "AccountRef": {"FullName": "Sales"}}})
    stage(env, "Invoice", {"id": "I1", "CustomerRef": {"local_id": "C9"},
                           "InvoiceLine": [{"ItemRef": {"local_id": 42}, "Amount": 5}]})
    (row,) = [r for r in awaiting(env) if r["type"] == "Invoice"]
    refs = store_changes.get_refs(env[0], row["id"])
    assert [(r["path"], r["local_id"], r["ref_type"]) for r in refs] == [
        ("CustomerRef", "C9", "Customer"),
        ("InvoiceLine[0]/ItemRef", "42", "ItemService,ItemNonInventory,ItemInventory,ItemOtherCharge"),
    ]
    payload = store_changes.get_change(env[0], row["id"])["payload"]
    assert payload["CustomerRef"] == {"local_id": "C9"}


def test_a_reference_resolving_to_the_same_record_is_not_a_change(env):
    store, conn = env
    imported(env, ("Customer", {"ListID": "80-1", "Name": "Acme"}),
             ("Invoice", {"TxnID": "90-1", "RefNumber": "5", "TxnDate": "2026-11-20",
                          "CustomerRef": {"ListID": "80-1"}}))
    # The app links its own ids to both, with the same content: links only, no mods.
    result = stage(env, "Customer", {"id": "C1", "ListID": quickbooks_id(store.path, "80-1"), "Name": "Acme"})
    assert (result.linked, result.modified) == (1, 0)
    result = stage(env, "Invoice", {"id": "I1", "TxnID": quickbooks_id(store.path, "90-1"), "RefNumber": "5",
                                    "CustomerRef": {"local_id": "C1"}})
    assert (result.linked, result.modified) == (1, 0)
    assert awaiting(env) == []
    acme = quickbooks_id(store.path, "80-1")
    result = stage(env, "Customer", {"id": "C1", "ListID": acme, "Name": "Acme", "Phone": "1"})
    (row,) = awaiting(env)
    assert result.modified == 1 and row["local_id"] == "C1" and row["qb_id"] == acme


def test_deletes(env):
    stage(env, "Customer", {"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt"})
    store, conn = env
    (c2,) = [r for r in awaiting(env) if r["local_id"] == "C2"]
    wizard.set_checked(store, conn, False, [c2["id"]])
    wizard.approve(store, conn, unchecked="keep")
    result = staging.stage_deletes(store, conn, "Customer", ["C2"])  # never sent: nothing to delete in QuickBooks
    assert (result.cleared, result.deleted) == (1, 0)
    sync_all(env)
    result = staging.stage_deletes(store, conn, "Customer", ["C1"])
    assert result.deleted == 1
    with pytest.raises(NotFound):
        staging.stage_deletes(store, conn, "Customer", ["C1", "nope"])
    (row,) = [r for r in awaiting(env) if r["action"] == "delete"]
    assert row["local_id"] == "C1"
    sync_all(env)
    assert [r["local_id"] for r in overview.records(store, conn, "Customer")] == []


@pytest.mark.parametrize(
    "record, field, words",
    [
        ({"id": "C1", "Nmae": "x"}, "Nmae", "unknown field"),
        ({"id": "C1", "Name": "x" * 200}, "Name", "limit"),
        ({"id": "C1", "Name": "x", "CreditLimit": "lots"}, "CreditLimit", "not valid"),
        ({"Name": "x"}, "id", "missing"),
        ({"id": "C1", "Name": "x", "ParentRef": {"local_id": ""}}, "ParentRef", "local_id"),
    ],
)
def test_invalid_lines_name_line_and_field_and_change_nothing(env, record, field, words):
    with pytest.raises(InvalidInput) as caught:
        stage(env, "Customer", {"id": "OK", "Name": "fine"}, record)
    message = str(caught.value)
    assert message.startswith(f"line 2: {field}") and words in message
    assert awaiting(env) == []


def test_skip_invalid_stages_the_good_lines(env):
    store, conn = env
    result = staging.stage_lines(store, conn, "Customer", ['{"id": "C1", "Name": "a"}', "{not json", '{"id": "C2", "Nam": "b"}'],
                                 skip_invalid=True)
    assert result.added == 1 and sorted({p.line for p in result.skipped}) == [2, 3]


def test_lines_under_the_add_name_are_refused(env):
    with pytest.raises(InvalidInput, match="InvoiceLine"):
        stage(env, "Invoice", {"id": "I1", "CustomerRef": {"FullName": "A"}, "InvoiceLineAdd": [{"Amount": 1}]})


def test_bill_lines_and_payment_applied_to_txn(env):
    stage(env, "Vendor", {"id": "V1", "Name": "Vine"})
    stage(env, "ItemService", {"id": "I7", "Name": "Mowing", "SalesOrPurchase": {"Price": 5, "AccountRef": {"FullName": "Sales"}}})
    stage(env, "Customer", {"id": "C1", "Name": "Cedar"})
    stage(env, "Invoice", {"id": "INV1", "CustomerRef": {"local_id": "C1"}})
    stage(env, "Bill", {"id": "B1", "VendorRef": {"local_id": "V1"},
                        "ExpenseLine": [{"AccountRef": {"FullName": "Rent"}, "Amount": 900}],
                        "ItemLine": [{"ItemRef": {"local_id": "I7"}, "Quantity": 1}]})
    stage(env, "ReceivePayment", {"id": "P1", "CustomerRef": {"local_id": "C1"}, "TotalAmount": 50,
                                  "AppliedToTxn": [{"TxnID": {"local_id": "INV1"}, "PaymentAmount": 50}]})
    rows = [r for r in awaiting(env) if r["type"] in ("Bill", "ReceivePayment")]
    assert [r["type"] for r in rows] == ["Bill", "ReceivePayment"]
    refs = store_changes.get_refs(env[0], rows[1]["id"])
    assert ("AppliedToTxn[0]/TxnID", "INV1") in [(r["path"], r["local_id"]) for r in refs]


def test_a_conflicting_link_is_refused_or_skipped(env):
    store, conn = env
    imported(env, ("Customer", {"ListID": "80-1", "Name": "Acme"}), ("Customer", {"ListID": "80-2", "Name": "Bolt"}))
    acme, bolt = quickbooks_id(store.path, "80-1"), quickbooks_id(store.path, "80-2")
    stage(env, "Customer", {"id": "C1", "ListID": acme, "Name": "Acme"})
    with pytest.raises(InvalidInput, match=f"linked to Customer {acme}"):
        stage(env, "Customer", {"id": "C1", "ListID": bolt, "Name": "Bolt"})
    result = staging.stage_lines(store, conn, "Customer", [
        "\ufeff" + json.dumps({"id": "C1", "ListID": bolt, "Name": "Bolt"}),
        json.dumps({"id": "C3", "Name": "Cedar"}),
    ], skip_invalid=True)
    assert result.added == 1 and [p.line for p in result.skipped] == [1]
    assert [r["local_id"] for r in awaiting(env)] == ["C3"]
