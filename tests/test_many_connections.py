"""Many companies at once (issue 11): one server, many connections, their Web Connectors running
together over real HTTP (the real waitress server, WSGI app, ConnectorService and SQLite file;
the shipped WebConnector with one FakeQuickBooks company each). Every session completes, nobody
is answered busy but a connection's own second session, every change is synced exactly once,
and the login lockout counts concurrent failures exactly. benchmarks/bench_many.py measures the
same at 200 connections."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from soap_helpers import call
from wizard_support import TEST_HASH_COST

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.qbxml.schema import load_schema
from qbsync.qbxml.xsdmodel import XsdModel
from qbsync.store import logins, open_store
from qbsync.store.connections import add_connection, get_connection
from qbsync.sync import staging, wizard
from qbsync.sync.passwords import hash_password
from qbsync.testing import WebConnector
from qbsync.testing.fake_quickbooks import FakeQuickBooks

COMPANIES = 24
CHANGES = 3
PASSWORD = "many-pass-1"


def username(i: int) -> str:
    return f"company-{i:02d}-sync"


@pytest.fixture
def db(tmp_path):
    """COMPANIES connections, each with CHANGES approved CustomerAdds."""
    path = tmp_path / "qbsync.db"
    password_hash = hash_password(PASSWORD, cost=TEST_HASH_COST)
    with open_store(path, create=True) as store:
        for i in range(COMPANIES):
            add_connection(store, name=f"company-{i:02d}", username=username(i), password_hash=password_hash)
            conn = get_connection(store, f"company-{i:02d}")
            lines = [json.dumps({"id": f"C{i}-{k}", "Name": f"Customer {i:02d}-{k}"}) for k in range(CHANGES)]
            staging.stage_lines(store, conn, "Customer", lines)
            wizard.approve(store, conn)
    return path


@pytest.fixture
def log():
    logger = logging.getLogger("qbsync.test.many")
    logger.handlers[:] = []
    logger.propagate = False
    return logger


def at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(i)` for i in range(count), each in its own thread, all released together."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test shows it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_every_company_syncs_at_once_exactly_once_without_busy(db, log):
    """More Web Connectors than the server's connections and threads: the others wait for a
    connection, none is refused."""
    companies = [FakeQuickBooks() for _ in range(COMPANIES)]
    service = ConnectorService(str(db), log=log)
    with serve(make_wsgi_app(service, "/qbwc", log=log), "127.0.0.1", 0, threads=4, connection_limit=10) as server:
        url = server.url("/qbwc")
        reports = at_once(COMPANIES, lambda i: WebConnector(url, username(i), PASSWORD, company=companies[i],
                                                            noop_delay=0, timeout=60).run())

    for i, report in enumerate(reports):
        assert not isinstance(report, Exception), report
        assert report.ok and report.outcome == "complete", (i, report.errors, report.violations)
        assert report.noops == 0  # no NoOp: the store was never too busy to answer
        assert report.status_codes == [0] * CHANGES and report.final_message == f"Synced {CHANGES}"
        names = Counter(c["Name"] for c in companies[i].all("Customer"))
        assert names == Counter(f"Customer {i:02d}-{k}" for k in range(CHANGES))  # its own, each once
    with open_store(db) as store:
        assert store.query("SELECT status, count(*) AS n FROM changes GROUP BY status") == [
            {"status": "synced", "n": COMPANIES * CHANGES}]
        sessions = store.query("SELECT connection_id, closed_at FROM sessions")
        assert len(sessions) == COMPANIES and all(s["closed_at"] for s in sessions)
        assert len({s["connection_id"] for s in sessions}) == COMPANIES  # one session each


def test_a_connections_own_second_session_is_the_only_busy(db, log):
    """Eight authenticates of one connection at once: one session, seven busy; other companies
    logging in meanwhile are not held back."""
    service = ConnectorService(str(db), log=log)
    with serve(make_wsgi_app(service, "/qbwc", log=log), "127.0.0.1", 0, threads=4) as server:
        url = server.url("/qbwc")

        def login(i: int) -> list[str]:
            name = username(0) if i < 8 else username(i)
            return call(url, "authenticate", strUserName=name, strPassword=PASSWORD).strings

        answers = at_once(16, login)
    assert all(not isinstance(a, Exception) for a in answers), answers
    own = [a[1] for a in answers[:8]]
    assert own.count("busy") == 7 and sum(1 for a in answers[:8] if a[0] and a[1] not in ("busy", "nvu")) == 1
    assert all(a[0] and a[1] not in ("busy", "nvu", "none") for a in answers[8:])  # the others all got in


def test_concurrent_failed_logins_are_counted_exactly(db, log):
    """Twenty wrong passwords for one user name at once: the lock is set at exactly the limit's
    failure (counted one at a time under the store's write lock), then even the right password
    is refused, while another user name from the same address still logs in."""
    limit = 5
    service = ConnectorService(str(db), log=log, lockout_failures=limit, lockout_address_failures=0)
    with serve(make_wsgi_app(service, "/qbwc", log=log), "127.0.0.1", 0, threads=4) as server:
        url = server.url("/qbwc")
        answers = at_once(20, lambda i: call(url, "authenticate", strUserName=username(0),
                                            strPassword=f"wrong-{i}").strings)
        assert all(not isinstance(a, Exception) and a[1] == "nvu" for a in answers), answers
        right = call(url, "authenticate", strUserName=username(0), strPassword=PASSWORD).strings
        other = call(url, "authenticate", strUserName=username(1), strPassword=PASSWORD).strings
    assert right[1] == "nvu"
    assert other[0] and other[1] not in ("nvu", "busy", "none")
    with open_store(db) as store:
        (lock,) = logins.lockouts(store)
    assert (lock["scope"], lock["subject"], lock["failures"]) == (logins.USERNAME, username(0), limit)


def test_threads_reading_a_fresh_schema_model_at_once_see_every_leaf():
    """The qbXML model resolves declarations lazily: threads building messages at once on a cold
    model once saw a half-resolved leaf (no simple type yet) and the builder failed an assertion."""
    entry = load_schema("13.0").entry
    for _ in range(5):
        model = XsdModel(entry)
        empty: list[str] = []

        def walk(name: str) -> None:
            todo, seen = [model.message_element(name)], set()
            while todo:
                decl = todo.pop()
                if decl is None or id(decl) in seen:
                    continue
                seen.add(id(decl))
                if decl.simple is None and decl.content is None:
                    empty.append(decl.name)
                todo.extend(info.decl for info in decl.children.values())

        def run(_i: int) -> None:
            for name in ("CustomerAddRq", "InvoiceAddRq", "CustomerAddRs"):
                walk(name)

        at_once(8, run)
        assert empty == []


def test_stale_sessions_are_found_through_the_index_not_a_scan_of_every_session(db):
    """Every authenticate looks for abandoned sessions of any connection; sessions are kept, so
    that lookup must not read them all (many companies make hundreds of sessions a day)."""
    from qbsync.store import sessions

    with open_store(db) as store, store.transaction():
        ids = [get_connection(store, f"company-{i:02d}")["id"] for i in range(3)]
        for n, (cid, last, closed) in enumerate([(ids[0], "2026-01-01T00:00:00Z", None),
                                                 (ids[1], "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"),
                                                 (ids[2], "2026-01-03T00:00:00Z", None),
                                                 (ids[2], "2026-01-01T12:00:00Z", None)]):
            sessions.create_session(store, ticket_hash=f"h{n}", connection_id=cid, at=last, state={})
            if closed:
                store.execute("UPDATE sessions SET closed_at = ? WHERE ticket_hash = ?", (closed, f"h{n}"))
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)  # the statement as run, values filled in
        found = sessions.stale_sessions(store, "2026-01-02T00:00:00Z")
        store.conn.set_trace_callback(None)
        plan = " ".join(r["detail"] for r in store.query(f"EXPLAIN QUERY PLAN {statements[-1]}"))
    assert [s["ticket_hash"] for s in found] == ["h0", "h3"]  # open and silent since before, oldest first
    assert "SCAN sessions" not in plan and "sessions_by_connection" in plan


def test_the_server_log_has_no_line_per_queued_request(tmp_path):
    """serve-connector's log: waitress' warnings yes, but not its "Task queue depth is N" for every
    request that waits for a thread (hundreds a minute with many Web Connectors at once)."""
    from qbsync.commands.serve import configure_logging

    log_file = tmp_path / "serve.log"
    loggers = [logging.getLogger(n) for n in ("qbsync.connector", "qbsync.soap", "waitress", "waitress.queue")]
    before = [(lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    configure_logging(log_file)
    try:
        logging.getLogger("waitress.queue").warning("Task queue depth is 7")
        logging.getLogger("waitress").warning("total open connections reached the connection limit")
    finally:
        for lg, (handlers, level, propagate) in zip(loggers, before):
            for handler in lg.handlers:
                handler.close()
            lg.handlers[:], lg.propagate = handlers, propagate
            lg.setLevel(level)
    text = log_file.read_text(encoding="utf-8")
    assert "connection limit" in text and "queue depth" not in text
