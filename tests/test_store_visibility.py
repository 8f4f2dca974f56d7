"""Several connections to one store, in one process and in others: each sees the others' commits.

SQLite's locks on the store file are POSIX advisory locks, which belong to the process: closing
ANY descriptor of the file in the process drops every lock the process holds on it, the shared
lock of each of its open connections included. Then another process's close believes it is the
last connection to the store: it checkpoints the WAL ignoring this process's readers and deletes
the -wal and -shm files this process still uses; its later writes go to files nobody else reads
(lost, stale snapshots, "disk I/O error", a corrupt store). So nothing in qbsync may open the
store file other than through SQLite (`open_store` used to read the file's header with open()).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from qbsync.errors import QbsyncError
from qbsync.store import open_store


def in_another_process(path, code: str) -> str:
    script = "from qbsync.store import open_store\nstore = open_store(%r)\n" % str(path) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()


def put(store, key: str) -> None:
    with store.transaction():
        store.execute("INSERT INTO settings (key, value) VALUES (?, 'x')", (key,))


def keys_seen_by_another_process(path) -> list[str]:
    return in_another_process(path, "print(*sorted(r['key'] for r in store.query('SELECT key FROM settings')))").split()


def test_a_second_open_in_the_process_keeps_the_first_connections_locks(tmp_path):
    path = tmp_path / "s.db"
    open_store(path, create=True).close()
    kept = open_store(path)  # e.g. one server thread's connection, mid-callback
    expected = []
    try:
        for n in range(3):
            put(kept, f"kept-{n}")
            open_store(path).close()  # another thread's callback opens (and closes) the store meanwhile
            in_another_process(path, f"store.execute(\"INSERT INTO settings (key, value) VALUES ('cli-{n}', 'x')\")")
            # That process's close was not the last one: the WAL this process uses is still there.
            assert path.with_name(path.name + "-wal").exists()
            assert kept.scalar("SELECT count(*) FROM settings WHERE key = ?", (f"cli-{n}",)) == 1
            with open_store(path) as fresh:
                put(fresh, f"fresh-{n}")
            expected += [f"cli-{n}", f"fresh-{n}", f"kept-{n}"]
            assert keys_seen_by_another_process(path) == sorted(expected)
    finally:
        kept.close()
    with open_store(path) as store:
        assert store.scalar("PRAGMA integrity_check") == "ok"


def test_foreign_files_are_still_refused_untouched_and_alone(tmp_path):
    """SQLite, not open(), now tells a foreign file: the same refusal, nothing written next to it."""
    for content in (b"hello", b"0123456789abcdefXYZ" * 40):
        path = tmp_path / "notes.db"
        path.write_bytes(content)
        for kwargs in ({"create": True}, {}, {"write": False}):
            with pytest.raises(QbsyncError, match=r"is not a qbsync store \(not an SQLite database\)"):
                open_store(path, **kwargs)
        path.chmod(0o444)
        with pytest.raises(QbsyncError, match=r"is not a qbsync store \(not an SQLite database\)"):
            open_store(path, write=False)
        path.chmod(0o644)
        assert path.read_bytes() == content
        assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]
        path.unlink()
