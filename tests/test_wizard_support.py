"""The tests' Web Connector run (tests/wizard_support.py) makes QuickBooks do what a test asks,
the way QuickBooks does it: checked here against the FakeQuickBooks company and the store."""

from __future__ import annotations

import json

import pytest
from wizard_support import company_for, simulate_web_connector_run

from qbsync.store import changes as store_changes
from qbsync.store import connections, open_store
from qbsync.sync import staging, wizard

NAMES = {"C1": "Acme", "C2": "Bolt", "C3": "Cobalt", "C4": "Delta"}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    with open_store(path, create=True) as store:
        connections.add_connection(store, name="main", username="u", password_hash="not a hash")
    return path


def stage(db, *rows):
    with open_store(db) as store:
        conn = connections.resolve_connection(store, None)
        staging.stage_lines(store, conn, "Customer", [json.dumps(r) for r in rows])
        wizard.approve(store, conn)


def by_local_id(db, report):
    with open_store(db) as store:
        return {kind: sorted(c["local_id"] for c in store_changes.get_changes(store, ids))
                for kind, ids in report.items() if kind in ("synced", "error", "unknown", "requeued")}


def test_asked_outcomes_happen_in_quickbooks(db):
    stage(db, *({"id": k, "Name": v} for k, v in NAMES.items()))
    report = simulate_web_connector_run(db, outcomes={"C1": "unknown", "C3": ("error", 3100, "name in use")})
    assert by_local_id(db, report) == {"synced": ["C2", "C4"], "error": ["C3"], "unknown": ["C1"], "requeued": []}
    company = company_for(db)
    # The lost answer: QuickBooks applied the Add all the same. The taken name is there once.
    assert sorted(c["Name"] for c in company.all("Customer")) == ["Acme", "Bolt", "Cobalt", "Delta"]

    stage(db, {"id": "C2", "Name": "Bolt", "Phone": "1"}, {"id": "C4", "Name": "Delta", "Phone": "2"})
    report = simulate_web_connector_run(db, outcomes={"C2": ("error", 3200, "edited meanwhile"),
                                                      "C4": ("error", 3175, "held")})
    assert by_local_id(db, report)["error"] == ["C2", "C4"]
    assert [c.get("Phone") for c in company_for(db).all("Customer") if c["Name"] in ("Bolt", "Delta")] == [None, None]
    with open_store(db) as store:  # the connection's own password hash is back
        assert connections.password_hash(store, connections.resolve_connection(store, None)["id"]) == "not a hash"


def test_an_outcome_quickbooks_cannot_give_is_refused(db):
    stage(db, {"id": "C1", "Name": "Acme"})
    with pytest.raises(ValueError, match="3171"):
        simulate_web_connector_run(db, outcomes={"C1": ("error", 3171, "closing date")})
