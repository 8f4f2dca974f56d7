"""On a terminal, approve shows what will happen and asks; only the changes shown are approved."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time

from wizard_support import ROOT, jsonl, run_cli


def run_on_terminal(db, args, answer: bytes) -> tuple[int, str]:
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(PYTHONPATH=str(ROOT), QBSYNC_DB=str(db))
    proc = subprocess.Popen([sys.executable, "-m", "qbsync", *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=str(ROOT))
    os.close(slave)
    seen = b""
    deadline = time.time() + 30
    while b"Approve?" not in seen and time.time() < deadline:
        try:
            seen += os.read(master, 1024)
        except OSError:
            break
    os.write(master, answer)
    code = proc.wait(timeout=30)
    try:
        while chunk := os.read(master, 1024):
            seen += chunk
    except OSError:
        pass
    os.close(master)
    return code, seen.decode(errors="replace")


def test_approve_asks_on_a_terminal(tmp_path):
    db = tmp_path / "qbsync.db"
    run_cli("init", db=db, check=True)
    run_cli("connection", "add", "main", "-u", "u", "--password-env", "PW", db=db, env={"PW": "x"}, check=True)
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt"}), check=True)
    code, text = run_on_terminal(db, ["approve", "--uncheck", "2"], b"n\n")
    assert code == 1 and "Approve 1 change (0 import, 1 export); 1 unchecked change will be kept" in text
    assert len(json.loads(run_cli("pending", "--format", "json", db=db, check=True).stdout)) == 2  # nothing changed
    code, text = run_on_terminal(db, ["approve", "--uncheck", "2"], b"y\n")
    assert code == 0 and "approved 1 change" in text
    queue = json.loads(run_cli("queue", "--format", "json", db=db, check=True).stdout)
    assert [q["name"] for q in queue] == ["Acme"]


def test_progress_only_on_a_terminal(tmp_path):
    db = tmp_path / "qbsync.db"
    run_cli("init", db=db, check=True)
    run_cli("connection", "add", "main", "-u", "u", "--password-env", "PW", db=db, env={"PW": "x"}, check=True)
    big = tmp_path / "big.jsonl"
    big.write_text(jsonl(*({"id": f"C{i}", "Name": f"Customer {i}"} for i in range(1200))))
    quiet = run_cli("stage", "Customer", str(big), db=db, check=True)
    assert quiet.stderr.splitlines() == ["staged Customer: 1200 adds, 0 mods, 0 deletes, 0 updated, 0 unchanged"]
    big.write_text(jsonl(*({"id": f"C{i}", "Name": f"Customer {i}", "Phone": "1"} for i in range(1200))))
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(PYTHONPATH=str(ROOT), QBSYNC_DB=str(db))
    proc = subprocess.run([sys.executable, "-m", "qbsync", "stage", "Customer", str(big)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=slave, env=env, cwd=str(ROOT), timeout=60)
    os.close(slave)
    seen = b""
    try:
        while chunk := os.read(master, 4096):
            seen += chunk
    except OSError:
        pass
    os.close(master)
    assert proc.returncode == 0 and b"1200 updated" in seen
    # the bar with the total (bytes of the file), then the write phase (commands/progress.py)
    assert b"staging Customer [" in seen and b" MB of 0.1 MB" in seen
    assert b"staging Customer: read 1,200 lines" in seen and b"writing to the store" in seen
