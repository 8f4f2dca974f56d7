"""Many companies at once: one server, 200 connections, 200 Web Connectors running together.

    python -m benchmarks.bench_many            # 200 connections (python -m benchmarks.bench_many 50: 50)

The server is what `qbsync serve-connector` runs with its default options: the real
ConnectorService behind the real WSGI app on waitress (127.0.0.1, a free port, the command's
default threads and connection limit), in this process. Its store holds CONNECTIONS connections,
each with CHANGES approved CustomerAdds; every connection's password is checked with the real
scrypt cost (one hash, shared by all, to keep the setup short: the check costs the same).

The clients are the shipped `WebConnector`, each with its own FakeQuickBooks company, in
CLIENT_PROCESSES separate processes (threads inside each): in this process their own CPU
(building envelopes, the company answering qbXML) would compete with the server's for the GIL
and show as server latency and server CPU. All of them start at once, on one signal, once
every client process is ready.

Figures: sessions completed (of CONNECTIONS), `busy` answers (authenticate's busy and the NoOp
pauses of a busy store), sessions per second (wall time from the signal to the last session's
end), p50/p99 of every SOAP call's round trip as the clients saw it, the server's CPU time over
the run (this process, which does nothing else meanwhile), and how much of it the scrypt password
checks account for (one login's check, timed here, times the logins).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.report import figure

CONNECTIONS = 200
QUICK_CONNECTIONS = 20
CHANGES = 3  # approved CustomerAdds per connection
CLIENT_PROCESSES = 2
PASSWORD = "bench-many-pass-1"
GROUP = "Many companies: one server, 200 Web Connectors at once"


def username(i: int) -> str:
    return f"company-{i:03d}-sync"


def make_store(db: Path, connections: int) -> None:
    """`connections` connections, each with CHANGES approved customer adds (not timed)."""
    from qbsync.store import open_store
    from qbsync.store.connections import add_connection, get_connection
    from qbsync.sync import staging, wizard
    from qbsync.sync.passwords import hash_password

    shared_hash = hash_password(PASSWORD)  # the real cost: the server checks each login with it
    with open_store(db, create=True) as store:
        for i in range(connections):
            name = f"company-{i:03d}"
            add_connection(store, name=name, username=username(i), password_hash=shared_hash)
            conn = get_connection(store, name)
            lines = [json.dumps({"id": f"C{i}-{k}", "Name": f"Customer {i:03d}-{k}"}) for k in range(CHANGES)]
            staging.stage_lines(store, conn, "Customer", lines)
            wizard.approve(store, conn)


# -- the clients (in their own processes) --------------------------------------------------------


def _one_session(url: str, index: int) -> dict[str, Any]:
    from qbsync.testing import WebConnector
    from qbsync.testing.fake_quickbooks import FakeQuickBooks

    latencies: list[float] = []
    company = FakeQuickBooks()
    connector = WebConnector(url, username(index), PASSWORD, company=company, noop_delay=0, timeout=120,
                             on_call=lambda _operation, seconds: latencies.append(seconds))
    report = connector.run()
    return {"index": index, "outcome": report.outcome, "ok": report.ok, "noops": report.noops,
            "status_codes": report.status_codes, "customers": len(company.all("Customer")),
            "errors": report.errors[:2] + report.violations[:2], "latencies": latencies,
            "ended": time.perf_counter()}


def _warm_up() -> None:
    """Load the qbXML schema (and compile its validator) before the start, not during the run."""
    from qbsync.testing.fake_quickbooks import FakeQuickBooks

    FakeQuickBooks().hcp_response()


def client_process(url: str, indexes: list[int]) -> None:
    """A client process: one WebConnector thread per index, all waiting; "ready" on stdout,
    then a line on stdin starts them all; their results go to stdout as one JSON line."""
    _warm_up()

    go = threading.Event()
    done: list[dict[str, Any]] = []
    lock = threading.Lock()

    def run_one(index: int) -> None:
        go.wait()
        try:
            result = _one_session(url, index)
        except Exception:  # noqa: BLE001 - reported as a session that did not complete
            result = {"index": index, "outcome": "crashed", "ok": False, "noops": 0, "status_codes": [],
                      "customers": -1, "errors": [traceback.format_exc(limit=-4)], "latencies": [],
                      "ended": time.perf_counter()}
        with lock:
            done.append(result)

    threads = [threading.Thread(target=run_one, args=(i,)) for i in indexes]
    for t in threads:
        t.start()
    print("ready", flush=True)
    sys.stdin.readline()
    go.set()
    for t in threads:
        t.join()
    print(json.dumps(done), flush=True)


def _start_clients(url: str, shares: list[list[int]]) -> list[subprocess.Popen[str]]:
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    workers = []
    for share in shares:
        cmd = [sys.executable, "-m", "benchmarks.bench_many", "--clients", url, ",".join(map(str, share))]
        workers.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env))
    for w in workers:
        if w.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
            raise RuntimeError("a client process did not start")
    return workers


# -- the server and the run ----------------------------------------------------------------------


class _Count(logging.Handler):
    """Counts the log lines that say `words` (instead of printing them)."""

    def __init__(self, words: str) -> None:
        super().__init__(logging.WARNING)
        self.words = words
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.lines += 1


@contextmanager
def _counted_logs(log: logging.Logger) -> Iterator[tuple[_Count, _Count]]:
    """The service's busy warnings and waitress' "reached the connection limit", counted rather
    than printed; no "Task queue depth is N" per request (as serve-connector logs)."""
    busy, limit = _Count("busy"), _Count("reached the connection limit")
    log.handlers[:] = [busy]
    log.propagate = False
    queue_log, waitress_log = logging.getLogger("waitress.queue"), logging.getLogger("waitress")
    saved = queue_log.level, waitress_log.propagate
    queue_log.setLevel(logging.ERROR)
    waitress_log.addHandler(limit)
    waitress_log.propagate = False
    try:
        yield busy, limit
    finally:
        waitress_log.removeHandler(limit)
        queue_log.setLevel(saved[0])
        waitress_log.propagate = saved[1]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def scrypt_seconds() -> float:
    """CPU time of one login's password check (the best of 3)."""
    from qbsync.sync.passwords import hash_password, verify_password

    stored = hash_password(PASSWORD)
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        verify_password(PASSWORD, stored)
        best = min(best, time.process_time() - t)
    return best


