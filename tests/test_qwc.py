"""The .qwc file: checked against Intuit's QWC.xsd (for the elements it knows) and the shapes of
Intuit's sample .qwc files, the Web Connector's URL rules, and `qbsync qwc` through the
real CLI (in process) on a real store (GUIDs kept per connection, atomic --output, one-line refusals)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lxml import etree
from wizard_support import run_cli

from qbsync import qwc
from qbsync.errors import InvalidInput
from qbsync.store import open_store
from qbsync.store.connections import add_connection

SHARED = Path(__file__).resolve().parents[2] / "shared" / "qbwc"
GUID = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")
OWNER = "{57F3B9B1-86F1-4FCC-B1EE-566DE1813D20}"
FILE = "{90A44FB5-33D9-4815-AC85-BC87A7E7D1EB}"
# Elements Intuit's samples and guide use that the old QWC.xsd does not know.
NOT_IN_XSD = {"IsReadOnly", "AuthFlags", "CertURL", "Notify", "PersonalDataPref", "UnattendedModePref"}


def _validate_with_qwc_xsd(text: str) -> None:
    schema = etree.XMLSchema(etree.parse(str(SHARED / "QWC.xsd")))
    doc = etree.fromstring(text.encode("utf-8"))
    for el in list(doc):
        if el.tag in NOT_IN_XSD:
            doc.remove(el)
    assert schema.validate(doc), schema.error_log


def _fields(text: str) -> dict[str, str]:
    doc = etree.fromstring(text.encode("utf-8"))
    assert doc.tag == "QBWCXML"
    return {el.tag: (el.text or "") for el in doc}


def _render(**kw) -> str:
    values = dict(connection="acme", username="acme-sync", app_url="https://sync.example.com/qbwc",
                  owner_id=OWNER, file_id=FILE)
    values.update(kw)
    return qwc.render(qwc.QwcFile(**values))


def test_render_validates_against_qwc_xsd_and_has_every_element():
    text = _render(every_minutes=15)
    _validate_with_qwc_xsd(text)
    f = _fields(text)
    assert f["AppName"] == "qbsync (acme)"
    assert f["AppID"] == "qbsync"
    assert f["AppURL"] == "https://sync.example.com/qbwc"
    assert f["AppSupport"] == "https://sync.example.com/support"
    assert f["UserName"] == "acme-sync"
    assert f["OwnerID"] == OWNER and f["FileID"] == FILE
    assert f["QBType"] == "QBFS"
    assert f["IsReadOnly"] == "false"
    assert f["Style"] == "Document"
    assert len(f["AppDescription"]) <= 80
    sched = etree.fromstring(text.encode()).find("Scheduler/RunEveryNMinutes")
    assert sched is not None and sched.text == "15"
    assert "<![CDATA[" not in text and "Password" not in text


def test_without_every_minutes_there_is_no_scheduler():
    text = _render()
    _validate_with_qwc_xsd(text)
    assert "Scheduler" not in _fields(text)


@pytest.mark.parametrize("sample", sorted(p.name for p in (SHARED / "qwc").glob("*.qwc")))
def test_has_every_element_of_intuits_sample_files(sample):
    theirs = _fields((SHARED / "qwc" / sample).read_text())
    ours = _fields(_render(every_minutes=5))
    assert set(theirs) - {"AuthFlags", "CertURL"} <= set(ours)
    assert ours["QBType"] == theirs["QBType"] and ours["Style"] == theirs["Style"]
    for key in ("OwnerID", "FileID"):
        assert re.fullmatch(r"\{[0-9A-Fa-f-]{36}\}", theirs[key]) and GUID.match(ours[key])


def test_names_are_escaped_and_the_description_stays_short():
    text = _render(connection="Smith & <Sons> " + "x" * 100, username="a&b")
    f = _fields(text)
    assert f["AppName"].startswith("qbsync (Smith & <Sons> ")
    assert f["UserName"] == "a&b"
    assert len(f["AppDescription"]) == 80 and f["AppDescription"].endswith("…)")
    _validate_with_qwc_xsd(text)


@pytest.mark.parametrize("url, support", [
    ("https://sync.example.com/qbwc", "https://sync.example.com/support"),
    ("https://sync.example.com:8443/qbsync/qbwc", "https://sync.example.com:8443/support"),
    ("http://localhost:8080/qbwc", "http://localhost:8080/support"),
    ("http://LOCALHOST/qbwc", "http://LOCALHOST/support"),
    ("https://quickbooks-pc/qbwc", "https://quickbooks-pc/support"),
])
def test_accepted_urls_and_their_support_url_on_the_same_host(url, support):
    assert qwc.support_url(url) == support


@pytest.mark.parametrize("url, words", [
    ("http://sync.example.com/qbwc", "https"),
    ("http://127.0.0.1:8080/qbwc", "IP address"),
    ("https://10.0.0.5/qbwc", "IP address"),
    ("https://[::1]:8080/qbwc", "IP address"),
    ("https://user:secret@sync.example.com/qbwc", "user name or password"),
    ("ftp://sync.example.com/qbwc", "https://"),
    ("sync.example.com/qbwc", "https://"),
    ("https://sync.example.com:70000/qbwc", "port"),
    ("https://sync.example.com", "including its path"),
    ("https://sync.example.com/support", "including its path"),
])
def test_refused_urls(url, words):
    with pytest.raises(InvalidInput) as exc:
        qwc.check_app_url(url)
    assert words in str(exc.value) and "\n" not in str(exc.value)
    assert "secret" not in str(exc.value)


# -- the command -----------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    with open_store(path, create=True) as store:
        add_connection(store, name="acme", username="acme-sync", password_hash="x")
        add_connection(store, name="beta", username="beta-sync", password_hash="x")
    return path


def test_qwc_command_writes_a_stable_file_per_connection(db, tmp_path):
    first = run_cli("qwc", "acme", "--url", "https://sync.example.com/qbwc", "--every-minutes", "15", db=db)
    assert first.returncode == 0, first.stderr
    again = run_cli("qwc", "acme", "--url", "https://sync.example.com/qbwc", "--every-minutes", "15", db=db)
    assert again.stdout == first.stdout  # the same GUIDs on every run
    other = run_cli("qwc", "beta", "--url", "https://sync.example.com/qbwc", db=db)
    _validate_with_qwc_xsd(first.stdout)
    a, b = _fields(first.stdout), _fields(other.stdout)
    assert a["UserName"] == "acme-sync" and b["UserName"] == "beta-sync"
    assert a["AppName"] != b["AppName"]
    assert a["OwnerID"] == b["OwnerID"] and GUID.match(a["OwnerID"])  # one per application
    assert a["FileID"] != b["FileID"] and GUID.match(a["FileID"])  # one per connection

    out = tmp_path / "acme.qwc"
    written = run_cli("qwc", "acme", "--url", "https://sync.example.com/qbwc", "--every-minutes", "15",
                      "--output", str(out), db=db)
    assert written.returncode == 0 and written.stdout == ""
    assert out.read_text(encoding="utf-8") == first.stdout
    assert "wrote" in written.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".acme.qwc")] == []  # no temp file left


def test_localhost_http_is_accepted_with_a_note(db):
    proc = run_cli("qwc", "acme", "--url", "http://localhost:8080/qbwc", db=db)
    assert proc.returncode == 0
    assert _fields(proc.stdout)["AppSupport"] == "http://localhost:8080/support"
    assert "localhost" in proc.stderr


@pytest.mark.parametrize("args, code, words", [
    (["acme", "--url", "http://sync.example.com/qbwc"], 2, "https"),
    (["acme", "--url", "https://192.168.1.10/qbwc"], 2, "IP address"),
    (["acme", "--url", "https://me:pw@sync.example.com/qbwc"], 2, "password"),
    (["nobody", "--url", "https://sync.example.com/qbwc"], 1, "no connection named 'nobody'"),
    (["acme", "--url", "https://sync.example.com/qbwc", "--every-minutes", "0"], 2, "every-minutes"),
])
def test_refusals_are_one_line_and_write_nothing(db, tmp_path, args, code, words):
    out = tmp_path / "out.qwc"
    proc = run_cli("qwc", *args, "--output", str(out), db=db)
    assert proc.returncode == code, proc.stderr
    assert words in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("qbsync: error:")
    assert not out.exists() and proc.stdout == ""


def test_a_missing_store_is_refused(tmp_path):
    proc = run_cli("qwc", "acme", "--url", "https://sync.example.com/qbwc", db=tmp_path / "none.db")
    assert proc.returncode == 1 and "qbsync init" in proc.stderr


# -- characters XML cannot carry (one rule: qbsync.qbxml.xmlchars) ---------------------------------


@pytest.mark.parametrize("name, code_point", [
    ("acme\x01", "U+0001"),  # a control character
    ("acme\ufffe", "U+FFFE"),  # a non-character
    ("acme\udcff", "U+DCFF"),  # a lone surrogate (a command-line byte that is not UTF-8)
])
def test_render_refuses_a_name_xml_cannot_carry(name, code_point):
    for fields in ({"connection": name}, {"username": name}):
        with pytest.raises(InvalidInput) as exc:
            _render(**fields)
        assert code_point in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("name, code_point", [("acme\x01", "U+0001"), ("acme\ufffe", "U+FFFE")])
def test_qwc_command_refuses_a_stored_name_xml_cannot_carry(tmp_path, name, code_point):
    db = tmp_path / "qbsync.db"
    with open_store(db, create=True) as store:  # as a store written before names were checked
        add_connection(store, name=name, username="acme-sync", password_hash="x")
    out = tmp_path / "out.qwc"
    proc = run_cli("qwc", name, "--url", "https://sync.example.com/qbwc", "--output", str(out), db=db)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("qbsync: error:") and proc.stderr.count("\n") == 1 and code_point in proc.stderr
    assert not out.exists() and proc.stdout == ""


@pytest.mark.parametrize("args, code", [
    (["acme\udcff", "--url", "https://sync.example.com/qbwc"], 3),  # a lone surrogate in the name
    (["acme", "--url", "https://sync.example.com/qbwc\udcff"], 2),  # ... in the URL: a bad option value
    (["acme", "--url", "https://sync.example.com/qb\ufffewc"], 2),
])
def test_qwc_command_refuses_a_lone_surrogate_or_non_character_on_the_command_line(db, args, code):
    proc = run_cli("qwc", *args, db=db)
    assert proc.returncode == code, proc.stderr
    assert proc.stderr.startswith("qbsync: error:") and proc.stderr.count("\n") == 1
    assert "U+DCFF" in proc.stderr or "U+FFFE" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("name", ["acme\udcff", "acme\ufffe", "acme\x01"])
def test_connection_add_refuses_a_name_the_web_connector_cannot_carry(tmp_path, name):
    db = tmp_path / "qbsync.db"
    run_cli("init", db=db, check=True)
    for args, code in ((["connection", "add", name, "--username", "u"], 3), (["connection", "add", "ok", "--username", name], 2)):
        proc = run_cli(*args, "--password-stdin", db=db, input="pw\n")
        assert proc.returncode == code, proc.stderr
        assert proc.stderr.startswith("qbsync: error:") and proc.stderr.count("\n") == 1 and "U+" in proc.stderr
