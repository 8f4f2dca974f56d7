"""CLI latency: what a user (or the app's cron job) waits for one `qbsync` command, measured
as the wall time of a fresh process, including interpreter start-up and imports.

    python -m benchmarks.bench_cli

Commands: --version, --help, `explain 3200`, `pending --count` and `pending --format json` on a
store with 1,000 changes awaiting approval, `errors --format json` on an Error Log with 50
entries, `validate` of one request file. Each runs RUNS times; median and best are printed,
next to a bare `python -c pass` for the interpreter's own share. The venv's `qbsync` script
is used when it sits next to this Python, else `python -m qbsync`. Everything happens in a
temporary folder that is removed afterwards.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 5
AWAITING = 1_000
ERRORS = 50
USER, PASSWORD = "bench-sync", "bench-pass-1"


def qbsync_command() -> list[str]:
    script = Path(sys.executable).with_name("qbsync")
    return [str(script)] if script.is_file() and os.access(script, os.X_OK) else [sys.executable, "-m", "qbsync"]


def customer(i: int, prefix: str = "C") -> dict:
    return {
        "id": f"{prefix}{i}", "Name": f"{prefix} Customer {i:05d}", "CompanyName": f"Company {i} Ltd",
        "Phone": f"555-{i % 10000:04d}", "Email": f"c{i}@example.com",
        "BillAddress": {"Addr1": f"{i} Main St", "City": "Springfield", "State": "IL", "PostalCode": "62701"},
    }


def make_store(folder: Path) -> Path:
    """A store with AWAITING export changes in the wizard and ERRORS changes in the Error Log
    (QuickBooks refused them with 3100: a Web Connector run of the real service against a
    FakeQuickBooks that already has those names), built through the library (not timed)."""
    from qbsync.store import open_store
    from qbsync.store.connections import add_connection, get_connection
    from qbsync.sync import staging, wizard
    from qbsync.sync.passwords import hash_password

    db = folder / "qbsync.db"
    with open_store(db, create=True) as store:
        add_connection(store, name="acme", username=USER, password_hash=hash_password(PASSWORD))
        conn = get_connection(store, "acme")
        staging.stage_lines(store, conn, "Customer", [json.dumps(customer(i, "E")) for i in range(ERRORS)])
        wizard.approve(store, conn)
    refuse_all(db, [customer(i, "E")["Name"] for i in range(ERRORS)])
    with open_store(db) as store:
        staging.stage_lines(store, get_connection(store, "acme"), "Customer",
                            [json.dumps(customer(i)) for i in range(AWAITING)])
    return db


def refuse_all(db: Path, names: list[str]) -> None:
    """One Web Connector run (the real service over HTTP) in which QuickBooks answers 3100 to each
    queued Add: it already has a customer of every name."""
    from qbsync.connector.service import ConnectorService
    from qbsync.connector.app import make_wsgi_app, serve
    from qbsync.testing import FakeQuickBooks, WebConnector

    company = FakeQuickBooks()
    for name in names:
        company.create("Customer", {"Name": name})
    with serve(make_wsgi_app(ConnectorService(db), "/qbwc"), "127.0.0.1", 0) as server:
        report = WebConnector(server.url("/qbwc"), USER, PASSWORD, company=company, noop_delay=0).run()
    if not report.ok or report.status_codes != [3100] * len(names):
        raise RuntimeError(f"the Web Connector run did not refuse every change: {report.errors} {report.status_codes}")


def request_file(folder: Path) -> Path:
    from qbsync.qbxml import Request, build_request

    path = folder / "request.xml"
    path.write_text(build_request([Request("CustomerAdd", {k: v for k, v in customer(1).items() if k != "id"},
                                           request_id="1")]), encoding="utf-8")
    return path


def timed(argv: list[str], env: dict[str, str], cwd: Path, runs: int = RUNS) -> tuple[list[float], str]:
    """Wall times of `runs` fresh processes, and the last one's stdout."""
    times = []
    done = None
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return times, done.stdout.decode("utf-8") if done else ""


def check_output(label: str, out: str) -> None:
    """The timed commands did the work they are named for (a benchmark of an error is no figure)."""
    if label.startswith("pending --count"):
        ok = out.strip() == str(AWAITING)
    elif label.startswith("pending --format json"):
        ok = len(json.loads(out)) == AWAITING
    elif label.startswith("errors --format json"):
        ok = len(json.loads(out)) == ERRORS
    else:
        ok = True
    if not ok:
        raise RuntimeError(f"{label}: unexpected output {out[:200]!r}")


def main() -> None:
    cmd = qbsync_command()
    with tempfile.TemporaryDirectory(prefix="qbsync-bench-cli-") as tmp:
        folder = Path(tmp)
        db = make_store(folder)
        request = request_file(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
        env.update(QBSYNC_DB=str(db), COLUMNS="100")
        cases = [
            ("python -c pass (interpreter only)", [sys.executable, "-c", "pass"]),
            ("--version", cmd + ["--version"]),
            ("--help", cmd + ["--help"]),
            ("explain 3200", cmd + ["explain", "3200"]),
            (f"pending --count ({AWAITING:,} awaiting)", cmd + ["pending", "--count"]),
            (f"pending --format json ({AWAITING:,} awaiting)", cmd + ["pending", "--format", "json"]),
            (f"errors --format json ({ERRORS} in the Error Log)", cmd + ["errors", "--format", "json"]),
            ("validate request.xml (1 CustomerAdd)", cmd + ["validate", str(request)]),
        ]
        shown = "qbsync script" if len(cmd) == 1 else "python -m qbsync"
        print(f"CLI latency, a fresh process each run ({shown}); {RUNS} runs: median / best")
        for label, argv in cases:
            times, out = timed(argv, env, folder)
            check_output(label, out)
            print(f"  {label:48s} {statistics.median(times) * 1000:7.0f} ms / {min(times) * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
