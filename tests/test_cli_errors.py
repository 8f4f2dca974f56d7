"""Bad input: one clear line on stderr, the right exit code, and the store as it was."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from wizard_support import jsonl, run_cli

from qbsync.store import open_store


def dump(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [line for line in conn.iterdump() if "qbsync_migrations" not in line or "INSERT" not in line]
    finally:
        conn.close()


def one_line_error(proc, code, *words):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qbsync: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("errors") / "qbsync.db"
    run_cli("init", db=path, check=True)
    run_cli("connection", "add", "main", "-u", "qbwc", "--password-stdin", db=path, input="pw\n", check=True)
    run_cli("stage", "Customer", db=path, input=jsonl({"id": "C1", "Name": "Acme"}), check=True)
    return path


@pytest.mark.parametrize(
    "args, stdin, code, words",
    [
        (("show", "999"), None, 1, ["999"]),
        (("uncheck", "999"), None, 1, ["999"]),
        (("check", "1", "999"), None, 1, ["999"]),
        (("retry", "999"), None, 1, ["999"]),
        (("fix-edit-sequence", "999"), None, 1, ["999"]),
        (("retry", "1"), None, 1, ["not in the Error Log"]),
        (("show", "abc"), None, 2, ["abc"]),
        (("approve",), None, 2, ["--yes"]),
        (("approve", "--keep-unchecked", "--clear-unchecked", "--yes"), None, 2, ["not both"]),
        (("approve", "--uncheck", "999", "--yes"), None, 1, ["999"]),
        (("resolve", "999", "--use", "app"), None, 1, ["999"]),
        (("resolve", "1", "--use", "app"), None, 1, ["not in a conflict"]),
        (("resolve", "1"), None, 2, ["--use"]),
        (("resolve", "1", "--use", "nobody"), None, 2, ["nobody"]),
        (("stage", "Customer"), '{"id": "C2", "Name": "ok"}\n{"id": "C3", "Name": \n', 3, ["line 2", "malformed JSON"]),
        (("stage", "Customer"), '{"id": "C2", "Name": "ok"}\n[1, 2]\n', 3, ["line 2", "JSON object"]),
        (("stage", "Customer"), '{"id": "C2", "Name": "ok", "Colour": "red"}\n', 3, ["line 1", "Colour"]),
        (("stage", "Spaceship"), '{"id": "C2"}\n', 3, ["Spaceship", "Customer"]),
        (("stage", "Customer", "/nonexistent/file.jsonl"), None, 2, ["/nonexistent/file.jsonl"]),
        (("stage", "Customer", "--delete", "nobody"), None, 1, ["nobody"]),
        (("records", "Spaceship"), None, 3, ["Spaceship"]),
        (("pending", "--direction", "sideways"), None, 2, ["sideways"]),
        (("pending", "--connection", "other"), None, 1, ["other"]),
        # One rule: a bad option value is a usage error (2), bad data invalid input (3).
        (("failed", "--since", "yesterday"), None, 2, ["yesterday"]),
        (("failed", "--since", "2026-02-30"), None, 2, ["2026-02-30"]),
        (("changes", "--since", "abc"), None, 2, ["abc"]),
        (("pending", "--type", "Spaceship"), None, 2, ["Spaceship"]),
        (("uncheck", "--type", "Spaceship"), None, 2, ["Spaceship"]),
        (("connection", "set", "main", "--import-since", "2026-02-30"), None, 2, ["--import-since"]),
        (("connection", "set", "main", "--qbxml-version", "thirteen"), None, 2, ["--qbxml-version"]),
        (("connection", "set", "main", "--username", " "), None, 2, ["empty"]),
        (("connection", "add", "second", "-u", "qbwc2"), None, 2, ["--password-stdin"]),
        (("connection", "add", "main", "-u", "other", "--password-env", "HOME"), None, 1, ["already exists"]),
        (("connection", "remove", "main"), None, 2, ["--yes"]),
        (("connection", "set", "main", "--import", "Spaceship"), None, 2, ["Spaceship", "Customer", "Bill"]),
        (("connection", "add", "x", "--password-stdin"), "pw\n", 2, ["--username"]),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(db, args, stdin, code, words):
    before = dump(db)
    proc = run_cli(*args, db=db, input=stdin)
    one_line_error(proc, code, *words)
    assert dump(db) == before


def test_missing_store_is_not_created(tmp_path):
    path = tmp_path / "missing.db"
    for args in (("pending",), ("stage", "Customer"), ("status",), ("connection", "list")):
        one_line_error(run_cli(*args, db=path, input='{"id": "C1", "Name": "x"}\n'), 1, "qbsync init")
    assert not path.exists()


def test_foreign_files_are_refused_and_untouched(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE invoices (id)")
    conn.commit()
    conn.close()
    for path in (text, other):
        before = path.read_bytes()
        one_line_error(run_cli("pending", db=path), 1, "not a qbsync store")
        one_line_error(run_cli("init", db=path), 1, "not a qbsync store")
        assert path.read_bytes() == before


def test_read_only_store_reads_but_refuses_writes(db, tmp_path):
    ro = tmp_path / "ro.db"
    with open_store(db) as store:
        store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ro.write_bytes(db.read_bytes())
    os.chmod(ro, 0o444)
    try:
        before = ro.read_bytes()
        one_line_error(run_cli("stage", "Customer", db=ro, input=jsonl({"id": "C9", "Name": "x"})), 1, "read-only")
        one_line_error(run_cli("approve", "--yes", db=ro), 1, "read-only")
        assert json.loads(run_cli("pending", "--format", "json", db=ro, check=True).stdout)[0]["local_id"] == "C1"
        assert ro.read_bytes() == before
    finally:
        os.chmod(ro, 0o644)


def test_a_locked_store_exits_4(db):
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        proc = run_cli("uncheck", "1", db=db, env={"QBSYNC_BUSY_TIMEOUT": "0.3"})
        one_line_error(proc, 4, "locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_several_connections_need_a_choice(tmp_path):
    path = tmp_path / "two.db"
    run_cli("init", db=path, check=True)
    for name in ("north", "south"):
        run_cli("connection", "add", name, "-u", name, "--password-env", "PW", db=path, env={"PW": "x"}, check=True)
    one_line_error(run_cli("pending", db=path), 2, "--connection", "north", "south")
    assert run_cli("pending", "--connection", "south", "--count", db=path, check=True).stdout == "0\n"


def test_passwords_are_hashed_and_never_printed(db):
    out = run_cli("connection", "list", "--format", "json", db=db, check=True).stdout
    assert "password" not in out and "pw" not in json.loads(out)[0].values()
    with open_store(db, write=False) as store:
        stored = store.scalar("SELECT password_hash FROM connections WHERE name = 'main'")
    assert stored.startswith("scrypt$") and "pw" not in stored.split("$")[-1]
    from qbsync.sync.passwords import verify_password

    assert verify_password("pw", stored) and not verify_password("pw2", stored)
