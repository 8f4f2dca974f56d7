"""Recording a Web Connector session for `qbsync replay`.

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
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

FORMAT = 1
SESSION_FILE = "session.json"
STORE_COPY = "store-at-start.db"
HCP_FILE = "hcp-response.xml"


def folder_name(stamp: str, connection: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", connection).strip("_") or "connection"
    return f"{stamp}-{safe}"


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


def request_file(seq: int) -> str:
    return f"{seq:03d}-request.xml"


def response_file(seq: int) -> str:
    return f"{seq:03d}-response.xml"
