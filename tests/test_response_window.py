"""receiveResponseXML reads the queue with a small window (qbsync.connector.service.PROBE_WINDOW):
whether another message follows needs only the first change that can go. When none in it can,
the engine judges again on a whole window in the same callback, so the percent is exactly what a
whole window says: 100 when nothing more can go, never a sendRequestXML that finds nothing."""

from __future__ import annotations

import pytest
from test_service_export import Env, customer

from qbsync.connector.service import PROBE_WINDOW, ConnectorService


@pytest.fixture
def env(tmp_path):
    env = Env(tmp_path)
    env.service = ConnectorService(env.path, clock=env.clock, batch_size=5)
    return env


def whole_window(env) -> int:
    return max(4 * env.service.limits.batch_size, 200)


def stage_waiting_jobs(env, n):
    """`n` jobs of a parent whose add awaits approval: they wait, every one of them."""
    env.stage("Customer", [customer("P", "Parent"),
                           *(customer(f"J{i}", f"Job {i}", ParentRef={"local_id": "P"}) for i in range(n))])
    env.approve(only=[c["id"] for c in env.changes().values() if c["local_id"].startswith("J")])


def test_nothing_more_can_go_beyond_the_small_window_answers_100(env):
    env.stage("Customer", [customer(f"G{i}") for i in range(5)])
    env.approve()
    # The send's window holds G0-G4 and the first jobs (they wait); the rest of the jobs fill
    # the response's small window and go past it.
    n = whole_window(env) + 2 * PROBE_WINDOW
    stage_waiting_jobs(env, n)
    trace = env.run()
    assert len(trace.requests) == 1 and trace.percents == [100]
    assert trace.last_error is None  # no sendRequestXML that found nothing
    assert trace.summary == f"Synced 5, {n} waiting", trace.summary


def test_a_change_that_can_go_beyond_the_small_window_keeps_the_session_going(env):
    env.stage("Customer", [customer(f"G{i}") for i in range(5)])
    env.approve()
    n = whole_window(env) + 2 * PROBE_WINDOW
    stage_waiting_jobs(env, n)
    env.stage("Customer", [customer("H1")])
    env.approve(only=[c["id"] for c in env.changes().values() if c["local_id"] == "H1"])
    trace = env.run()
    assert len(trace.requests) == 2 and trace.percents[0] < 100 and trace.percents[-1] == 100
    assert trace.summary == f"Synced 6, {n} waiting", trace.summary
    assert {r["Name"] for r in env.fq.all("Customer")} == {*(f"G{i}" for i in range(5)), "H1"}
