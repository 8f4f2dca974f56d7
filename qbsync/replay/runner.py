"""Running a recording against the current code: `replay(folder)` (`qbsync replay`).

A recording (:mod:`qbsync.recording`) holds the store as it was when the session began, every
qbXML message qbsync sent with QuickBooks' answer (or HRESULT), and the callbacks' results.
Replay restores that store into a temporary file, serves it with the current
`ConnectorService` through the real SOAP app (waitress on 127.0.0.1, any free port), and drives
it with the shipped `WebConnector`; the QuickBooks side is a :class:`RecordedCompany` that
answers request n with the recorded answer n. Every difference in what qbsync sends is
reported (:mod:`qbsync.replay.diff`): the qbXML requests, compared element by element, and the
callback results (authenticate's answer, percents, getLastError / connectionError /
closeConnection texts).

Besides what the diff normalises (see ``NORMALISED``):

- The service's clock is set, for each callback, to the time recorded for that callback, so
  what depends on time (expired sessions, import windows) is decided as it was.
- serverVersion / clientVersion come before authenticate names a connection, so they are not
  in a recording and not compared. Tickets and passwords are never recorded: the temporary
  store gets a random password for the replay, and authenticate is compared by its status.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from qbsync.recording import NOT_RECORDED, BadRecording, Callback, Recording, load_recording
from qbsync.replay.company import RecordedCompany
from qbsync.replay.diff import NORMALISED as _DIFF_NORMALISED
from qbsync.replay.diff import Difference, compare_callbacks, compare_requests
from qbsync.timeutil import parse_iso_utc, utc_clock

NORMALISED = _DIFF_NORMALISED + ("the service's clock follows the times recorded for each callback",)
_SKIPPED_CALLS = ("serverVersion", "clientVersion")  # before authenticate: never recorded


class _Clock:
    """The service's clock during a replay: the recorded time of the callback being answered."""

    def __init__(self, start: datetime):
        self.now = start
        self.lock = threading.Lock()

    def __call__(self) -> datetime:
        with self.lock:
            return self.now

    def set(self, at: str | None) -> None:
        if at:
            with self.lock:
                self.now = _parse_time(at, self.now)


def _parse_time(text: str, default: datetime) -> datetime:
    try:
        return parse_iso_utc(text)
    except ValueError:
        return default


def _replaying_connector(recording: Recording, clock: _Clock) -> type:
    """A WebConnector that keeps each callback's result (never the ticket) and sets the
    service's clock to the recorded time of the callback it is about to make."""
    from qbsync.testing import WebConnector

    recorded = recording.callbacks

    class ReplayingWebConnector(WebConnector):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.seen: list[Callback] = []
            self.requests_sent = 0

        def _post(self, operation: str, values: dict[str, Any]) -> Any:
            if operation in _SKIPPED_CALLS:
                return super()._post(operation, values)
            index = len(self.seen)
            clock.set(recorded[min(index, len(recorded) - 1)].at if recorded else None)
            try:
                reply = super()._post(operation, values)
            except Exception as exc:  # a fault or an unusable reply: that is its result
                self.seen.append(Callback(operation, f"(no usable reply: {exc})"))
                raise
            self.seen.append(Callback(operation, self._result(operation, reply)))
            return reply

        def _result(self, operation: str, reply: Any) -> Any:
            if operation == "authenticate":
                strings = reply.strings or []
                return (strings[1] or "") if len(strings) > 1 else "(no status)"
            text = reply.text or ""
            if operation == "sendRequestXML" and text:
                self.requests_sent += 1
                return f"request {self.requests_sent}"
            if operation == "receiveResponseXML":
                try:
                    return int(text)
                except ValueError:
                    return text
            return text

    return ReplayingWebConnector


@dataclass
class ReplayResult:
    """What a replay found: what the current code sent and answered, and every difference."""

    recording: Recording
    requests_now: list[str]
    callbacks_now: list[Callback]
    differences: list[Difference]
    outcome: str | None
    server_errors: list[str]
    notes: list[str]

    @property
    def identical(self) -> bool:
        return not self.differences


@dataclass
class _Workspace:
    db_path: Path
    username: str
    password: str


def _prepare_store(recording: Recording, tmp: Path) -> _Workspace:
    """The recorded store in a temporary file, with a random password for the replay (the
    recording has none) and the recorded session itself closed (it was open when copied)."""
    from qbsync.errors import QbsyncError
    from qbsync.store import connections as store_connections
    from qbsync.store import sessions as store_sessions
    from qbsync.store.db import open_store
    from qbsync.sync.passwords import hash_password

    db_path = tmp / "store.db"
    shutil.copyfile(recording.store_path, db_path)
    password = secrets.token_urlsafe(24)
    try:
        store = open_store(db_path)
    except QbsyncError as exc:
        raise BadRecording(f"{recording.store_path}: {exc}") from None
    with store:
        try:
            connection = store_connections.get_connection(store, recording.connection)
        except QbsyncError:
            raise BadRecording(f"{recording.store_path}: the store has no connection named {recording.connection!r}") from None
        store_connections.update_connection(store, recording.connection, password_hash=hash_password(password))
        started = recording.meta.get("started_at")
        with store.transaction():
            for row in store_sessions.open_sessions(store, int(connection["id"])):
                if started and row["created_at"] >= started:
                    store_sessions.update_session(store, int(row["id"]), closed_at=started,
                                                  summary="(the recorded session; closed for the replay)")
    return _Workspace(db_path, connection["username"], password)


def _quiet_logger() -> logging.Logger:
    log = logging.getLogger("qbsync.replay.service")
    if not log.handlers:
        log.addHandler(logging.NullHandler())
    log.propagate = False
    return log


def replay(folder: str | Path, *, timeout: float = 60.0) -> ReplayResult:
    """Play the recording in `folder` against the current code and compare."""
    recording = load_recording(folder)
    from qbsync.connector.service import ConnectorService
    from qbsync.connector.app import make_wsgi_app, serve

    start = _parse_time(str(recording.meta.get("started_at") or ""), utc_clock())
    clock = _Clock(start)
    server_errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="qbsync-replay-") as tmp:
        ws = _prepare_store(recording, Path(tmp))
        service = ConnectorService(
            ws.db_path, batch_size=int(recording.meta.get("batch_size") or 50),
            session_timeout=float(recording.meta.get("session_timeout") or 120),
            log=_quiet_logger(), clock=clock,
        )
        company = RecordedCompany(recording)
        connector_cls = _replaying_connector(recording, clock)
        with serve(make_wsgi_app(service, "/qbwc", log=server_errors.append), "127.0.0.1", 0) as server:
            wc = connector_cls(server.url("/qbwc"), ws.username, ws.password, company=company,
                               country=recording.country, noop_delay=0, max_noops=20, timeout=timeout)
            report = wc.run()
    requests_now = list(report.requests)
    differences = compare_requests(recording.exchanges, requests_now)
    differences += compare_callbacks(recording.callbacks, wc.seen)
    notes = list(recording.notes)
    first = min((d.message for d in differences if d.where == "request" and d.message), default=None)
    if first is not None and first < len(recording.exchanges):
        notes.append(f"QuickBooks' answers come from the recording in order: after request {first} differs, "
                     "later answers may not fit what is sent now, so later differences can follow from it")
    if any(c.result is NOT_RECORDED for c in recording.callbacks):
        notes.append("some results are not in the recording and were not compared")
    return ReplayResult(recording, requests_now, wc.seen, differences, report.outcome, server_errors, notes)
