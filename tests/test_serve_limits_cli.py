"""`serve-connector`'s limit and lockout options, on the real command: --max-request-body refuses
a bigger body with 413 before it is read, the lockout options reach authenticate, and the
start-up line states the limits."""

from __future__ import annotations

import signal
import socket

from soap_helpers import call
from test_serve_command import db, run, start  # noqa: F401 - db is a fixture

HEADERS = "POST /qbwc HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n"


def _status_for_claimed_length(url: str, length: int) -> bytes:
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(HEADERS.format(length).encode())
        sock.settimeout(1)
        try:
            return sock.recv(100).split(b"\r\n")[0]
        except socket.timeout:
            return b"(waiting for the body)"


def test_the_options_are_applied(db):
    proc, url = start(db, "--max-request-body", "2", "--lockout-failures", "2", "--lockout-address-failures", "0",
                      "--max-connections", "10", "--idle-timeout", "60")
    try:
        assert _status_for_claimed_length(url, 2 * 1024 * 1024 + 1) == b"HTTP/1.1 413 Request Entity Too Large"
        assert _status_for_claimed_length(url, 2 * 1024 * 1024) == b"(waiting for the body)"
        for _ in range(2):
            assert call(url, "authenticate", strUserName="acme-sync", strPassword="nope").strings == ["", "nvu"]
        assert call(url, "authenticate", strUserName="acme-sync", strPassword="pw-acme-123").strings == ["", "nvu"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert ("requests up to 2 MB, 10 connections, idle timeout 60s; login lockout: 2 per user name failed logins "
            "in 15 min lock for 15 min") in err
    assert "authenticate: user 'acme-sync' locked out after 2 failed logins in 15 minutes" in err
    assert "nope" not in err and "pw-acme-123" not in err


def test_the_limits_and_their_defaults():
    import inspect
    import typing

    from qbsync.commands.serve import serve_connector

    expected = {"--max-request-body": 100, "--max-connections": 100, "--idle-timeout": 300,
                "--lockout-failures": 10, "--lockout-minutes": 15, "--lockout-address-failures": 50}
    found = {}
    hints = typing.get_type_hints(serve_connector, include_extras=True)
    for name, param in inspect.signature(serve_connector).parameters.items():
        for meta in typing.get_args(hints[name])[1:]:  # Annotated[int, typer.Option("--name", ...)]
            found[str(getattr(meta, "default", ""))] = param.default
    assert {name: found.get(name) for name in expected} == expected


def test_a_zero_body_limit_is_a_usage_error(db):
    proc = run(db, "--max-request-body", "0")
    assert proc.returncode == 2
