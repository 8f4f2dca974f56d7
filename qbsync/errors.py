"""Exit codes and the one exception type the CLI turns into a one-line error.

The rule: 2 when the command line is wrong (an unknown command or option, a missing value, any
value an option refuses: a date that does not exist, an unknown --type or --import type, a URL
qbsync will not use, an id that is not a number); 3 when the data is wrong (a JSON line, a qbXML
document, stdin, the TYPE or CODE a command works on); 1 when a well-formed name finds nothing in
the store (an id, a connection) or an action is refused; 4 when the store stays locked; 130 on
Ctrl-C. Checks of option values run inside `commands._support.option_values()`.
"""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_BUSY = 4
EXIT_SKIPPED = 5  # `stage --skip-invalid` staged the valid lines and skipped some invalid ones
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT), as shells report it


class QbsyncError(Exception):
    """An error a user can act on. The CLI prints its message on one line and exits
    with `exit_code`; library callers catch it like any exception."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(QbsyncError):
    exit_code = EXIT_USAGE


class InvalidInput(QbsyncError):
    """Input that breaks the rules: bad qbXML, a malformed JSON line, an unknown type."""

    exit_code = EXIT_INVALID


class NotFound(QbsyncError):
    exit_code = EXIT_ERROR


class StoreBusy(QbsyncError):
    """The SQLite store stayed locked past the busy timeout."""

    exit_code = EXIT_BUSY
