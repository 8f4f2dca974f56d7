"""The documentation's examples are real: stateless CLI examples (`explain`, `validate`, in
docs/qbxml.md) are run again and must print exactly what the page shows, the pytest example of
docs/testing.md is quoted verbatim from tests/test_readme_example.py (which runs in the suite), and
every relative link of the README and docs/ leads to a file that exists. docs/walkthrough.md is
run by tests/test_walkthrough.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
QBXML_DOC = (ROOT / "docs" / "qbxml.md").read_text(encoding="utf-8")
TESTING_DOC = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
STATELESS = ("explain", "validate")


def console_examples() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$ qbsync explain|validate …` in docs/qbxml.md."""
    out = []
    for block in re.findall(r"```console\n(.*?)```", QBXML_DOC, re.DOTALL):
        current: tuple[str, list[str]] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = (line[2:], [])
                out.append(current)
            elif current is not None:
                current[1].append(line)
    examples = []
    for command, lines in out:
        while lines and not lines[-1].strip():
            lines.pop()
        if command.split()[1] in STATELESS:
            examples.append((command, lines))
    return examples


def test_the_qbxml_page_has_the_stateless_examples():
    commands = [c for c, _ in console_examples()]
    assert any(c.startswith("qbsync explain 3200") for c in commands)
    assert any(c.startswith("qbsync validate") for c in commands)


def test_stateless_examples_print_what_the_readme_shows(published_xsd):
    shared = published_xsd.parent  # the validate examples use paths relative to ../shared
    for command, expected in console_examples():
        argv = command.split()[1:]
        files = [str(p.relative_to(shared)) for a in argv if "*" in a for p in sorted(shared.glob(a))]
        argv = [a for a in argv if "*" not in a] if files else argv
        proc = subprocess.run([sys.executable, "-m", "qbsync", *argv[:1], *files, *argv[1:]], capture_output=True, text=True, cwd=shared)
        actual = proc.stdout.splitlines() + proc.stderr.splitlines()
        if proc.returncode:
            actual.append(f"[exit {proc.returncode}]")
        assert actual == expected, f"docs/qbxml.md example `{command}` is out of date"


def test_pytest_example_is_quoted_verbatim():
    source = (ROOT / "tests" / "test_readme_example.py").read_text(encoding="utf-8")
    example = source.split("# readme-example-start\n")[1].split("# readme-example-end")[0].rstrip()
    assert f"```python\n{example}\n```" in TESTING_DOC


def test_the_readme_links_every_page_of_docs_and_every_link_resolves():
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    assert len(pages) >= 7 and all(f"(docs/{name})" in README for name in pages)
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            assert (doc.parent / target).exists(), f"{doc.name} links to {target}, which does not exist"


def test_the_quick_start_says_how_the_password_reaches_connection_add():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    for way in ("--password-env", "--password-stdin", "prompt"):
        assert way in quick_start
