"""`make bench`'s harness (benchmarks/__main__.py): it writes the documented JSON and prints the
table. Run at tiny sizes (--quick): this checks the harness, never a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import report

ROOT = Path(__file__).resolve().parents[1]


def test_a_figure_knows_whether_it_met_its_target():
    assert report.figure("a", "g", "x", 0.1, "s", 0.2)["met"] is True
    assert report.figure("a", "g", "x", 0.3, "s", 0.2)["met"] is False
    assert report.figure("a", "g", "x", 0.3, "s")["met"] is None
    assert report.figure("a", "g", "x", None, "s", 0.2)["met"] is None
    assert report.figure("a", "g", "x", 200, "n", 200, at_least=True)["met"] is True
    assert report.figure("a", "g", "x", 199, "n", 200, at_least=True)["met"] is False
    assert "| x | 199 n | ≥ 200 n | MISSED |" in report.table([report.figure("a", "g", "x", 199, "n", 200, at_least=True)])
    assert tuple(report.figure("a", "g", "x", 1, "s")) == report.KEYS
    text = report.table([report.figure("a", "g", "x", 0.3, "s", 0.2), report.figure("b", "g", "y", None, "s", note="later")])
    assert "| x | 0.3 s | ≤ 0.2 s | MISSED |" in text and "| y | — |  | not measured |" in text


def test_quick_run_writes_every_documented_key(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {"started_utc", "duration_s", "quick", "machine", "load_before", "load_after", "figures"} <= set(data)
    assert {"cores", "cpu_model", "python", "os", "sqlite", "lxml", "memory_gb"} <= set(data["machine"])
    assert data["quick"] is True
    ids = {f["id"] for f in data["figures"]}
    for f in data["figures"]:
        assert tuple(f) == report.KEYS
    for wanted in ("cli.stage", "cli.stage_unchanged", "cli.status", "cli.pending_count", "cli.pending_json",
                   "cli.pending_jsonl", "cli.approve", "cli.stage.memory_growth", "validate.ready.embedded",
                   "validate.response.embedded", "curve.stage.100", "curve.stage.300", "server.customer_add.300",
                   "roundtrip.http.per_request", "import.detect_1000.per_record", "import.detect_2000.peak_mb",
                   "server.concurrent_200.completed", "server.concurrent_200.busy"):
        assert wanted in ids, wanted
    assert "| Figure | Value | Target | Met? |" in done.stdout and "Machine: " in done.stdout


def test_the_readme_table_is_the_committed_results():
    """README.md's performance table is what `python -m benchmarks.report --readme` writes from
    benchmarks/results.json (run it after `make bench`)."""
    data = json.loads((ROOT / "benchmarks" / "results.json").read_text(encoding="utf-8"))
    assert data["quick"] is False, "the committed results must be a full run"
    assert report.readme_table(data) in (ROOT / "README.md").read_text(encoding="utf-8")
