"""SOAP 1.1 envelopes as QuickBooks Web Connector writes them, and strict reading of the replies.

Requests are built as text, byte for byte in the shape of real QBWC captures: XML declaration,
``soap:`` envelope with the ``xsi``/``xsd`` declarations, the operation element carrying the
default namespace ``http://developer.intuit.com/``, compact, empty values as ``<name />``, and
qbXML entity-escaped inside string elements (``&``, ``<``, ``>``; quotes are left alone, as
.NET's serializer does).

Replies are parsed namespace-aware (prefixes never matter) and checked the way the real client
would read them; every departure raises :class:`SoapProblem` with the QBWC error code QBWC
would report for that operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from qbsync.qbxml import safexml

INTUIT_NS = "http://developer.intuit.com/"
SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

# Parameters of each operation, in WSDL order (document/literal wrapped).
OPERATION_PARAMS: dict[str, tuple[str, ...]] = {
    "serverVersion": (),
    "clientVersion": ("strVersion",),
    "authenticate": ("strUserName", "strPassword"),
    "connectionError": ("ticket", "hresult", "message"),
    "sendRequestXML": (
        "ticket",
        "strHCPResponse",
        "strCompanyFileName",
        "qbXMLCountry",
        "qbXMLMajorVers",
        "qbXMLMinorVers",
    ),
    "receiveResponseXML": ("ticket", "response", "hresult", "message"),
    "getLastError": ("ticket",),
    "closeConnection": ("ticket",),
}

# The client error QBWC reports when a callback fails (Programmer's Guide, appendix A).
QBWC_ERROR_CODES = {
    "authenticate": "QBWC1012",
    "sendRequestXML": "QBWC1041",
    "receiveResponseXML": "QBWC1042",
    "getLastError": "QBWC1043",
    "closeConnection": "QBWC1044",
    "connectionError": "QBWC1045",
    "clientVersion": "QBWC1037",
    "serverVersion": "QBWC1037",
}

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<soap:Envelope xmlns:soap="{SOAP11_NS}" xmlns:xsi="{XSI_NS}" '
    'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
)
_ENVELOPE_CLOSE = "</soap:Body></soap:Envelope>"

_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")  # what .NET's XmlConvert.ToInt32 accepts


def escape_text(value: str) -> str:
    """Escape a string for element content: ``&``, ``<``, ``>``, and a carriage return as a
    character reference so that it survives XML line-end normalisation."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", "&#xD;")
    )


def soap_action(operation: str) -> str:
    """The SOAPAction header value, with the double quotes QBWC sends."""
    return f'"{INTUIT_NS}{operation}"'


def build_envelope(operation: str, values: dict[str, str | int | None] | None = None) -> bytes:
    """The request envelope for `operation`; `values` maps each WSDL parameter to its value
    (missing or empty ones are written as an empty element, as QBWC does)."""
    names = OPERATION_PARAMS[operation]
    values = values or {}
    unknown = set(values) - set(names)
    if unknown:
        raise ValueError(f"{operation} has no parameter(s) {sorted(unknown)}")
    if not names:
        body = f'<{operation} xmlns="{INTUIT_NS}" />'
    else:
        parts = []
        for name in names:
            value = values.get(name)
            text = "" if value is None else escape_text(str(value))
            parts.append(f"<{name}>{text}</{name}>" if text else f"<{name} />")
        body = f'<{operation} xmlns="{INTUIT_NS}">{"".join(parts)}</{operation}>'
    return (_ENVELOPE_OPEN + body + _ENVELOPE_CLOSE).encode("utf-8")


class SoapProblem(Exception):
    """A reply QBWC would not accept. `code` is the QBWC client error for the operation;
    `kind` is ``"http"``, ``"fault"``, ``"xml"`` or ``"protocol"``."""

    def __init__(self, operation: str, kind: str, detail: str):
        self.operation = operation
        self.kind = kind
        self.detail = detail
        self.code = QBWC_ERROR_CODES.get(operation, "QBWC1042")
        super().__init__(f"{self.code}: {operation}: {detail}")


@dataclass
class Reply:
    """The result element of a reply: `text` (None when absent or xsi:nil) and, for
    authenticate, `strings` (the ArrayOfString values)."""

    text: str | None
    strings: list[str | None] | None = None
    present: bool = True


_PARSER = safexml.parser()


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _ns(tag: object) -> str | None:
    return etree.QName(tag).namespace if isinstance(tag, str) else None


def _elements(node: etree._Element) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str)]


def _describe(el: etree._Element) -> str:
    ns = _ns(el.tag)
    return f"<{_local(el.tag)}> in namespace {ns!r}" if ns else f"<{_local(el.tag)}> without a namespace"


def _is_nil(el: etree._Element) -> bool:
    return el.get(f"{{{XSI_NS}}}nil") in ("true", "1")


