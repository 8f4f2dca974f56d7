"""`qbsync explain` knows every status code FakeQuickBooks can answer with.

The codes are collected from the double's own code: the constants of its status module (its
registry, ``status.codes()`` and ``status.hresults()``) plus any status-code literal written
straight into a ``QbStatus(...)``/``Answer(...)`` call or a ``.code =`` assignment anywhere in
the package. A new code added to the double either way, without a catalogue entry, fails here.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
from pathlib import Path

import pytest

from qbsync.qbxml.status_codes import lookup
from qbsync.testing import fake_quickbooks
from qbsync.testing.fake_quickbooks import status

PACKAGE = Path(fake_quickbooks.__file__).parent
STATUS_CALLS = {"QbStatus", "Answer"}  # their first argument (or code=) is a statusCode


def literal_codes(source: str) -> set[int]:
    """Integer literals used as a statusCode in `source`."""
    found: set[int] = set()

    def add(node: ast.AST | None) -> None:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            found.add(node.value)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in STATUS_CALLS and node.args:
                add(node.args[0])
            for kw in node.keywords:
                if kw.arg == "code":
                    add(kw.value)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for el in target.elts if isinstance(target, ast.Tuple) else [target]:
                    if isinstance(el, ast.Attribute) and el.attr == "code":
                        values = node.value.elts if isinstance(node.value, ast.Tuple) and isinstance(target, ast.Tuple) else [node.value]
                        for value in values:
                            add(value)
    return found


def emitted_codes() -> list[int | str]:
    codes: set[int] = set(status.codes())
    for path in sorted(PACKAGE.rglob("*.py")):
        codes |= literal_codes(path.read_text(encoding="utf-8"))
    return [*sorted(codes), *status.hresults()]


EMITTED = emitted_codes()


def test_the_scan_sees_a_code_written_as_a_literal():
    source = (
        "raise QbStatus(3180, 'save failed')\n"
        "answer = status.Answer(3176, 'in use')\n"
        "answer.code, answer.message = 3250, 'off'\n"
        "other = Answer(code=3261)\n"
        "ok = Answer(status.OK)\n"
    )
    assert literal_codes(source) == {3180, 3176, 3250, 3261}


def test_the_registry_holds_the_codes_the_double_is_known_to_answer():
    assert {0, 1, 500, 600, 1030, 1060, 3000, 3030, 3031, 3100, 3120, 3130, 3140, 3170, 3175, 3200, 3210,
            3231, 3391} <= set(EMITTED)
    assert {"0x80040400", "0x80040408"} <= set(EMITTED)


@pytest.mark.parametrize("code", EMITTED, ids=str)
def test_the_catalogue_explains_every_code_the_double_can_answer(code):
    info = lookup(code)
    assert info is not None and info.known, f"FakeQuickBooks answers {code}, which qbsync/qbxml/status_codes.py lacks"
    if isinstance(code, int):  # the double's severity for it is the catalogue's
        assert status.severity(code) == info.severity


@pytest.mark.parametrize("code", EMITTED, ids=str)
def test_qbsync_explain_exits_0_for_every_code_the_double_can_answer(code):
    from qbsync.cli import main

    out, err = io.StringIO(), io.StringIO()
    exit_code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["explain", str(code), "--format", "json"])
        except SystemExit as exc:
            exit_code = int(exc.code or 0)
    assert exit_code == 0, err.getvalue()
    data = json.loads(out.getvalue())
    assert (data["code"], data["known"]) == (code, True)
    assert data["steps"] and data["meaning"]
