"""Every listing command in every format, parsed back: json, jsonl, csv and tsv carry the same
keys in the same order and the same values (a csv/tsv cell is the JSON value as text: nested
values as compact JSON, None empty, booleans true/false)."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from typer.testing import CliRunner
from wizard_support import run_cli, simulate_web_connector_run

from qbsync.cli import app
from qbsync.store import connections, open_store
from qbsync.sync import staging, wizard

LISTINGS = {
    "pending": ("pending",),
    "pending --direction export": ("pending", "--direction", "export"),
    "errors": ("errors",),
    "errors --explain": ("errors", "--explain"),
    "failed": ("failed",),
    "status": ("status",),
    "records": ("records", "Customer"),
    "changes": ("changes", "--since", "0"),
    "queue": ("queue",),
    "connection list": ("connection", "list"),
    "explain --list": ("explain", "--list"),
}
DELIMITERS = {"csv": ",", "tsv": "\t"}


def invoke(*args: str, db, stdin: str | None = None, exit_code: int = 0) -> str:
    """`qbsync ARGS` in this process (no QBSYNC_FORMAT from the caller's shell); its stdout."""
    result = CliRunner().invoke(app, list(args), input=stdin, env={"QBSYNC_DB": str(db), "QBSYNC_FORMAT": None})
    assert result.exit_code == exit_code, (args, result.stderr, result.exception)
    return result.stdout


def cell(value) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def delimited(text: str, fmt: str) -> tuple[list[str], list[list[str]]]:
    header, *body = csv.reader(io.StringIO(text), delimiter=DELIMITERS[fmt])
    return header, body


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A store where every listing has rows: awaiting approval both ways, in the queue, in the
    Error Log (an error and an unknown outcome), Failed Syncs, the mirror and the feed."""
    path = tmp_path_factory.mktemp("formats") / "qbsync.db"
    with open_store(path, create=True) as store:
        conn = connections.add_connection(store, name="main", username="u", password_hash="h", import_types=["Customer"])
        staging.stage_lines(store, conn, "Customer", [
            json.dumps({"id": "C1", "Name": "Acme, \"the\" Ltd", "Phone": "555\t0100"}),
            json.dumps({"id": "C2", "Name": "Bolt Inc"}),
            json.dumps({"id": "C3", "Name": "Cobalt\nCo"}),
        ])
        wizard.approve(store, conn)
    simulate_web_connector_run(path, outcomes={"C2": ("error", 3100, "name in use"), "C3": "unknown"},
                               imports=[("Customer", {"ListID": "80-9", "Name": "Zed", "EditSequence": "1"})])
    with open_store(path) as store:
        conn = connections.resolve_connection(store, None)
        staging.stage_lines(store, conn, "Customer", [json.dumps({"id": "C4", "Name": "Dune"})])
        (queued,) = [r["id"] for r in wizard.pending(store, conn) if r["local_id"] == "C4"]
        wizard.approve(store, conn, only=[queued])
        staging.stage_lines(store, conn, "Customer", [json.dumps({"id": "C1", "Name": "Acme, \"the\" Ltd", "Phone": "1"})])
    return path


@pytest.fixture(scope="module")
def json_keys(db) -> dict[str, list[str]]:
    """Each listing's JSON keys, in order, from the store with data."""
    out = {}
    for name, args in LISTINGS.items():
        rows = json.loads(invoke(*args, "--format", "json", db=db))
        assert rows, f"{name} should have rows in this store"
        out[name] = list(rows[0])
    return out


@pytest.mark.parametrize("name", LISTINGS)
def test_csv_and_tsv_carry_exactly_the_json_keys_and_values(db, name):
    args = LISTINGS[name]
    rows = json.loads(invoke(*args, "--format", "json", db=db))
    assert rows, f"{name} should have rows in this store"
    keys = list(rows[0])
    assert all(list(row) == keys for row in rows), name
    assert [json.loads(line) for line in invoke(*args, "--format", "jsonl", db=db).splitlines()] == rows
    for fmt in DELIMITERS:
        header, body = delimited(invoke(*args, "--format", fmt, db=db), fmt)
        assert header == keys, (name, fmt)
        assert body == [[cell(row[k]) for k in keys] for row in rows], (name, fmt)


def test_the_store_has_values_that_need_quoting(db):
    """The comparison above means something: tabs, commas, quotes, newlines, nested values, None."""
    text = invoke("pending", "--format", "tsv", db=db) + invoke("errors", "--format", "csv", db=db)
    assert "\t0100" in text and '""the""' in text and "Cobalt\nCo" in text and '"[""retry""]"' in text and ",," in text


@pytest.mark.parametrize("name", LISTINGS)
def test_table_columns_are_json_keys(db, json_keys, name):
    """The table may show a readable subset, never a column the programs cannot find."""
    text = invoke(*LISTINGS[name], "--format", "text" if name == "explain --list" else "table", db=db)
    header = next(line for line in text.splitlines() if line and not line.startswith(("Import ", "Export ")))
    assert set(header.split()) <= set(json_keys[name]), name


def test_empty_listings_print_the_header_the_rows_would_have(db, json_keys, tmp_path):
    """`[]` for json, nothing for jsonl, and the same keys as a csv/tsv header."""
    no_connection = tmp_path / "none.db"
    with open_store(no_connection, create=True):
        pass
    one_connection = tmp_path / "one.db"
    shutil.copy(no_connection, one_connection)
    with open_store(one_connection) as store:
        connections.add_connection(store, name="main", username="u", password_hash="h")
    for name, args in LISTINGS.items():
        if name == "explain --list":
            continue  # never empty
        store = no_connection if name in ("status", "connection list") else one_connection
        assert invoke(*args, "--format", "json", db=store) == "[]\n", name
        assert invoke(*args, "--format", "jsonl", db=store) == "", name
        for fmt in DELIMITERS:
            assert delimited(invoke(*args, "--format", fmt, db=store), fmt) == (json_keys[name], []), (name, fmt)


def test_show_is_one_object_in_every_format(db):
    (row,) = [r for r in json.loads(invoke("pending", "--format", "json", db=db)) if r["local_id"] == "C1"]
    change = json.loads(invoke("show", str(row["id"]), "--format", "json", db=db))
    assert change["fields"] == [{"field": "Phone", "before": "555\t0100", "after": "1"}]
    assert json.loads(invoke("show", str(row["id"]), "--format", "jsonl", db=db)) == change
    for fmt in DELIMITERS:
        header, body = delimited(invoke("show", str(row["id"]), "--format", fmt, db=db), fmt)
        assert header == list(change) and body == [[cell(v) for v in change.values()]], fmt
    table = invoke("show", str(row["id"]), db=db)
    assert "Phone" in table and "before" in table


def test_stage_and_approve_results_agree_in_every_format(tmp_path):
    """The result rows of the commands that act: same keys and values in json, csv and tsv."""
    blank = tmp_path / "blank.db"
    with open_store(blank, create=True) as store:
        connections.add_connection(store, name="main", username="u", password_hash="h")
    lines = '{"id": "C1", "Name": "Acme"}\nnot json\n{"id": "C2", "Name": "Bolt"}\n'
    results = {}
    for fmt in ("json", *DELIMITERS):
        store = tmp_path / f"{fmt}.db"
        shutil.copy(blank, store)
        staged = invoke("stage", "Customer", "--skip-invalid", "--format", fmt, db=store, stdin=lines, exit_code=5)
        approved = invoke("approve", "--yes", "--format", fmt, db=store)
        results[fmt] = (staged, approved)
    (stage_row,), (approve_row,) = (json.loads(text) for text in results["json"])
    assert stage_row["skipped"][0]["line"] == 2 and len(stage_row["change_ids"]) == 2
    assert approve_row["queued"] == stage_row["change_ids"]
    for fmt in DELIMITERS:
        for text, row in zip(results[fmt], (stage_row, approve_row)):
            assert delimited(text, fmt) == (list(row), [[cell(v) for v in row.values()]]), fmt


def test_a_pipe_gets_the_same_data_as_the_runner(db):
    """The real program, stdout a pipe: csv next to json."""
    rows = json.loads(run_cli("errors", "--format", "json", db=db, check=True).stdout)
    header, body = delimited(run_cli("errors", "--format", "csv", db=db, check=True).stdout, "csv")
    assert header == list(rows[0]) and body == [[cell(v) for v in row.values()] for row in rows]


def test_env_var_chooses_the_format(db):
    proc = run_cli("errors", db=db, env={"QBSYNC_FORMAT": "json"}, check=True)
    error = next(e for e in json.loads(proc.stdout) if e["status_code"] == 3100)
    assert error["actions"] == ["retry"]


def test_empty_lists(tmp_path):
    path = tmp_path / "e.db"
    run_cli("init", db=path, check=True)
    run_cli("connection", "add", "x", "-u", "u", "--password-env", "PW", db=path, env={"PW": "pw"}, check=True)
    assert run_cli("queue", "--format", "json", db=path, check=True).stdout == "[]\n"
    assert run_cli("errors", "--format", "jsonl", db=path, check=True).stdout == ""
    table = run_cli("errors", db=path, check=True)
    assert table.stdout == "" and "Error Log is empty" in table.stderr


def test_explain_one_code_in_every_format(db):
    info = json.loads(invoke("explain", "3200", "--format", "json", db=db))
    assert info["code"] == 3200 and info["fix_edit_sequence_helps"] is True
    for fmt in DELIMITERS:
        header, body = delimited(invoke("explain", "3200", "--format", fmt, db=db), fmt)
        assert header == list(info) and body == [[cell(v) for v in info.values()]], fmt
    assert invoke("explain", "3200", db=db).startswith("Code: 3200")
