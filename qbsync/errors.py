"""Exit codes and the one exception type the CLI turns into a one-line error."""

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_BUSY = 4
EXIT_SKIPPED = 5  # `stage --skip-invalid` staged the valid lines and skipped some invalid ones


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
