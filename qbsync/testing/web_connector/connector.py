"""The :class:`WebConnector` class: QuickBooks Web Connector 2.3's client side, call by call.
The package documentation shows how to use it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lxml import etree

from qbsync.qbxml import safexml
from qbsync.qbxml.versions import version_key
from qbsync.testing.web_connector.company import CompanyAdapter, CompanyReply
from qbsync.testing.web_connector.report import (
    OUTCOME_BUSY,
    OUTCOME_COMPLETE,
    OUTCOME_CONNECTION_ERROR,
    OUTCOME_HCP_ERROR,
    OUTCOME_INTERACTIVE,
    OUTCOME_INVALID_USER,
    OUTCOME_LAST_ERROR,
    OUTCOME_LIMIT,
    OUTCOME_NO_WORK,
    OUTCOME_RESPONSE_LOST,
    OUTCOME_SERVER_ERROR,
    OUTCOME_VERSION_REJECTED,
    RunReport,
)
from qbsync.testing.web_connector.soap import SoapProblem, build_envelope, parse_reply
from qbsync.testing.web_connector.transport import DEFAULT_USER_AGENT, SoapTransport, TransportError

# authenticate()[1] values with a meaning of their own, and what QBWC shows for them.
AUTH_INVALID_USER = "nvu"
AUTH_NO_WORK = "none"
AUTH_BUSY = "busy"
AUTH_MESSAGES = {
    AUTH_INVALID_USER: "Invalid password for username",
    AUTH_NO_WORK: "No Data Exchange",
    AUTH_BUSY: "Application Busy",
}
NOOP = "NoOp"
INTERACTIVE_MODE = "Interactive mode"
DONE = "done"

DEFAULT_CLIENT_VERSION = "2.3.0.215"
DEFAULT_COMPANY_FILE = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\qbsync-test.QBW"


class _Stop(Exception):
    """Ends the run; the report already says why."""


class WebConnector:
    """Drives a QBWC web service at `url` the way QuickBooks Web Connector 2.3 does.

    Parameters:

    - ``url``: the AppURL (http or https).
    - ``username`` / ``password``: sent to authenticate (the password is never recorded).
    - ``company``: a FakeQuickBooks (``.process(xml)``) or a callable ``f(xml) -> str``; see
      :mod:`qbsync.testing.web_connector.company` for the optional hooks (``begin_session`` for the
      connectionError path, ``hcp_response``, ``qbxml_version``, ``company_file``).
    - ``client_version``: the strVersion sent to clientVersion (``"2.3.0.215"``).
    - ``qbxml_version``: overrides the company's qbXML version (qbXMLMajorVers/MinorVers).
    - ``company_file``: strCompanyFileName when the company has none and authenticate returned "".
    - ``country``: qbXMLCountry (``"US"``).
    - ``noop_delay``: seconds to wait after a ``NoOp`` from getLastError (QBWC: about 5; use 0
      in tests). ``max_noops`` bounds how many are honoured.
    - ``max_round_trips``: stop (and report a failure) after this many request/response pairs.
    - ``max_connection_retries``: company paths from connectionError that are tried (QBWC: 2).
    - ``close_after_auth_failure``: call closeConnection after nvu/none/busy, as the
      Programmer's Guide (chapter 2) describes (default True).
    - ``timeout``: HTTP timeout in seconds. ``user_agent``: the User-Agent header.
    - ``on_call``: called after each SOAP call that got an HTTP answer with the operation's name
      and its round trip in seconds as the client saw it (request sent to reply read), e.g.
      to measure a server's latency under load.
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        company: Any = None,
        *,
        client_version: str = DEFAULT_CLIENT_VERSION,
        qbxml_version: str | None = None,
        company_file: str = DEFAULT_COMPANY_FILE,
        country: str = "US",
        noop_delay: float = 5.0,
        max_noops: int = 100,
        max_round_trips: int = 10_000,
        max_connection_retries: int = 2,
        close_after_auth_failure: bool = True,
        timeout: float = 60.0,
        user_agent: str = DEFAULT_USER_AGENT,
        on_call: Callable[[str, float], None] | None = None,
    ):
        self.url = url
        self.username = username
        self._password = password
        self.company = CompanyAdapter(company)
        self.client_version = client_version
        self.qbxml_version = qbxml_version
        self.company_file = company_file
        self.country = country
        self.noop_delay = noop_delay
        self.max_noops = max_noops
        self.max_round_trips = max_round_trips
        self.max_connection_retries = max_connection_retries
        self.close_after_auth_failure = close_after_auth_failure
        self.timeout = timeout
        self.user_agent = user_agent
        self.on_call = on_call
        self.report = RunReport()
        # Fail fast on a bad URL or qbXML version rather than in the middle of a session.
        self._transport = SoapTransport(url, timeout=timeout, user_agent=user_agent)
        version_key(self.company.qbxml_version(qbxml_version))
        self._ticket = ""
        self._company_open = False

    def __repr__(self) -> str:  # never show the password
        return f"WebConnector(url={self.url!r}, username={self.username!r})"

    # -- one run ---------------------------------------------------------------------------

    def run(self) -> RunReport:
        """Run one update session against the service; returns its :class:`RunReport`."""
        self.report = RunReport()
        self._ticket = ""
        self._company_open = False
        try:
            self._session()
        except _Stop:
            pass
        finally:
            self._transport.close()
        r = self.report
        r.ok = (
            r.outcome in (OUTCOME_COMPLETE, OUTCOME_NO_WORK, OUTCOME_BUSY) and not r.errors and not r.violations
        )
        return r

    def _session(self) -> None:
        self._version_check()
        company_path = self._authenticate()
        if not self._open_company(company_path):
            return
        version = self.company.qbxml_version(self.qbxml_version)
        major, minor = version_key(version)[:2]
        hcp = self.company.hcp_response(version)
        if hcp.hresult or not hcp.xml:
            self._error(
                "QBWC1014: could not obtain the Host, Company and Preferences query response "
                f"({hcp.hresult or 'empty response'} {hcp.message})".rstrip(),
                OUTCOME_HCP_ERROR,
            )
            self._close_connection()
            return
        self._exchange_loop(hcp.xml, major, minor)

    # -- before the work ------------------------------------------------------------------

    def _version_check(self) -> None:
        self.report.server_version = self._call_optional("serverVersion", {})
        reply = self._call_optional("clientVersion", {"strVersion": self.client_version})
        if reply is None:
            return
        self.report.client_version_reply = reply
        if not reply:
            return
        kind, text = reply[:2], reply[2:]
        if kind == "W:":
            self.report.warnings.append(f"clientVersion warning: {text}")
        elif kind == "E:":
            self.report.final_message = text
            self._error(f"clientVersion error: {text}", OUTCOME_VERSION_REJECTED)
            raise _Stop
        elif kind == "O:":
            self.report.final_message = f"This application requires Web Connector version {text} or later"
            self._error(
                f"clientVersion: the service requires Web Connector {text} or later "
                f"(this is {self.client_version})",
                OUTCOME_VERSION_REJECTED,
            )
            raise _Stop
        else:
            self.report.violations.append(
                f"clientVersion returned {reply!r}; expected '', 'W:<text>', 'E:<text>' or 'O:<version>' (QBWC1046)"
            )

    def _authenticate(self) -> str:
        reply = self._call("authenticate", {"strUserName": self.username, "strPassword": self._password})
        values = ["" if v is None else v for v in (reply.strings or [])]
        if len(values) < 2:
            self._error(
                f"QBWC1012: authenticate returned {len(values)} string(s); at least a ticket and a status are required",
                OUTCOME_SERVER_ERROR,
            )
            raise _Stop
        ticket, status = values[0], values[1]
        self._ticket = ticket
        auth: dict[str, Any] = {
            "result": status,
            "ticket_issued": bool(ticket),
            "company_file": None,
            "postpone_seconds": None,
            "min_run_interval_seconds": None,
            "close_connection_called": False,
        }
        self.report.auth = auth
        for index, key in ((2, "postpone_seconds"), (3, "min_run_interval_seconds")):
            if len(values) > index and values[index].strip():
                try:
                    auth[key] = int(values[index])
                except ValueError:
                    self.report.violations.append(
                        f"authenticate()[{index}] must be a number of seconds, got {values[index]!r}"
                    )
        if len(values) > 4:
            self.report.warnings.append(f"authenticate returned {len(values)} strings; QBWC reads at most 4")
        if ticket != ticket.strip() or status != status.strip():
            self.report.violations.append(
                "authenticate values carry surrounding whitespace (pretty-printed reply?); QBWC uses them verbatim"
            )
        special = status.lower()
        if special in AUTH_MESSAGES:
            if status != special:
                self.report.warnings.append(f"authenticate()[1] is {status!r}; lower-case {special!r} is safest")
            self.report.final_message = AUTH_MESSAGES[special]
            if special == AUTH_INVALID_USER:
                self._error(f"authenticate: {AUTH_MESSAGES[special]}", OUTCOME_INVALID_USER)
            else:
                self.report.outcome = OUTCOME_NO_WORK if special == AUTH_NO_WORK else OUTCOME_BUSY
            if self.close_after_auth_failure:
                auth["close_connection_called"] = True
                self._close_connection(keep_message=True)
            raise _Stop
        if not ticket:
            self.report.violations.append("authenticate returned an empty ticket with work to do")
        auth["company_file"] = status
        return status

    def _open_company(self, path: str) -> bool:
        """Open the company like QBWC (OpenConnection + BeginSession); on failure report it
        through connectionError and try the path the service returns, at most
        `max_connection_retries` times."""
        retries = 0
        while True:
            failure = self.company.begin_session(path)
            if failure is None:
                self._company_open = True
                self.report.company_file = path or self.company.company_file(self.company_file)
                return True
            reply = self._call(
                "connectionError", {"ticket": self._ticket, "hresult": failure.hresult, "message": failure.message}
            ).text or ""
            self.report.connection_errors.append(
                {"hresult": failure.hresult, "message": failure.message, "reply": reply}
            )
            if reply.strip().lower() == DONE or retries >= self.max_connection_retries:
                self.report.final_message = failure.message or failure.hresult
                detail = "the service returned done" if reply.strip().lower() == DONE else (
                    f"gave up after {retries} retries"
                )
                self._error(
                    f"QBWC1013: could not open the company file ({failure.hresult} {failure.message}); {detail}",
                    OUTCOME_CONNECTION_ERROR,
                )
                return False
            retries += 1
            path = reply

    # -- the work -------------------------------------------------------------------------

    def _exchange_loop(self, hcp_xml: str, major: int, minor: int) -> None:
        r = self.report
        first = True
        finished = False  # the service said 100
        while True:
            if r.round_trips >= self.max_round_trips:
                self._error(
                    f"stopped after {r.round_trips} round trips (max_round_trips); the service never reached 100",
                    OUTCOME_LIMIT,
                )
                self._close_connection()
                return
            request = self._call(
                "sendRequestXML",
                {
                    "ticket": self._ticket,
                    "strHCPResponse": hcp_xml if first else "",
                    "strCompanyFileName": r.company_file,
                    "qbXMLCountry": self.country,
                    "qbXMLMajorVers": major,
                    "qbXMLMinorVers": minor,
                },
            ).text
            first = False
            if not request:
                if self._last_error():
                    continue
                return
            r.requests.append(request)
            try:
                answer = self.company.process(request)
            except Exception as exc:
                if not _is_lost_response(exc):
                    raise
                # Applied in QuickBooks, answer lost on the way back: the session dies here, as
                # when QBWC or the network goes down (no receiveResponseXML, no closeConnection).
                r.responses.append("")
                self._error(f"the company's response was lost ({exc}); the session was abandoned",
                            OUTCOME_RESPONSE_LOST)
                return
            self._record_company_reply(answer)
            percent = self._receive(answer)
            r.round_trips += 1
            if percent < 0:
                if self._last_error():
                    continue
                return
            if percent > 100:
                r.violations.append(f"receiveResponseXML returned {percent}; the percentage must be 0..100")
                finished = True
            elif percent == 100:
                finished = True
            if finished:
                r.outcome = OUTCOME_COMPLETE
                self._close_connection()
                return

    def _record_company_reply(self, answer: CompanyReply) -> None:
        r = self.report
        r.responses.append(answer.xml or "")
        if answer.hresult:
            r.hresults.append(answer.hresult)
        if answer.xml:
            r.status_codes.extend(_status_codes(answer.xml, r.warnings))

    def _receive(self, answer: CompanyReply) -> int:
        failed = bool(answer.hresult)
        text = self._call(
            "receiveResponseXML",
            {
                "ticket": self._ticket,
                "response": "" if failed else (answer.xml or ""),
                "hresult": answer.hresult,
                "message": answer.message if failed else "",
            },
        ).text
        percent = int(text or "0")
        trace = self.report.percent_trace
        previous = [p for p in trace if p >= 0]
        if percent >= 0 and previous and percent < previous[-1]:
            self.report.violations.append(
                f"receiveResponseXML percent went down from {previous[-1]} to {percent}"
            )
        trace.append(percent)
        return percent

    def _last_error(self) -> bool:
        """Call getLastError. True when it said NoOp (pause, then sendRequestXML again); otherwise
        its text is the final message and the session is closed."""
        r = self.report
        text = self._call("getLastError", {"ticket": self._ticket}).text or ""
        if text.strip().lower() == NOOP.lower():
            if text != NOOP:
                r.warnings.append(f"getLastError returned {text!r}; QBWC documents {NOOP!r}")
            r.noops += 1
            if r.noops > self.max_noops:
                self._error(f"stopped after {self.max_noops} NoOp pauses (max_noops)", OUTCOME_LIMIT)
                self._close_connection()
                return False
            if self.noop_delay > 0:
                time.sleep(self.noop_delay)
            return True
        if text.strip().lower() == INTERACTIVE_MODE.lower():
            self._error("getLastError asked for interactive mode, which this WebConnector does not support",
                        OUTCOME_INTERACTIVE)
            self._close_connection()
            return False
        r.final_message = text
        self._error(f"getLastError: {text}" if text else "getLastError returned no text", OUTCOME_LAST_ERROR)
        self._close_connection(keep_message=True)
        return False

    def _close_connection(self, keep_message: bool = False) -> None:
        if self._company_open:  # QBWC ends the QuickBooks session before closeConnection
            self._company_open = False
            self.company.end_session()
        text = self._call("closeConnection", {"ticket": self._ticket}).text
        if not keep_message:
            self.report.final_message = text or ""

    # -- plumbing -------------------------------------------------------------------------

    def _error(self, message: str, outcome: str) -> None:
        self.report.errors.append(message)
        if self.report.outcome is None or self.report.outcome == OUTCOME_COMPLETE:
            self.report.outcome = outcome

    def _post(self, operation: str, values: dict[str, Any]):
        self.report.calls.append(operation)
        envelope = build_envelope(operation, values)
        started = time.perf_counter()
        try:
            status, content_type, body = self._transport.post(operation, envelope)
        except TransportError as exc:
            raise SoapProblem(operation, "http", str(exc)) from None
        if self.on_call is not None:
            self.on_call(operation, time.perf_counter() - started)
        reply = parse_reply(operation, status, content_type, body)
        if not content_type.lower().startswith("text/xml"):
            self.report.warnings.append(
                f"{operation}: reply Content-Type is {content_type!r}; QBWC expects text/xml for SOAP 1.1"
            )
        return reply

    def _call_optional(self, operation: str, values: dict[str, Any]) -> str | None:
        """serverVersion / clientVersion: optional for a service, so QBWC goes on when they fail.
        A service that does not implement them (HTTP error, SOAP Fault) gets a warning; a reply
        that is there but malformed is a protocol violation."""
        try:
            return self._post(operation, values).text
        except SoapProblem as exc:
            if exc.kind in ("http", "fault"):
                self.report.warnings.append(f"{operation} failed, ignored: {exc.detail}")
            else:
                self.report.violations.append(f"{exc} (ignored: the call is optional)")
            return None

    def _call(self, operation: str, values: dict[str, Any]):
        """A call whose failure ends the session, as in QBWC."""
        try:
            return self._post(operation, values)
        except SoapProblem as exc:
            target = self.report.violations if exc.kind == "protocol" else self.report.errors
            target.append(str(exc))
            if target is self.report.violations:
                self.report.errors.append(f"{exc.code}: the session ended on an unusable {operation} reply")
            if self.report.outcome in (None, OUTCOME_COMPLETE):
                self.report.outcome = OUTCOME_SERVER_ERROR
            if not self.report.final_message or operation != "closeConnection":
                self.report.final_message = str(exc)
            raise _Stop from None


def _is_lost_response(exc: Exception) -> bool:
    """A company signals "applied, but the response never arrived" with ConnectionError or
    FakeQuickBooks' ConnectionLost."""
    if isinstance(exc, ConnectionError):
        return True
    try:
        from qbsync.testing.fake_quickbooks import ConnectionLost
    except ImportError:
        return False
    return isinstance(exc, ConnectionLost)


_RESPONSE_PARSER = safexml.parser()


def _status_codes(xml: str, warnings: list[str]) -> list[int]:
    """statusCode of every response element in a qbXML response message, in order."""
    try:
        root = etree.fromstring(xml.encode("utf-8"), _RESPONSE_PARSER)
    except etree.XMLSyntaxError as exc:
        warnings.append(f"the company returned a response that is not well-formed XML ({exc})")
        return []
    codes = []
    for el in root.iter():
        value = el.get("statusCode") if isinstance(el.tag, str) else None
        if value is not None:
            try:
                codes.append(int(value))
            except ValueError:
                warnings.append(f"statusCode {value!r} is not an integer")
    return codes
