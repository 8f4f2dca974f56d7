"""The root command: a global --db, one-line usage errors, the version."""

from __future__ import annotations

import os
import subprocess
import sys

from qbsync.qbxml import check_fields


def qbsync(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "qbsync", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_global_db_option_applies_to_the_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "QBSYNC_DB"}
    store = tmp_path / "elsewhere.db"
    assert qbsync("--db", str(store), "init", cwd=tmp_path, env=env).returncode == 0
    assert store.exists() and not (tmp_path / "qbsync.db").exists()
    proc = qbsync("--db", str(store), "pending", "--count", cwd=tmp_path, env=env)
    assert proc.returncode == 1 and "no connection yet" in proc.stderr  # it opened that store


def test_usage_errors_are_one_line_with_exit_2(tmp_path):
    for args in (["nosuch"], ["pending", "--bogus"], ["explain", "3200", "--format", "yaml"]):
        proc = qbsync(*args, cwd=tmp_path)
        assert proc.returncode == 2, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("qbsync: error: ") and "--help" in lines[0], proc.stderr


def test_version(tmp_path):
    proc = qbsync("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("qbsync ")


def test_impossible_dates_are_named_in_plain_words():
    (problem,) = check_fields("InvoiceAdd", {"CustomerRef": {"FullName": "A"}, "TxnDate": "2026-13-45"})
    assert problem.path.endswith("TxnDate") and "not a real date" in problem.message
    assert check_fields("InvoiceAdd", {"CustomerRef": {"FullName": "A"}, "TxnDate": "2028-02-29"}) == []
