"""SQL for the login lockout: failed Web Connector logins and the locks they set.

Two scopes: ``username`` (the user name a login tried, whether or not a connection has it, so a
lock tells nothing about which names exist) and ``address`` (the client's address). Times are
ISO-8601 UTC text, compared as text. The policy (how many failures, how long) is the
connector's; this module only counts and records.
"""

from __future__ import annotations

from typing import Any

from qbsync.store.db import Store

USERNAME = "username"
ADDRESS = "address"
# A user name is whatever a client sent: keep at most this much of it.
MAX_SUBJECT = 200


def _subject(subject: str) -> str:
    return subject[:MAX_SUBJECT]


def active_lock(store: Store, scope: str, subject: str, now: str) -> dict[str, Any] | None:
    """The lock on `subject` still in force at `now` (locked_at, locked_until, failures), or None."""
    return store.query_one(
        "SELECT scope, subject, locked_at, locked_until, failures FROM login_lockouts "
        "WHERE scope = ? AND subject = ? AND locked_until > ?", (scope, _subject(subject), now),
    )


def record_failure(store: Store, scope: str, subject: str, at: str) -> None:
    store.execute("INSERT INTO login_failures (scope, subject, failed_at) VALUES (?, ?, ?)",
                  (scope, _subject(subject), at))


def failures_since(store: Store, scope: str, subject: str, since: str) -> int:
    """Failed logins of `subject` at or after `since`."""
    return int(store.scalar("SELECT count(*) FROM login_failures WHERE scope = ? AND subject = ? AND failed_at >= ?",
                            (scope, _subject(subject), since)))


def lock(store: Store, scope: str, subject: str, *, at: str, until: str, failures: int) -> None:
    """Lock `subject` until `until`; its failures are spent (counting starts again after the lock)."""
    subject = _subject(subject)
    store.execute(
        "INSERT INTO login_lockouts (scope, subject, locked_at, locked_until, failures) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (scope, subject) DO UPDATE SET locked_at = excluded.locked_at, "
        "locked_until = excluded.locked_until, failures = excluded.failures",
        (scope, subject, at, until, failures),
    )
    store.execute("DELETE FROM login_failures WHERE scope = ? AND subject = ?", (scope, subject))


def clear_failures(store: Store, scope: str, subject: str) -> None:
    """Forget the failures of `subject` (after a successful login); writes only when it has some."""
    subject = _subject(subject)
    if store.scalar("SELECT 1 FROM login_failures WHERE scope = ? AND subject = ? LIMIT 1", (scope, subject)):
        with store.transaction():
            store.execute("DELETE FROM login_failures WHERE scope = ? AND subject = ?", (scope, subject))


def prune(store: Store, *, failures_before: str, locks_ended_by: str) -> None:
    """Drop failures older than the counting window and locks that have ended."""
    store.execute("DELETE FROM login_failures WHERE failed_at < ?", (failures_before,))
    store.execute("DELETE FROM login_lockouts WHERE locked_until <= ?", (locks_ended_by,))


def unlock(store: Store, scope: str, subject: str) -> bool:
    """Lift the lock on `subject` now and forget its failures; whether there was a lock."""
    subject = _subject(subject)
    with store.transaction():
        had = store.execute("DELETE FROM login_lockouts WHERE scope = ? AND subject = ?", (scope, subject)).rowcount
        store.execute("DELETE FROM login_failures WHERE scope = ? AND subject = ?", (scope, subject))
    return bool(had)


def lockouts(store: Store) -> list[dict[str, Any]]:
    """Every recorded lock (ended ones too, until pruned), newest first."""
    return store.query("SELECT scope, subject, locked_at, locked_until, failures FROM login_lockouts "
                       "ORDER BY locked_at DESC, scope, subject")
