"""The /support status page (the .qwc's AppSupport URL) and the /healthz check.

Read-only and safe to show to whoever can reach the server: per connection, what waits in the
Sync Wizard, what is queued for the Web Connector, the Error Log with each status code's meaning
and the steps to resolve it, the last Web Connector contact and the latest Failed Syncs. No
usernames, passwords, tickets or record contents. Every value is HTML-escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from qbsync import __version__
from qbsync.errors import QbsyncError

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
    parts = [_p(
        f"This is the qbsync QuickBooks Web Connector service. The Web Connector talks to "
        f"{soap_path} (WSDL at {soap_path}?wsdl). Review and approve changes with "
        "`qbsync pending` / `qbsync approve`; see every error with `qbsync errors --explain`."
    )]
    if not connections:
        parts.append(_p("No connection yet: add one with `qbsync connection add NAME --username U`."))
    parts += [_connection(c) for c in connections]
    return "200 OK", _page("\n".join(parts))


# -- HTML ---------------------------------------------------------------------------------------

_e = html.escape

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:72em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .5em;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}.num{text-align:right}"
    "section{border-top:2px solid #888;margin-top:1.5em}ol{margin:0;padding-left:1.2em}.muted{color:#666}"
)


def _page(body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>qbsync: Web Connector status</title><style>{_STYLE}</style></head><body>"
        f"<h1>qbsync: Web Connector status</h1>\n{body}\n"
        f'<p class="muted">qbsync {_e(__version__)}. This page is read-only.</p></body></html>\n'
    )


def _p(text: str) -> str:
    return f"<p>{_e(text)}</p>"


def _section(title: str, body: str) -> str:
    return f"<section><h2>{_e(title)}</h2>\n{body}</section>"


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]], raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell if raw else _e(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _connection(c: Mapping[str, Any]) -> str:
    n = c["counts"]
    parts = [_table(
        ("Awaiting approval: import (QB → app)", "Awaiting approval: export (app → QB)",
         "Kept for the next run", "Queued for the Web Connector", "Errors"),
        [[_s(n.get("awaiting_import", 0)), _s(n.get("awaiting_export", 0)), _s(n.get("held", 0)),
          _s(n.get("queued", 0)), _s(n.get("errors", 0))]],
    )]
    if c["last_contact_at"]:
        parts.append(_p(f"Last Web Connector contact: {c['last_contact_at']}, "
                        f"outcome: {c['last_contact_outcome'] or 'unknown'}."))
    else:
        parts.append(_p("The Web Connector has not contacted this connection yet."))
    parts.append(_runs(c["runs"]))
    parts.append(_errors(c["errors"]))
    parts.append(_queue_notes(c["queue_notes"]))
    parts.append(_failed(c["failed"], c["failed_total"]))
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
        rows.append([_s(r["created_at"]), _s(r["closed_at"] or r["last_call_at"]), f"{r['percent']}%", outcome,
                     _s(r["last_error"])])
    return "<h3>Latest Web Connector runs</h3>" + _table(
        ("Started", "Ended (or last call)", "Done", "Outcome", "Last error"), rows
    )


def _steps(steps: Iterable[str]) -> str:
    items = "".join(f"<li>{_e(s)}</li>" for s in steps)
    return f"<ol>{items}</ol>" if items else ""


def _errors(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return "<h3>Error Log</h3>" + _p("No errors.")
    rows = []
    for e in errors[:MAX_ROWS]:
        reason = _e(e["reason"] or "")
        if e.get("message") and e["message"] != e["reason"]:
            reason += f'<br><span class="muted">QuickBooks said: {_e(e["message"])}</span>'
        rows.append([
            _e(_s(e["id"])), _e(f"{e['action']} {e['type']} {_s(e['name'])}"), _e(e["direction"]),
            _e(_s(e["status_code"])), reason, _steps(e.get("steps") or ()),
            _e(", ".join(e["actions"]) or "none (check QuickBooks first)"), _e(_s(e["last_tried"])),
        ])
    more = _p(f"… and {len(errors) - MAX_ROWS} more: run `qbsync errors`.") if len(errors) > MAX_ROWS else ""
    return "<h3>Error Log</h3>" + _table(
        ("Change", "What", "Direction", "Status code", "Reason", "How to resolve", "Actions", "Last tried"),
        rows, raw=True,
    ) + more


def _queue_notes(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    table = _table(
        ("Change", "What", "Status", "Attempts", "Why it is waiting"),
        [[_s(q["id"]), f"{q['action']} {q['type']} {_s(q['name'])}", q["status"], _s(q["attempts"]), _s(q["note"])]
         for q in rows[:MAX_ROWS]],
    )
    more = _p(f"… and {len(rows) - MAX_ROWS} more: run `qbsync queue`.") if len(rows) > MAX_ROWS else ""
    return "<h3>Queued changes with a note</h3>" + table + more


def _failed(failed: list[dict[str, Any]], total: int) -> str:
    if not failed:
        return "<h3>Latest Failed Syncs</h3>" + _p("No failed syncs recorded.")
    rows = [
        [_s(f["failed_at"]), _s(f["change_id"]), f"{f['action']} {f['type']} {_s(f['name'])}", f["direction"],
         _s(f["status_code"]), _s(f["reason"]), "resolved" if f["resolved"] else _s(f["change_status"])]
        for f in failed
    ]
    more = _p(f"Showing the latest {len(failed)} of {total}: run `qbsync failed` for all.") if total > len(failed) else ""
    return "<h3>Latest Failed Syncs</h3>" + _table(
        ("When", "Change", "What", "Direction", "Status code", "Reason", "Now"), rows
    ) + more
