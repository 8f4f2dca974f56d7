"""`qbsync explain CODE`: what a qbXML statusCode or a QuickBooks HRESULT means and what to do."""

from __future__ import annotations

import textwrap
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from qbsync.commands.common import format_option

if TYPE_CHECKING:
    from qbsync.qbxml.status_codes import StatusInfo


class ExplainFormat(str, Enum):
    """text for people (an explanation; a table with --list); the others for programs."""

    text = "text"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


LIST_COLUMNS = ("code", "severity", "title", "kind", "who_acts", "retry_helps", "fix_edit_sequence_helps")
_WHO = {
    "app": "the app (change the data or the request in the integrating application)",
    "quickbooks": "QuickBooks (a QuickBooks user or the Admin must act there)",
}
_WIDTH = 100


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _field(label: str, value: str) -> str:
    return textwrap.fill(
        value, width=_WIDTH, initial_indent=f"{label}: ", subsequent_indent=" " * (len(label) + 2)
    )


def format_text(info: StatusInfo) -> str:
    """The people-facing explanation of one code."""
    lines = [
        f"Code: {info.code} ({info.title})",
        f"Severity: {info.severity}",
        _field("Meaning", info.meaning),
        f"Who acts: {_WHO.get(info.who_acts, info.who_acts)}",
        f"Retry helps: {_yes_no(info.retry_helps)}",
        f"Fix Edit Sequence helps: {_yes_no(info.fix_edit_sequence_helps)}",
        "Steps:",
    ]
    for number, step in enumerate(info.steps, 1):
        lines.append(textwrap.fill(step, width=_WIDTH, initial_indent=f"  {number}. ", subsequent_indent="     "))
    return "\n".join(lines) + "\n"


def _unknown_message(code: str) -> str:
    from qbsync.qbxml.status_codes import describe_range, normalize_code, range_of

    try:
        norm = normalize_code(code)
    except ValueError:
        return (
            f"not a status code: {code!r} (give a qbXML statusCode such as 3200 "
            "or an HRESULT such as 0x80040400)"
        )
    message = f"unknown status code {norm}"
    if isinstance(norm, int):
        span = range_of(norm)
        generic = describe_range(norm)
        if span is not None and generic is not None:
            low, high, title = span
            advice = (
                "the request ran" if generic.applied
                else "not applied; treat it as an error for the app to fix, not to resend unchanged"
            )
            message += f" (range {low}-{high}: {title[0].lower()}{title[1:]}; {advice})"
    elif describe_range(norm) is not None:
        message += " (an HRESULT from the QuickBooks request processor: the whole message failed; see qbsdklog.txt)"
    return message + "; qbsync explain --list shows the known codes"


def explain(
    code: Annotated[
        str | None,
        typer.Argument(
            metavar="CODE",
            help="A qbXML statusCode (3200) or an HRESULT (0x80040400, any case, 0x optional).",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        ExplainFormat, format_option("Output format: text for people; json, jsonl, csv or tsv for programs.", envvar=None)
    ] = ExplainFormat.text,
    list_all: Annotated[
        bool,
        typer.Option("--list", "--all", help="List every known code instead (a table, or rows in the --format given)."),
    ] = False,
) -> None:
    """Explain a qbXML status code or a QuickBooks HRESULT: meaning, severity, who must act
    (in QuickBooks or in the app), whether Retry or Fix Edit Sequence can help, and the steps.

    Examples:

        qbsync explain 3200

        qbsync explain 0x80040400 --format json

        qbsync explain --list
    """
    from qbsync.errors import InvalidInput, UsageError
    from qbsync.qbxml.status_codes import all_codes, lookup

    from qbsync.output import render, render_object, write_text

    if list_all:
        if code is not None:
            raise UsageError("give either CODE or --list, not both")
        rows: list[dict[str, Any]] = [info.to_dict() for info in all_codes()]
        if fmt is ExplainFormat.text:
            render(rows, "table", columns=LIST_COLUMNS)
        else:
            render(rows, fmt.value)
        return
    if code is None:
        raise UsageError("missing CODE (e.g. qbsync explain 3200), or use --list")
    info = lookup(code)
    if info is None:
        raise InvalidInput(_unknown_message(code))
    if fmt is ExplainFormat.text:
        write_text(format_text(info))
    else:
        render_object(info.to_dict(), fmt.value)


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
