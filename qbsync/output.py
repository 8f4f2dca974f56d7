"""The only place that writes data rows to stdout.

Formats: table (for people), json (one array, streamed row by row), jsonl, csv, tsv.
Nested values (lists, dicts) are written as JSON inside table/csv/tsv cells.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

FORMATS = ("table", "json", "jsonl", "csv", "tsv")


def _cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def render(
    rows: Iterable[Mapping[str, Any]],
    fmt: str,
    columns: Sequence[str] | None = None,
    out: IO[str] | None = None,
    empty_message: str | None = None,
) -> int:
    """Write `rows` in `fmt`; returns the number of rows written.

    `columns` fixes the order (and, for table/csv/tsv, the set) of the keys shown;
    JSON formats keep every key of each row. `empty_message` goes to stderr for a
    table with no rows (JSON prints `[]`, csv/tsv print only the header).
    """
    out = out or sys.stdout
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    count = 0
    if fmt == "json":
        out.write("[")
        for row in rows:
            out.write(",\n" if count else "\n")
            out.write(dumps(dict(row)))
            count += 1
        out.write("\n]\n" if count else "]\n")
    elif fmt == "jsonl":
        for row in rows:
            out.write(dumps(dict(row)) + "\n")
            count += 1
    elif fmt in ("csv", "tsv"):
        rows = iter(rows)
        first = next(rows, None)
        cols = list(columns) if columns else (list(first) if first else [])
        writer = csv.writer(out, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
        if cols:
            writer.writerow(cols)
        for row in ([first] if first is not None else []):
            writer.writerow([_cell(row.get(c)) for c in cols])
            count += 1
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in cols])
            count += 1
    else:
        from tabulate import tabulate

        materialised = [dict(r) for r in rows]
        count = len(materialised)
        if not materialised:
            if empty_message:
                print(empty_message, file=sys.stderr)
            return 0
        cols = list(columns) if columns else list(materialised[0])
        table = [[_cell(r.get(c)) for c in cols] for r in materialised]
        out.write(tabulate(table, headers=cols, tablefmt="simple", disable_numparse=True) + "\n")
    out.flush()
    return count
