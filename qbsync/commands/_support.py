"""Helpers shared by the store-backed command modules (setup, stage, wizard, log, mirror)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import typer

from qbsync.errors import UsageError


def open_db(db: str | None, *, write: bool = True) -> Any:
    from qbsync.store import open_store

    return open_store(db, write=write)


def connection(store: Any, name: str | None) -> dict[str, Any]:
    from qbsync.store.connections import resolve_connection

    return resolve_connection(store, name)


def parse_ids(values: Sequence[str] | None) -> list[int]:
    """Change ids from the command line (strings, so a bad one is a one-line usage error);
    an id given twice counts once."""
    out: list[int] = []
    for value in values or ():
        for part in str(value).replace(",", " ").split():
            try:
                number = int(part)
            except ValueError:
                raise UsageError(f"change ids are whole numbers, not {part!r}") from None
            if number <= 0:
                raise UsageError(f"change ids are positive, not {part!r}")
            if number not in out:
                out.append(number)
    return out


@contextmanager
def option_values() -> Iterator[None]:
    """Around the checks of option values: one rule for exit codes, a value an option refuses is
    a usage error (2), whatever the check calls it; bad data (a file, stdin, the TYPE or CODE a
    command works on) stays invalid input (3)."""
    from qbsync.errors import InvalidInput

    try:
        yield
    except InvalidInput as exc:
        raise UsageError(str(exc)) from None


def type_option(value: str | None) -> str | None:
    """A `--type` value as the catalogue spells it; an unknown type is a usage error."""
    if value is None:
        return None
    from qbsync.sync.catalogue import entity_type

    with option_values():
        return entity_type(value).name


def since_option(value: str | None, option: str, example: str) -> str | None:
    """A date or date-time option (UTC as stored, see timeutil.parse_user_time); an impossible
    date such as 2026-02-30 is a usage error like any other bad value. None and "" pass."""
    if not value:
        return value
    from qbsync.timeutil import parse_user_time

    try:
        return parse_user_time(value)
    except ValueError:
        raise UsageError(f"{option} takes {example}, not {value!r}") from None


def fmt_value(fmt: Any) -> str:
    return getattr(fmt, "value", fmt) or "table"


def render(
    rows: Iterable[Mapping[str, Any]], fmt: Any, columns: Sequence[str] | None = None, empty: str | None = None,
    keys: Sequence[str] | None = None,
) -> int:
    """Rows in the chosen format: `columns` are the table's, `keys` the csv/tsv header when
    there are no rows (see qbsync.output.render)."""
    from qbsync.output import render as _render

    return _render(rows, fmt_value(fmt), columns=columns, empty_message=empty, keys=keys)


def confirm_or_yes(question: str, yes: bool, what: str) -> bool:
    """True when confirmed: --yes, or an answer on a terminal. Refuses to prompt otherwise."""
    if yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{what} needs --yes when not run on a terminal")
    return typer.confirm(question, default=False, err=True)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def counted(ids: list[int], word: str = "change") -> str:
    """"2 changes: 4, 7" (or "0 changes")."""
    return plural(len(ids), word) + (f": {', '.join(map(str, ids))}" if ids else "")


def read_password(password_stdin: bool, password_env: str | None, *, confirm: bool = True) -> str:
    """A password from stdin (first line), an environment variable, or a prompt on a terminal.
    Never from a plain argument (it would show in `ps` and shell history)."""
    from qbsync.errors import InvalidInput

    if password_stdin and password_env:
        raise UsageError("give --password-stdin or --password-env, not both")
    if password_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password.rstrip("\r")
    elif password_env:
        if password_env not in os.environ:
            raise UsageError(f"environment variable {password_env} is not set")
        password = os.environ[password_env]
    elif sys.stdin.isatty():
        password = typer.prompt("Web Connector password", hide_input=True, confirmation_prompt=confirm, err=True)
    else:
        raise UsageError("a password is needed: use --password-stdin or --password-env VAR (no terminal to prompt on)")
    if not password:
        raise InvalidInput("the password is empty")
    return password
