"""The only place that writes data to stdout.

Formats: table (for people), json (one array, streamed row by row), jsonl, csv, tsv.
csv and tsv carry exactly the keys of the JSON rows, in the same order; their nested values
(lists, dicts) are compact JSON text and None is an empty cell, so a program can read any of
the four and get the same data. The table may show a chosen subset of the columns.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

FORMATS = ("table", "json", "jsonl", "csv", "tsv")
_DELIMITERS = {"csv": ",", "tsv": "\t"}


def cell(value: Any) -> Any:
    """A value as one table/csv/tsv cell."""
    if type(value) is str:  # the usual case, first
        return value
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)  # made once: json.dumps with options makes one per call


def _c_encoder(encoder: json.JSONEncoder) -> Any:
    """The C function `encoder.encode` makes anew on every call (a third of the cost of a short
    row), made once with the same options; None without the C accelerator. Without the check
    for circular references (it would keep state between calls): rows are read from the store
    and from JSON, which cannot make a cycle."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    return make(None, encoder.default, json.encoder.encode_basestring, None, encoder.key_separator,
                encoder.item_separator, encoder.sort_keys, encoder.skipkeys, encoder.allow_nan)


_C_ENCODE = _c_encoder(_ENCODER)


def dumps(value: Any) -> str:
    """`value` as JSON text on one line (characters as they are, an unknown type as its str)."""
    if _C_ENCODE is None or isinstance(value, str):  # encode() takes a path of its own for a str
        return _ENCODER.encode(value)
    return "".join(_C_ENCODE(value, 0))


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")


def render(
    rows: Iterable[Mapping[str, Any]],
    fmt: str,
    columns: Sequence[str] | None = None,
    out: IO[str] | None = None,
    empty_message: str | None = None,
    keys: Sequence[str] | None = None,
) -> int:
    """Write `rows` in `fmt`; returns the number of rows written.

    `columns` chooses and orders the columns of the table format only. `keys` are the rows'
    keys, for the csv/tsv header when there are no rows (with rows, the first row's keys are
    the header). `empty_message` goes to stderr for a table with no rows (JSON prints `[]`,
    csv/tsv print only the header).
    """
    out = out or sys.stdout
    _check(fmt)
    if fmt == "json":
        count = _write_json_array(rows, out)
    elif fmt == "jsonl":
        count = 0
        for row in rows:
            out.write(dumps(row if type(row) is dict else dict(row)) + "\n")
            count += 1
    elif fmt in _DELIMITERS:
        count = _write_delimited(iter(rows), _DELIMITERS[fmt], keys, out)
    else:
        count = _write_table(rows, columns, out, empty_message)
    out.flush()
    return count


def render_object(obj: Mapping[str, Any], fmt: str, out: IO[str] | None = None) -> None:
    """Write one object (not a list) in a machine format: JSON on one line (json and jsonl),
    or a csv/tsv header and one row. The people form of a single object is the command's own
    text (see `write_text`)."""
    out = out or sys.stdout
    _check(fmt)
    if fmt in ("json", "jsonl"):
        out.write(dumps(dict(obj)) + "\n")
    elif fmt in _DELIMITERS:
        _write_delimited(iter([obj]), _DELIMITERS[fmt], None, out)
    else:
        raise ValueError("render_object writes json, jsonl, csv or tsv; a table needs rows")
    out.flush()


def write_text(text: str, out: IO[str] | None = None) -> None:
    """Data that a command has already put in words (explanations, reports, a .qwc file)."""
    out = out or sys.stdout
    out.write(text)
    out.flush()


def _write_json_array(rows: Iterable[Mapping[str, Any]], out: IO[str]) -> int:
    count = 0
    out.write("[")
    for row in rows:
        out.write((",\n" if count else "\n") + dumps(row if type(row) is dict else dict(row)))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def _write_delimited(
    rows: Iterator[Mapping[str, Any]], delimiter: str, keys: Sequence[str] | None, out: IO[str]
) -> int:
    first = next(rows, None)
    header = list(first) if first is not None else list(keys or ())
    if not header:
        return 0
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in _chain(first, rows):
        writer.writerow(list(map(cell, map(row.get, header))))
        count += 1
    return count


def _chain(first: Mapping[str, Any] | None, rest: Iterator[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    if first is not None:
        yield first
        yield from rest


def _write_table(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None, out: IO[str], empty_message: str | None
) -> int:
    from tabulate import tabulate

    materialised = [dict(r) for r in rows]  # a table needs every row to size its columns
    if not materialised:
        if empty_message:
            print(empty_message, file=sys.stderr)
        return 0
    cols = list(columns) if columns else list(materialised[0])
    table = [[cell(r.get(c)) for c in cols] for r in materialised]
    out.write(tabulate(table, headers=cols, tablefmt="simple", disable_numparse=True) + "\n")
    return len(materialised)
