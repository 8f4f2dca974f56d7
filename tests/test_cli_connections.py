"""`qbsync init` and `qbsync connection add|list|set|passwd|remove`."""

from __future__ import annotations

import json

from wizard_support import run_cli

from qbsync.store import open_store
from qbsync.sync.passwords import verify_password


def stored_hash(db, name):
    with open_store(db, write=False) as store:
        return store.scalar("SELECT password_hash FROM connections WHERE name = ?", (name,))


def test_connection_lifecycle(tmp_path):
    db = tmp_path / "qbsync.db"
    first = run_cli("init", db=db, check=True)
    again = run_cli("init", db=db, check=True)
    assert "created" in first.stderr and "ready" in again.stderr and first.stdout == again.stdout == ""
    run_cli("connection", "add", "main", "--username", "qbwc", "--company-file", r"C:\QB\acme.qbw",
            "--import", "customer,Invoice", "--import-since", "2026-01-01", "--password-stdin",
            db=db, input="first pass\n", check=True)
    (row,) = json.loads(run_cli("connection", "list", "--format", "json", db=db, check=True).stdout)
    assert row["import_types"] == ["Customer", "Invoice"] and row["company_file"] == r"C:\QB\acme.qbw"
    assert row["import_since"] == "2026-01-01" and row["qbxml_version"] == "13.0"
    assert verify_password("first pass", stored_hash(db, "main"))

    run_cli("connection", "set", "main", "--rename", "acme", "--qbxml-version", "16.0", "--import", "Customer",
            db=db, check=True)
    (row,) = json.loads(run_cli("connection", "list", "--format", "json", db=db, check=True).stdout)
    assert (row["name"], row["qbxml_version"], row["import_types"]) == ("acme", "16.0", ["Customer"])

    run_cli("connection", "passwd", "acme", "--password-env", "NEWPW", db=db, env={"NEWPW": "second"}, check=True)
    assert verify_password("second", stored_hash(db, "acme")) and not verify_password("first pass", stored_hash(db, "acme"))

    # --connection is optional with one connection; the only one is used.
    assert run_cli("pending", "--count", db=db, check=True).stdout == "0\n"
    run_cli("connection", "remove", "acme", "--yes", db=db, check=True)
    assert json.loads(run_cli("connection", "list", "--format", "json", db=db, check=True).stdout) == []
    gone = run_cli("pending", db=db)
    assert gone.returncode == 1 and "connection add" in gone.stderr


def test_a_password_is_never_an_argument(tmp_path):
    db = tmp_path / "qbsync.db"
    run_cli("init", db=db, check=True)
    proc = run_cli("connection", "add", "main", "--username", "u", "--password", "hunter2", db=db)
    assert proc.returncode == 2
    proc = run_cli("connection", "add", "main", "--username", "u", "--password-stdin", db=db, input="\n")
    assert proc.returncode == 3 and "empty" in proc.stderr


def test_import_since_is_stored_in_utc(tmp_path):
    """`--import-since` with an offset is stored as the same moment in UTC; a bare date stays a
    date (midnight UTC); nonsense is refused with exit 2 (a bad option value) and the stored value is kept."""
    db = tmp_path / "qbsync.db"
    run_cli("init", db=db, check=True)
    run_cli("connection", "add", "main", "--username", "qbwc", "--import-since", "2026-03-01T10:00:00+02:00",
            "--password-stdin", db=db, input="pw\n", check=True)

    def stored() -> str | None:
        (row,) = json.loads(run_cli("connection", "list", "--format", "json", db=db, check=True).stdout)
        return row["import_since"]

    assert stored() == "2026-03-01T08:00:00Z"
    for given, expected in [
        ("2026-02-28T23:30:00-05:00", "2026-03-01T04:30:00Z"),  # crosses midnight into the next day
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
        ("2026-03-01T10:00:00", "2026-03-01T10:00:00Z"),  # no offset: UTC
        ("2026-03-01", "2026-03-01"),  # a date: midnight UTC of that day
    ]:
        run_cli("connection", "set", "main", "--import-since", given, db=db, check=True)
        assert stored() == expected, given
    refused = run_cli("connection", "set", "main", "--import-since", "2026-03-01T25:00:00+02:00", db=db)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "--import-since" in refused.stderr
    assert stored() == "2026-03-01"
