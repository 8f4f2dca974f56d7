"""Every listing command in every format, parsed back: json, jsonl, csv and tsv agree."""

from __future__ import annotations

import csv
import io
import json

import pytest
from wizard_support import run_cli, simulate_web_connector_run

from qbsync.store import connections, open_store
from qbsync.sync import staging, wizard


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("formats") / "qbsync.db"
    with open_store(path, create=True) as store:
        conn = connections.add_connection(store, name="main", username="u", password_hash="h", import_types=["Customer"])
        staging.stage_lines(store, conn, "Customer", [
            json.dumps({"id": "C1", "Name": "Acme, \"the\" Ltd", "Phone": "555\t0100"}),
            json.dumps({"id": "C2", "Name": "Bolt Inc"}),
        ])
        wizard.approve(store, conn)
    simulate_web_connector_run(path, outcomes={"C2": ("error", 3200, "stale")},
                               imports=[("Customer", {"ListID": "80-9", "Name": "Zed", "EditSequence": "1"})])
    with open_store(path) as store:
        conn = connections.resolve_connection(store, None)
        staging.stage_lines(store, conn, "Customer", [json.dumps({"id": "C1", "Name": "Acme, \"the\" Ltd", "Phone": "1"})])
    return path


def cell(value):
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


COMMANDS = [
    ("pending",),
    ("errors",),
    ("failed",),
    ("status",),
    ("records", "Customer"),
    ("changes", "--since", "0"),
    ("queue",),
    ("connection", "list"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_formats_parse_back_and_agree(db, args):
    rows = json.loads(run_cli(*args, "--format", "json", db=db, check=True).stdout)
    lines = run_cli(*args, "--format", "jsonl", db=db, check=True).stdout.splitlines()
    assert [json.loads(line) for line in lines] == rows
    if args[0] != "queue":
        assert rows, f"{args} should have rows in this store"
    for fmt, delimiter in (("csv", ","), ("tsv", "\t")):
        text = run_cli(*args, "--format", fmt, db=db, check=True).stdout
        parsed = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
        assert len(parsed) == len(rows)
        for got, want in zip(parsed, rows):
            for column, value in got.items():
                assert value == cell(want[column]), (fmt, column)


def test_env_var_chooses_the_format(db):
    proc = run_cli("errors", db=db, env={"QBSYNC_FORMAT": "json"}, check=True)
    (error,) = json.loads(proc.stdout)
    assert error["actions"] == ["retry"] and error["status_code"] == 3200  # an add has no EditSequence to refresh


def test_empty_lists(tmp_path):
    path = tmp_path / "e.db"
    run_cli("init", db=path, check=True)
    run_cli("connection", "add", "x", "-u", "u", "--password-env", "PW", db=path, env={"PW": "pw"}, check=True)
    assert run_cli("queue", "--format", "json", db=path, check=True).stdout == "[]\n"
    assert run_cli("errors", "--format", "jsonl", db=path, check=True).stdout == ""
    table = run_cli("errors", db=path, check=True)
    assert table.stdout == "" and "Error Log is empty" in table.stderr


def test_show_in_every_format(db):
    (row,) = [r for r in json.loads(run_cli("pending", "--format", "json", db=db, check=True).stdout) if r["local_id"] == "C1"]
    full = json.loads(run_cli("show", str(row["id"]), "--format", "json", db=db, check=True).stdout)
    assert full["fields"] == [{"field": "Phone", "before": "555\t0100", "after": "1"}]
    parsed = list(csv.DictReader(io.StringIO(run_cli("show", str(row["id"]), "--format", "csv", db=db, check=True).stdout)))
    assert parsed == [{"field": "Phone", "before": "555\t0100", "after": "1"}]
    table = run_cli("show", str(row["id"]), db=db, check=True).stdout
    assert "Phone" in table and "before" in table
