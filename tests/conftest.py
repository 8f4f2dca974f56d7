"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PUBLISHED_XSD_ENV = "QBSYNC_PUBLISHED_XSD"
PUBLISHED_XSD_DEFAULT = (Path(__file__).resolve().parents[2] / "shared" / "qbxml-xsd")


@pytest.fixture(scope="session")
def published_xsd() -> Path:
    """Intuit's published qbXML schemas (a folder with 13.0/ … 16.0/ subfolders), never copied
    into this repository. CI sets QBSYNC_PUBLISHED_XSD: then a missing folder fails the run;
    without it, tests that need the schemas are skipped unless the default folder exists."""
    configured = os.environ.get(PUBLISHED_XSD_ENV)
    if configured:
        folder = Path(configured)
        if not folder.is_dir():
            pytest.fail(f"{PUBLISHED_XSD_ENV}={configured} is set but that folder does not exist")
        return folder
    if PUBLISHED_XSD_DEFAULT.is_dir():
        return PUBLISHED_XSD_DEFAULT
    pytest.skip(f"Intuit's published qbXML schemas not found (set {PUBLISHED_XSD_ENV})")
