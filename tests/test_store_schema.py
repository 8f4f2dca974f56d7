"""The store file: creation, migrations from every earlier version, refusing foreign,
missing, newer and read-only files, WAL, and the busy timeout."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from qbsync.errors import QbsyncError, StoreBusy
from qbsync.store import connections, open_store, schema
from qbsync.store.db import Store

# The schema each released migration leaves behind, as SQLite keeps it. A released migration
# never changes, so neither do these files; a new migration adds one.
GOLDEN = Path(__file__).parent / "golden" / "store_schema"


def schema_text(path: Path) -> str:
    """The file's schema, one statement per line, whitespace normalised (it is not schema)."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name").fetchall()
    finally:
        conn.close()
    return "".join(" ".join(sql.split()) + ";\n" for (sql,) in rows)


def blank_store(path: Path) -> Store:
    """A Store on an empty SQLite file, nothing migrated yet (as an earlier qbsync started)."""
    return Store(path, sqlite3.connect(path, isolation_level=None), readonly=False)


def test_fresh_file_ends_at_the_latest_schema(tmp_path):
    path = tmp_path / "new.db"
    with open_store(path, create=True) as store:
        assert schema.version(store) == schema.LATEST
        assert store.scalar("PRAGMA journal_mode") == "wal"
        assert store.scalar("PRAGMA application_id") == 0x71627379
        assert {"connections", "records", "changes", "failures", "feed", "seen", "change_refs"} <= set(store.db.table_names())
    with open_store(path, create=True) as store:  # idempotent
        assert [r["id"] for r in store.query("SELECT id FROM qbsync_migrations")] == [n for n, _, _ in schema.MIGRATIONS]


@pytest.mark.parametrize("upto", [n for n, _, _ in schema.MIGRATIONS][:-1])
def test_every_earlier_version_migrates_to_the_latest_keeping_data(tmp_path, upto):
    path = tmp_path / "old.db"
    with open_store(path, create=True) as store:
        pass
    # Rebuild the file as an earlier qbsync would have left it.
    path.unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"old.db{suffix}").unlink(missing_ok=True)
    store = blank_store(path)
    schema.migrate(store, upto=upto)
    store.execute(
        "INSERT INTO connections (name, username, password_hash, created_at, updated_at) VALUES ('old', 'u', 'h', 'x', 'x')"
    )
    store.close()
    with open_store(path) as store:
        assert schema.version(store) == schema.LATEST
        (row,) = connections.list_connections(store)
        assert row["name"] == "old" and row["last_contact_at"] is None
    fresh = tmp_path / "fresh.db"
    open_store(fresh, create=True).close()
    assert schema_text(path) == schema_text(fresh)


@pytest.mark.parametrize("number", [n for n, _, _ in schema.MIGRATIONS])
def test_each_released_migration_still_creates_exactly_what_it_did(tmp_path, number):
    path = tmp_path / "s.db"
    store = blank_store(path)
    try:
        schema.migrate(store, upto=number)
    finally:
        store.close()
    golden = GOLDEN / f"after_migration_{number}.sql"
    text = schema_text(path)
    if not golden.exists():
        pytest.fail(f"migration {number} is new: save the schema it leaves as {golden}:\n{text}")
    assert text == golden.read_text(encoding="utf-8"), (
        f"migration {number} (or one before it) now creates something else; released migrations never change: "
        "add a new migration instead"
    )


def test_missing_file_is_not_created(tmp_path):
    path = tmp_path / "nope.db"
    with pytest.raises(QbsyncError, match="no store at .*qbsync init"):
        open_store(path)
    assert not path.exists()


def test_foreign_files_are_refused_and_left_alone(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("hello")
    with pytest.raises(QbsyncError, match="not an SQLite database"):
        open_store(text, create=True)
    assert text.read_text() == "hello"
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(QbsyncError, match="not a qbsync store"):
        open_store(other, create=True)
    assert other.read_bytes() == before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "s.db"
    with open_store(path, create=True) as store:
        store.execute("INSERT INTO qbsync_migrations (id, name, applied_at) VALUES (999, 'future', 'x')")
    with pytest.raises(QbsyncError, match="newer"):
        open_store(path)


def test_read_only_file_reads_but_never_writes(tmp_path):
    path = tmp_path / "s.db"
    with open_store(path, create=True) as store:
        connections.add_connection(store, name="main", username="u", password_hash="h")
    os.chmod(path, 0o444)
    try:
        with pytest.raises(QbsyncError, match="read-only"):
            open_store(path)
        with open_store(path, write=False) as store:
            assert [c["name"] for c in connections.list_connections(store)] == ["main"]
            with pytest.raises(QbsyncError, match="read-only"):
                connections.add_connection(store, name="x", username="x", password_hash="h")
    finally:
        os.chmod(path, 0o644)


def test_a_lock_held_past_the_busy_timeout_is_store_busy(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    open_store(path, create=True).close()
    monkeypatch.setenv("QBSYNC_BUSY_TIMEOUT", "0.2")
    holder = open_store(path)
    ready, release = threading.Event(), threading.Event()

    def hold():
        with holder.transaction():
            ready.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    ready.wait(5)
    try:
        with open_store(path) as store:
            with pytest.raises(StoreBusy) as caught:
                connections.add_connection(store, name="main", username="u", password_hash="h")
            assert caught.value.exit_code == 4
            assert connections.list_connections(store) == []
    finally:
        release.set()
        t.join()
        holder.close()


def test_a_failed_transaction_leaves_nothing(tmp_path):
    with open_store(tmp_path / "s.db", create=True) as store:
        with pytest.raises(RuntimeError):
            with store.transaction():
                connections.add_connection(store, name="main", username="u", password_hash="h")
                raise RuntimeError("boom")
        assert connections.list_connections(store) == []
