"""`qbsync connection unlock`: a login lockout lifted at once, by connection (its Web Connector
user name), by --username or by --address; one line on stderr, nothing on stdout, the service
lets the right password in again at once."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone

import pytest
from clock import Clock
from e2e_support import PASSWORD, USER, approve, db, stage  # noqa: F401 - db is a fixture
from wizard_support import run_cli

from qbsync.connector.service import ConnectorService
from qbsync.store import logins, open_store

NVU = ["", "nvu"]


@pytest.fixture
def locked(db):
    """The user name of connection acme locked by 10 wrong passwords, the client address too."""
    stage(db, "Customer", [{"id": "C1", "Name": "Unlock Customer"}])
    approve(db)
    clock = Clock()
    clock.now = datetime.now(timezone.utc)  # the command compares with the real time
    service = ConnectorService(str(db), clock=clock, log=logging.getLogger("qbsync.test.unlock"),
                               lockout_address_failures=10)
    for _ in range(10):
        service.authenticate(USER, "nope", "203.0.113.9")
    assert service.authenticate(USER, PASSWORD) == NVU
    return service


def _locks(db) -> set[tuple[str, str]]:
    with open_store(db, write=False) as store:
        return {(r["scope"], r["subject"]) for r in logins.lockouts(store)}


def test_unlock_by_connection_name_lets_the_web_connector_in_again(db, locked):
    proc = run_cli("connection", "unlock", "acme", db=db)
    assert proc.returncode == 0 and proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert re.fullmatch(rf"lifted the login lockout of user name {USER} \(connection acme\) "
                        r"\(locked until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)", line), line
    assert _locks(db) == {("address", "203.0.113.9")}
    answer = locked.authenticate(USER, PASSWORD)
    assert answer[0] and answer[1] not in ("nvu", "busy")


def test_unlock_by_address_and_by_user_name(db, locked):
    proc = run_cli("connection", "unlock", "--address", "203.0.113.9", "--username", USER, db=db)
    assert proc.returncode == 0 and len(proc.stderr.splitlines()) == 1
    assert f"user name {USER}" in proc.stderr and "address 203.0.113.9" in proc.stderr
    assert _locks(db) == set()
    answer = locked.authenticate(USER, PASSWORD, "203.0.113.9")
    assert answer[0] and answer[1] not in ("nvu", "busy")


def test_unlocking_what_is_not_locked_says_so_and_succeeds(db):
    proc = run_cli("connection", "unlock", "acme", db=db)
    assert proc.returncode == 0
    assert proc.stderr.splitlines() == [f"user name {USER} (connection acme) was not locked out "
                                        "(failed logins counted so far are forgotten)"]
    quiet = run_cli("connection", "unlock", "--address", "198.51.100.1", "--quiet", db=db)
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == ""


@pytest.mark.parametrize("args,code,words", [
    ((), 2, "give a connection, --username or --address"),
    (("acme", "--username", "x"), 2, "not both"),
    (("nosuch",), 1, "nosuch"),
    (("--username", " "), 2, "cannot be empty"),  # an option value refused: usage
])
def test_bad_input_is_one_line_and_a_non_zero_exit(db, args, code, words):
    proc = run_cli("connection", "unlock", *args, db=db)
    assert proc.returncode == code and words in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr and proc.stdout == ""


def test_help_has_examples():
    proc = run_cli("connection", "unlock", "--help")
    assert proc.returncode == 0 and "Example" in proc.stdout and "qbsync connection unlock main" in proc.stdout
