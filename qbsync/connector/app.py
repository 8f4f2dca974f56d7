"""The HTTP side of the connector: one WSGI app and the waitress server that runs it.

Routes:

- ``POST <path>`` (default ``/qbwc``): the QBWC SOAP service (spyne, SOAP 1.1);
- ``GET <path>?wsdl``: the WSDL (:mod:`qbsync.connector.wsdl`);
- ``GET /support``: the read-only status page (the .qwc AppSupport URL must answer 200);
- ``GET /healthz``: ``ok`` (200), or 503 when the store cannot be opened;
- anything else: 404 (405 for a wrong method on a known path).

Behind a reverse proxy that ends TLS, ``behind_proxy=True`` takes the scheme and host of the
absolute URLs the app writes (the WSDL's ``soap:address``) from ``X-Forwarded-Proto`` and
``X-Forwarded-Host``. It is off by default: on a direct connection any client can send them.

In tests::

    app = make_wsgi_app(service, path="/qbwc")
    with serve(app, "127.0.0.1", 0) as server:   # waitress in a background thread
        url = server.url("/qbwc")                # server.port: the bound port
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from qbsync.connector.soap import make_application
from qbsync.connector.wsdl import build_wsdl

MB = 1024 * 1024
# The HTTP limits, set deliberately (waitress' own defaults are a 1 GiB body and 120 s), each a
# `serve-connector` option. qbXML responses travel inside one SOAP string and can be tens of MB
# (a 50 MB query response is about 69 MB on the wire once escaped): 100 MB leaves room for that,
# and a body claiming more is answered 413 from its Content-Length, before a byte of it is read
# (a chunked body is cut off, 413, as soon as it passes the limit).
DEFAULT_MAX_BODY_MB = 100
MAX_BODY_BYTES = DEFAULT_MAX_BODY_MB * MB
# Connections open at once (waitress' connection_limit); beyond it new connections wait in the
# listen backlog until one closes. The Web Connector uses one connection at a time per PC. With
# more PCs at once the others wait for a session to end, none is refused (benchmarks/bench_many:
# 200 at once all complete); a higher limit serves the same sessions per second, but all of them
# at once, so every call waits longer (p50 1.5 s at 100, 2.3–4 s at 250).
DEFAULT_CONNECTION_LIMIT = 100
# Seconds a connection may stay silent, mid-request or between requests, before it is closed
# (waitress' channel_timeout): a slow QuickBooks PC uploading a big response keeps sending.
DEFAULT_IDLE_TIMEOUT = 300
# Request line and headers together (waitress' default is 256 KiB); QBWC sends a few hundred bytes.
MAX_HEADER_BYTES = 64 * 1024
# The client address the app works out for each SOAP request (for the login lockout).
CLIENT_ADDRESS_KEY = "qbsync.client_address"
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"

_FAULT = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
    "<faultcode>soap:Server</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>"
)

Log = Callable[[str], None]
StartResponse = Callable[..., Any]


def _quiet_spyne() -> None:
    # spyne logs every fault with a traceback; we log one line per fault ourselves.
    spyne_log = logging.getLogger("spyne")
    if not spyne_log.handlers:
        spyne_log.addHandler(logging.NullHandler())
    spyne_log.propagate = False


class ConnectorApp:
    """The WSGI callable. `service` answers the SOAP calls; `db_path` is the store the
    /support and /healthz pages read (default: ``service.db_path``)."""

    def __init__(self, service: Any, path: str = "/qbwc", *, db_path: Any = None,
                 log: Log | logging.Logger | None = None, behind_proxy: bool = False,
                 max_body_bytes: int = MAX_BODY_BYTES):
        from spyne.server.wsgi import WsgiApplication

        if not path.startswith("/"):
            path = "/" + path
        self.path = path.rstrip("/") or "/"
        self.db_path = db_path if db_path is not None else getattr(service, "db_path", None)
        self.behind_proxy = behind_proxy
        self.max_body_bytes = int(max_body_bytes)
        if log is None:
            log = logging.getLogger("qbsync.soap")
        self.log: Log = log.warning if isinstance(log, logging.Logger) else log
        _quiet_spyne()
        # block_length: spyne reads the body in blocks and joins them, a second copy of a body
        # that may be 100 MB; read in one block, the join hands back that one bytes object.
        self.soap = WsgiApplication(make_application(service, self.log), max_content_length=self.max_body_bytes,
                                    block_length=self.max_body_bytes)
        self.soap.event_manager.add_listener("wsgi_exception", self._on_fault)

    # -- routing --------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            return self._route(environ, start_response)
        except (UnicodeError, LookupError) as exc:  # the body is not in the charset it names
            self.log(f"SOAP fault for request (Client): {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
            if self._is_soap_path(environ):
                return _client_fault(start_response, "the request is not valid text in the charset it names")
            return _respond(start_response, "400 Bad Request", "text/plain; charset=utf-8", b"bad request\n")
        except Exception as exc:  # the last line of defence: never a traceback page
            self.log(f"internal error on {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}: "
                     f"{type(exc).__name__}: {exc}")
            if self._is_soap_path(environ):
                body = _FAULT.format("qbsync: internal error").encode("utf-8")
                return _respond(start_response, "500 Internal Server Error", SOAP_CONTENT_TYPE, body)
            return _respond(start_response, "500 Internal Server Error", "text/plain; charset=utf-8",
                            b"internal error\n")

    def _is_soap_path(self, environ: dict[str, Any]) -> bool:
        return (environ.get("PATH_INFO") or "/").rstrip("/") == self.path.rstrip("/")

    def _route(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = (environ.get("PATH_INFO") or "/").rstrip("/") or "/"
        head = method == "HEAD"
        if path == self.path:
            if method == "POST":
                return self._soap(environ, start_response)
            if method in ("GET", "HEAD") and _wants_wsdl(environ.get("QUERY_STRING", "")):
                body = build_wsdl(_request_url(environ, self.path, behind_proxy=self.behind_proxy))
                return _respond(start_response, "200 OK", SOAP_CONTENT_TYPE, body, head=head)
            return _respond(
                start_response, "405 Method Not Allowed", "text/plain; charset=utf-8",
                b"This is the QuickBooks Web Connector SOAP endpoint: POST SOAP 1.1 requests here; "
                b"the WSDL is at ?wsdl\n", extra=[("Allow", "POST, GET")], head=head,
            )
        if path in ("/support", "/healthz"):
            if method not in ("GET", "HEAD"):
                return _respond(start_response, "405 Method Not Allowed", "text/plain; charset=utf-8",
                                b"method not allowed\n", extra=[("Allow", "GET, HEAD")])
            if path == "/healthz":
                return self._healthz(start_response, head)
            return self._support(start_response, head)
        return _respond(start_response, "404 Not Found", "text/plain; charset=utf-8", b"not found\n", head=head)

    # -- SOAP -----------------------------------------------------------------------------

    def _soap(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # spyne refuses a POST without Content-Type; QBWC always sends one, some tools don't.
        if not environ.get("CONTENT_TYPE"):
            environ["CONTENT_TYPE"] = SOAP_CONTENT_TYPE
        environ["QUERY_STRING"] = ""  # ?wsdl on a POST must not turn it into a WSDL request
        environ[CLIENT_ADDRESS_KEY] = client_address(environ, behind_proxy=self.behind_proxy)
        if str(environ.get("CONTENT_LENGTH") or "0").strip() in ("", "0"):
            self.log("SOAP fault for request (Client): empty request body")
            return _client_fault(start_response, "the request has no body: POST a SOAP 1.1 envelope")
        return self.soap(environ, start_response)

    def _on_fault(self, ctx: Any) -> None:
        error = getattr(ctx, "out_error", None)
        text = str(getattr(error, "faultstring", "") or error or "")
        if text.startswith("qbsync could not answer"):
            return  # already logged, with the cause, where it happened
        operation = (ctx.method_request_string or "").rpartition("}")[2]
        if not operation:  # the body never parsed: name what the client said it was calling
            action = (getattr(ctx.transport, "req_env", None) or {}).get("HTTP_SOAPACTION", "")
            operation = action.strip('"').rpartition("/")[2][:60] or "request"
        code = getattr(error, "faultcode", "") or "Fault"
        self.log(f"SOAP fault for {operation} ({code}): {' '.join(text.split())[:300]}")

    # -- pages ----------------------------------------------------------------------------

    def _healthz(self, start_response: StartResponse, head: bool) -> Iterable[bytes]:
        from qbsync.connector.support import store_is_healthy

        ok, reason = store_is_healthy(self.db_path)
        if ok:
            return _respond(start_response, "200 OK", "text/plain; charset=utf-8", b"ok", head=head)
        return _respond(start_response, "503 Service Unavailable", "text/plain; charset=utf-8",
                        f"store unavailable: {reason}\n".encode(), head=head)

    def _support(self, start_response: StartResponse, head: bool) -> Iterable[bytes]:
        from qbsync.connector.support import render_support_page

        status, html = render_support_page(self.db_path, soap_path=self.path)
        return _respond(start_response, status, "text/html; charset=utf-8", html.encode("utf-8"), head=head,
                        extra=[("Cache-Control", "no-store")])


def make_wsgi_app(
    service: Any, path: str = "/qbwc", *, db_path: Any = None, log: Log | logging.Logger | None = None,
    behind_proxy: bool = False, max_body_bytes: int = MAX_BODY_BYTES,
) -> ConnectorApp:
    """The WSGI app serving `service` at `path`, plus the WSDL, /support and /healthz.
    `log`: a logger (faults go to its warning level) or a callable taking one line.
    `behind_proxy`: trust X-Forwarded-Proto / X-Forwarded-Host for the URLs the app writes, and
    X-Forwarded-For for the client's address. `max_body_bytes`: the largest SOAP request read
    (the server, see `RunningServer`, refuses larger ones with 413 before the app sees them)."""
    return ConnectorApp(service, path, db_path=db_path, log=log, behind_proxy=behind_proxy,
                        max_body_bytes=max_body_bytes)


def _client_fault(start_response: StartResponse, text: str) -> list[bytes]:
    from xml.sax.saxutils import escape

    body = _FAULT.replace("soap:Server", "soap:Client").format(escape(text)).encode("utf-8")
    return _respond(start_response, "500 Internal Server Error", SOAP_CONTENT_TYPE, body)


def _respond(start_response: StartResponse, status: str, content_type: str, body: bytes, *,
             extra: list[tuple[str, str]] | None = None, head: bool = False) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *(extra or [])]
    start_response(status, headers)
    return [] if head else [body]


def _wants_wsdl(query: str) -> bool:
    return any(key.lower() == "wsdl" for key, _ in parse_qsl(query, keep_blank_values=True))


# A host name, IPv4 address or bracketed IPv6 address, with an optional port: nothing that could
# change the meaning of the URL it goes into.
_HOST_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _forwarded(environ: dict[str, Any], header: str) -> str:
    """The first (client-side) value of a forwarded header; proxies in a chain append theirs."""
    return str(environ.get(header) or "").split(",")[0].strip()


_ADDRESS_RE = re.compile(r"[0-9A-Fa-f:.]{2,45}")


def client_address(environ: dict[str, Any], *, behind_proxy: bool = False) -> str:
    """The address the request came from: the connection's peer, or behind a proxy the last
    X-Forwarded-For entry (the one our proxy added; earlier entries are whatever the client sent)."""
    if behind_proxy:
        forwarded = str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",")[-1].strip().strip("[]")
        if _ADDRESS_RE.fullmatch(forwarded):
            return forwarded
    return str(environ.get("REMOTE_ADDR") or "")


def _request_url(environ: dict[str, Any], path: str, *, behind_proxy: bool = False) -> str:
    """The absolute URL of `path` as the client sees it. Behind a proxy, X-Forwarded-Proto
    (http or https) and X-Forwarded-Host replace the connection's scheme and Host header;
    a malformed value is ignored."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    if behind_proxy:
        proto = _forwarded(environ, "HTTP_X_FORWARDED_PROTO").lower()
        if proto in ("http", "https"):
            scheme = proto
        forwarded_host = _forwarded(environ, "HTTP_X_FORWARDED_HOST")
        if forwarded_host and _HOST_RE.fullmatch(forwarded_host):
            host = forwarded_host
    return f"{scheme}://{host}{environ.get('SCRIPT_NAME', '')}{path}"


