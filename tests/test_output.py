"""qbsync.output, the one writer of data to stdout: streaming, headers, and that no other
module writes to stdout behind its back."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from qbsync.output import render, render_object

PACKAGE = Path(__file__).resolve().parents[1] / "qbsync"
# Modules allowed to write to stdout besides output.py, each with its reason.
STDOUT_ALLOWED = {
    "demo.py": "`make demo` narrates a session for people; its stdout is that transcript",
    "commands/replay.py": "being rewritten with qbsync/replay.py in another branch; moves to output.py there",
}


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "tsv"])
def test_machine_formats_stream_row_by_row(fmt):
    """Each row is written before the next is read: a long listing starts at once and never
    has to fit in memory."""
    out = io.StringIO()

    def rows():
        yield {"id": 1, "name": "first-row"}
        assert "first-row" in out.getvalue(), "row 1 was held back"
        yield {"id": 2, "name": "second-row"}

    assert render(rows(), fmt, out=out) == 2
    assert "second-row" in out.getvalue()


def test_csv_header_is_the_row_keys_not_the_table_columns():
    out = io.StringIO()
    render([{"id": 1, "tags": ["a", "b"], "note": None, "ok": True}], "csv", columns=("id",), out=out)
    assert out.getvalue() == 'id,tags,note,ok\n1,"[""a"",""b""]",,true\n'
    table = io.StringIO()
    render([{"id": 1, "tags": ["a"]}], "table", columns=("id",), out=table)
    assert "tags" not in table.getvalue()


def test_an_empty_listing_prints_its_known_header_or_nothing():
    for keys, expected in ((("id", "name"), "id\tname\n"), (None, "")):
        out = io.StringIO()
        assert render(iter(()), "tsv", keys=keys, out=out) == 0
        assert out.getvalue() == expected
    out = io.StringIO()
    render([], "json", out=out)
    assert out.getvalue() == "[]\n"


def test_one_object():
    out = io.StringIO()
    render_object({"id": 7, "fields": [{"field": "Phone"}]}, "tsv", out=out)
    assert out.getvalue() == 'id\tfields\n7\t"[{""field"":""Phone""}]"\n'
    with pytest.raises(ValueError):
        render_object({"id": 7}, "table", out=io.StringIO())


def _writes_to_stdout(tree: ast.AST) -> list[int]:
    """Lines that write to stdout: sys.stdout, print() without file=, typer.echo() without err=True."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "stdout" and getattr(node.value, "id", None) == "sys":
            lines.append(node.lineno)
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            keywords = {k.arg: k.value for k in node.keywords}
            if name == "print" and "file" not in keywords:
                lines.append(node.lineno)
            elif name == "echo" and not (isinstance(keywords.get("err"), ast.Constant) and keywords["err"].value is True):
                lines.append(node.lineno)
    return sorted(lines)


def test_only_output_writes_to_stdout():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel == "output.py" or rel in STDOUT_ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [f"qbsync/{rel}:{line}" for line in _writes_to_stdout(tree)]
    assert not offenders, "write data through qbsync.output: " + ", ".join(offenders)


def test_the_stdout_check_sees_writes():
    code = "import sys, typer\nsys.stdout.write('x')\nprint('y')\nprint('z', file=sys.stderr)\ntyper.echo('w')\n"
    assert _writes_to_stdout(ast.parse(code)) == [2, 3, 5]


def test_dumps_is_json_dumps_with_the_listing_options():
    import datetime
    import decimal
    import json

    from qbsync.output import dumps

    values = [
        {"id": 1, "name": "Acme → “Ltd” ∅ \"q\" \\ \n\t\u2028", "ok": True, "no": False, "none": None, "n": 1.5,
         "big": 10**30, "lines": [{"Amount": decimal.Decimal("1.10")}, []], "at": datetime.date(2026, 1, 2),
         "nan": float("nan"), 7: "int key", None: "null key", 2.5: "float key", True: "bool key"},
        [], {}, "text \"quoted\"", "", 3, -0.0, None, True, (1, "two"), [[{"a": {"b": []}}]],
    ]
    for value in values:
        assert dumps(value) == json.dumps(value, ensure_ascii=False, default=str), value


def test_a_cell_is_the_value_as_csv_writes_it():
    from decimal import Decimal

    from qbsync.output import cell

    values = ["x", "", None, True, False, 0, 1, 2.5, [1, "é"], {"a": None}, Decimal("1.10")]
    assert [cell(v) for v in values] == ["x", "", "", "true", "false", 0, 1, 2.5, '[1,"é"]', '{"a":null}', Decimal("1.10")]
