"""`qbsync serve-connector`: the SOAP service QuickBooks Web Connector polls."""

from __future__ import annotations

import logging
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from qbsync.commands.common import DbOption
from qbsync.commands.messages import warn

LOGGER_NAME = "qbsync.connector"
_RESERVED_PATHS = ("/support", "/healthz")


def _utc_formatter() -> logging.Formatter:
    from qbsync.timeutil import ISO_UTC_FORMAT

    fmt = logging.Formatter("%(asctime)s %(message)s", datefmt=ISO_UTC_FORMAT)
    fmt.converter = time.gmtime
    return fmt


def configure_logging(log_file: Path | None) -> logging.Logger:
    """One line per event to stderr or `log_file` (appended), for qbsync and waitress."""
    from qbsync.errors import QbsyncError

    if log_file is not None:
        try:
            handler: logging.Handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        except OSError as exc:
            raise QbsyncError(f"cannot open log file {log_file}: {exc.strerror}") from None
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_utc_formatter())
    # waitress.queue warns "Task queue depth is N" for every request that waits for a thread: with
    # many Web Connectors at once that is hundreds of lines a minute, none of them actionable.
    levels = ((LOGGER_NAME, logging.INFO), ("qbsync.soap", logging.INFO), ("waitress", logging.WARNING),
              ("waitress.queue", logging.ERROR))
    for name, level in levels:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    return logging.getLogger(LOGGER_NAME)


def _check_options(path: str, min_client_version: str | None) -> str:
    from qbsync.errors import UsageError

    if not path.startswith("/") or any(c.isspace() or c in "?#" for c in path) or path.rstrip("/") == "":
        raise UsageError(f"--path must be a URL path such as /qbwc, got {path!r}")
    path = path.rstrip("/")
    if path in _RESERVED_PATHS:
        raise UsageError(f"--path {path} is taken by the status pages; use e.g. /qbwc")
    if min_client_version is not None:
        from qbsync.qbxml.versions import VersionError, version_key

        try:
            version_key(min_client_version)
        except VersionError:
            raise UsageError(f"--min-client-version must look like 2.3.0.215, got {min_client_version!r}") from None
    return path


def _listen(app: Any, host: str, port: int, threads: int, **limits: Any) -> Any:
    from qbsync.errors import QbsyncError
    from qbsync.connector.app import RunningServer

    try:
        return RunningServer(app, host, port, threads, **limits)
    except OSError as exc:
        raise QbsyncError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:  # waitress: unresolvable host
        raise QbsyncError(f"cannot listen on {host}:{port}: {exc}") from None


def _lockout_text(per_user: int, per_address: int, minutes: int) -> str:
    limits = [f"{n} per {what}" for n, what in ((per_user, "user name"), (per_address, "address")) if n]
    if not limits:
        return "no login lockout"
    return f"login lockout: {' or '.join(limits)} failed logins in {minutes} min lock for {minutes} min"


