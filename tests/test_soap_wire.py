"""The SOAP wire over real HTTP: a real waitress server running our WSGI app, posted the shapes
real Web Connectors and simulators send (empty serverVersion, q1:/tns: prefixes, empty or
missing optionals, quoted and unquoted SOAPAction, malformed bodies), with the service side
played by a small stand-in so each callback's plain values can be checked."""

from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from lxml import etree
from soap_helpers import INTUIT, NS, envelope, post_soap, request
from soap_standin import StandInService

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.store import open_store

SHARED = Path(__file__).resolve().parents[2] / "shared" / "qbwc"
QBXML_RQ = (
    '<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError">'
    '<CustomerAddRq requestID="c-1"><CustomerAdd><Name>Smith &amp; Sons &lt;Ltd&gt;</Name></CustomerAdd>'
    "</CustomerAddRq></QBXMLMsgsRq></QBXML>"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("wire") / "qbsync.db"
    open_store(db, create=True).close()
    service = StandInService(db)
    lines: list[str] = []
    app = make_wsgi_app(service, path="/qbwc", log=lines.append)
    with serve(app, "127.0.0.1", 0, threads=2) as running:
        running.service = service
        running.log_lines = lines
        running.soap_url = running.url("/qbwc")
        yield running


@pytest.fixture
def svc(server):
    server.service.calls.clear()
    server.service.fail_on.clear()
    server.service.requests = [QBXML_RQ]
    server.log_lines.clear()
    return server.service


def _is_compact(body: bytes) -> bool:
    return b"\n" not in body.split(b"?>", 1)[1]


# -- serverVersion / clientVersion ------------------------------------------------------------------


def test_server_version_with_an_empty_body_element(server, svc):
    reply = post_soap(server.soap_url, envelope(f'<serverVersion xmlns="{INTUIT}" />'), "serverVersion")
    assert reply.status == 200
    assert reply.content_type == "text/xml; charset=utf-8"
    assert reply.text("serverVersion") == "qbsync-standin 1.0"
    assert _is_compact(reply.body)
    assert svc.calls == [("server_version", ())]


def test_server_version_with_the_community_wsdl_str_version_child(server, svc):
    body = envelope(f'<serverVersion xmlns="{INTUIT}"><strVersion>2.3.0.215</strVersion></serverVersion>')
    reply = post_soap(server.soap_url, body, "serverVersion")
    assert reply.status == 200 and reply.text("serverVersion") == "qbsync-standin 1.0"


@pytest.mark.parametrize("version, expected", [("2.3.0.215", ""), ("2.1.0.30", "W:please upgrade")])
def test_client_version(server, svc, version, expected):
    reply = post_soap(server.soap_url, envelope(f'<clientVersion xmlns="{INTUIT}"><strVersion>{version}</strVersion></clientVersion>'),
                      "clientVersion")
    assert reply.status == 200
    assert reply.text("clientVersion") == expected
    assert svc.calls == [("client_version", (version,))]


# -- authenticate: ArrayOfString, prefixes, SOAPAction forms ---------------------------------------


@pytest.mark.parametrize(
    "inner",
    [
        f'<authenticate xmlns="{INTUIT}"><strUserName>acme</strUserName><strPassword>s3cret</strPassword></authenticate>',
        f'<q1:authenticate xmlns:q1="{INTUIT}"><q1:strUserName>acme</q1:strUserName>'
        "<q1:strPassword>s3cret</q1:strPassword></q1:authenticate>",
        f'<tns:authenticate xmlns:tns="{INTUIT}"><tns:strUserName>acme</tns:strUserName>'
        "<tns:strPassword>s3cret</tns:strPassword></tns:authenticate>",
    ],
    ids=["default-namespace", "q1-prefix", "tns-prefix"],
)
@pytest.mark.parametrize("action", ["quoted", "unquoted", "absent"])
def test_authenticate_returns_an_array_of_string(server, svc, inner, action):
    reply = post_soap(server.soap_url, envelope(inner), None if action == "absent" else "authenticate",
                      quoted=action == "quoted")
    assert reply.status == 200, reply.body
    result = reply.result("authenticate")
    children = list(result)
    assert [etree.QName(c).localname for c in children] == ["string"] * 4
    assert all(etree.QName(c).namespace == INTUIT for c in children)
    assert [c.text or "" for c in children] == ["T-1", "", "", "300"]
    assert svc.calls == [("authenticate", ("acme", "s3cret"))]


def test_authenticate_bad_password_gives_nvu_in_index_1(server, svc):
    inner = f'<authenticate xmlns="{INTUIT}"><strUserName>acme</strUserName><strPassword>nope</strPassword></authenticate>'
    result = post_soap(server.soap_url, envelope(inner), "authenticate").result("authenticate")
    assert [c.text or "" for c in result] == ["", "nvu"]


def test_authenticate_with_missing_parameters_passes_empty_strings(server, svc):
    reply = post_soap(server.soap_url, envelope(f'<authenticate xmlns="{INTUIT}" />'), "authenticate")
    assert reply.status == 200
    assert svc.calls == [("authenticate", ("", ""))]


# -- sendRequestXML / receiveResponseXML ------------------------------------------------------------


def test_send_request_xml_escapes_qbxml_and_reads_the_int_versions(server, svc):
    hcp = '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><HostQueryRs statusCode="0"/></QBXMLMsgsRs></QBXML>'
    inner = (
        f'<sendRequestXML xmlns="{INTUIT}"><ticket>T-1</ticket><strHCPResponse>{escape(hcp)}</strHCPResponse>'
        r"<strCompanyFileName>C:\Company Files\Acme &amp; Co.QBW</strCompanyFileName><qbXMLCountry>US</qbXMLCountry>"
        "<qbXMLMajorVers>13</qbXMLMajorVers><qbXMLMinorVers>0</qbXMLMinorVers></sendRequestXML>"
    )
    reply = post_soap(server.soap_url, envelope(inner), "sendRequestXML")
    assert reply.status == 200
    assert svc.calls == [("send_request_xml", ("T-1", hcp, r"C:\Company Files\Acme & Co.QBW", "US", 13, 0))]
    # The qbXML travels entity-escaped (never CDATA), unescaped exactly once by the reader.
    assert b"<![CDATA[" not in reply.body
    assert b"&lt;QBXML&gt;" in reply.body
    assert b"Smith &amp;amp; Sons &amp;lt;Ltd&amp;gt;" in reply.body
    assert reply.text("sendRequestXML") == QBXML_RQ
    assert _is_compact(reply.body)


def test_send_request_xml_later_calls_have_an_empty_hcp(server, svc):
    inner = (
        f'<sendRequestXML xmlns="{INTUIT}"><ticket>T-1</ticket><strHCPResponse /><strCompanyFileName />'
        "<qbXMLCountry>CA</qbXMLCountry><qbXMLMajorVers>16</qbXMLMajorVers><qbXMLMinorVers>0</qbXMLMinorVers>"
        "</sendRequestXML>"
    )
    assert post_soap(server.soap_url, envelope(inner), "sendRequestXML").status == 200
    assert svc.calls == [("send_request_xml", ("T-1", "", "", "CA", 16, 0))]


def test_receive_response_xml_with_empty_hresult_and_message(server, svc):
    response = '<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs><CustomerAddRs statusCode="0"/></QBXMLMsgsRs></QBXML>\n'
    inner = (
        f'<receiveResponseXML xmlns="{INTUIT}"><ticket>T-1</ticket><response>{escape(response)}</response>'
        "<hresult /><message /></receiveResponseXML>"
    )
    reply = post_soap(server.soap_url, envelope(inner), "receiveResponseXML")
    assert reply.status == 200
    assert reply.text("receiveResponseXML") == "100"
    assert svc.calls == [("receive_response_xml", ("T-1", response, "", ""))]


def test_receive_response_xml_with_an_hresult_and_no_response(server, svc):
    inner = (
        f'<q1:receiveResponseXML xmlns:q1="{INTUIT}"><q1:ticket>T-1</q1:ticket><q1:response />'
        "<q1:hresult>0x80040400</q1:hresult><q1:message>QuickBooks found an error when parsing the provided XML "
        "text stream.</q1:message></q1:receiveResponseXML>"
    )
    reply = post_soap(server.soap_url, envelope(inner), "receiveResponseXML")
    assert reply.text("receiveResponseXML") == "-101"
    assert svc.calls[0][1][:3] == ("T-1", "", "0x80040400")


def test_receive_response_xml_with_the_optionals_left_out(server, svc):
    inner = f'<receiveResponseXML xmlns="{INTUIT}"><ticket>T-1</ticket></receiveResponseXML>'
    reply = post_soap(server.soap_url, envelope(inner), "receiveResponseXML")
    assert reply.status == 200 and re.fullmatch(r"-?\d+", reply.text("receiveResponseXML"))
    assert svc.calls == [("receive_response_xml", ("T-1", "", "", ""))]


@pytest.mark.parametrize("name", [
    "receiveResponseXML__invoice_add_rs.xml",
    "receiveResponseXML__receive_payment_add_rs.xml",
    "receiveResponseXML__sales_order_add_rs_raw.xml",
    "receiveResponseXML__item_inventory_query_rs_raw.xml",
])
def test_captured_qbwc_envelopes_are_accepted_byte_for_byte(server, svc, name):
    raw = (SHARED / "captured-envelopes" / name).read_bytes()
    reply = post_soap(server.soap_url, raw, "receiveResponseXML")
    assert reply.status == 200
    ticket, response, hresult, message = svc.calls[0][1]
    assert ticket == "354f40b4-b661-4472-a13f-8abf13a743c3"
    assert response.startswith('<?xml version="1.0" ?>') and "<QBXML>" in response
    assert (hresult, message) == ("", "")
    etree.fromstring(response.encode())  # unescaped once: well-formed qbXML again


def test_a_large_qbxml_response_arrives_whole(server, svc):
    row = "<CustomerRet><ListID>80000001-1</ListID><Name>A &amp; B</Name></CustomerRet>"
    response = '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode="0">' + row * 200_000 + \
        "</CustomerQueryRs></QBXMLMsgsRs></QBXML>"
    assert len(response) > 14_000_000
    inner = (f'<receiveResponseXML xmlns="{INTUIT}"><ticket>T-1</ticket><response>{escape(response)}</response>'
             "<hresult /><message /></receiveResponseXML>")
    reply = post_soap(server.soap_url, envelope(inner), "receiveResponseXML")
    assert reply.status == 200
    assert svc.calls[0][1][1] == response


# -- the other callbacks ------------------------------------------------------------------------------


def test_connection_error_get_last_error_close_connection(server, svc):
    r = post_soap(server.soap_url, envelope(
        f'<connectionError xmlns="{INTUIT}"><ticket>T-1</ticket><hresult>0x80040408</hresult>'
        "<message>Could not start QuickBooks.</message></connectionError>"), "connectionError")
    assert r.text("connectionError") == "done"
    r = post_soap(server.soap_url, envelope(f'<getLastError xmlns="{INTUIT}"><ticket>T-1</ticket></getLastError>'),
                  "getLastError")
    assert r.text("getLastError") == "Nothing to do & <nothing> sent"
    assert b"Nothing to do &amp; &lt;nothing&gt; sent" in r.body
    r = post_soap(server.soap_url, envelope(f'<closeConnection xmlns="{INTUIT}"><ticket>T-1</ticket></closeConnection>'),
                  "closeConnection")
    assert r.text("closeConnection") == "Synced 1, 0 errors"
    assert [c[0] for c in svc.calls] == ["connection_error", "get_last_error", "close_connection"]
    assert svc.calls[0][1] == ("T-1", "0x80040408", "Could not start QuickBooks.")


def test_interactive_callbacks(server, svc):
    r = post_soap(server.soap_url, envelope(
        f'<getInteractiveURL xmlns="{INTUIT}"><wcTicket>T-1</wcTicket><sessionID>7</sessionID></getInteractiveURL>'),
        "getInteractiveURL")
    assert r.status == 200 and r.text("getInteractiveURL") == ""
    r = post_soap(server.soap_url, envelope(f'<interactiveDone xmlns="{INTUIT}"><wcTicket>T-1</wcTicket></interactiveDone>'),
                  "interactiveDone")
    assert r.text("interactiveDone") == "Done"
    r = post_soap(server.soap_url, envelope(
        f'<interactiveRejected xmlns="{INTUIT}"><wcTicket>T-1</wcTicket><reason>User declined</reason></interactiveRejected>'),
        "interactiveRejected")
    assert r.text("interactiveRejected") == "Interactive mode is not used by qbsync"
    assert svc.calls == [
        ("get_interactive_url", ("T-1", "7")), ("interactive_done", ("T-1",)),
        ("interactive_rejected", ("T-1", "User declined")),
    ]


# -- failures: faults, never tracebacks, the server keeps answering ----------------------------------


@pytest.mark.parametrize("body", [
    b"<not xml",
    b"",
    b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<authenticate xmlns="http://developer.intuit.com/"><strUserName>a</strUserName></soap:Body></soap:Envelope>',
    envelope(f'<noSuchOperation xmlns="{INTUIT}" />').encode(),
    envelope('<authenticate xmlns="http://example.com/wrong-namespace/" />').encode(),
    b'<?xml version="1.0"?><root>not a soap envelope</root>',
], ids=["not-xml", "empty", "unclosed", "unknown-operation", "wrong-namespace", "not-an-envelope"])
def test_a_bad_request_gets_a_soap_fault_and_the_server_keeps_answering(server, svc, body):
    reply = post_soap(server.soap_url, body, "authenticate")
    assert reply.status == 500
    assert reply.content_type.startswith("text/xml")
    fault = reply.xml().find("soap:Body/soap:Fault", NS)
    assert fault is not None and fault.findtext("faultstring")
    assert b"Traceback" not in reply.body
    assert server.log_lines and all("\n" not in line for line in server.log_lines)
    ok = post_soap(server.soap_url, envelope(f'<serverVersion xmlns="{INTUIT}" />'), "serverVersion")
    assert ok.status == 200


def test_a_failing_callback_becomes_a_fault_with_one_log_line_and_no_secrets(server, svc):
    svc.fail_on.add("authenticate")
    inner = f'<authenticate xmlns="{INTUIT}"><strUserName>acme</strUserName><strPassword>s3cret</strPassword></authenticate>'
    reply = post_soap(server.soap_url, envelope(inner), "authenticate")
    assert reply.status == 500
    assert reply.xml().find("soap:Body/soap:Fault", NS) is not None
    assert b"s3cret" not in reply.body and b"Traceback" not in reply.body
    assert len(server.log_lines) == 1
    assert "authenticate failed: RuntimeError" in server.log_lines[0]
    assert "s3cret" not in server.log_lines[0]


def test_a_post_without_content_type_is_still_served(server, svc):
    reply = post_soap(server.soap_url, envelope(f'<serverVersion xmlns="{INTUIT}" />'), "serverVersion",
                      content_type=None)
    assert reply.status == 200


# -- the other routes -----------------------------------------------------------------------------------


def test_routes(server):
    assert request(server.url("/healthz")).body == b"ok"
    assert request(server.url("/healthz")).status == 200
    assert request(server.url("/nope")).status == 404
    assert request(server.url("/qbwc/extra")).status == 404
    assert request(server.url("/qbwc")).status == 405
    assert request(server.url("/support"), "POST", b"x").status == 405
    head = request(server.url("/support"), "HEAD")
    assert head.status == 200 and head.body == b""
    assert request(server.url("/qbwc?WSDL")).status == 200
    assert request(server.url("/qbwc/?wsdl")).status == 200


def test_the_standin_drives_a_whole_web_connector_run(server, svc):
    from qbsync.testing import WebConnector

    def company(xml: str) -> str:
        return ('<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerAddRs requestID="c-1" statusCode="0" '
                'statusSeverity="Info" statusMessage="Status OK"/></QBXMLMsgsRs></QBXML>')

    report = WebConnector(server.soap_url, "acme", "s3cret", company=company, noop_delay=0).run()
    assert report.ok, report.as_dict()
    assert report.calls == ["serverVersion", "clientVersion", "authenticate", "sendRequestXML",
                            "receiveResponseXML", "closeConnection"]
    assert report.requests == [QBXML_RQ]
    assert report.final_message == "Synced 1, 0 errors"


def test_serve_returns_a_running_server_that_stops(tmp_path):
    import socket

    running = serve(make_wsgi_app(StandInService(None)), "127.0.0.1", 0, threads=1)
    try:
        assert isinstance(running.port, int) and running.port > 0
        assert request(running.url("/qbwc?wsdl")).status == 200
    finally:
        running.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=2).close()


