"""Messages for people on stderr: `say` (silenced by a command's --quiet), `warn` (never), and
what Ctrl-C means for the command running. Data goes through qbsync.output, never here."""

from __future__ import annotations

import sys

_quiet = False


def set_quiet(value: bool) -> bool:
    """The `--quiet` option's callback (commands.common.QuietOption): each command that says
    anything has the option, so each run sets it."""
    global _quiet
    _quiet = bool(value)
    return value


def say(message: str) -> None:
    """A message for people: stderr, never mixed with the data on stdout; --quiet silences it."""
    if not _quiet:
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """What must be read even with --quiet: something left undone, or the question a prompt asks."""
    print(message, file=sys.stderr, flush=True)


def quiet() -> bool:
    return _quiet


_interrupt_means: str | None = None


def on_interrupt(meaning: str) -> None:
    """What Ctrl-C in this command means for the store (stage: "nothing was staged")."""
    global _interrupt_means
    _interrupt_means = meaning


def reset() -> None:
    """Each run starts loud and with no interrupt meaning (cli.main; tests run many in one process)."""
    global _quiet, _interrupt_means
    _quiet, _interrupt_means = False, None


def interrupted_message() -> str:
    """The line Ctrl-C leaves on stderr (cli.main prints it with exit 130)."""
    return "qbsync: interrupted" + (f"; {_interrupt_means}" if _interrupt_means else "")
