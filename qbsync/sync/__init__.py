"""The Sync Wizard workflow as library functions (no SQL here: that is `qbsync.store`).

- `staging`: the app's JSON lines → export changes
- `wizard`: pending, show, check/uncheck, approve, queue
- `conflicts`: an export and an import awaiting for one record, one wizard change; `resolve`
- `errorlog`: Error Log, Failed Syncs, retry, fix-edit-sequence
- `session`: what a Web Connector session records (export results, detected imports)
- `overview`: status, the mirror, the app's feed
- `content`: pure comparisons and merges; `catalogue`: types and status codes; `passwords`
"""