def test_entities_are_never_resolved(server, svc):
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">'
        '<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<getLastError xmlns="{INTUIT}"><ticket>&e;&c;&c;&c;</ticket></getLastError></soap:Body></soap:Envelope>'
    )
    reply = post_soap(server.soap_url, xxe, "getLastError")
    assert reply.status in (200, 500)
    for name, args in svc.calls:
        assert "root:" not in "".join(map(str, args)) and len(args[0]) < 100


def test_a_non_integer_version_number_is_a_client_fault(server, svc):
    inner = (f'<sendRequestXML xmlns="{INTUIT}"><ticket>T-1</ticket><qbXMLMajorVers>thirteen</qbXMLMajorVers>'
             "<qbXMLMinorVers>0</qbXMLMinorVers></sendRequestXML>")
    reply = post_soap(server.soap_url, envelope(inner), "sendRequestXML")
    assert reply.status == 500 and b"Client" in reply.body
    assert svc.calls == []
    assert "sendRequestXML" in server.log_lines[-1]


def test_characters_xml_cannot_carry_are_dropped_from_results(server, svc, monkeypatch):
    monkeypatch.setattr(svc, "get_last_error", lambda ticket: "bad\x00 \x1b[0mtext\ud800")
    reply = post_soap(server.soap_url, envelope(f'<getLastError xmlns="{INTUIT}"><ticket>T-1</ticket></getLastError>'),
                      "getLastError")
    assert reply.status == 200 and reply.text("getLastError") == "bad [0mtext"
