"""Read-only views: status per connection, the mirror, the app's feed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbsync.store import changes as store_changes
from qbsync.store import connections as store_connections
from qbsync.store import logs as store_logs
from qbsync.store import records as store_records
from qbsync.store.db import Store
from qbsync.sync import conflicts

# The JSON keys of each row (also the csv/tsv header when there are no rows); *_COLUMNS are the
# table's readable subset.
STATUS_COLUMNS = (
    "connection", "awaiting_import", "awaiting_export", "held", "queued", "errors", "last_contact_at",
    "last_contact_outcome",
)
STATUS_KEYS = (
    "connection", "awaiting_import", "awaiting_export", "awaiting", "held", "queued", "errors", "last_contact_at",
    "last_contact_outcome",
)
RECORD_COLUMNS = ("type", "local_id", "qb_id", "edit_sequence", "name", "data")
RECORD_KEYS = (*RECORD_COLUMNS, "updated_at")
FEED_COLUMNS = ("cursor", "direction", "type", "action", "result", "local_id", "qb_id", "name", "at")
FEED_KEYS = (
    "cursor", "direction", "type", "action", "result", "local_id", "qb_id", "edit_sequence", "name", "change_id",
    "status_code", "status_message", "data", "at",
)


def status(store: Store, connection_name: str | None = None) -> list[dict[str, Any]]:
    conns = (
        [store_connections.get_connection(store, connection_name)]
        if connection_name
        else store_connections.list_connections(store)
    )
    rows = []
    for c in conns:
        n = store_changes.count_by_status(store, c["id"])
        both = lambda s: n.get((s, "import"), 0) + n.get((s, "export"), 0)  # noqa: E731
        rows.append(
            {
                "connection": c["name"],
                "awaiting_import": n.get(("awaiting", "import"), 0),
                "awaiting_export": n.get(("awaiting", "export"), 0),
                # the total, as `pending --count` prints it: a conflict (an export and an import of
                # one record) is one change there
                "awaiting": both("awaiting") - conflicts.count(store, c["id"]),
                "held": both("held"),
                "queued": both("queued") + both("sending"),
                "errors": both("error"),
                "last_contact_at": c["last_contact_at"],
                "last_contact_outcome": c["last_contact_outcome"],
            }
        )
    return rows


def needs_attention(rows: list[dict[str, Any]]) -> bool:
    return any(r["awaiting_import"] or r["awaiting_export"] or r["errors"] for r in rows)


def records(store: Store, connection: Mapping[str, Any], type_name: str | None) -> list[dict[str, Any]]:
    return [{k: r[k] for k in RECORD_KEYS} for r in store_records.list_records(store, connection["id"], type_name)]


def feed(store: Store, connection: Mapping[str, Any] | None, since: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    return [
        {k: r[k] for k in FEED_KEYS}
        for r in store_logs.list_feed(store, None if connection is None else connection["id"], since, limit)
    ]
