"""What the store offers the rest of qbsync instead of SQL: savepoints inside a transaction,
named orders, counts, and one-row updates (sqlite-utils) that keep the transaction rules."""

from __future__ import annotations


import pytest

from qbsync.errors import InvalidInput
from qbsync.store import changes, connections, open_store
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
