"""The library a Web Connector session uses: recording results of the changes a message carried,
detected imports, end of session. Which changes go out when is the engine's (tests/test_engine_*,
tests/test_service_export.py); here a message goes out as the service marks it
(`export_results.mark_sending`), or a whole run is the real service with FakeQuickBooks."""

from __future__ import annotations

import json

import pytest
from wizard_support import company_for, simulate_web_connector_run

from qbsync.errors import QbsyncError
from qbsync.store import changes as store_changes
from qbsync.store import connections, logs, open_store, records
from qbsync.sync import delivery, errorlog, export_results, overview, staging, wizard


@pytest.fixture
def env(tmp_path):
    store = open_store(tmp_path / "s.db", create=True)
    conn = connections.add_connection(store, name="main", username="u", password_hash="h")
    yield store, conn
    store.close()


def stage(env, type_name, *recs):
    store, conn = env
    return staging.stage_lines(store, conn, type_name, [json.dumps(r) for r in recs])


def approve(env):
    return wizard.approve(*env)


def send(env, message_id="m1"):
    """Every queued export goes out in one message, marked as the service marks it."""
    store, conn = env
    ids = [c["id"] for c in store_changes.list_changes(store, conn["id"], ["queued"], direction="export")]
    export_results.mark_sending(store, ids, message_id=message_id)
    return store_changes.get_changes(store, ids)


def test_synced_updates_the_mirror_feed_and_suppresses_the_echo(env):
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme", "Phone": "1"})
    approve(env)
    (c,) = send(env)
    snap = {"ListID": "80-1", "Name": "Acme", "FullName": "Acme", "Phone": "1", "EditSequence": "7"}
    delivery.record_synced(store, c["id"], qb_id="80-1", edit_sequence="7", snapshot=snap)
    rec = records.get_record(store, conn["id"], "Customer", "C1")
    assert (rec["qb_id"], rec["edit_sequence"], rec["data"], rec["qb_data"]) == ("80-1", "7", {"Name": "Acme", "Phone": "1"}, snap)
    (entry,) = overview.feed(store, conn)
    assert (entry["result"], entry["local_id"], entry["qb_id"], entry["edit_sequence"]) == ("synced", "C1", "80-1", "7")
    # QuickBooks reports our own save back: not an import.
    assert delivery.record_import(store, conn, "Customer", snap) is None
    with pytest.raises(QbsyncError, match="not being sent"):
        delivery.record_synced(store, c["id"], qb_id="80-1", edit_sequence="7", snapshot=snap)


def test_error_appends_a_failure_in_the_same_transaction(env):
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme"})
    approve(env)
    (c,) = send(env)
    delivery.record_error(store, c["id"], status_code=3100, message='The name "Acme" of the list element is already in use.')
    (err,) = errorlog.errors(store, conn)
    assert (err["status_code"], err["actions"], err["direction"]) == (3100, ["retry"], "app → QB")
    (failure,) = logs.list_failures(store, conn["id"])
    assert failure["change_id"] == c["id"] and failure["attempt"] == 1
    assert [e["result"] for e in overview.feed(store, conn)] == ["error"]
    # The app fixes its data: the change returns to the wizard (same id), the history stays.
    stage(env, "Customer", {"id": "C1", "Name": "Acme (2)"})
    (row,) = wizard.pending(store, conn)
    assert row["id"] == c["id"] and row["action"] == "add" and errorlog.errors(store, conn) == []
    assert len(errorlog.failed(store, conn)) == 1


def test_not_processed_goes_back_to_the_queue_without_a_failure(env):
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme"})
    approve(env)
    (c,) = send(env)
    assert (c["status"], c["attempts"], c["message_id"]) == ("sending", 1, "m1")
    delivery.record_requeue(store, c["id"], reason="not processed after an earlier error", status_code=3231)
    change = store_changes.get_change(store, c["id"])
    assert (change["status"], change["attempts"], change["note"]) == ("queued", 0, "3231: not processed after an earlier error")
    assert logs.list_failures(store, conn["id"]) == []


def test_outcome_unknown_is_never_resent_blindly_and_the_next_run_settles_it(env):
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt"})
    approve(env)
    batch = send(env)
    delivery.record_outcome_unknown(store, batch[0]["id"], reason="connection lost")
    ended = delivery.end_session(store, conn, outcome="error: 0x80040408")  # C2 never answered either
    assert ended == []
    errors = errorlog.errors(store, conn)
    assert [e["actions"] for e in errors] == [[], []] and all(e["outcome_unknown"] for e in errors)
    (row,) = overview.status(store)
    assert row["last_contact_outcome"] == "error: 0x80040408" and row["last_contact_at"].endswith("Z")
    # The next Web Connector run settles both before sending anything new: the message never
    # reached QuickBooks (no saved answer for m1, no customer by either name), so each is sent, once.
    simulate_web_connector_run(store.path)
    assert [c["status"] for c in store_changes.get_changes(store, [c["id"] for c in batch])] == ["synced", "synced"]
    assert sorted(c["Name"] for c in company_for(store.path).all("Customer")) == ["Acme", "Bolt"]
    assert errorlog.errors(store, conn) == []


