"""The store under stress (issue 10 §3): SQLite busy while another qbsync process (a CLI command or
the connector) holds the write lock, a full disk, a store that cannot be written. Each time: one
clear line, the documented exit code (4 for a busy store, 1 otherwise), and nothing half-written;
the connector answers per its rules (busy / NoOp / -101) and carries on once the store is free."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from clock import Clock
from e2e_support import PASSWORD, USER, approve, db, stage  # noqa: F401 - db is a fixture
from soap_helpers import call
from wizard_support import ROOT, jsonl, run_cli

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.engine import session as engine
from qbsync.store import open_store

# A second qbsync process in the middle of a write transaction (as the connector is during a
# callback, or `stage` while it writes): it writes a row through qbsync's own Store, says "held",
# and keeps the transaction open until its stdin closes; then it rolls back (or commits with
# "commit" as its argument).
HOLDER = """
import sys
from qbsync.store import open_store
from qbsync.store.connections import add_connection
with open_store(sys.argv[1]) as store:
    try:
        with store.transaction():
            add_connection(store, name="half-written", username="half-written", password_hash="x")
            print("held", flush=True)
            sys.stdin.read()
            if sys.argv[2] != "commit":
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
print("released", flush=True)
"""


class Holder:
    def __init__(self, path, *, commit: bool = False):
        env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), "commit" if commit else "rollback"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            assert self.proc.stdout.readline().strip() == "released"
            self.proc.wait(timeout=30)
            self.proc.stdout.close()


@pytest.fixture
def holder(db):
    made: list[Holder] = []

    def hold(**kw) -> Holder:
        h = Holder(db, **kw)
        made.append(h)
        return h

    yield hold
    for h in made:
        h.release()


def _snapshot(db) -> list[tuple]:
    with open_store(db, write=False) as store:
        return [tuple(r.values()) for r in store.query(
            "SELECT id, status, checked, payload, note FROM changes ORDER BY id")] + [
            tuple(r.values()) for r in store.query("SELECT name FROM connections ORDER BY id")]


def one_line(proc, code: int, words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""


# -- SQLite busy: CLI against another process's write transaction --------------------------------


@pytest.mark.parametrize("args,stdin", [
    (("approve", "--yes"), None),
    (("stage", "Customer"), jsonl({"id": "C2", "Name": "Bolt"}, {"id": "C3", "Name": "Cobalt"})),
    (("uncheck", "1"), None),
])
def test_a_command_waits_for_the_busy_timeout_then_exits_4_having_written_nothing(db, holder, args, stdin):
    stage(db, "Customer", [{"id": "C1", "Name": "Acme"}])
    before = _snapshot(db)
    holder()
    started = time.monotonic()
    proc = run_cli(*args, db=db, input=stdin, env={"QBSYNC_BUSY_TIMEOUT": "0.5"})
    waited = time.monotonic() - started
    one_line(proc, 4, "is locked by another qbsync process (waited 0.5s); try again")
    assert waited >= 0.5  # it waited for the lock before giving up
    assert _snapshot(db) == before


def test_a_command_that_gets_the_lock_within_its_busy_timeout_just_succeeds(db, holder):
    stage(db, "Customer", [{"id": "C1", "Name": "Acme"}])
    h = holder(commit=True)
    timer = threading.Timer(0.5, h.release)
    timer.start()
    try:
        proc = run_cli("approve", "--yes", db=db, env={"QBSYNC_BUSY_TIMEOUT": "20"})
    finally:
        timer.join()
    assert proc.returncode == 0, proc.stderr
    with open_store(db, write=False) as store:
        assert [r["status"] for r in store.query("SELECT status FROM changes")] == ["queued"]
        assert store.scalar("SELECT count(*) FROM connections WHERE name = 'half-written'") == 1  # its commit


# -- SQLite busy: the connector against a CLI's (or another server's) write transaction --------------


def test_the_connector_answers_busy_and_noop_while_another_process_writes_then_carries_on(db, holder, monkeypatch):
    from qbsync.testing import WebConnector
    from qbsync.testing.fake_quickbooks import FakeQuickBooks

    stage(db, "Customer", [{"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt"}])
    approve(db)
    monkeypatch.setenv("QBSYNC_BUSY_TIMEOUT", "0.3")
    company = FakeQuickBooks()
    service = ConnectorService(str(db), clock=Clock(), batch_size=1)
    with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as server:
        url = server.url("/qbwc")
        ticket = call(url, "authenticate", strUserName=USER, strPassword=PASSWORD).strings[0]
        xml = call(url, "sendRequestXML", ticket=ticket, strHCPResponse=company.hcp_response(), strCompanyFileName="",
                   qbXMLCountry="US", qbXMLMajorVers=13, qbXMLMinorVers=0).text
        assert "Acme" in xml
        answer = company.process(xml).xml

        h = holder()
        # a second login: busy (not nvu, not a fault); the running session: FATAL for its answer
        assert call(url, "authenticate", strUserName=USER, strPassword=PASSWORD).strings[1] == engine.AUTH_BUSY
        percent = call(url, "receiveResponseXML", ticket=ticket, response=answer, hresult="", message="")
        assert int(percent.text) == engine.FATAL
        assert call(url, "getLastError", ticket=ticket).text == engine.NOOP
        with open_store(db, write=False) as store:  # nothing of the answer was recorded
            assert [r["status"] for r in store.query("SELECT status FROM changes ORDER BY id")] == ["sending", "queued"]
        h.release()

        # once the store is free, the next call settles the unanswered message as outcome unknown
        # (QuickBooks applied it: it is never sent again) and the session goes on
        xml = call(url, "sendRequestXML", ticket=ticket, strHCPResponse="", strCompanyFileName="",
                   qbXMLCountry="US", qbXMLMajorVers=13, qbXMLMinorVers=0).text
        assert "Bolt" in xml and "Acme" not in xml
        call(url, "receiveResponseXML", ticket=ticket, response=company.process(xml).xml, hresult="", message="")
        assert call(url, "closeConnection", ticket=ticket).text == "Synced 1, 1 outcome unknown"
        # the next run settles it: QuickBooks has Acme, so it is synced, not sent again
        report = WebConnector(url, USER, PASSWORD, company=company, noop_delay=0).run()
        assert report.outcome == "complete" and report.final_message == "Synced 1"
    with open_store(db, write=False) as store:
        rows = store.query("SELECT local_id, status, outcome_unknown FROM changes ORDER BY id")
    assert [(r["local_id"], r["status"], r["outcome_unknown"]) for r in rows] == [("C1", "synced", 0), ("C2", "synced", 0)]
    assert [c["Name"] for c in company.all("Customer")] == ["Acme", "Bolt"]


# -- a full disk ---------------------------------------------------------------------------------------


@pytest.fixture
def fill_disk(db, monkeypatch):
    """fill_disk(): every connection to the store at `db` opened from then on cannot grow it
    (SQLite's max_page_count at its size): the disk is full as far as SQLite can tell. Other
    SQLite files (FakeQuickBooks' company) are left alone. monkeypatch.undo() frees the space."""
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        if str(args[0] if args else kwargs.get("database")) == str(db):
            size = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {size}")
        return conn

    return lambda: monkeypatch.setattr(sqlite3, "connect", connect)


def test_staging_on_a_full_disk_is_one_clear_error_and_nothing_is_staged(db, fill_disk):
    before = _snapshot(db)
    fill_disk()
    lines = jsonl(*({"id": f"C{i}", "Name": f"Customer {i}", "Notes": "x" * 500} for i in range(300)))
    proc = run_cli("stage", "Customer", db=db, input=lines)
    one_line(proc, 1, "the store's disk is full")
    assert "nothing was written" in proc.stderr
    assert _snapshot(db) == before


def test_after_a_full_disk_the_store_is_whole_and_takes_the_same_input(db, fill_disk, monkeypatch):
    fill_disk()
    lines = jsonl(*({"id": f"C{i}", "Name": f"Customer {i}", "Notes": "x" * 500} for i in range(300)))
    assert run_cli("stage", "Customer", db=db, input=lines).returncode == 1
    monkeypatch.undo()  # space freed
    with open_store(db, write=False) as store:
        assert store.scalar("PRAGMA integrity_check") == "ok"
    proc = run_cli("stage", "Customer", db=db, input=lines)
    assert proc.returncode == 0, proc.stderr
    assert run_cli("pending", "--count", db=db).stdout == "300\n"


def test_a_full_disk_in_the_connector_is_never_a_fault_and_the_next_run_carries_on(db, fill_disk, monkeypatch):
    from qbsync.testing import WebConnector
    from qbsync.testing.fake_quickbooks import FakeQuickBooks

    stage(db, "Customer", [{"id": f"C{i}", "Name": f"Customer {i}", "Notes": "x" * 1000} for i in range(60)])
    approve(db)
    company = FakeQuickBooks()
    service = ConnectorService(str(db), clock=Clock())
    with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as server:
        url = server.url("/qbwc")
        fill_disk()
        full = WebConnector(url, USER, PASSWORD, company=company, noop_delay=0, max_noops=5).run()
        assert not full.violations, full.violations  # every answer a valid one: no SOAP fault
        # QuickBooks applied message 1, but its answer could not be recorded (-101); getLastError
        # says why (it does not pause with NoOp for ever), and the Web Connector ends the run
        assert full.calls[3:6] == ["sendRequestXML", "receiveResponseXML", "getLastError"]
        assert full.percent_trace[:1] == [-101] and full.outcome == "last_error"
        assert "disk is full" in full.final_message, full.final_message
        with open_store(db, write=False) as store:
            # the callback that could not write left nothing behind: nothing recorded as synced
            assert store.scalar("SELECT count(*) FROM changes WHERE status = 'synced'") == 0
        monkeypatch.undo()  # space freed
        with open_store(db, write=False) as store:
            assert store.scalar("PRAGMA integrity_check") == "ok"
        service.clock.advance(3600)  # whatever session the full disk left open has expired
        again = WebConnector(url, USER, PASSWORD, company=company, noop_delay=0).run()
        assert again.ok, (again.errors, again.violations)
    names = [c["Name"] for c in company.all("Customer")]
    assert len(names) == len(set(names)) == 60  # each customer once, whatever was in flight
    with open_store(db, write=False) as store:
        statuses = {r["status"] for r in store.query("SELECT status FROM changes")}
    assert statuses <= {"synced", "error"}


# -- a store that cannot be written --------------------------------------------------------------------


def test_a_store_sqlite_refuses_to_write_is_one_clear_error(db, monkeypatch):
    """A store SQLite will not write (a read-only file system, or a folder where the WAL files
    cannot be made: as root neither can be set up, so SQLite is told the same with query_only)."""
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA query_only = ON")
        return conn

    before = _snapshot(db)
    monkeypatch.setattr(sqlite3, "connect", connect)
    proc = run_cli("stage", "Customer", db=db, input=jsonl({"id": "C9", "Name": "Zed"}))
    one_line(proc, 1, "is read-only; cannot write to it")
    monkeypatch.undo()
    assert _snapshot(db) == before


@pytest.fixture
def read_only_folder(db, tmp_path):
    """The store alone in a folder nobody may write in (chattr +i: even root may not; this needs
    root and a file system with that flag, else the test is skipped)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    with open_store(db) as store:
        store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(db, folder / "qbsync.db")
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("cannot make a folder read-only for root here (chattr +i)")
    try:
        yield folder / "qbsync.db"
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_store_in_a_read_only_folder_reads_but_refuses_writes_in_one_line(read_only_folder):
    path = read_only_folder
    before = path.read_bytes()
    proc = run_cli("stage", "Customer", db=path, input=jsonl({"id": "C9", "Name": "Zed"}))
    one_line(proc, 1, f"cannot write to store {path}")
    assert "permissions of the file and of its folder" in proc.stderr
    one_line(run_cli("approve", "--yes", db=path), 1, "cannot write to store")
    listed = run_cli("connection", "list", "--format", "json", db=path)
    assert listed.returncode == 0 and '"name": "acme"' in listed.stdout, listed.stderr
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["qbsync.db"]
