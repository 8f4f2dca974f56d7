"""Cold start (issue 11): a command line naming one command builds only that command, and it is
the same command the whole app has."""

from __future__ import annotations

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
