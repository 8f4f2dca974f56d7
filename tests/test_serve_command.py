"""`qbsync serve-connector` as a real subprocess: it prints its URL, answers /healthz and a Web
Connector run, logs one line per event, stops cleanly on SIGTERM/SIGINT, and refuses bad
setups with one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from soap_helpers import request

from qbsync.store import open_store
from qbsync.store.connections import add_connection
from qbsync.sync.passwords import hash_password
from qbsync.testing import WebConnector
from qbsync.testing.fake_quickbooks import FakeQuickBooks

ROOT = Path(__file__).resolve().parents[1]


def _env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env["PYTHONPATH"] = str(ROOT)
    env["QBSYNC_DB"] = str(db)
    return env


def start(db: Path, *args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "qbsync", "serve-connector", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=_env(db),
        cwd=str(ROOT),
    )
    url = proc.stdout.readline().strip()
    if not url:
        proc.wait(timeout=10)
        pytest.fail(f"serve-connector did not start: {proc.stderr.read()}")
    return proc, url


def run(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qbsync", "serve-connector", *args], capture_output=True, text=True,
        env=_env(db), cwd=str(ROOT), timeout=30, stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    with open_store(path, create=True) as store:
        add_connection(store, name="acme", username="acme-sync", password_hash=hash_password("pw-acme-123"))
    return path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_and_stops_cleanly(db, sig):
    proc, url = start(db, "--path", "/qbwc", "--threads", "2")
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/qbwc")
        base = url.rsplit("/", 1)[0]
        assert request(f"{base}/healthz").body == b"ok"
        assert request(f"{base}/support").status == 200
        assert request(f"{url}?wsdl").status == 200
        report = WebConnector(url, "acme-sync", "pw-acme-123", company=FakeQuickBooks(), noop_delay=0).run()
        assert report.outcome == "no_work" and report.ok
        proc.send_signal(sig)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert "serving the Web Connector on " + url in err
    assert f"stopped by {sig.name}" in err
    assert "Traceback" not in err and "pw-acme-123" not in err


def test_log_file_takes_the_lines(db, tmp_path):
    log_file = tmp_path / "connector.log"
    proc, url = start(db, "--log-file", str(log_file))
    try:
        WebConnector(url, "acme-sync", "pw-acme-123", company=FakeQuickBooks(), noop_delay=0).run()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log_file.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0].split(" ", 1)[0].endswith("Z")  # ISO-8601 UTC timestamps
    assert "serving the Web Connector" in text and "stopped by SIGTERM" in text
    assert "pw-acme-123" not in text
    assert proc.stderr.read() == ""


def test_refuses_a_missing_store(tmp_path):
    proc = run(tmp_path / "missing.db", "--port", "0")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "qbsync init" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("args, words", [
    (["--path", "qbwc"], "--path"),
    (["--path", "/support"], "status pages"),
    (["--min-client-version", "latest"], "--min-client-version"),
])
def test_refuses_bad_options(db, args, words):
    proc = run(db, "--port", "0", *args)
    assert proc.returncode == 2 and words in proc.stderr and proc.stderr.count("\n") == 1


def test_refuses_a_port_in_use(db):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        proc = run(db, "--port", str(port))
    assert proc.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_record_and_log_qbxml_reach_the_service(db, tmp_path):
    import json

    from qbsync.store.connections import get_connection
    from qbsync.sync import staging, wizard

    with open_store(db) as store:
        conn = get_connection(store, "acme")
        staging.stage_lines(store, conn, "Customer", [json.dumps({"id": "c1", "Name": "Recorded & Co"})])
        wizard.approve(store, conn)
    record = tmp_path / "recordings"
    proc, url = start(db, "--record", str(record), "--log-qbxml", "--batch-size", "5")
    try:
        report = WebConnector(url, "acme-sync", "pw-acme-123", company=FakeQuickBooks(), noop_delay=0).run()
        assert report.ok and report.round_trips == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert "<CustomerAddRq" in err and "pw-acme-123" not in err
    sessions = [p for p in record.iterdir() if p.is_dir()]
    assert len(sessions) == 1 and (sessions[0] / "session.json").is_file()
    assert "pw-acme-123" not in "".join(p.read_text(errors="replace") for p in sessions[0].glob("*.json"))
