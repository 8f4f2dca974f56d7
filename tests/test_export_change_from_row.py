"""ExportChange.from_row sets its fields without the dataclass' __init__ (it is on every
callback's path): what it makes must equal what the constructor makes, field for field."""

from __future__ import annotations

import dataclasses

import pytest

from qbsync.engine.model import ExportChange, Ref

ROWS = [
    {"id": 7, "type": "Customer", "action": "add", "local_id": "C1", "qb_id": None, "name": "Acme",
     "payload": '{"Name": "Acme"}', "before": None, "status": "queued", "status_code": None,
     "refresh_edit_sequence": 0, "last_tried": None, "message_id": None},
    {"id": "8", "type": "Invoice", "action": "mod", "local_id": 42, "qb_id": "T-1", "name": None,
     "payload": {"Memo": "x"}, "before": {"Memo": "y"}, "status": "queued", "status_code": 3175,
     "attempts_since_failure": 2, "refresh_edit_sequence": 1, "last_tried": "2026-11-26T08:00:00Z",
     "message_id": "q1-2-abc"},
    {"id": 9, "type": "Customer", "action": "delete", "local_id": "C9", "payload": "{}"},  # columns missing
]
REFS = [("CustomerRef", "C1", "Customer"), ("InvoiceLine[0]/ItemRef", "I0", "ItemService,ItemInventory"),
        ("ClassRef", 5, None)]


def _by_constructor(row: dict, refs: list) -> ExportChange:
    made = ExportChange.from_row(row, refs, now="2026-11-26T08:01:00Z")  # for the lock fields only
    return ExportChange(
        id=int(row["id"]), type=row["type"], action=row["action"], local_id=str(row["local_id"]),
        qb_id=row.get("qb_id"), name=row.get("name"), payload=row.get("payload"),
        refs=tuple(Ref.from_values(*r) for r in refs), before=row.get("before"),
        refresh_edit_sequence=int(row.get("refresh_edit_sequence") or 0), locks=made.locks, lock_code=made.lock_code,
        not_before=made.not_before, message_id=row.get("message_id"), last_tried=row.get("last_tried"),
    )


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("refs", [[], REFS])
def test_from_row_equals_the_constructor_field_for_field(row: dict, refs: list) -> None:
    made = ExportChange.from_row(row, refs, now="2026-11-26T08:01:00Z")
    expected = _by_constructor(row, refs)
    for f in dataclasses.fields(ExportChange):
        assert getattr(made, f.name) == getattr(expected, f.name), f.name
    assert made == expected


def test_from_row_keeps_json_text_until_read_and_copies_dicts() -> None:
    payload = {"Memo": "x"}
    made = ExportChange.from_row({**ROWS[1], "payload": payload})
    assert made.payload == payload and made.payload is not payload  # a dict of its own
    lazy = ExportChange.from_row(ROWS[0])
    assert lazy.__dict__["_payload"] == '{"Name": "Acme"}'  # decoded when first read
    assert lazy.payload == {"Name": "Acme"} and lazy.before == {}


def test_refs_are_shared_and_typed() -> None:
    a = ExportChange.from_row(ROWS[0], REFS)
    b = ExportChange.from_row(ROWS[2], REFS)
    assert a.refs[0] is b.refs[0]
    assert a.refs[1].types == ("ItemService", "ItemInventory") and a.refs[2] == Ref("ClassRef", "5", ())
    assert Ref.from_values("ClassRef", 5, None) is a.refs[2]