def _fault_text(fault: etree._Element) -> str:
    for el in fault.iter():
        if _local(el.tag) in ("faultstring", "Text") and el.text:
            return el.text.strip()
    return "SOAP Fault"


def _string_value(operation: str, el: etree._Element) -> str | None:
    if _is_nil(el):
        return None
    children = _elements(el)
    if children:
        raise SoapProblem(
            operation,
            "protocol",
            f"<{_local(el.tag)}> contains XML element {_describe(children[0])}; "
            "a string result must be entity-escaped text",
        )
    return "".join(el.xpath("text()"))  # all text nodes, also those around comments


def parse_reply(operation: str, status: int, content_type: str, body: bytes) -> Reply:
    """Read the reply to `operation` as QBWC does; raise :class:`SoapProblem` when QBWC would
    fail the call (HTTP error, SOAP Fault, not well-formed XML, wrong element names or namespace,
    `<item>` instead of `<string>`, a non-integer receiveResponseXML result...)."""
    root = None
    if body.strip():
        try:
            root = etree.fromstring(body, _PARSER)
        except etree.XMLSyntaxError as exc:
            if status == 200:
                raise SoapProblem(operation, "xml", f"Response is not well-formed XML ({exc})") from None
    if status != 200:
        fault = _find_fault(root)
        if fault is not None:
            raise SoapProblem(operation, "fault", f"HTTP {status}, SOAP Fault: {_fault_text(fault)}")
        raise SoapProblem(operation, "http", f"HTTP {status} from the web service")
    if root is None:
        raise SoapProblem(operation, "xml", "Response is empty, not a SOAP envelope")
    if _local(root.tag) != "Envelope" or _ns(root.tag) not in (SOAP11_NS, SOAP12_NS):
        raise SoapProblem(operation, "protocol", f"the reply root is {_describe(root)}, not a SOAP Envelope")
    if _ns(root.tag) != SOAP11_NS:
        raise SoapProblem(operation, "protocol", "the reply is a SOAP 1.2 envelope; QBWC speaks SOAP 1.1")
    bodies = [c for c in _elements(root) if _local(c.tag) == "Body" and _ns(c.tag) == SOAP11_NS]
    if len(bodies) != 1:
        raise SoapProblem(operation, "protocol", "the envelope has no soap:Body")
    content = _elements(bodies[0])
    if len(content) == 1 and _local(content[0].tag) == "Fault":
        raise SoapProblem(operation, "fault", f"SOAP Fault: {_fault_text(content[0])}")
    if len(content) != 1:
        raise SoapProblem(operation, "protocol", f"soap:Body holds {len(content)} elements instead of one")
    wrapper = content[0]
    expected = f"{operation}Response"
    if _local(wrapper.tag) != expected or _ns(wrapper.tag) != INTUIT_NS:
        raise SoapProblem(
            operation, "protocol", f"expected <{expected}> in namespace {INTUIT_NS!r}, got {_describe(wrapper)}"
        )
    result_name = f"{operation}Result"
    results = _elements(wrapper)
    others = [c for c in results if not (_local(c.tag) == result_name and _ns(c.tag) == INTUIT_NS)]
    if others:
        raise SoapProblem(
            operation,
            "protocol",
            f"<{expected}> holds {_describe(others[0])}; expected only <{result_name}> in namespace {INTUIT_NS!r}",
        )
    if len(results) > 1:
        raise SoapProblem(operation, "protocol", f"<{expected}> holds {len(results)} <{result_name}> elements")
    if not results:
        if operation == "receiveResponseXML":
            raise SoapProblem(operation, "protocol", f"<{result_name}> is missing; an integer is required")
        return Reply(None, [] if operation == "authenticate" else None, present=False)
    result = results[0]
    if operation == "authenticate":
        return Reply(None, _array_of_string(result))
    text = _string_value(operation, result)
    if operation == "receiveResponseXML" and (text is None or not _INT_RE.match(text)):
        raise SoapProblem(
            operation, "protocol", f"<{result_name}> must be a plain integer, got {text!r}"
        )
    return Reply(text)


def _array_of_string(result: etree._Element) -> list[str | None]:
    if _is_nil(result):
        return []
    values: list[str | None] = []
    for child in _elements(result):
        if _local(child.tag) != "string" or _ns(child.tag) != INTUIT_NS:
            raise SoapProblem(
                "authenticate",
                "protocol",
                f"<authenticateResult> must hold <string> elements in namespace {INTUIT_NS!r}, "
                f"found {_describe(child)}",
            )
        values.append(_string_value("authenticate", child))
    if not values and (result.text or "").strip():
        raise SoapProblem(
            "authenticate", "protocol", "<authenticateResult> is a bare string, not an ArrayOfString"
        )
    return values


def _find_fault(root: etree._Element | None) -> etree._Element | None:
    if root is None:
        return None
    for el in root.iter():
        if _local(el.tag) == "Fault" and _ns(el.tag) in (SOAP11_NS, SOAP12_NS):
            return el
    return None
