"""Cold start (issue 11): a command line naming one command builds only that command, and it is
the same command the whole app has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qbsync import cli


@pytest.mark.parametrize(("argv", "name"), [
    (["status"], "status"), (["--db", "x.db", "pending", "--count"], "pending"), (["--db=x.db", "connection", "add"], "connection"),
    (["--version"], None), (["--help"], None), ([], None), (["--db"], None), (["--db", "x.db"], None), (["-h", "status"], None),
])
def test_the_named_command_is_found_after_the_root_options(argv, name):
    assert cli.named_command(argv) == name


def _shape(command) -> object:
    """What a user meets of a command: its help, its parameters, its subcommands."""
    params = [(p.name, tuple(p.opts), p.required, p.multiple, p.default if not callable(p.default) else "f") for p in command.params]
    subs = {n: _shape(c) for n, c in getattr(command, "commands", {}).items()}
    return command.help, params, subs


def test_a_command_built_alone_is_the_one_in_the_whole_app():
    whole = cli.command()
    for name, full in whole.commands.items():
        alone = cli.command(name)
        assert list(alone.commands) == [name]
        assert _shape(alone.commands[name]) == _shape(full), name
        assert _shape(alone)[:2] == _shape(whole)[:2]  # the root's own options and help
    assert cli.command("no-such-command") is whole


# -- typer's coercions without pydantic (cli._coerce_without_pydantic) ---------------------------

_COLD = """
import sys
from qbsync.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = sorted(m for m in ("pydantic", "lxml", "spyne", "xmlschema", "sqlite_utils") if m in sys.modules)
print("loaded:", heavy, file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["status"], ["pending", "--count"], ["pending", "--format", "JSON", "-c", "acme"]])
def test_a_cold_command_loads_neither_pydantic_nor_the_qbxml_layer(tmp_path, argv):
    from qbsync.store import open_store
    from qbsync.store.connections import add_connection

    db = tmp_path / "qbsync.db"
    with open_store(db, create=True) as store:
        add_connection(store, name="acme", username="u", password_hash="h")
    done = subprocess.run([sys.executable, "-c", _COLD, "--db", str(db), *argv], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(cli.__file__).parents[1])}, check=True)
    # pydantic is skipped only while the shim matches typer's internals (a newer typer turns it off).
    expected = "loaded: []" if cli.PLAIN_COERCION else "loaded: ['pydantic']"
    assert expected in done.stderr, done.stderr


def _params(command):
    for param in command.params:
        yield command, param
    for sub in getattr(command, "commands", {}).values():
        yield from _params(sub)


def _outcome(runtime, value, param, ctx):
    try:
        return "value", runtime.coerce(value, param=param, ctx=ctx)
    except Exception as exc:  # noqa: BLE001 - the error is the outcome compared
        return type(exc).__name__, str(exc)


def test_every_parameter_coerces_as_typers_own_coercion_would():
    """Strings, flags and Enum choices skip pydantic: every parameter of every command gives the
    value, or the error message, typer's own coercion gives."""
    from enum import Enum

    if not cli.PLAIN_COERCION:
        pytest.skip("typer's internals are not the ones the shim knows: typer's own coercion is in use")
    from typer import _coercion, _click, core

    assert core.build_runtime_param is not _coercion.build_runtime_param  # the wrapper is in place
    samples = ["x", "", "JSON", "json", "Jsonl", "table", "app", "QuickBooks", "bogus", "true", "1", "no", 7, True, False,
               b"bytes", ("a", "b")]
    checked = 0
    for command, param in _params(cli.command()):
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None:
            continue
        ctx = _click.Context(command)
        kind = descriptor.annotation
        values = samples + (list(kind) if isinstance(kind, type) and issubclass(kind, Enum) else [])
        ours, typers = core.build_runtime_param(descriptor), _coercion.build_runtime_param(descriptor)
        for value in values:
            assert _outcome(ours, value, param, ctx) == _outcome(typers, value, param, ctx), (command.name, param.name, value)
        checked += 1
    assert checked > 100
