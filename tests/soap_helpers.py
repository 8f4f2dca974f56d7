"""Helpers for the SOAP-layer tests: raw HTTP against a running server, envelopes in the shapes
real clients send, and reading replies namespace-aware."""

from __future__ import annotations

import http.client
import urllib.parse
from dataclasses import dataclass

from lxml import etree

INTUIT = "http://developer.intuit.com/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {"i": INTUIT, "soap": SOAP_ENV}

ENVELOPE = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    "<soap:Body>{}</soap:Body></soap:Envelope>"
)


@dataclass
class HttpReply:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]

    def xml(self) -> etree._Element:
        return etree.fromstring(self.body, etree.XMLParser(huge_tree=True))

    def result(self, operation: str) -> etree._Element:
        found = self.xml().find(f"soap:Body/i:{operation}Response/i:{operation}Result", NS)
        assert found is not None, self.body[:500]
        return found

    def text(self, operation: str) -> str:
        return self.result(operation).text or ""


def request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 30) -> HttpReply:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return HttpReply(resp.status, resp.getheader("Content-Type", ""), data, dict(resp.getheaders()))
    finally:
        conn.close()


def post_soap(url: str, body: str | bytes, action: str | None = None, quoted: bool = True,
              content_type: str | None = "text/xml; charset=utf-8") -> HttpReply:
    headers = {}
    if content_type:
        headers["Content-Type"] = content_type
    if action is not None:
        value = f"{INTUIT}{action}"
        headers["SOAPAction"] = f'"{value}"' if quoted else value
    data = body.encode("utf-8") if isinstance(body, str) else body
    return request(url, "POST", data, headers)


def envelope(inner: str) -> str:
    return ENVELOPE.format(inner)


def call(url: str, operation: str, **values):
    """One QBWC-shaped call (envelope and headers as the Web Connector sends them), read the
    strict way the Web Connector double reads replies (raises SoapProblem on a bad reply)."""
    from qbsync.testing.web_connector.soap import build_envelope, parse_reply

    reply = post_soap(url, build_envelope(operation, values), operation)
    return parse_reply(operation, reply.status, reply.content_type, reply.body)
