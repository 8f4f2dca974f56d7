"""The store's schema as an ordered list of named migrations.

Each migration runs once, in its own transaction, and is recorded in `qbsync_migrations`.
A fresh file and a file written by any earlier qbsync both end at the latest version.
Never edit a released migration: add a new one. Each migration spells out its own tables and
uses nothing defined elsewhere, so a later change to shared constants cannot change what an
old migration creates (tests/test_store_schema.py pins the schema after each one).
"""

from __future__ import annotations

from collections.abc import Callable

from qbsync.errors import QbsyncError
from qbsync.store.db import APPLICATION_ID, Store
from qbsync.timeutil import utc_now


def _run(store: Store, script: str) -> None:
    # Not executescript(): it would COMMIT the migration's transaction half-way.
    for statement in script.split(";"):
        if statement.strip():
            store.execute(statement)


def _m001_base(store: Store) -> None:
    _run(store,
        """
        CREATE TABLE connections (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            username TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            company_file TEXT NOT NULL DEFAULT '',
            qbxml_version TEXT NOT NULL DEFAULT '13.0',
            import_types TEXT NOT NULL DEFAULT '[]',
            import_since TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE records (
            id INTEGER PRIMARY KEY,
            connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            type TEXT NOT NULL,
            local_id TEXT NOT NULL,
            qb_id TEXT,
            edit_sequence TEXT,
            name TEXT,
            data TEXT NOT NULL DEFAULT '{}',
            qb_data TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (connection_id, type, local_id)
        );
        CREATE INDEX records_by_qb_id ON records (connection_id, type, qb_id);
        CREATE TABLE changes (
            id INTEGER PRIMARY KEY,
            connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            direction TEXT NOT NULL CHECK (direction IN ('import', 'export')),
            type TEXT NOT NULL,
            action TEXT NOT NULL CHECK (action IN ('add', 'mod', 'delete')),
            local_id TEXT NOT NULL,
            qb_id TEXT,
            name TEXT,
            payload TEXT NOT NULL DEFAULT '{}',
            before TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL CHECK (status IN ('awaiting', 'held', 'queued', 'sending', 'synced', 'error', 'cleared')),
            checked INTEGER NOT NULL DEFAULT 1,
            detected_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            approved_at TEXT,
            resolved_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_tried TEXT,
            message_id TEXT,
            status_code INTEGER,
            status_severity TEXT,
            status_message TEXT,
            note TEXT,
            outcome_unknown INTEGER NOT NULL DEFAULT 0,
            refresh_edit_sequence INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX changes_by_status ON changes (connection_id, status, direction);
        CREATE INDEX changes_by_entity ON changes (connection_id, direction, type, local_id);
        CREATE TABLE failures (
            id INTEGER PRIMARY KEY,
            change_id INTEGER NOT NULL REFERENCES changes(id) ON DELETE CASCADE,
            connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            direction TEXT NOT NULL,
            type TEXT NOT NULL,
            action TEXT NOT NULL,
            local_id TEXT NOT NULL,
            name TEXT,
            attempt INTEGER NOT NULL,
            message_id TEXT,
            status_code INTEGER,
            status_severity TEXT,
            status_message TEXT,
            outcome_unknown INTEGER NOT NULL DEFAULT 0,
            failed_at TEXT NOT NULL
        );
        CREATE INDEX failures_by_time ON failures (connection_id, failed_at);
        """
    )


def _m002_references_and_seen(store: Store) -> None:
    # change_refs: the records a change points at by local id, so the engine can order
    # sends and wait for a parent's add. seen: the last content the app staged / QuickBooks
    # reported per entity, so an unchanged re-stage (or a cleared change) never comes back.
    _run(store,
        """
        CREATE TABLE change_refs (
            change_id INTEGER NOT NULL REFERENCES changes(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            local_id TEXT NOT NULL,
            ref_type TEXT,
            PRIMARY KEY (change_id, path)
        );
        CREATE INDEX change_refs_by_local_id ON change_refs (local_id);
        CREATE TABLE seen (
            connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            direction TEXT NOT NULL,
            type TEXT NOT NULL,
            local_id TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (connection_id, direction, type, local_id)
        );
        """
    )


def _m003_feed_and_contact(store: Store) -> None:
    _run(store,
        """
        CREATE TABLE feed (
            cursor INTEGER PRIMARY KEY AUTOINCREMENT,
            connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            change_id INTEGER REFERENCES changes(id) ON DELETE SET NULL,
            direction TEXT NOT NULL,
            type TEXT NOT NULL,
            action TEXT NOT NULL,
            result TEXT NOT NULL,
            local_id TEXT NOT NULL,
            qb_id TEXT,
            edit_sequence TEXT,
            name TEXT,
            data TEXT,
            status_code INTEGER,
            status_message TEXT,
            at TEXT NOT NULL
        );
        ALTER TABLE connections ADD COLUMN last_contact_at TEXT;
        ALTER TABLE connections ADD COLUMN last_contact_outcome TEXT;
        """
    )


