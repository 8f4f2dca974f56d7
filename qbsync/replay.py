"""Replaying a recorded Web Connector session against the current code (`qbsync replay`).

A recording (:mod:`qbsync.recording`) holds the store as it was when the session began, every
qbXML message qbsync sent with QuickBooks' answer (or HRESULT), and the callbacks' results.
Replay restores that store into a temporary file, serves it with the current
`ConnectorService` through the real SOAP app (waitress on 127.0.0.1, any free port), and drives
it with the shipped `WebConnector`; the QuickBooks side is a :class:`RecordedCompany` that
answers request n with the recorded answer n. Every difference in what qbsync sends is
reported: the qbXML requests, compared element by element, and the callback results
(authenticate's answer, percents, getLastError / connectionError / closeConnection texts).

What is compared, and what is normalised (see ``NORMALISED``):

- qbXML is parsed and compared as trees: the XML declaration, the encoding, whitespace between
  elements, attribute order, ``<a/>`` against ``<a></a>`` and character references carry no
  meaning for QuickBooks and are ignored. Everything else counts: element order (the schema
  fixes it), requestIDs (they match answers to changes), onError, the qbXML version, and every
  leaf value exactly, surrounding spaces included.
- ``newMessageSetID`` / ``oldMessageSetID`` are made per run (session id, sequence and random
  bits), so they are compared by role: the nth distinct id of the recording must stand where the
  nth distinct id of the replay stands (an ``oldMessageSetID`` must still name the same earlier
  message). The recorded answers get the replay's ids in their place before qbsync reads them.
- The service's clock is set, for each callback, to the time recorded for that callback, so
  what depends on time (expired sessions, import windows) is decided as it was.
- serverVersion / clientVersion come before authenticate names a connection, so they are not
  in a recording and not compared. Tickets and passwords are never recorded: the temporary
  store gets a random password for the replay, and authenticate is compared by its status.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from qbsync.errors import UsageError
from qbsync.recording import FORMAT, HCP_FILE, SESSION_FILE, STORE_COPY
from qbsync.timeutil import parse_iso_utc, utc_clock

NORMALISED = (
    "XML declaration, encoding, whitespace between elements, attribute order, empty-element form "
    "and character references (no meaning for QuickBooks)",
    "newMessageSetID / oldMessageSetID compared by role, not by value (generated per run)",
    "the service's clock follows the times recorded for each callback",
)
MESSAGE_SET_ATTRS = ("newMessageSetID", "oldMessageSetID")
_SKIPPED_CALLS = ("serverVersion", "clientVersion")  # before authenticate: never recorded
_NOT_RECORDED = object()
_MAX_VALUE = 200  # characters of an element shown when it is missing or added
# Used only when a recording has no HCP response (the service records the one QBWC sent).
_EMPTY_HCP = '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs /></QBXML>'


class BadRecording(UsageError):
    """The folder is not a usable recording (exit 2)."""


# -- the recording ----------------------------------------------------------------------------


@dataclass
class Exchange:
    """One message qbsync sent in the recorded session and what QuickBooks did with it."""

    seq: int
    request_file: str
    request: str
    answered: bool = False  # False: the session ended before an answer (lost response)
    response: str | None = None
    hresult: str = ""
    message: str = ""


@dataclass
class Callback:
    """One Web Connector callback and its result, as compared (never a ticket)."""

    call: str
    result: Any  # _NOT_RECORDED when the recording does not have it
    at: str | None = None

    def line(self) -> str:
        if self.result is _NOT_RECORDED:
            return f"{self.call}: (result not recorded)"
        value = self.result
        if self.call == "authenticate" and value not in ("none", "nvu", "busy"):
            value = f"session started, company file {json.dumps(value, ensure_ascii=False)}"
        elif self.call == "sendRequestXML" and isinstance(value, str) and value.startswith("request "):
            pass  # "request 2": the message itself is compared on its own
        elif isinstance(value, str):
            value = json.dumps(value, ensure_ascii=False)
        return f"{self.call}: {value}"

    def same(self, other: Callback) -> bool:
        if self.call != other.call:
            return False
        return self.result is _NOT_RECORDED or other.result is _NOT_RECORDED or self.result == other.result


@dataclass
class Recording:
    folder: Path
    meta: dict[str, Any]
    callbacks: list[Callback]
    exchanges: list[Exchange]
    connection_errors: list[tuple[str, str]]  # (hresult, message) QBWC reported, in order
    hcp: str | None
    qbxml_version: str  # what QBWC reported (qbXMLMajorVers.qbXMLMinorVers)
    country: str
    company_file: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def store_path(self) -> Path:
        return self.folder / str(self.meta.get("store") or STORE_COPY)

    @property
    def connection(self) -> str:
        return str(self.meta["connection"])


def _read_text(folder: Path, name: Any, what: str) -> str:
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise BadRecording(f"{folder}: {SESSION_FILE} names an invalid {what} file: {name!r}")
    path = folder / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadRecording(f"{folder}: the {what} file {name} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRecording(f"{folder}: cannot read {name}: {exc}") from None


def load_recording(folder: str | Path) -> Recording:
    """Read and check a recording folder; `BadRecording` (exit 2) says what is wrong with it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadRecording(f"{folder} is not a folder (give a session recording folder)")
    session_path = folder / SESSION_FILE
    if not session_path.is_file():
        inside = sorted(p.parent.name for p in folder.glob(f"*/{SESSION_FILE}"))
        hint = f" (it holds {len(inside)} recording(s): give one of them, e.g. {folder / inside[-1]})" if inside else ""
        raise BadRecording(f"{folder} is not a session recording: it has no {SESSION_FILE}{hint}")
    try:
        meta = json.loads(session_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadRecording(f"{session_path}: not readable JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("calls"), list):
        raise BadRecording(f"{session_path}: not a session recording (no list of calls)")
    if meta.get("format") != FORMAT:
        raise BadRecording(f"{session_path}: recording format {meta.get('format')!r} is not supported (expected {FORMAT})")
    if not isinstance(meta.get("connection"), str) or not meta["connection"]:
        raise BadRecording(f"{session_path}: the connection is not named")
    store_name = meta.get("store") or STORE_COPY
    if not isinstance(store_name, str) or Path(store_name).name != store_name or not (folder / store_name).is_file():
        raise BadRecording(f"{folder}: the store copy {store_name!r} is missing")

    callbacks: list[Callback] = []
    exchanges: dict[int, Exchange] = {}
    connection_errors: list[tuple[str, str]] = []
    hcp: str | None = None
    first_send: dict[str, Any] | None = None
    notes: list[str] = []
    for i, entry in enumerate(meta["calls"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("call"), str):
            raise BadRecording(f"{session_path}: call {i + 1} is not a recorded callback")
        call, at = entry["call"], entry.get("at")
        if entry.get("hcp_file"):
            hcp = _read_text(folder, entry["hcp_file"], "HCP response")
            if call == "sendRequestXML" and "seq" not in entry and "result" not in entry:
                continue  # written on its own just before the first sendRequestXML's entry
        if call.startswith("("):  # e.g. "(expired)": something the service did, not a callback
            notes.append(f"the recorded session ended with {call[1:-1]}")
            continue
        if call == "authenticate":
            result = entry.get("result")
            status = result[1] if isinstance(result, list) and len(result) > 1 else _NOT_RECORDED
            callbacks.append(Callback(call, status, at))
        elif call == "sendRequestXML":
            if "request_file" in entry:
                seq = _seq(entry, session_path, i)
                exchanges[seq] = Exchange(seq, entry["request_file"],
                                          _read_text(folder, entry["request_file"], "request"))
                first_send = first_send or entry
                callbacks.append(Callback(call, f"request {len(exchanges)}", at))
            else:
                callbacks.append(Callback(call, entry.get("result", _NOT_RECORDED), at))
        elif call == "receiveResponseXML":
            seq = _seq(entry, session_path, i)
            ex = exchanges.get(seq)
            if ex is None:
                raise BadRecording(f"{session_path}: call {i + 1} answers message {seq}, which was never sent")
            ex.answered = True
            ex.hresult = str(entry.get("hresult") or "")
            ex.message = str(entry.get("message") or "")
            if entry.get("response_file"):
                ex.response = _read_text(folder, entry["response_file"], "response")
            callbacks.append(Callback(call, entry.get("result", _NOT_RECORDED), at))
        elif call == "connectionError":
            connection_errors.append((str(entry.get("hresult") or ""), str(entry.get("message") or "")))
            callbacks.append(Callback(call, entry.get("result", _NOT_RECORDED), at))
        else:
            callbacks.append(Callback(call, entry.get("result", _NOT_RECORDED), at))
    if hcp is None and (folder / HCP_FILE).is_file():
        hcp = _read_text(folder, HCP_FILE, "HCP response")
    if not any(c.call == "authenticate" for c in callbacks):
        raise BadRecording(f"{session_path}: no authenticate call recorded")

    major = str((first_send or {}).get("major") or "").strip()
    minor = str((first_send or {}).get("minor") or "0").strip()
    version = f"{major}.{minor}" if major else str(meta.get("qbxml_version") or meta.get("qbxml_ceiling") or "13.0")
    if not re.fullmatch(r"\d+\.\d+", version):
        raise BadRecording(f"{session_path}: {version!r} is not a qbXML version")
    ordered = [exchanges[k] for k in sorted(exchanges)]
    return Recording(
        folder=folder, meta=meta, callbacks=callbacks, exchanges=ordered, connection_errors=connection_errors,
        hcp=hcp, qbxml_version=version, country=str((first_send or {}).get("country") or "US"),
        company_file=(first_send or {}).get("company_file") or None, notes=notes,
    )


def _seq(entry: dict[str, Any], session_path: Path, i: int) -> int:
    try:
        return int(entry["seq"])
    except (KeyError, TypeError, ValueError):
        raise BadRecording(f"{session_path}: call {i + 1} ({entry['call']}) has no message number") from None


# -- the QuickBooks side: answers from the recording ---------------------------------------------


@dataclass(frozen=True)
class RecordedReply:
    xml: str | None
    hresult: str = ""
    message: str = ""


class RecordedCompany:
    """A WebConnector company answering request n with the recorded answer n (response text or
    HRESULT). A request the recording has no answer for (more requests than recorded, or the
    recorded session lost that answer) ends the session as a lost response would."""

    def __init__(self, recording: Recording):
        self.recording = recording
        self.qbxml_version = recording.qbxml_version
        if recording.company_file:
            self.company_file = recording.company_file
        self.received: list[str] = []
        self._open_failures = list(recording.connection_errors)
        self._ids: dict[str, str] = {}  # recorded message-set id -> the replay's

    def hcp_response(self) -> str:
        return self.recording.hcp or _EMPTY_HCP

    def begin_session(self, company_file: str) -> RecordedReply | None:
        if self._open_failures:
            hresult, message = self._open_failures.pop(0)
            return RecordedReply(None, hresult, message)
        return None

    def process(self, request_xml: str) -> RecordedReply:
        n = len(self.received)
        self.received.append(request_xml)
        exchanges = self.recording.exchanges
        if n >= len(exchanges):
            raise ConnectionError(f"request {n + 1} is not in the recording ({len(exchanges)} recorded)")
        ex = exchanges[n]
        self._learn_ids(ex.request, request_xml)
        if not ex.answered:
            raise ConnectionError(f"the recorded session got no answer to request {n + 1}")
        if ex.hresult:
            return RecordedReply(None, ex.hresult, ex.message)
        return RecordedReply(self._with_replay_ids(ex.response) if ex.response is not None else None)

    def _learn_ids(self, recorded: str, now: str) -> None:
        old, new = _message_set_ids(recorded), _message_set_ids(now)
        for attr in MESSAGE_SET_ATTRS:
            if old.get(attr) and new.get(attr):
                self._ids.setdefault(old[attr], new[attr])

    def _with_replay_ids(self, text: str) -> str:
        for old, new in self._ids.items():
            if old != new:
                text = text.replace(f'"{old}"', f'"{new}"').replace(f">{old}<", f">{new}<")
        return text


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def _parse(text: str) -> etree._Element:
    return etree.fromstring(text.encode("utf-8"), _PARSER)


def _message_set_ids(text: str) -> dict[str, str]:
    try:
        root = _parse(text)
    except etree.XMLSyntaxError:
        return {}
    msgs = root.find("QBXMLMsgsRq")
    if msgs is None:
        return {}
    return {a: msgs.get(a) for a in MESSAGE_SET_ATTRS if msgs.get(a)}


# -- comparing two qbXML messages ---------------------------------------------------------------


@dataclass
class Difference:
    """One difference: in a request message (`message` is its number, `path` the element) or
    in the callbacks (`index` is the callback's position, from 1)."""

    where: str  # "request" or "callback"
    kind: str  # changed / missing (recorded only) / added (now only) / moved
    recorded: str | None
    now: str | None
    message: int | None = None
    path: str | None = None
    index: int | None = None
    call: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None or k in ("recorded", "now")}


class _Roles:
    """Message-set ids of one run, numbered by first appearance."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def token(self, value: str) -> str:
        return f"<message set #{self.numbers.setdefault(value, len(self.numbers) + 1)}>"


def _qbxml_version(root: etree._Element) -> str | None:
    node = root.getprevious()
    while node is not None:
        if isinstance(node, etree._ProcessingInstruction) and node.target == "qbxml":
            m = re.search(r"version\s*=\s*[\"']([^\"']*)[\"']", node.text or "")
            return m.group(1) if m else (node.text or "").strip()
        node = node.getprevious()
    return None


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _key(el: etree._Element) -> str:
    rid = el.get("requestID")
    return f'{el.tag}[requestID="{rid}"]' if rid is not None else el.tag


def _show(el: etree._Element) -> str:
    text = etree.tostring(el, encoding="unicode", with_tail=False)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _segments(siblings: list[etree._Element]) -> list[str]:
    """Path segments of `siblings`: the requestID for requests, a 1-based index for a tag that
    repeats (``InvoiceLineAdd[2]``), the bare tag otherwise."""
    counts: dict[str, int] = {}
    for el in siblings:
        counts[el.tag] = counts.get(el.tag, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for el in siblings:
        seen[el.tag] = seen.get(el.tag, 0) + 1
        if el.get("requestID") is not None:
            out.append(_key(el))
        else:
            out.append(f"{el.tag}[{seen[el.tag]}]" if counts[el.tag] > 1 else el.tag)
    return out


class _TreeDiff:
    def __init__(self, message: int, recorded_roles: _Roles, now_roles: _Roles):
        self.message = message
        self.roles = (recorded_roles, now_roles)
        self.found: list[Difference] = []

    def add(self, kind: str, path: str, recorded: str | None, now: str | None) -> None:
        self.found.append(Difference("request", kind, recorded, now, message=self.message, path=path))

    def attrs(self, a: etree._Element, b: etree._Element, path: str) -> None:
        for name in sorted(set(a.attrib) | set(b.attrib)):
            va, vb = a.get(name), b.get(name)
            if name in MESSAGE_SET_ATTRS:
                va = self.roles[0].token(va) if va is not None else None
                vb = self.roles[1].token(vb) if vb is not None else None
            if va != vb:
                self.add("changed" if va is not None and vb is not None else ("missing" if vb is None else "added"),
                         f"{path}/@{name}", va, vb)

    def element(self, a: etree._Element, b: etree._Element, path: str) -> None:
        self.attrs(a, b, path)
        ca, cb = _children(a), _children(b)
        if not ca and not cb:
            ta, tb = a.text or "", b.text or ""
            if ta != tb:
                self.add("changed", path, ta, tb)
            return
        if not ca or not cb:  # a value on one side, elements on the other
            self.add("changed", path, _show(a), _show(b))
            return
        self.children(ca, cb, path)

    def children(self, ca: list[etree._Element], cb: list[etree._Element], path: str) -> None:
        sa, sb = _segments(ca), _segments(cb)
        ka, kb = [_key(e) for e in ca], [_key(e) for e in cb]
        missing: list[int] = []
        added: list[int] = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
            if op == "equal":
                for i, j in zip(range(i1, i2), range(j1, j2)):
                    self.element(ca[i], cb[j], f"{path}/{sa[i]}")
                continue
            pairs = list(zip(range(i1, i2), range(j1, j2))) if op == "replace" else []
            for i, j in pairs:
                if ca[i].tag == cb[j].tag:  # same element in the same place (a requestID change shows as such)
                    self.element(ca[i], cb[j], f"{path}/{sa[i]}")
                else:
                    missing.append(i)
                    added.append(j)
            missing += list(range(i1 + len(pairs), i2))
            added += list(range(j1 + len(pairs), j2))
        # The same element (same tag, same requestID) found elsewhere moved: say so, then compare it.
        now_by_key: dict[str, list[int]] = {}
        for j in added:
            now_by_key.setdefault(kb[j], []).append(j)
        for i in missing:
            j = now_by_key[ka[i]].pop(0) if now_by_key.get(ka[i]) else None
            if j is not None:
                added.remove(j)
                self.add("moved", f"{path}/{sa[i]}", f"position {i + 1}", f"position {j + 1}")
                self.element(ca[i], cb[j], f"{path}/{sa[i]}")
            else:
                self.add("missing", f"{path}/{sa[i]}", _show(ca[i]), None)
        for j in sorted(added):
            self.add("added", f"{path}/{sb[j]}", None, _show(cb[j]))


def compare_messages(recorded: str, now: str, message: int = 1, roles: tuple[_Roles, _Roles] | None = None
                     ) -> list[Difference]:
    """Every difference between two qbXML request messages, by element path."""
    rec_roles, now_roles = roles or (_Roles(), _Roles())
    try:
        a, b = _parse(recorded), _parse(now)
    except etree.XMLSyntaxError:  # not XML on one side: compare the text
        if recorded == now:
            return []
        return [Difference("request", "changed", recorded, now, message=message, path="(not well-formed XML)")]
    diff = _TreeDiff(message, rec_roles, now_roles)
    va, vb = _qbxml_version(a), _qbxml_version(b)
    if va != vb:
        diff.add("changed", "<?qbxml version?>", va, vb)
    if a.tag != b.tag:
        diff.add("changed", "/", _show(a), _show(b))
    else:
        diff.element(a, b, a.tag)
    return diff.found


# -- the callbacks ------------------------------------------------------------------------------


def align_callbacks(recorded: list[Callback], now: list[Callback]) -> list[tuple[str, Callback | None, Callback | None]]:
    """The two callback sequences side by side, aligned like a diff of their call names:
    rows of (" " same | "~" changed | "-" recorded only | "+" now only, recorded, now)."""
    rows: list[tuple[str, Callback | None, Callback | None]] = []
    ka = [c.call for c in recorded]
    kb = [c.call for c in now]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        pairs = list(zip(range(i1, i2), range(j1, j2))) if op in ("equal", "replace") else []
        for i, j in pairs:
            a, b = recorded[i], now[j]
            rows.append((" " if a.same(b) else "~", a, b))
        rows += [("-", recorded[i], None) for i in range(i1 + len(pairs), i2)]
        rows += [("+", None, now[j]) for j in range(j1 + len(pairs), j2)]
    return rows


def compare_callbacks(recorded: list[Callback], now: list[Callback]) -> list[Difference]:
    """Differences between two callback sequences (`index`: the position in the run now, or in
    the recording for a callback not made now)."""
    found: list[Difference] = []
    i = j = 0
    for tag, a, b in align_callbacks(recorded, now):
        i += a is not None
        j += b is not None
        if tag == "~":
            found.append(Difference("callback", "changed", a.line(), b.line(), index=j, call=b.call))
        elif tag == "-":
            found.append(Difference("callback", "missing", a.line(), None, index=i, call=a.call))
        elif tag == "+":
            found.append(Difference("callback", "added", None, b.line(), index=j, call=b.call))
    return found


# -- running the current code -------------------------------------------------------------------


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

    def as_dict(self) -> dict[str, Any]:
        rec = self.recording
        return {
            "recording": str(rec.folder),
            "connection": rec.connection,
            "started_at": rec.meta.get("started_at"),
            "identical": self.identical,
            "requests": {"recorded": len(rec.exchanges), "now": len(self.requests_now)},
            "callbacks": {"recorded": [c.line() for c in rec.callbacks], "now": [c.line() for c in self.callbacks_now]},
            "differences": [d.as_dict() for d in self.differences],
            "run_outcome": self.outcome,
            "server_errors": self.server_errors,
            "normalised": list(NORMALISED),
            "notes": self.notes,
        }


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
    from qbsync.service import ConnectorService
    from qbsync.soap.app import make_wsgi_app, serve

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
    differences = list(_compare_requests(recording, requests_now))
    differences += compare_callbacks(recording.callbacks, wc.seen)
    notes = list(recording.notes)
    first = min((d.message for d in differences if d.where == "request" and d.message), default=None)
    if first is not None and first < len(recording.exchanges):
        notes.append(f"QuickBooks' answers come from the recording in order: after request {first} differs, "
                     "later answers may not fit what is sent now, so later differences can follow from it")
    if any(c.result is _NOT_RECORDED for c in recording.callbacks):
        notes.append("some results are not in the recording and were not compared")
    return ReplayResult(recording, requests_now, wc.seen, differences, report.outcome, server_errors, notes)


def _compare_requests(recording: Recording, now: list[str]) -> list[Difference]:
    roles = (_Roles(), _Roles())
    found: list[Difference] = []
    recorded = [ex.request for ex in recording.exchanges]
    for n in range(1, max(len(recorded), len(now)) + 1):
        if n > len(now):
            found += _whole_message(recorded[n - 1], n, "missing", f"{recording.exchanges[n - 1].request_file} (not sent now)")
        elif n > len(recorded):
            found += _whole_message(now[n - 1], n, "added", "a message the recording does not have")
        else:
            found += compare_messages(recorded[n - 1], now[n - 1], n, roles)
    return _moves_between_messages(found, recorded, now)


_REQUEST_PATH = re.compile(r"^QBXML/QBXMLMsgsRq/([^/]+\[requestID=\"[^\"]*\"\])$")


def _requests_of(text: str) -> dict[str, etree._Element]:
    try:
        msgs = _parse(text).find("QBXMLMsgsRq")
    except etree.XMLSyntaxError:
        return {}
    return {_key(el): el for el in _children(msgs)} if msgs is not None else {}


def _whole_message(text: str, n: int, kind: str, label: str) -> list[Difference]:
    """A message only one side has: one difference per request (so a request sent in another
    message can be recognised), or one for the message when it has none."""
    requests = _requests_of(text)
    if not requests:
        return [Difference("request", kind, label if kind == "missing" else None, label if kind == "added" else None,
                           message=n, path="/")]
    return [Difference("request", kind, _show(el) if kind == "missing" else None, _show(el) if kind == "added" else None,
                       message=n, path=f"QBXML/QBXMLMsgsRq/{key}") for key, el in requests.items()]


def _moves_between_messages(found: list[Difference], recorded: list[str], now: list[str]) -> list[Difference]:
    """A request missing from one message and added to another (same name and requestID) was
    sent in another message: one "moved" difference, then whatever differs inside it."""
    out: list[Difference] = []
    added = [d for d in found if d.kind == "added" and d.path and _REQUEST_PATH.match(d.path)]
    taken: set[int] = set()
    for d in found:
        if id(d) in taken:
            continue
        m = _REQUEST_PATH.match(d.path or "") if d.kind == "missing" else None
        partner = next((a for a in added if id(a) not in taken and a.message != d.message
                        and a.path == d.path), None) if m else None
        if partner is None:
            out.append(d)
            continue
        taken.add(id(partner))
        out.append(Difference("request", "moved", f"message {d.message}", f"message {partner.message}",
                              message=d.message, path=d.path))
        rec_el = _requests_of(recorded[d.message - 1])[m.group(1)]
        now_el = _requests_of(now[partner.message - 1])[m.group(1)]
        inner = _TreeDiff(d.message, _Roles(), _Roles())
        inner.element(rec_el, now_el, d.path)
        out += inner.found
    return [d for d in out if id(d) not in taken]


# -- the report ---------------------------------------------------------------------------------


def format_text(result: ReplayResult) -> str:
    """A unified-style report: for each request message, the element paths that differ with
    the recorded value (-) and the value now (+); then the callbacks that differ."""
    rec = result.recording
    out = [f"--- recorded: {rec.folder} (connection {rec.connection}, {rec.meta.get('started_at', '?')})",
           "+++ now: the current code"]
    by_message: dict[int, list[Difference]] = {}
    for d in result.differences:
        if d.where == "request":
            by_message.setdefault(d.message or 0, []).append(d)
    for n in sorted(by_message):
        name = rec.exchanges[n - 1].request_file if n <= len(rec.exchanges) else "not recorded"
        out.append(f"@@ request {n} ({name}) @@")
        for d in by_message[n]:
            out.append(f"  {d.path} ({d.kind})")
            if d.recorded is not None:
                out.append(f"-   {d.recorded}")
            if d.now is not None:
                out.append(f"+   {d.now}")
    calls = [d for d in result.differences if d.where == "callback"]
    if calls:
        out.append("@@ callbacks @@")
        for tag, a, b in align_callbacks(rec.callbacks, result.callbacks_now):
            if tag == " ":
                out.append(f"  {a.line()}")
            if tag in ("~", "-"):
                out.append(f"- {a.line()}")
            if tag in ("~", "+"):
                out.append(f"+ {b.line()}")
    for err in result.server_errors:
        out.append(f"server: {err}")
    for note in result.notes:
        out.append(f"note: {note}")
    n_req = len(by_message)
    if result.identical:
        out.append(f"identical: {len(rec.exchanges)} request message(s) and {len(rec.callbacks)} callback(s) "
                   "replayed against the current code")
    else:
        out.append(f"{len(result.differences)} difference(s): {n_req} request message(s), "
                   f"{len(calls)} callback(s) differ")
    return "\n".join(out) + "\n"