def serve_connector(
    db: DbOption = "qbsync.db",
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free port).")] = 8080,
    path: Annotated[str, typer.Option("--path", help="URL path of the SOAP service (the .qwc AppURL's path).")] = "/qbwc",
    threads: Annotated[int, typer.Option("--threads", min=1, max=64, help="Worker threads.")] = 4,
    session_timeout: Annotated[
        int, typer.Option("--session-timeout", min=1, help="Seconds after which a silent session is abandoned.")
    ] = 120,
    response_timeout: Annotated[
        int, typer.Option("--response-timeout", min=1,
                          help="Seconds a session waits for QuickBooks' answer to a message before its outcome "
                               "is unknown (QuickBooks can take minutes on a big message).")
    ] = 1800,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=1000, help="Requests per qbXML message.")
    ] = 50,
    min_client_version: Annotated[
        str | None,
        typer.Option("--min-client-version", metavar="X.Y.Z.W",
                     help="Warn (W:) Web Connectors older than this version."),
    ] = None,
    log_file: Annotated[
        Path | None, typer.Option("--log-file", help="Append log lines to this file instead of stderr.")
    ] = None,
    log_qbxml: Annotated[
        bool, typer.Option("--log-qbxml", help="Also log every qbXML message in full (large; no passwords).")
    ] = False,
    record: Annotated[
        Path | None,
        typer.Option("--record", metavar="DIR", help="Record each session's qbXML exchange here (for `qbsync replay`)."),
    ] = None,
    min_run_interval: Annotated[
        int | None,
        typer.Option("--min-run-interval", metavar="SECONDS", min=1,
                     help="Ask an auto-run Web Connector to run no more often than this (authenticate's "
                          "minimum run interval)."),
    ] = None,
    behind_proxy: Annotated[
        bool,
        typer.Option("--behind-proxy", help="Trust X-Forwarded-Proto / X-Forwarded-Host from a reverse proxy "
                                            "for the URLs the service writes (the WSDL's address). Only when "
                                            "every request comes through the proxy."),
    ] = False,
    max_request_body: Annotated[
        int, typer.Option("--max-request-body", metavar="MB", min=1, max=4096,
                          help="Largest request accepted, in MB (2^20 bytes); a larger one is answered 413 before "
                               "it is read. qbXML responses can be tens of MB.")
    ] = 100,
    max_connections: Annotated[
        int, typer.Option("--max-connections", min=1, max=10000,
                          help="Connections open at once; more wait until one closes.")
    ] = 100,
    idle_timeout: Annotated[
        int, typer.Option("--idle-timeout", metavar="SECONDS", min=1,
                          help="Seconds a connection may stay silent (mid-request or between requests) before it "
                               "is closed.")
    ] = 300,
    lockout_failures: Annotated[
        int, typer.Option("--lockout-failures", min=0,
                          help="Failed logins of one user name within --lockout-minutes that lock it for "
                               "--lockout-minutes (answered nvu, like a wrong password); 0: no lockout.")
    ] = 10,
    lockout_minutes: Annotated[
        int, typer.Option("--lockout-minutes", min=1, help="The window failed logins are counted in, and how long a "
                                                            "lock lasts.")
    ] = 15,
    lockout_address_failures: Annotated[
        int, typer.Option("--lockout-address-failures", min=0,
                          help="Failed logins from one client address (any user name) within --lockout-minutes "
                               "that lock the address; 0: no address lockout.")
    ] = 50,
) -> None:
    """Run the SOAP service QuickBooks Web Connector polls, until Ctrl+C or SIGTERM.

    Serves the Web Connector at --path (WSDL at PATH?wsdl), a status page at /support and a health check at /healthz. Prints the service URL on stdout.

    One log line per session and per batch goes to stderr (or --log-file); never passwords or tickets.

    Examples:

        qbsync serve-connector --db qbsync.db --port 8080

        qbsync serve-connector --host 0.0.0.0 --port 8443 --log-file qbsync.log --record recordings/

        qbsync serve-connector --port 8080 --behind-proxy --min-run-interval 300
    """
    from qbsync.errors import QbsyncError
    from qbsync.connector.app import make_wsgi_app
    from qbsync.output import write_text
    from qbsync.store import open_store, resolve_path
    from qbsync.store.connections import list_connections

    path = _check_options(path, min_client_version)
    db_path = resolve_path(db)
    with open_store(db_path) as store:  # refuses a missing store ("run `qbsync init`") and migrates
        nobody = not list_connections(store)
    if nobody:
        warn("qbsync: warning: the store has no connection, so no Web Connector can log in; "
             "add one with `qbsync connection add NAME --username USER --password-env VAR`")
    if record is not None:
        try:
            record.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise QbsyncError(f"cannot create the recording folder {record}: {exc.strerror}") from None
    log = configure_logging(log_file)

    from qbsync.connector.service import ConnectorService

    service = ConnectorService(
        str(db_path), batch_size=batch_size, session_timeout=session_timeout, response_timeout=response_timeout,
        min_client_version=min_client_version,
        log=log, log_qbxml=log_qbxml, record_dir=None if record is None else str(record),
        min_run_interval=min_run_interval, lockout_failures=lockout_failures, lockout_minutes=lockout_minutes,
        lockout_address_failures=lockout_address_failures,
    )
    max_body_bytes = max_request_body * 1024 * 1024
    app = make_wsgi_app(service, path, db_path=str(db_path), log=log, behind_proxy=behind_proxy,
                        max_body_bytes=max_body_bytes)
    server = _listen(app, host, port, threads, max_body_bytes=max_body_bytes, connection_limit=max_connections,
                     idle_timeout=idle_timeout)
    url = server.url(path)

    stopped_by: list[str] = []

    def stop(signum: int, _frame: Any) -> None:
        # SystemExit, not a custom exception: waitress's event loop re-raises SystemExit but
        # swallows other exceptions raised while it is inside a socket handler.
        if not stopped_by:
            stopped_by.append(signal.Signals(signum).name)
            raise SystemExit(0)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        write_text(url + "\n")
        log.info(f"qbsync: serving the Web Connector on {url} (WSDL {url}?wsdl, status page "
                 f"{server.url('/support')}); store {db_path}; {threads} threads, batch size {batch_size}, "
                 f"session timeout {session_timeout}s, response timeout {response_timeout}s; requests up to "
                 f"{max_request_body} MB, {max_connections} connections, idle timeout {idle_timeout}s; "
                 + _lockout_text(lockout_failures, lockout_address_failures, lockout_minutes)
                 + (f", minimum run interval {min_run_interval}s" if min_run_interval else "")
                 + (", behind a proxy (X-Forwarded-Proto/Host trusted)" if behind_proxy else ""))
        server.run()
    except SystemExit:
        pass
    finally:
        server.stop()
        close = getattr(service, "close", None)
        if callable(close):
            close()
        log.info(f"qbsync: stopped by {stopped_by[0]}" if stopped_by else "qbsync: stopped")
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register(app: typer.Typer) -> None:
    app.command("serve-connector")(serve_connector)
