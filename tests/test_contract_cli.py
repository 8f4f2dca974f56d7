"""The issue texts as contracts, checked through the real CLI (run in process): the flags,
JSON keys and exit codes a script relies on, and what a new user tries first."""

from __future__ import annotations

import csv
import io
import json

import pytest
from wizard_support import jsonl, run_cli, simulate_web_connector_run

CUSTOMERS = [{"id": "C1", "Name": "Acme Ltd"}, {"id": "C2", "Name": "Bolt Inc"}, {"id": "C3", "Name": "Cobalt Co"}]


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    run_cli("init", db=path, check=True)
    run_cli("connection", "add", "main", "--username", "qbwc", "--import", "Customer", "--password-stdin", db=path, input="s3cret\n", check=True)
    return path


def as_json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def pending(db, *args):
    return as_json(run_cli("pending", "--format", "json", *args, db=db))


# -- approve --uncheck ID ... -----------------------------------------------------------------


def test_approve_uncheck_takes_several_ids_after_one_flag(db):
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    ids = {r["name"]: r["id"] for r in pending(db)}
    proc = run_cli("approve", "--uncheck", str(ids["Acme Ltd"]), str(ids["Bolt Inc"]), "--yes", "--format", "json", db=db)
    (result,) = as_json(proc)
    assert result["queued"] == [ids["Cobalt Co"]]
    assert sorted(result["held"]) == sorted([ids["Acme Ltd"], ids["Bolt Inc"]])


def test_approve_refuses_bare_ids_and_approves_nothing(db):
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    first = pending(db)[0]["id"]
    proc = run_cli("approve", str(first), "--yes", db=db)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("qbsync: error: ") and proc.stderr.count("\n") == 1 and "--uncheck" in proc.stderr
    assert len(pending(db)) == 3  # nothing approved


def test_approve_usage_line_shows_the_uncheck_form():
    out = run_cli("approve", "--help").stdout
    assert "[--uncheck ID]..." in out and "more_unchecked" not in out


# -- --direction in any case, like TYPE ----------------------------------------------------------


def test_direction_is_case_insensitive(db):
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS[:1]), check=True)
    simulate_web_connector_run(db, imports=[("Customer", {"ListID": "800000AA-1", "Name": "Zed", "EditSequence": "1"})])
    assert [r["direction"] for r in pending(db, "--direction", "Import")] == ["import"]
    table = run_cli("pending", "--direction", "EXPORT", db=db, check=True).stdout
    assert "Export to QuickBooks (1)" in table and "Import from QuickBooks" not in table
    proc = run_cli("uncheck", "--direction", "IMPORT", db=db)
    assert proc.returncode == 0, proc.stderr
    assert [r["checked"] for r in pending(db, "--direction", "import")] == [False]
    bad = run_cli("pending", "--direction", "sideways", db=db)
    assert bad.returncode == 2 and "import or export" in bad.stderr


# -- connection set --import-since "" clears it (null, not "") -------------------------------------


def test_clearing_import_since_gives_null(db):
    run_cli("connection", "set", "main", "--import-since", "2026-01-01", db=db, check=True)
    (row,) = as_json(run_cli("connection", "list", "--format", "json", db=db))
    assert row["import_since"] == "2026-01-01"
    run_cli("connection", "set", "main", "--import-since", "", db=db, check=True)
    (row,) = as_json(run_cli("connection", "list", "--format", "json", db=db))
    assert row["import_since"] is None
    assert "password" not in json.dumps(row).lower()


# -- status: the awaiting total next to import/export ----------------------------------------------


def test_status_json_has_the_awaiting_total_of_pending_count(db):
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    simulate_web_connector_run(db, imports=[("Customer", {"ListID": "800000AA-1", "Name": "Zed", "EditSequence": "1"})])
    (row,) = as_json(run_cli("status", "--format", "json", db=db))
    assert (row["awaiting_import"], row["awaiting_export"], row["awaiting"]) == (1, 3, 4)
    assert run_cli("pending", "--count", db=db, check=True).stdout.strip() == "4"
    assert run_cli("status", "--check", db=db).returncode == 1


# -- the feed: an export error names the QuickBooks record it concerns ----------------------------


