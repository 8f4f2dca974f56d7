"""Listing and staging stream (issue 11): what a streamed path writes is what the whole-list
path wrote, byte for byte, and staging gives the same results whatever the chunk size."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qbsync.output import render
from qbsync.store import changes as store_changes
from qbsync.store import connections, open_store
from qbsync.sync import content, staging, wizard


@pytest.fixture
def env(tmp_path):
    store = open_store(tmp_path / "s.db", create=True)
    conn = connections.add_connection(store, name="main", username="u", password_hash="h")
    yield store, conn
    store.close()


RECORDS = [
    {"id": "C1", "Name": "Acme, \"the\" Ltd", "Phone": "555-0100", "BillAddress": {"Addr1": "1 Main St", "City": "Zürich"}},
    {"id": "C2", "Name": "Bäcker & Söhne", "Notes": "x" * 300, "CreditLimit": 100},
    {"id": "C3", "Name": "Tab\there", "ParentRef": {"local_id": "C1"}},
    {"id": "C4", "Name": "Linked", "ListID": "80000001-1"},
]


def staged(env) -> None:
    store, conn = env
    staging.stage_lines(store, conn, "Customer", [json.dumps(r) for r in RECORDS])
    wizard.approve(store, conn, uncheck=[1])  # C1 held, the rest queued: a mix of statuses
    staging.stage_lines(store, conn, "Customer", [json.dumps({**RECORDS[1], "Phone": "1"}),
                                                  json.dumps({"id": "C5", "Name": "New"})])


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv", "tsv"])
@pytest.mark.parametrize("direction", [None, "export", "import"])
def test_streamed_pending_is_the_listed_pending_byte_for_byte(env, fmt, direction):
    staged(env)
    store, conn = env
    whole, streamed = io.StringIO(), io.StringIO()
    rows = wizard.pending(store, conn, direction=direction)
    n = render(rows, fmt, out=whole, keys=("id",))
    assert render(wizard.iter_pending(store, conn, direction=direction), fmt, out=streamed, keys=("id",)) == n
    assert streamed.getvalue() == whole.getvalue()
    assert wizard.count_pending(store, conn, direction=direction) == len(rows)


def test_pending_count_follows_the_filters(env):
    staged(env)
    store, conn = env
    for kw in ({}, {"direction": "export"}, {"type_name": "customer"}, {"type_name": "Invoice"}):
        assert wizard.count_pending(store, conn, **kw) == len(wizard.pending(store, conn, **kw))


def test_brief_changes_are_the_full_ones_without_their_content(env):
    staged(env)
    store, conn = env
    full = store_changes.list_changes(store, conn["id"], ["awaiting", "held", "queued"])
    brief = store_changes.list_changes(store, conn["id"], ["awaiting", "held", "queued"], brief=True)
    assert brief == [{k: c[k] for k in store_changes.BRIEF_COLUMNS} for c in full]


def _summary_reference(action, direction, payload, before, limit=100):
    """content.summary as it was before it stopped early (every part made, then cut)."""
    if action == "delete":
        return "delete in QuickBooks" if direction == "export" else "deleted in QuickBooks"
    if action == "add":
        fields = [k for k in payload if k not in content.VOLATILE and k not in ("ListID", "TxnID")]
        text = "new: " + ", ".join(f"{k}={content.short(payload[k])}" for k in fields)
    else:
        text = "; ".join(f"{k}: {content.short(old)} → {content.short(payload.get(k))}" for k, old in before.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


values = st.one_of(st.none(), st.text(max_size=40), st.integers(), st.lists(st.text(max_size=3), max_size=3),
                   st.dictionaries(st.sampled_from(["FullName", "ListID", "Addr1"]), st.text(max_size=20), max_size=2))
fields = st.dictionaries(st.text(min_size=1, max_size=12), values, max_size=8)


@given(st.sampled_from(["add", "mod", "delete"]), fields, fields, st.integers(min_value=5, max_value=120))
def test_summary_stopping_early_says_the_same(action, payload, before, limit):
    assert content.summary(action, "export", payload, before, limit) == _summary_reference(action, "export", payload, before, limit)


# -- staging -------------------------------------------------------------------------------------

LINES = [
    json.dumps({"id": "A", "Name": "Alpha", "Phone": "1"}),
    json.dumps({"id": "B", "Name": "Beta", "ParentRef": {"local_id": "A"}}),
    "",
    "{not json",
    json.dumps({"id": "C", "Name": "Gamma", "Nmae": "typo"}),
    json.dumps({"id": "D", "Name": "Alpha"}),  # the same name as A: refused
    json.dumps({"id": "E", "Name": "Eps", "ParentRef": {"local_id": "nobody"}}),
    json.dumps({"id": "F", "Name": "Phi", "CreditLimit": 5}),
    json.dumps({"id": "G", "Name": "G\u00e9", "ListID": "80000009-1"}),
    json.dumps({"id": "H", "Name": "Eta"}),
    json.dumps({"id": "H", "Name": "Eta again"}),  # the same id twice: both refused
]
AGAIN = [
    json.dumps({"id": "A", "Name": "Alpha", "Phone": "2"}),  # folds into the change awaiting
    json.dumps({"id": "B", "Name": "Beta", "ParentRef": {"local_id": "A"}}),  # unchanged
    json.dumps({"id": "F", "Name": "Phi", "CreditLimit": "5.00"}),  # unchanged once normalised
    json.dumps({"id": "I", "Name": "Iota"}),
]


def _run(tmp_path, name, chunk, monkeypatch):
    monkeypatch.setattr(staging, "CHUNK", chunk)
    with open_store(tmp_path / f"{name}.db", create=True) as store:
        conn = connections.add_connection(store, name="main", username="u", password_hash="h")
        first = staging.stage_lines(store, conn, "Customer", LINES, skip_invalid=True)
        second = staging.stage_lines(store, conn, "Customer", AGAIN, skip_invalid=True)
        with pytest.raises(staging.InvalidInput, match="nothing was staged"):
            staging.stage_lines(store, conn, "Customer", AGAIN + ["{bad"])
        rows = [{k: v for k, v in c.items() if k not in ("detected_at", "updated_at")}
                for c in store_changes.list_changes(store, conn["id"], ["awaiting", "cleared"])]
    return first.as_dict(), second.as_dict(), rows


def test_staging_in_chunks_gives_the_same_results_and_changes(tmp_path, monkeypatch):
    one_by_one = _run(tmp_path, "a", 1, monkeypatch)
    in_pairs = _run(tmp_path, "b", 2, monkeypatch)
    whole = _run(tmp_path, "c", 500, monkeypatch)
    assert one_by_one == in_pairs == whole
    first, second, rows = whole
    assert (first["added"], first["modified"], first["skipped_lines"]) == (3, 1, 6)  # G links: a mod
    assert (second["updated"], second["unchanged"], second["added"]) == (1, 2, 1)


def test_staging_streams_the_same_as_the_in_memory_path(tmp_path):
    """stage_lines (indexed, chunked) against parse_lines + check_call + stage_items (a list)."""
    from qbsync.sync import catalogue

    results = []
    for name in ("reference", "streamed"):
        with open_store(tmp_path / f"{name}.db", create=True) as store:
            conn = connections.add_connection(store, name="main", username="u", password_hash="h")
            if name == "streamed":
                results.append(staging.stage_lines(store, conn, "Customer", LINES, skip_invalid=True).as_dict())
            else:
                items, problems = staging.parse_lines("Customer", LINES)
                keep, found = staging.check_call(store, conn["id"], catalogue.entity_type("Customer"), items,
                                                 {p.local_id for p in problems if p.local_id})
                problems = sorted(problems + found, key=lambda p: p.line)
                results.append(staging.stage_items(store, conn, "Customer", keep, problems, 10, skip_invalid=True).as_dict())
            results.append(json.dumps(wizard.pending(store, conn), sort_keys=True))
    assert results[0] == results[2]
    strip = [json.loads(r) for r in (results[1], results[3])]
    for rows in strip:
        for row in rows:
            row.pop("detected_at")
    assert strip[0] == strip[1]


def _old_norm_text(value, decl):
    """content._norm_value for a string before its shortcut: format_value, or the text as given."""
    from decimal import Decimal, InvalidOperation

    from qbsync.qbxml import format_value

    simple = getattr(decl, "simple", None) if decl is not None else None
    if simple is None:
        return value
    try:
        if simple.base in content._DECIMAL_TYPES:
            return format_value(simple, Decimal(value.strip()))
        return format_value(simple, value)
    except (ValueError, InvalidOperation, ArithmeticError):
        return value


@given(st.text(max_size=30) | st.sampled_from(["2024-05-01T09:30:00Z", " 10.5 ", "1e3", "true", "\x00", "12"]))
def test_a_string_normalises_as_format_value_would_write_it(text):
    from qbsync.sync import catalogue

    decl, lines = catalogue.add_decls("Invoice")
    for path in ("TxnDate", "RefNumber", "Memo", "IsToBePrinted", "ExchangeRate"):
        child = content._child(decl, path)
        assert content._norm_value(text, child) == _old_norm_text(text, child), path
    line = lines["InvoiceLine"]
    for path in ("Amount", "Rate", "Quantity", "Desc", "ServiceDate"):
        child = content._child(line, path)
        assert content._norm_value(text, child) == _old_norm_text(text, child), path


def test_pending_lists_imports_first_then_exports_oldest_first(env):
    store, conn = env
    staging.stage_lines(store, conn, "Customer", [json.dumps({"id": f"E{i}", "Name": f"E{i}"}) for i in range(3)])
    for i in range(2):
        store_changes.insert_change(store, connection_id=conn["id"], direction="import", type_="Customer", action="add",
                                    local_id=f"Q{i}", qb_id=f"8000000{i}-1", name=f"Q{i}", payload={"Name": f"Q{i}"}, before={})
    rows = wizard.pending(store, conn)
    assert [(r["direction"], r["name"]) for r in rows] == [
        ("import", "Q0"), ("import", "Q1"), ("export", "E0"), ("export", "E1"), ("export", "E2")]
    assert [r["id"] for r in wizard.iter_pending(store, conn, direction="import")] == [r["id"] for r in rows[:2]]


def _pending_reference(store, conn, direction=None, type_name=None):
    """wizard.pending as it was before it streamed: every awaiting change loaded, then paired."""
    from qbsync.sync import conflicts

    changes = store_changes.list_changes(store, conn["id"], ["awaiting"], type_=type_name, imports_first=True)
    found = conflicts.find(changes)
    rows = []
    for c in changes:
        conflict = found.get(c["id"])
        if conflict is not None and c["id"] != conflict.id:
            continue
        if direction and c["direction"] != direction and conflict is None:
            continue
        rows.append(wizard.pending_row(c, conn["name"], conflict))
    return rows


def test_streamed_pending_with_conflicts_is_the_loaded_one(env):
    store, conn = env
    staging.stage_lines(store, conn, "Customer", [json.dumps({"id": f"E{i}", "Name": f"E{i}"}) for i in range(4)])
    for i, local_id in enumerate(("E1", "Q1", "E3", "E3")):  # E1 and E3 changed on both sides (E3 twice)
        store_changes.insert_change(store, connection_id=conn["id"], direction="import", type_="Customer", action="mod",
                                    local_id=local_id, qb_id=f"8000000{i}-1", name=local_id,
                                    payload={"Phone": str(i)}, before={"Phone": None})
    for direction in (None, "import", "export"):
        for type_name in (None, "Customer", "Vendor"):
            want = _pending_reference(store, conn, direction, type_name)
            assert wizard.pending(store, conn, direction=direction, type_name=type_name) == want, (direction, type_name)
            assert wizard.count_pending(store, conn, direction=direction, type_name=type_name) == len(want)
    assert sum(r["conflict"] for r in wizard.pending(store, conn)) == 2
