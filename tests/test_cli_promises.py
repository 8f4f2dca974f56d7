"""The CLI's promises (issue 12 §2-§3): why a change is stuck shows in the default views; bad
option values are usage errors; a failed command leaves the store as it was; --quiet; shell
completion; clean help; Ctrl-C during stage; progress only on a terminal; serve-connector warns
when nobody can log in; --import takes only what the service imports."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import signal
import sqlite3
import subprocess
import sys
import termios
import time

import pytest
from typer.main import get_command
from typer.testing import CliRunner
from wizard_support import ROOT, jsonl, run_cli, simulate_web_connector_run

from qbsync.cli import app
from qbsync.connector.app import make_wsgi_app, serve
from qbsync.connector.service import ConnectorService
from qbsync.errors import InvalidInput
from qbsync.qbxml import parse_request
from qbsync.qbxml.parse import iter_response
from qbsync.sync.catalogue import IMPORTABLE_TYPES
from qbsync.testing import WebConnector
from qbsync.testing.fake_quickbooks import FakeQuickBooks


def dump(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def env_without_qbsync(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    run_cli("init", db=path, check=True)
    run_cli("connection", "add", "main", "-u", "u", "--password-stdin", db=path, input="pw\n", check=True)
    return path


# -- §2 show why -----------------------------------------------------------------------------


def test_the_errors_table_shows_quickbooks_message_next_to_the_reason(db):
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt Inc"}),
            check=True)
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db, outcomes={"C2": ("error", 3100, 'The name "Bolt Inc" of the list element is already in use.')})
    table = run_cli("errors", db=db, env={"COLUMNS": "300"}, check=True).stdout
    header = table.splitlines()[0].split()
    assert header.index("reason") + 1 == header.index("message")
    assert 'The name "Bolt Inc" of the list element is already in use.' in table
    (row,) = json.loads(run_cli("errors", "--format", "json", db=db, check=True).stdout)
    assert row["message"] in table and row["reason"] in table and row["reason"] != row["message"]


def test_the_queue_shows_why_a_change_is_not_moving(db):
    run_cli("stage", "Customer", db=db, input=jsonl({"id": "C-9", "Name": "Nine Co"}), check=True)
    run_cli("stage", "Invoice", db=db, input=jsonl({"id": "I-1", "CustomerRef": {"local_id": "C-9"}, "RefNumber": "1001"}),
            check=True)
    (customer,) = [r["id"] for r in json.loads(run_cli("pending", "-f", "json", db=db, check=True).stdout)
                   if r["type"] == "Customer"]
    run_cli("uncheck", str(customer), db=db, check=True)
    run_cli("approve", "--yes", db=db, check=True)  # the invoice goes; its customer is held back
    with serve(make_wsgi_app(ConnectorService(str(db)), "/qbwc"), "127.0.0.1", 0) as server:
        report = WebConnector(server.url("/qbwc"), "u", "pw", company=FakeQuickBooks(), noop_delay=0).run()
    # nothing can go, so no session runs: the change is noted as waiting all the same
    assert not report.violations and report.outcome == "no_work"
    table = run_cli("queue", db=db, env={"COLUMNS": "300"}, check=True).stdout
    assert "note" in table.splitlines()[0].split()
    assert "waiting for Customer C-9" in table


# -- §3 one rule for exit codes, and internal errors never surface ---------------------------


@pytest.mark.parametrize("document", [
    '<!DOCTYPE QBXML [<!ENTITY x SYSTEM "file://{secret}">]>\n<QBXML><QBXMLMsgsRq onError="stopOnError">'
    "<CustomerQueryRq><FullName>&x;</FullName></CustomerQueryRq></QBXMLMsgsRq></QBXML>",
    '<!DOCTYPE QBXML [<!ENTITY x "inner">]>\n<QBXML><QBXMLMsgsRq onError="stopOnError">'
    "<CustomerQueryRq><FullName>&x;</FullName></CustomerQueryRq></QBXMLMsgsRq></QBXML>",
    '<!DOCTYPE QBXML SYSTEM "file://{secret}">\n<QBXML><QBXMLMsgsRq onError="stopOnError">'
    "<CustomerQueryRq/></QBXMLMsgsRq></QBXML>",
])
def test_validate_refuses_a_doctype_and_never_resolves_an_entity(tmp_path, document):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET\n")
    text = '<?xml version="1.0"?>\n' + document.format(secret=secret)
    text = text.replace("<QBXML>", '<?qbxml version="13.0"?>\n<QBXML>', 1)
    path = tmp_path / "request.xml"
    path.write_text(text)
    proc = run_cli("validate", str(path))
    assert proc.returncode == 3, proc.stderr
    assert "DOCTYPE and entities are not allowed" in proc.stdout and "Traceback" not in proc.stderr
    assert "TOP-SECRET" not in proc.stdout + proc.stderr
    with pytest.raises(InvalidInput, match="DOCTYPE and entities are not allowed"):
        parse_request(text)
    response = text.replace("QBXMLMsgsRq", "QBXMLMsgsRs").replace("CustomerQueryRq", "CustomerQueryRs")
    with pytest.raises(InvalidInput, match="DOCTYPE and entities are not allowed"):
        list(iter_response(response))


# -- §3 a failed command leaves the store as it was ------------------------------------------


def test_qwc_that_cannot_write_its_file_keeps_no_ids(db, tmp_path):
    before = dump(db)
    proc = run_cli("qwc", "main", "--url", "https://sync.example.com/qbwc", "--output", "/nonexistent/x.qwc", db=db)
    assert proc.returncode == 1 and "/nonexistent" in proc.stderr and proc.stderr.count("\n") == 1
    assert dump(db) == before
    out = tmp_path / "main.qwc"
    run_cli("qwc", "main", "--url", "https://sync.example.com/qbwc", "--output", str(out), db=db, check=True)
    assert out.exists() and dump(db) != before  # the ids are kept once the file is written


# -- §3 --quiet --------------------------------------------------------------------------------


def test_quiet_silences_messages_but_never_data_warnings_or_errors(tmp_path):
    db = tmp_path / "qbsync.db"
    assert run_cli("init", "-q", db=db, check=True).stderr == ""
    assert run_cli("connection", "add", "main", "-u", "u", "--password-stdin", "-q", db=db, input="pw\n",
                   check=True).stderr == ""
    assert run_cli("connection", "set", "main", "--import", "Customer", "--quiet", db=db, check=True).stderr == ""
    staged = run_cli("stage", "Customer", "-q", "-f", "json", db=db, input=jsonl({"id": "C1", "Name": "Acme"}),
                     check=True)
    assert staged.stderr == "" and json.loads(staged.stdout)[0]["added"] == 1  # the data still comes
    skipped = run_cli("stage", "Customer", "-q", "--skip-invalid", db=db,
                      input=jsonl({"id": "C2", "Name": "Bolt"}) + "not json\n")
    assert skipped.stderr.startswith("skipped line 2")  # a warning: what was left out
    assert run_cli("uncheck", "1", "-q", db=db, check=True).stderr == ""
    assert run_cli("check", "1", "-q", db=db, check=True).stderr == ""
    approved = run_cli("approve", "--yes", "-q", "-f", "json", db=db, check=True)
    assert approved.stderr == "" and json.loads(approved.stdout)[0]["queued"]
    error = run_cli("retry", "999", "-q", db=db)
    assert error.returncode == 1 and error.stderr.startswith("qbsync: error:")  # errors still come
    out = tmp_path / "main.qwc"
    assert run_cli("qwc", "main", "--url", "https://sync.example.com/qbwc", "-o", str(out), "-q", db=db,
                   check=True).stderr == ""
    assert run_cli("connection", "remove", "main", "--yes", "-q", db=db, check=True).stderr == ""
    loud = run_cli("init", db=db, check=True)
    assert "is ready" in loud.stderr  # --quiet of an earlier command does not carry over


# -- §3 shell completion and help ------------------------------------------------------------


def test_shell_completion_can_be_shown_and_installed():
    # typer names the shell it runs under (not an argument): run it from bash, which must not exec
    # it in its own place (hence the second command), whatever shell runs the test suite
    proc = subprocess.run(["bash", "-c", f'"{sys.executable}" -m qbsync --show-completion; exit $?'],
                          capture_output=True, text=True, cwd=str(ROOT), env=env_without_qbsync(), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "complete " in proc.stdout and "_QBSYNC_COMPLETE" in proc.stdout
    assert "--install-completion" in run_cli("--help", env={"COLUMNS": "120"}).stdout
    words = subprocess.run([sys.executable, "-m", "qbsync"], capture_output=True, text=True, cwd=str(ROOT),
                           env=env_without_qbsync(_QBSYNC_COMPLETE="complete_bash", COMP_WORDS="qbsync conn",
                                                  COMP_CWORD="1"), timeout=60)
    assert words.stdout.split() == ["connection"]


def _commands(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


UNCLEAN = re.compile(r"<(?:bool|str|int|float|path|list\[[^\]]*\]|[a-z]+ range)>|\[\[|\]\.\.\.\]\.\.\.|\{[A-Za-z]+\}")


@pytest.mark.parametrize("columns", ["60", "200"])
def test_every_help_has_clean_metavars_and_marks_required_options(columns):
    seen = 0
    for path, command in _commands(get_command(app)):
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": columns, "TERM": "dumb"})
        assert result.exit_code == 0, (path, result.output)
        assert not UNCLEAN.search(result.output), (path, UNCLEAN.search(result.output).group())
        for param in command.params:
            if columns == "200" and getattr(param, "required", False) and param.param_type_name == "option":
                opt = re.escape(param.opts[0])
                row = next(line for line in result.output.splitlines() if re.match(rf"│\s*(\*\s+)?{opt}\b", line))
                assert re.match(rf"│\s*\*\s+{opt}\b", row), (path, row)
        seen += 1
    assert seen > 25  # every command and group, nested ones included


def test_help_prose_rewraps_to_the_terminal_width():
    wide = CliRunner().invoke(app, ["stage", "--help"], env={"COLUMNS": "250"}).output
    assert "plus the qbXML fields of the Add form. New records become adds" in wide  # a docstring line break
    assert "\n     echo '{\"id\": \"C-17\"" in wide  # examples keep their own lines and indent
    check = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "100"}).output
    assert "\n     qbsync check 4 7" in check


# -- §3 Ctrl-C during stage ----------------------------------------------------------------------


def _unread(fd: int) -> int:
    buf = bytearray(4)
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return int.from_bytes(buf, sys.byteorder)


def test_ctrl_c_while_stage_reads_stdin_stages_nothing(db):
    before = dump(db)
    proc = subprocess.Popen([sys.executable, "-m", "qbsync", "stage", "Customer"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT),
                            env=env_without_qbsync(QBSYNC_DB=str(db)))
    try:
        proc.stdin.write(jsonl(*({"id": f"C{i}", "Name": f"Customer {i}"} for i in range(50))).encode())
        proc.stdin.flush()
        deadline = time.time() + 30
        while _unread(proc.stdin.fileno()) and time.time() < deadline:  # stage is reading stdin now
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        # stdin stays open until it has exited: closing it (as communicate() does) could let a
        # busy machine's stage see the end of its input before it handles the signal
        proc.wait(timeout=30)
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.kill()
        proc.stdin.close()
    assert proc.returncode == 130, err
    assert err.decode().splitlines() == ["qbsync: interrupted; nothing was staged"]
    assert out == b"" and dump(db) == before


# -- §3 progress on a terminal only ---------------------------------------------------------------


def test_stage_progress_is_shown_only_on_a_terminal_and_not_when_quiet(db, tmp_path):
    big = tmp_path / "big.jsonl"
    big.write_text(jsonl(*({"id": f"C{i}", "Name": f"Customer {i}"} for i in range(1500))))
    piped = run_cli("stage", "Customer", str(big), db=db, check=True)
    assert piped.stderr.splitlines() == ["staged Customer: 1500 adds, 0 mods, 0 deletes, 0 updated, 0 unchanged"]
    big.write_text(jsonl(*({"id": f"C{i}", "Name": f"Customer {i}", "Phone": "1"} for i in range(1500))))
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "qbsync", "stage", "Customer", str(big), "-q"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                          env=env_without_qbsync(QBSYNC_DB=str(db)), cwd=str(ROOT), timeout=60)
    os.close(slave)
    seen = b""
    try:
        while chunk := os.read(master, 4096):
            seen += chunk
    except OSError:
        pass
    os.close(master)
    assert proc.returncode == 0 and seen == b""  # --quiet on a terminal: no bar either


# -- §3 serve-connector and --import ----------------------------------------------------------


def _serve_briefly(db) -> str:
    proc = subprocess.Popen([sys.executable, "-m", "qbsync", "serve-connector", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=str(ROOT), env=env_without_qbsync(QBSYNC_DB=str(db)))
    try:
        assert proc.stdout.readline().startswith("http://")  # it is serving
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return err


def test_serve_connector_warns_when_nobody_can_log_in(tmp_path, db):
    empty = tmp_path / "empty.db"
    run_cli("init", db=empty, check=True)
    warnings = [line for line in _serve_briefly(empty).splitlines() if "warning" in line]
    assert len(warnings) == 1 and "no connection" in warnings[0] and "connection add" in warnings[0]
    assert "warning" not in _serve_briefly(db)


def test_import_takes_exactly_the_types_the_service_imports(db):
    assert len(IMPORTABLE_TYPES) == 17
    run_cli("connection", "set", "main", "--import", ",".join(t.lower() for t in IMPORTABLE_TYPES), db=db, check=True)
    (row,) = json.loads(run_cli("connection", "list", "-f", "json", db=db, check=True).stdout)
    assert row["import_types"] == list(IMPORTABLE_TYPES)
    refused = run_cli("connection", "add", "other", "-u", "o", "--import", "Customer,Widget", "--password-stdin",
                      db=db, input="pw\n")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "Widget" in refused.stderr and ", ".join(IMPORTABLE_TYPES) in refused.stderr
