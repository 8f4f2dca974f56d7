"""The state of one Web Connector session, kept in the store between callbacks as JSON.

A session is a sequence of *steps*, each producing messages and consuming their responses:
today only ``export`` (approved app → QuickBooks changes, re-reads before Mods included);
the two-way sync adds ``import`` steps (queries with iterators, applying approved imports)
and error-recovery lookups before them. `STEPS` lists them in the order a session runs them;
`SessionState.step` is the one in progress.

Percent complete: the work known at session start (`total`) against the changes settled so
far, as an integer that never goes down, and 100 only when nothing more will be sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from qbsync.engine.model import Failed, Outcome, Refreshed, Requeued, Synced, Unknown, Waiting

EXPORT, DONE = "export", "done"
STEPS = (EXPORT,)  # the two-way sync puts its import steps here


def next_step(step: str) -> str:
    """The step after `step` (DONE after the last)."""
    if step in STEPS:
        i = STEPS.index(step)
        return STEPS[i + 1] if i + 1 < len(STEPS) else DONE
    return DONE


# authenticate()[1] values (QBWC's words) and getLastError's pause.
AUTH_INVALID_USER = "nvu"
AUTH_NO_WORK = "none"
AUTH_BUSY = "busy"
NOOP = "NoOp"
CONNECTION_ERROR_DONE = "done"
INTERACTIVE_DONE = "Done"


@dataclass
class SessionState:
    step: str = EXPORT
    total: int = 0  # changes queued when the session started
    max_change_id: int = 0  # changes approved later wait for the next session
    percent: int = 0
    qbxml_version: str | None = None
    seq: int = 0  # messages sent so far
    sent: dict[str, Any] | None = None  # the message out (exports.SentMessage.to_dict())
    skip: list[int] = field(default_factory=list)  # not to be sent again in this session
    retried: list[int] = field(default_factory=list)  # sent again after 3231 once already
    refreshed: dict[str, str] = field(default_factory=dict)  # change id -> EditSequence re-read
    settled: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    error_pending: bool = False  # getLastError has something to say (else it answers NoOp)
    fatal: bool = False
    record_dir: str | None = None
    expired_at: str | None = None  # closed for silence (ISO UTC); None when open or closed normally
    expired_idle: bool = False  # nothing was out when it expired: it may be revived

    # -- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SessionState:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    # -- bookkeeping ---------------------------------------------------------------------
    def refreshed_ids(self) -> dict[int, str]:
        return {int(k): v for k, v in self.refreshed.items()}

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def _settle(self, change_id: int) -> None:
        if change_id not in self.settled:
            self.settled.append(change_id)

    def take(self, outcomes: Iterable[Outcome]) -> None:
        """Count what happened to each change and remember which ones this session is done with."""
        for o in outcomes:
            if isinstance(o, Synced):
                self.count("synced")
                if o.warning:
                    self.count("warnings")
                self._settle(o.change_id)
            elif isinstance(o, Failed):
                self.count("errors")
                self._settle(o.change_id)
            elif isinstance(o, Unknown):
                self.count("unknown")
                self._settle(o.change_id)
            elif isinstance(o, Waiting):
                self.count("waiting")
                self._no_more(o.change_id)
            elif isinstance(o, Requeued):
                if o.retry_now and o.change_id not in self.retried:
                    self.retried.append(o.change_id)
                else:
                    self.count("requeued")
                    self._no_more(o.change_id)
            elif isinstance(o, Refreshed):
                self.refreshed[str(o.change_id)] = o.edit_sequence

    def _no_more(self, change_id: int) -> None:
        if change_id not in self.skip:
            self.skip.append(change_id)
        self._settle(change_id)

    def progress(self, more: bool) -> int:
        """Percent complete: never lower than before; 100 only when `more` is False."""
        if not more:
            self.percent = 100
            return 100
        done = len(self.settled)
        value = min(99, (done * 100) // self.total) if self.total > 0 else 0
        self.percent = max(self.percent, value)
        return self.percent

    def summary(self) -> str:
        """One line for closeConnection and the status: "Synced 37, 2 errors"."""
        c = self.counts
        synced = c.get("synced", 0)
        parts = [f"Synced {synced}"]
        if c.get("warnings"):
            parts.append(_plural(c["warnings"], "with a warning", "with warnings"))
        for key, one, many in (
            ("errors", "error", "errors"),
            ("unknown", "outcome unknown", "outcomes unknown"),
            ("waiting", "waiting", "waiting"),
            ("requeued", "back in the queue", "back in the queue"),
        ):
            if c.get(key):
                parts.append(_plural(c[key], one, many))
        if len(parts) == 1 and not synced:
            return "Nothing to sync"
        return ", ".join(parts)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def may_revive(state: SessionState, *, closed: bool, later_session: bool) -> bool:
    """Whether a call on a session past its timeout may carry it on instead of failing.

    QBWC authenticates first, then starts QuickBooks and opens the company file (minutes,
    unattended) before its first sendRequestXML, so a session can time out without anything
    having gone wrong. It is revived when nothing was out (no message whose answer is missing:
    an outcome already recorded as unknown stays unknown) and no later session of its
    connection has started (that one owns the connection now). `closed`: the session was
    already closed, which only an expiry with nothing out allows to undo."""
    if later_session:
        return False
    if closed:
        return state.expired_at is not None and state.expired_idle
    return state.sent is None


def choose_version(reported: str | None, ceiling: str | None, available: Iterable[str]) -> str | None:
    """The highest qbXML version qbsync has a schema for that neither QuickBooks (what QBWC
    reports) nor the connection's ceiling exceeds; None when there is none."""

    def key(v: str) -> tuple[int, int]:
        major, _, minor = v.partition(".")
        return int(major), int(minor or 0)

    limits = [key(v) for v in (reported, ceiling) if v]
    ok = [v for v in available if all(key(v) <= lim for lim in limits)]
    return max(ok, key=key) if ok else None
