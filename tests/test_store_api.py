"""What the store offers the rest of qbsync instead of SQL: savepoints inside a transaction,
named orders, counts, and one-row updates (one plain UPDATE) that keep the transaction rules."""

from __future__ import annotations

import sqlite3

import pytest

from qbsync.errors import InvalidInput, QbsyncError, StoreBusy
from qbsync.store import changes, connections, open_store, sessions
from qbsync.sync import wizard


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "s.db", create=True) as s:
        yield s


def names(store) -> list[str]:
    return [c["name"] for c in connections.list_connections(store)]


def add(store, name: str) -> dict:
    return connections.add_connection(store, name=name, username=name, password_hash="h")


def export_change(store, connection_id: int, local_id: str, direction: str = "export") -> int:
    return changes.insert_change(
        store, connection_id=connection_id, direction=direction, type_="Customer", action="add",
        local_id=local_id, qb_id=None, name=local_id, payload={"Name": local_id}, before={},
    )


# -- savepoint ----------------------------------------------------------------------------------


def test_a_savepoint_undoes_only_its_own_block_and_the_transaction_goes_on(store):
    with store.transaction():
        add(store, "kept-before")
        with pytest.raises(InvalidInput):
            with store.savepoint():
                add(store, "undone")
                raise InvalidInput("line 2: conflicts")
        add(store, "kept-after")
    assert names(store) == ["kept-after", "kept-before"]