def test_an_unknown_outcome_is_settled_by_the_delivery_functions(env):
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt"}, {"id": "C3", "Name": "Cobalt"})
    approve(env)
    batch = send(env)
    for c in batch:
        delivery.record_outcome_unknown(store, c["id"], reason="connection lost")
    applied, absent, undecided = (c["id"] for c in batch)
    delivery.record_synced(store, applied, qb_id="80-1", edit_sequence="1", snapshot={"ListID": "80-1"})
    delivery.record_requeue(store, absent, reason="settled: not in QuickBooks")
    delivery.record_undecided(store, undecided, reason="checked QuickBooks, still undecided: …")
    rows = {c["id"]: c for c in store_changes.get_changes(store, [c["id"] for c in batch])}
    assert [rows[i]["status"] for i in (applied, absent, undecided)] == ["synced", "queued", "error"]
    assert rows[absent]["status_message"] is None and not rows[absent]["outcome_unknown"]
    with open_store(store.path) as raw:  # checked: 2, so the next sessions do not ask again
        assert raw.query_one("SELECT outcome_unknown FROM changes WHERE id = ?", (undecided,))["outcome_unknown"] == 2
    (error,) = errorlog.errors(store, conn)
    assert error["outcome_unknown"] and error["actions"] == [] and "still undecided" in error["reason"]
    with pytest.raises(QbsyncError):
        delivery.record_undecided(store, applied, reason="not unknown")


def test_end_of_session_brings_held_changes_back_checked(env):
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme"})
    delivery.record_import(store, conn, "Customer", {"ListID": "80-9", "Name": "Zed", "EditSequence": "1"})
    store_changes.set_checked(store, [r["id"] for r in wizard.pending(store, conn)], False)
    result = wizard.approve(store, conn, unchecked="keep")
    assert result["queued"] == [] and len(result["held"]) == 2 and wizard.pending(store, conn) == []
    assert sorted(delivery.end_session(store, conn)) == sorted(result["held"])
    assert all(r["checked"] for r in wizard.pending(store, conn))


def test_imports_detect_add_mod_delete_without_duplicates(env):
    store, conn = env
    qb = {"ListID": "80-1", "Name": "Acme", "Phone": "1", "EditSequence": "1", "TimeModified": "2026-11-01T10:00:00"}
    first = delivery.record_import(store, conn, "Customer", qb)
    assert delivery.record_import(store, conn, "Customer", {**qb, "Phone": "2", "EditSequence": "2"}) == first
    (row,) = wizard.pending(store, conn)
    assert (row["action"], row["local_id"]) == ("add", "80-1")
    approve(env)
    delivery.apply_import(store, first, {**qb, "Phone": "2", "EditSequence": "2"})  # as re-read now
    assert records.get_record(store, conn["id"], "Customer", "80-1")["data"]["Phone"] == "2"
    # A real change in QuickBooks: a mod with a field-by-field before/after.
    mod = delivery.record_import(store, conn, "Customer", {**qb, "Phone": "3", "EditSequence": "3"})
    shown = wizard.show(store, conn, mod)
    assert shown["action"] == "mod" and shown["fields"] == [{"field": "Phone", "before": "2", "after": "3"}]
    # Only QuickBooks' bookkeeping moved: no change, but the mirror keeps the fresh EditSequence.
    approve(env)
    delivery.apply_import(store, mod, {**qb, "Phone": "3", "EditSequence": "3"})
    assert delivery.record_import(store, conn, "Customer", {**qb, "Phone": "3", "EditSequence": "4", "TimeModified": "x"}) is None
    assert records.get_record(store, conn["id"], "Customer", "80-1")["edit_sequence"] == "4"
    gone = delivery.record_import(store, conn, "Customer", {"ListID": "80-1", "ListDelType": "Customer"}, deleted=True)
    assert wizard.show(store, conn, gone)["action"] == "delete"
    approve(env)
    delivery.apply_import(store, gone, None)
    assert records.list_records(store, conn["id"], "Customer") == []
    assert [e["action"] for e in overview.feed(store, conn)] == ["add", "mod", "delete"]


def test_results_need_a_change_that_is_being_sent(env):
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme"})
    (row,) = wizard.pending(store, conn)
    with pytest.raises(QbsyncError):
        delivery.record_error(store, row["id"], status_code=3100, message="x")
    assert logs.list_failures(store, conn["id"]) == []


