"""SQL of import detection and of approved imports: each connection's watermarks (QuickBooks'
own newest TimeModified / TimeDeleted read, per type), when detection last ran, and the
approved imports a session applies."""

from __future__ import annotations

from typing import Any

from qbsync.store import changes as store_changes
from qbsync.store.db import Store


def watermarks(store: Store, connection_id: int) -> dict[str, str]:
    """kind (a type, ListDeleted or TxnDeleted) -> QuickBooks' newest time read."""
    rows = store.query("SELECT kind, since FROM import_watermarks WHERE connection_id = ?", (connection_id,))
    return {r["kind"]: r["since"] for r in rows}


def set_watermark(store: Store, connection_id: int, kind: str, since: str, at: str) -> None:
    store.execute(
        "INSERT INTO import_watermarks (connection_id, kind, since, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (connection_id, kind) DO UPDATE SET since = excluded.since, updated_at = excluded.updated_at",
        (connection_id, kind, since, at),
    )


def clear_watermarks(store: Store, connection_id: int) -> None:
    """The next detection reads from --import-since (or everything) again."""
    store.execute("DELETE FROM import_watermarks WHERE connection_id = ?", (connection_id,))


def mark_detected(store: Store, connection_id: int, at: str) -> None:
    store.execute("UPDATE connections SET last_detected_at = ? WHERE id = ?", (at, connection_id))


def count_queued_imports(store: Store, connection_id: int) -> int:
    return int(store.scalar(
        "SELECT count(*) FROM changes WHERE connection_id = ? AND status = 'queued' AND direction = 'import'",
        (connection_id,),
    ))


def queued_imports(store: Store, connection_id: int, max_change_id: int | None = None) -> list[dict[str, Any]]:
    """Approved imports of a connection (up to `max_change_id`), oldest first."""
    rows = store_changes.list_changes(store, connection_id, ["queued"], direction="import")
    return [r for r in rows if max_change_id is None or r["id"] <= max_change_id]
