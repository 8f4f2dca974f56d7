"""`qbsync replay FOLDER`: play a recorded Web Connector session against the current code."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer


class ReplayFormat(str, Enum):
    text = "text"
    json = "json"


def replay(
    folder: Annotated[
        str,
        typer.Argument(metavar="FOLDER", help="A session recording folder (`qbsync serve-connector --record DIR` makes them).",
                       show_default=False),
    ],
    fmt: Annotated[
        ReplayFormat,
        typer.Option("--format", "-f", help="Output format: text (a unified-style diff) or json.", case_sensitive=False),
    ] = ReplayFormat.text,
) -> None:
    """Play a recorded Web Connector session against the current code and report every
    difference in what qbsync sends: each qbXML request compared element by element with the
    recorded one, and the callback results (authenticate, percents, closing texts). QuickBooks'
    side is answered from the recording. Exit 0 when identical, 1 when different, 2 when the
    folder is not a usable recording.

    Examples:

        qbsync replay recordings/20261126T083000Z-acme

        qbsync replay tests/recordings/export-batch --format json
    """
    from qbsync.replay import format_text
    from qbsync.replay import replay as run_replay

    result = run_replay(folder)
    if fmt is ReplayFormat.json:
        from qbsync.output import dumps

        sys.stdout.write(dumps(result.as_dict()) + "\n")
    else:
        sys.stdout.write(format_text(result))
    sys.stdout.flush()
    if not result.identical:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
