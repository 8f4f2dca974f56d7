"""`qbsync replay`: the shipped recordings replay identical against the current code (real store
copy, real server over HTTP, the shipped WebConnector); altered recordings are reported with
the element path, recorded and current values, exit 1; unusable folders exit 2; recordings
hold no secrets."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qbsync.commands.replay import format_text
from qbsync.recording import BadRecording, load_recording
from qbsync.replay import replay
from qbsync.replay.company import RecordedCompany

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT / "tests" / "recordings"
SHIPPED = sorted(p.parent for p in RECORDINGS.glob("*/session.json"))


def _make_recordings_module():
    spec = importlib.util.spec_from_file_location("make_recordings", RECORDINGS / "make_recordings.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "qbsync", *args], capture_output=True, text=True, env=env,
                          cwd=str(ROOT), timeout=120)


def copy_of(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(RECORDINGS / name, dest)
    return dest


def edit_session(folder: Path, change) -> None:
    path = folder / "session.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


# -- the shipped recordings -------------------------------------------------------------------


def test_the_expected_scenarios_are_shipped():
    assert {p.name for p in SHIPPED} >= {"export-batch", "error-3100", "mod-after-sync", "company-file-error",
                                         "response-lost"}


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_recording_replays_identical(folder):
    result = replay(folder)
    assert result.identical, format_text(result)
    assert len(result.requests_now) == len(result.recording.exchanges)
    assert [c.call for c in result.callbacks_now] == [c.call for c in result.recording.callbacks]
    assert result.server_errors == []


def test_the_scenarios_cover_what_they_say():
    batch = load_recording(RECORDINGS / "export-batch")
    sent = "".join(ex.request for ex in batch.exchanges)
    for request in ("CustomerAddRq", "ParentRef", "ItemServiceAddRq", "InvoiceAddRq", "InvoiceLineAdd"):
        assert request in sent
    error = load_recording(RECORDINGS / "error-3100")
    assert 'statusCode="3100"' in error.exchanges[0].response
    mod = load_recording(RECORDINGS / "mod-after-sync")
    assert "<CustomerModRq" in mod.exchanges[0].request and "<EditSequence>" in mod.exchanges[0].request
    assert [c.call for c in load_recording(RECORDINGS / "company-file-error").callbacks] == [
        "authenticate", "connectionError"]
    lost = load_recording(RECORDINGS / "response-lost")
    assert len(lost.exchanges) == 1 and not lost.exchanges[0].answered


def test_cli_identical_exits_0_text_and_json():
    proc = run_cli("replay", str(RECORDINGS / "export-batch"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "identical: 3 request message(s)" in proc.stdout
    proc = run_cli("replay", str(RECORDINGS / "error-3100"), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["identical"] is True and data["differences"] == []
    assert data["requests"] == {"recorded": 1, "now": 1}
    assert data["connection"] == "acme"
    assert any("newMessageSetID" in n for n in data["normalised"])


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_recordings_hold_no_secrets(folder):
    rec_module = _make_recordings_module()
    for path in folder.iterdir():
        data = path.read_bytes()
        assert rec_module.PASSWORD.encode() not in data, path
        assert b"scrypt$" not in data, f"{path} holds a password hash"
    # immutable: read without creating -shm/-wal files beside the shipped recording
    conn = sqlite3.connect(f"file:{folder / 'store-at-start.db'}?mode=ro&immutable=1", uri=True)
    try:
        assert {r[0] for r in conn.execute("SELECT password_hash FROM connections")} == {""}
        assert all(h.startswith("redacted") for (h,) in conn.execute("SELECT ticket_hash FROM sessions"))
    finally:
        conn.close()
    assert "<ticket>" in (folder / "session.json").read_text(encoding="utf-8")


def test_replaying_leaves_the_recording_untouched(tmp_path):
    folder = copy_of("export-batch", tmp_path)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert replay(folder).identical
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_the_recorded_session_itself_in_the_store_copy_does_not_make_the_replay_busy(tmp_path):
    """Should the copy be taken after authenticate opened the session, the replay closes that
    session first: the current code must not answer busy to itself."""
    from qbsync.store import connections as store_connections
    from qbsync.store import sessions as store_sessions
    from qbsync.store.db import open_store

    folder = copy_of("export-batch", tmp_path)
    started = json.loads((folder / "session.json").read_text(encoding="utf-8"))["started_at"]
    with open_store(folder / "store-at-start.db") as store:
        cid = store_connections.get_connection(store, "acme")["id"]
        store_sessions.create_session(store, ticket_hash="redacted-99", connection_id=cid, at=started, state={})
    result = replay(folder)
    assert result.identical, format_text(result)


# -- altered recordings: reported, exit 1 -------------------------------------------------------


def test_a_changed_field_is_reported_with_its_element_path(tmp_path):
    folder = copy_of("export-batch", tmp_path)
    request = folder / "001-request.xml"
    request.write_text(request.read_text(encoding="utf-8").replace("<Phone>555-0100</Phone>", "<Phone>555-0199</Phone>"),
                       encoding="utf-8")
    proc = run_cli("replay", str(folder))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert "@@ request 1 (001-request.xml) @@" in out
    assert 'QBXML/QBXMLMsgsRq/CustomerAddRq[requestID="c1"]/CustomerAdd/Phone (changed)' in out
    assert "-   555-0199" in out and "+   555-0100" in out
    assert "1 difference(s)" in out
    proc = run_cli("replay", str(folder), "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["identical"] is False
    assert data["differences"] == [{
        "where": "request", "kind": "changed", "recorded": "555-0199", "now": "555-0100", "message": 1,
        "path": 'QBXML/QBXMLMsgsRq/CustomerAddRq[requestID="c1"]/CustomerAdd/Phone',
    }]


def test_a_changed_request_id_a_missing_line_and_a_changed_version(tmp_path):
    folder = copy_of("export-batch", tmp_path)
    req3 = folder / "003-request.xml"
    text = req3.read_text(encoding="utf-8")
    line = text[text.index("<InvoiceLineAdd>"): text.index("</InvoiceLineAdd>") + len("</InvoiceLineAdd>")]
    text = text.replace(line, line + line.replace("<Quantity>3</Quantity>", "<Quantity>1</Quantity>"))
    text = text.replace('requestID="c4"', 'requestID="c9"').replace('version="13.0"?>', 'version="14.0"?>')
    req3.write_text(text, encoding="utf-8")
    result = replay(folder)
    found = {(d.kind, d.path): (d.recorded, d.now) for d in result.differences}
    base = 'QBXML/QBXMLMsgsRq/InvoiceAddRq[requestID="c9"]'
    assert found[("changed", "<?qbxml version?>")] == ("14.0", "13.0")
    assert found[("changed", base + "/@requestID")] == ("c9", "c4")
    assert ("missing", base + "/InvoiceAdd/InvoiceLineAdd[2]") in found
    assert "<Quantity>1</Quantity>" in found[("missing", base + "/InvoiceAdd/InvoiceLineAdd[2]")][0]
    assert all(d.message == 3 for d in result.differences)


def test_a_changed_percent_and_closing_text_are_reported(tmp_path):
    folder = copy_of("export-batch", tmp_path)

    def change(data):
        receive = [c for c in data["calls"] if c["call"] == "receiveResponseXML"]
        receive[0]["result"] = 10
        close = [c for c in data["calls"] if c["call"] == "closeConnection"][0]
        close["result"] = "Synced 99"

    edit_session(folder, change)
    result = replay(folder)
    calls = [d for d in result.differences if d.where == "callback"]
    assert [(d.call, d.recorded) for d in calls] == [("receiveResponseXML", "receiveResponseXML: 10"),
                                                    ("closeConnection", 'closeConnection: "Synced 99"')]
    assert calls[1].now.startswith('closeConnection: "Synced 4')
    text = format_text(result)
    assert "@@ callbacks @@" in text and "- receiveResponseXML: 10" in text and "+ receiveResponseXML: " in text


def test_a_request_sent_in_another_message_is_reported_as_moved(tmp_path):
    """Replayed with a batch size of 1, the current code sends the item in a message of its own."""
    folder = copy_of("export-batch", tmp_path)
    edit_session(folder, lambda d: d.update(batch_size=1))
    result = replay(folder)
    moved = [d for d in result.differences if d.kind == "moved"]
    assert [(d.path, d.recorded, d.now) for d in moved] == [
        ('QBXML/QBXMLMsgsRq/ItemServiceAddRq[requestID="c3"]', "message 1", "message 3")]
    assert any("can follow from it" in n for n in result.notes)
    assert "(moved)" in format_text(result)


def test_more_requests_now_than_recorded(tmp_path):
    """A recording cut after message 2: the current code sends a third, which the recording
    cannot answer (the session ends as on a lost response) and which is reported."""
    folder = copy_of("export-batch", tmp_path)

    def cut(data):
        keep = []
        for c in data["calls"]:
            if c.get("seq") == 3 or c["call"] == "closeConnection":
                break
            keep.append(c)
        data["calls"] = keep

    edit_session(folder, cut)
    result = replay(folder)
    assert not result.identical
    added = [d for d in result.differences if d.where == "request"]
    assert [(d.kind, d.message) for d in added] == [("added", 3)]
    assert [d.call for d in result.differences if d.where == "callback" and d.kind == "added"] == ["sendRequestXML"]


def test_fewer_requests_now_than_recorded(tmp_path):
    folder = copy_of("error-3100", tmp_path)
    extra = folder / "002-request.xml"
    shutil.copy(folder / "001-request.xml", extra)

    def add(data):
        data["calls"].insert(-1, {"call": "sendRequestXML", "seq": 2, "request_file": "002-request.xml"})

    edit_session(folder, add)
    result = replay(folder)
    assert ("missing", 2) in [(d.kind, d.message) for d in result.differences if d.where == "request"]


# -- unusable folders: exit 2 --------------------------------------------------------------------


def _bad(tmp_path: Path, how: str) -> Path:
    folder = copy_of("error-3100", tmp_path)
    if how == "no session.json":
        (folder / "session.json").unlink()
    elif how == "not json":
        (folder / "session.json").write_text("{", encoding="utf-8")
    elif how == "other format":
        edit_session(folder, lambda d: d.update(format=99))
    elif how == "no store":
        (folder / "store-at-start.db").unlink()
    elif how == "no request file":
        (folder / "001-request.xml").unlink()
    elif how == "no response file":
        (folder / "001-response.xml").unlink()
    elif how == "path in a file name":
        edit_session(folder, lambda d: next(c for c in d["calls"] if "request_file" in c).update(request_file="../../etc/passwd"))
    elif how == "not a store":
        (folder / "store-at-start.db").write_bytes(b"not sqlite at all")
    elif how == "unknown connection":
        edit_session(folder, lambda d: d.update(connection="nobody"))
    return folder


@pytest.mark.parametrize("how", ["no session.json", "not json", "other format", "no store", "no request file",
                                 "no response file", "path in a file name", "not a store", "unknown connection"])
def test_a_bad_recording_folder_exits_2_with_one_line(tmp_path, how):
    folder = _bad(tmp_path, how)
    proc = run_cli("replay", str(folder))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qbsync: error: "), proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_folder_and_a_file_exit_2(tmp_path):
    for target in (tmp_path / "nope", RECORDINGS / "make_recordings.py"):
        proc = run_cli("replay", str(target))
        assert proc.returncode == 2 and "not a folder" in proc.stderr


def test_a_folder_of_recordings_names_them(tmp_path):
    copy_of("error-3100", tmp_path)
    with pytest.raises(BadRecording, match="error-3100"):
        load_recording(tmp_path)


def test_help_has_an_example():
    proc = run_cli("replay", "--help")
    assert proc.returncode == 0 and "qbsync replay" in proc.stdout and "--format" in proc.stdout


# -- the recorded QuickBooks side ----------------------------------------------------------------


def test_the_recorded_company_answers_with_the_replay_message_set_id():
    rec = load_recording(RECORDINGS / "export-batch")
    company = RecordedCompany(rec)
    recorded = rec.exchanges[0]
    old_id = recorded.request.split('newMessageSetID="')[1].split('"')[0]
    reply = company.process(recorded.request.replace(old_id, "qbsync-77-1-abcdef12"))
    assert 'newMessageSetID="qbsync-77-1-abcdef12"' in reply.xml and old_id not in reply.xml
    assert reply.hresult == ""


# -- a recording made now replays identical now ---------------------------------------------------


def test_a_fresh_recording_replays_identical(tmp_path):
    module = _make_recordings_module()
    folder = module.make("error-3100", tmp_path)
    result = replay(folder)
    assert result.identical, format_text(result)