def test_feed_error_entry_of_a_mod_carries_the_qb_id(db):
    run_cli("stage", "Customer", db=db, input=jsonl(CUSTOMERS[0]), check=True)
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db)
    (record,) = as_json(run_cli("records", "Customer", "--format", "json", db=db))
    run_cli("stage", "Customer", db=db, input=jsonl({**CUSTOMERS[0], "Phone": "555-0199"}), check=True)
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db, outcomes={"C1": ("error", 3200, "stale")})
    proc = run_cli("changes", "--since", "1", db=db)
    assert proc.returncode == 0, proc.stderr
    (entry,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert entry["result"] == "error" and entry["status_code"] == 3200 and entry["cursor"] == 2
    assert entry["qb_id"] == record["qb_id"] and entry["local_id"] == "C1"


# -- --help everywhere has an example --------------------------------------------------------------


@pytest.mark.parametrize("command", [
    ["connection"], ["connection", "add"], ["connection", "list"], ["connection", "set"], ["connection", "remove"],
    ["connection", "passwd"], ["init"], ["stage"], ["pending"], ["show"], ["check"], ["uncheck"], ["approve"], ["resolve"],
    ["queue"], ["errors"], ["failed"], ["retry"], ["fix-edit-sequence"], ["status"], ["records"], ["changes"],
    ["validate"], ["explain"], ["simulate"], ["serve-connector"], ["qwc"], ["replay"],
])
def test_every_help_has_an_example(command):
    proc = run_cli(*command, "--help")
    assert proc.returncode == 0 and "Example" in proc.stdout and "qbsync " in proc.stdout, proc.stdout


# -- qwc: the file always has a Scheduler ---------------------------------------------------------


def test_qwc_always_has_a_scheduler(db):
    proc = run_cli("qwc", "main", "--url", "https://sync.example.com/qbwc", db=db)
    assert proc.returncode == 0, proc.stderr
    assert "<Scheduler><RunEveryNMinutes>15</RunEveryNMinutes></Scheduler>" in proc.stdout
    for element in ("AppName", "AppID", "AppURL", "AppDescription", "AppSupport", "UserName", "OwnerID", "FileID",
                    "QBType", "IsReadOnly", "Style"):
        assert f"<{element}>" in proc.stdout
    five = run_cli("qwc", "main", "--url", "https://sync.example.com/qbwc", "--every-minutes", "5", db=db)
    assert "<RunEveryNMinutes>5</RunEveryNMinutes>" in five.stdout


# -- every listing command in every format, by flag and by QBSYNC_FORMAT ----------------------------

LISTINGS = [
    ["pending"], ["queue"], ["errors"], ["errors", "--explain"], ["failed"], ["failed", "--since", "2020-01-01"],
    ["status"], ["records", "Customer"], ["changes", "--since", "0"], ["connection", "list"],
]


@pytest.fixture(scope="module")
def busy_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("busy") / "qbsync.db"
    run_cli("init", db=db, check=True)
    run_cli("connection", "add", "main", "--username", "qbwc", "--password-stdin", db=db, input="s3cret\n", check=True)
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db, outcomes={"C3": ("error", 3100, "name in use")})
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C4", "Name": "Delta"}), check=True)
    run_cli("approve", "--yes", db=db, check=True)  # the queue
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C1", "Name": "Acme Ltd", "Phone": "1"}), check=True)
    return db


def _parse(fmt: str, text: str) -> list:
    if fmt == "json":
        return json.loads(text)
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    rows = list(csv.reader(io.StringIO(text), delimiter="," if fmt == "csv" else "\t"))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "tsv"])
def test_listing_commands_parse_back_in_every_format(busy_db, fmt):
    for command in LISTINGS:
        by_flag = run_cli(*command, "--format", fmt, db=busy_db)
        assert by_flag.returncode == 0, (command, by_flag.stderr)
        if command in (["pending"], ["errors"]):  # the env var stands in for the flag
            assert run_cli(*command, db=busy_db, env={"QBSYNC_FORMAT": fmt}).stdout == by_flag.stdout, command
        rows = _parse(fmt, by_flag.stdout)
        assert rows, (command, fmt)
    (err,) = _parse(fmt, run_cli("errors", "--format", fmt, db=busy_db).stdout)
    for key in ("id", "name", "type", "direction", "status_code", "reason", "attempts", "last_tried", "actions"):
        assert key in err
    assert err["direction"] == "app → QB"


# -- blank names, ids given twice --------------------------------------------------------------


# The NAME argument is data (exit 3); an option's value is a usage error (exit 2).
@pytest.mark.parametrize("args, code", [
    (["connection", "add", "", "--username", "other", "--password-stdin"], 3),
    (["connection", "add", "  ", "--username", "other", "--password-stdin"], 3),
    (["connection", "add", "other", "--username", "", "--password-stdin"], 2),
    (["connection", "set", "main", "--username", " "], 2),
    (["connection", "set", "main", "--rename", ""], 2),
])
def test_blank_connection_name_or_username_is_refused(db, args, code):
    proc = run_cli(*args, db=db, input="pw\n")
    assert proc.returncode == code and proc.stdout == ""
    assert proc.stderr.startswith("qbsync: error: ") and "cannot be empty" in proc.stderr
    (row,) = as_json(run_cli("connection", "list", "--format", "json", db=db))
    assert (row["name"], row["username"]) == ("main", "qbwc")  # nothing changed


def test_an_id_given_twice_counts_once(db):
    run_cli("stage", "Customer", db=db, input=jsonl(*CUSTOMERS), check=True)
    ids = [r["id"] for r in pending(db)]
    proc = run_cli("uncheck", str(ids[0]), f"{ids[0]},{ids[0]}", db=db)
    assert proc.returncode == 0 and "unchecked 1 change:" in proc.stderr
    proc = run_cli("stage", "Customer", "--delete", "C2", "--delete", "C2", "--format", "json", db=db)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["cleared"] == 1 and result["read"] == 1
    assert sorted(r["name"] for r in pending(db)) == ["Acme Ltd", "Cobalt Co"]


def test_import_types_are_canonical_and_listed_once(db):
    proc = run_cli("connection", "set", "main", "--import", "customer, Customer,,invoice", db=db)
    assert proc.returncode == 0, proc.stderr
    (row,) = as_json(run_cli("connection", "list", "--format", "json", db=db))
    assert row["import_types"] == ["Customer", "Invoice"]
    bad = run_cli("connection", "set", "main", "--import", "Customer,Gadget", db=db)
    assert bad.returncode == 2 and "Gadget" in bad.stderr


def test_a_bad_date_names_the_field_without_the_add_element(db):
    bad = jsonl({"id": "I4", "CustomerRef": {"FullName": "Acme Ltd"}, "TxnDate": "2026-02-30"})
    proc = run_cli("stage", "Invoice", db=db, input=bad)
    assert proc.returncode == 3 and proc.stderr.startswith("qbsync: error: line 1: TxnDate: ")
    proc = run_cli("stage", "Invoice", "--skip-invalid", "--format", "json", db=db, input=bad)
    assert proc.returncode == 5  # lines were skipped
    (result,) = json.loads(proc.stdout)
    assert [(p["line"], p["field"]) for p in result["skipped"]] == [(1, "TxnDate")]
