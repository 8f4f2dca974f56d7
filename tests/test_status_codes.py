"""The status-code catalogue: completeness against the reference lists, the per-code facts the
sync engine relies on, and code spellings."""

from __future__ import annotations

import dataclasses
import re

import pytest

from qbsync.qbxml import status_codes as sc
from qbsync.qbxml.status_codes import all_codes, describe_range, lookup, normalize_code

STATUS_CODES = [
    0, 1, 500, 501, 510, 530, 531, 550, 560, 570, 600, 1000, 1010, 1030, 1060, 3000, 3010, 3020, 3030,
    3031, 3035, 3100, 3120, 3140, 3170, 3171, 3175, 3176, 3177, 3180, 3200, 3210, 3231, 3250, 3260, 3261,
    3130, 3391,  # not in the reference table: answered by FakeQuickBooks (see tests/test_fake_quickbooks_codes.py)
]
HRESULTS = [
    "0x80040400", "0x80040401", "0x80040402", "0x80040408", "0x80040409", "0x8004040A", "0x8004040D",
    "0x80040410", "0x80040414", "0x80040416", "0x80040418", "0x8004041A", "0x8004041D", "0x80040430",
    "0x80040420", "0x80040422", "0x80040308",
]
# Codes the reference names as unverified: they must not be in the catalogue.
UNVERIFIED = [3150, 3160, 3190, 3220, 3240, 3270, 3300]


def test_catalogue_holds_exactly_the_reference_codes():
    codes = [info.code for info in all_codes()]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(STATUS_CODES) | set(HRESULTS)
    # statusCodes first, ascending; then HRESULTs
    ints = [c for c in codes if isinstance(c, int)]
    assert ints == sorted(ints) and codes[: len(ints)] == ints


@pytest.mark.parametrize("info", all_codes(), ids=lambda i: str(i.code))
def test_every_entry_is_well_formed(info):
    assert info.severity in sc.SEVERITIES
    assert info.who_acts in sc.WHO_ACTS
    assert info.kind in sc.KINDS
    assert info.known is True
    assert isinstance(info.retry_helps, bool) and isinstance(info.fix_edit_sequence_helps, bool)
    assert info.meaning and info.meaning.endswith(".") and "\n" not in info.meaning
    assert info.title and len(info.title) <= 40
    assert isinstance(info.steps, tuple) and info.steps
    for step in info.steps:
        assert step[0].isupper() and step.endswith("."), step
    if isinstance(info.code, int):
        expected = sc.INFO if info.code < 500 else sc.WARN if info.code < 1000 else sc.ERROR
        assert info.severity == expected
        assert info.applied is (info.code <= 999)
    else:
        assert re.fullmatch(r"0x[0-9A-F]{8}", info.code)
        assert info.kind == sc.WHOLE_MESSAGE and info.severity == sc.ERROR and info.applied is False


def test_entries_are_frozen_and_serialise_with_the_contract_keys():
    info = lookup(3200)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.retry_helps = True  # type: ignore[misc]
    data = info.to_dict()
    for key in ("code", "severity", "meaning", "retry_helps", "fix_edit_sequence_helps", "who_acts", "steps"):
        assert key in data
    assert data["steps"] == list(info.steps)


def test_only_3200_is_fixed_by_a_fresh_edit_sequence():
    assert [i.code for i in all_codes() if i.fix_edit_sequence_helps] == [3200]


def test_stale_edit_sequence():
    info = lookup(3200)
    assert info.kind == sc.STALE_EDIT_SEQUENCE
    assert info.who_acts == "app" and info.retry_helps is False and info.applied is False


def test_not_processed_is_retryable():
    info = lookup(3231)
    assert info.kind == sc.NOT_PROCESSED and info.retry_helps is True and info.who_acts == "app"


@pytest.mark.parametrize("code", [3171, 3250, 3260, 3261])
def test_quickbooks_setup_codes(code):
    info = lookup(code)
    assert info.who_acts == "quickbooks" and info.kind == sc.QUICKBOOKS_SETUP and info.retry_helps is False


