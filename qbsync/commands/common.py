"""Options shared by many commands, declared once."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    tsv = "tsv"


FormatOption = Annotated[
    Format,
    typer.Option("--format", "-f", envvar="QBSYNC_FORMAT", help="Output format.", case_sensitive=False),
]
DbOption = Annotated[
    str,
    typer.Option("--db", envvar="QBSYNC_DB", help="SQLite store file.", show_default=True),
]
ConnectionOption = Annotated[
    str | None,
    typer.Option("--connection", "-c", help="Connection name (optional when only one exists)."),
]
SchemaDirOption = Annotated[
    str | None,
    typer.Option(
        "--schema-dir",
        envvar="QBSYNC_QBXML_SCHEMA_DIR",
        help="Folder of Intuit's qbXML SDK schemas (qbxmlops*.xsd) to use instead of the embedded one.",
    ),
]
