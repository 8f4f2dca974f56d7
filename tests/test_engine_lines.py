"""The one line-ID rule (`qbsync.engine.lines.match_line_ids`), as a table, and the proof that
both of its callers — staging (`content.keep_line_ids`) and the export step's Mod
(`exports.change_request`) — give the same answer for every row."""

from __future__ import annotations

import pytest

from qbsync.engine import exports
from qbsync.engine.lines import match_line_ids
from qbsync.engine.model import ExportChange, Mirror, MirrorRecord
from qbsync.sync import content

# What QuickBooks holds for the invoice, as the mirror knows it: three lines the app calls a, b, c.
MIRROR = [
    {"id": "a", "Desc": "mowing", "TxnLineID": "T-a"},
    {"id": "b", "Desc": "edging", "TxnLineID": "T-b"},
    {"id": "c", "Desc": "leaves", "TxnLineID": "T-c"},
]


def lines(*ids):
    """App lines with these ids (None: a line without an id)."""
    return [{"Desc": f"line {i}"} if app_id is None else {"id": app_id, "Desc": f"line {i}"}
            for i, app_id in enumerate(ids)]


# (case, the app's lines now, TxnLineIDs QuickBooks still lists or None, expected TxnLineID per line)
CASES = [
    ("unchanged", lines("a", "b", "c"), None, ["T-a", "T-b", "T-c"]),
    ("inserted at the top", lines("new", "a", "b", "c"), None, [None, "T-a", "T-b", "T-c"]),
    ("inserted in the middle", lines("a", "new", "b", "c"), None, ["T-a", None, "T-b", "T-c"]),
    ("first removed", lines("b", "c"), None, ["T-b", "T-c"]),
    ("middle removed", lines("a", "c"), None, ["T-a", "T-c"]),
    ("reordered", lines("c", "a", "b"), None, ["T-c", "T-a", "T-b"]),
    ("reversed", lines("c", "b", "a"), None, ["T-c", "T-b", "T-a"]),
    ("duplicated id: the first keeps it", lines("a", "a", "b"), None, ["T-a", None, "T-b"]),
    ("id-less lines are new, never matched by position", lines(None, None, None), None, [None, None, None]),
    ("an id-less line among known ones", lines("a", None, "c"), None, ["T-a", None, "T-c"]),
    ("deleted in QuickBooks: goes back as new", lines("a", "b", "c"), {"T-a", "T-c"}, ["T-a", None, "T-c"]),
    ("QuickBooks lists none of them", lines("a", "b"), set(), [None, None]),
]


@pytest.mark.parametrize("case, now, in_quickbooks, expected", CASES, ids=[c[0] for c in CASES])
def test_match_line_ids(case, now, in_quickbooks, expected):
    assert match_line_ids(now, MIRROR, in_quickbooks) == expected


def test_numeric_ids_match_their_text():
    assert match_line_ids([{"id": 7}, {"id": "8"}], [{"id": "7", "TxnLineID": "T7"}, {"id": 8, "TxnLineID": "T8"}]) == ["T7", "T8"]


def test_a_mirror_without_lines_or_without_txn_line_ids_matches_nothing():
    assert match_line_ids(lines("a"), None) == [None]
    assert match_line_ids(lines("a"), [{"id": "a"}]) == [None]  # an add still in flight: no TxnLineID yet
    assert match_line_ids(lines("a"), [{"id": "a", "TxnLineID": "T1"}, {"id": "a", "TxnLineID": "T2"}]) == ["T1"]


def test_a_txn_line_id_the_app_put_on_a_line_is_not_trusted():
    """Only the app's id pairs lines: a stale TxnLineID carried in a staged payload does not win
    over the mirror, and cannot attach a QuickBooks line to a line without an id."""
    staged = [{"id": "a", "TxnLineID": "T-old"}, {"Desc": "x", "TxnLineID": "T-b"}]
    assert match_line_ids(staged, MIRROR) == ["T-a", None]


@pytest.mark.parametrize("case, now, in_quickbooks, expected", CASES, ids=[c[0] for c in CASES])
def test_staging_and_the_mod_request_follow_the_same_rule(case, now, in_quickbooks, expected):
    staged = content.keep_line_ids(now, MIRROR)
    if in_quickbooks is None:
        assert [line.get("TxnLineID") for line in staged] == expected
    assert [{k: v for k, v in line.items() if k != "TxnLineID"} for line in staged] == now  # content untouched

    snapshot = None
    if in_quickbooks is not None:
        snapshot = {"TxnID": "1A-1", "InvoiceLineRet": [{"TxnLineID": t, "Desc": "x"} for t in sorted(in_quickbooks)]}
    mirror = Mirror([MirrorRecord("Invoice", "INV1", "1A-1", "5", {"InvoiceLine": MIRROR}, snapshot)])
    mod = ExportChange(1, "Invoice", "mod", "INV1", qb_id="1A-1", payload={"InvoiceLine": staged})
    request = exports.change_request(mod, mirror)
    assert request.name == "InvoiceMod"
    sent = request.data["InvoiceLineMod"]
    assert [line["TxnLineID"] for line in sent] == [t or "-1" for t in expected]
    assert all("id" not in line for line in sent)
