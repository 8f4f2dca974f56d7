"""What a Web Connector session does, as pure decisions over plain data (no SQL, no HTTP).

- `model`: export changes, the mirror, and the outcome of each change (synced, failed, …)
- `exports`: the export step: order, batches, requests, and reading QuickBooks' answers
- `session`: the session's state between callbacks, percent complete, the closing summary

The service (`qbsync.service`) loads from the store, calls these, and saves in one transaction.
"""
