"""A record in use in QuickBooks: what qbsync does when QuickBooks answers a write with 3170
(modify failed: the record is in use or another user changed it), 3175 (a lock could not be
taken) or 3176 (the list entry is in use). Pure: times come in as ISO UTC text.

A lock is transient: somebody has the record open, and the request works once they close it.
So the change is not a failure: it stays queued, with a note, and rests before it is sent again:
1 minute after the first lock answer, then 2, 4, 8 … (never more than an hour), and never twice
in one session. Only the `LOCK_LIMIT`-th lock answer in a row sends it to the Error Log, with
one Failed Syncs row: a record held for days costs one row, not one per session.

"In a row" is counted by the store as the attempts since the change last entered the Error Log
(every other answer to a send either settles the change, writes a Failed Syncs row, or gives
the attempt back), so no column of its own is needed: see `ExportChange.from_row`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

LOCK_CODES = frozenset({3170, 3175, 3176})
LOCK_LIMIT = 5  # the 5th lock answer in a row goes to the Error Log
FIRST_BACKOFF = 60  # seconds of rest after the first lock answer; doubles with each one after
MAX_BACKOFF = 3600
_ISO = "%Y-%m-%dT%H:%M:%SZ"


def is_lock(code: object) -> bool:
    return isinstance(code, int) and code in LOCK_CODES


def backoff(locks: int) -> int:
    """Seconds a change rests after its `locks`-th lock answer in a row (1: 60 s, 2: 120 s, …,
    at most an hour)."""
    if locks < 1:
        return 0
    return min(FIRST_BACKOFF * 2 ** min(locks - 1, 16), MAX_BACKOFF)


def not_before(last_tried: str | None, locks: int) -> str | None:
    """When a change last sent at `last_tried` that got `locks` lock answers in a row may go
    again (ISO UTC), or None when it need not wait (no lock, or no time known)."""
    if locks < 1 or not last_tried:
        return None
    try:
        sent = datetime.fromisoformat(last_tried.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=timezone.utc)
    return (sent.astimezone(timezone.utc) + timedelta(seconds=backoff(locks))).strftime(_ISO)


def later(a: str, b: str) -> bool:
    """Whether ISO UTC time `a` is after `b` (both as qbsync writes them, or with an offset)."""
    def parse(t: str) -> datetime:
        d = datetime.fromisoformat(t.strip().replace("Z", "+00:00"))
        return d if d.tzinfo is not None else d.replace(tzinfo=timezone.utc)

    return parse(a) > parse(b)


def duration(seconds: int) -> str:
    """60 -> "1 min", 3600 -> "1 h", 90 -> "90 s"."""
    if seconds % 3600 == 0 and seconds >= 3600:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0 and seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def lock_words(code: int) -> str:
    """How the note names the lock: "record in use in QuickBooks (3175)"."""
    return f"record in use in QuickBooks ({code})"


def resting_reason(code: int | None, locks: int, until: str) -> str:
    """The note of a change still resting after a lock answer."""
    what = lock_words(code) if code is not None else "record in use in QuickBooks"
    return (f"waiting until {until} (not sent before, then in the first session): {what} at the last try, "
            f"lock answer {locks} of {LOCK_LIMIT} before the Error Log")
