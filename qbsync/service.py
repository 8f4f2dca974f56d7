"""`ConnectorService`: the QuickBooks Web Connector callbacks over plain Python values.

The SOAP adapter (`qbsync.soap`) converts SOAP to these calls and back; nothing here knows
HTTP. Each callback opens the store, loads the session by the hash of its ticket, lets the
pure engine (`qbsync.engine`) decide, saves everything in ONE transaction, and answers. No
state lives in this object between calls, so several server threads (or processes) can share
one store, and a restarted server carries on with the sessions it had.

    service = ConnectorService("qbsync.db")
    ticket, company = service.authenticate("acme-sync", password)[:2]
    xml = service.send_request_xml(ticket, hcp, company_file, "US", 13, 0)
    percent = service.receive_response_xml(ticket, response_xml, "", "")
    summary = service.close_connection(ticket)        # "Synced 37, 2 errors"
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from qbsync import __version__
from qbsync.engine import exports
from qbsync.engine.model import (
    ExportChange,
    Failed,
    Mirror,
    MirrorRecord,
    Outcome,
    Refreshed,
    Requeued,
    Synced,
    Unknown,
    Waiting,
)
from qbsync.engine.session import (
    AUTH_BUSY,
    AUTH_INVALID_USER,
    AUTH_NO_WORK,
    CONNECTION_ERROR_DONE,
    DONE,
    EXPORT,
    INTERACTIVE_DONE,
    NOOP,
    SessionState,
    choose_version,
    may_revive,
    next_step,
)
from qbsync.errors import QbsyncError, StoreBusy
from qbsync.recording import HCP_FILE, Recorder, request_file, response_file
from qbsync.store import changes as store_changes
from qbsync.store import connections as store_connections
from qbsync.store import export_lookup
from qbsync.store import sessions as store_sessions
from qbsync.store.db import Store, open_store
from qbsync.sync import export_results
from qbsync.sync import session as sync_session
from qbsync.sync.passwords import verify_password

FATAL = -101  # receiveResponseXML: QBWC calls getLastError, shows its text, then closeConnection
UNKNOWN_TICKET = (
    "qbsync: this Web Connector session is unknown or has expired "
    "(nothing was sent); the next update starts a new one"
)
# verify_password() of an unknown user name still costs one scrypt, so timing does not tell
# which user names exist.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


def iso(dt: datetime) -> str:
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def _version_key(text: str) -> tuple[int, ...]:
    out = []
    for part in text.strip().split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits) if digits else 0)
    return tuple(out)


INTERNAL_ERROR = "qbsync: internal error (details in the server log); the next update tries again"


def _guarded(busy: Any, error: Any = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A callback never raises: a SOAP fault would end QBWC's session with a bare QBWC10xx code.
    A busy store is answered with `busy`, an unexpected error (logged with its traceback) with
    `error` (default: `busy`); every store write of the call was rolled back with its
    transaction. A callable default is called with the service for a fresh value."""
    error = busy if error is None else error

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def guarded(self: ConnectorService, *args: Any) -> Any:
            try:
                return method(self, *args)
            except StoreBusy:
                self.log.warning("%s: the store is busy", method.__name__)
                return busy(self) if callable(busy) else busy
            except Exception:  # noqa: BLE001 - see the docstring
                self.log.exception("%s failed", method.__name__)
                return error(self) if callable(error) else error

        return guarded

    return wrap


@dataclass
class _Ctx:
    store: Store
    row: dict[str, Any]
    state: SessionState
    connection: dict[str, Any]
    now: str
    changes: list[ExportChange] | None = None  # the queued exports, loaded once per plan

    @property
    def session_id(self) -> int:
        return int(self.row["id"])

    @property
    def connection_id(self) -> int:
        return int(self.row["connection_id"])