# -- the server -------------------------------------------------------------------------------


class RunningServer:
    """A waitress server listening on a socket; `run()` blocks, `stop()` ends it from any thread.

    waitress drops X-Forwarded-* headers before the app sees them; they are passed on when
    `keep_proxy_headers` (default: the app's own ``behind_proxy``) is true."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8080, threads: int = 4, *,
                 keep_proxy_headers: bool | None = None, max_body_bytes: int | None = None,
                 connection_limit: int = DEFAULT_CONNECTION_LIMIT, idle_timeout: int = DEFAULT_IDLE_TIMEOUT):
        from waitress.server import create_server

        if keep_proxy_headers is None:
            keep_proxy_headers = bool(getattr(app, "behind_proxy", False))
        if max_body_bytes is None:
            max_body_bytes = int(getattr(app, "max_body_bytes", MAX_BODY_BYTES))
        self.host = host
        self._server = create_server(
            app, host=host, port=port, threads=threads, ident="qbsync",
            # waitress refuses a body of max_request_body_size bytes or more: a body of exactly
            # the limit passes. Bodies over 512 KiB (inbuf_overflow) wait in a temporary file,
            # not in memory, until the whole request is in.
            max_request_body_size=int(max_body_bytes) + 1,
            max_request_header_size=MAX_HEADER_BYTES,
            # waitress counts its own listening socket and wake-up pipe in the limit.
            connection_limit=int(connection_limit) + 2,
            channel_timeout=int(idle_timeout),
            # How often silent connections are looked for (waitress: every 30 s).
            cleanup_interval=max(1, min(30, int(idle_timeout) // 2)),
            clear_untrusted_proxy_headers=not keep_proxy_headers,
        )
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def _listeners(self) -> list[Any]:
        """The listening server(s): one, or several when the host resolves to more addresses
        (e.g. "localhost" on IPv4 and IPv6); they share one socket map and one task dispatcher."""
        from waitress.server import BaseWSGIServer

        if isinstance(self._server, BaseWSGIServer):
            return [self._server]
        return [d for d in self._server.map.values() if isinstance(d, BaseWSGIServer)]

    @property
    def port(self) -> int:
        return int(self._listeners()[0].effective_port)

    def url(self, path: str = "/") -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}{path}"

    def start(self) -> None:
        """Serve in a background (daemon) thread."""
        self._thread = threading.Thread(target=self.run, name="qbsync-waitress", daemon=True)
        self._thread.start()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self) -> None:
        """Serve until `stop()` (or KeyboardInterrupt / SystemExit in this thread)."""
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening socket(s) and every connection, then wait for the worker threads.
        Safe from any thread and when the loop has already ended."""
        listener = self._listeners()[0]
        socket_map = listener._map

        def close_all() -> None:  # runs inside the server's loop (closing from elsewhere races select())
            for dispatcher in list(socket_map.values()):
                try:
                    dispatcher.close()
                except OSError:
                    pass

        if self._stopped.is_set():
            close_all()
        else:
            try:
                listener.trigger.pull_trigger(close_all)
            except OSError:
                close_all()
            self._stopped.wait(timeout)
        listener.task_dispatcher.shutdown(timeout=timeout)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)


def serve(app: Any, host: str = "127.0.0.1", port: int = 0, threads: int = 4, **limits: Any) -> RunningServer:
    """Start `app` on waitress in a background thread (port 0: any free port) and return the
    running server (``.port``, ``.url(path)``, ``.stop()``); also a context manager that stops
    it on exit (`limits`: RunningServer's max_body_bytes, connection_limit, idle_timeout)::

        with serve(app) as server:
            urlopen(server.url("/healthz"))
    """
    server = RunningServer(app, host, port, threads, **limits)
    server.start()
    return server
