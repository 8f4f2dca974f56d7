"""`make bench`: issue 11's figures against their targets, written to a JSON file and printed
as a table.

    python -m benchmarks                       # the figures: results in benchmarks/results.json
    python -m benchmarks --out /tmp/r.json     # elsewhere (or QBSYNC_BENCH_OUT=/tmp/r.json)
    python -m benchmarks --quick               # tiny sizes, a check that every figure is made
    python -m benchmarks --only bench_scale    # one module's figures
    python -m benchmarks --all                 # also every module's detailed printout (slow)

Modules with a `figures(quick)` function give figures (see benchmarks/report.py for the JSON
keys); every `bench_*.py` module also has a `main()` that prints its details, run alone with
`python -m benchmarks.bench_<topic>`.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import benchmarks
from benchmarks import report

DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"
# The figures' modules, in the order of the table.
FIGURE_MODULES = ("bench_scale", "bench_validate", "bench_qbxml", "bench_roundtrip", "bench_import", "bench_many")


def bench_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("QBSYNC_BENCH_OUT") or DEFAULT_OUT),
                        help="JSON file for the results (default benchmarks/results.json; env QBSYNC_BENCH_OUT)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, figures mean little")
    parser.add_argument("--only", action="append", metavar="MODULE", help="only this module's figures (repeatable)")
    parser.add_argument("--all", action="store_true", help="also run every bench_*.py module's main() (details)")
    args = parser.parse_args(argv)

    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    data = {
        "started_utc": started.strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "machine": report.machine(),
        "load_before": report.load_average(), "figures": [],
    }
    for name in args.only or FIGURE_MODULES:
        print(f"== benchmarks.{name}", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        data["figures"].extend(module.figures(quick=args.quick))
    if args.all:
        for name in bench_modules():
            print(f"== benchmarks.{name} (details)", flush=True)
            detail = importlib.import_module(f"benchmarks.{name}").main
            detail([]) if inspect.signature(detail).parameters else detail()
    data["load_after"] = report.load_average()
    data["duration_s"] = round(time.perf_counter() - t0, 1)
    report.write_json(args.out, data)
    print()
    print(report.table(data["figures"]))
    print(f"\nMachine: {report.describe_machine(data)}")
    missed = [f["id"] for f in data["figures"] if f["met"] is False]
    print(f"Results: {args.out}" + (f"; missed: {', '.join(missed)}" if missed else "; every target with a figure met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
