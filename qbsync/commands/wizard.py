"""The Sync Wizard: `qbsync pending`, `show`, `check`, `uncheck`, `approve`, `resolve`."""

from __future__ import annotations

import sys
from enum import Enum
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
    "conflict", "conflict_with",
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
        # A conflict is an export row; asked for imports only, it shows there (QuickBooks changed it too).
        section = [r for r in rows if r["direction"] == key or (r["conflict"] and direction)]
        write_text(("" if first else "\n") + f"{title} ({len(section)})\n")
        first = False
        if section:
            render(section, fmt, wizard.PENDING_COLUMNS)
        else:
            write_text("  nothing awaiting approval\n")
    waiting = [r["id"] for r in rows if r["conflict"]]
    if waiting:
        say(conflicts_wait(waiting))


def conflicts_wait(ids: list[int]) -> str:
    """"1 conflict waits: qbsync resolve 7 --use app|quickbooks" (several: their ids after it)."""
    if len(ids) == 1:
        return f"1 conflict waits: qbsync resolve {ids[0]} --use app|quickbooks"
    return f"{len(ids)} conflicts wait: qbsync resolve ID --use app|quickbooks (ID: {', '.join(map(str, ids))})"


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
    skip = {"fields", "payload", "references", "error", "summary", "app", "quickbooks"}
    if not change["conflict"]:
        skip.add("conflict")  # said only of a conflict
    facts = [{"key": k, "value": v} for k, v in change.items() if k not in skip and v is not None]
    if change["conflict"]:
        facts.append({"key": "summary", "value": change["summary"]})
    if change.get("error"):
        e = change["error"]
        facts += [{"key": "status_code", "value": e["status_code"]}, {"key": "reason", "value": e["reason"]},
                  {"key": "actions", "value": ", ".join(e["actions"]) or "none"}]
    for ref in change["references"]:
        facts.append({"key": f"refers to ({ref['path']})", "value": f"{ref['ref_type'] or 'record'} {ref['local_id']}"})
    render(facts, "table", ("key", "value"))
    write_text("\n")
    if change["conflict"]:
        from qbsync.sync import conflicts

        app, qb = change["app"], change["quickbooks"]
        write_text(f"Both sides changed it: the app (change {app['id']}, {app['action']})"
                   f" and QuickBooks (change {qb['id']}, {qb['action']}, EditSequence {qb['edit_sequence']})\n")
        render(conflicts.side_by_side_of(app, qb, change["type"]), "table", ("field", "before", "app", "quickbooks"))
        say(conflicts_wait([app["id"]]))
        return
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

    A conflict (both sides changed one record) is neither approved, kept nor cleared: it waits
    until a side is picked with `qbsync resolve ID --use app|quickbooks`.
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
            result = {"queued": [], "held" if rule == "keep" else "cleared": [], "conflicts": []}
        else:
            shown = None
            if not yes:
                ordinary = [r for r in rows if not r["conflict"]]
                going = [r for r in ordinary if r["checked"] and r["id"] not in unchecked_now]
                left = len(ordinary) - len(going)
                imports = sum(1 for r in going if r["direction"] == "import")
                fate = "kept: they come back after the next Web Connector run" if rule == "keep" else "cleared: they do not come back unless they change again"
                conflicted = len(rows) - len(ordinary)
                warn(f"Approve {plural(len(going), 'change')} ({imports} import, {len(going) - imports} export)"
                    + (f"; {plural(left, 'unchecked change')} will be {fate}" if left else "")
                    + (f"; {plural(conflicted, 'conflict')} stay{'s' if conflicted == 1 else ''} waiting" if conflicted else ""))
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
            if result["conflicts"]:  # left undone: shown even with --quiet
                warn(conflicts_wait(result["conflicts"]))
    if fmt is not None:
        out = {"queued": result["queued"], "held": result.get("held", []), "cleared": result.get("cleared", []),
               "conflicts": result["conflicts"]}
        render([out], fmt)


class Side(str, Enum):
    """Whose version of a record both sides changed goes: the app's or QuickBooks'."""

    app = "app"
    quickbooks = "quickbooks"


def resolve(
    change_id: Annotated[str, typer.Argument(metavar="ID", help="Either change id of the conflict.")],
    use: Annotated[
        Side | None, typer.Option("--use", case_sensitive=False, help="Whose version goes (required): the app's or QuickBooks'.")
    ] = None,
    fmt: ResultFormatOption = None,
    conn: ConnectionOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Pick a side of a conflict: a record both the app and QuickBooks changed.

    `--use app`: QuickBooks' change is cleared; the app's change stays in the wizard, checked, and
    goes with the EditSequence QuickBooks had when its change was found (QuickBooks answers 3200
    only if it changed the record again since). `--use quickbooks`: the app's change is cleared
    and the app is told (feed result `dropped`); QuickBooks is not touched; QuickBooks' change
    stays in the wizard, checked. Either way approve it as usual.

    Examples:

        qbsync resolve 7 --use app

        qbsync resolve 7 --use quickbooks --format json
    """
    from qbsync.errors import UsageError
    from qbsync.sync import conflicts

    (cid,) = parse_ids([change_id]) or [0]
    if use is None:  # checked here, not by click: one line, like every usage error
        raise UsageError("resolve needs --use app or --use quickbooks (whose version goes)")
    side = getattr(use, "value", use)
    with open_db(db) as store:
        kept, dropped = conflicts.resolve(store, connection(store, conn), cid, side)
    if side == "app":
        say(f"change {kept['id']}: the app's version goes (checked; approve to send it); "
            f"QuickBooks' change {dropped['id']} cleared")
    else:
        say(f"change {kept['id']}: QuickBooks' version comes to the app (checked; approve to apply it); "
            f"the app's change {dropped['id']} cleared and the app told (feed: dropped); QuickBooks is not changed")
    if fmt is not None:
        render([kept, dropped], fmt, keys=conflicts.RESULT_KEYS)


def register(app: typer.Typer) -> None:
    app.command("pending")(pending)
    app.command("show")(show)
    app.command("check")(check)
    app.command("uncheck")(uncheck)
    app.command("approve")(approve)
    app.command("resolve")(resolve)
