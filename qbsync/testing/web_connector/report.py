"""What one WebConnector run did and saw (:class:`RunReport`), and the outcomes a run can end
with."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Outcomes of a run (RunReport.outcome).
OUTCOME_COMPLETE = "complete"  # receiveResponseXML reached 100, closeConnection called
OUTCOME_LAST_ERROR = "last_error"  # the session ended on a getLastError text
OUTCOME_NO_WORK = "no_work"
OUTCOME_BUSY = "busy"
OUTCOME_INVALID_USER = "invalid_user"
OUTCOME_VERSION_REJECTED = "version_rejected"
OUTCOME_CONNECTION_ERROR = "connection_error"
OUTCOME_HCP_ERROR = "hcp_error"
OUTCOME_INTERACTIVE = "interactive_mode"
OUTCOME_SERVER_ERROR = "server_error"  # a reply QBWC cannot use (fault, HTTP error, bad XML, bad value)
OUTCOME_LIMIT = "limit_reached"
OUTCOME_RESPONSE_LOST = "response_lost"  # the company raised ConnectionLost / ConnectionError


@dataclass
class RunReport:
    """What one WebConnector run did and saw. JSON-ready through :meth:`as_dict`.

    - ``calls``: the SOAP operations called, in order.
    - ``requests`` / ``responses``: the qbXML request messages the service sent and the
      company's response texts (``""`` when the company answered with an HRESULT), in order.
    - ``round_trips``: completed sendRequestXML -> receiveResponseXML pairs.
    - ``status_codes``: every ``statusCode`` in the company's responses, in order (ints).
    - ``hresults``: HRESULTs the company returned instead of a response.
    - ``percent_trace``: each receiveResponseXML result.
    - ``auth``: the authenticate answer (result kind, company file, postpone and minimum
      interval seconds; the ticket is never recorded).
    - ``warnings``: things QBWC shows but lives with (a ``W:`` clientVersion reply...).
    - ``errors``: what ended the run badly, with QBWC's error code where QBWC has one.
    - ``violations``: replies that break the protocol (decreasing percent, ``<item>`` children...).
    - ``final_message``: the text QBWC would show at the end (closeConnection's reply, the
      getLastError text, or the authenticate/connection message).
    - ``outcome``: one of ``complete``, ``last_error``, ``no_work``, ``busy``, ``invalid_user``,
      ``version_rejected``, ``connection_error``, ``hcp_error``, ``interactive_mode``,
      ``server_error``, ``limit_reached``, ``response_lost``.
    - ``ok``: True when the run ended normally (complete, no work, or busy) with no error and
      no protocol violation.
    """

    calls: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    responses: list[str] = field(default_factory=list)
    round_trips: int = 0
    status_codes: list[int] = field(default_factory=list)
    hresults: list[str] = field(default_factory=list)
    percent_trace: list[int] = field(default_factory=list)
    auth: dict[str, Any] = field(default_factory=dict)
    server_version: str | None = None
    client_version_reply: str | None = None
    company_file: str | None = None
    connection_errors: list[dict[str, str]] = field(default_factory=list)
    noops: int = 0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    final_message: str | None = None
    outcome: str | None = None
    ok: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
