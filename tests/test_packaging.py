"""`pip install .` builds without deprecation warnings: the license is an SPDX string (the
`project.license` table form is deprecated) and the build requires a setuptools that reads it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_license_is_an_spdx_string():
    assert PYPROJECT["project"]["license"] == "MIT"


def test_the_build_requires_a_setuptools_that_takes_an_spdx_license():
    (floor,) = [re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", r) for r in PYPROJECT["build-system"]["requires"]
                if r.startswith("setuptools")]
    assert floor and int(floor[1]) >= 77  # setuptools 77.0.0 added the SPDX form
