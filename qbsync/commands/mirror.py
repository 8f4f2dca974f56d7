"""`qbsync status`, `qbsync records TYPE` (the mirror), `qbsync changes --since CURSOR` (the feed)."""

from __future__ import annotations

from typing import Annotated

import typer

from qbsync.commands._support import connection, open_db, render
from qbsync.commands.common import ConnectionOption, DbOption, Format, FormatOption


def status(
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when anything awaits approval or is in error.")] = False,
    fmt: FormatOption = Format.table,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
) -> None:
    """Per connection: awaiting, queued, errors, last Web Connector contact.

    Awaiting approval is split into import and export; the last contact shows its outcome.

    Examples:

        qbsync status

        qbsync status --check || notify-admin "QuickBooks sync needs attention"
    """
    from qbsync.sync import overview

    with open_db(db, write=False) as store:
        rows = overview.status(store, conn)
    render(rows, fmt, overview.STATUS_COLUMNS, empty="no connections yet; add one with `qbsync connection add`",
           keys=overview.STATUS_KEYS)
    if check and overview.needs_attention(rows):
        raise typer.Exit(1)


def records(
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="The record type, e.g. Customer.")],
    fmt: FormatOption = Format.table,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
) -> None:
    """The mirror: every record of TYPE known on both sides.

    Each with its QuickBooks id, EditSequence and last synced content.

    Example:

        qbsync records Customer --format jsonl
    """
    from qbsync.sync import overview
    from qbsync.sync.catalogue import entity_type

    et = entity_type(type_name)
    with open_db(db, write=False) as store:
        rows = overview.records(store, connection(store, conn), et.name)
    render(rows, fmt, overview.RECORD_COLUMNS, empty=f"no {et.name} records in the mirror", keys=overview.RECORD_KEYS)


def changes(
    since: Annotated[str, typer.Option("--since", metavar="CURSOR", help="Only entries after this cursor (0 = from the start).")] = "0",
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many entries.")] = None,
    fmt: FormatOption = Format.jsonl,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
) -> None:
    """The feed for the app: applied imports and export results (JSON lines).

    Each line has its `cursor`: store the last one and pass it back with --since next time.
    `result` is `applied` (an import), `synced` or `error` (an export), or `dropped` (an export
    change the admin dropped for QuickBooks' version in a conflict: `qbsync resolve --use quickbooks`).

    Example:

        qbsync changes --since 0

        qbsync changes --since "$(cat last-cursor)" --limit 500
    """
    from qbsync.errors import UsageError
    from qbsync.sync import overview

    try:
        cursor = int(since)
    except ValueError:
        cursor = -1
    if cursor < 0:
        raise UsageError(f"--since takes a cursor from an earlier entry (0 = from the start), not {since!r}")
    if limit is not None and limit <= 0:
        raise UsageError("--limit takes a positive number")
    with open_db(db, write=False) as store:
        rows = overview.feed(store, connection(store, conn), cursor, limit)
    render(rows, fmt, overview.FEED_COLUMNS, keys=overview.FEED_KEYS)


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("records")(records)
    app.command("changes")(changes)
