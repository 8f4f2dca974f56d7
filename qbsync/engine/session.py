"""One Web Connector session as a pure state machine, in the manner of h11: no SQL, no HTTP, no
clock of its own. The connector shell loads a session's state (and the work it needs) by ticket,
feeds it one Web Connector event, records the outcomes it returns and saves the state, all in one
transaction, then answers the Web Connector with the reply's `answer`.

Events (the Web Connector's callbacks): `send_request`, `receive_response`, `connection_error`,
`get_last_error`, `close`, and `expire` (no call within the time allowed). Each returns a
`Reply`: the answer for the Web Connector, the outcome of each change decided by the event,
the message leaving now (its writes are marked as sent before it leaves), log lines, and, when
the session ends, the text for the connection's status. An event that is illegal in the
current phase (see `TRANSITIONS`) raises `ProtocolError`, which carries the answer to give, and
leaves the state unchanged.

A session runs *steps* (`STEPS`), each producing messages and consuming their responses:
``settle`` (exports whose outcome a past session left unknown are settled against QuickBooks,
error recovery then lookups, before anything new is sent: `qbsync.engine.settle`), ``apply``
(approved imports re-read by id and applied, `qbsync.engine.imports`), ``export`` (approved
app → QuickBooks changes, re-reads before Mods included, `qbsync.engine.exports`), then
``detect`` (what changed in QuickBooks since the last look, when the connection imports and
detection is due).

Percent complete: the work known at session start (`total`) against the changes settled so far,
an integer that never goes down, and 100 only when nothing more will be sent.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from qbsync.engine import exports, imports, refresh, settle
from qbsync.engine.model import (
    Applied,
    DetectionDone,
    ExportChange,
    Failed,
    Found,
    ImportChange,
    Mirror,
    Outcome,
    Refreshed,
    Requeued,
    Synced,
    Undecided,
    Unknown,
    Waiting,
)
from qbsync.qbxml.versions import VersionError, version_key

SETTLE, APPLY, EXPORT, DETECT, DONE = "settle", "apply", "export", "detect", "done"
STEPS = (SETTLE, APPLY, EXPORT, DETECT)

# Protocol strings (the Web Connector's words) and receiveResponseXML's error answer.
AUTH_INVALID_USER = "nvu"
AUTH_NO_WORK = "none"
AUTH_BUSY = "busy"
AUTH_GO = ""  # a ticket and "" (or the company file): the session starts
NOOP = "NoOp"
CONNECTION_ERROR_DONE = "done"
INTERACTIVE_DONE = "Done"
FATAL = -101  # QBWC calls getLastError, shows its text, then closeConnection
MESSAGE_SET_ID_MAX = 23  # characters of a newMessageSetID / oldMessageSetID (qbXML's documented limit)

# Phases of a session, derived from its state.
READY, OUT, REPORTING, FINISHED, CLOSED = "ready", "message out", "error to report", "finished", "closed"
EVENTS = ("send_request", "receive_response", "connection_error", "get_last_error", "close", "expire")
# Which events each phase accepts. A Web Connector that asks for the next message while one is
# out has lost its answer (an out-of-sequence call): accepted, the message's outcome is unknown.
TRANSITIONS: dict[str, frozenset[str]] = {
    READY: frozenset({"send_request", "connection_error", "get_last_error", "close", "expire"}),
    OUT: frozenset({"send_request", "receive_response", "connection_error", "get_last_error", "close", "expire"}),
    REPORTING: frozenset({"send_request", "connection_error", "get_last_error", "close", "expire"}),
    FINISHED: frozenset({"send_request", "get_last_error", "close", "expire"}),
    CLOSED: frozenset(),
}


def next_step(step: str) -> str:
    """The step after `step` (DONE after the last)."""
    if step in STEPS:
        i = STEPS.index(step)
        return STEPS[i + 1] if i + 1 < len(STEPS) else DONE
    return DONE


class ProtocolError(Exception):
    """An event the session cannot take in its current phase. The state is unchanged; `answer`
    is what the Web Connector gets."""

    def __init__(self, event: str, phase: str, answer: Any):
        super().__init__(f"{event} is not allowed while the session is {phase}")
        self.event, self.phase, self.answer = event, phase, answer


@dataclass(frozen=True)
class Limits:
    """The session's rules of time and size. `session_timeout`: seconds of silence after which
    a session with nothing out is abandoned; `response_timeout`: the same while a message is
    with QuickBooks (QuickBooks may take minutes on a big message, so it is generous)."""

    session_timeout: float = 120
    response_timeout: float = 1800
    batch_size: int = 50

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch size must be at least 1")
        if self.session_timeout <= 0 or self.response_timeout <= 0:
            raise ValueError("timeouts must be positive")


@dataclass
class Work:
    """What the steps need: the connection's queued exports, the mirror records they touch,
    which of the local ids they need still have a change to be approved, held or in the Error
    Log (None: not known; a reference to anything else not in QuickBooks fails), the
    approved imports to apply, and the exports whose outcome is unknown, still to be settled
    (the mirror holds the records they touch)."""

    changes: list[ExportChange] = field(default_factory=list)
    mirror: Mirror = field(default_factory=Mirror)
    unapproved: frozenset[str] | None = None
    imports: list[ImportChange] = field(default_factory=list)
    unknown: list[ExportChange] = field(default_factory=list)
    more: bool = False  # more exports are queued than `changes` holds (the shell loads a window)
    imports_more: bool = False  # the same for `imports`


@dataclass
class OutMessage:
    """The message leaving with a send_request reply. `writes`: the changes it writes (the
    shell marks them as sent, with `message_set_id`, before the message leaves)."""

    xml: str
    seq: int
    kind: str
    message_set_id: str | None
    writes: list[int]
    label: str


@dataclass
class Reply:
    answer: Any
    outcomes: list[Outcome] = field(default_factory=list)
    found: list[Found] = field(default_factory=list)  # what detection read (no change id)
    # send_request: nothing in the exports loaded could go, more are queued: load them, ask again.
    # receive_response: nothing loaded could go next and more are queued: another message may
    # follow (the answer counts on it), or `recheck` with the next exports decides.
    more: bool = False
    message: OutMessage | None = None
    notes: list[str] = field(default_factory=list)  # lines for the server log
    details: list[str] = field(default_factory=list)  # lines for the server log's debug level
    closing: str | None = None  # the session ended: the text for the connection's status


@dataclass
class SessionState:
    """Everything a session remembers between callbacks, saved as JSON."""

    step: str = STEPS[0]
    total: int = 0  # changes queued when the session started
    max_change_id: int = 0  # changes approved later wait for the next session
    percent: int = 0
    qbxml_version: str | None = None
    seq: int = 0  # messages sent so far
    sent: dict[str, Any] | None = None  # the message out (exports.SentMessage.to_dict())
    skip: list[int] = field(default_factory=list)  # not to be sent again in this session
    retried: list[int] = field(default_factory=list)  # sent again after 3231 once already
    alone: list[int] = field(default_factory=list)  # to go in a message of their own (0x80040400)
    refreshed: dict[str, str] = field(default_factory=dict)  # change id -> EditSequence re-read
    done: int = 0  # changes this session is done with (for the percent: kept as a count, not a list)
    counts: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    error_pending: bool = False  # getLastError has something to say (else it answers NoOp)
    fatal: bool = False
    failure: str | None = None  # why the session could not do its work (closeConnection says so)
    closed: bool = False
    record_dir: str | None = None
    expired_at: str | None = None  # closed for silence (ISO UTC); None when open or closed normally
    expired_idle: bool = False  # nothing was out when it expired: it may be revived
    expired_seq: int | None = None  # the message that was out when it expired
    detect: dict[str, Any] | None = None  # imports.Detection.to_dict(); None: no detection this session

    # -- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields as they are, for JSON (no copy: the shell saves it at once; asdict's deep
        copy of the message out cost more than the rest of the save)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SessionState:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    # -- bookkeeping ---------------------------------------------------------------------
    @property
    def phase(self) -> str:
        if self.closed:
            return CLOSED
        if self.sent is not None:
            return OUT
        if self.error_pending:
            return REPORTING
        if self.fatal or self.step == DONE:
            return FINISHED
        return READY

    def refreshed_ids(self) -> dict[int, str]:
        return {int(k): v for k, v in self.refreshed.items()}

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def _settle(self, change_id: int) -> None:
        self.done += 1
        if change_id in self.alone:
            self.alone.remove(change_id)

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
            elif isinstance(o, (Unknown, Undecided)):
                self.count("unknown")
                if isinstance(o, Unknown):  # a write of this session whose answer never came
                    self.count("lost")
                self._settle(o.change_id)
            elif isinstance(o, Waiting):
                self.count("waiting")
                self._no_more(o.change_id)
            elif isinstance(o, Requeued):
                if o.alone:
                    if o.change_id not in self.alone:
                        self.alone.append(o.change_id)
                elif o.retry_now and o.change_id not in self.retried:
                    self.retried.append(o.change_id)
                else:
                    self.count("requeued")
                    self._no_more(o.change_id)
            elif isinstance(o, Refreshed):
                self.refreshed[str(o.change_id)] = o.edit_sequence
            elif isinstance(o, Applied):
                self.count("imported")
                self._settle(o.change_id)

    def _no_more(self, change_id: int) -> None:
        if change_id not in self.skip:
            self.skip.append(change_id)
        self._settle(change_id)

    def progress(self, more: bool) -> int:
        """Percent complete: never lower than before; 100 only when `more` is False."""
        if not more:
            self.percent = 100
            return 100
        read = int((self.detect or {}).get("read", 0))
        done = self.done + read
        total = self.total + read + int((self.detect or {}).get("remaining", 0))
        value = min(99, (done * 100) // total) if total > 0 else 0
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
            ("imported", "imported", "imported"),
            ("detected", "change from QuickBooks to approve", "changes from QuickBooks to approve"),
        ):
            if c.get(key):
                parts.append(_plural(c[key], one, many))
        problems = (self.detect or {}).get("problems") or []
        if problems:
            parts.append(_plural(len(problems), "import type not checked", "import types not checked"))
        if len(parts) == 1 and not synced:
            return "Nothing to sync"
        return ", ".join(parts)

    def closing_text(self) -> str:
        """closeConnection's text (QBWC shows it in its Status column): what went wrong when the
        session could not do its work, else the summary."""
        if self.failure:
            done = self.summary()
            return self.failure if done == "Nothing to sync" else f"{self.failure} ({done})"
        return self.summary()


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


# -- versions ----------------------------------------------------------------------------------


def _key(text: str | None) -> tuple[int, ...] | None:
    """A version's key, or None for text that is not a version (what QBWC sends is not checked)."""
    try:
        return version_key(text) if text else None
    except VersionError:
        return None


