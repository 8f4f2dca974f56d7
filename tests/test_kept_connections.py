"""The server keeps its store connections between callbacks (KeptStores): the CLI, another
process, and the server still see each other's commits at once, and a kept connection is used
again only when a fresh one would read the same store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import pytest
from e2e_support import PASSWORD, USER, db  # noqa: F401 - db is a fixture
from wizard_support import ROOT

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.errors import QbsyncError
from qbsync.store import open_store
from qbsync.store.db import KeptStores
from qbsync.testing import WebConnector
from qbsync.testing.fake_quickbooks import FakeQuickBooks


def cli(db, *args: str, input: str | None = None) -> str:
    """`qbsync ARGS` in a process of its own, as an admin at a terminal runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(QBSYNC_DB=str(db), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "qbsync", *args], input=input, capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_cli_and_a_running_server_see_each_others_writes_at_once(db):
    company = FakeQuickBooks()
    service = ConnectorService(str(db))
    wal = db.with_name(db.name + "-wal")
    try:
        with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as server:
            url = server.url("/qbwc")
            for n in range(3):
                # the CLI stages and approves: the server's next session sends exactly that
                cli(db, "stage", "Customer", "-", input=json.dumps({"id": f"C{n}", "Name": f"Customer {n}"}) + "\n")
                for page in ("/healthz", "/support"):  # they open the store in the server's process
                    with urllib.request.urlopen(server.url(page), timeout=30) as answer:
                        assert answer.status == 200
                cli(db, "approve", "--yes")
                report = WebConnector(url, USER, PASSWORD, company=company, noop_delay=0).run()
                assert report.ok, (report.errors, report.violations)
                assert report.final_message.startswith("Synced 1"), report.final_message
                assert [c["Name"] for c in company.all("Customer")] == [f"Customer {i}" for i in range(n + 1)]
                # the server recorded it: the CLI sees it synced, nothing queued
                rows = json.loads(cli(db, "records", "Customer", "--format", "json"))
                assert sorted(r["local_id"] for r in rows if r["qb_id"]) == [f"C{i}" for i in range(n + 1)]
                assert cli(db, "pending", "--count") == "0\n"
                assert json.loads(cli(db, "queue", "--format", "json")) == []
                # the server's kept connection holds the WAL: the CLI's close is never the last
                assert wal.exists()
    finally:
        service.close()
    assert not wal.exists()  # the last close checkpointed it into the store
    with open_store(db) as store:
        assert store.scalar("PRAGMA integrity_check") == "ok"
        assert store.scalar("SELECT count(*) FROM changes WHERE status = 'synced'") == 3


def test_a_kept_connection_is_used_again(db):
    kept = KeptStores(db)
    with kept.borrow() as first:
        pass
    with kept.borrow() as again:
        assert again is first
    kept.close()


def test_a_connection_whose_use_raised_is_not_kept(db):
    kept = KeptStores(db)
    with pytest.raises(RuntimeError), kept.borrow() as first:
        raise RuntimeError("boom")
    with pytest.raises(Exception):  # noqa: B017 - closed: any use fails
        first.scalar("SELECT 1")
    with kept.borrow() as again:
        assert again is not first
    kept.close()


def test_a_transaction_left_open_is_not_used_again(db):
    kept = KeptStores(db)
    with kept.borrow() as first:
        first.execute("BEGIN")  # (a bug elsewhere) left open: its snapshot would be stale
    with kept.borrow() as again:
        assert again is not first and not again.conn.in_transaction
    kept.close()


def test_a_store_replaced_at_its_path_is_opened_anew(db, tmp_path):
    kept = KeptStores(db)
    with kept.borrow() as first:
        first.execute("INSERT INTO settings (key, value) VALUES ('old', 'x')")
    with open_store(db) as store:
        store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = tmp_path / "restored.db"
    shutil.copy(db, copy)
    with open_store(copy) as store:
        store.execute("INSERT INTO settings (key, value) VALUES ('restored', 'x')")
    os.replace(copy, db)  # e.g. a backup restored by moving it into place
    with kept.borrow() as again:
        assert again is not first
        assert again.scalar("SELECT count(*) FROM settings WHERE key = 'restored'") == 1
    kept.close()
    first.close()


def test_a_schema_changed_meanwhile_is_checked_again(db):
    kept = KeptStores(db)
    with kept.borrow() as first:
        pass
    with open_store(db) as store:  # a newer qbsync migrated the store
        store.execute("INSERT INTO qbsync_migrations (id, name, applied_at) VALUES (999, 'future', 'x')")
        store.execute("CREATE TABLE future (x)")
    with pytest.raises(QbsyncError, match="newer"), kept.borrow():
        pass
    kept.close()
    first.close()


def test_after_close_each_use_opens_and_closes_its_own(db):
    kept = KeptStores(db)
    with kept.borrow() as first:
        pass
    kept.close()
    with pytest.raises(Exception):  # noqa: B017 - closed
        first.scalar("SELECT 1")
    with kept.borrow() as later:
        assert later.scalar("SELECT 1") == 1
    with pytest.raises(Exception):  # noqa: B017 - closed when given back
        later.scalar("SELECT 1")


def test_an_abandoned_iteration_leaves_no_statement_open(db):
    with open_store(db) as store:
        store.executemany("INSERT INTO settings (key, value) VALUES (?, 'x')", [(f"k{i}",) for i in range(50)])
        rows = store.iter_query("SELECT key FROM settings ORDER BY key", size=10)
        next(rows)
        rows.close()  # abandoned half-way
        with open_store(db) as other, other.transaction():
            other.execute("INSERT INTO settings (key, value) VALUES ('later', 'x')")
        # a SELECT left unfinished would keep its snapshot: this read would not see 'later'
        assert store.scalar("SELECT count(*) FROM settings WHERE key = 'later'") == 1
