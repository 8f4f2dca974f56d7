"""Comparing version numbers: qbXML versions (``13.0``) and the Web Connector's own (``2.3.0.215``).

Compared as numbers part by part, never as text (``"9.0" < "13.0"``), with missing parts as 0
(``13`` == ``13.0``).
"""

from __future__ import annotations

import re

from qbsync.errors import QbsyncError

_VERSION = re.compile(r"[0-9]+(\.[0-9]+){0,3}")


class VersionError(QbsyncError, ValueError):
    """Text that is not a version number (callers may catch either base)."""


def version_key(text: str) -> tuple[int, int, int, int]:
    """`text` ("13.0", "2.3.0.215": one to four dot-separated numbers) as a tuple that sorts and
    compares as the versions do; ``version_key(v)[:2]`` is (major, minor). Raises VersionError
    for anything else."""
    text = str(text).strip()
    if not _VERSION.fullmatch(text):
        raise VersionError(f"not a version: {text!r} (expected e.g. 13.0)")
    a, b, c, d = (*(int(p) for p in text.split(".")), 0, 0, 0)[:4]
    return a, b, c, d