def run(connections: int, processes: int = CLIENT_PROCESSES, **server_options: Any) -> dict[str, Any]:
    """One run: a fresh store, the server, `connections` Web Connectors at once. `server_options`:
    `serve`'s threads and limits (default: serve-connector's defaults)."""
    from qbsync.commands.serve import LOGGER_NAME
    from qbsync.connector.app import make_wsgi_app, serve
    from qbsync.connector.service import ConnectorService
    from qbsync.store import open_store

    with tempfile.TemporaryDirectory(prefix="qbsync-bench-many-") as tmp:
        db = Path(tmp) / "many.db"
        make_store(db, connections)
        log = logging.getLogger(f"{LOGGER_NAME}.bench_many")
        _warm_up()
        service = ConnectorService(str(db), log=log)
        with _counted_logs(log) as (busy, limit), serve(make_wsgi_app(service, "/qbwc", log=log), "127.0.0.1", 0, **server_options) as server:
            shares = [list(range(connections))[p::processes] for p in range(processes)]
            workers = _start_clients(server.url("/qbwc"), shares)
            try:
                time.sleep(0.2)  # every client thread is waiting
                cpu0, t0 = time.process_time(), time.perf_counter()
                for w in workers:
                    w.stdin.write("go\n")  # type: ignore[union-attr]
                    w.stdin.flush()  # type: ignore[union-attr]
                sessions = [s for w in workers for s in json.loads(w.communicate(timeout=600)[0])]
                wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            finally:
                for w in workers:
                    if w.poll() is None:
                        w.kill()
                        w.wait()
        with open_store(db) as store:
            synced = store.scalar("SELECT count(*) FROM changes WHERE status = 'synced'")
    # perf_counter is CLOCK_MONOTONIC on Linux: one clock for every process.
    last_end = max(s["ended"] for s in sessions) - t0 if sessions else wall
    latencies = [x for s in sessions for x in s["latencies"]]
    completed = [s for s in sessions if s["ok"] and s["outcome"] == "complete"
                 and s["status_codes"] == [0] * CHANGES and s["customers"] == CHANGES]
    return {
        "connections": connections, "sessions": len(sessions), "completed": len(completed),
        "busy_answers": sum(s["outcome"] == "busy" for s in sessions),
        "noops": sum(s["noops"] for s in sessions), "busy_logged": busy.lines,
        "limit_reached": limit.lines,
        "wall_s": last_end, "cpu_s": cpu, "calls": len(latencies),
        "p50_ms": 1000 * _percentile(latencies, 0.50) if latencies else None,
        "p99_ms": 1000 * _percentile(latencies, 0.99) if latencies else None,
        "max_ms": 1000 * max(latencies) if latencies else None,
        "synced": synced, "expected": connections * CHANGES,
        "failures": [{k: s[k] for k in ("index", "outcome", "noops", "errors")}
                     for s in sessions if s not in completed][:3],
    }


