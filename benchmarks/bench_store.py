"""The store and the Sync Wizard through the library: staging 10,000 customers (the validation
pass and the write pass), staging them again unchanged, listing what awaits approval as JSON,
approving all of it; the process's peak memory after each step.

    python -m benchmarks.bench_store                 # 10,000 customers
    python -m benchmarks.bench_store --records 100000

The work runs in a child process so its peak resident memory (VmHWM in /proc/self/status,
Linux only; "n/a" elsewhere) is its own and not that of the benchmarks run before it. VmHWM
never goes down: each step shows the peak so far and how much that step raised it. Times are
wall-clock, one run each (staging the same records twice is itself a figure).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_scale import customer  # the same customers as make bench stages

RECORDS = 10_000


def vm_kb(field: str) -> int | None:
    """A memory figure of this process in kB from /proc/self/status (None where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def mb(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:.0f} MB"


class Peak:
    """Prints VmHWM after a step, with the rise the step caused."""

    def __init__(self) -> None:
        self.last = vm_kb("VmHWM")

    def after(self) -> str:
        now = vm_kb("VmHWM")
        if now is None or self.last is None:
            return "peak n/a"
        rise, self.last = max(0, now - self.last), now  # the kernel's counters lag a little
        return f"peak {mb(now)} (+{rise / 1024:.0f} MB)"


def child(n: int) -> None:
    from qbsync.output import render
    from qbsync.qbxml import load_schema
    from qbsync.store import open_store
    from qbsync.store.connections import add_connection, get_connection
    from qbsync.sync import staging, wizard

    load_schema().lxml  # compiled once per process, as in any command that validates
    peak = Peak()
    print(f"after imports and schema load: resident {mb(vm_kb('VmRSS'))}, peak {mb(vm_kb('VmHWM'))}")
    lines = [customer(i) for i in range(n)]
    print(f"{n:,} customer lines in memory ({sum(map(len, lines)) / 1e6:.1f} MB of JSON): {peak.after()}")

    with tempfile.TemporaryDirectory(prefix="qbsync-bench-store-") as tmp:
        db = Path(tmp) / "qbsync.db"
        with open_store(db, create=True) as store:
            add_connection(store, name="acme", username="bench-sync", password_hash="x")
            conn = get_connection(store, "acme")

            t0 = time.perf_counter()
            items, problems = staging.parse_lines("Customer", lines)
            t1 = time.perf_counter()
            result = staging.stage_items(store, conn, "Customer", items, problems, len(items))
            t2 = time.perf_counter()
            assert not problems and result.added == n, (problems[:3], result.added)
            total = t2 - t0
            print(f"stage {n:,} new customers: {total:.2f} s ({total / n * 1e6:.0f} µs per record; "
                  f"validate {t1 - t0:.2f} s + write {t2 - t1:.2f} s): {peak.after()}")
            del items, problems, result

            t = time.perf_counter()
            again = staging.stage_lines(store, conn, "Customer", lines)
            t = time.perf_counter() - t
            assert again.unchanged == n, again.as_dict()
            print(f"stage the same {n:,} again (all unchanged): {t:.2f} s ({t / n * 1e6:.0f} µs per record): {peak.after()}")
            del again

            t = time.perf_counter()
            rows = wizard.pending(store, conn)
            out = io.StringIO()
            render(rows, "json", out=out)
            t = time.perf_counter() - t
            assert len(rows) == n
            print(f"list {n:,} pending as JSON: {t:.2f} s ({len(out.getvalue()) / 1e6:.1f} MB): {peak.after()}")
            del rows, out

            t = time.perf_counter()
            approved = wizard.approve(store, conn)
            t = time.perf_counter() - t
            assert len(approved["queued"]) == n
            print(f"approve {n:,}: {t:.2f} s: {peak.after()}")
        print(f"store file: {db.stat().st_size / 1e6:.1f} MB; peak resident memory of the process: {mb(vm_kb('VmHWM'))}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    n = int(argv[argv.index("--records") + 1]) if "--records" in argv else RECORDS
    if "--child" in argv:
        child(n)
        return
    print(f"Store and wizard through the library, {n:,} customers, in a child process:", flush=True)
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "benchmarks.bench_store", "--child", "--records", str(n)], cwd=root, check=True)


if __name__ == "__main__":
    main()
