"""The figures of `make bench` as data: each figure with its target, whether it met it, and the
machine it ran on; written to a JSON file and printed as a table (not a benchmark itself: no
`bench_` prefix).

A figure is a plain dict (see `figure`). The JSON file holds

    {"machine": {...}, "started_utc": ..., "duration_s": ..., "quick": false,
     "figures": [{"id", "group", "label", "value", "unit", "target", "met", ...}, ...]}

`target` is the issue's bound in the figure's unit (`value <= target` meets it; with
`at_least`, `value >= target`), None for a
figure without one (the curve, informative splits). `met` is True/False, or None when there is
no target or no value (a figure not measured yet says why in `note`).
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

KEYS = ("id", "group", "label", "value", "unit", "target", "met", "size", "cpu_s", "peak_mb", "note", "at_least")


def figure(
    id: str, group: str, label: str, value: float | None, unit: str, target: float | None = None, *,
    size: int | None = None, cpu_s: float | None = None, peak_mb: float | None = None, note: str = "",
    at_least: bool = False,
) -> dict[str, Any]:
    """One figure. `value` None: not measured (say why in `note`). `at_least`: the target is a
    floor (`value >= target` meets it, e.g. sessions completed), not a ceiling."""
    met = None if target is None or value is None else (value >= target if at_least else value <= target)
    return {"id": id, "group": group, "label": label, "value": value, "unit": unit, "target": target, "met": met,
            "size": size, "cpu_s": cpu_s, "peak_mb": peak_mb, "note": note, "at_least": at_least}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    import sqlite3

    try:
        from lxml import etree

        lxml_version = ".".join(map(str, etree.LXML_VERSION))
    except ImportError:
        lxml_version = None
    return {
        "cores": os.cpu_count(), "cpu_model": _cpu_model(), "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version, "lxml": lxml_version,
    }


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("s", "ms", "µs") and value < 10:
        return f"{value:.3g}" if value < 1 else f"{value:.2f}"
    if unit in ("s", "ms", "µs") and value < 100:
        return f"{value:.1f}"  # 10.0 s, not "10 s" for 10.004 against a 10 s target
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def verdict(f: Mapping[str, Any]) -> str:
    if f["met"] is None:
        return "not measured" if f["value"] is None else ""
    return "met" if f["met"] else "MISSED"


def table(figures: Iterable[Mapping[str, Any]], *, extra: bool = True) -> str:
    """A Markdown table: figure, value, target, met?, and (with `extra`) CPU time and peak memory."""
    head = ["Figure", "Value", "Target", "Met?"] + (["CPU", "Peak RSS"] if extra else [])
    rows = [head, ["---", "---:", "---:", "---"] + (["---:", "---:"] if extra else [])]
    group = None
    for f in figures:
        if f["group"] != group:
            group = f["group"]
            rows.append([f"**{group}**", "", "", ""] + (["", ""] if extra else []))
        value = f"{_number(f['value'], f['unit'])} {f['unit']}" if f["value"] is not None else "—"
        bound = "≥" if f.get("at_least") else "≤"
        target = f"{bound} {_number(f['target'], f['unit'])} {f['unit']}" if f["target"] is not None else ""
        row = [f["label"], value, target, verdict(f)]
        if extra:
            row += [f"{f['cpu_s']:.2f} s" if f.get("cpu_s") is not None else "",
                    f"{f['peak_mb']:.0f} MB" if f.get("peak_mb") is not None else ""]
        rows.append(row)
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def describe_machine(data: Mapping[str, Any]) -> str:
    m = data["machine"]
    load = data.get("load_before"), data.get("load_after")
    return (f"{m['cores']} cores ({m['cpu_model']}), {m['memory_gb']} GB, {m['os']}, Python {m['python']}, "
            f"SQLite {m['sqlite']}, lxml {m['lxml']}; run {data['started_utc']} UTC, {data['duration_s']:.0f} s; "
            f"load average before/after {load[0]} / {load[1]}")


# The README's performance table: the figures with a target, and the curve's per-change costs.
README_START = "<!-- bench:start (python -m benchmarks.report --readme writes this table from benchmarks/results.json) -->"
README_END = "<!-- bench:end -->"


def readme_table(data: Mapping[str, Any]) -> str:
    """The README's summary: each figure that has a target (measured or not), the many-companies
    run's rates (the issue asks for them in the table, with no target), then the machine."""
    targeted = [f for f in data["figures"]
                if f["target"] is not None or f["value"] is None or f["id"].startswith("server.concurrent_200.")]
    lines = [README_START, table(targeted, extra=True), "",
             f"Machine: {describe_machine(data)}.", README_END]
    return "\n".join(lines)


def update_readme(readme: Path, data: Mapping[str, Any]) -> bool:
    """Rewrite the table between the README's markers; True when it changed."""
    text = readme.read_text(encoding="utf-8")
    start, end = text.index(README_START), text.index(README_END) + len(README_END)
    new = text[:start] + readme_table(data) + text[end:]
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description="Show the last results.")
    parser.add_argument("results", nargs="?", type=Path, default=Path(__file__).resolve().parent / "results.json")
    parser.add_argument("--readme", action="store_true", help="write the summary table into README.md")
    args = parser.parse_args()
    loaded = json.loads(args.results.read_text(encoding="utf-8"))
    if args.readme:
        readme = Path(__file__).resolve().parents[1] / "README.md"
        print("README.md " + ("updated" if update_readme(readme, loaded) else "already up to date"))
    else:
        print(table(loaded["figures"]))
        print(f"\nMachine: {describe_machine(loaded)}")
