"""Outcome-unknown changes settled automatically, end to end: the real ConnectorService behind
the real WSGI app on waitress, the shipped WebConnector over HTTP, a FakeQuickBooks company.

A run loses an answer (QuickBooks applied the message, or the message never reached
QuickBooks); the next run settles what was out before it sends anything new: error recovery
(oldMessageSetID), then lookups. Afterwards the queue is empty, QuickBooks holds every record
once, the Error Log is empty, and the mirror and the feed are as if the answer had come. What
cannot be decided stays in the Error Log with the evidence, and is never sent blindly."""

from __future__ import annotations

import json

import pytest
from no_duplicates_support import Entity, FaultyCompany, World

from qbsync.store import open_store
from qbsync.store import logs as store_logs
from qbsync.store.connections import get_connection
from qbsync.sync import staging, wizard
from qbsync.testing import WebConnector


class NeverArrives(FaultyCompany):
    """The `at`-th message never reaches QuickBooks (the connection drops on the way there):
    nothing is applied, nothing is saved for error recovery, and the Web Connector session dies."""

    def process(self, xml: str):
        self.seen += 1
        if self.seen == self.at:
            raise ConnectionError("the connection to QuickBooks dropped before the message arrived")
        return self.fq.process(xml)


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path, batch_size=10)
    yield w
    w.close()


def run_with(w: World, company: FaultyCompany):
    w.clock.advance(300)  # past the session timeout: an abandoned session has expired
    return WebConnector(w.server.url("/qbwc"), "acme-sync", "acme-pass-1", company=company, noop_delay=0).run()


def feed(w: World) -> list[dict]:
    with open_store(w.db) as store:
        return store_logs.list_feed(store, get_connection(store, "acme")["id"])


def settled_cleanly(w: World) -> None:
    """Nothing queued, sending or in the Error Log; every synced record is in QuickBooks once,
    where the mirror says it is."""
    changes = w.changes()
    assert {c["status"] for c in changes.values()} == {"synced"}, {i: (c["status"], c["status_message"])
                                                                  for i, c in changes.items()}
    assert w.errors_json() == []
    mirror = w.mirror()
    for e in w.entities.values():
        found = w.in_quickbooks(e)
        assert len(found) == 1, (e.local_id, found)
        assert mirror[e.local_id]["qb_id"] == found[0]["ListID" if e.is_list else "TxnID"]


def company(w: World) -> None:
    w.add(Entity("Customer", "C0", "Cust 0"))
    w.add(Entity("Customer", "J0", "Cust 0:Job 0", parent="C0"))
    w.add(Entity("ItemService", "I0", "Item I0"))
    w.add(Entity("Invoice", "INV0", "INV-0", customer="J0", items=("I0",)))


def test_adds_quickbooks_applied_are_settled_from_its_saved_answers(world):
    company(world)
    world.stage(["C0", "J0", "I0", "INV0"])
    # C0 and I0 go in message 1, J0 in 2, INV0 in 3: the invoice's answer is lost
    assert world.run("lose", 3).outcome == "response_lost"
    report = world.run()
    assert report.final_message == "Synced 1"
    settled_cleanly(world)
    assert 'oldMessageSetID="' in report.requests[0]  # the first thing the session asked
    assert all("InvoiceAdd" not in r for r in report.requests)  # never sent again
    (entry,) = [f for f in feed(world) if f["local_id"] == "INV0"]
    assert entry["result"] == "synced" and entry["qb_id"] == world.mirror()["INV0"]["qb_id"]


def test_adds_whose_saved_answers_are_gone_are_found_by_name_and_ref_number(world):
    company(world)
    world.stage(["C0", "I0"])
    world.fq.lose_next_response()  # C0 and I0 applied in message 1, the answer lost
    assert world.run().outcome == "response_lost"
    world.stage(["J0", "INV0"])
    world.fq._company.message_sets.clear()  # QuickBooks kept no answers (600): lookups decide
    report = world.run()
    assert report.final_message == "Synced 4"
    settled_cleanly(world)
    lookups = report.requests[0]
    assert "<CustomerQueryRq" in lookups and "<ItemServiceQueryRq" in lookups
    # the mirror has QuickBooks' record (the Add's values, its EditSequence): a later edit goes through
    world.edit("C0", 7)
    assert world.run().final_message == "Synced 1"
    assert world.fq.find("Customer", "Cust 0")["Phone"] == "555-0007"


def test_messages_that_never_reached_quickbooks_are_sent_again(world):
    company(world)
    world.stage(["C0", "J0", "I0", "INV0"])
    assert run_with(world, NeverArrives(world.fq, at=2)).outcome == "response_lost"  # J0's message
    assert world.changes()[2]["status"] == "sending"
    report = world.run()
    assert report.final_message == "Synced 2"  # J0 settled as not applied and sent, then INV0
    settled_cleanly(world)
    assert 'messageSetStatusCode="600"' in report.responses[0]


