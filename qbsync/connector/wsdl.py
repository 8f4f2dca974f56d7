"""The WSDL served at ``GET /qbwc?wsdl``, generated from :mod:`qbsync.connector.operations`.

Shaped like Intuit's ASP.NET WSDLs for the Web Connector service: one schema in
``http://developer.intuit.com/`` with ``elementFormDefault="qualified"``, an ``<op>`` and
``<op>Response`` element per operation, the ``ArrayOfString`` type of nillable ``<string>``
elements, ``<op>SoapIn``/``<op>SoapOut`` messages with a single ``parameters`` part, and a SOAP
1.1 document/literal binding whose soapAction values are the unquoted
``http://developer.intuit.com/<op>`` URIs. spyne's own generated WSDL differs (array and message
naming, soapAction), so we describe the service ourselves and test that spyne's wire behaviour
matches this description.
"""

from __future__ import annotations

from lxml import etree

from qbsync.connector.operations import ARRAY_OF_STRING, INT, INTUIT_NS, OPERATIONS, Operation, Param

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
SOAP_HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"

SERVICE_NAME = "QBWebConnectorSvc"
PORT_TYPE_NAME = "QBWebConnectorSvcSoap"

_NSMAP = {"wsdl": WSDL_NS, "soap": SOAP_BINDING_NS, "s": XSD_NS, "tns": INTUIT_NS}


def _w(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{WSDL_NS}}}{tag}", attrs)


def _s(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{XSD_NS}}}{tag}", attrs)


def _soap(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{SOAP_BINDING_NS}}}{tag}", attrs)


def _xsd_type(type_: str) -> str:
    return f"tns:{ARRAY_OF_STRING}" if type_ == ARRAY_OF_STRING else f"s:{type_}"


def _element_decl(parent: etree._Element, p: Param) -> None:
    _s(parent, "element", minOccurs=str(p.min_occurs), maxOccurs="1", name=p.name, type=_xsd_type(p.type))


def _wrapper(schema: etree._Element, name: str, children: tuple[Param, ...]) -> None:
    ctype = _s(_s(schema, "element", name=name), "complexType")
    if children:
        seq = _s(ctype, "sequence")
        for p in children:
            _element_decl(seq, p)


def _types(root: etree._Element, operations: tuple[Operation, ...]) -> None:
    schema = _s(_w(root, "types"), "schema", elementFormDefault="qualified", targetNamespace=INTUIT_NS)
    for op in operations:
        _wrapper(schema, op.name, op.params)
        _wrapper(schema, op.response_element, (op.result,))
    seq = _s(_s(schema, "complexType", name=ARRAY_OF_STRING), "sequence")
    _s(seq, "element", minOccurs="0", maxOccurs="unbounded", name="string", nillable="true", type="s:string")


def build_wsdl(location: str, operations: tuple[Operation, ...] = OPERATIONS) -> bytes:
    """The WSDL document (UTF-8 bytes) with `location` as the service address."""
    assert all(p.type in ("string", INT) for op in operations for p in op.params)
    root = etree.Element(f"{{{WSDL_NS}}}definitions", nsmap=_NSMAP, targetNamespace=INTUIT_NS)
    _w(root, "documentation").text = "qbsync: QuickBooks Web Connector service (SOAP 1.1, document/literal)"
    _types(root, operations)
    for op in operations:
        for suffix, element in (("SoapIn", op.name), ("SoapOut", op.response_element)):
            _w(_w(root, "message", name=f"{op.name}{suffix}"), "part", name="parameters", element=f"tns:{element}")
    port_type = _w(root, "portType", name=PORT_TYPE_NAME)
    for op in operations:
        o = _w(port_type, "operation", name=op.name)
        _w(o, "input", message=f"tns:{op.name}SoapIn")
        _w(o, "output", message=f"tns:{op.name}SoapOut")
    binding = _w(root, "binding", name=PORT_TYPE_NAME, type=f"tns:{PORT_TYPE_NAME}")
    _soap(binding, "binding", transport=SOAP_HTTP_TRANSPORT, style="document")
    for op in operations:
        o = _w(binding, "operation", name=op.name)
        _soap(o, "operation", soapAction=op.soap_action, style="document")
        for direction in ("input", "output"):
            _soap(_w(o, direction), "body", use="literal")
    port = _w(_w(root, "service", name=SERVICE_NAME), "port", name=PORT_TYPE_NAME, binding=f"tns:{PORT_TYPE_NAME}")
    _soap(port, "address", location=location)
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)
