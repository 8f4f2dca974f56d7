"""The recording of a Web Connector session: written by the connector server, read by
`qbsync replay` (:mod:`qbsync.replay`). Both halves of the format live here.

One folder per session, ``<record_dir>/<UTC timestamp>-<connection>/``:

- ``store-at-start.db``: the store as it was when the session began (SQLite backup API),
  password hashes blanked and ticket hashes replaced: secrets are never recorded;
- ``hcp-response.xml``: the Host/Company/Preferences response QBWC sent on the first call;
- ``NNN-request.xml`` / ``NNN-response.xml``: each qbXML message qbsync sent and QuickBooks'
  answer (no response file when QuickBooks answered with an HRESULT instead);
- ``session.json``: format, connection, started_at, qbxml_version, qbxml_ceiling, batch_size,
  hcp_file, and the call sequence:
  ``{"call": "sendRequestXML", "at": …, "request_file": "001-request.xml", …}``,
  ``{"call": "receiveResponseXML", "response_file": …, "hresult": …, "message": …, "result": 50}``.
  Tickets and passwords never appear (authenticate is recorded with its status only).

Recording never breaks a session: a failure to write is logged and the session goes on.
Reading is strict: :func:`load_recording` refuses a folder it cannot replay with a
:class:`BadRecording` (exit 2) that says what is wrong, and only reads the files
``session.json`` names inside the folder itself.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qbsync.errors import UsageError

FORMAT = 1
SESSION_FILE = "session.json"
STORE_COPY = "store-at-start.db"
HCP_FILE = "hcp-response.xml"
NOT_RECORDED = object()  # a callback result the recording does not have


# -- names -------------------------------------------------------------------------------------


def folder_name(stamp: str, connection: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", connection).strip("_") or "connection"
    return f"{stamp}-{safe}"


def request_file(seq: int) -> str:
    return f"{seq:03d}-request.xml"


def response_file(seq: int) -> str:
    return f"{seq:03d}-response.xml"


# -- writing -----------------------------------------------------------------------------------


class Recorder:
    """Writes one session's recording; every method swallows (and logs) IO errors."""

    def __init__(self, folder: str | Path, log: logging.Logger | None = None):
        self.folder = Path(folder)
        self.log = log or logging.getLogger("qbsync.connector")

    @classmethod
    def start(
        cls, record_dir: str | Path, *, stamp: str, connection: str, meta: Mapping[str, Any],
        copy_store: Callable[[Path], Any], log: logging.Logger | None = None,
    ) -> Recorder | None:
        base = Path(record_dir)
        folder = base / folder_name(stamp, connection)
        n = 1
        while folder.exists():  # two sessions in the same second
            n += 1
            folder = base / folder_name(f"{stamp}.{n}", connection)
        rec = cls(folder, log)
        try:
            folder.mkdir(parents=True)
            copy_store(folder / STORE_COPY)
            rec._write_json({"format": FORMAT, "connection": connection, **meta, "store": STORE_COPY, "calls": []})
        except Exception as exc:  # noqa: BLE001 - recording must never stop a sync
            rec.log.warning("recording disabled for this session: %s", exc)
            return None
        return rec

    def _write_json(self, data: Mapping[str, Any]) -> None:
        tmp = self.folder / (SESSION_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.folder / SESSION_FILE)

    def call(self, entry: Mapping[str, Any] | None, files: Mapping[str, str] | None = None, **meta: Any) -> None:
        """Append one callback to the call sequence (None: only files and session facts),
        writing its qbXML files first."""
        try:
            for name, text in (files or {}).items():
                (self.folder / name).write_text(text, encoding="utf-8")
            path = self.folder / SESSION_FILE
            data = json.loads(path.read_text(encoding="utf-8"))
            data.update(meta)
            if entry is not None:
                data["calls"].append(dict(entry))
            self._write_json(data)
        except Exception as exc:  # noqa: BLE001
            self.log.warning("could not record %s in %s: %s", (entry or {}).get("call", "files"), self.folder, exc)


# -- reading -----------------------------------------------------------------------------------


class BadRecording(UsageError):
    """The folder is not a usable recording (exit 2)."""


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
    result: Any  # NOT_RECORDED when the recording does not have it
    at: str | None = None


@dataclass
class Recording:
    """A recorded session as read back: what the session began with, sent and was answered."""

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
            status = result[1] if isinstance(result, list) and len(result) > 1 else NOT_RECORDED
            callbacks.append(Callback(call, status, at))
        elif call == "sendRequestXML":
            if "request_file" in entry:
                seq = _seq(entry, session_path, i)
                exchanges[seq] = Exchange(seq, entry["request_file"],
                                          _read_text(folder, entry["request_file"], "request"))
                first_send = first_send or entry
                callbacks.append(Callback(call, f"request {len(exchanges)}", at))
            else:
                callbacks.append(Callback(call, entry.get("result", NOT_RECORDED), at))
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
            callbacks.append(Callback(call, entry.get("result", NOT_RECORDED), at))
        elif call == "connectionError":
            connection_errors.append((str(entry.get("hresult") or ""), str(entry.get("message") or "")))
            callbacks.append(Callback(call, entry.get("result", NOT_RECORDED), at))
        else:
            callbacks.append(Callback(call, entry.get("result", NOT_RECORDED), at))
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
