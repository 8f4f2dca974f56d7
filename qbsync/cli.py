"""The `qbsync` command: registers the command groups and turns errors into one line."""

from __future__ import annotations

import copy
import enum
import functools
import importlib
import os
import sys
from typing import Any

import typer

from qbsync import __version__
from typer.exceptions import TyperException

from qbsync.commands import helptext
from qbsync.commands.messages import interrupted_message, reset
from qbsync.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE, QbsyncError

app = typer.Typer(
    name="qbsync",
    help="Two-way sync between your app and QuickBooks Desktop through the QuickBooks Web Connector.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Command modules, in the order their commands appear in --help.
COMMAND_MODULES = (
    "setup",
    "stage",
    "wizard",
    "log",
    "mirror",
    "validate",
    "explain",
    "simulate",
    "serve",
    "qwc",
    "replay",
)


def _version(value: bool) -> None:
    if value:
        from qbsync.output import write_text

        write_text(f"qbsync {__version__}\n")
        raise typer.Exit()


@app.callback(epilog="Examples:  qbsync pending   ·   qbsync approve --yes   ·   qbsync errors --explain   ·   qbsync --db /srv/qbsync.db status --check")
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    db: str | None = typer.Option(None, "--db", metavar="FILE", help="SQLite store file for the command that follows (same as QBSYNC_DB).", show_default=False),
) -> None:
    """qbsync: review, approve and move changes between your app and QuickBooks Desktop.

    Start with `make demo`, or: qbsync init; qbsync connection add NAME --username U --password-env VAR;
    qbsync stage TYPE records.jsonl; qbsync pending; qbsync approve --yes; qbsync serve-connector.
    """
    if db:
        # Every command reads its store from --db or QBSYNC_DB: a global --db sets the latter.
        os.environ["QBSYNC_DB"] = db


for _name in COMMAND_MODULES:
    importlib.import_module(f"qbsync.commands.{_name}").register(app)
helptext.tidy(app)


def _coerce_without_pydantic() -> bool:
    """typer 0.29 coerces every parameter's value through a pydantic TypeAdapter it builds on
    first use (even for a flag left out), and importing pydantic is half of a cold
    `qbsync status` (70 of 130 ms). A string, a flag and an Enum's choice need no pydantic:
    typer's builder of coercions is wrapped here so that those get `_Plain`, which returns what
    typer's adapter would (with typer's own rule for choices) and hands any other value, and a
    choice it refuses (for typer's message), to typer's coercion. Other types go to typer as
    before. Left as it is if typer's internals are not the ones known."""
    try:
        from typer import core
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_choice
    except ImportError:
        return False
    if getattr(core, "build_runtime_param", None) is not build_runtime_param:
        return False

    class _Plain(RuntimeParam):  # type: ignore[misc,valid-type]
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            kind = self.annotation
            if kind in (str, bool) and type(value) is kind:
                return value
            if kind not in (str, bool):  # an Enum
                try:
                    return coerce_cli_choice(value, choices=tuple(kind), case_sensitive=self.parameter_info.case_sensitive,
                                             ctx=ctx)
                except ValueError:
                    pass
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)

    def runtime_param(descriptor: Any) -> Any:
        kind = descriptor.annotation
        plain = kind in (str, bool) or (isinstance(kind, type) and issubclass(kind, enum.Enum))
        if plain and descriptor.parameter_info.parser is None and descriptor.file_annotation is None:
            return _Plain(parameter_info=descriptor.parameter_info, annotation=kind)
        return build_runtime_param(descriptor)

    core.build_runtime_param = runtime_param
    return True


PLAIN_COERCION = _coerce_without_pydantic()  # False: typer's internals changed; typer's own coercion is used


@functools.cache
def command(name: str | None = None) -> typer.core.TyperGroup:
    """The click command typer builds from `app` (calling `app` builds it anew every time, a
    tenth of a second: noticeable when `main` runs many times in one process, as in the tests).

    With `name` (a command or group the command line names): the root with only that one,
    the same command as in the whole app, built alone. Building all thirty takes a cold
    `qbsync status` more time than the status itself."""
    if name is not None:
        cmds = [c for c in app.registered_commands if c.name == name]
        groups = [g for g in app.registered_groups if g.name == name]
        if len(cmds) + len(groups) == 1:
            single = copy.copy(app)
            single.registered_commands, single.registered_groups = cmds, groups
            return typer.main.get_command(single)  # type: ignore[return-value]
        return command()  # no such command: the whole app says so (and suggests one)
    return typer.main.get_command(app)  # type: ignore[return-value]


_ROOT_VALUE_OPTIONS = ("--db",)  # the root's options that take a value (the others are flags)


def named_command(argv: list[str]) -> str | None:
    """The command a command line names after the root's own options; None when it names none
    or starts with something else (--help, --version, a typo: the whole app answers)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _ROOT_VALUE_OPTIONS:
            i += 2
        elif arg.startswith(tuple(f"{o}=" for o in _ROOT_VALUE_OPTIONS)):
            i += 1
        else:
            return None if arg.startswith("-") else arg
    return None


def main(argv: list[str] | None = None) -> None:
    reset()
    try:
        args = sys.argv[1:] if argv is None else argv
        code = command(named_command(args)).main(args=args, prog_name="qbsync", standalone_mode=False)
    except TyperException as exc:  # usage errors of the command line itself: one line, exit 2
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "qbsync"
        message = exc.format_message().strip()
        if message:  # empty when the help was shown for a bare group: nothing more to say
            print(f"qbsync: error: {message} (see '{where} --help')", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", EXIT_USAGE) or EXIT_USAGE)
    except typer.Abort:
        print("qbsync: aborted", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except QbsyncError as exc:
        print(f"qbsync: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print(interrupted_message(), file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # the last line of defence: no tracebacks for users
        if os.environ.get("QBSYNC_DEBUG") == "1":
            raise
        print(f"qbsync: error: {type(exc).__name__}: {exc} (set QBSYNC_DEBUG=1 for details)", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    if code == EXIT_INTERRUPTED:  # typer's answer to a KeyboardInterrupt inside a command
        print(interrupted_message(), file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