def figures(quick: bool = False) -> list[dict[str, Any]]:
    from qbsync.connector.app import DEFAULT_CONNECTION_LIMIT

    n = QUICK_CONNECTIONS if quick else CONNECTIONS
    r = run(n)
    scrypt_cpu = scrypt_seconds() * r["sessions"]
    rate = r["completed"] / r["wall_s"] if r["wall_s"] else None
    where = (f"{n} connections × {CHANGES} CustomerAdds; server (serve-connector's defaults) in one process, "
             f"clients in {CLIENT_PROCESSES} processes of threads")
    busy = r["busy_answers"] + r["noops"]
    checks = (f"{r['synced']}/{r['expected']} changes synced, each once in its company"
              + (f"; not completed: {r['failures']}" if r["failures"] else ""))
    completed = figure("server.concurrent_200.completed", GROUP, f"Sessions completed of {n}", r["completed"],
                       "sessions", n, size=n, note=f"{where}; {checks}", at_least=True)  # all of them
    return [
        completed,
        figure("server.concurrent_200.busy", GROUP, "busy answers (authenticate busy + NoOp of a busy store)", busy,
               "answers", 0, size=n,
               note=f"{r['busy_answers']} busy, {r['noops']} NoOp; the service logged {r['busy_logged']} busy "
                    "store(s)"),
        figure("server.concurrent_200.sessions_per_s", GROUP, "Sessions per second", _round(rate), "sessions/s",
               size=n, cpu_s=round(r["cpu_s"], 2),
               note=f"{r['completed']} sessions in {r['wall_s']:.1f} s (signal to the last session's end); the "
                    f"connection limit ({DEFAULT_CONNECTION_LIMIT}) was reached {r['limit_reached']} times"),
        figure("server.concurrent_200.p50_ms", GROUP, "Callback round trip, p50", _round(r["p50_ms"]), "ms", size=n,
               note=f"{r['calls']} SOAP calls as the clients saw them"),
        figure("server.concurrent_200.p99_ms", GROUP, "Callback round trip, p99", _round(r["p99_ms"]), "ms", size=n,
               note=f"max {r['max_ms']:.0f} ms" if r["max_ms"] is not None else ""),
        figure("server.concurrent_200.server_cpu_s", GROUP, "Server CPU for the run", round(r["cpu_s"], 2), "s",
               size=n, cpu_s=round(r["cpu_s"], 2),
               note=f"of which the scrypt password checks ≈ {scrypt_cpu:.1f} s ({r['sessions']} logins)"),
    ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--clients"]:
        client_process(args[1], [int(i) for i in args[2].split(",")])
        return
    n = int(args[0]) if args else CONNECTIONS
    r = run(n)
    print(json.dumps({k: v for k, v in r.items() if k != "failures"}, indent=2))
    for failure in r["failures"]:
        print("not completed:", failure)
    print(f"one login's scrypt check: {1000 * scrypt_seconds():.0f} ms CPU")


if __name__ == "__main__":
    main()