class ConnectorService:
    """The Web Connector callbacks for one store. Thread-safe: all state is in the store."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        batch_size: int = 50,
        session_timeout: float = 120,
        min_client_version: str | None = None,
        server_version_text: str | None = None,
        log: logging.Logger | None = None,
        log_qbxml: bool = False,
        record_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
        min_run_interval: int | None = None,
        busy_postpone: bool = True,
    ):
        """`min_run_interval`: seconds sent as authenticate()[3], a lower bound on the Web
        Connector's auto-run interval. `busy_postpone`: a `busy` answer tells an auto-run Web
        Connector (authenticate()[2]) to try again when the running session would expire."""
        if batch_size < 1:
            raise QbsyncError("batch size must be at least 1", 2)
        if min_run_interval is not None and int(min_run_interval) < 1:
            raise QbsyncError("the minimum run interval must be at least 1 second", 2)
        self.db_path = Path(db_path)
        self.batch_size = int(batch_size)
        self.session_timeout = float(session_timeout)
        self.min_client_version = min_client_version
        self.server_version_text = server_version_text or f"qbsync {__version__}"
        self.log = log or logging.getLogger("qbsync.connector")
        self.log_qbxml = log_qbxml
        self.record_dir = Path(record_dir) if record_dir else None
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.min_run_interval = None if min_run_interval is None else int(min_run_interval)
        self.busy_postpone = busy_postpone

    # ------------------------------------------------------------------------------------------
    # plumbing

    def _now(self) -> datetime:
        return _utc(self.clock())

    @contextmanager
    def _store(self) -> Iterator[Store]:
        store = open_store(self.db_path)
        try:
            yield store
        finally:
            store.close()

    def _cutoff(self, now: datetime) -> str:
        """Sessions whose last call is before this are expired: silent for the whole timeout.
        Call times are kept in whole seconds (truncated), hence the second added here:
        last < floor(now - timeout) + 1  <=>  last <= now - timeout."""
        return iso(now - timedelta(seconds=self.session_timeout) + timedelta(seconds=1))

    def _expires_in(self, row: dict[str, Any], now: datetime) -> int:
        """Whole seconds until the open session `row` expires (at least 1, at most the timeout)."""
        left = (_parse_iso(row["last_call_at"]) + timedelta(seconds=self.session_timeout) - now).total_seconds()
        return max(1, min(math.ceil(self.session_timeout), math.ceil(left)))

    @contextmanager
    def _session(self, ticket: str | None) -> Iterator[_Ctx | None]:
        """The live session of `ticket` inside one transaction (None when unknown, closed or
        expired); its state is saved when the block ends normally."""
        now = self._now()
        with self._store() as store, store.transaction():
            row = store_sessions.get_session(store, ticket_hash(ticket)) if ticket else None
            row = self._take_call(store, row, now) if row is not None else None
            if row is None:
                yield None
                return
            connection = self._connection(store, row["connection_id"])
            ctx = _Ctx(store, row, SessionState.from_dict(row["state"]), connection, iso(now))
            yield ctx
            self._save(ctx)

    def _take_call(self, store: Store, row: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """The session row if it can take a call now: alive, or past its timeout but revived
        (see `engine.session.may_revive`); None when it is closed or has just expired."""
        closed = row["closed_at"] is not None
        stale = not closed and row["last_call_at"] < self._cutoff(now)
        if not closed and not stale:
            return row
        state = SessionState.from_dict(row["state"])
        later = store_sessions.started_since(store, int(row["connection_id"]), int(row["id"]))
        if may_revive(state, closed=closed, later_session=later):
            return self._revive(store, row, state, now)
        if stale:
            self._expire(store, row, now)
        return None

    def _revive(self, store: Store, row: dict[str, Any], state: SessionState, now: datetime) -> dict[str, Any]:
        silent = int((now - _parse_iso(row["last_call_at"])).total_seconds())
        state.expired_at, state.expired_idle = None, False
        store_sessions.update_session(store, int(row["id"]), closed_at=None, summary=None, last_call_at=iso(now),
                                      state=state.to_dict())
        store_connections.record_contact(store, int(row["connection_id"]), "in progress", at=iso(now))
        self.log.info("session %d: carried on after %d s without a call (QuickBooks slow to start?); "
                      "nothing was waiting for an answer", row["id"], silent)
        self._record(state, None, expired_at=None, revived_at=iso(now))
        return store_sessions.get_session(store, row["ticket_hash"])  # type: ignore[return-value]

    @staticmethod
    def _connection(store: Store, connection_id: int) -> dict[str, Any]:
        for c in store_connections.list_connections(store):
            if c["id"] == connection_id:
                return c
        raise QbsyncError(f"connection {connection_id} no longer exists")

    def _save(self, ctx: _Ctx, **extra: Any) -> None:
        st = ctx.state
        store_sessions.update_session(
            ctx.store, ctx.session_id, last_call_at=ctx.now, state=st.to_dict(), percent=st.percent,
            counts=st.counts, last_error=st.last_error, **extra,
        )

    def _recorder(self, st: SessionState) -> Recorder | None:
        return Recorder(st.record_dir, self.log) if st.record_dir else None

    def _record(self, st: SessionState, entry: dict[str, Any] | None, files: dict[str, str] | None = None, **meta: Any) -> None:
        rec = self._recorder(st)
        if rec is not None:
            rec.call(entry, files, **meta)

    # ------------------------------------------------------------------------------------------
    # the callbacks

    def server_version(self) -> str:
        return self.server_version_text

    def client_version(self, str_version: str) -> str:
        """"" to go on; "W:…" (a warning the user may accept) below the configured minimum."""
        if self.min_client_version and str_version and _version_key(str_version) < _version_key(self.min_client_version):
            return (f"W:This qbsync server expects QuickBooks Web Connector {self.min_client_version} or later; "
                    f"this is {str_version}. Please update the Web Connector.")
        return ""

    @_guarded(busy=lambda self: self._auth_answer(secrets.token_urlsafe(24), AUTH_BUSY))
    def authenticate(self, username: str, password: str) -> list[str]:
        """[ticket, "" | company file | "none" | "nvu" | "busy"], then, when they apply, the
        seconds to postpone (index 2, "" for none) and the minimum run interval (index 3); QBWC
        reads both only for an app it runs automatically. `nvu` is always ["", "nvu"]."""
        username = username or ""
        with self._store() as store:
            found = store_connections.connection_by_username(store, username) if username else None
            ok = verify_password(password or "", found["password_hash"] if found else _DUMMY_HASH)
            if not found or not ok:
                self.log.info("authenticate: invalid user name or password for %r", username)
                return ["", AUTH_INVALID_USER]
            return self._authenticate(store, found)

    def _auth_answer(self, ticket: str, status: str, postpone: int | None = None) -> list[str]:
        """authenticate's array: two strings (as Intuit's sample) unless something optional applies."""
        answer = [ticket, status]
        if postpone is not None or self.min_run_interval is not None:
            answer.append("" if postpone is None else str(postpone))
        if self.min_run_interval is not None:
            answer.append(str(self.min_run_interval))
        return answer

    def _authenticate(self, store: Store, connection: dict[str, Any]) -> list[str]:
        now = self._now()
        cid = int(connection["id"])
        with store.transaction():
            for stale in store_sessions.stale_sessions(store, self._cutoff(now)):
                self._expire(store, stale, now)
            running = store_sessions.open_sessions(store, cid)
            if running:
                postpone = max(self._expires_in(r, now) for r in running) if self.busy_postpone else None
                self.log.info("connection %s: a session is still running; answering busy%s", connection["name"],
                              f" (try again in {postpone} s)" if postpone else "")
                return self._auth_answer(secrets.token_urlsafe(24), AUTH_BUSY, postpone)
            queued, top = export_lookup.count_queued(store, cid)
            if queued == 0 and not self.imports_due(store, connection, now):
                back = sync_session.end_session(store, cid, outcome="nothing to do")
                store_connections.record_contact(store, cid, "nothing to do", at=iso(now))
                self.log.info("connection %s: nothing to do (%d kept changes back in the wizard)",
                              connection["name"], len(back))
                return self._auth_answer(secrets.token_urlsafe(24), AUTH_NO_WORK)
            ticket = secrets.token_urlsafe(24)  # 192 random bits
            state = SessionState(total=queued, max_change_id=top)
            session_id = store_sessions.create_session(
                store, ticket_hash=ticket_hash(ticket), connection_id=cid, at=iso(now), state=state.to_dict()
            )
            store_connections.record_contact(store, cid, "in progress", at=iso(now))
        if self.record_dir is not None:
            self._start_recording(store, session_id, state, connection, queued, now)
        self.log.info("session %d started for connection %s: %d change(s) queued", session_id, connection["name"], queued)
        return self._auth_answer(ticket, connection.get("company_file") or "")

    def _start_recording(self, store: Store, session_id: int, state: SessionState, connection: dict[str, Any],
                         queued: int, now: datetime) -> None:
        # After the session's transaction: SQLite cannot back up a connection in mid-write.
        rec = Recorder.start(
            self.record_dir, stamp=now.strftime("%Y%m%dT%H%M%SZ"), connection=connection["name"],
            meta={"started_at": iso(now), "batch_size": self.batch_size, "session_timeout": self.session_timeout,
                  "qbxml_ceiling": connection.get("qbxml_version"), "queued": queued},
            copy_store=lambda dest: store_sessions.copy_without_secrets(store, dest), log=self.log,
        )
        if rec is None:
            return
        state.record_dir = str(rec.folder)
        rec.call({"call": "authenticate", "at": iso(now), "result": ["<ticket>", connection.get("company_file") or ""]})
        with store.transaction():
            store_sessions.update_session(store, session_id, state=state.to_dict())

    def imports_due(self, store: Store, connection: dict[str, Any], now: datetime) -> bool:
        """Whether an import type of the connection is due (the two-way sync fills this in)."""
        return False

    @_guarded(busy="")
    def send_request_xml(
        self, ticket: str, hcp_response: str, company_file_name: str, country: str, major: int | str,
        minor: int | str,
    ) -> str:
        """The next qbXML message, or "" (QBWC then calls getLastError, which pauses with NoOp
        when the store was busy)."""
        with self._session(ticket) as ctx:
            if ctx is None:
                return ""
            return self._send(ctx, hcp_response, company_file_name, country, major, minor)

    def _send(self, ctx: _Ctx, hcp: str, company_file: str, country: str, major: Any, minor: Any) -> str:
        st = ctx.state
        st.error_pending = False
        if st.sent is not None:  # the previous answer never came: QBWC lost it
            sent = exports.SentMessage.from_dict(st.sent)
            st.sent = None
            self._apply(ctx, exports.lost(sent, "the Web Connector asked for the next message before answering "
                                               f"message {sent.seq}; QuickBooks may have applied it"))
        if st.fatal or st.step == DONE:
            return self._nothing(ctx, st.last_error if st.fatal else None)
        if st.qbxml_version is None:
            from qbsync.qbxml import available_versions

            reported = f"{major}.{minor}" if str(major).strip() not in ("", "None") else None
            ceiling = ctx.connection.get("qbxml_version")
            version = choose_version(reported, ceiling, available_versions())
            if hcp:  # recorded once: QBWC sends it on the first call only
                rec = self._recorder(st)
                if rec is not None:
                    rec.call(None, {HCP_FILE: hcp}, hcp_file=HCP_FILE)
            if version is None:
                st.fatal = True
                return self._nothing(ctx, f"QuickBooks reports qbXML {reported}, older than any version qbsync "
                                          f"supports ({', '.join(available_versions())}); update QuickBooks")
            st.qbxml_version = version
            self.log.debug("session %d: qbXML %s (QuickBooks reports %s, connection ceiling %s), %s, %s",
                          ctx.session_id, version, reported, ceiling, country or "?", company_file or "open file")
        plan = self._next_plan(ctx)
        if plan is None:
            return self._nothing(ctx, None)
        seq = st.seq + 1
        message_set_id = f"qbsync-{ctx.session_id}-{seq}-{secrets.token_hex(4)}" if plan.kind == exports.WRITE else None
        try:
            xml = exports.build_message(plan, version=st.qbxml_version or "13.0", message_set_id=message_set_id)
        except Exception as exc:  # each request was valid alone; a message that is not is our bug
            self.log.error("session %d: could not build message %d: %s", ctx.session_id, seq, exc)
            self._apply(ctx, [Failed(cid, None, f"not sent: {exc}") for cid in plan.change_ids()])
            return self._nothing(ctx, f"qbsync could not build the next message: {exc}")
        types = {c.id: c.type for c in self._changes_by_id(ctx, plan.change_ids())}
        if plan.kind == exports.WRITE:
            export_results.mark_sending(ctx.store, plan.change_ids(), message_id=message_set_id, at=ctx.now)
        st.seq = seq
        sent = exports.SentMessage.from_plan(plan, seq, message_set_id, types)
        sent.step = st.step
        st.sent = sent.to_dict()
        for p in plan.requests:
            if p.note:
                self.log.info("session %d: change %d: %s", ctx.session_id, p.change_id, p.note)
        self.log.debug("session %d: sending message %d (%s)%s", ctx.session_id, seq, st.sent["label"],
                       f", {len(plan.deferred)} waiting for a later message" if plan.deferred else "")
        if self.log_qbxml:
            self.log.info("session %d: request %d:\n%s", ctx.session_id, seq, xml)
        self._record(st, {"call": "sendRequestXML", "at": ctx.now, "seq": seq, "request_file": request_file(seq),
                          "major": str(major), "minor": str(minor), "country": country,
                          "company_file": company_file, "kind": plan.kind},
                     {request_file(seq): xml}, qbxml_version=st.qbxml_version)
        return xml

    def _nothing(self, ctx: _Ctx, error: str | None) -> str:
        """Answer "" to sendRequestXML: QBWC asks getLastError, which shows `error` (or the
        session's summary when there was simply nothing left)."""
        st = ctx.state
        if error is None:
            st.step = DONE
            st.progress(False)
            error = f"Nothing more to send. {st.summary()}"
        st.last_error = error
        st.error_pending = True
        self._record(st, {"call": "sendRequestXML", "at": ctx.now, "result": "", "last_error": error})
        return ""

    @_guarded(busy=FATAL)
    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        """Percent complete (0–100, never decreasing, 100 when done); negative on a fatal error.
        When nothing could be saved (busy store) the message is still "out": the session's next
        call settles it as outcome unknown."""
        with self._session(ticket) as ctx:
            if ctx is None:
                return FATAL
            return self._receive(ctx, response, hresult, message)

    def _receive(self, ctx: _Ctx, response: str, hresult: str, message: str) -> int:
        st = ctx.state
        st.error_pending = False
        if st.sent is None:
            st.last_error = "qbsync received a response without having sent a request; run the update again"
            st.error_pending = True
            return FATAL
        sent = exports.SentMessage.from_dict(st.sent)
        st.sent = None
        if self.log_qbxml and response:
            self.log.info("session %d: response %d:\n%s", ctx.session_id, sent.seq, response)
        found = self._interpret(sent, response, hresult, message)
        self._apply(ctx, found.outcomes)
        self.log.info("session %d: %s", ctx.session_id, found.summary)
        files = {response_file(sent.seq): response} if response else {}
        if found.fatal:
            st.fatal = True
            st.last_error = found.fatal
            st.error_pending = True
            self._record(st, {"call": "receiveResponseXML", "at": ctx.now, "seq": sent.seq,
                              "response_file": response_file(sent.seq) if response else None,
                              "hresult": hresult or "", "message": message or "", "result": FATAL}, files)
            return FATAL
        percent = st.progress(self._next_plan(ctx) is not None)
        self._record(st, {"call": "receiveResponseXML", "at": ctx.now, "seq": sent.seq,
                          "response_file": response_file(sent.seq) if response else None,
                          "hresult": hresult or "", "message": message or "", "result": percent}, files)
        return percent

    @_guarded(busy=CONNECTION_ERROR_DONE)
    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        """QuickBooks or the company file could not be opened: the reason goes on the
        connection's status and the session ends ("done")."""
        with self._session(ticket) as ctx:
            if ctx is None:
                return CONNECTION_ERROR_DONE
            reason = f"QuickBooks could not be opened ({hresult or 'no HRESULT'}): {message or 'no message'}"
            ctx.state.last_error = reason
            ctx.state.error_pending = True
            self._record(ctx.state, {"call": "connectionError", "at": ctx.now, "hresult": hresult or "",
                                     "message": message or "", "result": CONNECTION_ERROR_DONE})
            self._finish(ctx, outcome=f"connection error: {reason}")
        return CONNECTION_ERROR_DONE

    @_guarded(busy=NOOP, error=INTERNAL_ERROR)  # busy: QBWC waits a few seconds and asks again
    def get_last_error(self, ticket: str) -> str:
        """What went wrong (shown by QBWC), or NoOp (pause, then sendRequestXML again) when the
        last call had nothing to report, e.g. because the store was busy."""
        with self._session(ticket) as ctx:
            if ctx is None:
                return UNKNOWN_TICKET
            text = ctx.state.last_error if ctx.state.error_pending and ctx.state.last_error else NOOP
            self._record(ctx.state, {"call": "getLastError", "at": ctx.now, "result": text})
            return text

    @_guarded(busy="qbsync: the store was busy; this run is closed when it expires", error=INTERNAL_ERROR)
    def close_connection(self, ticket: str) -> str:
        """The end of the run: a one-line summary such as "Synced 37, 2 errors"."""
        now = self._now()
        with self._store() as store, store.transaction():
            found = store_sessions.get_session(store, ticket_hash(ticket)) if ticket else None
            if found is None:
                return "OK"
            row = self._take_call(store, found, now)
            if row is None:  # closed before, or expired just now
                found = store_sessions.get_session(store, ticket_hash(ticket))
                return (found or {}).get("summary") or "OK"
            ctx = _Ctx(store, row, SessionState.from_dict(row["state"]), self._connection(store, row["connection_id"]),
                       iso(now))
            summary = self._finish(ctx)
            self._record(ctx.state, {"call": "closeConnection", "at": ctx.now, "result": summary})
            return summary

    def get_interactive_url(self, ticket: str, session_id: str) -> str:
        return ""  # qbsync has no interactive mode

    def interactive_done(self, ticket: str) -> str:
        return INTERACTIVE_DONE

    def interactive_rejected(self, ticket: str, reason: str) -> str:
        return "qbsync does not use interactive mode; nothing to do"

    # ------------------------------------------------------------------------------------------
    # the engine, fed from the store

    def _changes_by_id(self, ctx: _Ctx, ids: Iterable[int]) -> list[ExportChange]:
        wanted = set(ids)
        return [c for c in self._load_changes(ctx) if c.id in wanted]

    def _load_changes(self, ctx: _Ctx) -> list[ExportChange]:
        if ctx.changes is not None:
            return ctx.changes
        rows = export_lookup.queued_exports(ctx.store, ctx.connection_id, ctx.state.max_change_id)
        refs = export_lookup.refs_for_changes(ctx.store, [r["id"] for r in rows])
        changes = [ExportChange.from_row(r, refs.get(r["id"], ())) for r in rows]
        ctx.changes = changes
        return changes

    def _next_plan(self, ctx: _Ctx) -> exports.ExportPlan | None:
        """The session's next message: the current step's, or else the first later step's that
        has one (None: nothing more to send). What a step decides on the way (invalid changes,
        changes that wait) is recorded as it is decided."""
        st = ctx.state
        while st.step != DONE:
            plan = self._plan_step(ctx, st.step)
            self._apply(ctx, [*plan.invalid, *plan.waiting])
            if not plan.empty:
                return plan
            self._apply(ctx, plan.deferred)  # what still waits is not sent in this session
            st.step = next_step(st.step)
        return None

    def _plan_step(self, ctx: _Ctx, step: str) -> exports.ExportPlan:
        # One entry per step of engine.session.STEPS; the two-way sync adds its import steps.
        if step == EXPORT:
            return self._plan_exports(ctx)
        raise QbsyncError(f"unknown session step {step!r}")

    @staticmethod
    def _interpret(sent: exports.SentMessage, response: str, hresult: str, message: str) -> exports.Interpretation:
        if sent.step == EXPORT:
            return exports.interpret(sent, response, hresult, message)
        raise QbsyncError(f"unknown session step {sent.step!r}")

    def _plan_exports(self, ctx: _Ctx) -> exports.ExportPlan:
        ctx.changes = None  # the store moved on since the last plan
        changes = self._load_changes(ctx)
        local_ids = {c.local_id for c in changes} | {r.local_id for c in changes for r in c.refs}
        mirror = Mirror(MirrorRecord.from_row(r)
                        for r in export_lookup.records_for_local_ids(ctx.store, ctx.connection_id, local_ids))
        st = ctx.state
        return exports.plan_exports(
            changes, mirror, batch_size=self.batch_size, version=st.qbxml_version or "13.0",
            skip=set(st.skip) | set(st.settled), refreshed=st.refreshed_ids(),
        )

    def _apply(self, ctx: _Ctx, outcomes: list[Outcome]) -> None:
        """Record each outcome in the store and count it in the session."""
        if not outcomes:
            return
        store = ctx.store
        rows = {r["id"]: r for r in store_changes.get_changes(store, sorted({o.change_id for o in outcomes}))}
        for o in outcomes:
            change = rows[o.change_id]
            if isinstance(o, Synced):
                export_results.record_synced(store, change, qb_id=o.qb_id, edit_sequence=o.edit_sequence,
                                             snapshot=o.snapshot, status_code=o.status_code, warning=o.status_message)
            elif isinstance(o, Failed):
                if change["status"] == "sending":
                    sync_session.record_error(store, o.change_id, status_code=o.status_code, message=o.message,
                                              severity=o.severity)
                elif o.status_code is not None:  # the re-read before a Mod: QuickBooks' answer counts
                    export_results.record_failed_lookup(store, o.change_id, status_code=o.status_code,
                                                        message=o.message)
                else:  # refused by qbsync itself (the request breaks the schema): no status code
                    export_results.record_not_sent(store, o.change_id, message=o.message, at=ctx.now)
                self.log.debug("session %d: change %d (%s %s) failed: %s%s", ctx.session_id, o.change_id,
                              change["type"], change["name"] or change["local_id"],
                              f"{o.status_code} " if o.status_code is not None else "", o.message)
            elif isinstance(o, Unknown):
                if change["status"] == "sending":
                    sync_session.record_outcome_unknown(store, o.change_id, reason=o.reason)
                self.log.debug("session %d: change %d outcome unknown: %s", ctx.session_id, o.change_id, o.reason)
            elif isinstance(o, Requeued):
                export_results.requeue(store, change, reason=o.reason, status_code=o.status_code)
            elif isinstance(o, Waiting):
                export_results.note_waiting(store, o.change_id, o.reason)
                self.log.debug("session %d: change %d (%s %s) not sent: %s", ctx.session_id, o.change_id,
                              change["type"], change["name"] or change["local_id"], o.reason)
            elif isinstance(o, Refreshed):
                export_results.record_refreshed(store, change, edit_sequence=o.edit_sequence, snapshot=o.snapshot)
                self.log.info("session %d: change %d: re-read %s %s from QuickBooks (EditSequence %s); "
                              "the app's values win", ctx.session_id, o.change_id, change["type"],
                              change["name"] or change["local_id"], o.edit_sequence)
        ctx.state.take(outcomes)

    # ------------------------------------------------------------------------------------------
    # the end of a session

    def _finish(self, ctx: _Ctx, outcome: str | None = None) -> str:
        st = ctx.state
        if st.sent is not None:
            sent = exports.SentMessage.from_dict(st.sent)
            st.sent = None
            self._apply(ctx, exports.lost(sent, f"the session ended before QuickBooks answered message {sent.seq}"))
        summary = st.summary()
        back = sync_session.end_session(ctx.store, ctx.connection_id, outcome=outcome or summary)
        store_connections.record_contact(ctx.store, ctx.connection_id, outcome or summary, at=ctx.now)
        self._save(ctx, closed_at=ctx.now, summary=summary)
        self.log.info("session %d ended (connection %s, qbXML %s, %d message%s): %s%s", ctx.session_id,
                      ctx.connection["name"], st.qbxml_version or "-", st.seq, "" if st.seq == 1 else "s", summary,
                      f"; {len(back)} kept change(s) back in the wizard" if back else "")
        return summary

    def _expire(self, store: Store, row: dict[str, Any], now: datetime) -> str:
        """An abandoned session (no call within the timeout): what it had out is outcome unknown,
        held changes return to the wizard, and its ticket stops working (unless nothing was out
        and it is the connection's latest session: then a late call revives it, see `_take_call`)."""
        ctx = _Ctx(store, row, SessionState.from_dict(row["state"]), self._connection(store, row["connection_id"]), iso(now))
        ctx.state.expired_at, ctx.state.expired_idle = iso(now), ctx.state.sent is None
        if ctx.state.sent is not None:
            sent = exports.SentMessage.from_dict(ctx.state.sent)
            ctx.state.sent = None
            self._apply(ctx, exports.lost(sent, f"the Web Connector session timed out while message {sent.seq} "
                                                "was with QuickBooks; it may have been applied"))
        self._record(ctx.state, None, expired_at=ctx.now)
        ctx.now = row["last_call_at"]  # closed when it was last heard from
        return self._finish(ctx, outcome="expired: " + ctx.state.summary())