@pytest.mark.parametrize("code", [3170, 3175, 3176, 1000, 1010])
def test_transient_codes_are_retryable(code):
    info = lookup(code)
    assert info.kind == sc.TRANSIENT and info.retry_helps is True


@pytest.mark.parametrize("code", [3000, 3010, 3020, 3030, 3031, 3035, 3100, 3120, 3140, 3177, 3210, 1030, 1060])
def test_app_data_codes(code):
    info = lookup(code)
    assert info.kind == sc.APP_DATA and info.who_acts == "app" and info.retry_helps is False


@pytest.mark.parametrize("code", [0, 1, 500, 530, 550, 570])
def test_codes_below_1000_mean_the_write_happened(code):
    info = lookup(code)
    assert info.applied is True and info.kind in (sc.SUCCESS, sc.WARNING)


def test_parse_error_hresult_is_the_apps_to_fix():
    info = lookup("0x80040400")
    assert info.who_acts == "app" and info.retry_helps is False and info.kind == sc.WHOLE_MESSAGE


def test_connection_hresults_need_quickbooks():
    for code in ("0x80040408", "0x80040414", "0x80040418", "0x8004041A", "0x8004041D", "0x80040430"):
        assert lookup(code).who_acts == "quickbooks", code


@pytest.mark.parametrize(
    "spelling", ["0x80040400", "0X80040400", "80040400", " 0x80040400 ", -2147220480, "-2147220480"]
)
def test_hresult_spellings(spelling):
    assert lookup(spelling).code == "0x80040400"


@pytest.mark.parametrize("spelling", ["0x8004040a", "8004040a", "0x8004040A", "8004040A"])
def test_hresult_with_hex_letters(spelling):
    assert lookup(spelling).code == "0x8004040A"


@pytest.mark.parametrize("spelling", [3200, "3200", " 3200", "+3200", "0003200"])
def test_status_code_spellings(spelling):
    assert lookup(spelling).code == 3200


@pytest.mark.parametrize("bad", ["", "abc", "32 00", "0x800404", "0x8004040G", "3200.0", None, True, 3.5])
def test_malformed_codes(bad):
    assert lookup(bad) is None
    with pytest.raises(ValueError):
        normalize_code(bad)


@pytest.mark.parametrize("code", UNVERIFIED + [2, 999, 1999, 9099, 9150])
def test_unlisted_codes_are_unknown(code):
    assert lookup(code) is None


def test_describe_range_gives_the_cautious_default_for_unlisted_errors():
    info = describe_range(3150)
    assert info is not None and info.known is False
    assert info.severity == sc.ERROR and info.kind == sc.APP_DATA
    assert info.who_acts == "app" and info.retry_helps is False and info.fix_edit_sequence_helps is False
    assert info.applied is False and info.code == 3150


@pytest.mark.parametrize(
    "code, severity, applied",
    [(2, "Info", True), (499, "Info", True), (777, "Warn", True), (1500, "Error", False),
     (2001, "Error", False), (3099, "Error", False), (9099, "Error", False), (9150, "Error", False)],
)
def test_describe_range_bounds(code, severity, applied):
    info = describe_range(code)
    assert info.severity == severity and info.applied is applied and info.known is False


@pytest.mark.parametrize("code", [-1 - 2**31, 9200, 10000, 12345, "abc", "0x12345678"])
def test_describe_range_outside_every_range(code):
    assert describe_range(code) is None


def test_describe_range_of_an_unlisted_hresult():
    info = describe_range("0x80049999")
    assert info.code == "0x80049999" and info.kind == sc.WHOLE_MESSAGE and info.known is False


def test_the_module_does_no_io():
    source = open(sc.__file__, encoding="utf-8").read()
    for forbidden in ("open(", "import os", "import sys", "pathlib", "print("):
        assert forbidden not in source