def test_a_mod_staged_before_its_add_synced_keeps_the_lines_quickbooks_gave(env):
    store, conn = env
    company_for(store.path).create("Customer", {"Name": "Acme"})
    inv = {"id": "I1", "CustomerRef": {"FullName": "Acme"}, "RefNumber": "1",
           "InvoiceLine": [{"id": "a", "Desc": "one", "Amount": 1}, {"id": "b", "Desc": "two", "Amount": 2}]}
    stage(env, "Invoice", inv)
    approve(env)
    inv["InvoiceLine"] = [{"id": "b", "Desc": "two", "Amount": 3}]
    stage(env, "Invoice", inv)  # the add is still queued: this becomes a mod, staged without TxnLineIDs
    approve(env)
    report = simulate_web_connector_run(store.path)
    assert len(report["synced"]) == 2
    added, modified = overview.feed(store, conn)
    line_b = added["data"]["InvoiceLineRet"][1]["TxnLineID"]
    (invoice,) = company_for(store.path).all("Invoice")
    lines = [(ln["TxnLineID"], ln["Desc"], ln["Amount"]) for ln in invoice["InvoiceLineRet"]]
    assert lines == [(line_b, "two", "3.00")]
    assert records.get_record(store, conn["id"], "Invoice", "I1")["data"]["InvoiceLine"] == [
        {"id": "b", "Desc": "two", "Amount": "3.00", "TxnLineID": line_b}]


def test_an_import_of_qbsyncs_own_write_found_before_its_outcome_was_settled_is_cleared(env):
    """The answer to an Add was lost; detection read the new record as QuickBooks' own before the
    next session settled the Add. Settling it (synced) clears that import: the app never gets
    its own customer twice."""
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme"})
    approve(env)
    (c,) = send(env)
    delivery.record_outcome_unknown(store, c["id"], reason="answer lost")
    snap = {"ListID": "80-1", "Name": "Acme", "FullName": "Acme", "EditSequence": "7"}
    echo = delivery.record_import(store, conn, "Customer", snap)
    assert store_changes.get_change(store, echo)["status"] == "awaiting"
    delivery.record_synced(store, c["id"], qb_id="80-1", edit_sequence="7", snapshot=snap)  # settled: applied
    cleared = store_changes.get_change(store, echo)
    assert cleared["status"] == "cleared" and f"change {c['id']}" in cleared["note"]
    assert wizard.pending(store, conn) == []
    # a later edit in QuickBooks is QuickBooks' own again
    assert delivery.record_import(store, conn, "Customer", {**snap, "Phone": "2", "EditSequence": "8"}) is not None


def test_a_responses_outcomes_are_recorded_in_their_order_synced_ones_written_together(env):
    """record_outcomes writes synced changes in a row together (a statement run per table); any
    other outcome in between keeps its place: the feed lists them in the response's order, and
    each synced change has its mirror record, its own-save fingerprint and its status."""
    from qbsync.engine.model import Failed, Synced

    store, conn = env
    stage(env, "Customer", *({"id": f"C{i}", "Name": f"Customer {i}"} for i in range(4)))
    approve(env)
    c0, c1, c2, c3 = send(env)
    outcomes = [Synced(c0["id"], "80-0", "10", {"ListID": "80-0", "Name": "Customer 0"}),
                Failed(c1["id"], 3100, "The name is already in use."),
                Synced(c2["id"], "80-2", "12", {"ListID": "80-2", "Name": "Customer 2"}, 530, "a warning"),
                Synced(c3["id"], "80-3", None, None)]
    with store.transaction():
        export_results.record_outcomes(store, outcomes, at="2026-12-07T00:00:00Z")
    assert [(e["local_id"], e["result"]) for e in overview.feed(store, conn)] == [
        ("C0", "synced"), ("C1", "error"), ("C2", "synced"), ("C3", "synced")]
    after = {c["local_id"]: c for c in store_changes.get_changes(store, [c0["id"], c1["id"], c2["id"], c3["id"]])}
    assert [after[k]["status"] for k in ("C0", "C1", "C2", "C3")] == ["synced", "error", "synced", "synced"]
    assert (after["C2"]["status_code"], after["C2"]["status_message"]) == (530, "a warning")
    mirror = {k: records.get_record(store, conn["id"], "Customer", k) for k in ("C0", "C2", "C3")}
    assert [mirror[k]["qb_id"] for k in ("C0", "C2", "C3")] == ["80-0", "80-2", "80-3"]
    assert store_changes.get_seen(store, conn["id"], "import", "Customer", "C2") == "es:12"
    assert store_changes.get_seen(store, conn["id"], "import", "Customer", "C3") is None
    assert records.get_record(store, conn["id"], "Customer", "C1") is None


def test_synced_changes_of_one_entity_are_never_written_together(env):
    store, conn = env
    stage(env, "Customer", {"id": "C1", "Name": "Acme"})
    approve(env)
    (c,) = send(env)
    answer = delivery.SyncedAnswer(c["id"], "80-1", "7", {"ListID": "80-1", "Name": "Acme"})
    with pytest.raises(ValueError, match="given twice"):
        delivery.record_synced_many(store, [answer, answer])
    assert store_changes.get_change(store, c["id"])["status"] == "sending"  # nothing written
