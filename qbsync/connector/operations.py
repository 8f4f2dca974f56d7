"""The QuickBooks Web Connector operations as plain data: the one description both the WSDL we
serve and the spyne service are checked against.

Names, order, types and minOccurs follow Intuit's WSDLs (document/literal wrapped, namespace
``http://developer.intuit.com/``): every string is ``minOccurs="0"``; the two qbXML version
numbers and the receiveResponseXML result are ``int`` with ``minOccurs="1"``; authenticate returns
an ``ArrayOfString`` of ``<string>`` children. The three interactive operations take the names of
Intuit's C# sample service. serverVersion declares an optional ``strVersion``: real QBWC sends the
element empty, the community WSDL has the child, and we accept both.
"""

from __future__ import annotations

from dataclasses import dataclass

INTUIT_NS = "http://developer.intuit.com/"

STRING = "string"
INT = "int"
ARRAY_OF_STRING = "ArrayOfString"


@dataclass(frozen=True)
class Param:
    name: str
    type: str = STRING

    @property
    def min_occurs(self) -> int:
        # Intuit's WSDLs: strings (reference types in .NET) may be absent, ints may not.
        return 1 if self.type == INT else 0


@dataclass(frozen=True)
class Operation:
    name: str
    params: tuple[Param, ...]
    result_type: str = STRING

    @property
    def result(self) -> Param:
        return Param(f"{self.name}Result", self.result_type)

    @property
    def response_element(self) -> str:
        return f"{self.name}Response"

    @property
    def soap_action(self) -> str:
        """The soapAction URI as the WSDL binding gives it (QBWC's HTTP header adds quotes)."""
        return f"{INTUIT_NS}{self.name}"


def _p(*names: str) -> tuple[Param, ...]:
    return tuple(Param(n) for n in names)


OPERATIONS: tuple[Operation, ...] = (
    Operation("serverVersion", _p("strVersion")),
    Operation("clientVersion", _p("strVersion")),
    Operation("authenticate", _p("strUserName", "strPassword"), ARRAY_OF_STRING),
    Operation(
        "sendRequestXML",
        (*_p("ticket", "strHCPResponse", "strCompanyFileName", "qbXMLCountry"),
         Param("qbXMLMajorVers", INT), Param("qbXMLMinorVers", INT)),
    ),
    Operation("receiveResponseXML", _p("ticket", "response", "hresult", "message"), INT),
    Operation("connectionError", _p("ticket", "hresult", "message")),
    Operation("getLastError", _p("ticket")),
    Operation("closeConnection", _p("ticket")),
    Operation("getInteractiveURL", _p("wcTicket", "sessionID")),
    Operation("interactiveDone", _p("wcTicket")),
    Operation("interactiveRejected", _p("wcTicket", "reason")),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
