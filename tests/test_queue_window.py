"""A callback reads a window of the queue, not all of it (its cost stays with the batch): the
session still sends everything in dependency order, and a window that holds nothing that can go
makes it read the next one in the same callback, never a pause."""

from __future__ import annotations

import pytest
from test_service_export import Env, customer

from qbsync.store import export_lookup


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


def window_size(env) -> int:
    return max(4 * env.service.limits.batch_size, 200)


def test_jobs_staged_before_their_customers_wait_for_them_across_windows(env):
    n = window_size(env) + 30
    # The jobs are older than their customers: the first window holds jobs only, and must see
    # that each job's customer is queued (beyond the window), not "gone".
    env.stage("Customer", [customer(f"C{i}") for i in range(n)])
    env.approve()
    env.stage("Customer", [*(customer(f"J{i}", f"Job {i}", ParentRef={"local_id": f"P{i}"}) for i in range(n)),
                           *(customer(f"P{i}", f"Parent {i}") for i in range(n))])  # one file: jobs first
    env.approve()
    trace = env.run()
    assert trace.summary == f"Synced {3 * n}", trace.summary
    assert env.errors() == []
    jobs = {r["Name"]: r for r in env.fq.all("Customer") if r.get("ParentRef")}
    assert len(jobs) == n and jobs["Job 7"]["ParentRef"]["FullName"] == "Parent 7"


def test_a_window_where_nothing_can_go_reads_the_next_one_in_the_same_callback(env):
    n = window_size(env) + 10
    # Jobs whose parent's add is still awaiting approval: they wait, every one of them, and they
    # fill the oldest window; the customers approved after them must still go in this run.
    env.stage("Customer", [customer("P", "Parent"),
                           *(customer(f"J{i}", f"Job {i}", ParentRef={"local_id": "P"}) for i in range(n))])
    jobs = [c["id"] for c in env.changes().values() if c["local_id"].startswith("J")]
    env.approve(only=jobs)
    env.stage("Customer", [customer(f"G{i}") for i in range(5)])
    env.approve(only=[c["id"] for c in env.changes().values() if c["local_id"].startswith("G")])
    with env.store() as store:
        rows, more = export_lookup.queued_window(store, 1, 10**9, limit=window_size(env))
    assert more is True and not any(r["local_id"].startswith("G") for r in rows)
    trace = env.run()
    assert trace.summary == f"Synced 5, {n} waiting", trace.summary
    assert len(trace.requests) == 1 and trace.last_error != "NoOp"  # one message, no pause
    assert {r["Name"] for r in env.fq.all("Customer")} == {f"G{i}" for i in range(5)}


def test_the_window_keeps_what_it_refers_to_and_every_delete(env):
    env.stage("Customer", [customer(f"C{i}") for i in range(3)])
    env.approve()
    env.run()
    env.stage("Customer", [*(customer(f"J{i}", f"Job {i}", ParentRef={"local_id": "P"}) for i in range(5)),
                           customer("P", "Parent")])
    with env.store() as store:
        from qbsync.sync import staging

        staging.stage_deletes(store, env.conn, "Customer", ["C0", "C1"])
    env.approve()
    with env.store() as store:
        rows, more = export_lookup.queued_window(store, 1, 10**9, limit=2)
    ids = [r["local_id"] for r in rows]
    assert more is True and ids[:2] == ["J0", "J1"]  # the oldest adds and mods
    assert {"C0", "C1"} <= set(ids) and "P" in ids  # every delete; the parent the jobs refer to
    assert "J4" not in ids
    trace = env.run()
    assert trace.summary == "Synced 8" and env.errors() == []


def test_a_callbacks_lookups_by_local_id_seek_the_index_whatever_the_history(env):
    """The mirror records and the unsettled exports a window names are found by (connection,
    type, local id), never by reading every record or change of the connection: a long synced
    history does not make a callback dearer. Records of any type are found (a reference carries
    none)."""
    import sqlite3

    from qbsync.connector.service import RECORD_TYPES

    env.stage("Customer", [customer("C1"), customer("C2")])
    env.stage("ItemService", [{"id": "C1", "Name": "Same id, another type",
                               "SalesOrPurchase": {"Price": 1, "AccountRef": {"FullName": "Services"}}}])
    env.approve()
    assert env.run().summary == "Synced 3"
    env.stage("Customer", [customer("C3")])
    env.approve()
    with env.store() as store:
        plans: list[str] = []  # the plans of the lookups by local id (the hop over the types aside)
        raw = sqlite3.connect(env.path)
        store.conn.set_trace_callback(lambda sql: plans.extend(
            row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}") if "local_id IN" in sql))
        found = export_lookup.records_for_local_ids(store, 1, ["C1", "C2", "nobody"])
        unsettled = export_lookup.unapproved_local_ids(store, 1, ["C1", "C2", "C3", "nobody"], RECORD_TYPES)
        store.conn.set_trace_callback(None)
        raw.close()
    assert sorted((r["type"], r["local_id"]) for r in found) == [("Customer", "C1"), ("Customer", "C2"),
                                                                 ("ItemService", "C1")]
    assert unsettled == {"C3"}
    assert plans and all("type=? AND local_id=?" in p for p in plans if p.startswith(("SEARCH", "SCAN"))), plans


def test_what_a_window_refers_to_is_sought_by_type_and_local_id_not_read_from_the_whole_queue(env):
    """The queued changes a window's references name are found through the (connection,
    direction, type, local id) index: a long queue of invoices does not make each callback
    read every queued export of the connection."""
    import sqlite3

    env.stage("Customer", [*(customer(f"J{i}", f"Job {i}", ParentRef={"local_id": "P"}) for i in range(3)),
                           customer("P", "Parent")])
    env.approve()
    with env.store() as store:
        plans: list[str] = []
        raw = sqlite3.connect(env.path)
        store.conn.set_trace_callback(lambda sql: plans.extend(
            row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}") if "local_id IN" in sql))
        rows, more = export_lookup.queued_window(store, 1, 10**9, limit=2)
        store.conn.set_trace_callback(None)
        raw.close()
    assert [r["local_id"] for r in rows] == ["J0", "J1", "P"] and more is True  # the parent they wait for
    searches = [p for p in plans if p.startswith(("SEARCH", "SCAN"))]
    assert searches and all("type=? AND local_id=?" in p for p in searches), searches
