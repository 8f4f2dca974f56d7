"""`make demo` is the README's main command: it must run from nothing and tell the whole cycle."""

from __future__ import annotations

import subprocess
import sys


def test_demo_runs_a_whole_cycle():
    proc = subprocess.run([sys.executable, "-m", "qbsync.demo"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "Export to QuickBooks (6)" in out  # staged exports in the wizard
    assert "kept 1 unchecked" in out  # approval with one change kept unchecked
    assert "Final message: Synced 4, 1 error" in out  # the first Web Connector run
    assert "app → QB     3100" in out  # the deliberate error in the Error Log, explained
    assert "Final message: Synced 1" in out  # retried after the fix in QuickBooks
    assert "the Error Log is empty" in out
    # Keep Unchecked: Beta LLC is back in the wizard after the run, checked
    back = out.split("6. Keep Unchecked")[1]
    assert "Export to QuickBooks (1)" in back and "Beta LLC  true" in back
    # Two-way: Delta Co, added in QuickBooks, detected, approved and applied; a 3200 fixed by the merge.
    assert "Import from QuickBooks (1)" in back and "Delta Co" in back
    assert "Final message: Synced 1, 1 imported" in out
    merge = out.split("8. Both sides changed Acme Corp")[1]
    assert "3200" in merge and "fix-edit-sequence" in merge and "Final message: Synced 1\n" in merge
    assert '"Email":"billing@acme.example"' in merge and '"Phone":"555-0111"' in merge  # both sides kept
    assert "<AppURL>http://localhost:8080/qbwc</AppURL>" in out  # where to point a real Web Connector
    assert "Traceback" not in out + proc.stderr
