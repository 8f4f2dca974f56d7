"""`ConnectorService`: the Web Connector callbacks as a thin shell over the session engine.

Each callback opens the store, loads the session by the hash of its ticket and the work it
needs, feeds the event to the pure `qbsync.engine.session.Session`, records the outcomes it
returns and saves the state, all in ONE transaction, then answers. Every protocol decision is
the engine's; this shell does IO only: the store, the log, the optional session recording. No
state lives in this object between calls, so several server threads (or processes) can share one
store, and a restarted server carries on with the sessions it had.

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
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from qbsync import __version__
from qbsync.engine import imports as engine_imports
from qbsync.engine import session as engine
from qbsync.engine.model import (
    Applied,
    ExportChange,
    Failed,
    ImportChange,
    Mirror,
    MirrorRecord,
    Outcome,
    Refreshed,
    Synced,
    Undecided,
    Unknown,
    Waiting,
)
from qbsync.engine.session import Limits, ProtocolError, Reply, Session, SessionState, Work
from qbsync.errors import QbsyncError, StoreBusy
from qbsync.recording import HCP_FILE, Recorder, request_file, response_file
from qbsync.store import connections as store_connections
from qbsync.store import export_lookup
from qbsync.store import imports as store_imports
from qbsync.store import logins as store_logins
from qbsync.store import sessions as store_sessions
from qbsync.store.db import KeptStores, Store
from qbsync.sync import export_results, import_results
from qbsync.sync import catalogue, delivery
from qbsync.sync.passwords import verify_password
from qbsync.timeutil import iso_utc, parse_iso_utc, to_utc, utc_clock

FATAL = engine.FATAL
# Every type a change can have: the lookup of unsettled exports by local id (which carries no
# type) names them all, so SQLite seeks its (connection, direction, type, local id) index.
RECORD_TYPES = tuple(catalogue.type_names())
# Queued adds and mods a response is read with: enough to find the next change that can go
# (a window where none can is followed by a whole one, see receive_response_xml).
PROBE_WINDOW = 20
INTERNAL_ERROR = "qbsync: internal error (details in the server log); the next update tries again"
# verify_password() of an unknown user name still costs one scrypt, so timing does not tell
# which user names exist.
_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


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
            except QbsyncError as exc:  # a store that cannot be written (disk full, read-only): said plainly
                self.log.error("%s failed: %s", method.__name__, exc)
                self._remember_failure(method.__name__, args, str(exc))
                return error(self) if callable(error) else error
            except Exception:  # noqa: BLE001 - see the docstring
                self.log.exception("%s failed", method.__name__)
                self._remember_failure(method.__name__, args, None)
                return error(self) if callable(error) else error

        return guarded

    return wrap


@dataclass
class _Call:
    """One callback's view of its session: the store (inside the call's transaction), the row,
    the engine's session and the connection."""

    store: Store
    row: dict[str, Any]
    session: Session
    connection: dict[str, Any]
    now: str

    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def session_id(self) -> int:
        return int(self.row["id"])

    @property
    def connection_id(self) -> int:
        return int(self.row["connection_id"])


@dataclass
class _Gone:
    """A ticket whose session takes no more calls: `row` is the session as it is now (None when
    the ticket is unknown)."""

    row: dict[str, Any] | None


