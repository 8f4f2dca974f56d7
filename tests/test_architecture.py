"""The package boundaries of the design guide, checked on every run: only `store/` touches SQL,
only `soap/` touches spyne/waitress, only `commands/` (and the CLI root) touches typer, and the
qbXML layer depends on nothing of ours but errors."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "qbsync"

# module prefix -> (third-party roots it may NOT import, qbsync subpackages it may NOT import)
RULES = {
    "qbsync.qbxml": ({"sqlite3", "sqlite_utils", "spyne", "waitress", "typer"}, {"store", "soap", "commands", "engine", "sync", "testing", "service"}),
    "qbsync.engine": ({"sqlite3", "sqlite_utils", "spyne", "waitress", "typer"}, {"store", "soap", "commands", "testing"}),
    "qbsync.store": ({"spyne", "waitress", "typer"}, {"soap", "commands", "engine", "testing"}),
    "qbsync.testing": ({"sqlite_utils", "spyne", "waitress", "typer"}, {"soap", "commands", "store", "engine", "sync", "service"}),
    # the replay diff is pure: plain data in, differences out (the runner does the IO)
    "qbsync.replay.diff": ({"os", "pathlib", "shutil", "tempfile", "socket", "sqlite3", "sqlite_utils", "spyne", "waitress", "typer"},
                           {"store", "soap", "commands", "engine", "sync", "testing", "service", "replay"}),
}
ONLY_HERE = {
    "sqlite_utils": ("qbsync.store",),
    "spyne": ("qbsync.soap",),
    "waitress": ("qbsync.soap",),
    "typer": ("qbsync.commands", "qbsync.cli"),
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        out.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return out


def test_package_boundaries():
    violations = []
    for name, path in modules():
        used = imports(path)
        roots = {u.split(".")[0] for u in used}
        ours = {u.split(".")[1] for u in used if u.startswith("qbsync.") and u.count(".") >= 1}
        for prefix, (banned_third, banned_ours) in RULES.items():
            if name == prefix or name.startswith(prefix + "."):
                violations += [f"{name} imports {r}" for r in sorted(roots & banned_third)]
                violations += [f"{name} imports qbsync.{o}" for o in sorted(ours & banned_ours)]
        for lib, allowed in ONLY_HERE.items():
            if lib in roots and not any(name == a or name.startswith(a + ".") for a in allowed):
                violations.append(f"{name} imports {lib} (only {', '.join(allowed)} may)")
    assert not violations, "\n".join(violations)


def test_the_check_sees_imports():
    names = dict(modules())
    assert "typer" in {u.split(".")[0] for u in imports(names["qbsync.cli"])}
    assert "lxml" in {u.split(".")[0] for u in imports(names["qbsync.qbxml.build"])}
