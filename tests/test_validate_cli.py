"""`qbsync validate` through the real CLI (in process; the help once as a real process): output
lines, json, stdin, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from wizard_support import run_cli

FIXTURES = (Path(os.environ.get("QBSYNC_PUBLISHED_XSD") or Path(__file__).resolve().parents[2] / "shared" / "qbxml-xsd").parent / "qbxml-fixtures")
if not FIXTURES.is_dir():
    FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "qbxml-fixtures"
SAMPLES = sorted(str(p) for p in (FIXTURES / "intuit-sdk-samples").glob("*.xml"))
INVALID = {
    "invalid_amount_rq.xml": (10, "/QBXML/QBXMLMsgsRq/InvoiceAddRq/InvoiceAdd/InvoiceLineAdd/Amount", "amount '10.5' must have 0 or 2 decimals"),
    "invalid_missing_onerror_rq.xml": (4, "/QBXML/QBXMLMsgsRq", "needs the onError attribute"),
    "invalid_wrong_order_rq.xml": (7, "/QBXML/QBXMLMsgsRq/CustomerAddRq/CustomerAdd/CompanyName", "out of order"),
}
# fixtures whose request/response types the embedded schema covers and that are valid
EMBEDDED_VALID = sorted(
    str(p)
    for p in FIXTURES.rglob("*.xml")
    if p.parent.name == "authored" and not p.name.startswith("invalid_")
) + [str(FIXTURES / "hotglue-qbwc-common" / n) for n in ("account-add.request.xml", "account-add.response.xml")]


def run(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`qbsync validate ARGS`, stdout and stderr as bytes."""
    proc = run_cli("validate", *args, input=stdin, env=env)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.encode(), proc.stderr.encode())


def test_intuit_samples_valid_against_published_13(published_xsd):
    assert len(SAMPLES) == 14
    r = run(*SAMPLES, "--schema-dir", str(published_xsd / "13.0"))
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert r.stdout == b""
    assert r.stderr.decode().strip().splitlines()[-1] == "14 files (14 requests): all valid"


@pytest.mark.parametrize("name", sorted(INVALID))
def test_each_invalid_fixture_exits_3_with_its_reason(name):
    path = str(FIXTURES / "authored" / name)
    r = run(path)
    assert r.returncode == 3
    line, el_path, reason = INVALID[name]
    out = r.stdout.decode().splitlines()
    assert len(out) == 1
    assert out[0].startswith(f"{path}:{line}: {el_path}: ") and reason in out[0]
    assert "1 invalid, 1 error" in r.stderr.decode()


def test_invalid_fixtures_against_published_too(published_xsd):
    paths = [str(FIXTURES / "authored" / n) for n in sorted(INVALID)]
    r = run(*paths, "--schema-dir", str(published_xsd))
    assert r.returncode == 3
    assert len(r.stdout.decode().splitlines()) == 3


def test_embedded_default_on_supported_fixtures():
    r = run(*EMBEDDED_VALID)
    assert r.returncode == 0, r.stdout.decode()
    assert "all valid" in r.stderr.decode()


def test_json_output_one_row_per_file():
    files = [str(FIXTURES / "authored" / "customer_add_rq.xml"), str(FIXTURES / "authored" / "customer_add_rs.xml"),
             str(FIXTURES / "authored" / "invalid_amount_rq.xml")]
    r = run(*files, "--format", "json")
    assert r.returncode == 3
    rows = json.loads(r.stdout)
    assert [row["file"] for row in rows] == files
    assert [(row["kind"], row["version"], row["valid"]) for row in rows] == [
        ("request", "13.0", True), ("response", None, True), ("request", "13.0", False)
    ]
    for row in rows:
        assert {"file", "kind", "version", "valid", "errors", "warnings"} <= set(row)
    assert rows[2]["errors"] == [{
        "line": 10,
        "path": "/QBXML/QBXMLMsgsRq/InvoiceAddRq/InvoiceAdd/InvoiceLineAdd/Amount",
        "message": "amount '10.5' must have 0 or 2 decimals (e.g. 10.50)",
    }]


def test_stdin():
    data = (FIXTURES / "authored" / "invalid_wrong_order_rq.xml").read_bytes()
    r = run("-", stdin=data)
    assert r.returncode == 3
    assert r.stdout.decode().startswith("<stdin>:7: /QBXML/QBXMLMsgsRq/CustomerAddRq/CustomerAdd/CompanyName: ")
    ok = run("-", "--format", "json", stdin=(FIXTURES / "authored" / "customer_query_iter_rs.xml").read_bytes())
    assert ok.returncode == 0 and json.loads(ok.stdout)[0]["kind"] == "response"


def test_schema_dir_from_env_and_version_flag(published_xsd):
    body = (b'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
            b"<PayrollItemQueryRq/></QBXMLMsgsRq></QBXML>")
    r = run("-", env={"QBSYNC_QBXML_SCHEMA_DIR": str(published_xsd)}, stdin=body)
    assert r.returncode == 3 and b"it exists in qbXML 15.0" in r.stdout
    r = run("-", "--version", "16.0", env={"QBSYNC_QBXML_SCHEMA_DIR": str(published_xsd)}, stdin=body)
    assert r.returncode == 0, r.stdout


def test_malformed_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text('<?xml version="1.0"?>\n<QBXML>\n  <QBXMLMsgsRq onError="stopOnError">\n</QBXML>\n')
    r = run(str(bad))
    assert r.returncode == 3
    (line,) = r.stdout.decode().splitlines()
    assert line.startswith(f"{bad}:4: /: not well-formed XML")


@pytest.mark.parametrize(
    "args,needle",
    [
        ((), "no FILE given"),
        (("does-not-exist.xml",), "file not found: does-not-exist.xml"),
        (("-", "--version", "17.0"), "17.0 is newer than any schema"),
        (("-", "--schema-dir", "/no/such/folder"), "schema folder not found: /no/such/folder"),
        (("-", "--format", "yaml"), "yaml"),
    ],
)
def test_usage_errors_exit_2(args, needle):
    r = run(*args, stdin=b"")
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr.decode()
    assert r.stdout == b""


def test_missing_file_among_good_ones_validates_nothing():
    good = str(FIXTURES / "authored" / "customer_add_rq.xml")
    r = run(good, "missing.xml")
    assert r.returncode == 2 and b"missing.xml" in r.stderr and r.stdout == b""


def test_help_has_an_example():
    r = subprocess.run([sys.executable, "-m", "qbsync", "validate", "--help"], capture_output=True, timeout=60)
    assert r.returncode == 0 and b"qbsync validate request.xml" in r.stdout
