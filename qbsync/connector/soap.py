"""The QBWC SOAP service on spyne: each operation unpacks its parameters, calls the matching
ConnectorService method with plain Python values, and hands the result back to spyne.

The wire shape is pinned down by :mod:`qbsync.connector.operations`: :func:`check_against_table`
verifies, when the application is built, that spyne's idea of every operation (element names,
order, types) is the table's, so the WSDL we serve and what spyne parses never drift apart.
Leniency is deliberate: no schema validation of requests (QBWC sends ``<hresult />``, an empty
``<serverVersion />``, sometimes prefixes like ``q1:``); absent strings become ``""`` and absent
ints ``0`` before the service sees them.
"""

from __future__ import annotations

import codecs
import inspect
import logging
import re
from typing import Any

import spyne.const
from spyne import Application, Array, Fault, Integer32, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11

from qbsync.qbxml import safexml
from qbsync.qbxml.xmlchars import without_invalid_xml_chars
from qbsync.connector.operations import ARRAY_OF_STRING, INT, INTUIT_NS, OPERATIONS


# authenticate's result: <string> children in the Intuit namespace (spyne names the children
# after the item type, Unicode's "string"; the type name must be .NET's ArrayOfString).
ArrayOfString = Array(Unicode, type_name=ARRAY_OF_STRING)

_log = logging.getLogger("qbsync.soap")

# spyne ends a call with a full gc.collect() when the last was over a second ago (to close the
# files of uploads promptly; this service takes none): tens of milliseconds on a busy server's
# heap, most of a batch's CPU. Python's own collector still runs; this keeps one every 10 minutes.
spyne.const.MIN_GC_INTERVAL = 600.0


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _clean(value: Any) -> str:
    text = _text(value)
    return without_invalid_xml_chars(text)  # a result holding one would fail to serialize


# Where the WSGI app leaves the client's address (qbsync.connector.app.CLIENT_ADDRESS_KEY).
_CLIENT_ADDRESS_KEY = "qbsync.client_address"


