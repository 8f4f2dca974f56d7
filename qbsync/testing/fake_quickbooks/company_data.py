"""The company data of a FakeQuickBooks: records, deleted records, counters, saved message
sets, all plain JSON-ready dicts; optionally kept in a SQLite file between processes.

Records are stored in the shape of their ``…Ret`` (qbXML element names, text values), plus
private bookkeeping keys that start with ``_`` (never sent).

The SQLite file holds a row per record (``company_records``, in creation order; a deleted
record keeps its row with no data) and one row (``company``) with the rest of the company as
JSON and a revision number. Every message runs in one ``BEGIN IMMEDIATE`` transaction that
first takes what another process wrote (when the revision moved: the rows written after the
revision this instance holds) and then writes back what the message changed: the rows of the
records it added, changed or deleted (``Company.changes``), each marked with the new revision,
and the company row. So two FakeQuickBooks on the same path see each other's work (``qbsync
simulate`` keeps its company between runs this way), and a message costs what it changes, not
what the company holds. A file of the older layout (every record inside the company row) is
rewritten in rows when it is first loaded.
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

FORMAT = 2  # 1: every record inside the company row


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
        """A new (e.g. reloaded) state: its index is built again on first use; changes, when
        kept, are counted from here."""
        for name in catalog.TYPES:  # a file from an older fake may lack a newer type
            state.setdefault("records", {}).setdefault(name, {})
        self._state = state
        self._index: Index | None = None
        self._changed: dict[tuple[str, str], None] | None = {} if getattr(self, "_changed", None) is not None else None

    def changes(self) -> list[tuple[str, str]]:
        """The (type, ID) of the records put, touched or removed since the previous call (or
        since the state was set); the first call starts keeping them."""
        changed = list(self._changed or ())
        self._changed = {}
        return changed

    @property
    def index(self) -> Index:
        if self._index is None:
            self._index = Index(self)
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
        if self._changed is not None:
            self._changed[(type_name, record[catalog.get(type_name).id_field])] = None

    def remove(self, type_name: str, object_id: str) -> dict | None:
        if self._index is not None:
            self._index.remove(type_name, object_id)
        if self._changed is not None:
            self._changed[(type_name, object_id)] = None
        return self.records(type_name).pop(object_id, None)

    def catch_up(self, parts: dict[str, Any], rows: list[tuple[str, str, dict | None]]) -> None:
        """Take another writer's work without building everything again: the company's other
        parts, and the records it wrote (None: deleted), in creation order."""
        for key in [k for k in self._state if k != "records"]:
            del self._state[key]
        self._state.update({k: v for k, v in parts.items() if k != "records"})
        records = self._state["records"]
        for type_name, object_id, rec in rows:
            if rec is None:
                if self._index is not None:
                    self._index.remove(type_name, object_id)
                records.setdefault(type_name, {}).pop(object_id, None)
            else:
                records.setdefault(type_name, {})[object_id] = rec
        if self._index is not None:  # once every record is in place: FullNames follow parents
            for type_name, _, rec in rows:
                if rec is not None:
                    self._index.update(type_name, rec)

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
        self._text = ""  # the `company` row's data as last read or written
        try:
            with contextlib.closing(self._connect()) as conn:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                if tables and "company" not in tables:  # e.g. qbsync's own store, given by mistake
                    raise InvalidInput(f"{self.path} is a SQLite database but not a FakeQuickBooks company file")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS company ("
                    " id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, data TEXT NOT NULL)"
                )
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS company_records ("
                    " seq INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL,"
                    " data TEXT,"  # NULL: deleted
                    " revision INTEGER NOT NULL,"  # the company's revision that last wrote the row
                    " UNIQUE (type, id))"
                )
                conn.execute(
                    "CREATE INDEX IF NOT EXISTS company_records_by_revision ON company_records (revision)"
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
            row = conn.execute("SELECT revision FROM company WHERE id = 1").fetchone()
            fresh = row is None
            company.changes()  # from here on, what changes is kept, to be written
            if row is not None and row[0] != self._revision:
                self._load(conn, company)
            yield fresh
            self._save(conn, company, fresh)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if company.changes() or _parts_text(company.state) != self._text:
                self._revision = -1  # memory holds half-applied changes: reload next time
            raise
        finally:
            conn.close()

    def _load(self, conn: sqlite3.Connection, company: Company) -> None:
        """Take what another instance wrote: only the rows written since our revision when
        memory holds that revision, else the whole company."""
        revision, text = conn.execute("SELECT revision, data FROM company WHERE id = 1").fetchone()
        state = json.loads(text)
        if self._revision >= 0:
            rows = conn.execute("SELECT type, id, data FROM company_records WHERE revision > ? ORDER BY seq", (self._revision,))
            company.catch_up(state, [(t, i, json.loads(d) if d is not None else None) for t, i, d in rows])
            self._revision, self._text = revision, text
            return
        older = "records" in state  # format 1 kept every record in this one row
        for type_name, object_id, data in conn.execute("SELECT type, id, data FROM company_records WHERE data IS NOT NULL ORDER BY seq"):
            state.setdefault("records", {}).setdefault(type_name, {})[object_id] = json.loads(data)
        company.state = state
        self._revision, self._text = revision, text
        if older:  # written again in rows, one per record
            state["format"] = FORMAT
            for type_name in catalog.TYPES:
                for rec in company.records(type_name).values():
                    company.touch(type_name, rec)

    def _save(self, conn: sqlite3.Connection, company: Company, fresh: bool) -> None:
        """Write the records the body changed, and the rest of the company when it changed."""
        changed = company.changes()
        text = _parts_text(company.state)
        if fresh or changed or text != self._text:
            revision = self._revision + 1 if not fresh else 1
            for type_name, object_id in changed:
                rec = company.get(type_name, object_id)
                conn.execute(
                    "INSERT INTO company_records (type, id, data, revision) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(type, id) DO UPDATE SET data = excluded.data, revision = excluded.revision",
                    (type_name, object_id, json.dumps(rec, separators=(",", ":")) if rec is not None else None, revision),
                )
            conn.execute(
                "INSERT INTO company (id, revision, data) VALUES (1, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET revision = excluded.revision, data = excluded.data",
                (revision, text),
            )
            self._revision, self._text = revision, text


def _parts_text(state: dict[str, Any]) -> str:
    """The company row's JSON: everything but the records (they have a row each)."""
    return json.dumps({k: v for k, v in state.items() if k != "records"}, separators=(",", ":"))
