"""Identifiers and timestamps in QuickBooks' formats, for FakeQuickBooks.

QuickBooks Desktop writes:

* ListID ``80000001-1705334400``: a hex sequence number, a dash, the creation time (epoch);
* TxnID ``1A2B-1705334400`` and TxnLineID in the same form (transactions and their lines share
  one sequence, which is why the lines of one invoice have gaps between their IDs);
* EditSequence: a decimal, timestamp-like string (at most 16 characters) that changes on every
  modification;
* TimeCreated/TimeModified as local time with its offset, ``2026-11-26T08:30:00-08:00``.

An ID sent in a request that is not in that shape is not an ID QuickBooks could have made:
QuickBooks answers 3000 (invalid object ID) before looking anything up, so does the fake.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, MutableMapping
from datetime import date, datetime, time, timedelta, timezone

from qbsync.testing.fake_quickbooks import status

Clock = Callable[[], datetime]

FIRST_LIST_ID = 0x80000001  # user-created list records
FIRST_SEED_ID = 0x10000  # records QuickBooks creates with a new company file (step 0x10000)
FIRST_TXN_ID = 0x20
_ITERATOR_NAMESPACE = uuid.UUID("6f1c0a52-6a53-4b44-9b7e-5a4f1f0c9e11")
_OBJECT_ID = re.compile(r"^[0-9A-Fa-f]{1,8}-\d{1,10}$")  # sequence (hex) - creation time (epoch)
NEW_LINE_ID = "-1"  # the TxnLineID of a line a Mod adds


def check_object_id(field: str, value: object) -> str:
    """`value` as text when it has the shape of a ListID/TxnID/TxnLineID; otherwise the
    request is answered with 3000 naming `field`."""
    text = str(value).strip()
    if not _OBJECT_ID.match(text):
        raise status.invalid_id(field, text)
    return text


def system_clock() -> datetime:
    """Local time with its offset, as QuickBooks reports the PC's clock."""
    return datetime.now().astimezone()


def now(clock: Clock) -> datetime:
    """The clock's time, whole seconds, always with an offset (naive means UTC)."""
    t = clock()
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.replace(microsecond=0)


def epoch(t: datetime) -> int:
    return int(t.timestamp())


def format_datetime(t: datetime) -> str:
    """``2026-11-26T08:30:00-08:00`` (qbXML's DATETIMETYPE rejects a trailing Z)."""
    text = t.isoformat(timespec="seconds")
    return text[:-6] + "+00:00" if text.endswith("Z") else text


def parse_datetime(text: str, tz: timezone | None, *, end_of_day: bool = False) -> datetime:
    """A qbXML date or datetime filter value as an aware datetime. QuickBooks reads values
    without an offset in the company's time zone; a date alone means the start of that day
    (``end_of_day`` for a To bound: its last second)."""
    text = text.strip()
    if len(text) == 10:
        d = date.fromisoformat(text)
        t = datetime.combine(d, time(23, 59, 59) if end_of_day else time(0, 0, 0))
    else:
        t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz or timezone.utc)
    return t


class IdFactory:
    """Allocates IDs from counters kept in the company state (so they survive persistence)."""

    def __init__(self, counters: MutableMapping[str, int]):
        self.counters = counters
        counters.setdefault("list", FIRST_LIST_ID)
        counters.setdefault("seed", FIRST_SEED_ID)
        counters.setdefault("txn", FIRST_TXN_ID)
        counters.setdefault("txn_number", 1)

    def _take(self, name: str, step: int = 1) -> int:
        value = self.counters[name]
        self.counters[name] = value + step
        return value

    def list_id(self, t: datetime, *, seed: bool = False) -> str:
        n = self._take("seed", FIRST_SEED_ID) if seed else self._take("list")
        return f"{n:X}-{epoch(t)}"

    def txn_id(self, t: datetime) -> str:
        # QuickBooks leaves a gap after each transaction/line ID; so do we (+2).
        return f"{self._take('txn', 2):X}-{epoch(t)}"

    def txn_number(self) -> int:
        return self._take("txn_number")

    def iterator_id(self) -> str:
        """A GUID in braces, as QuickBooks writes iteratorIDs; drawn from a counter so that a
        fake with a fixed clock answers the same messages with the same bytes."""
        n = self.counters.get("iterator", 0) + 1
        self.counters["iterator"] = n
        return "{" + str(uuid.uuid5(_ITERATOR_NAMESPACE, str(n))) + "}"


def next_edit_sequence(t: datetime, previous: str | None = None) -> str:
    """The creation/modification time as epoch seconds, bumped past `previous` so that two
    changes within one second still get different EditSequences."""
    value = epoch(t)
    if previous and previous.isdigit():
        value = max(value, int(previous) + 1)
    return str(value)


def add_days(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()
