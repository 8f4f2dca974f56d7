"""Rewrite the golden request files from tests/test_qbxml_build.py (review the diff!).

    .venv/bin/python tests/golden/regenerate.py
"""

from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_qbxml_build import golden_requests  # noqa: E402

for name, xml in golden_requests().items():
    (Path(__file__).parent / name).write_text(xml + "\n", encoding="utf-8")
    print("wrote", name)
