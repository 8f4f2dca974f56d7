"""How the WebConnector talks to the QuickBooks side of a test: a FakeQuickBooks or any callable.

A *company* is either

* an object with ``process(request_xml)`` returning a reply with ``.xml`` (the response text,
  or None), ``.hresult`` (``""`` on success, e.g. ``"0x80040400"``) and ``.message``, or
* a plain callable ``f(request_xml) -> str`` (the response text; it may also return a reply
  object as above).

Optional hooks, used when present:

* ``qbxml_version`` (str, e.g. ``"13.0"``): the highest qbXML version QuickBooks supports,
  sent as qbXMLMajorVers / qbXMLMinorVers.
* ``company_file`` (str): the path of the open company file (strCompanyFileName).
* ``hcp_response() -> str``: the HostQuery + CompanyQuery + PreferencesQuery response sent in
  the first sendRequestXML; without it the WebConnector asks ``process`` for it.
* ``begin_session(company_file: str)``: open the company (``""`` = the one already open).
  Return None (or a reply whose ``hresult`` is ``""``) on success, or a reply with ``.hresult``
  and ``.message`` when QuickBooks cannot open it (the connectionError path); raising an
  exception with ``.hresult`` / ``.message`` attributes works too.
* ``end_session()``: called when the session ends, before closeConnection.

``process`` may raise ``ConnectionError`` (or FakeQuickBooks' ``ConnectionLost``) to say "the
message was applied but its response was lost": the WebConnector then abandons the session
without receiveResponseXML or closeConnection, as when QBWC or the network goes down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class CompanyReply:
    xml: str | None
    hresult: str = ""
    message: str = ""


def hcp_request(qbxml_version: str) -> str:
    """The Host + Company + Preferences query QBWC asks QuickBooks for before the first
    sendRequestXML. OwnerID 0 brings the public data extensions along, as in real HCP replies."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<?qbxml version="{qbxml_version}"?>'
        '<QBXML><QBXMLMsgsRq onError="continueOnError">'
        '<HostQueryRq requestID="1" />'
        '<CompanyQueryRq requestID="2"><OwnerID>0</OwnerID></CompanyQueryRq>'
        '<PreferencesQueryRq requestID="3" />'
        "</QBXMLMsgsRq></QBXML>"
    )


def as_reply(value: Any) -> CompanyReply:
    """Normalise what a company returned (text, None or a reply-like object)."""
    if value is None:
        return CompanyReply(None)
    if isinstance(value, (str, bytes)):
        return CompanyReply(value.decode("utf-8") if isinstance(value, bytes) else value)
    xml = getattr(value, "xml", None)
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8")
    return CompanyReply(xml, getattr(value, "hresult", "") or "", getattr(value, "message", "") or "")


class CompanyAdapter:
    """Wraps a company object or callable behind the few calls the WebConnector makes."""

    def __init__(self, company: Any):
        if company is None:
            raise TypeError("WebConnector needs a company: a FakeQuickBooks or a callable f(request_xml) -> str")
        process = getattr(company, "process", None)
        if callable(process):
            self._process = process
        elif callable(company):
            self._process = company
        else:
            raise TypeError("company must have a process(xml) method or be callable")
        self.company = company

    def qbxml_version(self, override: str | None) -> str:
        return override or str(getattr(self.company, "qbxml_version", None) or "13.0")

    def company_file(self, default: str) -> str:
        value = getattr(self.company, "company_file", None)
        return value if isinstance(value, str) and value else default

    def process(self, request_xml: str) -> CompanyReply:
        return as_reply(self._process(request_xml))

    def hcp_response(self, qbxml_version: str) -> CompanyReply:
        hook = getattr(self.company, "hcp_response", None)
        if callable(hook):
            return as_reply(hook())
        return self.process(hcp_request(qbxml_version))

    def begin_session(self, company_file: str) -> CompanyReply | None:
        """None when the company opened; otherwise the failure (hresult, message)."""
        hook = getattr(self.company, "begin_session", None)
        if not callable(hook):
            return None
        try:
            outcome = hook(company_file)
        except Exception as exc:  # a company that signals the failure by raising
            hresult = getattr(exc, "hresult", None)
            if not hresult:
                raise
            return CompanyReply(None, str(hresult), str(getattr(exc, "message", "") or exc))
        if outcome is None or outcome is True:
            return None
        reply = as_reply(outcome)
        return reply if reply.hresult else None

    def end_session(self) -> None:
        hook = getattr(self.company, "end_session", None)
        if callable(hook):
            hook()
