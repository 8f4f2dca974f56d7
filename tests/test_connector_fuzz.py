"""Fuzzing with a fixed budget (issue 10 §4), run with the suite:

- the SOAP endpoint: random and mutated envelopes of every operation posted to one real server
  (the real ConnectorService on a real store with changes queued). Every answer is a SOAP reply
  (200), a SOAP fault (500) or a 4xx, within the socket timeout; afterwards the server still
  logs a client in and no queued change moved or disappeared;
- the response reader: mutated qbXML responses fed to `interpret` (what receiveResponseXML does
  with QuickBooks' answer). It never raises, and every change of the message gets exactly one
  outcome; an unreadable answer never makes a write synced.
"""

from __future__ import annotations

import os
import time

import pytest
from e2e_support import PASSWORD, USER, approve, stage
from hardening_support import customer_add_rs, response, statuses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from soap_helpers import INTUIT, SOAP_ENV, call, request

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.engine.exports import WRITE, SentMessage, interpret
from qbsync.engine.model import Synced
from qbsync.store import open_store
from qbsync.store.connections import add_connection
from qbsync.sync.passwords import hash_password
from qbsync.testing.web_connector.soap import OPERATION_PARAMS, build_envelope

# The budget CI runs (a few seconds); QBSYNC_FUZZ_EXAMPLES=5000 for a longer hunt.
BUDGET = settings(max_examples=int(os.environ.get("QBSYNC_FUZZ_EXAMPLES", "200")), deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Pieces that tend to break XML readers: markup, entities, DOCTYPEs, odd characters and numbers.
FRAGMENTS = [
    "<", ">", "&", "&amp;", "&lt;", "&#0;", "&#x1F600;", "&undefined;", '"', "'", "]]>", "<![CDATA[", "<!--", "-->",
    "<?xml version='1.0'?>", '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "&e;",
    '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>', "&b;", "<a>" * 50, "</a>", "</soap:Body>",
    "<soap:Envelope>", 'xmlns="http://developer.intuit.com/"', "\x00", "\x1b", "\ufffe", "é", "€",
    "-1", "0", "99999999999999999999", "2147483648", "NaN", " ", "\r\n", "\t",
]
text_bits = st.one_of(st.sampled_from(FRAGMENTS), st.text(st.characters(blacklist_categories=["Cs"]), max_size=20))
# Bytes no text encodes: invalid UTF-8, an encoded surrogate, a UTF-16 BOM.
RAW = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xfe\xff", b"\x80\x80"]


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """`base` with a few random edits: bytes deleted, text inserted, the end cut off."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "raw"]))
        at = draw(st.integers(0, len(data)))
        if kind == "truncate":
            del data[at:]
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 40))]
        elif kind == "raw":
            data[at:at] = draw(st.one_of(st.sampled_from(RAW), st.binary(min_size=1, max_size=8)))
        else:
            piece = draw(text_bits).encode("utf-8")
            data[at:at + (draw(st.integers(1, 10)) if kind == "replace" else 0)] = piece
    return bytes(data)


@st.composite
def envelopes(draw) -> tuple[str, bytes]:
    operation = draw(st.sampled_from(sorted(OPERATION_PARAMS)))
    values = {name: draw(st.one_of(text_bits, st.integers(-5, 200).map(str)))
              for name in OPERATION_PARAMS[operation]}
    if operation == "authenticate" and draw(st.booleans()):
        values["strUserName"] = USER
    body = build_envelope(operation, values)
    if draw(st.booleans()):
        body = draw(mutated(body))
    return operation, body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = tmp_path_factory.mktemp("fuzz") / "qbsync.db"
    with open_store(db, create=True) as store:
        add_connection(store, name="acme", username=USER, password_hash=hash_password(PASSWORD))
    stage(db, "Customer", [{"id": f"F{i}", "Name": f"Fuzz {i}"} for i in range(5)])
    approve(db)
    service = ConnectorService(str(db), lockout_failures=0, lockout_address_failures=0)
    with serve(make_wsgi_app(service, "/qbwc", log=lambda line: None), "127.0.0.1", 0, threads=2) as running:
        running.db = db
        running.before = statuses(db)
        yield running


def _check_reply(status: int, body: bytes) -> None:
    assert status in (200, 500) or 400 <= status < 500, status
    if status in (200, 500):
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        assert root.tag == f"{{{SOAP_ENV}}}Envelope"
        fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
        assert (fault is not None) == (status == 500), body[:300]


@BUDGET
@given(envelopes())
def test_the_soap_endpoint_answers_every_envelope(server, case):
    operation, body = case
    started = time.monotonic()
    reply = request(server.url("/qbwc"), "POST", body, {"Content-Type": "text/xml; charset=utf-8",
                                                        "SOAPAction": f'"{INTUIT}{operation}"'}, timeout=10)
    assert time.monotonic() - started < 10
    _check_reply(reply.status, reply.body)


def test_after_the_fuzzing_the_server_is_up_and_no_change_moved(server):
    assert call(server.url("/qbwc"), "authenticate", strUserName=USER, strPassword="wrong").strings == ["", "nvu"]
    assert statuses(server.db) == server.before  # the fuzzer never held a ticket: nothing was sent


# -- the response reader -----------------------------------------------------------------------------

SENT = SentMessage(WRITE, 1, {"c1": 1, "c2": 2, "c3": 3}, {"c1": "Customer", "c2": "Customer", "c3": "Customer"})
GOOD = response(customer_add_rs("c1", 1), customer_add_rs("c2", 2), customer_add_rs("c3", 3)).encode()


@BUDGET
@given(mutated(GOOD), st.sampled_from(["", "", "0x80040400", "0x8004040A", "garbage"]))
def test_interpret_never_raises_and_decides_every_change(data, hresult):
    text = data.decode("utf-8", "replace")
    started = time.monotonic()
    found = interpret(SENT, text, hresult, "")
    assert time.monotonic() - started < 5
    assert sorted(o.change_id for o in found.outcomes) == [1, 2, 3]
    if hresult or not text.strip():
        assert not any(isinstance(o, Synced) for o in found.outcomes)


@BUDGET
@given(st.text(max_size=300))
def test_interpret_of_any_text_never_raises(text):
    found = interpret(SENT, text, "", "")
    assert sorted(o.change_id for o in found.outcomes) == [1, 2, 3]
