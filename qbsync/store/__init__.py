"""The SQLite store: the only package with SQL in it.

    from qbsync.store import open_store
    with open_store("qbsync.db") as store:
        ...

Modules: `db` (opening, transactions), `schema` (migrations), `connections`, `records`,
`changes`, `logs` (Failed Syncs and the app's feed).
"""

from qbsync.store.db import Store, open_store, resolve_path

__all__ = ["Store", "open_store", "resolve_path"]
