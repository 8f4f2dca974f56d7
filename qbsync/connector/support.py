"""The /support status page (the .qwc's AppSupport URL) and the /healthz check.

Read-only and safe to show to whoever can reach the server: per connection, what waits in the
Sync Wizard, what is queued for the Web Connector, the Error Log with each status code's meaning
and the steps to resolve it, the last Web Connector contact and the latest Failed Syncs. No
usernames, passwords, tickets or record contents. Every value is HTML-escaped.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from qbsync import __version__
from qbsync.errors import QbsyncError
from qbsync.timeutil import utc_now

MAX_ROWS = 50  # per list on the page; the CLI shows the rest
RECENT_RUNS = 10


def store_is_healthy(db_path: Any) -> tuple[bool, str]:
    """(True, "") when the store opens and answers a query, else (False, a short reason)."""
    from qbsync.store import open_store
    from qbsync.store.connections import count_connections

    try:
        with open_store(db_path, write=False) as store:
            count_connections(store)
    except QbsyncError as exc:
        return False, str(exc)
    except Exception as exc:  # any failure means "not healthy"; the reason is for operators
        return False, f"{type(exc).__name__}: {exc}"
    return True, ""


def collect(store: Any) -> list[dict[str, Any]]:
    """Plain data for the page: one dict per connection."""
    from qbsync.store import connections as store_connections
    from qbsync.store.sessions import recent_sessions
    from qbsync.sync import errorlog, overview, wizard

    counts = {row["connection"]: row for row in overview.status(store)}
    out = []
    for conn in store_connections.list_connections(store):
        errors = errorlog.errors(store, conn, explain=True)
        noted = [q for q in wizard.queue(store, conn) if q["note"]]
        failed = errorlog.failed(store, conn)
        out.append({
            "name": conn["name"],
            "company_file": conn["company_file"],
            "qbxml_version": conn["qbxml_version"],
            "counts": counts.get(conn["name"], {}),
            "last_contact_at": conn["last_contact_at"],
            "last_contact_outcome": conn["last_contact_outcome"],
            "errors": errors,
            "failed": list(reversed(failed))[:MAX_ROWS],  # newest first
            "failed_total": len(failed),
            "runs": recent_sessions(store, conn["id"], limit=RECENT_RUNS),
            "queue_notes": noted,
        })
    return out


def render_support_page(db_path: Any, *, soap_path: str = "/qbwc") -> tuple[str, str]:
    """(HTTP status, HTML) for GET /support."""
    from qbsync.store import open_store

    try:
        with open_store(db_path, write=False) as store:
            connections = collect(store)
    except Exception as exc:
        body = _section("The store cannot be read", _p(
            f"qbsync could not open its store ({type(exc).__name__}: {exc}). "
            "Check that the server was started with the right --db and that the file is readable."
        ))
        return "503 Service Unavailable", _page(body)
    parts = [
        f"<p>This is the qbsync QuickBooks Web Connector service. The Web Connector talks to {_code(soap_path)} "
        f"(WSDL at {_code(soap_path + '?wsdl')}). Review and approve changes with {_code('qbsync pending')} and "
        f"{_code('qbsync approve')}; see every error with {_code('qbsync errors --explain')}.</p>"
    ]
    if not connections:
        parts.append(f"<p>No connection yet: add one with {_code('qbsync connection add NAME --username U')}.</p>")
    several = len(connections) > 1
    parts += [_connection(c, _Commands(c["name"] if several else None)) for c in connections]
    return "200 OK", _page("\n".join(parts))


# -- HTML ---------------------------------------------------------------------------------------

_e = html.escape

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .5em;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}"
    "section{border-top:2px solid #888;margin-top:1.5em}ol{margin:0;padding-left:1.2em;min-width:20em}.muted{color:#666}"
    # times and commands never break mid-token
    ".scroll{overflow-x:auto}time,code{white-space:nowrap}code{background:#f3f3f3;padding:0 .2em;border-radius:3px}"
)


class _Commands:
    """The CLI command for each action, with --connection only when the page shows several."""

    def __init__(self, connection: str | None) -> None:
        self.suffix = f" --connection {shlex.quote(connection)}" if connection is not None else ""

    def __call__(self, *words: Any) -> str:
        return _code("qbsync " + " ".join(str(w) for w in words) + self.suffix)


def _code(command: str) -> str:
    return f"<code>{_e(command)}</code>"


def _prose(text: Any) -> str:
    """Text from the catalogue or the Error Log, escaped, its `quoted commands` as <code>."""
    parts = _e("" if text is None else str(text)).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: leave the text as it is
        return "`".join(parts)
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _time(value: Any) -> str:
    return f'<time datetime="{_e(str(value))}">{_e(str(value))}</time>' if value else ""


def _page(body: str) -> str:
    generated = utc_now()
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>qbsync: Web Connector status</title><style>{_STYLE}</style></head><body>"
        f'<h1>qbsync: Web Connector status</h1>\n<p class="muted" id="generated">Generated at {_time(generated)} (UTC).'
        f"</p>\n{body}\n"
        f'<p class="muted">qbsync {_e(__version__)}. This page is read-only.</p></body></html>\n'
    )


def _p(text: str) -> str:
    return f"<p>{_e(text)}</p>"


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>\n{body}</section>"


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A table of cells that are already HTML (escape text with _e, or use _time/_code)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _s(value: Any) -> str:
    return "" if value is None else _e(str(value))


def _connection(c: Mapping[str, Any], cmd: _Commands) -> str:
    n = c["counts"]
    parts = [_table(
        ("Awaiting approval: import (QB → app)", "Awaiting approval: export (app → QB)",
         "Kept for the next run", "Queued for the Web Connector", "Errors"),
        [[_s(n.get("awaiting_import", 0)), _s(n.get("awaiting_export", 0)), _s(n.get("held", 0)),
          _s(n.get("queued", 0)), _s(n.get("errors", 0))]],
    )]
    if n.get("awaiting_import") or n.get("awaiting_export"):
        parts.append(f"<p>Changes await approval: review them with {cmd('pending')}, "
                     f"then run {cmd('approve')}.</p>")
    if c["last_contact_at"]:
        parts.append(f"<p>Last Web Connector contact: {_time(c['last_contact_at'])}, "
                     f"outcome: {_e(c['last_contact_outcome'] or 'unknown')}.</p>")
    else:
        parts.append(_p("The Web Connector has not contacted this connection yet."))
    parts.append(_runs(c["runs"]))
    parts.append(_errors(c["errors"], cmd))
    parts.append(_queue_notes(c["queue_notes"], cmd))
    parts.append(_failed(c["failed"], c["failed_total"], cmd))
    details = f"company file: {c['company_file'] or '(the one open in QuickBooks)'}; qbXML {c['qbxml_version']}"
    return _section(f"Connection {c['name']}", _p(details) + "\n" + "\n".join(parts))


def _runs(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return "<h3>Latest Web Connector runs</h3>" + _p("No Web Connector run yet.")
    rows = []
    for r in runs:
        if r["closed_at"]:
            outcome = r["summary"] or "closed"
        else:
            outcome = "in progress (or abandoned: it expires after the session timeout)"
        rows.append([_time(r["created_at"]), _time(r["closed_at"] or r["last_call_at"]), f"{r['percent']}%",
                     _prose(outcome), _prose(r["last_error"]) or '<span class="muted">none</span>'])
    return "<h3>Latest Web Connector runs</h3>" + _table(
        ("Started", "Ended (or last call)", "Done", "Outcome", "Last error"), rows
    )


def _steps(steps: Iterable[str]) -> str:
    items = "".join(f"<li>{_prose(s)}</li>" for s in steps)
    return f"<ol>{items}</ol>" if items else ""


def _actions(e: Mapping[str, Any], cmd: _Commands) -> str:
    """Each action the Error Log offers, as the command that does it."""
    if e.get("outcome_unknown"):
        return f"check QuickBooks first; only if the record is not there: {cmd('retry --force', e['id'])}"
    return "<br>".join(cmd(a, e["id"]) for a in e["actions"]) or "none (resolve it in QuickBooks)"


def _errors(errors: list[dict[str, Any]], cmd: _Commands) -> str:
    if not errors:
        return "<h3>Error Log</h3>" + _p("No errors.")
    rows = []
    for e in errors[:MAX_ROWS]:
        reason = _prose(e["reason"])
        if e.get("message") and e["message"] != e["reason"]:
            reason += f'<br><span class="muted">QuickBooks said: {_e(e["message"])}</span>'
        rows.append([
            _s(e["id"]), _e(f"{e['action']} {e['type']} {e['name'] or ''}"), _e(e["direction"]),
            _s(e["status_code"]), reason, _steps(e.get("steps") or ()),
            _actions(e, cmd), _time(e["last_tried"]),
        ])
    more = f"<p>… and {len(errors) - MAX_ROWS} more: run {cmd('errors')}.</p>" if len(errors) > MAX_ROWS else ""
    return "<h3>Error Log</h3>" + _table(
        ("Change", "What", "Direction", "Status code", "Reason", "How to resolve", "Run", "Last tried"), rows,
    ) + more


def _queue_notes(rows: list[dict[str, Any]], cmd: _Commands) -> str:
    if not rows:
        return ""
    table = _table(
        ("Change", "What", "Status", "Attempts", "Why it is waiting"),
        [[_s(q["id"]), _e(f"{q['action']} {q['type']} {q['name'] or ''}"), _e(q["status"]), _s(q["attempts"]),
          _prose(q["note"])] for q in rows[:MAX_ROWS]],
    )
    more = f"<p>… and {len(rows) - MAX_ROWS} more: run {cmd('queue')}.</p>" if len(rows) > MAX_ROWS else ""
    return "<h3>Queued changes with a note</h3>" + table + more


def _failed(failed: list[dict[str, Any]], total: int, cmd: _Commands) -> str:
    if not failed:
        return "<h3>Latest Failed Syncs</h3>" + _p("No failed syncs recorded.")
    rows = [
        [_time(f["failed_at"]), _s(f["change_id"]), _e(f"{f['action']} {f['type']} {f['name'] or ''}"),
         _e(f["direction"]), _s(f["status_code"]), _prose(f["reason"]),
         "resolved" if f["resolved"] else _s(f["change_status"])]
        for f in failed
    ]
    more = (f"<p>Showing the latest {len(failed)} of {total}: run {cmd('failed')} for all.</p>"
            if total > len(failed) else "")
    return "<h3>Latest Failed Syncs</h3>" + _table(
        ("When", "Change", "What", "Direction", "Status code", "Reason", "Now"), rows
    ) + more