def choose_version(reported: str | None, ceiling: str | None, available: Iterable[str]) -> str | None:
    """The highest qbXML version qbsync has a schema for that neither QuickBooks (what QBWC
    reports) nor the connection's ceiling exceeds; None when there is none."""
    limits = [k for k in (_key(reported), _key(ceiling)) if k is not None]
    ok = [v for v in available if all(version_key(v) <= lim for lim in limits)]
    return max(ok, key=version_key) if ok else None


def client_version_answer(reported: str, minimum: str | None) -> str:
    """clientVersion's answer: "" to go on; "W:…" (a warning the user may accept) below `minimum`."""
    have, want = _key(reported), _key(minimum)
    if have is not None and want is not None and have < want:
        return (f"W:This qbsync server expects QuickBooks Web Connector {minimum} or later; "
                f"this is {reported}. Please update the Web Connector.")
    return ""


# -- time --------------------------------------------------------------------------------------


def expires_at(state: SessionState, last_call: datetime, limits: Limits) -> datetime:
    """When a silent session is abandoned: the session timeout after its last call, or the
    (longer) response timeout while a message is with QuickBooks."""
    allowed = limits.response_timeout if state.sent is not None else limits.session_timeout
    return last_call + timedelta(seconds=allowed)


def is_expired(state: SessionState, last_call: datetime, now: datetime, limits: Limits) -> bool:
    """Silent for the whole time allowed (expiry at exactly the limit)."""
    return not state.closed and now >= expires_at(state, last_call, limits)


