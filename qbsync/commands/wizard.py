"""The Sync Wizard: `qbsync pending`, `show`, `check`, `uncheck`, `approve`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from qbsync.commands._support import (
    confirm_or_yes, connection, counted, fmt_value, open_db, parse_ids, plural, render, type_option,
)
from qbsync.commands.common import (
    ConnectionOption, DbOption, Format, FormatOption, IdsArgument, QuietOption, ResultFormatOption,
)
from qbsync.commands.messages import say, warn

DirectionOption = Annotated[
    str | None, typer.Option("--direction", "-d", metavar="import|export", help="Only this direction.")
]
TypeOption = Annotated[str | None, typer.Option("--type", "-t", metavar="TYPE", help="Only this record type.")]
# The JSON keys of a pending row (sync.wizard.pending_row builds it): the csv/tsv header when
# nothing awaits approval. The table shows wizard.PENDING_COLUMNS.
PENDING_KEYS = (
    "id", "direction", "type", "action", "name", "checked", "detected_at", "summary", "local_id", "qb_id", "connection",
)


def pending(
    direction: DirectionOption = None,
    type_name: TypeOption = None,
    count: Annotated[bool, typer.Option("--count", help="Print only the number awaiting approval (the badge).")] = False,
    fmt: FormatOption = Format.table,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
) -> None:
    """The wizard: changes awaiting approval (Import from / Export to QuickBooks).

    Two sections, each with its count; every change starts checked.

    Examples:

        qbsync pending

        qbsync pending --direction export --type Invoice --format json

        qbsync pending --count
    """
    from qbsync.output import write_text
    from qbsync.sync import wizard

    type_name = type_option(type_name)
    with open_db(db, write=False) as store:
        conn_row = connection(store, conn)
        if count:
            write_text(f"{wizard.count_pending(store, conn_row, direction=direction, type_name=type_name)}\n")
            return
        if fmt_value(fmt) != "table":  # streamed: a row at a time from the store to stdout
            render(wizard.iter_pending(store, conn_row, direction=direction, type_name=type_name), fmt, keys=PENDING_KEYS)
            return
        rows = wizard.pending(store, conn_row, direction=direction, type_name=type_name)
    first = True
    for key, title in wizard.SECTIONS:
        if direction and key != direction.strip().lower():
            continue
        section = [r for r in rows if r["direction"] == key]
        write_text(("" if first else "\n") + f"{title} ({len(section)})\n")
        first = False
        if section:
            render(section, fmt, wizard.PENDING_COLUMNS)
        else:
            write_text("  nothing awaiting approval\n")


def show(
    change_id: Annotated[str, typer.Argument(metavar="ID", help="The change id.")],
    fmt: FormatOption = Format.table,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
) -> None:
    """One change in full, with a field-by-field before/after.

    Example:

        qbsync show 12

        qbsync show 12 --format json
    """
    from qbsync.output import render_object, write_text
    from qbsync.sync import wizard

    (cid,) = parse_ids([change_id]) or [0]
    with open_db(db, write=False) as store:
        change = wizard.show(store, connection(store, conn), cid)
    f = fmt_value(fmt)
    if f != "table":
        render_object(change, f)
        return
    skip = {"fields", "payload", "references", "error", "summary"}
    facts = [{"key": k, "value": v} for k, v in change.items() if k not in skip and v is not None]
    if change.get("error"):
        e = change["error"]
        facts += [{"key": "status_code", "value": e["status_code"]}, {"key": "reason", "value": e["reason"]},
                  {"key": "actions", "value": ", ".join(e["actions"]) or "none"}]
    for ref in change["references"]:
        facts.append({"key": f"refers to ({ref['path']})", "value": f"{ref['ref_type'] or 'record'} {ref['local_id']}"})
    render(facts, "table", ("key", "value"))
    write_text("\n")
    render(change["fields"], "table", ("field", "before", "after"))


def _mark(checked: bool, ids: list[str] | None, type_name: str | None, direction: str | None, conn: str | None, db: str) -> None:
    from qbsync.sync import wizard

    type_name = type_option(type_name)
    with open_db(db) as store:
        touched = wizard.set_checked(
            store, connection(store, conn), checked, parse_ids(ids), type_name=type_name, direction=direction
        )
    verb = "checked" if checked else "unchecked"
    say(f"{verb} {counted(touched)}")


def check(
    ids: IdsArgument = None,
    type_name: TypeOption = None,
    direction: DirectionOption = None,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Check changes again (they will be approved).

    Examples:

        qbsync check 4 7

        qbsync check --direction import
    """
    _mark(True, ids, type_name, direction, conn, db)


