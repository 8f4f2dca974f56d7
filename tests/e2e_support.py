"""Shared by the end-to-end tests over HTTP: a store with one connection ("acme"), and staging and
approving through the library as the CLI does."""

from __future__ import annotations

import json

import pytest

from qbsync.store import open_store
from qbsync.store.connections import add_connection, get_connection
from qbsync.sync import errorlog, staging, wizard
from qbsync.sync.passwords import hash_password

USER, PASSWORD = "acme-sync", "acme-pass-1"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    with open_store(path, create=True) as store:
        add_connection(store, name="acme", username=USER, password_hash=hash_password(PASSWORD))
    return path


def stage(db, type_name: str, rows: list[dict]) -> None:
    with open_store(db) as store:
        result = staging.stage_lines(store, get_connection(store, "acme"), type_name, [json.dumps(r) for r in rows])
    assert not getattr(result, "problems", None), result


def approve(db) -> None:
    with open_store(db) as store:
        wizard.approve(store, get_connection(store, "acme"))


def error_log(db) -> list[dict]:
    with open_store(db) as store:
        return errorlog.errors(store, get_connection(store, "acme"))