def seconds_left(state: SessionState, last_call: datetime, now: datetime, limits: Limits) -> int:
    """Whole seconds until the open session expires (at least 1)."""
    return max(1, math.ceil((expires_at(state, last_call, limits) - now).total_seconds()))


def may_revive(state: SessionState, *, later_session: bool) -> bool:
    """Whether a call on a session past its timeout may carry it on instead of failing.

    QBWC authenticates first, then starts QuickBooks and opens the company file (minutes,
    unattended) before its first sendRequestXML, so a session can time out without anything
    having gone wrong. It is revived when nothing was out (no message whose answer is missing:
    an outcome already recorded as unknown stays unknown) and no later session of its
    connection has started (that one owns the connection now)."""
    if later_session:
        return False
    if state.closed:
        return state.expired_at is not None and state.expired_idle
    return state.sent is None


def revive(state: SessionState) -> None:
    state.closed, state.expired_at, state.expired_idle, state.expired_seq = False, None, False, None


# -- authenticate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Admission:
    """authenticate's decision: `status` is AUTH_GO (start a session), AUTH_NO_WORK or AUTH_BUSY;
    `postpone`: seconds QBWC should wait before trying again (busy only); `outcomes`: what was
    learnt about queued changes that cannot go (to record even when no session starts)."""

    status: str
    postpone: int | None = None
    outcomes: tuple[Outcome, ...] = ()


