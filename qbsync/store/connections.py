"""SQL for connections: one QuickBooks company file each."""

from __future__ import annotations

import json
from typing import Any

from qbsync.errors import NotFound, QbsyncError, UsageError
from qbsync.store.db import Store
from qbsync.timeutil import utc_now

_PUBLIC = (
    "id, name, username, company_file, qbxml_version, import_types, import_since, "
    "created_at, updated_at, last_contact_at, last_contact_outcome, import_page_size, last_detected_at"
)


def _row(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is not None and isinstance(row.get("import_types"), str):
        row["import_types"] = json.loads(row["import_types"])
    if row is not None and row.get("import_since") == "":  # `set --import-since ""` cleared it
        row["import_since"] = None
    return row


def list_connections(store: Store) -> list[dict[str, Any]]:
    """Every connection, without the password hash."""
    return [_row(r) for r in store.query(f"SELECT {_PUBLIC} FROM connections ORDER BY name")]  # type: ignore[misc]


def count_connections(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM connections"))


def get_connection(store: Store, name: str) -> dict[str, Any]:
    row = _row(store.query_one(f"SELECT {_PUBLIC} FROM connections WHERE name = ?", (name,)))
    if row is None:
        names = [r["name"] for r in store.query("SELECT name FROM connections ORDER BY name")]
        known = f"; connections: {', '.join(names)}" if names else "; add one with `qbsync connection add`"
        raise NotFound(f"no connection named {name!r}{known}")
    return row


def resolve_connection(store: Store, name: str | None) -> dict[str, Any]:
    """The named connection, or the only one when `name` is None."""
    if name:
        return get_connection(store, name)
    rows = list_connections(store)
    if not rows:
        raise NotFound("no connection yet; add one with `qbsync connection add NAME --username U`")
    if len(rows) > 1:
        raise UsageError(
            f"{len(rows)} connections exist ({', '.join(r['name'] for r in rows)}); choose one with --connection NAME"
        )
    return rows[0]


def connection_by_id(store: Store, connection_id: int) -> dict[str, Any] | None:
    """The connection with this id, without the password hash (None when it was removed): one
    row, whatever the number of connections (each Web Connector callback reads its own)."""
    return _row(store.query_one(f"SELECT {_PUBLIC} FROM connections WHERE id = ?", (connection_id,)))


def connection_by_username(store: Store, username: str) -> dict[str, Any] | None:
    """The connection a Web Connector user name belongs to, with its password hash (for authenticate)."""
    return _row(store.query_one("SELECT * FROM connections WHERE username = ?", (username,)))


def password_hash(store: Store, connection_id: int) -> str:
    return store.scalar("SELECT password_hash FROM connections WHERE id = ?", (connection_id,))


def add_connection(
    store: Store,
    *,
    name: str,
    username: str,
    password_hash: str,
    company_file: str = "",
    qbxml_version: str = "13.0",
    import_types: list[str] | None = None,
    import_since: str | None = None,
    import_page_size: int = 500,
) -> dict[str, Any]:
    now = utc_now()
    with store.transaction():
        if store.scalar("SELECT 1 FROM connections WHERE name = ?", (name,)):
            raise QbsyncError(f"a connection named {name!r} already exists")
        if store.scalar("SELECT 1 FROM connections WHERE username = ?", (username,)):
            raise QbsyncError(f"the Web Connector username {username!r} is already used by another connection")
        store.execute(
            "INSERT INTO connections (name, username, password_hash, company_file, qbxml_version, import_types,"
            " import_since, import_page_size, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, username, password_hash, company_file, qbxml_version, json.dumps(import_types or []), import_since,
             int(import_page_size), now, now),
        )
    return get_connection(store, name)


_SETTABLE = {"name", "username", "password_hash", "company_file", "qbxml_version", "import_types", "import_since",
             "import_page_size"}


def update_connection(store: Store, current_name: str, /, **fields: Any) -> dict[str, Any]:
    """Change the given fields (None values are left as they are)."""
    values = {k: v for k, v in fields.items() if v is not None}
    unknown = set(values) - _SETTABLE
    if unknown:
        raise ValueError(f"cannot set {sorted(unknown)}")
    if "import_types" in values:
        values["import_types"] = json.dumps(values["import_types"])
    name = current_name
    with store.transaction():
        row = get_connection(store, name)
        if "name" in values and values["name"] != name and store.scalar(
            "SELECT 1 FROM connections WHERE name = ?", (values["name"],)
        ):
            raise QbsyncError(f"a connection named {values['name']!r} already exists")
        if "username" in values and store.scalar(
            "SELECT 1 FROM connections WHERE username = ? AND id != ?", (values["username"], row["id"])
        ):
            raise QbsyncError(f"the Web Connector username {values['username']!r} is already used by another connection")
        if values:
            store.update_row("connections", row["id"], {**values, "updated_at": utc_now()})
    return get_connection(store, values.get("name", name))


def remove_connection(store: Store, name: str) -> dict[str, Any]:
    """Delete a connection and everything recorded for it (records, changes, logs)."""
    with store.transaction():
        row = get_connection(store, name)
        counts = {
            "records": store.scalar("SELECT count(*) FROM records WHERE connection_id = ?", (row["id"],)),
            "changes": store.scalar("SELECT count(*) FROM changes WHERE connection_id = ?", (row["id"],)),
        }
        store.execute("DELETE FROM connections WHERE id = ?", (row["id"],))
    return {**row, **counts}


def record_contact(store: Store, connection_id: int, outcome: str, at: str | None = None) -> None:
    """Remember the last Web Connector contact of a connection and how it went."""
    store.execute(
        "UPDATE connections SET last_contact_at = ?, last_contact_outcome = ? WHERE id = ?",
        (at or utc_now(), outcome, connection_id),
    )
