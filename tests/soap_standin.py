"""A small in-memory stand-in with ConnectorService's methods, for the SOAP-layer tests that
check the wire (names, escaping, leniency) independently of the engine. It records the plain
values each callback received."""

from __future__ import annotations

from typing import Any


class StandInService:
    def __init__(self, db_path: Any = None, requests: list[str] | None = None):
        self.db_path = db_path
        self.requests = list(requests or [])
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail_on: set[str] = set()

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.fail_on:
            raise RuntimeError(f"{name} exploded")

    def server_version(self) -> str:
        self._record("server_version")
        return "qbsync-standin 1.0"

    def client_version(self, str_version: str) -> str:
        self._record("client_version", str_version)
        return "W:please upgrade" if str_version.startswith("2.1") else ""

    def authenticate(self, username: str, password: str) -> list[str]:
        self._record("authenticate", username, password)
        if (username, password) != ("acme", "s3cret"):
            return ["", "nvu"]
        if not self.requests:
            return ["T-none", "none"]
        return ["T-1", "", "", "300"]

    def send_request_xml(self, ticket: str, hcp: str, company: str, country: str, major: int, minor: int) -> str:
        self._record("send_request_xml", ticket, hcp, company, country, major, minor)
        return self.requests[0] if self.requests else ""

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        self._record("receive_response_xml", ticket, response, hresult, message)
        if hresult:
            return -101
        if self.requests:
            self.requests.pop(0)
        return 100 if not self.requests else 50

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        self._record("connection_error", ticket, hresult, message)
        return "done"

    def get_last_error(self, ticket: str) -> str:
        self._record("get_last_error", ticket)
        return "Nothing to do & <nothing> sent"

    def close_connection(self, ticket: str) -> str:
        self._record("close_connection", ticket)
        return "Synced 1, 0 errors"

    def get_interactive_url(self, ticket: str, session_id: str) -> str:
        self._record("get_interactive_url", ticket, session_id)
        return ""

    def interactive_done(self, ticket: str) -> str:
        self._record("interactive_done", ticket)
        return "Done"

    def interactive_rejected(self, ticket: str, reason: str) -> str:
        self._record("interactive_rejected", ticket, reason)
        return "Interactive mode is not used by qbsync"
