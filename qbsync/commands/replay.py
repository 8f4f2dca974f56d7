"""`qbsync replay FOLDER`: play a recorded Web Connector session against the current code, and
the report it prints (a unified-style text diff, or one JSON document)."""

from __future__ import annotations

import sys
from dataclasses import asdict
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from qbsync.replay import ReplayResult
    from qbsync.replay.diff import Difference


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
    from qbsync.replay import replay as run_replay

    result = run_replay(folder)
    if fmt is ReplayFormat.json:
        from qbsync.output import dumps

        sys.stdout.write(dumps(as_json(result)) + "\n")
    else:
        sys.stdout.write(format_text(result))
    sys.stdout.flush()
    if not result.identical:
        raise typer.Exit(1)


# -- the report ---------------------------------------------------------------------------------


def as_json(result: ReplayResult) -> dict[str, Any]:
    """The `--format json` document (keys and their order are part of the CLI's contract)."""
    from qbsync.replay.diff import callback_line
    from qbsync.replay.runner import NORMALISED

    rec = result.recording
    return {
        "recording": str(rec.folder),
        "connection": rec.connection,
        "started_at": rec.meta.get("started_at"),
        "identical": result.identical,
        "requests": {"recorded": len(rec.exchanges), "now": len(result.requests_now)},
        "callbacks": {"recorded": [callback_line(c) for c in rec.callbacks],
                      "now": [callback_line(c) for c in result.callbacks_now]},
        "differences": [_difference_json(d) for d in result.differences],
        "run_outcome": result.outcome,
        "server_errors": result.server_errors,
        "normalised": list(NORMALISED),
        "notes": result.notes,
    }


def _difference_json(difference: Difference) -> dict[str, Any]:
    """A difference's fields, leaving out those that do not apply (recorded/now always stay)."""
    return {k: v for k, v in asdict(difference).items() if v is not None or k in ("recorded", "now")}


def format_text(result: ReplayResult) -> str:
    """A unified-style report: for each request message, the element paths that differ with
    the recorded value (-) and the value now (+); then the callbacks that differ."""
    from qbsync.replay.diff import align_callbacks, callback_line

    rec = result.recording
    out = [f"--- recorded: {rec.folder} (connection {rec.connection}, {rec.meta.get('started_at', '?')})",
           "+++ now: the current code"]
    by_message: dict[int, list[Difference]] = {}
    for d in result.differences:
        if d.where == "request":
            by_message.setdefault(d.message or 0, []).append(d)
    for n in sorted(by_message):
        name = rec.exchanges[n - 1].request_file if n <= len(rec.exchanges) else "not recorded"
        out.append(f"@@ request {n} ({name}) @@")
        for d in by_message[n]:
            out.append(f"  {d.path} ({d.kind})")
            if d.recorded is not None:
                out.append(f"-   {d.recorded}")
            if d.now is not None:
                out.append(f"+   {d.now}")
    calls = [d for d in result.differences if d.where == "callback"]
    if calls:
        out.append("@@ callbacks @@")
        for tag, a, b in align_callbacks(rec.callbacks, result.callbacks_now):
            if tag == " ":
                out.append(f"  {callback_line(a)}")
            if tag in ("~", "-"):
                out.append(f"- {callback_line(a)}")
            if tag in ("~", "+"):
                out.append(f"+ {callback_line(b)}")
    for err in result.server_errors:
        out.append(f"server: {err}")
    for note in result.notes:
        out.append(f"note: {note}")
    n_req = len(by_message)
    if result.identical:
        out.append(f"identical: {len(rec.exchanges)} request message(s) and {len(rec.callbacks)} callback(s) "
                   "replayed against the current code")
    else:
        out.append(f"{len(result.differences)} difference(s): {n_req} request message(s), "
                   f"{len(calls)} callback(s) differ")
    return "\n".join(out) + "\n"


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
