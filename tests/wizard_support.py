"""Test helpers for the Sync Wizard tests.

- `run_cli`: the real `qbsync` command line, run in this process through `qbsync.cli.main` (what
  the console script and `python -m qbsync` run), isolated with typer's CliRunner.
- `simulate_web_connector_run`: "a Web Connector run happened": the real `ConnectorService`
  behind the real WSGI app on waitress, driven over HTTP by the shipped `WebConnector` double,
  with a `FakeQuickBooks` company kept in a file next to the store. The outcomes a test asks for
  are produced the way QuickBooks produces them (a name already in use, a record edited in
  QuickBooks meanwhile, a record someone holds, an answer lost on the way back).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import traceback
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clock import Clock
from typer.testing import CliRunner

from qbsync.connector.service import ConnectorService
from qbsync.connector.app import make_wsgi_app, serve
from qbsync.store import changes as store_changes
from qbsync.store import connections as store_connections
from qbsync.store import open_store
from qbsync.store import records as store_records
from qbsync.sync.passwords import hash_password
from qbsync.testing import FakeQuickBooks, RunReport, WebConnector

ROOT = Path(__file__).resolve().parents[1]


# -- the command line --------------------------------------------------------------------------------


def run_cli(*args: str, db: Path | str | None = None, input: str | bytes | None = None,
            env: Mapping[str, str] | None = None, check: bool = False, cwd: Path | str = ROOT) -> subprocess.CompletedProcess[str]:
    """`qbsync ARGS` as the console script runs it, in this process: stdin is `input` (never a
    terminal), stdout and stderr are captured apart, the outer QBSYNC_* variables are removed,
    QBSYNC_DB points at `db` and `env` goes on top. The working directory is `cwd` (default: the
    repository, as for the subprocess this replaced); it and os.environ are restored afterwards.
    Text comes back as a subprocess's text mode gives it (universal newlines)."""
    from qbsync.cli import main

    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("QBSYNC_")}
    if db is not None:
        overrides["QBSYNC_DB"] = str(db)
    overrides.update(env or {})
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    returncode = 0
    try:
        os.chdir(cwd)
        with CliRunner().isolation(input=input if input is not None else "", env=overrides) as (out, err, _):
            try:
                main(list(args))
            except SystemExit as exc:
                returncode = _exit_status(exc.code)
            except Exception:  # noqa: BLE001 - what the interpreter does with an uncaught exception
                traceback.print_exc()
                returncode = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            stdout, stderr = _text(out.getvalue()), _text(err.getvalue())
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    proc = subprocess.CompletedProcess(["qbsync", *args], returncode, stdout, stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"qbsync {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


def _exit_status(code: object) -> int:
    """The process exit status `sys.exit(code)` gives (a message goes to stderr, status 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _text(data: bytes) -> str:
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def jsonl(*records: Mapping[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# -- a Web Connector run -----------------------------------------------------------------------------

# The Web Connector's password for the helper's runs: set on the connection for the run, the
# connection's own hash put back afterwards (tests create connections with any password, or none).
RUN_PASSWORD = "wizard-support-run"
UNKNOWN = "unknown"
# How far the clock moves after a run that died with a message out: past the session timeout and
# past the time the service waits for a late answer from QuickBooks (30 minutes by default).
_LATER = 2 * 3600


# scrypt at a test cost: authenticate verifies with the stored parameters, in a fraction of the time.
TEST_HASH_COST = 2**4


@functools.cache
def _run_password_hash() -> str:
    return hash_password(RUN_PASSWORD, cost=TEST_HASH_COST)


def _company_file(db: Path | str) -> Path:
    return Path(f"{db}.quickbooks")


def company_for(db: Path | str) -> FakeQuickBooks:
    """The QuickBooks company of the store at `db`: a FakeQuickBooks file beside it, so what one
    run added is there for the next run's Mods (injected faults last one run, as in QuickBooks)."""
    return FakeQuickBooks(path=_company_file(db))


class _LosesAnswers(FakeQuickBooks):
    """A company that applies a message carrying one of `change_ids`, then loses its answer
    (QuickBooks did the work; the Web Connector never heard back). Which changes a message
    carries is what the store marked `sending` when the service handed the message out."""

    def __init__(self, path: Path, *, db: Path | str, connection_id: int, change_ids: set[int]):
        super().__init__(path=path)
        self._db, self._connection_id, self._change_ids = db, connection_id, change_ids

    def process(self, request_xml: str | bytes) -> Any:
        with open_store(self._db) as store:
            sending = {c["id"] for c in store_changes.list_changes(store, self._connection_id, ["sending"])}
        if sending & self._change_ids:
            self.lose_next_response()
        return super().process(request_xml)


def simulate_web_connector_run(
    db: Path | str,
    connection: str | None = None,
    *,
    outcomes: Mapping[str, Any] | None = None,
    imports: Iterable[tuple[str, dict[str, Any]]] = (),
) -> dict[str, list[int]]:
    """A Web Connector run against the store at `db` (until the queue is settled). First the
    `imports` happen in QuickBooks, as a user would do them (see `act_in_quickbooks`); then the
    real service runs a session: approved imports re-read and applied, queued exports sent to
    FakeQuickBooks, and (for a connection that imports) what changed in QuickBooks detected.

    `outcomes` maps an export's local id to what QuickBooks does with it, set up in the company
    before the run: "ok" (default); ("error", code, message) with code 3100 (an Add whose name is
    already in use), 3200 (a Mod or delete of a record edited in QuickBooks meanwhile), 3170 or
    3175 (a Mod or delete of a record someone holds) — the Error Log gets QuickBooks' own message,
    not `message`; or "unknown": QuickBooks applies the message that carries it and the answer is
    lost, the Web Connector session dies, and the next run finds it expired. Each asked-for
    outcome is checked in the store afterwards.

    Returns the change ids by what happened: synced, error, unknown, requeued (still queued after
    the run: sent back or still waiting), applied (approved imports) and detected (import changes
    the run created or updated)."""
    outcomes = dict(outcomes or {})
    report: dict[str, list[int]] = {k: [] for k in ("synced", "error", "unknown", "requeued", "applied", "detected")}
    act_in_quickbooks(db, imports)
    with open_store(db) as store:
        conn = store_connections.resolve_connection(store, connection)
        approved_imports = [c["id"] for c in store_changes.list_changes(store, conn["id"], ["queued"], direction="import")]
        imports_before = {c["id"]: c["updated_at"] for c in store_changes.list_changes(
            store, conn["id"], ["awaiting", "held"], direction="import")}
        queued = store_changes.list_changes(store, conn["id"], ["queued"], direction="export")
        by_local_id = {c["local_id"]: c for c in queued}
        missing = set(outcomes) - set(by_local_id)
        if missing:
            raise ValueError(f"no queued export for {sorted(missing)}")
        unknown = {by_local_id[k]["id"] for k, v in outcomes.items() if v == UNKNOWN}
        company = (_LosesAnswers(_company_file(db), db=db, connection_id=conn["id"], change_ids=unknown)
                   if unknown else company_for(db))
        for local_id, outcome in outcomes.items():
            if outcome not in ("ok", UNKNOWN):
                _refuse(company, store, conn, by_local_id[local_id], outcome)
        own_hash = store_connections.password_hash(store, conn["id"])
        store_connections.update_connection(store, conn["name"], password_hash=_run_password_hash())
    try:
        _drive(db, conn["username"], company, batch_size=1 if unknown else 50)
    finally:
        with open_store(db) as store:
            store_connections.update_connection(store, conn["name"], password_hash=own_hash)
    with open_store(db) as store:
        after = {c["id"]: c for c in store_changes.get_changes(store, [c["id"] for c in queued])}
        report["applied"] = [c["id"] for c in store_changes.get_changes(store, approved_imports) if c["status"] == "synced"]
        report["detected"] = [c["id"] for c in store_changes.list_changes(store, conn["id"], ["awaiting"], direction="import")
                              if imports_before.get(c["id"]) != c["updated_at"]]
    for change in queued:
        row = after[change["id"]]
        kind = {"synced": "synced", "queued": "requeued"}.get(row["status"], "error")
        if kind == "error" and row["outcome_unknown"]:
            kind = UNKNOWN
        report[kind].append(change["id"])
        _check(outcomes.get(change["local_id"], "ok"), row)
    return report


def _ids_file(db: Path | str) -> Path:
    return Path(f"{db}.quickbooks-ids.json")


def quickbooks_id(db: Path | str, made_up: str) -> str:
    """The ListID/TxnID QuickBooks gave the record a test created with the id `made_up`."""
    ids = json.loads(_ids_file(db).read_text()) if _ids_file(db).exists() else {}
    return ids.get(made_up, made_up)


_NOT_TYPED = ("EditSequence", "TimeCreated", "TimeModified", "FullName", "Sublevel", "ListDelType", "TxnDelType")


def act_in_quickbooks(db: Path | str, changes: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Records added, changed or deleted in the QuickBooks company of `db` as a QuickBooks user
    would (qbXML Add field names). A record given with an id QuickBooks does not know (a test's
    made-up ListID/TxnID) is created, and the made-up id stands for QuickBooks' own from then on
    (`quickbooks_id`); a known one is edited (unless nothing differs); `"_deleted": True`
    deletes it."""
    from qbsync.qbxml.entities import entity

    changes = list(changes)
    if not changes:
        return
    company = company_for(db)
    ids = json.loads(_ids_file(db).read_text()) if _ids_file(db).exists() else {}
    for type_name, data in changes:
        data = dict(data)
        deleted = bool(data.pop("_deleted", False))
        id_field = entity(type_name).id_field
        given = data.pop(id_field, None)
        fields = _own_ids({k: v for k, v in data.items() if k not in _NOT_TYPED}, ids)
        known = ids.get(given, given) if given else None
        current = company.get(type_name, known) if known else None
        if deleted:
            company.delete(type_name, known)
        elif current is None:
            made = company.create(type_name, fields)
            if given:
                ids[given] = made[id_field]
        elif any(str(current.get(k)) != str(v) for k, v in fields.items()):
            company.edit(type_name, known, fields)
    _ids_file(db).write_text(json.dumps(ids))


def _own_ids(value: Any, ids: Mapping[str, str]) -> Any:
    """References to made-up ids as references to QuickBooks' own."""
    if isinstance(value, Mapping):
        return {k: ids.get(v, v) if k in ("ListID", "TxnID") and isinstance(v, str) else _own_ids(v, ids)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_own_ids(v, ids) for v in value]
    return value


def _refuse(company: FakeQuickBooks, store: Any, conn: Mapping[str, Any], change: Mapping[str, Any],
            outcome: Any) -> None:
    """Make QuickBooks refuse `change` with the status code of `outcome`, as it would."""
    kind, code = outcome[0], outcome[1]
    if kind != "error":
        raise ValueError(f"unknown outcome {outcome!r}")
    record = store_records.get_record(store, conn["id"], change["type"], change["local_id"]) or {}
    qb_id = change["qb_id"] or record.get("qb_id")
    if code == 3100 and change["action"] == "add":
        company.create(change["type"], {"Name": change["payload"]["Name"]})
    elif code == 3200 and qb_id:
        company.edit(change["type"], qb_id, {})
    elif code in (3170, 3175) and qb_id:
        company.lock(change["type"], qb_id, code)
    else:
        raise ValueError(f"FakeQuickBooks refuses a {change['action']} with 3100 (add), 3200, 3170 or 3175 "
                         f"(a record QuickBooks has), not {code}")


def _drive(db: Path | str, username: str, company: FakeQuickBooks, *, batch_size: int) -> list[RunReport]:
    """Web Connector runs until one ends normally. A run whose answer was lost dies there; the
    next one (the clock moved on by `_LATER`) finds that session expired."""
    clock = Clock()
    clock.now = datetime.now(timezone.utc)
    service = ConnectorService(str(db), batch_size=batch_size, clock=clock)
    reports: list[RunReport] = []
    with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0, threads=2) as server:
        while True:
            report = WebConnector(server.url("/qbwc"), username, RUN_PASSWORD, company=company, noop_delay=0).run()
            reports.append(report)
            if report.outcome != "response_lost":
                break
            if len(reports) > 100:
                raise AssertionError(f"the Web Connector runs never settled: {report.errors}")
            clock.advance(_LATER)
    if not reports[-1].ok:
        raise AssertionError(f"the Web Connector run failed: {reports[-1].errors + reports[-1].violations}")
    return reports


def _check(outcome: Any, row: Mapping[str, Any]) -> None:
    """The store shows what the test asked QuickBooks to do."""
    if outcome == UNKNOWN:
        ok = row["status"] == "error" and row["outcome_unknown"]
    elif isinstance(outcome, tuple):
        ok = row["status"] == "error" and row["status_code"] == outcome[1]
    else:
        return
    if not ok:
        raise AssertionError(f"change {row['id']} ({row['local_id']}) asked {outcome!r}, got {row['status']} "
                             f"{row['status_code']} {row['status_message']!r}")
