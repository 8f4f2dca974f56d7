"""`qbsync simulate`: one QuickBooks Web Connector pass against a QBWC web service, from the shell."""

from __future__ import annotations

import os
import re
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qbsync.commands.common import format_option

if TYPE_CHECKING:
    from qbsync.testing import RunReport


class SimulateFormat(str, Enum):
    text = "text"
    json = "json"


_VERSION_RE = re.compile(r"^\d+\.\d+$")


def _make_company(qbxml_version: str, company_file: str | None) -> Any:
    """The QuickBooks side of the run: a FakeQuickBooks, in memory or kept in `company_file`."""
    from qbsync.errors import QbsyncError

    try:
        from qbsync.testing.fake_quickbooks import FakeQuickBooks
    except ImportError as exc:
        raise QbsyncError(f"FakeQuickBooks is not available in this installation ({exc})") from None
    return FakeQuickBooks(qbxml_version=qbxml_version, path=company_file)


def format_text(report: RunReport) -> str:
    """A short people-facing summary of a run (no qbXML, no secrets)."""

    def joined(values: list[Any]) -> str:
        return ", ".join(str(v) for v in values) if values else "-"

    lines = [
        f"Outcome: {report.outcome} ({'ok' if report.ok else 'FAILED'})",
        f"Final message: {report.final_message if report.final_message is not None else '-'}",
        f"Calls: {joined(report.calls)}",
        f"Round trips: {report.round_trips}",
        f"Status codes: {joined(report.status_codes)}",
        f"Percent: {joined(report.percent_trace)}",
    ]
    if report.hresults:
        lines.append(f"HRESULTs: {joined(report.hresults)}")
    if report.company_file:
        lines.append(f"Company file: {report.company_file}")
    lines += [f"Warning: {w}" for w in report.warnings]
    lines += [f"Violation: {v}" for v in report.violations]
    lines += [f"Error: {e}" for e in report.errors]
    return "\n".join(lines) + "\n"


def simulate(
    url: Annotated[str, typer.Option("--url", help="The web service's AppURL (http or https).", show_default=False)],
    username: Annotated[str, typer.Option("--username", help="The UserName of the .qwc file.", show_default=False)],
    password_env: Annotated[
        str,
        typer.Option(
            "--password-env",
            metavar="VAR",
            help="Name of the environment variable holding the password (never given on the command line).",
            show_default=False,
        ),
    ],
    company_file: Annotated[
        str | None,
        typer.Option(
            "--company-file",
            metavar="PATH",
            help="Keep the fake QuickBooks company in this file between runs (default: in memory, one run).",
        ),
    ] = None,
    qbxml_version: Annotated[
        str, typer.Option("--qbxml-version", help="qbXML version the fake QuickBooks supports.")
    ] = "13.0",
    fmt: Annotated[
        SimulateFormat, format_option("Output format: text for people, json for programs.", envvar=None)
    ] = SimulateFormat.text,
    client_version: Annotated[
        str, typer.Option("--client-version", help="Web Connector version sent to clientVersion.")
    ] = "2.3.0.215",
    noop_delay: Annotated[
        float, typer.Option("--noop-delay", min=0, help="Seconds to pause after a NoOp from getLastError.")
    ] = 5.0,
    max_round_trips: Annotated[
        int, typer.Option("--max-round-trips", min=1, help="Stop a service that never reaches 100 %.")
    ] = 10_000,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="HTTP timeout in seconds.")] = 60.0,
) -> None:
    """Run one QuickBooks Web Connector update against a QBWC web service, with a fake
    QuickBooks company answering the qbXML, and report what happened: the calls, round trips,
    status codes, percent trace and the final message. Exit 0 when the run ended normally.

    Examples:

        QBWC_PASSWORD=s3cret qbsync simulate --url http://localhost:8080/qbwc --username acme --password-env QBWC_PASSWORD

        qbsync simulate --url http://localhost:8080/qbwc --username acme --password-env QBWC_PASSWORD --company-file company.db --format json
    """
    from qbsync.errors import EXIT_ERROR, QbsyncError, UsageError

    if not re.match(r"^https?://[^/\s]+", url):
        raise UsageError(f"--url must be an http:// or https:// URL, got {url!r}")
    if not _VERSION_RE.match(qbxml_version):
        raise UsageError(f"--qbxml-version must look like 13.0, got {qbxml_version!r}")
    password = os.environ.get(password_env)
    if password is None:
        raise UsageError(f"environment variable {password_env} is not set (it must hold the password)")

    from qbsync.testing import WebConnector

    company = _make_company(qbxml_version, company_file)
    connector = WebConnector(
        url,
        username,
        password,
        company=company,
        client_version=client_version,
        qbxml_version=qbxml_version,
        noop_delay=noop_delay,
        max_round_trips=max_round_trips,
        timeout=timeout,
    )
    try:
        report = connector.run()
    finally:
        close = getattr(company, "close", None)
        if callable(close):
            close()
    from qbsync.output import render_object, write_text

    if fmt is SimulateFormat.json:
        render_object(report.as_dict(), "json")
    else:
        write_text(format_text(report))
    if not report.ok:
        problems = report.errors + report.violations
        reason = problems[0] if problems else (report.final_message or report.outcome)
        raise QbsyncError(f"the Web Connector run did not end normally: {reason}", EXIT_ERROR)


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
