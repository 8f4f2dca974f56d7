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
