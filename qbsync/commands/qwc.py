"""`qbsync qwc CONNECTION --url URL`: the .qwc file to add the connection to QuickBooks Web Connector."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from qbsync.commands._support import option_values
from qbsync.commands.common import DbOption, QuietOption
from qbsync.commands.messages import say, warn

# The .qwc always carries a Scheduler: it only presets the interval, the user still ticks Auto-Run.
DEFAULT_EVERY_MINUTES = 15


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename, so a
    reader never sees half a file and a failure leaves any previous file untouched."""
    from qbsync.errors import QbsyncError

    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise QbsyncError(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise QbsyncError(f"cannot write {path}: it is a folder")
    import tempfile  # here, not at the top: every command's start-up imports this module

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise QbsyncError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise QbsyncError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def qwc(
    connection: Annotated[str, typer.Argument(metavar="CONNECTION", help="The connection to make the .qwc file for.", show_default=False)],
    url: Annotated[
        str,
        typer.Option("--url", help="The service's AppURL as the Web Connector reaches it: https://HOST/qbwc "
                     "(http only for localhost).", show_default=False),
    ],
    every_minutes: Annotated[
        int,
        typer.Option(
            "--every-minutes", min=1,
            help="Run automatically every N minutes (the Scheduler; runs only while Auto-Run is ticked in the Web Connector).",
        ),
    ] = DEFAULT_EVERY_MINUTES,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the .qwc to this file (atomically) instead of stdout."),
    ] = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Write the .qwc file that adds CONNECTION to QuickBooks Web Connector.

    The file names the service URL, the /support page on the same host, the connection's username and GUIDs kept in the store (the same file every time). It holds no password: the Web Connector asks for it.

    The URL must be https, or http://localhost when the Web Connector runs on this machine.

    Examples:

        qbsync qwc acme --url https://sync.example.com/qbwc --every-minutes 15 --output acme.qwc

        qbsync qwc acme --url http://localhost:8080/qbwc > acme.qwc
    """
    from qbsync import qwc as qwc_file
    from qbsync.store import open_store
    from qbsync.store.connections import get_connection
    from qbsync.store.sessions import qwc_identifiers

    with option_values():
        qwc_file.check_app_url(url)  # refuse before touching the store
    qwc_file.check_value("the connection name", connection)
    # One transaction: ids made for this file are kept only once the file is written (a failed
    # write leaves the store as it was).
    with open_store(db) as store, store.transaction():
        conn = get_connection(store, connection)
        owner_id, file_id = qwc_identifiers(store, conn["id"])
        text = qwc_file.render(
            qwc_file.QwcFile(
                connection=conn["name"], username=conn["username"], app_url=url.strip(), owner_id=owner_id,
                file_id=file_id, every_minutes=every_minutes,
            )
        )
        if output is not None:
            write_atomically(output, text)
    if output is None:
        from qbsync.output import write_text

        write_text(text)
    else:
        say(f"wrote {output}: open it in QuickBooks Web Connector (Add an application) and enter the "
            f"password of connection {conn['name']}")
    if url.strip().lower().startswith("http:"):
        warn("note: plain http works only when the Web Connector runs on this machine (localhost)")


def register(app: typer.Typer) -> None:
    app.command("qwc")(qwc)