def admit(*, queued: int, imports_due: bool, running_seconds_left: Sequence[int], busy_postpone: bool,
          work: Work | None = None, unknown: int = 0) -> Admission:
    """Whether a connection's authenticate starts a session. `running_seconds_left`: for each
    session of the connection still open, the seconds until it expires. With `work` (the queued
    exports), a session starts only when one of them can go: changes that wait for records still
    to be approved, or that refer to records gone for good, make no session (`none`) but are
    noted (waiting) or sent to the Error Log (gone). `unknown` exports whose outcome is unknown
    (still to be settled) always start a session."""
    if running_seconds_left:
        return Admission(AUTH_BUSY, max(running_seconds_left) if busy_postpone else None)
    if unknown:
        return Admission(AUTH_GO)
    if queued == 0 and not imports_due:
        return Admission(AUTH_NO_WORK)
    if work is not None and not imports_due:
        plan = exports.plan_exports(work.changes, work.mirror, unapproved=work.unapproved, validate=False)
        if plan.empty and not work.more:  # with more queued than loaded, one of them may go
            return Admission(AUTH_NO_WORK, outcomes=(*plan.invalid, *plan.waiting, *plan.deferred))
    return Admission(AUTH_GO)


def auth_answer(ticket: str, status: str, *, postpone: int | None = None,
                min_run_interval: int | None = None) -> list[str]:
    """authenticate's array: [ticket, status] (as Intuit's sample), then, when they apply, the
    seconds to postpone (index 2, "" for none) and the minimum run interval (index 3). QBWC reads
    both only for an application it runs automatically. `nvu` is always ["", "nvu"]."""
    if status == AUTH_INVALID_USER:
        return ["", AUTH_INVALID_USER]
    answer = [ticket, status]
    if postpone is not None or min_run_interval is not None:
        answer.append("" if postpone is None else str(postpone))
    if min_run_interval is not None:
        answer.append(str(min_run_interval))
    return answer


