"""The HTTP limits of the connector (issue 10 §4), over real sockets against a real waitress
server: a body over the limit is answered 413 from its Content-Length before a byte of it is sent
(and a chunked one as soon as it passes the limit), a body of exactly the limit passes, silent
connections are closed after the idle timeout, connections past the limit wait, and the server
keeps answering after each."""

from __future__ import annotations

import socket
import time

import pytest
from soap_helpers import INTUIT, envelope, request
from soap_standin import StandInService

from qbsync.connector.app import DEFAULT_MAX_BODY_MB, MAX_BODY_BYTES, MB, make_wsgi_app, serve

LAST_ERROR = envelope(f'<getLastError xmlns="{INTUIT}"><ticket>T-1</ticket></getLastError>').encode()


def running(**limits):
    max_body = limits.pop("max_body_bytes", MAX_BODY_BYTES)
    app = make_wsgi_app(StandInService(None), "/qbwc", log=lambda line: None, max_body_bytes=max_body)
    return serve(app, "127.0.0.1", 0, threads=2, max_body_bytes=max_body, **limits)


def headers(length: int | None, *, chunked: bool = False) -> bytes:
    lines = ["POST /qbwc HTTP/1.1", "Host: localhost", "Content-Type: text/xml; charset=utf-8",
             f'SOAPAction: "{INTUIT}getLastError"']
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_reply(sock: socket.socket) -> bytes:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return data


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


def test_the_default_limit_is_100_mb():
    assert DEFAULT_MAX_BODY_MB == 100 and MAX_BODY_BYTES == 100 * MB


@pytest.mark.parametrize("claimed", [256 * MB, MAX_BODY_BYTES + 1])
def test_a_body_over_the_limit_is_refused_413_before_it_is_sent(claimed):
    with running() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            started = time.monotonic()
            sock.sendall(headers(claimed))  # and not one byte of the body
            reply = read_reply(sock)
        assert status_of(reply) == 413, reply[:200]
        assert time.monotonic() - started < 3
        assert request(server.url("/qbwc?wsdl")).status == 200  # still up


def test_a_body_of_exactly_the_limit_is_read():
    with running() as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
            sock.sendall(headers(MAX_BODY_BYTES))
            with pytest.raises(socket.timeout):  # waiting for the body, not refusing it
                sock.recv(100)
    small = 64 * 1024
    body = LAST_ERROR + b" " * (small - len(LAST_ERROR))  # trailing whitespace is allowed after the root
    with running(max_body_bytes=small) as server:
        reply = request(server.url("/qbwc"), "POST", body, {"Content-Type": "text/xml; charset=utf-8"})
        assert reply.status == 200, reply.body[:300]
        assert request(server.url("/qbwc"), "POST", body + b" ",
                       {"Content-Type": "text/xml; charset=utf-8"}).status == 413


def test_a_chunked_body_is_cut_off_at_the_limit():
    limit = 1 * MB
    with running(max_body_bytes=limit) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(headers(None, chunked=True))
            chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
            sent = 0
            try:
                while sent < 8 * limit:  # the client would go on for 8 MB
                    sock.sendall(chunk)
                    sent += 64 * 1024
                    sock.settimeout(0.001)
                    try:
                        if sock.recv(1, socket.MSG_PEEK):
                            break
                    except (BlockingIOError, socket.timeout):
                        pass
                    finally:
                        sock.settimeout(5)
            except (BrokenPipeError, ConnectionResetError):
                pass
            reply = read_reply(sock)
        assert status_of(reply) == 413, reply[:200]
        assert sent <= 2 * limit  # answered once past the limit, not after the whole body
        assert request(server.url("/qbwc?wsdl")).status == 200


def test_oversized_headers_are_refused():
    with running() as server:
        reply = request(server.url("/qbwc?wsdl"), headers={"X-Padding": "a" * 70_000})
        assert reply.status == 431
        assert request(server.url("/qbwc?wsdl")).status == 200


def test_a_silent_connection_is_closed_after_the_idle_timeout():
    with running(idle_timeout=2) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            started = time.monotonic()
            sock.sendall(b"POST /qbwc HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n<soap")  # then silence
            assert sock.recv(100) == b""  # closed by the server
            assert 1.5 <= time.monotonic() - started < 8


def test_connections_past_the_limit_wait_until_one_closes():
    with running(connection_limit=2) as server:
        idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
        try:
            time.sleep(0.3)  # let the server accept both
            with pytest.raises(socket.timeout):
                request(server.url("/qbwc?wsdl"), timeout=1)
            idle.pop().close()
            assert request(server.url("/qbwc?wsdl"), timeout=5).status == 200
        finally:
            for s in idle:
                s.close()
