"""Issue 9 §3, "Both sides changed the same record": an export and an import awaiting approval
for one record are one change in the wizard, a conflict, until `qbsync resolve ID --use
app|quickbooks` picks a side. The situation is made through the real layers: a customer synced
by a Web Connector run (FakeQuickBooks), the app staging it again, QuickBooks editing it (the
fake company's own edit) and the session library recording what QuickBooks reported
(`delivery.record_import`: the service does not detect imports yet)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from wizard_support import company_for, jsonl, run_cli, simulate_web_connector_run

from qbsync.store import changes as store_changes
from qbsync.store import connections, open_store, records
from qbsync.sync import delivery, wizard

ACME = {"id": "C1", "Name": "Acme", "Phone": "555-0100"}
BOLT = {"id": "C2", "Name": "Bolt"}


@dataclass
class Conflict:
    db: Path
    export_id: int
    import_id: int
    other_id: int  # an ordinary change beside the conflict (Bolt's new phone)
    qb_id: str
    es: str  # QuickBooks' EditSequence when the import was found


def as_json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def cli(db, *args, **kw):
    return run_cli(*args, db=db, **kw)


def record_import(db, data, **kw):
    with open_store(db) as store:
        return delivery.record_import(store, connections.resolve_connection(store, None), "Customer", data, **kw)


def change(db, change_id):
    with open_store(db) as store:
        return store_changes.get_change(store, change_id)


def mirror(db, local_id="C1"):
    with open_store(db) as store:
        return records.get_record(store, connections.resolve_connection(store, None)["id"], "Customer", local_id)


def feed(db):
    return [json.loads(line) for line in as_json_lines(cli(db, "changes", "--since", "0"))]


def as_json_lines(proc):
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


@pytest.fixture
def conflict(tmp_path) -> Conflict:
    db = tmp_path / "qbsync.db"
    cli(db, "init", check=True)
    cli(db, "connection", "add", "main", "-u", "qbwc", "--password-stdin", input="pw\n", check=True)
    cli(db, "stage", "Customer", input=jsonl(ACME, BOLT), check=True)
    cli(db, "approve", "--yes", check=True)
    assert len(simulate_web_connector_run(db)["synced"]) == 2
    qb_id = mirror(db)["qb_id"]
    # The app changes the phone; so does someone in QuickBooks, who also adds an email.
    (staged,) = as_json(cli(db, "stage", "Customer", "--format", "json",
                            input=jsonl({**ACME, "Phone": "555-0199"}, {**BOLT, "Phone": "555-0300"})))
    export_id, other_id = staged["change_ids"]
    ret = company_for(db).edit("Customer", qb_id, {"Phone": "555-0142", "Email": "ap@acme.example"})
    import_id = record_import(db, ret)
    assert import_id is not None
    return Conflict(db, export_id, import_id, other_id, qb_id, ret["EditSequence"])


# -- the wizard shows one change -------------------------------------------------------------------


def test_pending_shows_the_pair_as_one_row_marked_conflict(conflict):
    db = conflict.db
    rows = as_json(cli(db, "pending", "--format", "json"))
    assert [(r["id"], r["conflict"], r["conflict_with"]) for r in rows] == [
        (conflict.export_id, True, conflict.import_id), (conflict.other_id, False, None)]
    row = rows[0]
    assert row["direction"] == "export" and row["action"] == "mod" and row["checked"] is False
    assert row["summary"] == "conflict: app changed Phone; QuickBooks changed Phone, Email"
    assert row["qb_id"] == conflict.qb_id
    # Every key of every row, in the documented order, and the same in csv.
    from qbsync.commands.wizard import PENDING_KEYS

    assert all(tuple(r) == PENDING_KEYS for r in rows)
    parsed = list(csv.DictReader(io.StringIO(cli(db, "pending", "--format", "csv").stdout)))
    assert [(r["id"], r["conflict"], r["conflict_with"]) for r in parsed] == [
        (str(conflict.export_id), "true", str(conflict.import_id)), (str(conflict.other_id), "false", "")]
    # Counted once: the badge and status agree.
    assert cli(db, "pending", "--count").stdout == "2\n"
    (status,) = as_json(cli(db, "status", "--format", "json"))
    assert (status["awaiting_import"], status["awaiting_export"], status["awaiting"]) == (1, 2, 2)


def test_pending_table_shows_the_conflict_in_the_export_section_and_how_to_resolve_it(conflict):
    proc = cli(conflict.db, "pending")
    assert proc.returncode == 0, proc.stderr
    imports, exports = proc.stdout.split("Export to QuickBooks")
    assert "Import from QuickBooks (0)" in imports and exports.startswith(" (2)")
    line = next(x for x in exports.splitlines() if x.startswith(str(conflict.export_id)))
    assert "conflict: app changed Phone; QuickBooks changed Phone, Email" in line
    assert proc.stderr == f"1 conflict waits: qbsync resolve {conflict.export_id} --use app|quickbooks\n"
    # It concerns both directions: asked for imports only, it is there too.
    only_imports = cli(conflict.db, "pending", "--direction", "import")
    assert "Import from QuickBooks (1)" in only_imports.stdout and "conflict:" in only_imports.stdout
    assert [r["id"] for r in as_json(cli(conflict.db, "pending", "-d", "import", "-f", "json"))] == [conflict.export_id]


def test_show_either_id_gives_both_versions(conflict):
    db = conflict.db
    for cid in (conflict.export_id, conflict.import_id):
        shown = as_json(cli(db, "show", str(cid), "--format", "json"))
        assert shown["id"] == cid and shown["conflict"] is True and shown["checked"] is False
        assert shown["conflict_with"] == ({conflict.export_id, conflict.import_id} - {cid}).pop()
        assert "conflict" in shown["summary"]
        app, qb = shown["app"], shown["quickbooks"]
        assert (app["id"], app["action"], app["payload"]) == (conflict.export_id, "mod", {"Phone": "555-0199"})
        assert app["fields"] == [{"field": "Phone", "before": "555-0100", "after": "555-0199"}]
        assert (qb["id"], qb["edit_sequence"], qb["payload"]["Phone"]) == (conflict.import_id, conflict.es, "555-0142")
        assert {f["field"] for f in qb["fields"]} == {"Phone", "Email"}
    table = cli(db, "show", str(conflict.import_id))
    assert table.returncode == 0, table.stderr
    assert f"the app (change {conflict.export_id}, mod) and QuickBooks (change {conflict.import_id}, mod" in table.stdout
    phone = next(x for x in table.stdout.splitlines() if x.startswith("Phone"))
    email = next(x for x in table.stdout.splitlines() if x.startswith("Email"))
    assert phone.split() == ["Phone", "555-0100", "555-0199", "555-0142"]
    assert email.split() == ["Email", "(unchanged)", "ap@acme.example"]
    # An ordinary change says it is none.
    plain = as_json(cli(db, "show", str(conflict.other_id), "--format", "json"))
    assert plain["conflict"] is False and plain["conflict_with"] is None and "app" not in plain


# -- approve leaves it waiting, and says so --------------------------------------------------------


@pytest.mark.parametrize("extra", [[], ["--clear-unchecked"], ["--keep-unchecked"]])
def test_approve_leaves_a_conflict_awaiting_and_says_so(conflict, extra):
    db = conflict.db
    proc = cli(db, "approve", "--yes", *extra, "--format", "json")
    (result,) = as_json(proc)
    assert result == {"queued": [conflict.other_id], "held": [], "cleared": [], "conflicts": [conflict.export_id]}
    assert f"1 conflict waits: qbsync resolve {conflict.export_id} --use app|quickbooks" in proc.stderr
    assert [change(db, i)["status"] for i in (conflict.export_id, conflict.import_id)] == ["awaiting", "awaiting"]
    # Even --quiet tells (something was left undone), and a second approve leaves it again.
    again = cli(db, "approve", "--yes", "--quiet")
    assert again.returncode == 0 and again.stderr == (
        f"1 conflict waits: qbsync resolve {conflict.export_id} --use app|quickbooks\n")
    assert [r["id"] for r in as_json(cli(db, "pending", "-f", "json"))] == [conflict.export_id]


def test_approve_with_either_conflict_id_unchecked_still_leaves_it(conflict):
    db = conflict.db
    (result,) = as_json(cli(db, "approve", "--uncheck", str(conflict.import_id), "--uncheck", str(conflict.other_id),
                            "--clear-unchecked", "--yes", "--format", "json"))
    assert result == {"queued": [], "held": [], "cleared": [conflict.other_id], "conflicts": [conflict.export_id]}
    assert [change(db, i)["status"] for i in (conflict.export_id, conflict.import_id)] == ["awaiting", "awaiting"]


def test_approve_only_what_was_shown_never_touches_a_conflict(conflict):
    with open_store(conflict.db) as store:
        conn = connections.resolve_connection(store, None)
        result = wizard.approve(store, conn, only=[conflict.export_id, conflict.import_id, conflict.other_id],
                                unchecked="clear")
    assert result == {"queued": [conflict.other_id], "cleared": [], "conflicts": [conflict.export_id]}
    assert change(conflict.db, conflict.import_id)["status"] == "awaiting"


def test_approve_on_a_terminal_says_the_conflict_stays(conflict):
    from test_cli_interactive import run_on_terminal

    code, text = run_on_terminal(conflict.db, ["approve"], b"y\n")
    assert code == 0, text
    assert "Approve 1 change (0 import, 1 export); 1 conflict stays waiting" in text
    assert f"1 conflict waits: qbsync resolve {conflict.export_id} --use app|quickbooks" in text
    assert [change(conflict.db, i)["status"] for i in (conflict.export_id, conflict.import_id, conflict.other_id)] == [
        "awaiting", "awaiting", "queued"]


def test_check_and_uncheck_refuse_a_conflict_by_id_and_skip_it_in_bulk(conflict):
    db = conflict.db
    for verb in ("check", "uncheck"):
        proc = cli(db, verb, str(conflict.other_id), str(conflict.import_id))
        assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"change {conflict.import_id} is a conflict" in proc.stderr
        assert f"qbsync resolve {conflict.export_id} --use app|quickbooks" in proc.stderr
    assert change(db, conflict.other_id)["checked"] is True  # nothing was changed
    bulk = cli(db, "uncheck", "--type", "Customer")
    assert bulk.returncode == 0 and bulk.stderr == f"unchecked 1 change: {conflict.other_id}\n"
    assert change(db, conflict.export_id)["checked"] is True and change(db, conflict.import_id)["checked"] is True


# -- resolve: errors -------------------------------------------------------------------------------


def test_resolve_refuses_what_is_not_a_conflict_and_changes_nothing(conflict):
    db = conflict.db
    before = as_json(cli(db, "pending", "-f", "json"))
    cases = [
        (("resolve", "999", "--use", "app"), 1, "no change with id 999"),
        (("resolve", str(conflict.other_id), "--use", "app"), 1, "is not in a conflict"),
        (("resolve", str(conflict.export_id), "--use", "both"), 2, "both"),
        (("resolve", str(conflict.export_id)), 2, "--use"),
        (("resolve", "abc", "--use", "app"), 2, "abc"),
    ]
    for args, code, words in cases:
        proc = cli(db, *args)
        assert (proc.returncode, proc.stdout) == (code, ""), (args, proc.stderr)
        assert words in proc.stderr and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert as_json(cli(db, "pending", "-f", "json")) == before
    # Once settled, a change is no conflict any more.
    cli(db, "resolve", str(conflict.export_id), "--use", "app", check=True)
    proc = cli(db, "resolve", str(conflict.import_id), "--use", "quickbooks")
    assert proc.returncode == 1 and "is not awaiting approval" in proc.stderr


def test_use_app_is_refused_when_quickbooks_deleted_the_record(tmp_path):
    db = tmp_path / "qbsync.db"
    cli(db, "init", check=True)
    cli(db, "connection", "add", "main", "-u", "qbwc", "--password-stdin", input="pw\n", check=True)
    cli(db, "stage", "Customer", input=jsonl(ACME), check=True)
    cli(db, "approve", "--yes", check=True)
    simulate_web_connector_run(db)
    qb_id = mirror(db)["qb_id"]
    cli(db, "stage", "Customer", input=jsonl({**ACME, "Phone": "555-0199"}), check=True)
    company_for(db).delete("Customer", qb_id)
    import_id = record_import(db, {"ListID": qb_id, "ListDelType": "Customer"}, deleted=True)
    (row,) = as_json(cli(db, "pending", "-f", "json"))
    assert row["conflict_with"] == import_id
    assert row["summary"] == "conflict: app changed Phone; QuickBooks deleted it"
    proc = cli(db, "resolve", str(import_id), "--use", "app")
    assert proc.returncode == 1 and "QuickBooks deleted Customer C1" in proc.stderr
    assert change(db, import_id)["status"] == "awaiting"
    (kept, dropped) = as_json(cli(db, "resolve", str(import_id), "--use", "quickbooks", "-f", "json"))
    assert (kept["id"], kept["action"], kept["status"], dropped["status"]) == (import_id, "delete", "awaiting", "cleared")


# -- resolve --use app -----------------------------------------------------------------------------


def test_use_app_sends_the_apps_change_with_the_edit_sequence_seen_at_detection(conflict):
    db = conflict.db
    proc = cli(db, "resolve", str(conflict.import_id), "--use", "app", "--format", "json")
    kept, dropped = as_json(proc)
    assert proc.stderr == (f"change {conflict.export_id}: the app's version goes (checked; approve to send it); "
                           f"QuickBooks' change {conflict.import_id} cleared\n")
    assert (kept["id"], kept["status"], kept["checked"], kept["direction"]) == (conflict.export_id, "awaiting", True, "export")
    assert conflict.es in kept["note"] and "Email kept" in kept["note"]
    assert (dropped["id"], dropped["status"]) == (conflict.import_id, "cleared")
    assert "the app's version was chosen" in dropped["note"]
    # The mirror holds what QuickBooks had at detection; the field only QuickBooks changed is its value.
    rec = mirror(db)
    assert rec["edit_sequence"] == conflict.es and rec["qb_data"]["Email"] == "ap@acme.example"
    assert rec["data"]["Email"] == "ap@acme.example" and rec["data"]["Phone"] == "555-0142"
    # An ordinary checked change now; that QuickBooks version does not come back as an import.
    (row,) = [r for r in as_json(cli(db, "pending", "-f", "json")) if r["id"] == conflict.export_id]
    assert (row["conflict"], row["checked"], row["summary"]) == (False, True, "Phone: 555-0142 → 555-0199")
    assert record_import(db, company_for(db).get("Customer", conflict.qb_id)) is None
    cli(db, "approve", "--yes", check=True)
    report = simulate_web_connector_run(db)
    assert sorted(report["synced"]) == sorted([conflict.export_id, conflict.other_id]) and report["error"] == []
    in_qb = company_for(db).get("Customer", conflict.qb_id)
    assert (in_qb["Phone"], in_qb["Email"]) == ("555-0199", "ap@acme.example")
    entry = [e for e in feed(db) if e["change_id"] == conflict.export_id][-1]
    assert entry["result"] == "synced" and entry["data"]["Email"] == "ap@acme.example"
    rec = mirror(db)
    assert (rec["data"]["Phone"], rec["data"]["Email"]) == ("555-0199", "ap@acme.example")
    # The app staging its old phone again is a change: QuickBooks has 555-0199 now.
    (again,) = as_json(cli(db, "stage", "Customer", "-f", "json", input=jsonl(ACME)))
    assert again["modified"] == 1


def test_after_use_app_staging_back_the_old_value_is_a_change_not_a_no_op(conflict):
    """QuickBooks has 555-0142: the app going back to 555-0100 must reach QuickBooks."""
    db = conflict.db
    cli(db, "resolve", str(conflict.export_id), "--use", "app", check=True)
    (staged,) = as_json(cli(db, "stage", "Customer", "-f", "json", input=jsonl(ACME)))
    assert (staged["updated"], staged["cleared"], staged["change_ids"]) == (1, 0, [conflict.export_id])
    assert change(db, conflict.export_id)["payload"] == {"Phone": "555-0100"}


def test_use_app_gets_3200_when_quickbooks_changed_the_record_again_since(conflict):
    db = conflict.db
    cli(db, "resolve", str(conflict.export_id), "--use", "app", check=True)
    company_for(db).edit("Customer", conflict.qb_id, {"Fax": "555-0000"})  # after detection
    cli(db, "approve", "--yes", check=True)
    report = simulate_web_connector_run(db)
    assert report["error"] == [conflict.export_id]
    failed = change(db, conflict.export_id)
    assert (failed["status"], failed["status_code"]) == ("error", 3200)
    assert company_for(db).get("Customer", conflict.qb_id)["Phone"] == "555-0142"


# -- resolve --use quickbooks ----------------------------------------------------------------------


def test_use_quickbooks_drops_the_apps_change_tells_the_app_and_leaves_quickbooks_alone(conflict):
    db = conflict.db
    before = company_for(db).get("Customer", conflict.qb_id)
    cursor = feed(db)[-1]["cursor"]
    proc = cli(db, "resolve", str(conflict.export_id), "--use", "quickbooks", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    kept, dropped = csv.DictReader(io.StringIO(proc.stdout))
    assert (kept["id"], kept["direction"], kept["status"], kept["checked"]) == (str(conflict.import_id), "import", "awaiting", "true")
    assert (dropped["id"], dropped["status"]) == (str(conflict.export_id), "cleared")
    assert "QuickBooks is not changed" in proc.stderr and "feed: dropped" in proc.stderr
    # The feed tells the app its change was dropped.
    (entry,) = [e for e in feed(db) if e["cursor"] > cursor]
    assert (entry["result"], entry["change_id"], entry["direction"], entry["local_id"], entry["qb_id"]) == (
        "dropped", conflict.export_id, "export", "C1", conflict.qb_id)
    assert "QuickBooks' version" in entry["status_message"] and entry["data"] is None
    # An ordinary import now; approved, the next run applies it and sends nothing for C1.
    (row,) = [r for r in as_json(cli(db, "pending", "-f", "json")) if r["id"] == conflict.import_id]
    assert (row["conflict"], row["checked"], row["direction"]) == (False, True, "import")
    cli(db, "approve", "--yes", check=True)
    report = simulate_web_connector_run(db)
    assert report["applied"] == [conflict.import_id] and report["synced"] == [conflict.other_id]
    assert company_for(db).get("Customer", conflict.qb_id) == before  # QuickBooks untouched
    rec = mirror(db)
    assert (rec["data"]["Phone"], rec["data"]["Email"], rec["edit_sequence"]) == ("555-0142", "ap@acme.example", conflict.es)
    assert [e["result"] for e in feed(db) if e["cursor"] > cursor] == ["dropped", "applied", "synced"]


def test_after_use_quickbooks_the_same_app_values_do_not_bring_the_conflict_back(conflict):
    db = conflict.db
    cli(db, "resolve", str(conflict.export_id), "--use", "quickbooks", check=True)
    (same,) = as_json(cli(db, "stage", "Customer", "-f", "json", input=jsonl({**ACME, "Phone": "555-0199"})))
    assert (same["unchanged"], same["change_ids"]) == (1, [])
    assert [r["conflict"] for r in as_json(cli(db, "pending", "-f", "json"))] == [False, False]
    # A new value is a new change: while QuickBooks' change still awaits, a new conflict.
    (new,) = as_json(cli(db, "stage", "Customer", "-f", "json", input=jsonl({**ACME, "Phone": "555-0777"})))
    (row,) = [r for r in as_json(cli(db, "pending", "-f", "json")) if r["conflict"]]
    assert row["id"] == new["change_ids"][0] != conflict.export_id and row["conflict_with"] == conflict.import_id
