"""`qbsync simulate`: one Web Connector pass from the command line against a real waitress server."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from qbwc_test_server import CannedCompany, QbwcService, customer_query, qbxml_request, serve

import qbsync.commands.simulate as simulate_cmd
from qbsync.cli import main

PASSWORD = "pa55-word-never-printed"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def canned(monkeypatch):
    """The tiny test company in place of FakeQuickBooks, for tests of the command itself."""
    made = []

    def make(version, path):
        made.append((version, path))
        return CannedCompany(qbxml_version=version)

    monkeypatch.setattr(simulate_cmd, "_make_company", make)
    monkeypatch.setenv("QBWC_TEST_PASSWORD", PASSWORD)
    return made


def invoke(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return exc.value.code or 0, out, err


def args(url, *extra):
    return ["simulate", "--url", url, "--username", "qbuser", "--password-env", "QBWC_TEST_PASSWORD",
            "--noop-delay", "0", *extra]


def test_json_report_and_exit_0(canned, capsys):
    service = QbwcService(requests=[customer_query("1"), customer_query("2")], password=PASSWORD)
    with serve(service) as url:
        code, out, err = invoke(args(url, "--format", "json", "--qbxml-version", "16.0"), capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True and report["outcome"] == "complete"
    assert report["calls"] == ["serverVersion", "clientVersion", "authenticate"] + \
        ["sendRequestXML", "receiveResponseXML"] * 2 + ["closeConnection"]
    assert report["round_trips"] == 2 and report["percent_trace"] == [50, 100]
    assert report["status_codes"] == [0, 0] and report["final_message"] == "Complete!"
    assert canned == [("16.0", None)]
    assert service.calls("sendRequestXML")[0].param("qbXMLMajorVers") == "16"
    assert PASSWORD not in out + err and err == ""


def test_text_report(canned, capsys):
    service = QbwcService(requests=[customer_query()], password=PASSWORD)
    with serve(service) as url:
        code, out, err = invoke(args(url), capsys)
    assert code == 0
    assert "Outcome: complete (ok)" in out and "Final message: Complete!" in out
    assert "Round trips: 1" in out and "Percent: 100" in out
    assert PASSWORD not in out + err


def test_failed_run_exits_1_with_the_report_on_stdout_and_one_line_on_stderr(canned, capsys):
    service = QbwcService(requests=[customer_query()], password="something-else")
    with serve(service) as url:
        code, out, err = invoke(args(url, "--format", "json"), capsys)
    assert code == 1
    assert json.loads(out)["outcome"] == "invalid_user"
    assert err.count("\n") == 1 and err.startswith("qbsync: error: ")
    assert "Invalid password for username" in err
    assert PASSWORD not in out + err


def test_protocol_violation_exits_1(canned, capsys):
    service = QbwcService(requests=[customer_query()], password=PASSWORD, percents=["33.3"])
    with serve(service) as url:
        code, out, err = invoke(args(url), capsys)
    assert code == 1 and "QBWC1042" in err and "Violation:" in out


def test_missing_password_variable_is_a_usage_error(canned, capsys, monkeypatch):
    monkeypatch.delenv("QBWC_TEST_PASSWORD")
    code, out, err = invoke(args("http://127.0.0.1:9/qbwc"), capsys)
    assert code == 2 and out == ""
    assert "QBWC_TEST_PASSWORD is not set" in err and canned == []


@pytest.mark.parametrize("extra,needle", [((), "--url"), (("--qbxml-version", "13"), "--qbxml-version")])
def test_bad_url_or_version_is_a_usage_error(canned, capsys, extra, needle):
    url = "ftp://example.com/qbwc" if not extra else "http://127.0.0.1:9/qbwc"
    code, out, err = invoke(args(url, *extra), capsys)
    assert code == 2 and needle in err and out == ""


def test_unreachable_service_exits_1(canned, capsys):
    code, out, err = invoke(args("http://127.0.0.1:9/qbwc", "--timeout", "2"), capsys)
    assert code == 1 and "could not reach" in err


def test_help_has_an_example(capsys):
    code, out, _ = invoke(["simulate", "--help"], capsys)
    assert code == 0 and "--password-env" in out and "qbsync simulate --url" in out


HAVE_FAKE_QB = importlib.util.find_spec("qbsync.testing.fake_quickbooks") is not None


@pytest.mark.skipif(not HAVE_FAKE_QB, reason="qbsync.testing.fake_quickbooks not written yet")
def test_company_file_is_kept_between_runs_with_the_real_fake_quickbooks(tmp_path):
    company = tmp_path / "company.db"
    add = qbxml_request('<CustomerAddRq requestID="1"><CustomerAdd><Name>Simulate &amp; Sons</Name>'
                        "</CustomerAdd></CustomerAddRq>")
    query = qbxml_request('<CustomerQueryRq requestID="2"><FullName>Simulate &amp; Sons</FullName></CustomerQueryRq>')
    env = {**os.environ, "QBWC_TEST_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT)}

    def cli_run(requests):
        service = QbwcService(requests=requests, password=PASSWORD)
        with serve(service) as url:
            done = subprocess.run(
                [sys.executable, "-m", "qbsync", *args(url, "--company-file", str(company), "--format", "json")],
                capture_output=True, text=True, env=env, timeout=120,
            )
        assert PASSWORD not in done.stdout + done.stderr
        return done, json.loads(done.stdout)

    done, first = cli_run([add])
    assert done.returncode == 0, done.stderr
    assert first["status_codes"] == [0]
    assert company.exists()
    done, second = cli_run([query, add])
    # the customer is still there: found by the query, and a second add is refused (3100)
    assert second["status_codes"] == [0, 3100]
    assert done.returncode == 0