def unknown_ticket_text(state: SessionState | None, summary: str | None = None) -> str:
    """getLastError's text for a ticket that no longer takes calls, true to what happened."""
    restart = "the next update starts a new one"
    if state is None:
        return f"qbsync: this Web Connector session is unknown ({restart})"
    if state.expired_at is not None and state.expired_seq is not None:
        return (f"qbsync: this Web Connector session timed out while message {state.expired_seq} was with "
                f"QuickBooks; its changes are marked outcome unknown (see `qbsync errors`); {restart}")
    if state.expired_at is not None:
        return f"qbsync: this Web Connector session timed out with nothing waiting for QuickBooks; {restart}"
    return f"qbsync: this Web Connector session has ended ({summary or state.closing_text()}); {restart}"


# -- the session -------------------------------------------------------------------------------


class Session:
    """One session's machine over its `state`. `new_token`: random text for message-set ids."""

    def __init__(self, session_id: int, state: SessionState, limits: Limits | None = None, *,
                 available_versions: Sequence[str] = ("13.0",), qbxml_ceiling: str | None = None,
                 new_token: Callable[[], str] = lambda: secrets.token_hex(4)):
        self.id = session_id
        self.state = state
        self.limits = limits or Limits()
        self.available_versions = tuple(available_versions)
        self.qbxml_ceiling = qbxml_ceiling
        self.new_token = new_token

    @property
    def phase(self) -> str:
        return self.state.phase

    def _check(self, event: str, refused_answer: Any) -> None:
        if event not in TRANSITIONS[self.phase]:
            raise ProtocolError(event, self.phase, refused_answer)

    # -- events ------------------------------------------------------------------------------

    def send_request(self, work: Work, *, hcp: str = "", company_file: str = "", country: str = "",
                     major: Any = "", minor: Any = "") -> Reply:
        """The next qbXML message, or "" (QBWC then asks getLastError: the reason, or NoOp)."""
        self._check("send_request", "")
        st = self.state
        reply = Reply("")
        st.error_pending = False
        if st.sent is not None:  # the previous answer never came: QBWC lost it
            sent = exports.SentMessage.from_dict(st.sent)
            st.sent = None
            lost = self._lost(reply, sent, "the Web Connector asked for the next message before answering "
                                           f"message {sent.seq}; QuickBooks may have applied it")
            _forget(work, lost)
        if st.fatal or st.step == DONE:
            return self._nothing(reply, st.last_error if st.fatal else None)
        if st.qbxml_version is None:
            reported = f"{major}.{minor}" if str(major).strip() not in ("", "None") else None
            version = choose_version(reported, self.qbxml_ceiling, self.available_versions)
            if version is None:
                st.fatal = True
                st.failure = (f"QuickBooks reports qbXML {reported}, older than any version qbsync supports "
                              f"({', '.join(self.available_versions)}); update QuickBooks")
                return self._nothing(reply, st.failure)
            st.qbxml_version = version
            reply.details.append(f"qbXML {version} (QuickBooks reports {reported}, connection ceiling "
                               f"{self.qbxml_ceiling}), {country or '?'}, {company_file or 'open file'}")
        seq = st.seq + 1
        # QuickBooks takes message-set ids of at most 23 characters (error recovery): "q" + the
        # session id + the message's number + a random token fits up to session 9,999,999. Made
        # before planning: the export step builds its message once, with the id in it.
        message_set_id = f"q{self.id}-{seq}-{self.new_token()}"[:MESSAGE_SET_ID_MAX]
        plan = self._next_plan(work, reply, message_set_id=message_set_id)
        if plan is None:
            if reply.more:  # the shell loads the next exports and asks again (reply.answer unused)
                return reply
            return self._nothing(reply, None)
        if plan.kind != exports.WRITE:
            message_set_id = None
        try:
            xml = exports.build_message(plan, version=st.qbxml_version or "13.0", message_set_id=message_set_id)
        except Exception as exc:  # each request was valid alone; a message that is not is our bug
            if plan.kind == settle.SETTLE_KIND:  # they went out before: never "not sent", never retried blindly
                self._take(reply, [Undecided(cid, settle.undecided_text(cid, f"the settling message could not be "
                                                                             f"built: {exc}"))
                                   for cid in dict.fromkeys([*plan.recovered.values(), *plan.change_ids()])])
            else:
                self._take(reply, [Failed(cid, None, f"not sent: {exc}") for cid in plan.change_ids()])
            reply.notes.append(f"could not build message {seq}: {exc}")
            return self._nothing(reply, f"qbsync could not build the next message: {exc}")
        types = {c.id: c.type for c in (*work.changes, *work.imports, *work.unknown)}
        sent = exports.SentMessage.from_plan(plan, seq, message_set_id, types)
        sent.step = st.step
        st.seq, st.sent = seq, sent.to_dict()
        reply.notes += [f"change {p.change_id}: {p.note}" for p in plan.requests if p.note]
        reply.answer = xml
        reply.message = OutMessage(xml, seq, plan.kind, message_set_id,
                                   plan.change_ids() if plan.kind == exports.WRITE else [], sent.label)
        return reply

    def receive_response(self, work: Work, response: str = "", hresult: str = "", message: str = "") -> Reply:
        """Percent complete (0–100, never decreasing, 100 when done), or FATAL. A response with
        nothing out (never sent, or answered already) is refused: the last answer is given again."""
        self._check("receive_response", self.state.percent if self.state.seq else FATAL)
        st = self.state
        st.error_pending = False
        sent = exports.SentMessage.from_dict(st.sent)  # type: ignore[arg-type]
        st.sent = None
        if sent.step == DETECT:
            return self._detected(work, sent, response, hresult, message)
        found = self._interpret(sent, response, hresult, message, work)
        found.outcomes = refresh.decide_all(found.outcomes, work.changes, work.mirror)  # merge before the Mod
        reply = Reply(0, notes=[found.summary])
        self._take(reply, found.outcomes)
        if found.fatal:
            return self._fatal(reply, found.fatal)
        reply.answer = st.progress(self._has_more(work, found.outcomes, reply))
        return reply

    def recheck(self, work: Work) -> Reply:
        """After a response whose reply said `more` (judged on a window of the exports that held
        nothing that could go next): the percent again, judged on `work`, the next window, with
        the first reply's outcomes recorded (the shell reads the response with a small window)."""
        reply = Reply(self.state.percent)
        reply.answer = self.state.progress(self._has_more(work, [], reply))
        reply.more = False  # what lies beyond this window keeps the percent below 100
        return reply

    def _fatal(self, reply: Reply, reason: str) -> Reply:
        """The session cannot go on: FATAL now, getLastError gives `reason`, closing says it."""
        st = self.state
        st.fatal = True
        st.failure = st.last_error = reason
        st.error_pending = True
        reply.answer = FATAL
        return reply

    def connection_error(self, hresult: str = "", message: str = "") -> Reply:
        """QuickBooks or the company file could not be opened: the reason goes on the
        connection's status and the session ends ("done")."""
        self._check("connection_error", CONNECTION_ERROR_DONE)
        st = self.state
        reason = f"QuickBooks could not be opened ({hresult or 'no HRESULT'}): {message or 'no message'}"
        st.last_error = st.failure = reason
        st.error_pending = True
        reply = Reply(CONNECTION_ERROR_DONE)
        self._end(reply, f"connection error: {reason}")
        return reply

    def get_last_error(self) -> Reply:
        """What went wrong (shown by QBWC), or NoOp (pause, then sendRequestXML again) when the
        last call had nothing to report."""
        self._check("get_last_error", NOOP)
        st = self.state
        return Reply(st.last_error if st.error_pending and st.last_error else NOOP)

    def close(self) -> Reply:
        """The end of the run: a one-line summary such as "Synced 37, 2 errors", or what went wrong."""
        self._check("close", "OK")
        reply = Reply("")
        self._end(reply, None)
        reply.answer = self.state.closing_text()
        return reply

    def expire(self, at: str) -> Reply:
        """No call within the time allowed: what was out is outcome unknown and the session closes
        (a session that had nothing out may be revived by a late call, see `may_revive`)."""
        self._check("expire", None)
        st = self.state
        reply = Reply(None)
        st.expired_at, st.expired_idle = at, st.sent is None
        if st.sent is not None:
            sent = exports.SentMessage.from_dict(st.sent)
            st.expired_seq = sent.seq
            st.sent = None
            self._lost(reply, sent, f"the Web Connector session timed out while message {sent.seq} "
                                    "was with QuickBooks; it may have been applied")
        self._end(reply, "expired: " + st.summary())
        return reply

    # -- inside --------------------------------------------------------------------------------

    def _take(self, reply: Reply, outcomes: list[Outcome]) -> None:
        if outcomes:
            reply.outcomes += outcomes
            self.state.take(outcomes)

    def _end(self, reply: Reply, outcome: str | None) -> None:
        st = self.state
        if st.sent is not None:
            sent = exports.SentMessage.from_dict(st.sent)
            st.sent = None
            self._lost(reply, sent, f"the session ended before QuickBooks answered message {sent.seq}")
        st.closed = True
        reply.closing = outcome or st.closing_text()

    def _nothing(self, reply: Reply, error: str | None) -> Reply:
        """Answer "" to sendRequestXML: QBWC asks getLastError, which shows `error` (or the
        session's summary when there was simply nothing left)."""
        st = self.state
        if error is None:
            st.step = DONE
            st.progress(False)
            error = f"Nothing more to send. {st.summary()}"
        st.last_error = error
        st.error_pending = True
        reply.answer = ""
        return reply

    def _plan_step(self, step: str, work: Work, message_set_id: str | None = None,
                   probe: bool = False) -> exports.ExportPlan:
        # One entry per step of STEPS. `probe`: only whether the step has a message is asked (the
        # export step then stops at its first request).
        st = self.state
        if step == SETTLE:
            return settle.plan_settle(work.unknown, work.mirror, skip=set(st.skip),
                                      batch_size=self.limits.batch_size, version=st.qbxml_version or "13.0")
        if step == APPLY:
            return imports.plan_apply(work.imports, skip=set(st.skip),
                                      batch_size=self.limits.batch_size)
        if step == EXPORT:
            return exports.plan_exports(
                work.changes, work.mirror, batch_size=1 if probe else self.limits.batch_size,
                version=st.qbxml_version or "13.0", skip=set(st.skip), refreshed=st.refreshed_ids(),
                alone=set(st.alone), unapproved=work.unapproved, message_set_id=message_set_id,
            )
        if step == DETECT:
            if st.counts.get("lost"):
                # A write of this session may have reached QuickBooks unseen: read now, it would
                # come back as QuickBooks' own change. The next session settles it, then looks.
                return exports.ExportPlan(imports.DETECT_KIND)
            return imports.plan_detect(imports.Detection.from_dict(st.detect) if st.detect else None)
        raise ValueError(f"unknown session step {step!r}")

    @staticmethod
    def _interpret(sent: exports.SentMessage, response: str, hresult: str, message: str,
                   work: Work) -> exports.Interpretation:
        if sent.step == SETTLE:
            return settle.interpret(sent, response, hresult, message, work.unknown, work.mirror)
        if sent.step == APPLY:
            return imports.interpret_apply(sent, response, hresult, message)
        if sent.step == EXPORT:
            return exports.interpret(sent, response, hresult, message)
        raise ValueError(f"unknown session step {sent.step!r}")

    def _lost(self, reply: Reply, sent: exports.SentMessage, reason: str) -> list[Outcome]:
        """The answer to `sent` will never come: its writes are outcome unknown, its re-reads
        stay approved, and a detection pass starts over (its iterator died with it)."""
        if sent.step == DETECT:
            self._detection_broke(reply, f"message {sent.seq} was not answered")
            return []
        if sent.step == SETTLE:  # queries only: nothing applied, still unknown (the next session asks)
            for cid in settle.lost(sent):
                self.state._no_more(cid)
            reply.notes.append(f"message {sent.seq} (settling unknown outcomes) was not answered: "
                               "they stay unknown until the next session")
            return []
        outcomes = imports.lost(sent, reason) if sent.step == APPLY else exports.lost(sent, reason)
        self._take(reply, outcomes)
        return outcomes

    def _detection_broke(self, reply: Reply, why: str) -> None:
        st = self.state
        if not st.detect:
            return
        det = imports.Detection.from_dict(st.detect)
        reply.notes.append(det.restart(why))
        self._save_detection(reply, det)

    def _save_detection(self, reply: Reply, det: imports.Detection) -> None:
        was_done = imports.Detection.from_dict(self.state.detect or {"tasks": [], "since": {}}).done
        self.state.detect = det.to_dict()
        if det.done and not was_done:
            reply.found.append(DetectionDone())

    def _detected(self, work: Work, sent: exports.SentMessage, response: str, hresult: str, message: str) -> Reply:
        """A detection response: what it found goes into the reply, the pass moves on."""
        st = self.state
        det = imports.Detection.from_dict(st.detect or {"tasks": [], "since": {}})
        result = imports.interpret_detect(det, sent, response, hresult, message)
        reply = Reply(0, notes=result.notes, found=list(result.found))
        self._save_detection(reply, det)
        if result.fatal:
            return self._fatal(reply, result.fatal)
        reply.answer = st.progress(self._has_more(work, [], reply))
        return reply

    def _next_plan(self, work: Work, reply: Reply, *, message_set_id: str | None = None,
                   probe: bool = False) -> exports.ExportPlan | None:
        """The session's next message: the current step's, or else the first later step's that
        has one (None: nothing more to send). What a step decides on the way (invalid changes,
        changes that wait) goes into the reply as it is decided. `probe`: only whether there is
        one is asked (what the rest of the batch holds is decided when it is sent)."""
        st = self.state
        while st.step != DONE:
            plan = self._plan_step(st.step, work, message_set_id, probe)
            self._take(reply, [*plan.invalid, *plan.waiting, *plan.settled])
            _forget(work, [*plan.invalid, *plan.settled])
            if not plan.empty:
                return plan
            self._take(reply, plan.deferred)  # what still waits is not sent in this session
            if (st.step == EXPORT and work.more) or (st.step == APPLY and work.imports_more):
                # the store has more than it loaded: the shell loads the next ones
                reply.more = True
                return None
            st.step = next_step(st.step)
        return None

    def _has_more(self, work: Work, outcomes: list[Outcome], reply: Reply) -> bool:
        """Whether another message will follow, judged on `work` (loaded with the changes of the
        message just answered) as it stands after `outcomes`: what they settled is no longer
        queued, and what they synced is known to QuickBooks now."""
        _forget(work, outcomes)
        return self._next_plan(work, reply, probe=True) is not None or reply.more


