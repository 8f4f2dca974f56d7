"""Several qbsync processes staging and approving at the same time lose nothing and never
create two changes for one entity."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from wizard_support import ROOT, jsonl, run_cli

from qbsync.store import changes as store_changes
from qbsync.store import open_store


def spawn(db, *args, input_text=""):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(PYTHONPATH=str(ROOT), QBSYNC_DB=str(db))
    proc = subprocess.Popen([sys.executable, "-m", "qbsync", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT))
    proc.stdin.write(input_text)
    proc.stdin.close()
    return proc


def test_parallel_staging_and_approving_lose_nothing(tmp_path):
    db = tmp_path / "qbsync.db"
    run_cli("init", db=db, check=True)
    run_cli("connection", "add", "main", "-u", "u", "--password-env", "PW", db=db, env={"PW": "x"}, check=True)
    # Four stagers with overlapping ids (C0..C79, each id staged by two processes), and two approvers.
    batches = [[{"id": f"C{i}", "Name": f"Customer {i}", "Phone": f"{n}"} for i in range(n * 20, n * 20 + 40)] for n in range(4)]
    procs = [spawn(db, "stage", "Customer", input_text=jsonl(*b)) for b in batches]
    procs += [spawn(db, "approve", "--yes") for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert [code for code, _ in results] == [0] * len(procs), results
    run_cli("approve", "--yes", db=db, check=True)
    with open_store(db) as store:
        rows = store.query("SELECT local_id, status, payload FROM changes ORDER BY id")
    staged_ids = {r["id"] for b in batches for r in b}
    # Every entity is in the queue; an entity staged twice may have an add plus a mod, never two adds.
    assert {r["local_id"] for r in rows} == staged_ids
    assert all(r["status"] == "queued" for r in rows)
    adds = [r["local_id"] for r in rows if "Name" in json.loads(r["payload"])]
    assert sorted(adds) == sorted(staged_ids)
    assert len(rows) <= len(staged_ids) * 2


def test_staging_the_same_entity_twice_at_once_gives_one_change(tmp_path):
    db = tmp_path / "qbsync.db"
    run_cli("init", db=db, check=True)
    run_cli("connection", "add", "main", "-u", "u", "--password-env", "PW", db=db, env={"PW": "x"}, check=True)
    records = [{"id": f"C{i}", "Name": f"Customer {i}"} for i in range(50)]
    procs = [spawn(db, "stage", "Customer", input_text=jsonl(*records)) for _ in range(3)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    with open_store(db) as store:
        rows = store_changes.list_changes(store, None, ["awaiting"])
    assert sorted(r["local_id"] for r in rows) == sorted(r["id"] for r in records)
