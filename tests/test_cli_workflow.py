"""The help article's workflow, end to end through the real CLI against a real SQLite file:
stage exports, detect imports, uncheck some in each section, approve with keep / clear, a Web
Connector run (the real service and FakeQuickBooks; imports recorded by the session library), the
Error Log, Failed Syncs, retry, fix-edit-sequence."""

from __future__ import annotations

import json

import pytest
from wizard_support import company_for, jsonl, quickbooks_id, run_cli, simulate_web_connector_run

CUSTOMERS = [
    {"id": "C1", "Name": "Acme Ltd", "Phone": "555-0100"},
    {"id": "C2", "Name": "Bolt Inc", "CreditLimit": 2500},
    {"id": "C3", "Name": "Cobalt Co"},
]
INVOICE = {
    "id": "I1", "CustomerRef": {"local_id": "C1"}, "RefNumber": "1001", "TxnDate": "2026-11-20",
    "InvoiceLine": [{"id": "L1", "ItemRef": {"FullName": "Labor"}, "Quantity": 2, "Rate": 50}],
}


def qb_customer(list_id: str, name: str, es: str = "1") -> dict:
    return {"ListID": list_id, "Name": name, "FullName": name, "EditSequence": es, "IsActive": "true"}


def pending(db) -> list[dict]:
    proc = run_cli("pending", "--format", "json", db=db, check=True)
    return json.loads(proc.stdout)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    run_cli("init", db=path, check=True)
    run_cli("connection", "add", "main", "--username", "qbwc", "--import", "Customer,Invoice",
            "--password-stdin", db=path, input="s3cret\n", check=True)
    return path


def by_name(rows):
    return {r["name"]: r for r in rows}


def test_keep_unchecked_comes_back_after_the_next_run(db):
    company_for(db).create("ItemService", {"Name": "Labor", "SalesOrPurchase": {"AccountRef": {"FullName": "Services"}}})
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    run_cli("stage", "Invoice", db=db, input=jsonl(INVOICE), check=True)
    # QuickBooks reported two records: the import section.
    simulate_web_connector_run(db, imports=[("Customer", qb_customer("800000AA-1", "Zed Imports")),
                                            ("Customer", qb_customer("800000AB-1", "Yak Farm"))])
    rows = pending(db)
    assert [r["direction"] for r in rows] == ["import", "import", "export", "export", "export", "export"]
    assert all(r["checked"] for r in rows)  # every change starts checked
    names = by_name(rows)
    table = run_cli("pending", db=db, check=True).stdout
    assert "Import from QuickBooks (2)" in table and "Export to QuickBooks (4)" in table
    assert run_cli("pending", "--count", db=db, check=True).stdout.strip() == "6"

    # Uncheck one in each section, keep unchecked.
    run_cli("uncheck", str(names["Yak Farm"]["id"]), str(names["Cobalt Co"]["id"]), db=db, check=True)
    refused = run_cli("approve", db=db)
    assert refused.returncode == 2 and "--yes" in refused.stderr and len(refused.stderr.splitlines()) == 1
    run_cli("approve", "--keep-unchecked", "--yes", db=db, check=True)
    assert pending(db) == []
    queue = json.loads(run_cli("queue", "--format", "json", db=db, check=True).stdout)
    assert {r["name"] for r in queue} == {"Zed Imports", "Acme Ltd", "Bolt Inc", "1001 (2026-11-20)"}

    report = simulate_web_connector_run(db)
    assert len(report["synced"]) == 3 and len(report["applied"]) == 1
    back = pending(db)
    assert {(r["name"], r["direction"], r["checked"]) for r in back} == {("Yak Farm", "import", True), ("Cobalt Co", "export", True)}
    status = json.loads(run_cli("status", "--format", "json", db=db, check=True).stdout)[0]
    assert status["awaiting_import"] == 1 and status["awaiting_export"] == 1 and status["last_contact_outcome"] == "Synced 3, 1 imported"
    assert run_cli("status", "--check", db=db).returncode == 1

    # The mirror and the app's feed.
    customers = json.loads(run_cli("records", "Customer", "--format", "json", db=db, check=True).stdout)
    assert {c["local_id"] for c in customers} == {"C1", "C2", quickbooks_id(db, "800000AA-1")}
    invoice = json.loads(run_cli("records", "Invoice", "--format", "json", db=db, check=True).stdout)[0]
    assert invoice["data"]["InvoiceLine"][0]["TxnLineID"]  # kept for the next mod
    feed = [json.loads(line) for line in run_cli("changes", "--since", "0", db=db, check=True).stdout.splitlines()]
    assert [f["cursor"] for f in feed] == sorted(f["cursor"] for f in feed)
    assert {(f["direction"], f["result"]) for f in feed} == {("import", "applied"), ("export", "synced")}
    later = run_cli("changes", "--since", str(feed[1]["cursor"]), db=db, check=True).stdout.splitlines()
    assert len(later) == len(feed) - 2

    # Approving the rest empties the wizard; the next run syncs them.
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db)
    assert pending(db) == [] and run_cli("status", "--check", db=db).returncode == 0


