"""What import detection found, recorded (in the caller's transaction): each record QuickBooks
reported becomes an import change awaiting approval (or nothing: qbsync's own save, or no
change), each type's watermark moves on, and the time detection finished is kept."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from qbsync.engine.model import Detected, DetectionDone, Found, Watermark
from qbsync.errors import QbsyncError
from qbsync.store import imports as store_imports
from qbsync.store.db import Store
from qbsync.sync import delivery

log = logging.getLogger("qbsync.connector")


def record_found(store: Store, connection_id: int, found: Iterable[Found], *, at: str) -> int:
    """Record what detection read; returns how many import changes it created or updated."""
    changed = 0
    for f in found:
        if isinstance(f, Detected):
            try:
                if delivery.record_import(store, connection_id, f.type_name, f.record, deleted=f.deleted) is not None:
                    changed += 1
            except QbsyncError as exc:  # a record QuickBooks sent without its id: nothing to import
                log.warning("connection %d: a %s from QuickBooks was not imported: %s", connection_id, f.type_name, exc)
        elif isinstance(f, Watermark):
            store_imports.set_watermark(store, connection_id, f.kind, f.value, at)
        elif isinstance(f, DetectionDone):
            store_imports.mark_detected(store, connection_id, at)
    return changed
