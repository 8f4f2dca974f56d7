"""Make the recorded sessions shipped in tests/recordings/ (replayed in CI by test_replay.py).

Each scenario is a real run: a fresh store made with the qbsync CLI (init, connection add,
stage, approve), the real server (ConnectorService with ``record_dir`` behind the SOAP app on
waitress), driven over HTTP by the shipped WebConnector with a FakeQuickBooks company. The
session's recording folder is copied to ``tests/recordings/<scenario>/``.

    .venv/bin/python tests/recordings/make_recordings.py            # every scenario
    .venv/bin/python tests/recordings/make_recordings.py error-3100  # some

Regenerate them when the recording format or what qbsync sends changes on purpose (then
`qbsync replay` on the old ones shows exactly what changed). The password below is a throwaway
one; recordings never contain it (test_replay.py checks).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CONNECTION = "acme"
USERNAME = "acme-qbwc"
PASSWORD = "recording-only-not-a-secret-7f3a"  # checked never to appear in a recording


def _lines(*records: dict[str, Any]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


class Workbench:
    """One scenario's store, FakeQuickBooks company and recording folder."""

    def __init__(self, tmp: Path):
        from qbsync.testing.fake_quickbooks import FakeQuickBooks

        self.tmp = tmp
        self.db = tmp / "qbsync.db"
        self.record_dir = tmp / "recordings"
        self._now = datetime(2026, 11, 20, 9, 0, 0, tzinfo=timezone.utc)
        self.company = FakeQuickBooks(qbxml_version="13.0", clock=self._tick)
        self.cli("init")
        self.cli("connection", "add", CONNECTION, "--username", USERNAME, "--password-stdin", input=PASSWORD + "\n")

    def _tick(self) -> datetime:  # QuickBooks' clock: a second per call, the same on every run
        self._now += timedelta(seconds=1)
        return self._now

    def cli(self, *args: str, input: str = "") -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
        env.update(QBSYNC_DB=str(self.db), PYTHONPATH=str(ROOT))
        proc = subprocess.run([sys.executable, "-m", "qbsync", *args], input=input, capture_output=True, text=True,
                              env=env, cwd=str(ROOT), timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"qbsync {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}")
        return proc.stdout

    def stage(self, type_name: str, *records: dict[str, Any]) -> None:
        self.cli("stage", type_name, input=_lines(*records))

    def approve(self) -> None:
        self.cli("approve", "--yes")

    def session(self) -> tuple[Any, Path]:
        """One Web Connector run with recording on; the report and the session's folder."""
        from qbsync.connector.service import ConnectorService
        from qbsync.connector.app import make_wsgi_app, serve
        from qbsync.testing import WebConnector

        before = set(self.record_dir.iterdir()) if self.record_dir.exists() else set()
        service = ConnectorService(self.db, record_dir=self.record_dir)
        with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as server:
            report = WebConnector(server.url("/qbwc"), USERNAME, PASSWORD, company=self.company, noop_delay=0,
                                  timeout=30).run()
        made = sorted(set(self.record_dir.iterdir()) - before)
        if len(made) != 1:
            raise RuntimeError(f"expected one new recording, found {len(made)} (run outcome {report.outcome})")
        return report, made[0]


def export_batch(wb: Workbench) -> Path:
    """A plain export: a customer, a job of it, a service item and an invoice for the job."""
    wb.stage("Customer", {"id": "C1", "Name": "Acme Ltd", "Phone": "555-0100"},
             {"id": "J1", "Name": "Roof repair", "ParentRef": {"local_id": "C1"}})
    wb.stage("ItemService", {"id": "S1", "Name": "Labor",
                             "SalesOrPurchase": {"Desc": "Labor, per hour", "Price": 50, "AccountRef": {"FullName": "Services"}}})
    wb.stage("Invoice", {"id": "I1", "CustomerRef": {"local_id": "J1"}, "RefNumber": "1001", "TxnDate": "2026-11-20",
                         "InvoiceLine": [{"id": "L1", "ItemRef": {"local_id": "S1"}, "Quantity": 3, "Rate": 50}]})
    wb.approve()
    report, folder = wb.session()
    _expect(report, status_codes=[0, 0, 0, 0])
    return folder


def error_3100(wb: Workbench) -> Path:
    """A customer whose name QuickBooks already has (3100) next to one that goes through."""
    wb.company.create("Customer", {"Name": "Bolt Inc"})
    wb.stage("Customer", {"id": "C2", "Name": "Bolt Inc"}, {"id": "C3", "Name": "Cobalt Co", "Phone": "555-0199"})
    wb.approve()
    report, folder = wb.session()
    _expect(report, status_codes=[3100, 0])
    return folder


def mod_after_sync(wb: Workbench) -> Path:
    """A second session: a Mod of a customer synced before (ListID and EditSequence sent)."""
    wb.stage("Customer", {"id": "C1", "Name": "Acme Ltd", "Phone": "555-0100"})
    wb.approve()
    _expect(wb.session()[0], status_codes=[0])
    wb.stage("Customer", {"id": "C1", "Name": "Acme Ltd", "Phone": "555-0111", "Email": "ap@acme.example"})
    wb.approve()
    report, folder = wb.session()
    _expect(report, status_codes=[0])
    return folder


def company_file_error(wb: Workbench) -> Path:
    """QuickBooks cannot open the company file: the connectionError path."""
    wb.stage("Customer", {"id": "C4", "Name": "Delta LLC"})
    wb.approve()
    wb.company.fail_open()
    report, folder = wb.session()
    if report.outcome != "connection_error":
        raise RuntimeError(f"company-file-error: expected a connection error, got {report.outcome}")
    return folder


def response_lost(wb: Workbench) -> Path:
    """QuickBooks applies the message but its response never comes back: the session dies."""
    wb.stage("Customer", {"id": "C5", "Name": "Echo Partners"})
    wb.approve()
    wb.company.lose_next_response()
    report, folder = wb.session()
    if report.outcome != "response_lost":
        raise RuntimeError(f"response-lost: expected a lost response, got {report.outcome}")
    return folder


SCENARIOS: dict[str, Callable[[Workbench], Path]] = {
    "export-batch": export_batch,
    "error-3100": error_3100,
    "mod-after-sync": mod_after_sync,
    "company-file-error": company_file_error,
    "response-lost": response_lost,
}


def _expect(report: Any, *, status_codes: list[int]) -> None:
    if report.status_codes != status_codes or report.errors or report.violations:
        raise RuntimeError(f"unexpected run: status codes {report.status_codes} (expected {status_codes}), "
                           f"errors {report.errors}, violations {report.violations}")


def make(name: str, dest_root: Path) -> Path:
    """Run scenario `name` and copy its recording to `dest_root/name` (replacing it)."""
    with tempfile.TemporaryDirectory(prefix=f"qbsync-rec-{name}-") as tmp:
        folder = SCENARIOS[name](Workbench(Path(tmp)))
        dest = dest_root / name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(folder, dest)
    return dest


def main(argv: list[str]) -> int:
    names = argv or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    for name in names:
        dest = make(name, HERE)
        print(f"recorded {name}: {dest.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
