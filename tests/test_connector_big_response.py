"""A legitimate big qbXML response passes the request limit and is read (issue 10 §4): QuickBooks'
answer to a message, followed by a query response of many CustomerRet, posted as the Web
Connector posts it, to the real service over real HTTP. 10 MB in the normal suite; 50 MB, with
the server's memory measured, behind `make soak` (pytest -m soak)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import approve, db, stage  # noqa: F401 - db is a fixture
from hardening_support import big_query_response, open_session, receive, statuses

from qbsync.connector.app import MAX_BODY_BYTES, MB, make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.testing.web_connector.soap import build_envelope

ROOT = Path(__file__).resolve().parents[1]


def _queue_one(db) -> None:
    stage(db, "Customer", [{"id": "C1", "Name": "Big Response Customer"}])
    approve(db)


def test_a_10_mb_response_is_read_and_recorded(db):
    _queue_one(db)
    with serve(make_wsgi_app(ConnectorService(str(db)), "/qbwc"), "127.0.0.1", 0, threads=2) as server:
        url = server.url("/qbwc")
        ticket, request_ids = open_session(url)
        xml = big_query_response(request_ids, 10 * MB)
        started = time.monotonic()
        reply = receive(url, ticket, xml)
        elapsed = time.monotonic() - started
    assert reply.status == 200, reply.body[:300]
    assert reply.text("receiveResponseXML") == "100"
    assert statuses(db) == {("synced", 0): 1}
    assert elapsed < 30, f"a 10 MB response took {elapsed:.1f} s"


def test_a_50_mb_response_fits_the_default_limit_once_escaped():
    """SOAP escapes every < > & of the qbXML: 50 MB of qbXML is about 69 MB on the wire."""
    xml = big_query_response(["c1"], 50 * MB)
    wire = len(build_envelope("receiveResponseXML", {"ticket": "t" * 32, "response": xml}))
    assert 50 * MB <= len(xml) < wire < MAX_BODY_BYTES


def _memory(pid: int) -> tuple[int, int]:
    """(current, peak) resident memory of `pid` in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024


@pytest.mark.soak
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the server's memory from /proc")
def test_soak_a_50_mb_response_through_serve_connector(db, tmp_path):
    """The real `serve-connector` process: a 50 MB query response is answered 200 and recorded;
    its time and the server's peak memory are printed (and bounded)."""
    _queue_one(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "qbsync", "serve-connector", "--db", str(db), "--port", "0",
                             "--log-file", str(tmp_path / "connector.log")],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env, cwd=str(ROOT))
    try:
        url = proc.stdout.readline().strip()
        assert url, "serve-connector did not start"
        ticket, request_ids = open_session(url)
        xml = big_query_response(request_ids, 50 * MB)
        _, before = _memory(proc.pid)
        started = time.monotonic()
        reply = receive(url, ticket, xml)
        elapsed = time.monotonic() - started
        _, peak = _memory(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"\n50 MB qbXML response: {elapsed:.1f} s, server peak memory {peak} MB (was {before} MB before)")
    assert reply.status == 200 and reply.text("receiveResponseXML") == "100"
    assert statuses(db) == {("synced", 0): 1}
    assert elapsed < 120
    assert peak - before < 12 * 50  # MB: today about 430 (see docs/connector.md, "Limits")
