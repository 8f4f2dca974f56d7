"""Opening the SQLite store: checks, pragmas, migrations and transactions.

One `Store` wraps one sqlite3 connection (through sqlite-utils). Every read-modify-write
goes through `Store.transaction()`, which takes the write lock up front (BEGIN IMMEDIATE)
so two qbsync processes never interleave a read and a write; a lock held past the busy
timeout becomes `StoreBusy` (exit 4).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

from qbsync.errors import QbsyncError, StoreBusy

DEFAULT_PATH = "qbsync.db"
DEFAULT_BUSY_TIMEOUT = 10.0  # seconds; QBSYNC_BUSY_TIMEOUT overrides
APPLICATION_ID = 0x71627379  # "qbsy": marks a file as a qbsync store
CHUNK = 500  # values bound per IN (…): well under SQLite's limit on bound variables


def chunks(values: Sequence[Any]) -> list[Sequence[Any]]:
    """`values` in slices of CHUNK, one statement each (for the modules of qbsync/store/)."""
    return [values[i : i + CHUNK] for i in range(0, len(values), CHUNK)]


def _busy_timeout() -> float:
    raw = os.environ.get("QBSYNC_BUSY_TIMEOUT")
    if not raw:
        return DEFAULT_BUSY_TIMEOUT
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise QbsyncError(f"QBSYNC_BUSY_TIMEOUT must be a number of seconds, not {raw!r}", 2) from None


def _is_locked(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _not_sqlite(exc: BaseException) -> bool:
    """SQLite found no database header in the file (SQLITE_NOTADB).

    qbsync leaves that check to SQLite rather than reading the header itself: POSIX locks belong
    to the process, and closing any descriptor of the store file drops all of them, those of the
    process's open connections included. Another process's close then takes itself for the last
    connection: it checkpoints ignoring this process's readers and deletes the -wal and -shm files
    this process still writes to (lost writes, stale reads, "disk I/O error", a corrupt store).
    SQLite's own descriptors of a file are shared by its connections and closed with care."""
    return isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB


def _not_sqlite_error(path: Path) -> QbsyncError:
    return QbsyncError(f"{path} is not a qbsync store (not an SQLite database)")


def _write_failure(path: Path, exc: BaseException) -> QbsyncError | None:
    """sqlite3's failures to write, as one line a person can act on (None: not one of them).
    SQLite rolls the statement back; the caller's transaction rolls back the rest, so nothing of
    the command is left half-written."""
    text = str(exc).lower()
    if "database or disk is full" in text:  # SQLITE_FULL: no space left (or max_page_count reached)
        return QbsyncError(f"the store's disk is full ({path}); nothing was written: free some space, then run the "
                           "command again")
    if "readonly" in text or "read-only" in text:  # SQLITE_READONLY: the file, or its folder for the WAL
        return QbsyncError(f"store {path} is read-only; cannot write to it (check the permissions of the file "
                           "and of its folder)")
    if "disk i/o error" in text:  # SQLITE_IOERR: the write itself failed (a full or failing disk, a lost mount)
        return QbsyncError(f"could not write the store {path} (disk I/O error: is the disk full or failing?); "
                           "nothing was written")
    return None


