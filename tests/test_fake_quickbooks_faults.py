"""FakeQuickBooks: error recovery (message sets), fault injection, and a company kept in a
SQLite file across instances. Responses are validated against the published schemas."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from qbsync.qbxml import Request, build_request, parse_response
from qbsync.testing.fake_quickbooks import ConnectionLost, FakeQuickBooks, Reply

TZ = timezone(timedelta(hours=-5))


def clock_at(*args):
    t = [datetime(*args, tzinfo=TZ)]

    def clock():
        return t[0]

    clock.advance = lambda **kw: t.__setitem__(0, t[0] + timedelta(**kw))  # type: ignore[attr-defined]
    return clock


@pytest.fixture(scope="module")
def published(published_xsd: Path) -> dict[str, etree.XMLSchema]:
    return {v: etree.XMLSchema(etree.parse(str(published_xsd / v / f"qbxmlops{v.replace('.', '')}.xsd"))) for v in ("13.0", "16.0")}


@pytest.fixture
def companies(published):
    """Every FakeQuickBooks a test makes; their well-formed responses are validated at the end."""
    made: list[FakeQuickBooks] = []

    def make(**kw) -> FakeQuickBooks:
        kw.setdefault("clock", clock_at(2026, 11, 26, 9, 0, 0))
        fq = FakeQuickBooks(**kw)
        made.append(fq)
        return fq

    yield make
    for fq in made:
        for ex in fq.history:
            if ex.reply is None or ex.reply.xml is None:
                continue
            try:
                doc = etree.fromstring(ex.reply.xml.encode())
            except etree.XMLSyntaxError:
                continue  # the malformed-response fault, on purpose
            for version, schema in published.items():
                if float(version) < float(fq.qbxml_version):  # a 16.0 answer may use 16.0-only fields
                    continue
                assert schema.validate(doc), f"{version}: {schema.error_log}"


def msg(*requests: Request, **kw) -> str:
    return build_request(list(requests), **kw)


def add(name: str, rid: str = "1") -> Request:
    return Request("CustomerAdd", {"Name": name}, request_id=rid)


# ---- error recovery -------------------------------------------------------------------------


def test_new_message_set_is_saved_and_old_message_set_returns_its_status(companies):
    fq = companies()
    first = fq.process(msg(add("Recover", "r1"), Request("CustomerQuery", {"FullName": ["Recover"]}, request_id="r2"),
                           new_message_set_id="ms-1"))
    sent = parse_response(first.xml)
    assert sent.new_message_set_id == "ms-1"
    list_id = sent.responses[0].records[0]["ListID"]
    edit_sequence = sent.responses[0].records[0]["EditSequence"]

    check = parse_response(fq.process(msg(old_message_set_id="ms-1")).xml)
    assert check.message_set_status_code == 0
    assert [(r.name, r.request_id, r.status_code) for r in check.responses] == [("CustomerAdd", "r1", 0), ("CustomerQuery", "r2", 0)]
    recovery = dict(check.responses[0].rets)["ErrorRecovery"]
    assert recovery["ListID"] == list_id and recovery["EditSequence"] == edit_sequence
    assert len(fq.all("Customer")) == 1  # asking about the old set applies nothing again


def test_old_message_set_with_a_failure_reports_its_code_and_unknown_is_600(companies):
    fq = companies()
    fq.process(msg(add("Twice", "a"), add("Twice", "b"), add("Never", "c"), new_message_set_id="ms-2"))
    check = parse_response(fq.process(msg(old_message_set_id="ms-2")).xml)
    assert check.message_set_status_code == 3100
    assert [r.status_code for r in check.responses] == [0, 3100, 3231]
    unknown = parse_response(fq.process(msg(old_message_set_id="never-sent")).xml)
    assert unknown.message_set_status_code == 600 and unknown.responses == []


def test_old_and_new_message_set_in_one_message_also_runs_its_requests(companies):
    fq = companies()
    fq.process(msg(add("Before", "1"), new_message_set_id="ms-a"))
    both = parse_response(fq.process(msg(add("After", "2"), old_message_set_id="ms-a", new_message_set_id="ms-b")).xml)
    assert both.message_set_status_code == 0 and both.new_message_set_id == "ms-b"
    assert [(r.request_id, r.status_code) for r in both.responses] == [("1", 0), ("2", 0)]


def test_saved_message_set_is_answered_in_the_asking_version(companies, tmp_path):
    path = tmp_path / "shared.db"
    newer = companies(qbxml_version="16.0", path=path)
    newer.process(msg(Request("EmployeeAdd", {"FirstName": "Pat", "LastName": "Lee",
                                              "EmployeePayrollInfo": {"IsCoveredByQualifiedPensionPlan": "true"}}, request_id="e"),
                      version="16.0", new_message_set_id="ms-16"))
    older = companies(qbxml_version="13.0", path=path)
    check = parse_response(older.process(msg(old_message_set_id="ms-16", version="13.0")).xml)
    assert check.message_set_status_code == 0 and check.responses[0].status_code == 0


def test_intuit_error_recovery_sample_with_no_saved_state(companies, published_xsd):
    fq = companies()
    text = (published_xsd.parent / "qbxml-fixtures" / "intuit-sdk-samples" / "ErrRecovery2.xml").read_text()
    reply = fq.process(text)
    assert reply.hresult == "" and parse_response(reply.xml).message_set_status_code == 600


# ---- fault injection ------------------------------------------------------------------------


def test_lost_response_is_applied_then_lost(companies):
    fq = companies()
    fq.lose_next_response()
    with pytest.raises(ConnectionLost) as lost:
        fq.process(msg(add("Lost", "1"), new_message_set_id="ms-lost"))
    assert "CustomerAddRs" in lost.value.xml
    assert fq.find("Customer", "Lost") is not None  # QuickBooks did the work
    assert fq.history[-1].lost and fq.history[-1].reply is None
    # error recovery tells the caller what happened to the lost message
    check = parse_response(fq.process(msg(old_message_set_id="ms-lost")).xml)
    assert check.message_set_status_code == 0 and check.responses[0].status_code == 0
    retry = parse_response(fq.process(msg(add("Lost", "1"))).xml)  # a blind resend collides
    assert retry.responses[0].status_code == 3100


def test_lost_response_as_a_reply(companies):
    fq = companies()
    fq.lose_next_response(raise_error=False)
    reply = fq.process(msg(add("Quietly lost")))
    assert reply == Reply(None, "", "", lost=True) and not reply.ok
    assert fq.find("Customer", "Quietly lost") is not None
    assert fq.process(msg(Request("CustomerQuery", {}))).ok


def test_malformed_next_response(companies):
    fq = companies()
    fq.malformed_next_response()
    bad = fq.process(msg(add("Broken")))
    assert bad.hresult == "" and bad.xml
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(bad.xml.encode())
    good = fq.process(msg(Request("CustomerQuery", {"FullName": ["Broken"]})))
    assert parse_response(good.xml).responses[0].status_code == 0  # only one response broken


def test_delay_slows_the_next_messages(companies):
    fq = companies()
    fq.delay(0.3)
    started = time.monotonic()
    fq.process(msg(Request("CustomerQuery", {})))
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    fq.process(msg(Request("CustomerQuery", {})))
    assert time.monotonic() - started < 0.3
    fq.delay(0.1, count=None)
    started = time.monotonic()
    for _ in range(2):
        fq.process(msg(Request("CustomerQuery", {})))
    assert time.monotonic() - started >= 0.2


def test_fail_open_is_the_connection_error_path(companies):
    fq = companies()
    assert fq.open_error is None and fq.begin_session("") is None
    fq.fail_open(times=2)
    assert fq.open_error == Reply(None, "0x80040408", "Could not start QuickBooks.")
    assert fq.begin_session("").hresult == "0x80040408"
    reply = fq.process(msg(add("Closed")))
    assert (reply.xml, reply.hresult) == (None, "0x80040408")
    assert fq.find("Customer", "Closed") is None
    assert fq.begin_session("").hresult == "0x80040408"
    assert fq.begin_session("") is None and fq.open_error is None  # opened on the third try
    fq.fail_open("0x80040414", "A modal dialog box is showing in the QuickBooks user interface.")
    for _ in range(3):
        assert fq.begin_session("").hresult == "0x80040414"
    fq.clear_open_error()
    assert fq.begin_session("") is None


def test_lock_blocks_transactions_too(companies):
    fq = companies()
    fq.create("Customer", {"Name": "Locker"})
    inv = fq.create("Invoice", {"CustomerRef": {"FullName": "Locker"}, "InvoiceLineAdd": [{"Desc": "x", "Amount": "1.00"}]})
    fq.lock("Invoice", inv["TxnID"], code=3175)
    rs = parse_response(fq.process(msg(Request("InvoiceMod", {"TxnID": inv["TxnID"], "EditSequence": inv["EditSequence"], "Memo": "m"}))).xml)
    assert rs.responses[0].status_code == 3175
    assert fq.edit("Invoice", inv["TxnID"], {"Memo": "the QuickBooks user may"})["Memo"] == "the QuickBooks user may"


# ---- persistence ----------------------------------------------------------------------------


def test_company_survives_in_a_sqlite_file_across_instances(companies, tmp_path):
    path = tmp_path / "company.db"
    first = companies(path=path)
    a = parse_response(first.process(msg(add("Persisted"))).xml).responses[0].records[0]
    first.process(msg(add("Saved set", "s"), new_message_set_id="ms-p"))
    second = companies(path=path)
    found = second.find("Customer", "Persisted")
    assert found["ListID"] == a["ListID"] and found["EditSequence"] == a["EditSequence"]
    b = parse_response(second.process(msg(add("Next"))).xml).responses[0].records[0]
    assert b["ListID"] != a["ListID"] and int(b["ListID"].split("-")[0], 16) > int(a["ListID"].split("-")[0], 16)
    assert parse_response(second.process(msg(add("Persisted"))).xml).responses[0].status_code == 3100
    assert parse_response(second.process(msg(old_message_set_id="ms-p")).xml).message_set_status_code == 0
    # both instances stay open: each sees the other's later work
    mod = parse_response(first.process(msg(Request("CustomerMod", {"ListID": b["ListID"], "EditSequence": b["EditSequence"], "Phone": "9"}))).xml)
    assert mod.responses[0].status_code == 0
    assert second.get("Customer", b["ListID"])["Phone"] == "9"
    assert len(second.all("SalesTaxCode")) == 2  # seeded once, not twice
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM company").fetchone() == (1,)


def test_a_file_that_is_not_a_company_is_refused_clearly(tmp_path):
    from qbsync.errors import InvalidInput

    bogus = tmp_path / "notes.txt"
    bogus.write_text("not a database, just some words " * 50)
    with pytest.raises(InvalidInput, match="not a FakeQuickBooks company file"):
        FakeQuickBooks(path=bogus)
    other = tmp_path / "store.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE records (id INTEGER)")
    with pytest.raises(InvalidInput, match="not a FakeQuickBooks company file"):
        FakeQuickBooks(path=other)
    with sqlite3.connect(other) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["records"]


def test_in_memory_companies_are_independent(companies):
    one, two = companies(), companies()
    one.process(msg(add("Only here")))
    assert two.find("Customer", "Only here") is None


def test_without_seed_the_company_is_empty(companies):
    fq = companies(seed=False)
    assert fq.all("Account") == [] and fq.all("SalesTaxCode") == []
    rs = parse_response(fq.process(msg(Request("AccountQuery", {}))).xml).responses[0]
    assert rs.status_code == 1


def test_only_the_latest_message_sets_are_kept(companies):
    fq = companies()
    for i in range(12):
        fq.process(msg(Request("CustomerQuery", {}, request_id=str(i)), new_message_set_id=f"ms-{i}"))
    assert parse_response(fq.process(msg(old_message_set_id="ms-0")).xml).message_set_status_code == 600
    latest = parse_response(fq.process(msg(old_message_set_id="ms-11")).xml)
    assert latest.message_set_status_code == 0 and latest.responses[0].request_id == "11"
