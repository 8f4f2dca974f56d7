"""The root command: a global --db, one-line usage errors (in process), the version (the real
`python -m qbsync` process, its exit status included)."""

from __future__ import annotations

import os
import subprocess
import sys

from wizard_support import run_cli

from qbsync.qbxml import check_fields


def test_global_db_option_applies_to_the_command(tmp_path):
    store = tmp_path / "elsewhere.db"
    outer = os.environ.get("QBSYNC_DB")
    assert run_cli("--db", str(store), "init", cwd=tmp_path).returncode == 0
    assert store.exists() and not (tmp_path / "qbsync.db").exists()
    assert os.environ.get("QBSYNC_DB") == outer  # the option set it for that command only
    proc = run_cli("--db", str(store), "pending", "--count", cwd=tmp_path)
    assert proc.returncode == 1 and "no connection yet" in proc.stderr  # it opened that store


def test_usage_errors_are_one_line_with_exit_2(tmp_path):
    for args in (["nosuch"], ["pending", "--bogus"], ["explain", "3200", "--format", "yaml"]):
        proc = run_cli(*args, cwd=tmp_path)
        assert proc.returncode == 2, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("qbsync: error: ") and "--help" in lines[0], proc.stderr


def test_version_and_exit_status_of_the_real_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    proc = subprocess.run([sys.executable, "-m", "qbsync", "--version"], capture_output=True, text=True, cwd=tmp_path,
                          env=env)
    assert proc.returncode == 0 and proc.stdout.startswith("qbsync ")
    usage = subprocess.run([sys.executable, "-m", "qbsync", "nosuch"], capture_output=True, text=True, cwd=tmp_path,
                           env=env)
    assert usage.returncode == 2 and usage.stderr.startswith("qbsync: error: ")


def test_impossible_dates_are_named_in_plain_words():
    (problem,) = check_fields("InvoiceAdd", {"CustomerRef": {"FullName": "A"}, "TxnDate": "2026-13-45"})
    assert problem.path.endswith("TxnDate") and "not a real date" in problem.message
    assert check_fields("InvoiceAdd", {"CustomerRef": {"FullName": "A"}, "TxnDate": "2028-02-29"}) == []
