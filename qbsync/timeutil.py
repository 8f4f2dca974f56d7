"""Times in UTC, one way: every time qbsync stores or prints is ISO-8601 UTC ("…Z")."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def to_utc(dt: datetime) -> datetime:
    """`dt` in UTC; a naive datetime is taken as UTC already."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def iso_utc(dt: datetime) -> str:
    """"2026-03-01T08:00:00Z" (whole seconds)."""
    return to_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso_utc(text: str) -> datetime:
    """The inverse of `iso_utc`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
