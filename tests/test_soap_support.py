"""GET /support and GET /healthz over real HTTP, reading a real SQLite store filled through the
store and session library functions (a message marked sent as the service marks it)."""

from __future__ import annotations

import html
import os
import re

import pytest
from soap_helpers import request
from soap_standin import StandInService

from qbsync.qbxml.status_codes import lookup
from qbsync.connector.app import make_wsgi_app, serve
from qbsync.store import changes as store_changes
from qbsync.store import open_store
from qbsync.store import sessions as store_sessions
from qbsync.store.connections import add_connection
from qbsync.sync import delivery, export_results


def _change(store, cid, local_id, *, direction="export", status="queued", name=None):
    return store_changes.insert_change(
        store, connection_id=cid, direction=direction, type_="Customer", action="add", local_id=local_id,
        qb_id=None, name=name or local_id, payload={"Name": name or local_id}, before={}, status=status,
    )


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    with open_store(path, create=True) as store:
        acme = add_connection(store, name="acme", username="acme-user", password_hash="scrypt$secret-hash")
        other = add_connection(store, name="<b>evil</b> & co", username="other-user", password_hash="x")
        with store.transaction():
            for i in range(3):
                _change(store, acme["id"], f"imp-{i}", direction="import", status="awaiting")
            for i in range(2):
                _change(store, acme["id"], f"exp-{i}", status="awaiting")
            _change(store, acme["id"], "held-1", status="held")
            for i in range(4):
                _change(store, acme["id"], f"q-{i}")
            dup = _change(store, acme["id"], "dup", name="Smith <&> Sons")
            lost = _change(store, acme["id"], "lost")
        delivery.start_session(store, acme)
        sent = [c["id"] for c in store_changes.list_changes(store, acme["id"], ["queued"], direction="export")]
        export_results.mark_sending(store, sent, message_id="m1")  # one message out, as the service sends it
        assert {dup, lost} <= set(sent)
        delivery.record_error(store, dup, status_code=3100, message='The name "Smith <&> Sons" is already in use.')
        delivery.record_outcome_unknown(store, lost, reason="the connection dropped")
        for cid in sent:
            if cid not in (dup, lost):
                delivery.record_requeue(store, cid, reason="waiting for <Customer> q-0 & co")
        delivery.end_session(store, acme, outcome="ok: 0 synced, 2 errors")
        with store.transaction():
            sid = store_sessions.create_session(store, ticket_hash="deadbeef" * 8, connection_id=acme["id"],
                                                at="2026-11-26T08:00:00Z", state={})
            store_sessions.update_session(store, sid, closed_at="2026-11-26T08:00:09Z", percent=100,
                                          summary="Synced 37, 2 errors")
        _change(store, other["id"], "x-1", status="awaiting")
    return path


def test_support_page_shows_counts_errors_steps_and_last_contact(db):
    with serve(make_wsgi_app(StandInService(db)), "127.0.0.1", 0, threads=2) as server:
        reply = request(server.url("/support"))
    assert reply.status == 200
    assert reply.content_type == "text/html; charset=utf-8"
    page = reply.body.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>")
    # Counts for acme: 3 import + 2 export awaiting (held came back after the run), 4 queued, 2 errors.
    assert "<td>3</td><td>3</td><td>0</td><td>4</td><td>2</td>" in page
    # The error with its code, QuickBooks' message (escaped) and the catalogue's steps.
    info = lookup(3100)
    assert "<td>3100</td>" in page
    assert html.escape(info.steps[0]) in page
    assert "Smith &lt;&amp;&gt; Sons" in page and "Smith <&> Sons" not in page
    assert "outcome unknown" in page
    assert "Queued changes with a note" in page and "waiting for &lt;Customer&gt; q-0 &amp; co" in page
    assert "Last Web Connector contact:" in page and "ok: 0 synced, 2 errors" in page
    assert "Latest Failed Syncs" in page
    assert "Latest Web Connector runs" in page and "Synced 37, 2 errors" in page and "deadbeef" not in page
    # HTML-escaped connection names; no secrets.
    assert "<b>evil</b>" not in page and "&lt;b&gt;evil&lt;/b&gt; &amp; co" in page
    assert "secret-hash" not in page and "acme-user" not in page and "password" not in page.lower()


def test_support_page_with_an_empty_store(tmp_path):
    path = tmp_path / "empty.db"
    open_store(path, create=True).close()
    with serve(make_wsgi_app(StandInService(path)), "127.0.0.1", 0, threads=1) as server:
        reply = request(server.url("/support"))
    assert reply.status == 200
    assert "No connection yet" in reply.body.decode()


def test_healthz_is_503_when_the_store_cannot_be_opened(tmp_path):
    path = tmp_path / "qbsync.db"
    open_store(path, create=True).close()
    with serve(make_wsgi_app(StandInService(path)), "127.0.0.1", 0, threads=1) as server:
        assert request(server.url("/healthz")).status == 200
        os.remove(path)
        reply = request(server.url("/healthz"))
        assert reply.status == 503
        assert reply.body.startswith(b"store unavailable")
        assert request(server.url("/support")).status == 503
        path.write_bytes(b"this is not a database at all, just text")
        assert request(server.url("/healthz")).status == 503


def test_support_page_names_the_command_for_each_action_without_markdown(db):
    """The HTML itself (tests/test_support_browser.py checks the rendered page where a browser is installed)."""
    with serve(make_wsgi_app(StandInService(db)), "127.0.0.1", 0, threads=2) as server:
        page = request(server.url("/support")).body.decode("utf-8")
    assert re.search(r'id="generated">Generated at <time datetime="[0-9T:-]+Z">', page)
    # Two connections on the page: each command names its connection.
    assert re.search(r"<code>qbsync retry \d+ --connection acme</code>", page)
    assert re.search(r"<code>qbsync retry --force \d+ --connection acme</code>", page)
    assert "<code>qbsync approve --connection acme</code>" in page
    assert html.escape("qbsync approve --connection '<b>evil</b> & co'") in page  # shell-quoted, then escaped
    assert "`" not in page and "**" not in page