def _forget(work: Work, outcomes: list[Outcome]) -> None:
    """`work` as the store has it after `outcomes`: what they settled is no longer queued, what
    they synced is known to QuickBooks, and what failed is in the Error Log. An outcome-unknown
    change settled as not applied is queued again."""
    if work.unknown:
        decided = {o.change_id: o for o in outcomes}
        for change in [c for c in work.unknown if c.id in decided]:
            o = decided[change.id]
            work.unknown.remove(change)
            if isinstance(o, Requeued):
                work.changes.append(change)
            elif isinstance(o, Synced):
                work.changes.append(change)  # forgotten below, its record learnt
            elif work.unapproved is not None:
                work.unapproved = work.unapproved | {change.local_id}
    settled = {o.change_id: o for o in outcomes if isinstance(o, (Synced, Failed, Unknown, Undecided, Applied))}
    if not settled:
        return
    work.imports = [c for c in work.imports if c.id not in settled]
    in_error_log = set()
    for change in work.changes:
        o = settled.get(change.id)
        if isinstance(o, Synced) and change.action != "delete":
            work.mirror.learn(change.type, change.local_id, o.qb_id or change.qb_id, o.edit_sequence)
        elif isinstance(o, (Failed, Unknown, Undecided)):
            in_error_log.add(change.local_id)  # on its way still: a retry may send it
    work.changes = [c for c in work.changes if c.id not in settled]
    if work.unapproved is not None and in_error_log:
        work.unapproved = work.unapproved | in_error_log