def _call(ctx: Any, operation: str, *args: Any) -> Any:
    """Call the ConnectorService method for `operation`; an exception becomes a SOAP Fault
    (QBWC then reports its per-method error and ends the session) and one log line."""
    service = ctx.app.qbsync_service
    method = getattr(service, _METHODS[operation])
    try:
        return method(*args)
    except Exception as exc:
        # The message names the failure, never the call's arguments (tickets, passwords).
        ctx.app.qbsync_log(f"{operation} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
        raise Fault("Server", f"qbsync could not answer {operation}: {type(exc).__name__}") from None


# SOAP operation -> ConnectorService method.
_METHODS = {
    "serverVersion": "server_version",
    "clientVersion": "client_version",
    "authenticate": "authenticate",
    "sendRequestXML": "send_request_xml",
    "receiveResponseXML": "receive_response_xml",
    "connectionError": "connection_error",
    "getLastError": "get_last_error",
    "closeConnection": "close_connection",
    "getInteractiveURL": "get_interactive_url",
    "interactiveDone": "interactive_done",
    "interactiveRejected": "interactive_rejected",
}


def _result(name: str) -> dict[str, Any]:
    # spyne names the wrapper <name>Response by default; the result element needs naming.
    return {"_out_variable_name": f"{name}Result"}


class QbwcService(ServiceBase):
    """The Web Connector callbacks (names and parameters exactly as in Intuit's WSDL)."""

    @rpc(Unicode, _returns=Unicode, **_result("serverVersion"))
    def serverVersion(ctx, strVersion):  # noqa: N802,N803 - QBWC's names
        return _clean(_call(ctx, "serverVersion"))

    @rpc(Unicode, _returns=Unicode, **_result("clientVersion"))
    def clientVersion(ctx, strVersion):  # noqa: N802,N803
        return _clean(_call(ctx, "clientVersion", _text(strVersion)))

    @rpc(Unicode, Unicode, _returns=ArrayOfString, **_result("authenticate"))
    def authenticate(ctx, strUserName, strPassword):  # noqa: N803
        extra = []
        if ctx.app.qbsync_takes_address:  # the login lockout counts failures per address too
            environ = getattr(ctx.transport, "req_env", None) or {}
            extra.append(environ.get(_CLIENT_ADDRESS_KEY) or environ.get("REMOTE_ADDR") or None)
        values = _call(ctx, "authenticate", _text(strUserName), _text(strPassword), *extra)
        return [_clean(v) for v in values or ()]

    @rpc(Unicode, Unicode, Unicode, Unicode, Integer32, Integer32, _returns=Unicode, **_result("sendRequestXML"))
    def sendRequestXML(ctx, ticket, strHCPResponse, strCompanyFileName, qbXMLCountry,  # noqa: N802,N803
                       qbXMLMajorVers, qbXMLMinorVers):
        return _clean(_call(
            ctx, "sendRequestXML", _text(ticket), _text(strHCPResponse), _text(strCompanyFileName),
            _text(qbXMLCountry), int(qbXMLMajorVers or 0), int(qbXMLMinorVers or 0),
        ))

    @rpc(Unicode, Unicode, Unicode, Unicode, _returns=Integer32, **_result("receiveResponseXML"))
    def receiveResponseXML(ctx, ticket, response, hresult, message):  # noqa: N802
        percent = _call(ctx, "receiveResponseXML", _text(ticket), _text(response), _text(hresult), _text(message))
        return int(percent)

    @rpc(Unicode, Unicode, Unicode, _returns=Unicode, **_result("connectionError"))
    def connectionError(ctx, ticket, hresult, message):  # noqa: N802
        return _clean(_call(ctx, "connectionError", _text(ticket), _text(hresult), _text(message)))

    @rpc(Unicode, _returns=Unicode, **_result("getLastError"))
    def getLastError(ctx, ticket):  # noqa: N802
        return _clean(_call(ctx, "getLastError", _text(ticket)))

    @rpc(Unicode, _returns=Unicode, **_result("closeConnection"))
    def closeConnection(ctx, ticket):  # noqa: N802
        return _clean(_call(ctx, "closeConnection", _text(ticket)))

    @rpc(Unicode, Unicode, _returns=Unicode, **_result("getInteractiveURL"))
    def getInteractiveURL(ctx, wcTicket, sessionID):  # noqa: N802,N803
        return _clean(_call(ctx, "getInteractiveURL", _text(wcTicket), _text(sessionID)))

    @rpc(Unicode, _returns=Unicode, **_result("interactiveDone"))
    def interactiveDone(ctx, wcTicket):  # noqa: N802,N803
        return _clean(_call(ctx, "interactiveDone", _text(wcTicket)))

    @rpc(Unicode, Unicode, _returns=Unicode, **_result("interactiveRejected"))
    def interactiveRejected(ctx, wcTicket, reason):  # noqa: N802,N803
        return _clean(_call(ctx, "interactiveRejected", _text(wcTicket), _text(reason)))


def _spyne_type(cls: Any) -> str:
    if issubclass(cls, Integer32):
        return INT
    if issubclass(cls, Unicode):
        return "string"
    if getattr(cls, "__type_name__", None) == ARRAY_OF_STRING:
        return ARRAY_OF_STRING
    return repr(cls)


def check_against_table(app: Application) -> None:
    """Raise AssertionError when spyne's operations differ from :data:`OPERATIONS`."""
    methods = {}
    for descriptors in app.interface.service_method_map.values():
        for d in descriptors:
            methods[d.name] = d
    assert set(methods) == {op.name for op in OPERATIONS}, sorted(methods)
    for op in OPERATIONS:
        d = methods[op.name]
        params = [(name, _spyne_type(cls)) for name, cls in d.in_message._type_info.items()]
        assert d.in_message.get_type_name() == op.name, (op.name, d.in_message.get_type_name())
        assert params == [(p.name, p.type) for p in op.params], (op.name, params)
        assert d.out_message.get_type_name() == op.response_element, (op.name, d.out_message.get_type_name())
        results = [(name, _spyne_type(cls)) for name, cls in d.out_message._type_info.items()]
        assert results == [(op.result.name, op.result.type)], (op.name, results)


_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'


def _declare(ctx: Any) -> None:
    if ctx.out_string is not None:
        ctx.out_string = [_DECLARATION, *ctx.out_string]


class _Soap11In(Soap11):
    """spyne's SOAP 1.1 reader, stricter where the envelope comes from outside.

    - A DOCTYPE is refused (Client fault): spyne's parser already resolves no entity and
      loads no DTD, and libxml2 caps entity amplification; the envelope of a Web Connector
      never has one, so one is an attack or a mistake either way.
    - A body declared UTF-8 goes to lxml as bytes: spyne would first decode it into a
      Python string (and, since the envelope declares its encoding, encode it back), three
      copies of a body that may be 100 MB. Invalid UTF-8 then becomes lxml's Client fault,
      not a UnicodeDecodeError. An unknown charset is a Client fault.
    """

    def create_in_document(self, ctx: Any, charset: str | None = None) -> None:
        if charset:
            try:
                if codecs.lookup(charset).name == "utf-8":
                    charset = None
            except LookupError:
                raise Fault("Client.UnsupportedCharset", f"unknown charset {charset[:40]!r}") from None
        super().create_in_document(ctx, charset)
        root = ctx.in_document[0] if isinstance(ctx.in_document, tuple) else ctx.in_document
        if safexml.has_doctype(root.getroottree()):
            raise Fault("Client.DoctypeRefused", f"SOAP envelope refused: {safexml.DOCTYPE_REFUSED}")


def _takes_address(service: Any) -> bool:
    """Whether the service's authenticate takes a third argument, `client_address`
    (ConnectorService does; a stand-in with the plain (username, password) signature keeps working)."""
    try:
        return "client_address" in inspect.signature(service.authenticate).parameters
    except (AttributeError, TypeError, ValueError):
        return False


def make_application(service: Any, log: Any = None) -> Application:
    """The spyne Application for `service` (a ConnectorService or anything with its methods).

    `log` is a callable taking one line of text (default: the ``qbsync.soap`` logger)."""
    app = Application(
        [QbwcService],
        tns=INTUIT_NS,
        name="QBWebConnectorSvc",
        # huge_tree: a qbXML query response is one text node that can be tens of MB.
        in_protocol=_Soap11In(validator=None, huge_tree=True),
        # lxml's declaration uses single quotes and a line break; write the usual one ourselves.
        out_protocol=Soap11(pretty_print=False, xml_declaration=False),
    )
    app.event_manager.add_listener("method_return_string", _declare)
    app.event_manager.add_listener("method_exception_string", _declare)
    app.qbsync_service = service
    app.qbsync_takes_address = _takes_address(service)
    app.qbsync_log = log or _log.warning
    check_against_table(app)
    return app