def test_a_mod_is_settled_both_ways(world):
    world.add(Entity("Customer", "C0", "Cust 0"))
    world.add(Entity("Customer", "C1", "Cust 1"))
    world.stage(["C0", "C1"])
    world.run()
    world.edit("C0", 2)
    world.edit("C1", 2)
    world.fq.lose_next_response()  # both Mods applied, the answer lost
    assert world.run().outcome == "response_lost"
    world.fq._company.message_sets.clear()
    assert world.run().final_message == "Synced 2"  # EditSequence moved, the fields are the ones sent
    settled_cleanly(world)
    world.edit("C0", 3)
    assert run_with(world, NeverArrives(world.fq, at=1)).outcome == "response_lost"
    report = world.run()
    assert report.final_message == "Synced 1"  # its EditSequence had not moved: sent again
    assert "<CustomerModRq" in report.requests[1]
    settled_cleanly(world)
    assert world.fq.find("Customer", "Cust 0")["Phone"] == "555-0003"


def test_a_delete_is_settled_both_ways(world):
    world.add(Entity("Customer", "C0", "Cust 0"))
    world.add(Entity("Customer", "C1", "Cust 1"))
    world.stage(["C0", "C1"])
    world.run()
    with open_store(world.db) as store:
        conn = get_connection(store, "acme")
        staging.stage_deletes(store, conn, "Customer", ["C0"])
        wizard.approve(store, conn)
    assert run_with(world, NeverArrives(world.fq, at=1)).outcome == "response_lost"
    assert world.run().final_message == "Synced 1"  # still in QuickBooks: the delete went again
    assert world.fq.find("Customer", "Cust 0") is None
    with open_store(world.db) as store:
        conn = get_connection(store, "acme")
        staging.stage_deletes(store, conn, "Customer", ["C1"])
        wizard.approve(store, conn)
    world.fq.lose_next_response()
    assert world.run().outcome == "response_lost"
    world.fq._company.message_sets.clear()
    report = world.run()
    assert report.final_message == "Synced 1"  # gone from QuickBooks: the delete was applied
    assert all("<ListDelRq" not in r for r in report.requests)
    assert "<ListDeletedQueryRq" in report.requests[0]  # the deleted records asked too
    changes = world.changes()
    assert {c["status"] for c in changes.values()} == {"synced"} and world.errors_json() == []
    assert world.mirror() == {} and world.fq.find("Customer", "Cust 1") is None


def test_what_cannot_be_decided_stays_in_the_error_log_with_the_evidence(world):
    world.add(Entity("Customer", "C0", "Cust 0"))
    world.add(Entity("Customer", "C1", "Cust 1"))
    world.stage(["C0"])
    world.fq.lose_next_response()
    assert world.run().outcome == "response_lost"
    world.fq._company.message_sets.clear()
    # before the next run a QuickBooks user deletes that record and makes another of the same
    # name: not what qbsync sent, and without qbsync's ExternalGUID it cannot be told apart
    world.fq.delete("Customer", world.fq.find("Customer", "Cust 0")["ListID"])
    world.fq.create("Customer", {"Name": "Cust 0", "Phone": "555-9999"})
    world.stage(["C1"])  # unrelated work still goes
    report = world.run()
    assert report.final_message == "Synced 1, 1 outcome unknown"
    (row,) = world.errors_json()
    assert row["outcome_unknown"] is True and row["actions"] == []
    assert "Customer named 'Cust 0'" in row["reason"]
    assert "Phone: sent '555-0001', QuickBooks has '555-9999'" in row["reason"]
    assert "retry --force" in row["reason"]
    assert len(world.in_quickbooks(world.entities["C0"])) == 1
    # checked once: the next sessions neither ask again nor send it
    assert world.run().outcome == "no_work"
    assert world.errors_json() == [row]
    # the admin's path stays: after looking in QuickBooks, retry --force sends it (3100 here)
    code, _ = world.cli("retry", "--force", str(row["id"]))
    assert code == 0
    world.run()
    (row,) = world.errors_json()
    assert row["status_code"] == 3100 and not row["outcome_unknown"]


def test_an_add_found_with_its_external_guid_is_ours_even_after_a_user_edited_it(world):
    world.add(Entity("Customer", "C0", "Cust 0"))
    world.stage(["C0"])
    world.fq.lose_next_response()
    assert world.run().outcome == "response_lost"
    world.fq._company.message_sets.clear()
    ours = world.fq.find("Customer", "Cust 0")
    assert ours["ExternalGUID"].startswith("{")  # qbsync sent one with the Add
    world.fq.edit("Customer", ours["ListID"], {"Phone": "555-9999"})  # fields differ now, the GUID does not
    report = world.run()
    assert report.final_message.startswith("Synced 1")
    assert world.errors_json() == [] and len(world.in_quickbooks(world.entities["C0"])) == 1


def test_a_job_waits_while_its_customer_add_is_undecided(world):
    world.add(Entity("Customer", "C0", "Cust 0"))
    world.add(Entity("Customer", "J0", "Cust 0:Job 0", parent="C0"))
    world.stage(["C0"])
    world.fq.lose_next_response()
    assert world.run().outcome == "response_lost"
    world.fq._company.message_sets.clear()
    world.fq.delete("Customer", world.fq.find("Customer", "Cust 0")["ListID"])  # someone else's now
    world.fq.create("Customer", {"Name": "Cust 0", "Phone": "555-9999"})
    world.stage(["J0"])
    world.run()
    changes = world.changes()
    assert changes[2]["status"] == "queued" and changes[2]["note"].startswith("waiting")
    assert world.fq.find("Customer", "Cust 0:Job 0") is None
    assert json.dumps(world.errors_json()).count("outcome unknown") == 1
