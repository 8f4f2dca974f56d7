"""The Log: `qbsync queue` (Pending syncs), `errors` (Error Log), `failed` (Failed Syncs),
and the Error Log's actions `retry` and `fix-edit-sequence`."""

from __future__ import annotations

from typing import Annotated

import typer

from qbsync.commands._support import connection, counted, fmt_value, open_db, parse_ids, render, since_option
from qbsync.commands.common import ConnectionOption, DbOption, Format, FormatOption, IdsArgument, QuietOption
from qbsync.commands.messages import say, warn

AllOption = Annotated[bool, typer.Option("--all", help="Every change in the Error Log.")]
# The note says why a queued change is not moving ("waiting for Customer C-9").
QUEUE_COLUMNS = ("id", "direction", "type", "action", "name", "status", "approved_at", "attempts", "note", "summary")
# The JSON keys of a queue row (sync.wizard.queue builds it): the csv/tsv header of an empty queue.
QUEUE_KEYS = (
    "id", "direction", "type", "action", "name", "status", "approved_at", "attempts", "refresh_edit_sequence", "note",
    "summary",
)


def queue(fmt: FormatOption = Format.table, conn: ConnectionOption = None, db: DbOption = "qbsync.db") -> None:
    """Pending syncs: approved changes waiting for the Web Connector to run.

    Example:

        qbsync queue --format json
    """
    from qbsync.sync import wizard

    with open_db(db, write=False) as store:
        rows = wizard.queue(store, connection(store, conn))
    render(rows, fmt, QUEUE_COLUMNS, empty="the queue is empty", keys=QUEUE_KEYS)


def errors(
    explain: Annotated[bool, typer.Option("--explain", help="Add the resolution steps from the status-code catalogue.")] = False,
    fmt: FormatOption = Format.table,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
) -> None:
    """The Error Log: changes that could not sync, and what to do about them.

    Each with the reason, the QuickBooks status code and the actions that apply (retry;
    fix-edit-sequence where a fresh EditSequence helps). Direction QB → app means the
    problem is on the QuickBooks side and is resolved there.

    Examples:

        qbsync errors

        qbsync errors --explain --format json
    """
    from qbsync.sync import errorlog

    with open_db(db, write=False) as store:
        rows = errorlog.errors(store, connection(store, conn), explain=explain)
    if fmt_value(fmt) == "table":
        for r in rows:
            if r["message"] and r["message"] in r["reason"]:
                r["message"] = None  # the reason already quotes QuickBooks' message: once is enough
            if explain:
                r["steps"] = " ".join(f"{i}. {s}" for i, s in enumerate(r["steps"], 1))
    steps = ("steps",) if explain else ()
    render(rows, fmt, errorlog.ERROR_COLUMNS + steps, empty="the Error Log is empty", keys=errorlog.ERROR_KEYS + steps)


def failed(
    since: Annotated[str | None, typer.Option("--since", metavar="DATE", help="Only failures on or after this date.")] = None,
    fmt: FormatOption = Format.table,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
) -> None:
    """Failed Syncs: every failed attempt over time, including those since resolved.

    Example:

        qbsync failed --since 2026-11-01 --format csv
    """
    from qbsync.sync import errorlog

    bound = since_option(since, "--since", "a date like 2026-11-01")
    with open_db(db, write=False) as store:
        rows = errorlog.failed(store, connection(store, conn), since=bound)
    render(rows, fmt, errorlog.FAILED_COLUMNS, empty="no failed syncs", keys=errorlog.FAILED_KEYS)


def retry(
    ids: IdsArgument = None,
    all_: AllOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also re-send changes whose outcome is unknown (after checking QuickBooks).")
    ] = False,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Put changes from the Error Log back in the queue for the next Web Connector run.

    Examples:

        qbsync retry 12 15

        qbsync retry --all
    """
    from qbsync.sync import errorlog

    with open_db(db) as store:
        result = errorlog.retry(store, connection(store, conn), parse_ids(ids), all_=all_, force=force)
    say(f"queued {counted(result['queued'])} for retry")
    if result.get("superseded"):
        warn(f"cleared {', '.join(map(str, result['superseded']))}: a later change of the same record already sent newer values")
    if result["skipped"]:
        warn(f"left {', '.join(map(str, result['skipped']))} in the Error Log: outcome unknown (see `qbsync errors`)")


def fix_edit_sequence(
    ids: IdsArgument = None,
    all_: AllOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also for export mods whose status code a fresh EditSequence may not fix; the app's values win (no merge), e.g. after a merge conflict.")
    ] = False,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Re-read the QuickBooks record and re-send (stale EditSequence, 3200).

    The next Web Connector run re-reads the record in QuickBooks, merges and re-sends.
    Other errors are refused with the reason.

    Examples:

        qbsync fix-edit-sequence 12

        qbsync fix-edit-sequence --all
    """
    from qbsync.sync import errorlog

    with open_db(db) as store:
        result = errorlog.fix_edit_sequence(store, connection(store, conn), parse_ids(ids), all_=all_, force=force)
    say(f"queued {counted(result['queued'])} to re-read the EditSequence")
    for refused in result["refused"]:
        warn(f"not applicable to change {refused}")


def register(app: typer.Typer) -> None:
    app.command("queue")(queue)
    app.command("errors")(errors)
    app.command("failed")(failed)
    app.command("retry")(retry)
    app.command("fix-edit-sequence")(fix_edit_sequence)