def _m004_web_connector_sessions(store: Store) -> None:
    # Web Connector sessions (by ticket hash; `state` is the engine's JSON), settings (the .qwc
    # OwnerID), per-connection FileIDs.
    _run(store,
        """
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            ticket_hash TEXT NOT NULL UNIQUE,
            connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            last_call_at TEXT NOT NULL,
            closed_at TEXT,
            state TEXT NOT NULL DEFAULT '{}',
            last_error TEXT,
            percent INTEGER NOT NULL DEFAULT 0,
            counts TEXT NOT NULL DEFAULT '{}',
            summary TEXT
        );
        CREATE INDEX sessions_by_connection ON sessions (connection_id, closed_at);
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        CREATE TABLE qwc_files (
            connection_id INTEGER PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
            file_id TEXT NOT NULL
        )
        """
    )


def _m005_import_detection(store: Store) -> None:
    # Import detection: per connection and type (or ListDeleted / TxnDeleted), QuickBooks' own
    # newest TimeModified / TimeDeleted read so far; the connection's page size (MaxReturned)
    # and when detection last ran (for --min-run-interval).
    _run(store,
        """
        CREATE TABLE import_watermarks (
            connection_id INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            since TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (connection_id, kind)
        );
        ALTER TABLE connections ADD COLUMN import_page_size INTEGER NOT NULL DEFAULT 500;
        ALTER TABLE connections ADD COLUMN last_detected_at TEXT
        """
    )


def _m006_login_failures(store: Store) -> None:
    # Failed Web Connector logins, per user name and per client address, and the locks they
    # set (see qbsync/store/logins.py). In the store, so every server process on it shares them.
    _run(store,
        """
        CREATE TABLE login_failures (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('username', 'address')),
            subject TEXT NOT NULL,
            failed_at TEXT NOT NULL
        );
        CREATE INDEX login_failures_by_subject ON login_failures (scope, subject, failed_at);
        CREATE INDEX login_failures_by_time ON login_failures (failed_at);
        CREATE TABLE login_lockouts (
            scope TEXT NOT NULL CHECK (scope IN ('username', 'address')),
            subject TEXT NOT NULL,
            locked_at TEXT NOT NULL,
            locked_until TEXT NOT NULL,
            failures INTEGER NOT NULL,
            PRIMARY KEY (scope, subject)
        )
        """
    )


def _m007_queue_index(store: Store) -> None:
    # A session reads the queue a window at a time (the oldest adds and mods, every delete): an
    # index in that order, so reading the window does not touch the rest of the queue.
    _run(store, "CREATE INDEX changes_queue ON changes (connection_id, direction, status, action, id)")


MIGRATIONS: list[tuple[int, str, Callable[[Store], None]]] = [
    (1, "base", _m001_base),
    (2, "references_and_seen", _m002_references_and_seen),
    (3, "feed_and_contact", _m003_feed_and_contact),
    (4, "web_connector_sessions", _m004_web_connector_sessions),
    (5, "import_detection", _m005_import_detection),
    (6, "login_failures", _m006_login_failures),
    (7, "queue_index", _m007_queue_index),
]
LATEST = MIGRATIONS[-1][0]


def _table_names(store: Store) -> set[str]:
    return {r["name"] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'table'")}


def applied_versions(store: Store) -> list[int]:
    if "qbsync_migrations" not in _table_names(store):
        return []
    return [r["id"] for r in store.query("SELECT id FROM qbsync_migrations ORDER BY id")]


def version(store: Store) -> int:
    applied = applied_versions(store)
    return max(applied) if applied else 0


def migrate(store: Store, upto: int | None = None) -> list[str]:
    """Apply the pending migrations (up to `upto`); returns the names applied."""
    done: list[str] = []
    for number, name, apply in MIGRATIONS:
        if upto is not None and number > upto:
            break
        with store.transaction():
            # Re-checked under the write lock: two processes may migrate at once.
            if "qbsync_migrations" not in _table_names(store):
                store.execute(
                    "CREATE TABLE qbsync_migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                )
                store.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            if store.scalar("SELECT 1 FROM qbsync_migrations WHERE id = ?", (number,)):
                continue
            apply(store)
            store.execute(
                "INSERT INTO qbsync_migrations (id, name, applied_at) VALUES (?, ?, ?)", (number, name, utc_now())
            )
            done.append(name)
    return done


def prepare(store: Store, *, create: bool) -> None:
    """Check that `store` is a qbsync store and bring it to the latest schema."""
    tables = _table_names(store)  # raises DatabaseError for a file that is not SQLite
    if "qbsync_migrations" not in tables:
        user_tables = {t for t in tables if not t.startswith("sqlite_")}
        if user_tables or not create:
            raise QbsyncError(f"{store.path} is an SQLite database but not a qbsync store")
    applied = applied_versions(store)
    if applied and max(applied) > LATEST:
        raise QbsyncError(
            f"store {store.path} has schema version {max(applied)}, newer than this qbsync knows ({LATEST}); upgrade qbsync"
        )
    pending = [n for n, _, _ in MIGRATIONS if n not in applied]
    if not store.readonly and store.scalar("PRAGMA journal_mode") != "wal":
        store.execute("PRAGMA journal_mode = WAL")
    if pending:
        if store.readonly:
            raise QbsyncError(
                f"store {store.path} is at schema version {max(applied, default=0)} and needs migrating to {LATEST}, but it is read-only"
            )
        migrate(store)
