"""The login lockout (issue 10 §5): failed logins are counted in the store per user name and per
client address; 10 failures of a user name in 15 minutes lock it for 15 minutes, answered `nvu`
exactly like a wrong password (even for the right one); a higher limit locks an address; the log
says so without the password; a successful login resets the user name's count; the lock ends by
itself. Service-level with the injectable clock, and over real HTTP for the address."""

from __future__ import annotations

import logging

import pytest
from clock import Clock
from e2e_support import PASSWORD, USER, approve, db, stage  # noqa: F401 - db is a fixture
from soap_helpers import INTUIT, call, envelope, request

from qbsync.connector import service as service_module
from qbsync.connector.app import client_address, make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.store import logins, open_store
from qbsync.store.connections import add_connection
from qbsync.sync.passwords import hash_password

NVU = ["", "nvu"]


@pytest.fixture
def queued(db):
    stage(db, "Customer", [{"id": "C1", "Name": "Lockout Customer"}])
    approve(db)
    return db


def svc(db, clock, **options) -> ConnectorService:
    return ConnectorService(str(db), clock=clock, log=logging.getLogger("qbsync.test.lockout"), **options)


def logged_in(answer: list[str]) -> bool:
    return bool(answer[0]) and answer[1] not in ("nvu", "busy")


def test_25_wrong_passwords_lock_the_user_name_until_the_lock_time_passes(queued, caplog):
    clock = Clock()
    service = svc(queued, clock)
    caplog.set_level(logging.INFO, logger="qbsync.test.lockout")
    for i in range(25):
        assert service.authenticate(USER, f"wrong-{i}") == NVU
        clock.advance(5)
    assert service.authenticate(USER, PASSWORD) == NVU  # the right password: still nvu while locked
    locks = [r.getMessage() for r in caplog.records if "locked out after" in r.getMessage()]
    assert locks and locks[0].startswith(f"authenticate: user '{USER}' locked out after 10 failed logins in 15 minutes")
    assert len(locks) == 1  # attempts while locked neither count nor extend the lock
    clock.advance(15 * 60)
    answer = service.authenticate(USER, PASSWORD)
    assert logged_in(answer), answer
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in text and "wrong-" not in text


def test_nine_failures_then_a_success_reset_the_count(queued):
    clock = Clock()
    service = svc(queued, clock)
    for _ in range(9):
        assert service.authenticate(USER, "nope") == NVU
    first = service.authenticate(USER, PASSWORD)
    assert logged_in(first)
    service.close_connection(first[0])
    for _ in range(9):
        assert service.authenticate(USER, "nope") == NVU
    assert logged_in(service.authenticate(USER, PASSWORD))


def test_failures_older_than_the_window_do_not_count(queued):
    clock = Clock()
    service = svc(queued, clock)
    for _ in range(9):
        assert service.authenticate(USER, "nope") == NVU
    clock.advance(16 * 60)
    assert service.authenticate(USER, "nope") == NVU  # the 10th, but the other 9 are too old
    assert logged_in(service.authenticate(USER, PASSWORD))


def test_unknown_user_names_are_locked_the_same_way(queued):
    """Locking only names that exist would tell an attacker which ones do."""
    clock = Clock()
    service = svc(queued, clock)
    for _ in range(10):
        assert service.authenticate("nobody", "x") == NVU
    with open_store(queued) as store:
        assert [(r["scope"], r["subject"], r["failures"]) for r in logins.lockouts(store)] == [
            ("username", "nobody", 10)]


def test_a_locked_login_still_costs_one_scrypt(queued, monkeypatch):
    clock = Clock()
    service = svc(queued, clock, lockout_failures=3)
    for _ in range(3):
        service.authenticate(USER, "nope")
    hashes: list[str] = []
    real = service_module.verify_password
    monkeypatch.setattr(service_module, "verify_password", lambda pw, h: hashes.append(h) or real(pw, h))
    assert service.authenticate(USER, PASSWORD) == NVU
    assert hashes == [service_module._DUMMY_HASH]  # never the connection's own hash while locked


def test_the_address_limit_locks_every_user_name_from_that_address(queued, caplog):
    clock = Clock()
    service = svc(queued, clock)
    caplog.set_level(logging.INFO, logger="qbsync.test.lockout")
    for i in range(50):  # 50 names, each under its own limit
        assert service.authenticate(f"guess-{i}", "pw", "203.0.113.9") == NVU
    assert service.authenticate(USER, PASSWORD, "203.0.113.9") == NVU
    assert any("address 203.0.113.9 locked out after 50 failed logins in 15 minutes" in r.getMessage()
               for r in caplog.records)
    answer = service.authenticate(USER, PASSWORD, "198.51.100.7")  # another address
    assert logged_in(answer), answer
    service.close_connection(answer[0])
    clock.advance(15 * 60)
    assert logged_in(service.authenticate(USER, PASSWORD, "203.0.113.9"))