def test_a_savepoint_that_succeeds_is_still_undone_with_its_transaction(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            with store.savepoint():
                add(store, "inner")
            raise RuntimeError("boom")
    assert names(store) == []


def test_savepoints_nest(store):
    with store.transaction():
        with store.savepoint():
            add(store, "outer")
            with pytest.raises(InvalidInput):
                with store.savepoint():
                    add(store, "inner")
                    raise InvalidInput("bad")
    assert names(store) == ["outer"]


def test_a_savepoint_outside_a_transaction_is_refused(store):
    with pytest.raises(RuntimeError, match="inside Store.transaction"):
        with store.savepoint():
            add(store, "never")
    assert names(store) == []


# -- named orders and counts ------------------------------------------------------------------


def test_pending_lists_imports_before_exports_oldest_first(store):
    conn = add(store, "main")
    first_export = export_change(store, conn["id"], "E1")
    first_import = export_change(store, conn["id"], "I1", direction="import")
    second_export = export_change(store, conn["id"], "E2")
    second_import = export_change(store, conn["id"], "I2", direction="import")
    assert [r["id"] for r in wizard.pending(store, conn)] == [first_import, second_import, first_export, second_export]
    by_id = changes.list_changes(store, conn["id"], ["awaiting"])
    assert [r["id"] for r in by_id] == [first_export, first_import, second_export, second_import]


def test_count_connections(store):
    assert connections.count_connections(store) == 0
    add(store, "a")
    add(store, "b")
    assert connections.count_connections(store) == 2


# -- one-row updates (sqlite-utils' Table.update under our transactions) ---------------------


def committed(path, sql: str, params=()) -> list[tuple]:
    """What another process would read: a separate connection sees only committed data."""
    other = sqlite3.connect(path)
    try:
        return other.execute(sql, params).fetchall()
    finally:
        other.close()


def test_an_update_inside_a_transaction_is_committed_with_it_not_before(store):
    conn = add(store, "main")
    change_id = export_change(store, conn["id"], "C1")
    with store.transaction():
        changes.update_change(store, change_id, status="queued", payload={"Name": "Ünïcode", "Lines": [1, 2]})
        assert committed(store.path, "SELECT status FROM changes WHERE id = ?", (change_id,)) == [("awaiting",)]
        connections.update_connection(store, "main", company_file="C:\\Company.qbw")
        assert committed(store.path, "SELECT company_file FROM connections") == [("",)]
    row = changes.get_change(store, change_id)
    assert (row["status"], row["payload"]) == ("queued", {"Name": "Ünïcode", "Lines": [1, 2]})
    assert connections.get_connection(store, "main")["company_file"] == "C:\\Company.qbw"


def test_an_update_is_undone_with_its_failed_transaction(store):
    conn = add(store, "main")
    change_id = export_change(store, conn["id"], "C1")
    session_id = sessions.create_session(store, ticket_hash="t", connection_id=conn["id"], at="2026-01-01T00:00:00Z", state={})
    with pytest.raises(RuntimeError):
        with store.transaction():
            changes.update_change(store, change_id, status="sending", attempts=1)
            sessions.update_session(store, session_id, state={"step": "export"}, percent=50)
            connections.update_connection(store, "main", import_types=["Customer"])
            raise RuntimeError("crash between two writes")
    row = changes.get_change(store, change_id)
    assert (row["status"], row["attempts"]) == ("awaiting", 0)
    assert sessions.get_session(store, "t")["state"] == {} and sessions.get_session(store, "t")["percent"] == 0
    assert connections.get_connection(store, "main")["import_types"] == []


def test_json_columns_and_flags_read_back_as_written(store):
    conn = add(store, "main")
    change_id = export_change(store, conn["id"], "C1")
    session_id = sessions.create_session(store, ticket_hash="t", connection_id=conn["id"], at="2026-01-01T00:00:00Z", state={})
    changes.update_change(store, change_id, before={"Phone": None}, checked=False, outcome_unknown=True)
    sessions.update_session(store, session_id, counts={"synced": 2}, summary="2 synced")
    connections.update_connection(store, "main", import_types=["Customer", "Invoice"], name="renamed")
    row = changes.get_change(store, change_id)
    assert (row["before"], row["checked"], row["outcome_unknown"]) == ({"Phone": None}, False, True)
    assert committed(store.path, "SELECT before FROM changes") == [('{"Phone": null}',)]
    s = sessions.get_session(store, "t")
    assert (s["counts"], s["summary"]) == ({"synced": 2}, "2 synced")
    assert connections.get_connection(store, "renamed")["import_types"] == ["Customer", "Invoice"]


def test_updating_a_row_that_is_gone_changes_nothing(store):
    conn = add(store, "main")
    change_id = export_change(store, conn["id"], "C1")
    session_id = sessions.create_session(store, ticket_hash="t", connection_id=conn["id"], at="2026-01-01T00:00:00Z", state={})
    connections.remove_connection(store, "main")  # cascades to its changes and sessions
    changes.update_change(store, change_id, status="synced")
    sessions.update_session(store, session_id, closed_at="2026-01-01T00:01:00Z")
    assert committed(store.path, "SELECT count(*) FROM changes") == [(0,)]


def test_unknown_columns_are_refused(store):
    conn = add(store, "main")
    change_id = export_change(store, conn["id"], "C1")
    with pytest.raises(ValueError):
        changes.update_change(store, change_id, connection_id=99)
    with pytest.raises(ValueError):
        sessions.update_session(store, 1, ticket_hash="x")
    with pytest.raises(ValueError):
        connections.update_connection(store, "main", id=5)


def test_an_update_waiting_past_the_busy_timeout_is_store_busy(tmp_path, monkeypatch):
    path = tmp_path / "s.db"
    with open_store(path, create=True) as s:
        change_id = export_change(s, add(s, "main")["id"], "C1")
    monkeypatch.setenv("QBSYNC_BUSY_TIMEOUT", "0.2")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with open_store(path) as s:
            with pytest.raises(StoreBusy):
                changes.update_change(s, change_id, status="queued")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert committed(path, "SELECT status FROM changes") == [("awaiting",)]


def test_an_update_to_a_read_only_store_says_so(tmp_path):
    path = tmp_path / "s.db"
    with open_store(path, create=True) as s:
        change_id = export_change(s, add(s, "main")["id"], "C1")
    path.chmod(0o444)
    try:
        with open_store(path, write=False) as s:
            with pytest.raises(QbsyncError, match="read-only"):
                changes.update_change(s, change_id, status="queued")
    finally:
        path.chmod(0o644)


def test_update_row_sets_only_the_named_columns_and_refuses_unknown_ones(store):
    cid = add(store, "main")["id"]
    change_id = export_change(store, cid, "C1")
    other = export_change(store, cid, "C2")
    store.update_row("changes", change_id, {"note": "n", "payload": {"Name": "X"}, "checked": False})
    row = changes.get_change(store, change_id)
    assert (row["note"], row["payload"], row["checked"]) == ("n", {"Name": "X"}, False)
    assert changes.get_change(store, other)["note"] is None
    for bad in ({'note" = 1, "status': "x"}, {"id": 5}, {"no_such_column": 1}):
        with pytest.raises(ValueError):
            store.update_row("changes", change_id, bad)
    with pytest.raises(ValueError):
        store.update_row("no_such_table", change_id, {"note": "n"})
    store.update_row("changes", 10_000, {"note": "gone"})  # a row that is gone stays gone
    assert changes.get_change(store, change_id)["note"] == "n"
