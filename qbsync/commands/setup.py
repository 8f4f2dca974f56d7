"""`qbsync init` and `qbsync connection add|list|set|remove|passwd`."""

from __future__ import annotations

from typing import Annotated

import typer

from qbsync.commands._support import confirm_or_yes, open_db, option_values, read_password, render, since_option
from qbsync.commands.common import DbOption, Format, FormatOption, QuietOption
from qbsync.commands.messages import say

CONNECTION_COLUMNS = (
    "name", "username", "company_file", "qbxml_version", "import_types", "import_since", "last_contact_at",
    "last_contact_outcome",
)
# The JSON keys of a connection (store.connections lists them): the csv/tsv header when there are none.
CONNECTION_KEYS = (
    "id", "name", "username", "company_file", "qbxml_version", "import_types", "import_since", "created_at",
    "updated_at", "last_contact_at", "last_contact_outcome", "import_page_size", "last_detected_at",
)

_USERNAME_HELP = "The Web Connector user name (in the .qwc file)."
UsernameOption = Annotated[str | None, typer.Option("--username", "-u", metavar="NAME", help=_USERNAME_HELP)]
RequiredUsernameOption = Annotated[str, typer.Option("--username", "-u", metavar="NAME", help=_USERNAME_HELP, show_default=False)]
CompanyFileOption = Annotated[
    str | None, typer.Option("--company-file", metavar="PATH", help="Company file path; empty = whichever file is open in QuickBooks.")
]
ImportOption = Annotated[
    str | None, typer.Option("--import", metavar="TYPES", help="Types imported from QuickBooks, comma-separated (e.g. Customer,Invoice).")
]
ImportSinceOption = Annotated[
    str | None, typer.Option("--import-since", metavar="DATE", help="Import only records modified on or after this date (YYYY-MM-DD: midnight UTC) "
                 "or time (2026-03-01T10:00:00+02:00, stored in UTC as 2026-03-01T08:00:00Z).")
]
PageSizeOption = Annotated[
    int | None, typer.Option("--import-page-size", metavar="N", min=1, max=10000,
                             help="Records per page when reading changes from QuickBooks (MaxReturned; default 500).")
]
VersionOption = Annotated[str | None, typer.Option("--qbxml-version", metavar="VERSION", help="Highest qbXML version to use (e.g. 13.0).")]
PasswordStdinOption = Annotated[bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")]
PasswordEnvOption = Annotated[
    str | None, typer.Option("--password-env", metavar="VAR", help="Read the password from environment variable VAR.")
]


def init(db: DbOption = "qbsync.db", quiet: QuietOption = False) -> None:
    """Create the store (or bring an existing one to the current schema). Safe to run again.

    Example:

        qbsync init --db /var/lib/qbsync/qbsync.db
    """
    from qbsync.store import open_store, resolve_path
    from qbsync.store.schema import LATEST

    path = resolve_path(db)
    existed = path.exists() and path.stat().st_size > 0
    with open_store(path, create=True):
        pass
    say(f"{'store at ' + str(path) + ' is ready' if existed else 'created store ' + str(path)} (schema version {LATEST})")


def _types(value: str | None) -> list[str] | None:
    if value is None:
        return None
    from qbsync.sync.catalogue import importable_type

    with option_values():
        return list(dict.fromkeys(importable_type(t) for t in value.split(",") if t.strip()))


def _since(value: str | None) -> str | None:
    # stored in UTC: an offset is converted, a bare date kept
    return since_option(value, "--import-since", "a date like 2026-01-31 (or a time like 2026-01-31T08:00:00Z)")


def _checked_option(value: str | None, option: str) -> str | None:
    """`_checked_name` for an option's value: refused, it is a usage error (exit 2)."""
    with option_values():
        return _checked_name(value, option)


def _checked_name(value: str | None, what: str) -> str | None:
    """A name or Web Connector user name: never empty or only spaces (a script's unset variable),
    and only characters the .qwc file and the Web Connector's SOAP calls can carry."""
    if value is None:
        return value
    from qbsync.errors import InvalidInput
    from qbsync.qbxml.xmlchars import first_invalid_xml_char

    if not value.strip():
        raise InvalidInput(f"{what} cannot be empty")
    bad = first_invalid_xml_char(value)
    if bad:
        raise InvalidInput(f"{what} {value!r} contains character {bad}, which the Web Connector cannot carry")
    return value


def _version(value: str | None) -> str | None:
    if value is None:
        return None
    import re

    from qbsync.errors import UsageError

    if not re.fullmatch(r"\d{1,2}\.\d", value):
        raise UsageError(f"--qbxml-version takes a version like 13.0, not {value!r}")
    return value


def add(
    name: Annotated[str, typer.Argument(help="A name for this connection (one QuickBooks company file).")],
    username: RequiredUsernameOption,
    company_file: CompanyFileOption = "",
    import_types: ImportOption = None,
    import_since: ImportSinceOption = None,
    import_page_size: PageSizeOption = None,
    qbxml_version: VersionOption = "13.0",
    password_stdin: PasswordStdinOption = False,
    password_env: PasswordEnvOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Add a connection (one QuickBooks company file).

    The password comes from a prompt, --password-stdin or --password-env, never from an
    argument; only a salted scrypt hash is stored.

    Example:

        printf '%s\\n' "$QBWC_PASSWORD" | qbsync connection add main --username qbwc --import Customer,Invoice --password-stdin
    """
    from qbsync.store import connections as sc
    from qbsync.sync.passwords import hash_password

    _checked_name(name, "the connection name")
    _checked_option(username, "--username")
    types = _types(import_types) or []
    since = _since(import_since)
    version = _version(qbxml_version) or "13.0"
    store = open_db(db)
    with store:
        password = read_password(password_stdin, password_env)
        sc.add_connection(
            store, name=name, username=username, password_hash=hash_password(password), company_file=company_file or "",
            qbxml_version=version, import_types=types, import_since=since, import_page_size=import_page_size or 500,
        )
    say(f"added connection {name} (Web Connector username {username})")


def list_(fmt: FormatOption = Format.table, db: DbOption = "qbsync.db") -> None:
    """List the connections (never their passwords).

    Example:

        qbsync connection list --format json
    """
    from qbsync.store import connections as sc

    with open_db(db, write=False) as store:
        rows = sc.list_connections(store)
    render(rows, fmt, CONNECTION_COLUMNS, empty="no connections yet; add one with `qbsync connection add`",
           keys=CONNECTION_KEYS)


def set_(
    name: Annotated[str, typer.Argument(help="The connection to change.")],
    rename: Annotated[str | None, typer.Option("--rename", metavar="NAME", help="A new name for the connection.")] = None,
    username: UsernameOption = None,
    company_file: CompanyFileOption = None,
    import_types: ImportOption = None,
    import_since: ImportSinceOption = None,
    import_page_size: PageSizeOption = None,
    qbxml_version: VersionOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Change a connection's settings (only the options given).

    Setting --import-since starts import detection over from that date (records already
    offered or imported are not offered again unless they changed).

    Example:

        qbsync connection set main --import Customer,Invoice,ReceivePayment --import-since 2026-01-01
    """
    from qbsync.errors import UsageError
    from qbsync.store import connections as sc

    fields = {
        "name": _checked_option(rename, "--rename"), "username": _checked_option(username, "--username"), "company_file": company_file, "import_types": _types(import_types),
        "import_since": _since(import_since), "qbxml_version": _version(qbxml_version),
        "import_page_size": import_page_size,
    }
    if all(v is None for v in fields.values()):
        raise UsageError("nothing to change: give at least one option (see --help)")
    with open_db(db) as store, store.transaction():
        row = sc.update_connection(store, name, **fields)
        if import_since is not None:
            from qbsync.store import imports as store_imports

            store_imports.clear_watermarks(store, row["id"])
    say(f"updated connection {rename or name}")


def remove(
    name: Annotated[str, typer.Argument(help="The connection to remove.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (required when not on a terminal).")] = False,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Remove a connection and everything recorded for it (mirror, changes, logs).

    Example:

        qbsync connection remove old-company --yes
    """
    from qbsync.store import connections as sc

    with open_db(db) as store:
        sc.get_connection(store, name)
        if not confirm_or_yes(f"Remove connection {name} and all its records, changes and logs?", yes, "connection remove"):
            raise typer.Exit(1)
        gone = sc.remove_connection(store, name)
    say(f"removed connection {name} ({gone['records']} records, {gone['changes']} changes)")


def passwd(
    name: Annotated[str, typer.Argument(help="The connection whose Web Connector password changes.")],
    password_stdin: PasswordStdinOption = False,
    password_env: PasswordEnvOption = None,
    db: DbOption = "qbsync.db",
    quiet: QuietOption = False,
) -> None:
    """Set a new Web Connector password for a connection.

    Example:

        QBWC_PASSWORD=… qbsync connection passwd main --password-env QBWC_PASSWORD
    """
    from qbsync.store import connections as sc
    from qbsync.sync.passwords import hash_password

    with open_db(db) as store:
        sc.get_connection(store, name)
        password = read_password(password_stdin, password_env)
        sc.update_connection(store, name, password_hash=hash_password(password))
    say(f"changed the password of connection {name}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    group = typer.Typer(
        help=(
            "Connections: one per QuickBooks company file (Web Connector user, password, what to import).\n\n"
            "Examples:\n\n"
            "    QBWC_PASSWORD=… qbsync connection add main --username qbwc --password-env QBWC_PASSWORD\n\n"
            "    qbsync connection list --format json"
        ),
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    group.command("add")(add)
    group.command("list")(list_)
    group.command("set")(set_)
    group.command("remove")(remove)
    group.command("passwd")(passwd)
    app.add_typer(group, name="connection")
