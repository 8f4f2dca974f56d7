"""`qbsync.qbxml.versions.version_key`: the one comparison of version numbers."""

from __future__ import annotations

import pytest

from qbsync.errors import QbsyncError
from qbsync.qbxml.versions import VersionError, version_key


@pytest.mark.parametrize("older, newer", [
    ("9.0", "13.0"),  # as text "9.0" > "13.0": compared as numbers
    ("13.0", "13.1"),
    ("13.1", "16.0"),
    ("2.1.0.30", "2.3.0.215"),  # Web Connector versions
    ("2.3.0.36", "2.3.0.215"),
    ("2.3", "2.3.0.1"),
])
def test_versions_compare_as_numbers(older, newer):
    assert version_key(older) < version_key(newer)


def test_missing_parts_are_zero_and_the_first_two_are_major_and_minor():
    assert version_key("13") == version_key("13.0") == version_key(" 13.0.0.0 ") == (13, 0, 0, 0)
    assert version_key("16.1")[:2] == (16, 1)
    assert sorted(["16.0", "2.0", "13.0", "13.1", "9.0"], key=version_key) == ["2.0", "9.0", "13.0", "13.1", "16.0"]


@pytest.mark.parametrize("text", ["", "latest", "13.", ".5", "13.0b", "1.2.3.4.5", "-1.0", "١٣.0"])
def test_anything_else_is_refused_with_an_error_both_families_catch(text):
    with pytest.raises(VersionError) as exc:
        version_key(text)
    assert isinstance(exc.value, QbsyncError) and isinstance(exc.value, ValueError)
