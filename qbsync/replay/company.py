"""The QuickBooks side of a replay: a company for the shipped `WebConnector` that answers
request n with the recorded answer n (response text or HRESULT) and fails to open the company
file when the recorded session did.

Message-set ids are made per run, so the recorded answers get the replay's ids in their place
before qbsync reads them (the diff compares the requests' ids by role, see
:mod:`qbsync.replay.diff`).
"""

from __future__ import annotations

from dataclasses import dataclass

from qbsync.recording import Recording
from qbsync.replay.diff import MESSAGE_SET_ATTRS, message_set_ids

# Used only when a recording has no HCP response (the service records the one QBWC sent).
_EMPTY_HCP = '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs /></QBXML>'


@dataclass(frozen=True)
class RecordedReply:
    """A recorded answer: the response text, or (xml None) the HRESULT QuickBooks gave instead."""

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
        old, new = message_set_ids(recorded), message_set_ids(now)
        for attr in MESSAGE_SET_ATTRS:
            if old.get(attr) and new.get(attr):
                self._ids.setdefault(old[attr], new[attr])

    def _with_replay_ids(self, text: str) -> str:
        for old, new in self._ids.items():
            if old != new:
                text = text.replace(f'"{old}"', f'"{new}"').replace(f">{old}<", f">{new}<")
        return text