class Store:
    """An open qbsync store. Use `open_store()` to get one.

    Code outside qbsync/store/ uses `transaction()`, `savepoint()` and the store modules'
    functions; the SQL methods and the connections (`conn`, `db`) are for qbsync/store/ only,
    which tests/test_architecture.py checks (tests may use them to look inside)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, *, readonly: bool):
        self.path = path
        self.conn = conn
        self.readonly = readonly
        self._depth = 0
        self._columns: dict[str, tuple[str, ...]] = {}
        self._savepoints = 0

    @cached_property
    def db(self) -> Any:
        """The same connection as a `sqlite_utils.Database` (schema helpers). Made on first use:
        importing sqlite-utils costs more than most commands take; the hot paths (row updates,
        savepoints) use plain SQL."""
        import sqlite_utils

        return sqlite_utils.Database(self.conn, execute_plugins=False, recursive_triggers=False)

    # -- statements (for the modules of qbsync/store/ only: tests/test_architecture.py) ------
    def _busy(self) -> StoreBusy:
        return StoreBusy(
            f"store {self.path} is locked by another qbsync process (waited {_busy_timeout():g}s); try again"
        )

    @contextmanager
    def _sql_errors(self) -> Iterator[None]:
        """sqlite3's "locked", "read-only", "disk full" and I/O failures as qbsync's own errors
        (exit 4, and 1 for the others)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            self._raise_as_ours(exc)

    def _raise_as_ours(self, exc: sqlite3.OperationalError) -> NoReturn:
        """Raise `exc` as qbsync's own error: busy (exit 4), or a write failure said plainly;
        any other failure as it is."""
        if _is_locked(exc):
            raise self._busy() from exc
        failure = _write_failure(self.path, exc)
        if failure is not None:
            raise failure from exc
        raise exc

    # execute/executemany run for every statement: a plain try costs less than `_sql_errors`'
    # context manager (about 2 µs a statement), with the same errors.
    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, params)
        except sqlite3.OperationalError as exc:
            self._raise_as_ours(exc)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        try:
            return self.conn.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            self._raise_as_ours(exc)

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        cur = self.execute(sql, params)
        cols = [d[0] for d in cur.description or ()]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def iter_query(self, sql: str, params: Any = (), size: int = 500) -> Iterator[dict[str, Any]]:
        """`query`, row by row (fetched `size` at a time): memory holds a few rows, not all."""
        cur = self.execute(sql, params)
        try:
            cols = [d[0] for d in cur.description or ()]
            while True:
                with self._sql_errors():
                    batch = cur.fetchmany(size)
                if not batch:
                    return
                for row in batch:
                    yield dict(zip(cols, row))
        finally:
            cur.close()  # also when abandoned half-way: an unfinished SELECT keeps its read snapshot

    def query_one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Any = ()) -> Any:
        row = self.execute(sql, params).fetchone()
        return row[0] if row else None

    def columns(self, table: str) -> tuple[str, ...]:
        """The column names of `table` (read once per table and connection)."""
        cached = self._columns.get(table)
        if cached is None:
            cached = tuple(r[1] for r in self.execute("SELECT * FROM pragma_table_info(?)", (table,)).fetchall())
            self._columns[table] = cached
        return cached

    def update_row(self, table: str, row_id: int, values: dict[str, Any]) -> None:
        """Set some columns of one row, by id: one plain UPDATE, in the caller's transaction or
        its own. JSON columns are passed in as text already (a dict or list still becomes JSON
        text, as sqlite-utils' `Table.update` did). The table and column names are checked
        against the table's columns before they go into the statement (quoted). A row that is
        gone, e.g. its connection was removed meanwhile, stays gone."""
        if not values:
            return
        known = self.columns(table)
        unknown = [c for c in values if c not in known or c == "id"]
        if not known or unknown:
            raise ValueError(f"cannot update {table}: no column {', '.join(map(repr, unknown)) or 'at all'}")
        assignments = ", ".join(f'"{c}" = ?' for c in values)
        params = [json.dumps(v) if isinstance(v, (dict, list, tuple)) else v for v in values.values()]
        with self.transaction():
            self.execute(f'UPDATE "{table}" SET {assignments} WHERE id = ?', (*params, row_id))

    # -- transactions -----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One write transaction (BEGIN IMMEDIATE). Nested calls join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        if self.readonly:
            raise QbsyncError(f"store {self.path} is read-only; cannot write to it")
        self.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def savepoint(self) -> Iterator[Store]:
        """Inside `transaction()`: a block whose writes are undone if it raises. The exception
        goes on and the transaction stays open, so a caller may catch it and carry on (staging
        with --skip-invalid skips one bad line this way)."""
        if not self._depth:
            raise RuntimeError("Store.savepoint() is only for use inside Store.transaction()")
        self._savepoints += 1
        name = f"qbsync_{self._savepoints}"
        self.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self.execute(f"ROLLBACK TO {name}")
            self.execute(f"RELEASE {name}")
            raise
        self.execute(f"RELEASE {name}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    return Path(path or os.environ.get("QBSYNC_DB") or DEFAULT_PATH)


def _file_is_readonly(path: Path) -> bool:
    # Root passes os.access() for any file, so a file with no write bit at all is
    # read-only too: an admin who chmods the store to 0444 means it.
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return not os.access(path, os.W_OK) or not (mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _connect(path: Path, *, readonly: bool, immutable: bool = False) -> sqlite3.Connection:
    timeout = _busy_timeout()
    if readonly:
        uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
        conn = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def open_store(path: str | os.PathLike[str] | None = None, *, create: bool = False, write: bool = True) -> Store:
    """Open (and with `create`, create) the store at `path`, migrated to the current schema.

    Commands other than `init` pass `create=False`: a missing file is an error that says how
    to create it, so a typo in --db never silently starts an empty store elsewhere.
    `write=False` opens a read-only file for reading (listing commands).
    """
    from qbsync.store import schema

    p = resolve_path(path)
    if p.is_dir():
        raise QbsyncError(f"{p} is a directory, not a qbsync store file")
    exists = p.exists()
    if not exists and not create:
        raise QbsyncError(f"no store at {p}; run `qbsync init` (or pass --db / set QBSYNC_DB)")
    if exists:
        # Never open() the file to look at it: see _not_sqlite. SQLite checks its header on the
        # first read (in schema.prepare), before anything is written.
        if not os.access(p, os.R_OK):
            raise QbsyncError(f"cannot read store {p}: {os.strerror(errno.EACCES)}")
    elif not p.parent.exists():
        raise QbsyncError(f"cannot create store {p}: folder {p.parent} does not exist")
    readonly = exists and _file_is_readonly(p)
    if readonly and (write or create):
        raise QbsyncError(f"store {p} is read-only; cannot write to it")
    try:
        conn = _connect(p, readonly=readonly)
        store = Store(p, conn, readonly=readonly)
    except sqlite3.Error as exc:
        raise QbsyncError(f"cannot open store {p}: {exc}") from None
    if readonly:
        try:
            store.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                store.close()
                raise store._busy() from None
            # A reader that may not create the WAL index next to a read-only file: read the
            # file as it is (nobody can be writing to a file without write permission).
            store.close()
            store = Store(p, _connect(p, readonly=True, immutable=True), readonly=True)
        except sqlite3.DatabaseError as exc:
            store.close()
            if _not_sqlite(exc):
                raise _not_sqlite_error(p) from None
            raise
    try:
        schema.prepare(store, create=create)
    except sqlite3.DatabaseError as exc:
        store.close()
        if _not_sqlite(exc):
            raise _not_sqlite_error(p) from None
        if _is_locked(exc):
            raise store._busy() from None
        failure = _write_failure(p, exc)
        if failure is not None:
            raise failure from None
        if "unable to open" in str(exc).lower():  # e.g. no right to create the WAL files next to it
            wal = p.with_name(p.name + "-wal")
            if exists and not write and not create and not store.readonly and not wal.exists():
                return _open_as_it_is(p)  # (with a -wal file the file alone would not be the store)
            raise QbsyncError(f"cannot write to store {p} ({exc}): check the permissions of the file and of its "
                              "folder (SQLite makes its -wal and -shm files next to the store)") from None
        raise QbsyncError(f"{p} is not a qbsync store ({exc})") from None
    except BaseException:
        store.close()
        raise
    return store


def _open_as_it_is(p: Path) -> Store:
    """A store in a folder SQLite may not write in (it cannot make the -wal and -shm files there),
    opened for reading: the file as it is (nobody can be writing to it either)."""
    from qbsync.store import schema

    store = Store(p, _connect(p, readonly=True, immutable=True), readonly=True)
    try:
        schema.prepare(store, create=False)
    except sqlite3.DatabaseError as exc:
        store.close()
        raise QbsyncError(f"cannot read store {p} ({exc}): check the permissions of the file and of its folder") from None
    except BaseException:
        store.close()
        raise
    return store


_Identity = tuple[int, int, int]  # the store file's device and inode, the schema's version


class KeptStores:
    """Store connections kept open between uses, for a long-running server: a callback borrows
    one and gives it back, so it neither opens the store (schema checks) nor closes it (the last
    close checkpoints the WAL and deletes it) each time.

    A kept connection is used again only as it would be if opened afresh: no transaction left
    open, the same file at the path, still writable, the schema unchanged (a migration by a newer
    qbsync is refused by `open_store`); otherwise it is closed and a new one opened. One whose use
    raised is closed, so nothing of a failure carries over. Thread-safe. After `close()` (the
    server's shutdown) each use opens and closes its own connection."""

    def __init__(self, path: str | os.PathLike[str] | None):
        self.path = resolve_path(path)
        self._idle: list[tuple[Store, _Identity]] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def borrow(self) -> Iterator[Store]:
        store, identity = self._take()
        try:
            yield store
        except BaseException:
            store.close()
            raise
        with self._lock:
            if not self._closed and identity is not None:
                self._idle.append((store, identity))
                return
        store.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for store, _ in idle:
            store.close()

    def _take(self) -> tuple[Store, _Identity | None]:
        while True:
            with self._lock:
                if not self._idle:
                    break
                store, identity = self._idle.pop()
            if self._identity(store) == identity and not store.conn.in_transaction and not _file_is_readonly(self.path):
                return store, identity
            store.close()
        store = open_store(self.path)
        try:
            return store, self._identity(store)
        except BaseException:
            store.close()
            raise

    def _identity(self, store: Store) -> _Identity | None:
        """The file at the path (device, inode) and the schema's version as `store` reads it."""
        try:
            st = os.stat(self.path)
            return st.st_dev, st.st_ino, int(store.scalar("PRAGMA schema_version"))
        except (OSError, QbsyncError, sqlite3.Error):
            return None
