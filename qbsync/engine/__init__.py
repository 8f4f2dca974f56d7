"""What a Web Connector session does, as pure decisions over plain data (no SQL, no HTTP, no
clock): every rule of the Web Connector protocol lives here.

- `session`: the session state machine (`Session`, fed the Web Connector's events, returning the
  answer and the outcome of each change), authenticate's admission, expiry and revival, the
  qbXML version chosen, percent complete, the getLastError and closeConnection texts
- `exports`: the export step: order, batches, requests, and reading QuickBooks' answers
- `model`: export changes, the mirror, and the outcome of each change (synced, failed, …)

The connector shell (`qbsync.connector.service`) loads from the store, calls these, and records
the outcomes in one transaction.
"""
