"""Bad input over real HTTP (issue 10 §4), against the real ConnectorService on a real store with a
change queued or out: malformed SOAP and XML attacks in the envelope (external entities, billion
laughs, deep nesting, non-UTF-8 bytes, unknown charsets, truncated or empty bodies) are SOAP
faults; attacks, truncation and odd status codes in the qbXML inside receiveResponseXML are
recorded (outcome unknown or an error), never a crash, a hang or a lost change; the server keeps
answering after each."""

from __future__ import annotations

import time

import pytest
from e2e_support import PASSWORD, USER, approve, db, stage  # noqa: F401 - db is a fixture
from hardening_support import customer_add_rs, open_session, receive, response, statuses
from soap_helpers import INTUIT, call, envelope, post_soap

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.testing.web_connector.soap import escape_text

SOAP_HEAD = '<?xml version="1.0" encoding="utf-8"?>'
BODY = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f'<authenticate xmlns="{INTUIT}"><strUserName>{{user}}</strUserName><strPassword>{{pw}}</strPassword>'
        "</authenticate></soap:Body></soap:Envelope>")
LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
          + "]>")


def _auth(user: str, pw: str) -> str:
    return BODY.format(user=user, pw=pw)


ENVELOPE_ATTACKS = {
    "external entity": (SOAP_HEAD + '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + _auth("&e;", "x")).encode(),
    "external DTD": (SOAP_HEAD + '<!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">' + _auth(USER, PASSWORD)).encode(),
    "billion laughs": (SOAP_HEAD + LAUGHS + _auth("&lol9;", "x")).encode(),
    "internal entity": (SOAP_HEAD + f'<!DOCTYPE x [<!ENTITY u "{USER}">]>' + _auth("&u;", PASSWORD)).encode(),
    "deep nesting": (SOAP_HEAD + _auth("<a>" * 100_000 + "</a>" * 100_000, "x")).encode(),
    "latin-1 bytes declared utf-8": (SOAP_HEAD + _auth("caf\xe9", "x")).encode("latin-1"),
    "unknown charset": (SOAP_HEAD + _auth(USER, PASSWORD)).encode(),
    "odd bytes declared utf-16": (SOAP_HEAD + _auth(USER, PASSWORD)).encode() + b"x",
    "truncated": (SOAP_HEAD + _auth(USER, PASSWORD))[:160].encode(),
    "not xml": b"\xff\xfe\x00garbage\x00\x01",
    "only a declaration": SOAP_HEAD.encode(),
    "empty": b"",
    "unknown operation": envelope(f'<dropTables xmlns="{INTUIT}"/>').encode(),
    "no body element": b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>',
}


@pytest.fixture
def server(db):
    stage(db, "Customer", [{"id": f"C{i}", "Name": f"Bad Input {i}"} for i in range(3)])
    approve(db)
    lines: list[str] = []
    service = ConnectorService(str(db), lockout_failures=0, lockout_address_failures=0)
    with serve(make_wsgi_app(service, "/qbwc", log=lines.append), "127.0.0.1", 0, threads=2) as running:
        running.db = db
        running.soap_url = running.url("/qbwc")
        running.log_lines = lines
        yield running


def still_up(url: str) -> None:
    answer = call(url, "authenticate", strUserName=USER, strPassword="wrong").strings
    assert answer == ["", "nvu"]


@pytest.mark.parametrize("name", ENVELOPE_ATTACKS)
def test_a_bad_envelope_is_a_client_fault_quickly(server, name):
    before = statuses(server.db)
    charset = {"unknown charset": "klingon", "odd bytes declared utf-16": "utf-16"}.get(name, "utf-8")
    content_type = f"text/xml; charset={charset}"
    started = time.monotonic()
    reply = post_soap(server.soap_url, ENVELOPE_ATTACKS[name], "authenticate", content_type=content_type)
    assert time.monotonic() - started < 5
    assert reply.status == 500, reply.body[:300]
    assert b"Fault>" in reply.body and b"Client" in reply.body, reply.body[:300]
    assert b"root:" not in reply.body and b"Traceback" not in reply.body
    assert "internal error" not in " ".join(server.log_lines)
    still_up(server.soap_url)
    assert statuses(server.db) == before


def test_an_entity_never_logs_anyone_in(server):
    """Even a harmless internal entity spelling the right user name is refused, not expanded."""
    reply = post_soap(server.soap_url, ENVELOPE_ATTACKS["internal entity"], "authenticate")
    assert reply.status == 500 and b"DOCTYPE" in reply.body


# -- the qbXML inside receiveResponseXML ---------------------------------------------------------


def _xxe(rid: str) -> str:
    return ('<?xml version="1.0" ?><!DOCTYPE QBXML [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            f"<QBXML><QBXMLMsgsRs>{customer_add_rs(rid).replace('Status OK', '&e;')}</QBXMLMsgsRs></QBXML>")


def _laughs(rid: str) -> str:
    return ('<?xml version="1.0" ?>' + LAUGHS
            + f"<QBXML><QBXMLMsgsRs>{customer_add_rs(rid).replace('Status OK', '&lol9;')}</QBXMLMsgsRs></QBXML>")


def _deep(rid: str) -> str:
    return response(customer_add_rs(rid).replace("<IsActive>", "<DataExtRet>" + "<X>" * 5000 + "</X>" * 5000
                                                 + "</DataExtRet><IsActive>"))


QBXML_ATTACKS = {
    "external entity": _xxe,
    "billion laughs": _laughs,
    "deep nesting": _deep,
    "truncated": lambda rid: response(customer_add_rs(rid))[:150],
    "not xml": lambda rid: "QuickBooks had a bad day",
    "another document": lambda rid: "<html><body>502 Bad Gateway</body></html>",
    "latin-1 declaration": lambda rid: response(customer_add_rs(rid)).replace(
        '<?xml version="1.0" ?>', '<?xml version="1.0" encoding="ISO-8859-1" ?>').replace("Customer 0", "Caf\xe9"),
    "no status code": lambda rid: response(customer_add_rs(rid).replace(' statusCode="0"', "")),
    "status code not a number": lambda rid: response(customer_add_rs(rid, status="OK")),
    "status code huge": lambda rid: response(customer_add_rs(rid, status="9" * 18)),
    "status code negative": lambda rid: response(customer_add_rs(rid, status="-7")),
    "status code fraction": lambda rid: response(customer_add_rs(rid, status="0.5")),
    "empty QBXML": lambda rid: "<QBXML/>",
    "wrong requestID": lambda rid: response(customer_add_rs("nobody-asked")),
}


@pytest.mark.parametrize("name", QBXML_ATTACKS)
def test_a_bad_qbxml_response_is_recorded_never_lost(server, name, caplog):
    url = server.soap_url
    ticket, request_ids = open_session(url)
    total = sum(statuses(server.db).values())
    started = time.monotonic()
    reply = receive(url, ticket, QBXML_ATTACKS[name](request_ids[0]))
    assert time.monotonic() - started < 10
    assert reply.status == 200, reply.body[:300]
    assert 0 <= int(reply.text("receiveResponseXML")) <= 100  # recorded: the session goes on
    decided = statuses(server.db)
    assert sum(decided.values()) == total  # no change lost
    assert ("sending", 0) not in decided and ("sending", 1) not in decided  # each one decided
    if name not in ("latin-1 declaration", "status code negative", "status code huge"):
        assert decided == {("error", 1): total}  # outcome unknown, never guessed
    assert call(url, "closeConnection", ticket=ticket).text
    assert sum(statuses(server.db).values()) == total
    assert not [r for r in caplog.records if r.levelname == "ERROR"]  # no exception anywhere
    assert "root:" not in " ".join(server.log_lines + [r.getMessage() for r in caplog.records])
    still_up(url)


@pytest.mark.xfail(strict=True, reason="qbxml/parse.py keeps a statusCode too big for SQLite's 64-bit INTEGER; "
                                       "storing it raises OverflowError inside receive_response_xml (the engine's "
                                       "or the parser's to fix: treat it as no readable status)")
def test_a_status_code_beyond_64_bits_is_recorded_without_an_exception(server, caplog):
    url = server.soap_url
    ticket, request_ids = open_session(url)
    reply = receive(url, ticket, response(customer_add_rs(request_ids[0], status="9" * 40)))
    # Today: -101 and a traceback in the log; the change is settled as outcome unknown when the
    # session closes, so nothing is lost even now.
    call(url, "closeConnection", ticket=ticket)
    assert sum(statuses(server.db).values()) == 3 and ("sending", 0) not in statuses(server.db)
    assert int(reply.text("receiveResponseXML")) >= 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_response_with_characters_xml_cannot_carry_is_a_fault_and_the_message_stays_out(server):
    """A control character in the SOAP string cannot even be parsed: the Web Connector gets a
    fault, the change stays `sending`, and the session's end settles it as outcome unknown."""
    url = server.soap_url
    ticket, request_ids = open_session(url)
    body = envelope(f'<receiveResponseXML xmlns="{INTUIT}"><ticket>{ticket}</ticket><response>'
                    f"{escape_text(response(customer_add_rs(request_ids[0])))}&#1;</response><hresult/><message/>"
                    "</receiveResponseXML>")
    reply = post_soap(url, body, "receiveResponseXML")
    assert reply.status == 500 and b"Client" in reply.body
    assert call(url, "closeConnection", ticket=ticket).text
    after = statuses(server.db)
    assert sum(after.values()) == 3 and ("sending", 0) not in after
    assert after[("error", 1)] >= 1
