"""A small QBWC SOAP service for testing the WebConnector double (test-only, not the product).

It implements the server side of the Web Connector protocol by hand (WSGI, lxml), hands out a
list of qbXML requests, records every call it receives (headers, raw body, parameters), and can
be told to misbehave in the ways real services do. `serve(app)` runs it under waitress on
127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from lxml import etree
from waitress.server import create_server

NS = "http://developer.intuit.com/"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass
class Received:
    op: str
    soapaction: str
    content_type: str
    body: bytes
    params: list[tuple[str, str | None]]  # (local name, text) in document order

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)


@dataclass
class QbwcService:
    """Behaviour knobs (all optional):

    requests: qbXML messages to hand out, one per sendRequestXML.
    percents: receiveResponseXML results to return, in order (raw strings allowed, e.g. "33.3");
        default: the share of requests done, 100 after the last.
    auth_status: authenticate()[1] for good credentials ("" / a path / "none" / "busy").
    auth_extra: authenticate()[2:] values.
    array_child / array_ns: element name and namespace of the ArrayOfString children.
    response_ns: namespace of the <opResponse> element (and its result).
    misbehave: {op: "500" | "fault" | "garbage" | "html"} for a broken reply to that operation.
    noop_times: sendRequestXML returns "" and getLastError "NoOp" this many times first.
    last_error: getLastError text when no NoOp is pending.
    connection_error_replies: connectionError results, in order (then "done").
    client_version_reply, server_version, close_message: the plain string results.
    ticket: the ticket to issue.
    unescaped_request: put the qbXML request into sendRequestXMLResult as elements, not text.
    pretty: pretty-print the replies (whitespace between elements only).
    """

    requests: list[str] = field(default_factory=list)
    username: str = "qbuser"
    password: str = "s3cret"
    percents: list[str | int] | None = None
    auth_status: str = ""
    auth_extra: list[str] = field(default_factory=list)
    array_child: str = "string"
    array_ns: str = NS
    response_ns: str = NS
    misbehave: dict[str, str] = field(default_factory=dict)
    noop_times: int = 0
    last_error: str = "Nothing to do"
    connection_error_replies: list[str] = field(default_factory=list)
    client_version_reply: str = ""
    server_version: str = "qbwc-test-service 1.0"
    close_message: str = "Complete!"
    ticket: str = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
    unescaped_request: bool = False
    pretty: bool = False
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sent = 0
        self._percent_index = 0
        self._noops_left = self.noop_times
        self._lock = threading.Lock()

    @property
    def ops(self) -> list[str]:
        return [r.op for r in self.received]

    def calls(self, op: str) -> list[Received]:
        return [r for r in self.received if r.op == op]

    # -- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        root = etree.fromstring(body)
        (operation,) = [c for c in root.find(f"{{{SOAP}}}Body") if isinstance(c.tag, str)]
        qname = etree.QName(operation)
        assert qname.namespace == NS, qname
        op = qname.localname
        params = [(etree.QName(c).localname, c.text) for c in operation if isinstance(c.tag, str)]
        rec = Received(op, environ.get("HTTP_SOAPACTION", ""), environ.get("CONTENT_TYPE", ""), body, params)
        with self._lock:
            self.received.append(rec)
            mode = self.misbehave.get(op)
            if mode:
                return self._broken(mode, start_response)
            result = getattr(self, f"_do_{op}")(rec)
        return self._reply(op, result, start_response)

    def _reply(self, op: str, result, start_response):
        ns = self.response_ns
        if isinstance(result, list):
            inner = "".join(
                f'<{self.array_child} xmlns="{self.array_ns}">{escape(v)}</{self.array_child}>' for v in result
            )
        elif self.unescaped_request and op == "sendRequestXML" and result:
            inner = result.split("?>")[-1]  # raw elements: what a naive service might emit
        else:
            inner = escape(str(result))
        xml = (
            f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
            f'<{op}Response xmlns="{ns}"><{op}Result>{inner}</{op}Result></{op}Response>'
            "</soap:Body></soap:Envelope>"
        )
        if self.pretty:
            xml = xml.replace("><soap:Body>", ">\n  <soap:Body>\n    ").replace(
                "</soap:Body>", "\n  </soap:Body>\n"
            )
        data = xml.encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]

    def _broken(self, mode: str, start_response):
        if mode == "500":
            data = b"Internal Server Error"
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        elif mode == "fault":
            data = (
                f'<?xml version="1.0"?><soap:Envelope xmlns:soap="{SOAP}"><soap:Body><soap:Fault>'
                "<faultcode>soap:Server</faultcode><faultstring>boom in the service</faultstring>"
                "</soap:Fault></soap:Body></soap:Envelope>"
            ).encode()
            start_response("500 Internal Server Error", [("Content-Type", "text/xml; charset=utf-8")])
        elif mode == "html":
            data = b"<html><body>Welcome</body></html>"
            start_response("200 OK", [("Content-Type", "text/html")])
        else:  # garbage
            data = b'<?xml version="1.0"?><soap:Envelope xmlns:soap="x"><unclosed>'
            start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [data]

    # -- callbacks -----------------------------------------------------------------------

    def _do_serverVersion(self, rec):
        return self.server_version

    def _do_clientVersion(self, rec):
        return self.client_version_reply

    def _do_authenticate(self, rec):
        if rec.param("strUserName") != self.username or rec.param("strPassword") != self.password:
            return ["", "nvu"]
        return [self.ticket, self.auth_status, *self.auth_extra]

    def _do_connectionError(self, rec):
        return self.connection_error_replies.pop(0) if self.connection_error_replies else "done"

    def _do_sendRequestXML(self, rec):
        assert rec.param("ticket") == self.ticket
        if self._noops_left > 0:
            self._noops_left -= 1
            self._pending_noop = True
            return ""
        if self._sent >= len(self.requests):
            return ""
        self._sent += 1
        return self.requests[self._sent - 1]

    def _do_receiveResponseXML(self, rec):
        assert rec.param("ticket") == self.ticket
        if self.percents is not None:
            value = self.percents[min(self._percent_index, len(self.percents) - 1)]
            self._percent_index += 1
            return value
        if rec.param("hresult"):
            return -101
        return 100 if self._sent >= len(self.requests) else int(100 * self._sent / len(self.requests))

    def _do_getLastError(self, rec):
        if getattr(self, "_pending_noop", False):
            self._pending_noop = False
            return "NoOp"
        return self.last_error

    def _do_closeConnection(self, rec):
        return self.close_message


@contextlib.contextmanager
def serve(app):
    """Run `app` under waitress on 127.0.0.1:<ephemeral>; yields the URL."""
    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/qbwc"
    finally:
        # Close every socket from inside the server's own loop (closing them from this thread
        # races with select()); the loop ends once its map is empty.
        def stop():
            for dispatcher in list(server._map.values()):
                try:
                    dispatcher.close()
                except OSError:
                    pass

        try:
            server.trigger.pull_trigger(stop)
        except OSError:  # the loop has ended already (its trigger is closed): close from here
            stop()
        thread.join(timeout=10)
        server.task_dispatcher.shutdown()


class CannedCompany:
    """A tiny QuickBooks stand-in for these tests: answers every request of a message with
    statusCode 0 (or the codes given), the HCP query with Host/Company/Preferences replies, and
    can fail requests with an HRESULT or fail to open the company file a number of times."""

    def __init__(self, *, qbxml_version="13.0", status_codes=None, hresult_on=(), open_failures=0,
                 open_hresult="0x80040408", company_file=None):
        self.qbxml_version = qbxml_version
        self.status_codes = list(status_codes or [])
        self.hresult_on = set(hresult_on)  # 1-based indexes of process() calls (HCP excluded)
        self.open_failures = open_failures
        self.open_hresult = open_hresult
        if company_file:
            self.company_file = company_file
        self.received: list[str] = []
        self.sessions: list[str] = []
        self.ended = 0

    def begin_session(self, path):
        self.sessions.append(path)
        if self.open_failures > 0:
            self.open_failures -= 1
            return Reply(None, self.open_hresult, "Could not start QuickBooks.")
        return None

    def end_session(self):
        self.ended += 1

    def process(self, xml):
        root = etree.fromstring(xml.encode("utf-8"))
        rqs = [c for c in root.find("QBXMLMsgsRq") if isinstance(c.tag, str)]
        if [c.tag for c in rqs] == ["HostQueryRq", "CompanyQueryRq", "PreferencesQueryRq"]:
            return Reply(HCP_RESPONSE)
        self.received.append(xml)
        if len(self.received) in self.hresult_on:
            return Reply(None, "0x80040400", "QuickBooks found an error when parsing the provided XML text stream.")
        parts = []
        for rq in rqs:
            code = self.status_codes.pop(0) if self.status_codes else 0
            rid = rq.get("requestID")
            rid_attr = f' requestID="{escape(rid)}"' if rid is not None else ""
            parts.append(
                f'<{rq.tag[:-2]}Rs{rid_attr} statusCode="{code}" statusSeverity="{"Info" if code in (0, 1) else "Error"}" '
                f'statusMessage="{"Status OK" if code == 0 else "Something &amp; other"}" />'
            )
        return Reply('<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n' + "\n".join(parts) + "\n</QBXMLMsgsRs>\n</QBXML>\n")


@dataclass
class Reply:
    xml: str | None
    hresult: str = ""
    message: str = ""


HCP_RESPONSE = (
    '<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n'
    '<HostQueryRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
    "<HostRet><ProductName>QuickBooks Enterprise Solutions 18.0</ProductName><MajorVersion>28</MajorVersion>"
    "<MinorVersion>0</MinorVersion><Country>US</Country><SupportedQBXMLVersion>13.0</SupportedQBXMLVersion>"
    "<IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode></HostRet></HostQueryRs>\n"
    '<CompanyQueryRs requestID="2" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
    "<CompanyRet><IsSampleCompany>true</IsSampleCompany><CompanyName>Sample &amp; Co</CompanyName></CompanyRet>"
    "</CompanyQueryRs>\n"
    '<PreferencesQueryRs requestID="3" statusCode="0" statusSeverity="Info" statusMessage="Status OK" />\n'
    "</QBXMLMsgsRs>\n</QBXML>\n"
)


def qbxml_request(*bodies: str, version: str = "13.0") -> str:
    """A request message holding the given Rq elements."""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><?qbxml version="{version}"?><QBXML>'
        f'<QBXMLMsgsRq onError="stopOnError">{"".join(bodies)}</QBXMLMsgsRq></QBXML>'
    )


def customer_query(request_id: str = "1") -> str:
    return qbxml_request(f'<CustomerQueryRq requestID="{request_id}"><MaxReturned>10</MaxReturned></CustomerQueryRq>')