def test_clear_unchecked_never_comes_back_until_the_entity_changes(db):
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    simulate_web_connector_run(db, imports=[("Customer", qb_customer("800000AA-1", "Zed Imports"))])
    names = by_name(pending(db))
    result = run_cli("approve", "--uncheck", str(names["Bolt Inc"]["id"]), "--uncheck", str(names["Zed Imports"]["id"]),
                     "--clear-unchecked", "--yes", "--format", "json", db=db, check=True)
    assert sorted(json.loads(result.stdout)[0]["cleared"]) == sorted([names["Bolt Inc"]["id"], names["Zed Imports"]["id"]])
    simulate_web_connector_run(db, imports=[("Customer", qb_customer("800000AA-1", "Zed Imports"))])
    assert pending(db) == []
    # Same content again: still nothing. A changed entity comes back.
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    assert pending(db) == []
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C2", "Name": "Bolt Inc", "CreditLimit": "3000"}), check=True)
    simulate_web_connector_run(db, imports=[("Customer", qb_customer("800000AA-1", "Zed Imports Ltd", es="2"))])
    rows = pending(db)
    assert {(r["name"], r["action"]) for r in rows} == {("Bolt Inc", "add"), ("Zed Imports Ltd", "add")}


def test_errors_failed_retry_and_fix_edit_sequence(db):
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db)
    # Three mods; QuickBooks refuses two of them: Acme was edited in QuickBooks meanwhile (its
    # EditSequence moved on), someone holds Bolt open.
    run_cli("stage", "Customer", db=db, check=True, input=jsonl(
        {"id": "C1", "Name": "Acme Ltd", "Phone": "555-0199"},
        {"id": "C2", "Name": "Bolt Inc", "CreditLimit": 9000},
        {"id": "C3", "Name": "Cobalt Co", "Phone": "555-0300"},
    ))
    mods = by_name(pending(db))
    assert all(r["action"] == "mod" for r in mods.values())
    assert "Phone: 555-0100 → 555-0199" in mods["Acme Ltd"]["summary"]
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db, outcomes={
        "C1": ("error", 3200, "The provided edit sequence \"1\" is out-of-date."),
        "C2": ("error", 3170, "someone is editing it"),
    })
    errors = {e["name"]: e for e in json.loads(run_cli("errors", "--format", "json", db=db, check=True).stdout)}
    assert set(errors) == {"Acme Ltd", "Bolt Inc"}
    acme, bolt = errors["Acme Ltd"], errors["Bolt Inc"]
    assert set(acme) >= {"id", "name", "type", "direction", "status_code", "reason", "attempts", "last_tried", "actions"}
    assert acme["direction"] == "app → QB" and acme["status_code"] == 3200 and acme["attempts"] == 1
    assert acme["actions"] == ["retry", "fix-edit-sequence"] and bolt["actions"] == ["retry"]
    assert "EditSequence" in acme["reason"] and acme["last_tried"].endswith("Z")
    explained = json.loads(run_cli("errors", "--explain", "--format", "json", db=db, check=True).stdout)
    assert all(e["steps"] for e in explained)

    refused = run_cli("fix-edit-sequence", str(bolt["id"]), db=db)
    assert refused.returncode == 1 and "3170" in refused.stderr and len(refused.stderr.splitlines()) == 1
    run_cli("fix-edit-sequence", "--all", db=db, check=True)  # applies to 3200 only
    queue = {q["name"]: q for q in json.loads(run_cli("queue", "--format", "json", db=db, check=True).stdout)}
    assert set(queue) == {"Acme Ltd"} and queue["Acme Ltd"]["refresh_edit_sequence"] is True
    run_cli("retry", str(bolt["id"]), db=db, check=True)
    simulate_web_connector_run(db, outcomes={"C2": ("error", 3170, "someone is editing it")})
    errors = json.loads(run_cli("errors", "--format", "json", db=db, check=True).stdout)
    assert [(e["name"], e["attempts"]) for e in errors] == [("Bolt Inc", 2)]

    failed = json.loads(run_cli("failed", "--format", "json", db=db, check=True).stdout)
    assert [(f["name"], f["status_code"], f["resolved"]) for f in failed] == [
        ("Acme Ltd", 3200, True), ("Bolt Inc", 3170, False), ("Bolt Inc", 3170, False)]
    assert json.loads(run_cli("failed", "--since", "2999-01-01", "--format", "json", db=db, check=True).stdout) == []
    run_cli("retry", "--all", db=db, check=True)
    simulate_web_connector_run(db)
    assert json.loads(run_cli("errors", "--format", "json", db=db, check=True).stdout) == []
    assert len(json.loads(run_cli("failed", "--format", "json", db=db, check=True).stdout)) == 3  # history stays


def test_outcome_unknown_is_never_retried_blindly(db):
    run_cli("stage", "Customer", db=db, input=jsonl(CUSTOMERS[0]), check=True)
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db, outcomes={"C1": "unknown"})
    (error,) = json.loads(run_cli("errors", "--format", "json", db=db, check=True).stdout)
    assert error["actions"] == [] and error["outcome_unknown"] is True and "unknown" in error["reason"]
    refused = run_cli("retry", str(error["id"]), db=db)
    assert refused.returncode == 1 and "--force" in refused.stderr
    run_cli("retry", "--force", str(error["id"]), db=db, check=True)
    assert json.loads(run_cli("queue", "--format", "json", db=db, check=True).stdout)[0]["id"] == error["id"]
