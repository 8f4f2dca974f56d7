"""HTTP POST of one SOAP envelope, as QBWC's .NET SOAP client sends it (standard library only)."""

from __future__ import annotations

import http.client
import socket
import urllib.parse

from qbsync.testing.web_connector.soap import soap_action

# The .NET Framework SOAP client string QBWC is reported to send; servers must not filter on it.
DEFAULT_USER_AGENT = "Mozilla/4.0 (compatible; MSIE 6.0; MS Web Services Client Protocol 2.0.50727.8825)"


class TransportError(Exception):
    """The web service could not be reached or dropped the connection."""


class SoapTransport:
    """Posts envelopes to one URL over a kept-alive connection (reopened when the server
    closed it between calls)."""

    def __init__(self, url: str, *, timeout: float = 60.0, user_agent: str = DEFAULT_USER_AGENT):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.timeout = timeout
        self.user_agent = user_agent
        self._conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def post(self, operation: str, envelope: bytes) -> tuple[int, str, bytes]:
        """Send `envelope` for `operation`; returns (HTTP status, Content-Type, body)."""
        headers = {
            "User-Agent": self.user_agent,
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": soap_action(operation),
            "Host": self.host_header,
            "Content-Length": str(len(envelope)),
        }
        reused = self._conn is not None
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.request("POST", self.path, body=envelope, headers=headers)
                response = self._conn.getresponse()
                body = response.read()
                if response.will_close:
                    self.close()
                return response.status, response.getheader("Content-Type", ""), body
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                # A kept-alive connection the server closed while idle: send once more on a new one.
                if reused and attempt == 1:
                    reused = False
                    continue
                raise TransportError(f"the connection was closed by the web service ({exc})") from None
            except (OSError, http.client.HTTPException, socket.timeout) as exc:
                self.close()
                raise TransportError(f"could not reach the web service: {exc}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
