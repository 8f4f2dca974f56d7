"""GET /support rendered by a real headless browser (Debian's `chromium`): what an admin sees,
read from the rendered DOM, not from the HTML source. Skips only where no browser is installed
(`apt-get install chromium`; .ci/run installs it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from lxml import html as lxml_html

from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.store import changes as store_changes
from qbsync.store import open_store
from qbsync.store import sessions as store_sessions
from qbsync.store.connections import add_connection
from qbsync.sync import delivery, export_results

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((path for name in BROWSERS if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless browser installed (apt-get install chromium)")

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LAST_ERROR = "QuickBooks could not open the company file C:\\Books\\acme.qbw"


def _change(store, cid, local_id, *, action="add", status="queued", direction="export"):
    return store_changes.insert_change(
        store, connection_id=cid, direction=direction, type_="Customer", action=action, local_id=local_id,
        qb_id="80000001-1" if action == "mod" else None, name=local_id, payload={"Name": local_id},
        before={}, status=status,
    )


@pytest.fixture
def db(tmp_path):
    """A store with changes awaiting approval, three Error Log entries and a run with a last error."""
    path = tmp_path / "qbsync.db"
    with open_store(path, create=True) as store:
        acme = add_connection(store, name="acme", username="acme-user", password_hash="scrypt$secret-hash")
        with store.transaction():
            _change(store, acme["id"], "Fir Street HOA", status="awaiting", direction="import")
            _change(store, acme["id"], "Cedar Lawns", status="awaiting")
            missing = _change(store, acme["id"], "Acme **Landscaping**")
            stale = _change(store, acme["id"], "Birch Tree Care", action="mod")
            lost = _change(store, acme["id"], "Grove `Apartments`")
        delivery.start_session(store, acme)
        export_results.mark_sending(store, [missing, stale, lost], message_id="m1")  # one message out
        delivery.record_error(store, missing, status_code=3140,
                             message='There is an invalid reference to QuickBooks Item "Leaf removal".')
        delivery.record_error(store, stale, status_code=3200, message="The provided edit sequence is out-of-date.")
        delivery.record_outcome_unknown(store, lost, reason="the connection dropped")
        delivery.end_session(store, acme, outcome="failed: 0 synced, 3 errors")
        with store.transaction():
            sid = store_sessions.create_session(store, ticket_hash="deadbeef" * 8, connection_id=acme["id"],
                                                at="2026-11-26T08:00:00Z", state={})
            store_sessions.update_session(store, sid, closed_at="2026-11-26T08:00:09Z", percent=100,
                                          summary="failed", last_error=LAST_ERROR)
    return path, {"missing": missing, "stale": stale, "lost": lost}


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
    return subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True, text=True, timeout=120,
    )


def _text(element) -> str:
    return " ".join(element.text_content().split())


def test_the_rendered_status_page_reads_well(db, tmp_path):
    path, ids = db
    before = datetime.now(timezone.utc).replace(microsecond=0)
    with serve(make_wsgi_app(ConnectorService(path)), "127.0.0.1", 0, threads=2) as server:
        url = server.url("/support")
        dumped = _chromium("--dump-dom", url)
        shot = tmp_path / "support.png"
        _chromium("--window-size=1280,2000", f"--screenshot={shot}", url)
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = lxml_html.fromstring(dumped.stdout)
    body = _text(dom.body)

    # When the page was generated, in ISO UTC, near now.
    (generated,) = dom.xpath('//*[@id="generated"]/time')
    assert ISO_UTC.match(generated.text)
    at = datetime.strptime(generated.text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before - timedelta(seconds=1) <= at <= datetime.now(timezone.utc) + timedelta(seconds=1)
    # Every time is one <time> element the style keeps on one line, and so is every command.
    times = dom.xpath("//time")
    assert len(times) >= 5 and all(ISO_UTC.match(t.text) for t in times)
    style = _text(dom.xpath("//style")[0])
    assert re.search(r"time,code\{white-space:nowrap", style)

    # Awaiting changes with the commands that review and approve them.
    codes = [_text(c) for c in dom.xpath("//code")]
    assert "qbsync pending" in codes and "qbsync approve" in codes
    assert "Changes await approval" in body

    # The Error Log: each action as the command to run, next to its change.
    rows = {_text(tr.xpath("td")[0]): tr for tr in dom.xpath("//h3[.='Error Log']/following-sibling::div[1]/table//tr[td]")}
    def commands(change_id):  # the "Run" column
        return [_text(c) for c in rows[str(change_id)].xpath("td[7]//code")]
    assert commands(ids["missing"]) == [f"qbsync retry {ids['missing']}"]
    assert commands(ids["stale"]) == [f"qbsync retry {ids['stale']}", f"qbsync fix-edit-sequence {ids['stale']}"]
    assert commands(ids["lost"]) == [f"qbsync retry --force {ids['lost']}"]
    assert "check QuickBooks first" in _text(rows[str(ids["lost"])])
    assert 'QuickBooks said: There is an invalid reference to QuickBooks Item "Leaf removal".' in body

    # The run that failed, with its last error filled in.
    runs = dom.xpath("//h3[.='Latest Web Connector runs']/following-sibling::div[1]/table//tr[td]")
    assert any(_text(tr.xpath("td")[-1]) == LAST_ERROR for tr in runs)

    # No literal Markdown outside what the data itself says, and no secrets.
    for name in ("Acme **Landscaping**", "Grove `Apartments`"):
        body = body.replace(name, "")
    assert "**" not in body and "`" not in body
    page = dumped.stdout
    assert "secret-hash" not in page and "deadbeef" not in page and "acme-user" not in page
    assert "password" not in body.lower()

    # A screenshot was taken (look at it with QBSYNC_KEEP_SCREENSHOT=DIR).
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if keep := os.environ.get("QBSYNC_KEEP_SCREENSHOT"):
        shutil.copy(shot, keep)