class ConnectorService:
    """The Web Connector callbacks for one store. Thread-safe: all state is in the store."""

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        *,
        batch_size: int = 50,
        session_timeout: float = 120,
        response_timeout: float = 1800,
        min_client_version: str | None = None,
        server_version_text: str | None = None,
        log: logging.Logger | None = None,
        log_qbxml: bool = False,
        record_dir: str | os.PathLike[str] | None = None,
        clock: Callable[[], datetime] | None = None,
        min_run_interval: int | None = None,
        busy_postpone: bool = True,
        lockout_failures: int = 10,
        lockout_minutes: float = 15,
        lockout_address_failures: int = 50,
    ):
        """`session_timeout`: seconds of silence after which a session with nothing out is
        abandoned; `response_timeout`: the same while a message is with QuickBooks (default 30
        minutes: QuickBooks can take minutes on a big message). `min_run_interval`: seconds sent
        as authenticate()[3], a lower bound on the Web Connector's auto-run interval.
        `busy_postpone`: a `busy` answer tells an auto-run Web Connector (authenticate()[2]) to
        try again when the running session would expire. `lockout_failures` failed logins of one
        user name within `lockout_minutes` lock it for `lockout_minutes` (`lockout_address_failures`
        from one client address lock the address); 0 turns either off."""
        if min_run_interval is not None and int(min_run_interval) < 1:
            raise QbsyncError("the minimum run interval must be at least 1 second", 2)
        try:
            self.limits = Limits(session_timeout=float(session_timeout), response_timeout=float(response_timeout),
                                 batch_size=int(batch_size))
        except ValueError as exc:
            raise QbsyncError(str(exc), 2) from None
        self.db_path = Path(db_path)
        self._stores = KeptStores(self.db_path)
        self.min_client_version = min_client_version
        self.server_version_text = server_version_text or f"qbsync {__version__}"
        self.log = log or logging.getLogger("qbsync.connector")
        self.log_qbxml = log_qbxml
        self.record_dir = Path(record_dir) if record_dir else None
        self.clock = clock or utc_clock
        self.min_run_interval = None if min_run_interval is None else int(min_run_interval)
        self.busy_postpone = busy_postpone
        self._failures: dict[str, str] = {}  # ticket hash -> what getLastError says (see _remember_failure)
        self._failures_lock = threading.Lock()
        if lockout_failures < 0 or lockout_address_failures < 0 or lockout_minutes <= 0:
            raise QbsyncError("lockout limits must be positive (0 failures: no lockout)", 2)
        self.lockout_failures = int(lockout_failures)
        self.lockout_address_failures = int(lockout_address_failures)
        self.lockout_window = timedelta(minutes=float(lockout_minutes))

    def _remember_failure(self, callback: str, args: tuple[Any, ...], reason: str | None) -> None:
        """A ticket's sendRequestXML / receiveResponseXML failed (not busy): its next getLastError
        says so, instead of NoOp (which would have the Web Connector pause and ask again for ever
        when the store cannot be written at all). Kept in memory: nothing else may be writable."""
        if callback in ("send_request_xml", "receive_response_xml") and args and isinstance(args[0], str):
            text = f"qbsync: {reason}" if reason else INTERNAL_ERROR
            with self._failures_lock:
                self._failures[ticket_hash(args[0])] = text
                while len(self._failures) > 1000:  # tickets of runs that never asked
                    self._failures.pop(next(iter(self._failures)))

    def _take_failure(self, ticket: str | None) -> str | None:
        if not ticket:
            return None
        with self._failures_lock:
            return self._failures.pop(ticket_hash(ticket), None)

    @property
    def batch_size(self) -> int:
        return self.limits.batch_size

    @property
    def session_timeout(self) -> float:
        return self.limits.session_timeout

    # ------------------------------------------------------------------------------------------
    # plumbing

    def _now(self) -> datetime:
        return to_utc(self.clock())

    @contextmanager
    def _store(self) -> Iterator[Store]:
        # A connection kept between callbacks (KeptStores: no open, no WAL checkpoint each time).
        # Kept connections once lost the CLI's commits: open_store read the file's header with
        # open(), whose close dropped the process's SQLite locks (see qbsync.store.db._not_sqlite).
        with self._stores.borrow() as store:
            yield store

    def close(self) -> None:
        """Close the kept store connections (the server's shutdown); a later callback opens and
        closes its own."""
        self._stores.close()

    def _engine(self, row: dict[str, Any], connection: dict[str, Any]) -> Session:
        from qbsync.qbxml import available_versions

        return Session(int(row["id"]), SessionState.from_dict(row["state"]), self.limits,
                       available_versions=available_versions(), qbxml_ceiling=connection.get("qbxml_version"))

    def _expired(self, row: dict[str, Any], now: datetime) -> bool:
        return engine.is_expired(SessionState.from_dict(row["state"]), parse_iso_utc(row["last_call_at"]), now,
                                 self.limits)

    @contextmanager
    def _session(self, ticket: str | None) -> Iterator[_Call | _Gone]:
        """The live session of `ticket` inside one transaction (`_Gone` when unknown, closed or
        expired); its state is saved when the block ends normally."""
        now = self._now()
        with self._store() as store, store.transaction():
            found = store_sessions.get_session(store, ticket_hash(ticket)) if ticket else None
            row = self._take_call(store, found, now) if found is not None else None
            if row is None:
                yield _Gone(store_sessions.get_session(store, ticket_hash(ticket)) if found is not None else None)
                return
            connection = self._connection(store, row["connection_id"])
            call = _Call(store, row, self._engine(row, connection), connection, iso_utc(now))
            yield call
            self._save(call)

    def _take_call(self, store: Store, row: dict[str, Any], now: datetime) -> dict[str, Any] | None:
        """The session row if it can take a call now: alive, or past its time but revived
        (see `engine.session.may_revive`); None when it is closed or has just expired."""
        state = SessionState.from_dict(row["state"])
        state.closed = row["closed_at"] is not None
        stale = not state.closed and engine.is_expired(state, parse_iso_utc(row["last_call_at"]), now, self.limits)
        if not state.closed and not stale:
            return row
        later = store_sessions.started_since(store, int(row["connection_id"]), int(row["id"]))
        if engine.may_revive(state, later_session=later):
            return self._revive(store, row, state, now)
        if stale:
            self._expire(store, row, now)
        return None

    def _revive(self, store: Store, row: dict[str, Any], state: SessionState, now: datetime) -> dict[str, Any]:
        silent = int((now - parse_iso_utc(row["last_call_at"])).total_seconds())
        engine.revive(state)
        store_sessions.update_session(store, int(row["id"]), closed_at=None, summary=None, last_call_at=iso_utc(now),
                                      state=state.to_dict())
        store_connections.record_contact(store, int(row["connection_id"]), "in progress", at=iso_utc(now))
        self.log.info("session %d: carried on after %d s without a call (QuickBooks slow to start?); "
                      "nothing was waiting for an answer", row["id"], silent)
        self._record(state, None, expired_at=None, revived_at=iso_utc(now))
        return store_sessions.get_session(store, row["ticket_hash"])  # type: ignore[return-value]

    @staticmethod
    def _connection(store: Store, connection_id: int) -> dict[str, Any]:
        found = store_connections.connection_by_id(store, connection_id)
        if found is not None:
            return found
        raise QbsyncError(f"connection {connection_id} no longer exists")

    def _save(self, call: _Call, **extra: Any) -> None:
        st = call.state
        store_sessions.update_session(
            call.store, call.session_id, last_call_at=call.now, state=st.to_dict(), percent=st.percent,
            counts=st.counts, last_error=st.last_error, **extra,
        )

    def _record(self, st: SessionState, entry: dict[str, Any] | None, files: dict[str, str] | None = None,
                **meta: Any) -> None:
        if st.record_dir:
            Recorder(st.record_dir, self.log).call(entry, files, **meta)

    def _work(self, call: _Call, *, with_sending: bool = False, window: int | None = None) -> Work:
        """The queued exports of the session (and, while a response is read, those of the message
        out) with what the engine needs to know about the records they touch."""
        return self._load_work(call.store, call.connection_id, call.state.max_change_id, with_sending=with_sending,
                               skip=call.state.skip, window=window)

    def _load_work(self, store: Store, connection_id: int, max_change_id: int, *, with_sending: bool = False,
                   skip: Sequence[int] = (), window: int | None = None) -> Work:
        """A window of the work, not all of it: the next exports in the order they are sent (and
        what they refer to), the next approved imports, so a callback's cost stays with the batch
        however long the queue (the engine asks for the next window when one yields nothing).
        `window`: how many queued adds and mods (default: four batches, at least 200)."""
        window = window or max(4 * self.limits.batch_size, 200)
        refs: dict[int, list[tuple[str, str, str | None]]] = {}  # the window's, read on its way
        rows, more = export_lookup.queued_window(store, connection_id, max_change_id, limit=window, skip=skip,
                                                 with_sending=with_sending, refs=refs)
        unknown_rows = export_lookup.outcome_unknown_exports(store, connection_id)  # for the settle step
        unread = [r["id"] for r in (*rows, *unknown_rows) if r["id"] not in refs]
        refs.update(export_lookup.refs_for_changes(store, unread))
        now = iso_utc(self._now())  # a change resting after a lock answer waits until its time (engine.locks)
        changes = [ExportChange.from_row(r, refs.get(r["id"], ()), now=now) for r in rows]
        unknown = [ExportChange.from_row(r, refs.get(r["id"], ()), now=now) for r in unknown_rows]
        every = [*changes, *unknown]
        local_ids = {c.local_id for c in every} | {r.local_id for c in every for r in c.refs}
        mirror = Mirror(MirrorRecord.from_row(r)
                        for r in export_lookup.records_for_local_ids(store, connection_id, local_ids))
        # What the engine may ask is on its way: a mod or delete of a record QuickBooks does not
        # know, or a reference to one that is not in this window (asking for every add of the
        # window would read the whole queue's index).
        in_window = {c.local_id for c in every}
        missing = ({c.local_id for c in every if c.action != "add" and not mirror.find(c.local_id)}
                   | {r.local_id for c in every for r in c.refs if r.local_id not in in_window and not mirror.find(r.local_id)})
        import_rows, imports_more = store_imports.queued_imports(store, connection_id, max_change_id, limit=window,
                                                                 skip=skip)
        approved_imports = [ImportChange.from_row(r) for r in import_rows]
        unapproved = export_lookup.unapproved_local_ids(store, connection_id, missing, RECORD_TYPES)
        return Work(changes, mirror, unapproved, approved_imports, unknown, more=more, imports_more=imports_more)

    def _apply(self, call: _Call, reply: Reply) -> None:
        """Record the reply's outcomes in the store and log what they say."""
        for note in reply.notes:
            self.log.info("session %d: %s", call.session_id, note)
        for detail in reply.details:
            self.log.debug("session %d: %s", call.session_id, detail)
        if reply.found:
            changed = import_results.record_found(call.store, call.connection_id, reply.found, at=call.now)
            if changed:
                call.state.count("detected", changed)
        if not reply.outcomes:
            return
        rows = export_results.record_outcomes(call.store, reply.outcomes, at=call.now)
        for o in reply.outcomes:
            self._log_outcome(call, rows[o.change_id], o)

    def _log_outcome(self, call: _Call, change: dict[str, Any], o: Outcome) -> None:
        level = logging.WARNING if isinstance(o, Undecided) else logging.INFO if isinstance(o, Refreshed) \
            else logging.DEBUG
        if isinstance(o, Synced) or not self.log.isEnabledFor(level):  # a synced change has no line of its own
            return
        what = f"change {o.change_id} ({change['type']} {change['name'] or change['local_id']})"
        if isinstance(o, Failed):
            code = f"{o.status_code} " if o.status_code is not None else ""
            self.log.debug("session %d: %s failed: %s%s", call.session_id, what, code, o.message)
        elif isinstance(o, Unknown):
            self.log.debug("session %d: %s outcome unknown: %s", call.session_id, what, o.reason)
        elif isinstance(o, Undecided):
            self.log.warning("session %d: %s outcome still unknown after checking QuickBooks: %s", call.session_id,
                             what, o.reason)
        elif isinstance(o, Waiting):
            self.log.debug("session %d: %s not sent: %s", call.session_id, what, o.reason)
        elif isinstance(o, Applied):
            self.log.debug("session %d: %s applied from QuickBooks%s", call.session_id, what,
                           " (deleted there)" if o.snapshot is None else "")
        elif isinstance(o, Refreshed):
            how = "the app's values win" if o.send is None else "merged with QuickBooks' changes"
            self.log.info("session %d: %s re-read from QuickBooks (EditSequence %s); %s",
                          call.session_id, what, o.edit_sequence, how)

    # ------------------------------------------------------------------------------------------
    # the callbacks

    def server_version(self) -> str:
        return self.server_version_text

    def client_version(self, str_version: str) -> str:
        return engine.client_version_answer(str_version, self.min_client_version)

    def _answer(self, status: str, ticket: str | None = None, postpone: int | None = None) -> list[str]:
        return engine.auth_answer(ticket or secrets.token_urlsafe(24), status, postpone=postpone,
                                  min_run_interval=self.min_run_interval)

    @_guarded(busy=lambda self: self._answer(engine.AUTH_BUSY))
    def authenticate(self, username: str, password: str, client_address: str | None = None) -> list[str]:
        """[ticket, "" | company file | "none" | "nvu" | "busy"], then, when they apply, the
        seconds to postpone (index 2, "" for none) and the minimum run interval (index 3).

        `client_address` (the SOAP layer passes it) counts failed logins per address as well as
        per user name. A locked user name or address is answered `nvu` exactly like a wrong
        password, whatever password came; it still costs one scrypt (against a dummy hash, so
        even the right password cannot be told apart), so the timing does not show the lock."""
        username = username or ""
        with self._store() as store:
            now = self._now()
            locked = self._lockout(store, username, client_address, now)
            found = store_connections.connection_by_username(store, username) if username else None
            usable = found is not None and locked is None
            ok = verify_password(password or "", found["password_hash"] if usable else _DUMMY_HASH)
            if locked is None and usable and ok:  # a concurrent failure may have locked it while the hash ran
                locked = self._lockout(store, username, client_address, self._now())
            if locked is not None:
                self.log.info("authenticate: %s is locked out until %s; answered as a bad login", *locked)
                return self._answer(engine.AUTH_INVALID_USER)
            if not usable or not ok:
                self.log.info("authenticate: invalid user name or password for %r%s", username[:100],
                              f" from {client_address}" if client_address else "")
                self._count_failure(store, username, client_address, now)
                return self._answer(engine.AUTH_INVALID_USER)
            if username:
                store_logins.clear_failures(store, store_logins.USERNAME, username)
            return self._authenticate(store, found)

    def _lockout(self, store: Store, username: str, address: str | None, now: datetime) -> tuple[str, str] | None:
        """(what is locked, until when) when the user name or the address is locked out now."""
        for scope, subject, what in self._login_subjects(username, address):
            row = store_logins.active_lock(store, scope, subject, iso_utc(now))
            if row is not None:
                return what, row["locked_until"]
        return None

    def _login_subjects(self, username: str, address: str | None) -> list[tuple[str, str, str]]:
        subjects = []
        if self.lockout_failures and username:
            subjects.append((store_logins.USERNAME, username, f"user {username[:100]!r}"))
        if self.lockout_address_failures and address:
            subjects.append((store_logins.ADDRESS, address, f"address {address}"))
        return subjects

    def _count_failure(self, store: Store, username: str, address: str | None, now: datetime) -> None:
        """Record a failed login; lock the user name (or address) that reached its limit."""
        subjects = self._login_subjects(username, address)
        if not subjects:
            return
        at, since = iso_utc(now), iso_utc(now - self.lockout_window)
        minutes = round(self.lockout_window.total_seconds() / 60)
        with store.transaction():
            store_logins.prune(store, failures_before=since, locks_ended_by=at)
            for scope, subject, what in subjects:
                store_logins.record_failure(store, scope, subject, at)
                count = store_logins.failures_since(store, scope, subject, since)
                limit = self.lockout_failures if scope == store_logins.USERNAME else self.lockout_address_failures
                if count >= limit:
                    until = iso_utc(now + self.lockout_window)
                    store_logins.lock(store, scope, subject, at=at, until=until, failures=count)
                    self.log.warning("authenticate: %s locked out after %d failed logins in %d minutes (until %s)",
                                     what, count, minutes, until)

    def _authenticate(self, store: Store, connection: dict[str, Any]) -> list[str]:
        now = self._now()
        cid = int(connection["id"])
        with store.transaction():
            self._expire_stale(store, now)
            running = [engine.seconds_left(SessionState.from_dict(r["state"]), parse_iso_utc(r["last_call_at"]), now,
                                           self.limits)
                       for r in store_sessions.open_sessions(store, cid)]
            queued, top = export_lookup.count_queued(store, cid)
            unknown = export_lookup.count_outcome_unknown(store, cid)  # settled first thing
            approved_imports = store_imports.count_queued_imports(store, cid)
            detection = self._detection(store, connection, now)
            work = self._load_work(store, cid, top) if queued and not running else None
            admission = engine.admit(queued=queued + approved_imports,
                                     imports_due=detection is not None or approved_imports > 0,
                                     running_seconds_left=running, busy_postpone=self.busy_postpone, work=work,
                                     unknown=unknown)
            if admission.outcomes:
                export_results.record_outcomes(store, admission.outcomes, at=iso_utc(now))
            if admission.status == engine.AUTH_BUSY:
                self.log.info("connection %s: a session is still running; answering busy%s", connection["name"],
                              f" (try again in {admission.postpone} s)" if admission.postpone else "")
                return self._answer(engine.AUTH_BUSY, postpone=admission.postpone)
            if admission.status == engine.AUTH_NO_WORK:
                back = delivery.end_session(store, cid, outcome="nothing to do")
                store_connections.record_contact(store, cid, "nothing to do", at=iso_utc(now))
                waiting = len(admission.outcomes)
                self.log.info("connection %s: nothing to do (%d kept changes back in the wizard%s)",
                              connection["name"], len(back),
                              f"; {waiting} queued change(s) cannot go: see `qbsync queue` and `qbsync errors`"
                              if waiting else "")
                return self._answer(engine.AUTH_NO_WORK)
            ticket = secrets.token_urlsafe(24)  # 192 random bits
            state = SessionState(total=queued + approved_imports + unknown, max_change_id=top,
                                 detect=detection.to_dict() if detection is not None else None)
            session_id = store_sessions.create_session(
                store, ticket_hash=ticket_hash(ticket), connection_id=cid, at=iso_utc(now), state=state.to_dict()
            )
            store_connections.record_contact(store, cid, "in progress", at=iso_utc(now))
        if self.record_dir is not None:
            self._start_recording(store, session_id, state, connection, queued, now)
        self.log.info("session %d started for connection %s: %d change(s) queued%s%s%s", session_id,
                      connection["name"], queued, f", {unknown} outcome(s) unknown to settle" if unknown else "",
                      f", {approved_imports} approved import(s)" if approved_imports else "",
                      f"; checking QuickBooks for changes: {', '.join(detection.tasks)}" if detection else "")
        return self._answer(connection.get("company_file") or engine.AUTH_GO, ticket=ticket)

    def _expire_stale(self, store: Store, now: datetime) -> None:
        shortest = min(self.limits.session_timeout, self.limits.response_timeout)
        for row in store_sessions.stale_sessions(store, iso_utc(now - timedelta(seconds=shortest - 1))):
            if self._expired(row, now):
                self._expire(store, row, now)

    def _start_recording(self, store: Store, session_id: int, state: SessionState, connection: dict[str, Any],
                         queued: int, now: datetime) -> None:
        # After the session's transaction: SQLite cannot back up a connection in mid-write.
        rec = Recorder.start(
            self.record_dir, stamp=now.strftime("%Y%m%dT%H%M%SZ"), connection=connection["name"],
            meta={"started_at": iso_utc(now), "batch_size": self.batch_size, "session_timeout": self.session_timeout,
                  "qbxml_ceiling": connection.get("qbxml_version"), "queued": queued},
            copy_store=lambda dest: store_sessions.copy_without_secrets(store, dest), log=self.log,
        )
        if rec is None:
            return
        state.record_dir = str(rec.folder)
        rec.call({"call": "authenticate", "at": iso_utc(now), "result": ["<ticket>", connection.get("company_file") or ""]})
        with store.transaction():
            store_sessions.update_session(store, session_id, state=state.to_dict())

    def _detection(self, store: Store, connection: dict[str, Any], now: datetime) -> engine_imports.Detection | None:
        """The detection a session of `connection` starting now runs: its import types from their
        watermarks, or None when it imports nothing or looked less than --min-run-interval ago."""
        types = connection.get("import_types") or []
        if not types:
            return None
        last = connection.get("last_detected_at")
        if self.min_run_interval and last and (now - parse_iso_utc(last)).total_seconds() < self.min_run_interval:
            return None
        return engine_imports.Detection.start(
            types, store_imports.watermarks(store, int(connection["id"])),
            first_since=engine_imports.qbxml_time(connection.get("import_since")),
            page_size=int(connection.get("import_page_size") or engine_imports.DEFAULT_PAGE_SIZE),
        )

    @_guarded(busy="")
    def send_request_xml(
        self, ticket: str, hcp_response: str, company_file_name: str, country: str, major: int | str,
        minor: int | str,
    ) -> str:
        """The next qbXML message, or "" (QBWC then calls getLastError, which pauses with NoOp
        when the store was busy)."""
        with self._session(ticket) as call:
            if isinstance(call, _Gone):
                return ""
            if hcp_response and call.state.qbxml_version is None:  # QBWC sends it on the first call only
                self._record(call.state, None, {HCP_FILE: hcp_response}, hcp_file=HCP_FILE)
            try:
                reply = call.session.send_request(self._work(call, with_sending=True), hcp=hcp_response,
                                                  company_file=company_file_name, country=country, major=major,
                                                  minor=minor)
                while reply.more:  # nothing loaded could go and more is queued: the next window
                    self._apply(call, reply)
                    reply = call.session.send_request(self._work(call, with_sending=True), major=major, minor=minor)
            except ProtocolError as refused:
                return self._refused(call, refused)
            self._apply(call, reply)
            out = reply.message
            if out is None:
                self._record(call.state, {"call": "sendRequestXML", "at": call.now, "result": "",
                                          "last_error": call.state.last_error})
                return ""
            if out.writes:  # written before the message leaves: a crash now leaves them "sent"
                export_results.mark_sending(call.store, out.writes, message_id=out.message_set_id, at=call.now)
            self.log.debug("session %d: sending message %d (%s)", call.session_id, out.seq, out.label)
            if self.log_qbxml:
                self.log.info("session %d: request %d:\n%s", call.session_id, out.seq, out.xml)
            self._record(call.state, {"call": "sendRequestXML", "at": call.now, "seq": out.seq,
                                      "request_file": request_file(out.seq), "major": str(major),
                                      "minor": str(minor), "country": country, "company_file": company_file_name,
                                      "kind": out.kind},
                         {request_file(out.seq): out.xml}, qbxml_version=call.state.qbxml_version)
            return out.xml

    @_guarded(busy=FATAL)
    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        """Percent complete (0–100, never decreasing, 100 when done); negative on a fatal error.
        When nothing could be saved (busy store) the message is still "out": the session's next
        call settles it as outcome unknown."""
        with self._session(ticket) as call:
            if isinstance(call, _Gone):
                return FATAL
            seq = (call.state.sent or {}).get("seq")
            if self.log_qbxml and response:
                self.log.info("session %d: response %s:\n%s", call.session_id, seq, response)
            try:
                # Read with a small window: whether another message follows needs the first
                # change that can go, and most often it is among the oldest.
                reply = call.session.receive_response(self._work(call, with_sending=True, window=PROBE_WINDOW),
                                                      response or "", hresult or "", message or "")
                if reply.more:  # none of them could go, more are queued: judged on a whole window
                    self._apply(call, reply)
                    reply = call.session.recheck(self._work(call))
            except ProtocolError as refused:
                return self._refused(call, refused)
            self._apply(call, reply)
            self._record(call.state, {"call": "receiveResponseXML", "at": call.now, "seq": seq,
                                      "response_file": response_file(seq) if response else None,
                                      "hresult": hresult or "", "message": message or "", "result": reply.answer},
                         {response_file(seq): response} if response else {})
            return int(reply.answer)

    def _refused(self, call: _Call, refused: ProtocolError) -> Any:
        self.log.warning("session %d: %s; answered %r", call.session_id, refused, refused.answer)
        return refused.answer

    @_guarded(busy=engine.CONNECTION_ERROR_DONE)
    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        """QuickBooks or the company file could not be opened: the reason goes on the
        connection's status and the session ends ("done")."""
        with self._session(ticket) as call:
            if isinstance(call, _Gone):
                return engine.CONNECTION_ERROR_DONE
            try:
                reply = call.session.connection_error(hresult or "", message or "")
            except ProtocolError as refused:
                return self._refused(call, refused)
            self._record(call.state, {"call": "connectionError", "at": call.now, "hresult": hresult or "",
                                      "message": message or "", "result": reply.answer})
            self._end(call, reply)
            return reply.answer

    @_guarded(busy=engine.NOOP, error=INTERNAL_ERROR)  # busy: QBWC waits a few seconds and asks again
    def get_last_error(self, ticket: str) -> str:
        """What went wrong (shown by QBWC), or NoOp (pause, then sendRequestXML again)."""
        failure = self._take_failure(ticket)
        if failure is not None:  # the last call failed here, not in QuickBooks: stop, say why
            return failure
        with self._session(ticket) as call:
            if isinstance(call, _Gone):
                if call.row is None:
                    return engine.unknown_ticket_text(None)
                return engine.unknown_ticket_text(SessionState.from_dict(call.row["state"]), call.row.get("summary"))
            reply = call.session.get_last_error()
            self._record(call.state, {"call": "getLastError", "at": call.now, "result": reply.answer})
            return reply.answer

    @_guarded(busy="qbsync: the store was busy; this run is closed when it expires", error=INTERNAL_ERROR)
    def close_connection(self, ticket: str) -> str:
        """The end of the run: a one-line summary such as "Synced 37, 2 errors", or what went wrong."""
        now = self._now()
        with self._store() as store, store.transaction():
            found = store_sessions.get_session(store, ticket_hash(ticket)) if ticket else None
            if found is None:
                return "OK"
            row = self._take_call(store, found, now)
            if row is None:  # closed before, or expired just now
                found = store_sessions.get_session(store, ticket_hash(ticket))
                return (found or {}).get("summary") or "OK"
            connection = self._connection(store, row["connection_id"])
            call = _Call(store, row, self._engine(row, connection), connection, iso_utc(now))
            reply = call.session.close()
            self._end(call, reply)
            self._record(call.state, {"call": "closeConnection", "at": call.now, "result": reply.answer})
            return reply.answer

    def get_interactive_url(self, ticket: str, session_id: str) -> str:
        return ""  # qbsync has no interactive mode

    def interactive_done(self, ticket: str) -> str:
        return engine.INTERACTIVE_DONE

    def interactive_rejected(self, ticket: str, reason: str) -> str:
        return "qbsync does not use interactive mode; nothing to do"

    # ------------------------------------------------------------------------------------------
    # the end of a session

    def _end(self, call: _Call, reply: Reply) -> None:
        """The engine closed the session: record its outcomes, bring held changes back, save."""
        self._apply(call, reply)
        st = call.state
        summary = st.closing_text()
        back = delivery.end_session(call.store, call.connection_id, outcome=reply.closing or summary)
        store_connections.record_contact(call.store, call.connection_id, reply.closing or summary, at=call.now)
        self._save(call, closed_at=call.now, summary=summary)
        self.log.info("session %d ended (connection %s, qbXML %s, %d message%s): %s%s", call.session_id,
                      call.connection["name"], st.qbxml_version or "-", st.seq, "" if st.seq == 1 else "s", summary,
                      f"; {len(back)} kept change(s) back in the wizard" if back else "")

    def _expire(self, store: Store, row: dict[str, Any], now: datetime) -> None:
        """An abandoned session (no call within the time allowed)."""
        connection = self._connection(store, row["connection_id"])
        call = _Call(store, row, self._engine(row, connection), connection, iso_utc(now))
        reply = call.session.expire(iso_utc(now))
        self._record(call.state, None, expired_at=call.now)
        call.now = row["last_call_at"]  # closed when it was last heard from
        self._end(call, reply)
