"""Test helpers for the Sync Wizard tests: run the real CLI in a subprocess, and stand in for
"a Web Connector run happened" by calling the real session library functions with outcomes
chosen by the test (QuickBooks itself is faked only here: ids, EditSequences, status codes)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qbsync.store import open_store
from qbsync.sync import catalogue, session

ROOT = Path(__file__).resolve().parents[1]
_ids = itertools.count(1)


def run_cli(*args: str, db: Path | str | None = None, input: str | None = None, env: Mapping[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    """`qbsync ARGS` in a subprocess (stdin not a terminal), with QBSYNC_DB pointing at `db`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    full_env["PYTHONPATH"] = str(ROOT)
    if db is not None:
        full_env["QBSYNC_DB"] = str(db)
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "qbsync", *args], input=input if input is not None else "", capture_output=True,
        text=True, env=full_env, cwd=str(ROOT), timeout=60,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"qbsync {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def jsonl(*records: Mapping[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def fake_qb_id(kind: str) -> str:
    n = next(_ids)
    return f"{0x80000000 + n:X}-{1700000000 + n}"


def simulate_web_connector_run(
    db: Path | str,
    connection: str | None = None,
    *,
    outcomes: Mapping[str, Any] | None = None,
    imports: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
    session_outcome: str = "ok",
) -> dict[str, list[int]]:
    """One Web Connector run against the store at `db`: detected imports are recorded, approved
    imports applied, queued exports sent batch by batch. `outcomes` maps an export's local id to
    what QuickBooks does with it: "ok" (default), ("error", code, message), "unknown" (no
    answer) or ("requeue", reason) (3231). Ends the session (held changes come back)."""
    from qbsync.store.connections import resolve_connection

    outcomes = dict(outcomes or {})
    report: dict[str, list[int]] = {"synced": [], "error": [], "unknown": [], "requeued": [], "applied": [], "detected": []}
    with open_store(db) as store:
        conn = resolve_connection(store, connection)
        session.start_session(store, conn)
        for type_name, data in imports:
            cid = session.record_import(store, conn, type_name, data, deleted=bool(data.pop("_deleted", False)))
            if cid:
                report["detected"].append(cid)
        report["applied"] = session.apply_queued_imports(store, conn)
        requeued_once: set[int] = set()
        while True:
            batch = session.take_export_batch(store, conn, message_id=f"msg-{next(_ids)}")
            if not batch:
                break
            progressed = False
            for change in batch:
                outcome = outcomes.get(change["local_id"], "ok")
                if outcome == "unknown":
                    session.record_outcome_unknown(store, change["id"], reason="0x80040408: no response")
                    report["unknown"].append(change["id"])
                elif isinstance(outcome, tuple) and outcome[0] == "error":
                    session.record_error(store, change["id"], status_code=outcome[1], message=outcome[2])
                    report["error"].append(change["id"])
                elif isinstance(outcome, tuple) and outcome[0] == "requeue":
                    if change["id"] in requeued_once:
                        continue  # leave it sending; end_session settles it
                    session.record_requeue(store, change["id"], reason=outcome[1], status_code=3231)
                    requeued_once.add(change["id"])
                    report["requeued"].append(change["id"])
                else:
                    _synced(store, change)
                    report["synced"].append(change["id"])
                    progressed = True
            if not progressed and all(c["id"] in requeued_once for c in batch):
                break
        session.end_session(store, conn, outcome=session_outcome)
    return report


def _synced(store: Any, change: dict[str, Any]) -> None:
    et = catalogue.entity_type(change["type"])
    record = change["record"] or {}
    if change["action"] == "delete":
        session.record_synced(store, change["id"], qb_id=change["qb_id"] or record.get("qb_id"), edit_sequence=None, snapshot=None)
        return
    qb_id = change["qb_id"] or record.get("qb_id") or fake_qb_id(et.kind)
    edit_sequence = str(1800000000 + next(_ids))
    base = dict((record.get("qb_data") or {}))
    snapshot = {**base, **{k: v for k, v in change["payload"].items() if not et.line(k)}}
    snapshot[et.id_field] = qb_id
    snapshot["EditSequence"] = edit_sequence
    for line in et.lines:
        lines = change["payload"].get(line.base)
        if isinstance(lines, list):
            snapshot[line.ret] = [{**{k: v for k, v in ln.items() if k != "id"}, "TxnLineID": ln.get("TxnLineID") or fake_qb_id("line")}
                                  for ln in lines]
    session.record_synced(store, change["id"], qb_id=qb_id, edit_sequence=edit_sequence, snapshot=snapshot)
