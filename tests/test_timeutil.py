"""`qbsync.timeutil`: the one place qbsync turns times into UTC text and back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qbsync import timeutil

PLUS_TWO = timezone(timedelta(hours=2))


def test_utc_now_is_second_precision_utc_text():
    text = timeutil.utc_now()
    assert len(text) == 20 and text.endswith("Z")
    assert abs(timeutil.parse_iso_utc(text) - timeutil.utc_clock()) < timedelta(seconds=5)


def test_to_utc_converts_offsets_and_takes_naive_times_as_utc():
    assert timeutil.to_utc(datetime(2026, 3, 1, 10, tzinfo=PLUS_TWO)) == datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
    assert timeutil.to_utc(datetime(2026, 3, 1, 10)).tzinfo is timezone.utc
    assert timeutil.iso_utc(datetime(2026, 3, 1, 10, 0, 0, 999999, tzinfo=PLUS_TWO)) == "2026-03-01T08:00:00Z"


@pytest.mark.parametrize("text, expected", [
    ("2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00Z"),
    ("2026-03-01T01:00:00+02:00", "2026-02-28T23:00:00Z"),
    ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00Z"),
    ("2026-03-01 10:00", "2026-03-01T10:00:00Z"),
    (" 2026-03-01 ", "2026-03-01"),
    ("2026-03-01", "2026-03-01"),
])
def test_parse_user_time(text, expected):
    assert timeutil.parse_user_time(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01", "2026-03-01T25:00", "01/03/2026"])
def test_parse_user_time_refuses_what_is_not_a_date_or_time(text):
    with pytest.raises(ValueError):
        timeutil.parse_user_time(text)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2999, 1, 1),
                    timezones=st.sampled_from([timezone.utc, PLUS_TWO, timezone(timedelta(hours=-9, minutes=-30))])))
def test_iso_utc_round_trips_to_the_same_second(moment):
    text = timeutil.iso_utc(moment)
    assert timeutil.parse_iso_utc(text) == moment.replace(microsecond=0)
    assert timeutil.parse_user_time(moment.isoformat()) == text
