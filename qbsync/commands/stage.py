"""`qbsync stage TYPE [FILE|-]`: hand the app's records over as JSON lines."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from qbsync.commands._support import connection, open_db, plural, render
from qbsync.commands.common import ConnectionOption, DbOption, QuietOption, ResultFormatOption
from qbsync.commands.messages import on_interrupt, say, warn

RESULT_COLUMNS = ("type", "read", "added", "modified", "deleted", "updated", "unchanged", "linked", "cleared", "skipped")


def stage(
    type_name: Annotated[str, typer.Argument(metavar="TYPE", help="The record type, e.g. Customer, Invoice.")],
    file: Annotated[str, typer.Argument(metavar="FILE", help="JSON lines file; - or nothing reads stdin.")] = "-",
    delete: Annotated[
        list[str] | None, typer.Option("--delete", metavar="ID", help="Stage a delete of this app id (repeatable).")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Stage the valid lines and report the invalid ones; exit code 5 when any was skipped (default: a bad line stages nothing).")
    ] = False,
    fmt: ResultFormatOption = None,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Stage the app's records for export (JSON lines).

    One JSON object per line: "id" (the app's id) plus the qbXML fields of the Add form.
    New records become adds, changed ones mods, unchanged ones nothing. Every line is
    validated first; a bad file stages nothing (unless --skip-invalid).

    Examples:

        echo '{"id": "C-17", "Name": "Acme Ltd", "Phone": "555-0100"}' | qbsync stage Customer

        qbsync stage Invoice invoices.jsonl --skip-invalid

        qbsync stage Customer --delete C-17
    """
    from qbsync.commands import progress
    from qbsync.errors import EXIT_SKIPPED, InvalidInput, UsageError
    from qbsync.sync import staging
    from qbsync.sync.catalogue import entity_type

    on_interrupt("nothing was staged")  # all or nothing: the transaction rolls back, or never began
    et = entity_type(type_name)
    with open_db(db) as store:
        conn_row = connection(store, conn)
        if delete:
            if file != "-":
                raise UsageError("give either FILE or --delete, not both")
            result = staging.stage_deletes(store, conn_row, et.name, [d for d in delete])
        else:
            if file == "-" and sys.stdin.isatty():
                raise UsageError("give a FILE, or pipe JSON lines to stdin")
            try:
                handle = sys.stdin if file == "-" else open(file, encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot read {file}: {exc.strerror}") from None
            shown = progress.Progress(f"staging {et.name}", progress.input_size(handle)) if progress.wanted() else None
            try:
                with handle:
                    lines = shown.read(handle) if shown else handle
                    result = staging.stage_lines(store, conn_row, et.name, lines, skip_invalid=skip_invalid)
            except UnicodeDecodeError as exc:
                raise InvalidInput(f"{file} is not UTF-8 text ({exc.reason}); nothing was staged") from None
            finally:
                if shown is not None:
                    shown.close()
    for problem in result.skipped:
        warn(f"skipped {problem}")
    parts = [
        plural(result.added, "add"), plural(result.modified, "mod"), plural(result.deleted, "delete"),
        f"{result.updated} updated", f"{result.unchanged} unchanged",
    ]
    if result.linked:
        parts.append(f"{result.linked} linked")
    if result.cleared:
        parts.append(f"{result.cleared} cleared")
    if result.skipped:
        parts.append(f"{result.skipped_lines} skipped")
    say(f"staged {et.name}: {', '.join(parts)}")
    if fmt is not None:
        row = result.as_dict()
        if fmt.value == "table":  # people read how many lines were skipped; programs get the problems
            row["skipped"] = result.skipped_lines
        render([row], fmt, RESULT_COLUMNS)
    if result.skipped:  # cron tells a partial stage from a clean one by the exit code
        say(f"{plural(result.skipped_lines, 'invalid line')} skipped (exit code {EXIT_SKIPPED})")
        raise typer.Exit(EXIT_SKIPPED)


def register(app: typer.Typer) -> None:
    app.command("stage")(stage)
