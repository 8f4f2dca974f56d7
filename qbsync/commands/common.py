"""Options shared by many commands, declared once."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

import typer


class Format(str, Enum):
    """The formats of every listing command (qbsync.output.FORMATS)."""

    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


def format_option(help: str = "Output format.", *, envvar: str | None = "QBSYNC_FORMAT") -> Any:
    """The `--format/-f` option. Its choices come from the Enum it annotates: `Format` for
    listing commands; commands whose people form is prose (explain, validate, simulate) have
    their own Enum with `text` and take no QBSYNC_FORMAT (a `table` there would mean nothing)."""
    return typer.Option("--format", "-f", envvar=envvar, help=help, case_sensitive=False)


# Listing commands; each picks its default (`changes` streams jsonl, the others show a table).
FormatOption = Annotated[Format, format_option()]
# Commands that act (stage, approve): messages only, unless a format asks for the result as data.
ResultFormatOption = Annotated[Format | None, format_option("Also print the result as data.")]

def _set_quiet(value: bool) -> bool:
    from qbsync.commands.messages import set_quiet

    return set_quiet(value)


# Commands that print messages (stage, approve, retry, connection add, ...): --quiet keeps
# them off stderr; data on stdout, warnings and errors still come.
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", callback=_set_quiet, help="No messages on stderr (data, warnings and errors still show).")
]

# Change ids for check/uncheck/retry/fix-edit-sequence (strings: commands._support.parse_ids
# turns a bad one into one usage line).
IdsArgument = Annotated[list[str] | None, typer.Argument(metavar="ID", help="Change ids.", show_default=False)]

DbOption = Annotated[
    str,
    typer.Option("--db", metavar="FILE", envvar="QBSYNC_DB", help="SQLite store file.", show_default=True),
]
ConnectionOption = Annotated[
    str | None,
    typer.Option("--connection", "-c", metavar="NAME", help="Connection name (optional when only one exists)."),
]
SchemaDirOption = Annotated[
    str | None,
    typer.Option(
        "--schema-dir",
        metavar="DIR",
        envvar="QBSYNC_QBXML_SCHEMA_DIR",
        help="Folder of Intuit's qbXML SDK schemas (qbxmlops*.xsd) to use instead of the embedded one.",
    ),
]
