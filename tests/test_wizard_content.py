"""Pure content rules: normalisation makes equal values equal, diffs carry only what changed."""

from __future__ import annotations

import json
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from qbsync.sync import catalogue, content
from qbsync.sync.staging import check_record

amounts = st.decimals(min_value=Decimal("-99999"), max_value=Decimal("99999"), places=2, allow_nan=False)
names = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=30).filter(lambda s: s.strip() and ":" not in s)  # ':' is refused in a list name


def staged(obj):
    item, problems = check_record(catalogue.entity_type("Customer"), obj, 1)
    assert not problems, problems
    return item.data


@settings(max_examples=60, deadline=None)
@given(name=names, limit=amounts, active=st.booleans())
def test_json_numbers_and_text_normalise_alike(name, limit, active):
    as_numbers = staged({"id": "C1", "Name": name, "CreditLimit": float(limit), "IsActive": active})
    as_text = staged({"id": "C1", "Name": name, "CreditLimit": f"{limit:.2f}", "IsActive": "true" if active else "false"})
    assert as_numbers == as_text
    assert content.fingerprint(as_numbers) == content.fingerprint(json.loads(json.dumps(as_text)))
    assert content.diff(as_numbers, as_text, lambda _: None) == {}


@settings(max_examples=60, deadline=None)
@given(old=names, new=names, phone=names)
def test_diff_carries_only_changed_fields(old, new, phone):
    base = {"Name": old, "Phone": phone, "Email": "a@b.c"}
    changed = content.diff({"Name": new, "Phone": phone}, base, lambda _: None)
    assert changed == ({} if old == new else {"Name": (old, new)})


def test_local_refs_match_the_mirror_ids():
    resolve = {"C1": ("80-1", "Acme")}.get
    assert content.same_ref({"local_id": "C1"}, {"ListID": "80-1", "FullName": "Acme"}, resolve)
    assert not content.same_ref({"local_id": "C1"}, {"ListID": "80-2", "FullName": "Other"}, resolve)
    assert not content.same_ref({"local_id": "C2"}, {"ListID": "80-1"}, resolve)
    assert content.same_ref({"FullName": "Acme"}, {"ListID": "80-1", "FullName": "Acme"}, resolve)


def test_lines_keep_ids_by_app_id_never_by_position():
    base = [{"id": "a", "TxnLineID": "T1"}, {"TxnLineID": "T2"}, {"TxnLineID": "T3"}]
    lines = content.keep_line_ids([{"Desc": "x"}, {"id": "a", "Desc": "y"}, {"Desc": "z"}, {"Desc": "new"}], base)
    assert [ln.get("TxnLineID") for ln in lines] == [None, "T1", None, None]
