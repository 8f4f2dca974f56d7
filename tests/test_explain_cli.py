"""`qbsync explain` through the real CLI (in process): exit codes, JSON on stdout, errors on stderr."""

from __future__ import annotations

import json
import subprocess

import pytest
from wizard_support import run_cli

from qbsync.qbxml.status_codes import all_codes

CONTRACT_KEYS = {"code", "severity", "meaning", "retry_helps", "fix_edit_sequence_helps", "who_acts", "steps"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("explain", *args)


def run_json(*args: str):
    result = run(*args, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


def test_3200_json():
    data = run_json("3200")
    assert CONTRACT_KEYS <= set(data)
    assert data["code"] == 3200
    assert data["severity"] == "Error"
    assert data["fix_edit_sequence_helps"] is True
    assert data["retry_helps"] is False
    assert data["who_acts"] == "app"
    assert isinstance(data["steps"], list) and data["steps"] and all(isinstance(s, str) for s in data["steps"])
    assert isinstance(data["meaning"], str) and data["meaning"]


def test_3231_can_be_retried():
    data = run_json("3231")
    assert data["retry_helps"] is True and data["fix_edit_sequence_helps"] is False and data["who_acts"] == "app"


def test_3171_is_for_quickbooks():
    data = run_json("3171")
    assert data["who_acts"] == "quickbooks" and data["retry_helps"] is False


@pytest.mark.parametrize("spelling", ["0x80040400", "0X80040400", "80040400"])
def test_hresult_spellings(spelling):
    data = run_json(spelling)
    assert data["code"] == "0x80040400"
    assert data["who_acts"] == "app" and data["retry_helps"] is False
    assert data["severity"] == "Error"


def test_hresult_with_letters_is_case_insensitive():
    assert run_json("8004041d")["code"] == "0x8004041D"


def test_text_output_for_people():
    result = run("3200")
    assert result.returncode == 0 and result.stderr == ""
    out = result.stdout
    assert "3200" in out and "Error" in out
    assert "Retry helps: no" in out
    assert "Fix Edit Sequence helps: yes" in out
    assert "Who acts:" in out
    assert "\n  1. " in out and "\n  2. " in out


def test_format_is_case_insensitive():
    result = run("3171", "--format", "JSON")
    assert result.returncode == 0 and json.loads(result.stdout)["code"] == 3171


@pytest.mark.parametrize("code, fragment", [("3150", "3100-9099"), ("3300", "3100-9099"), ("0x80049999", "HRESULT")])
def test_unknown_code_exits_3_with_one_line(code, fragment):
    result = run(code, "--format", "json")
    assert result.returncode == 3
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("qbsync: error: unknown status code")
    assert code in lines[0] and fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_malformed_code_exits_3():
    result = run("abc")
    assert result.returncode == 3 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "not a status code" in result.stderr


def test_missing_code_is_a_usage_error():
    result = run()
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr


def test_bad_format_is_a_usage_error():
    result = run("3200", "--format", "xml")
    assert result.returncode == 2 and result.stdout == ""


def test_list_json_contains_every_code():
    rows = run_json("--list")
    assert isinstance(rows, list)
    assert [row["code"] for row in rows] == [info.code for info in all_codes()]
    for row in rows:
        assert CONTRACT_KEYS <= set(row)
        assert row["who_acts"] in ("quickbooks", "app")


def test_all_is_an_alias_of_list():
    assert run_json("--all") == run_json("--list")


def test_list_table():
    result = run("--list")
    assert result.returncode == 0 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["code", "severity"]
    assert len(lines) == 2 + len(all_codes())  # header, rule, one row per code
    assert any(line.startswith("0x80040400") for line in lines)


def test_list_with_a_code_is_a_usage_error():
    result = run("3200", "--list")
    assert result.returncode == 2 and result.stdout == ""


def test_help_has_an_example():
    result = run("--help")
    assert result.returncode == 0
    assert "qbsync explain 3200" in result.stdout
