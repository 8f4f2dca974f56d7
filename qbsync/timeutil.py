"""Time in qbsync: every time it stores, prints or compares is UTC, written
``YYYY-MM-DDTHH:MM:SSZ`` (second precision, so the text sorts as the time does).

A time without an offset is taken as UTC. QuickBooks' own date-times (qbXML DATETIMETYPE, local
time with an offset and never ``Z``) are another format: `qbsync.qbxml.values` writes those.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

ISO_UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def utc_clock() -> datetime:
    """The current time, timezone-aware, in UTC (the default clock of anything that takes one)."""
    return datetime.now(timezone.utc)


def utc_now() -> str:
    """The current time as stored and printed: ``YYYY-MM-DDTHH:MM:SSZ``."""
    return iso_utc(utc_clock())


def to_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken as UTC already."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso_utc(moment: datetime) -> str:
    """`moment` as ``YYYY-MM-DDTHH:MM:SSZ``; fractions of a second are dropped."""
    return to_utc(moment).strftime(ISO_UTC_FORMAT)


def parse_iso_utc(text: str) -> datetime:
    """ISO-8601 text (``Z``, an offset, or none meaning UTC; a bare date is its midnight) as an
    aware datetime in UTC. Raises ValueError for anything else."""
    return to_utc(datetime.fromisoformat(text.strip()))


def parse_user_time(text: str) -> str:
    """A date or date-time a user typed, in the form qbsync stores it: a bare date stays
    ``YYYY-MM-DD`` (meaning midnight UTC of that day, and sorting before every time on it); a
    date-time becomes ``YYYY-MM-DDTHH:MM:SSZ``, its offset converted to UTC
    (``2026-03-01T10:00:00+02:00`` → ``2026-03-01T08:00:00Z``; no offset means UTC).
    Raises ValueError for anything else."""
    text = text.strip()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    return iso_utc(parse_iso_utc(text))