def test_limits_are_configurable_and_zero_turns_them_off(queued):
    clock = Clock()
    off = svc(queued, clock, lockout_failures=0, lockout_address_failures=0)
    for _ in range(30):
        assert off.authenticate(USER, "nope", "203.0.113.9") == NVU
    assert logged_in(off.authenticate(USER, PASSWORD, "203.0.113.9"))
    strict = svc(queued, clock, lockout_failures=2, lockout_minutes=1)
    for _ in range(2):
        strict.authenticate("someone", "nope")
    with open_store(queued) as store:
        (lock,) = logins.lockouts(store)
    assert lock["subject"] == "someone" and lock["locked_until"] == "2026-11-26T08:01:00Z"


def test_the_count_is_shared_by_every_server_process_on_the_store(queued):
    clock = Clock()
    one, two = svc(queued, clock), svc(queued, clock)
    for i in range(10):
        assert (one if i % 2 else two).authenticate(USER, "nope") == NVU
    assert one.authenticate(USER, PASSWORD) == NVU and two.authenticate(USER, PASSWORD) == NVU


def test_tenants_stay_isolated(queued):
    """Locking one connection's user name leaves another's alone."""
    with open_store(queued) as store:
        add_connection(store, name="beta", username="beta-sync", password_hash=hash_password("beta-pass-1"))
    clock = Clock()
    service = svc(queued, clock)
    for _ in range(12):
        service.authenticate(USER, "nope")
    assert service.authenticate(USER, PASSWORD) == NVU
    assert service.authenticate("beta-sync", "beta-pass-1")[1] == "none"  # logged in: nothing queued for beta


def test_a_lock_engaged_while_the_right_password_is_checked_refuses_that_login(queued, monkeypatch):
    """Concurrent logins: failures counted by another thread (here: another server) while this
    one's scrypt runs lock the user name; the right password then gets nvu too."""
    clock = Clock()
    service, other = svc(queued, clock, lockout_failures=3), svc(queued, clock, lockout_failures=3)
    real = service_module.verify_password

    def verify_while_others_fail(pw, h):
        if pw == PASSWORD:
            for _ in range(3):
                assert other.authenticate(USER, "nope") == NVU
        return real(pw, h)

    monkeypatch.setattr(service_module, "verify_password", verify_while_others_fail)
    assert service.authenticate(USER, PASSWORD) == NVU


def test_unlock_lifts_a_lock_at_once(queued):
    clock = Clock()
    service = svc(queued, clock)
    for _ in range(10):
        service.authenticate(USER, "nope")
    with open_store(queued) as store:
        assert logins.unlock(store, logins.USERNAME, USER) is True
        assert logins.unlock(store, logins.USERNAME, USER) is False
    assert logged_in(service.authenticate(USER, PASSWORD))


# -- over HTTP -------------------------------------------------------------------------------------


def test_over_http_the_lock_is_per_client_address_and_the_log_has_no_password(queued):
    lines: list[str] = []

    class Lines(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log = logging.getLogger("qbsync.test.lockout.http")
    log.addHandler(Lines())
    log.setLevel(logging.INFO)
    log.propagate = False
    service = ConnectorService(str(queued), log=log, lockout_failures=100, lockout_address_failures=5)
    with serve(make_wsgi_app(service, "/qbwc", log=log), "127.0.0.1", 0, threads=2) as server:
        url = server.url("/qbwc")
        for i in range(5):
            assert call(url, "authenticate", strUserName=f"u{i}", strPassword="hunter2-secret").strings == NVU
        assert call(url, "authenticate", strUserName=USER, strPassword=PASSWORD).strings == NVU
    assert any("address 127.0.0.1 locked out after 5 failed logins" in line for line in lines), lines
    assert not any("hunter2" in line or PASSWORD in line for line in lines)


def test_behind_a_proxy_the_address_is_the_last_forwarded_for_entry():
    env = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.9"}
    assert client_address(env, behind_proxy=True) == "203.0.113.9"  # the entry our proxy added
    assert client_address(env, behind_proxy=False) == "127.0.0.1"  # a direct client can send anything
    assert client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "not an address"},
                          behind_proxy=True) == "127.0.0.1"
    assert client_address({"REMOTE_ADDR": "::1", "HTTP_X_FORWARDED_FOR": "[2001:db8::7]"},
                          behind_proxy=True) == "2001:db8::7"


def test_behind_a_proxy_over_http_forwarded_addresses_are_counted_apart(queued):
    service = ConnectorService(str(queued), lockout_failures=100, lockout_address_failures=3)

    def auth(user: str, password: str, forwarded: str) -> bytes:
        body = envelope(f'<authenticate xmlns="{INTUIT}"><strUserName>{user}</strUserName>'
                        f"<strPassword>{password}</strPassword></authenticate>")
        reply = request(url, "POST", body.encode(), {"Content-Type": "text/xml; charset=utf-8",
                                                    "SOAPAction": f'"{INTUIT}authenticate"',
                                                    "X-Forwarded-For": forwarded})
        assert reply.status == 200
        return reply.body

    with serve(make_wsgi_app(service, "/qbwc", behind_proxy=True), "127.0.0.1", 0, threads=2) as server:
        url = server.url("/qbwc")
        for _ in range(3):
            auth("x", "y", "1.2.3.4, 203.0.113.1")
        assert b">nvu<" in auth(USER, PASSWORD, "203.0.113.1")
        assert b">nvu<" not in auth(USER, PASSWORD, "1.2.3.4, 203.0.113.2")