def uncheck(
    ids: IdsArgument = None,
    type_name: TypeOption = None,
    direction: DirectionOption = None,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Uncheck changes: `approve` leaves them out (keeps or clears them, one rule for all).

    Examples:

        qbsync uncheck 4 7

        qbsync uncheck --type Invoice --direction export
    """
    _mark(False, ids, type_name, direction, conn, db)


def approve(
    uncheck_ids: Annotated[
        list[str] | None, typer.Option("--uncheck", metavar="ID", help="Uncheck this change first (repeatable).")
    ] = None,
    keep_unchecked: Annotated[
        bool, typer.Option("--keep-unchecked", help="Unchecked changes come back after the next Web Connector run (default).")
    ] = False,
    clear_unchecked: Annotated[
        bool, typer.Option("--clear-unchecked", help="Unchecked changes never come back unless the entity changes again.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (required when not on a terminal).")] = False,
    fmt: ResultFormatOption = None,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
    more_unchecked: Annotated[list[str] | None, typer.Argument(hidden=True, show_default=False, metavar="--uncheck ID")] = None,
) -> None:
    """Approve every checked change in both sections (keep or clear the unchecked).

    Approved changes go to the queue (Pending syncs) until the Web Connector runs. One rule
    for all unchecked ones: keep (default: they come back after the next Web Connector run)
    or clear (they never come back unless the entity changes again).

    Examples:

        qbsync approve --yes

        qbsync approve --uncheck 4 --clear-unchecked --yes

        qbsync approve --uncheck 4 7 --yes
    """
    from qbsync.errors import UsageError
    from qbsync.sync import wizard

    if keep_unchecked and clear_unchecked:
        raise UsageError("give --keep-unchecked or --clear-unchecked, not both")
    rule = "clear" if clear_unchecked else "keep"
    # `--uncheck 4 7` (the form `--uncheck ID ...`): the ids after the first land here.
    if more_unchecked and not uncheck_ids:
        raise UsageError("approve takes no change ids; to leave some out, give them with --uncheck ID ...")
    unchecked_now = parse_ids([*(uncheck_ids or []), *(more_unchecked or [])])
    if not yes and not sys.stdin.isatty():
        raise UsageError("approve needs --yes when not run on a terminal")
    with open_db(db) as store:
        conn_row = connection(store, conn)
        rows = wizard.pending(store, conn_row) if not yes else None  # --yes shows nothing: no rows to build
        if not (rows if rows is not None else wizard.count_pending(store, conn_row)):
            say("nothing awaits approval")
            result = {"queued": [], "held" if rule == "keep" else "cleared": []}
        else:
            shown = None
            if not yes:
                going = [r for r in rows if r["checked"] and r["id"] not in unchecked_now]
                left = len(rows) - len(going)
                imports = sum(1 for r in going if r["direction"] == "import")
                fate = "kept: they come back after the next Web Connector run" if rule == "keep" else "cleared: they do not come back unless they change again"
                warn(f"Approve {plural(len(going), 'change')} ({imports} import, {len(going) - imports} export)"
                    + (f"; {plural(left, 'unchecked change')} will be {fate}" if left else ""))
                if not confirm_or_yes("Approve?", yes, "approve"):
                    say("nothing approved")
                    raise typer.Exit(1)
                shown = [r["id"] for r in rows]
            result = wizard.approve(store, conn_row, uncheck=unchecked_now, unchecked=rule, only=shown)
            other = "held" if rule == "keep" else "cleared"
            message = f"approved {plural(len(result['queued']), 'change')} (now in the queue: `qbsync queue`)"
            if result[other]:
                message += (
                    f"; kept {len(result[other])} unchecked (back after the next Web Connector run)"
                    if rule == "keep"
                    else f"; cleared {len(result[other])} unchecked"
                )
            say(message)
    if fmt is not None:
        out = {"queued": result["queued"], "held": result.get("held", []), "cleared": result.get("cleared", [])}
        render([out], fmt)


def register(app: typer.Typer) -> None:
    app.command("pending")(pending)
    app.command("show")(show)
    app.command("check")(check)
    app.command("uncheck")(uncheck)
    app.command("approve")(approve)
