"""The company data of a FakeQuickBooks: records, deleted records, counters, saved message
sets, all plain JSON-ready dicts; optionally kept in a SQLite file between processes.

Records are stored in the shape of their ``…Ret`` (qbXML element names, text values), plus
private bookkeeping keys that start with ``_`` (never sent).

The SQLite file holds one row: the company as JSON and a revision number. Every message runs
in one ``BEGIN IMMEDIATE`` transaction that reloads the company when another process changed it
and writes it back when it changed, so two FakeQuickBooks on the same path see each other's
work (``qbsync simulate`` keeps its company between runs this way).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qbsync.errors import InvalidInput
from qbsync.testing.fake_quickbooks import catalog
from qbsync.testing.fake_quickbooks.index import Index

FORMAT = 1


def new_state() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "counters": {},
        "records": {name: {} for name in catalog.TYPES},
        "deleted": [],  # {"kind", "type", "id", "TimeCreated", "TimeDeleted", "FullName"|"RefNumber"}
        "message_sets": {},  # newMessageSetID -> {"status": int, "responses": [...]}
        "company": {},  # CompanyRet overrides and company data extensions
    }


class Company:
    """Typed access to the state dict, and the :class:`Index` over its records."""

    def __init__(self, state: dict[str, Any] | None = None):
        self.state = state if state is not None else new_state()

    @property
    def state(self) -> dict[str, Any]:
        return self._state

    @state.setter
    def state(self, state: dict[str, Any]) -> None:
        """A new (e.g. reloaded) state: its index is built again on first use."""
        for name in catalog.TYPES:  # a file from an older fake may lack a newer type
            state.setdefault("records", {}).setdefault(name, {})
        self._state = state
        self._index: Index | None = None

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = Index(self, self.records)
        return self._index

    def records(self, type_name: str) -> dict[str, dict]:
        return self._state["records"][type_name]

    def get(self, type_name: str, object_id: str) -> dict | None:
        return self._state["records"][type_name].get(object_id)

    def put(self, type_name: str, record: dict) -> None:
        info = catalog.get(type_name)
        self.records(type_name)[record[info.id_field]] = record
        self.touch(type_name, record)

    def touch(self, type_name: str, record: dict) -> None:
        """Say that a stored record was changed in place (its index entries follow)."""
        if self._index is not None:
            self._index.update(type_name, record)

    def remove(self, type_name: str, object_id: str) -> dict | None:
        if self._index is not None:
            self._index.remove(type_name, object_id)
        return self.records(type_name).pop(object_id, None)

    def locate(self, object_id: str, types: tuple[str, ...] | None = None) -> tuple[str, dict] | None:
        """The record with this ListID/TxnID among `types` (all types by default)."""
        for name in types or tuple(catalog.TYPES):
            rec = self.records(name).get(object_id)
            if rec is not None:
                return name, rec
        return None

    @property
    def counters(self) -> dict[str, int]:
        return self.state["counters"]

    @property
    def deleted(self) -> list[dict]:
        return self.state["deleted"]

    @property
    def message_sets(self) -> dict[str, dict]:
        return self.state["message_sets"]

    @property
    def company(self) -> dict[str, Any]:
        return self.state.setdefault("company", {})


class SqliteFile:
    """A company kept in a SQLite file (stdlib sqlite3: this is a test double)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._revision = -1
        self._text = ""
        try:
            with contextlib.closing(self._connect()) as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables and "company" not in tables:  # e.g. qbsync's own store, given by mistake
                    raise InvalidInput(f"{self.path} is a SQLite database but not a FakeQuickBooks company file")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS company ("
                    " id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, data TEXT NOT NULL)"
                )
                conn.execute("SELECT revision, data FROM company WHERE id = 1").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InvalidInput(f"{self.path} is not a FakeQuickBooks company file ({exc})") from None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    @contextlib.contextmanager
    def transaction(self, company: Company) -> Iterator[bool]:
        """Reload `company.state` if the file changed, run the body, save what changed.
        Yields True when the file held no company yet (the caller seeds it)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT revision, data FROM company WHERE id = 1").fetchone()
            fresh = row is None
            if row is not None and row[0] != self._revision:
                company.state = json.loads(row[1])
                self._revision, self._text = row[0], row[1]
            yield fresh
            text = json.dumps(company.state, sort_keys=False, separators=(",", ":"))
            if fresh or text != self._text:
                revision = self._revision + 1 if not fresh else 1
                conn.execute(
                    "INSERT INTO company (id, revision, data) VALUES (1, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET revision = excluded.revision, data = excluded.data",
                    (revision, text),
                )
                self._revision, self._text = revision, text
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._revision = -1  # memory may hold half-applied changes: reload next time
            raise
        finally:
            conn.close()
