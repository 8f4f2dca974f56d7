"""The faults a test injected into a FakeQuickBooks (lost or malformed responses, delays, a
company file that will not open, records held by another user). They belong to the running
instance, never to the company file."""

from __future__ import annotations

from dataclasses import dataclass, field

from qbsync.testing.fake_quickbooks.replies import Reply


@dataclass
class Faults:
    lose: int = 0
    lose_raises: bool = True
    malformed: int = 0
    delay: float = 0.0
    delay_count: int | None = 0
    open_error: Reply | None = None
    open_times: int | None = None
    locks: dict[str, int] = field(default_factory=dict)
