"""The package boundaries of the design guide, checked on every run: only `store/` touches SQL,
only the connector's SOAP adapter and HTTP app touch spyne/waitress, only `commands/` (and the
CLI root) touches typer, the qbXML layer depends on nothing of ours but errors, the session
engine is pure, and every Web Connector protocol decision lives in `engine/`."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "qbsync"

# module prefix -> (third-party roots it may NOT import, qbsync subpackages it may NOT import)
RULES = {
    "qbsync.qbxml": ({"sqlite3", "sqlite_utils", "spyne", "waitress", "typer"}, {"store", "connector", "commands", "engine", "sync", "testing", "service"}),
    "qbsync.engine": ({"sqlite3", "sqlite_utils", "spyne", "waitress", "typer", "socket", "threading", "time"},
                      {"store", "connector", "commands", "testing", "sync"}),
    "qbsync.connector.service": ({"spyne", "waitress", "typer"}, {"commands", "testing"}),
    "qbsync.store": ({"spyne", "waitress", "typer"}, {"connector", "commands", "engine", "testing"}),
    "qbsync.testing": ({"sqlite_utils", "spyne", "waitress", "typer"}, {"connector", "commands", "store", "engine", "sync", "service"}),
    # the replay diff is pure: plain data in, differences out (the runner does the IO)
    "qbsync.replay.diff": ({"os", "pathlib", "shutil", "tempfile", "socket", "sqlite3", "sqlite_utils", "spyne", "waitress", "typer"},
                           {"store", "connector", "commands", "engine", "sync", "testing", "service", "replay"}),
}
ONLY_HERE = {
    "sqlite_utils": ("qbsync.store",),
    "spyne": ("qbsync.connector.soap", "qbsync.connector.app"),
    "waitress": ("qbsync.connector.app",),
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


# The Web Connector's protocol words: authenticate's statuses, getLastError's pause and
# receiveResponseXML's error answer. The connector shell and the sync layer name them only through
# the engine (the shipped Web Connector double speaks the protocol from the other side).
PROTOCOL_WORDS = {"nvu", "busy", "NoOp", "none"}
PROTOCOL_NUMBERS = {-101}


def _protocol_literals(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in PROTOCOL_WORDS:
            found.append(f"{node.value!r} at line {node.lineno}")
        elif (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant)
              and -node.operand.value in PROTOCOL_NUMBERS):
            found.append(f"-{node.operand.value} at line {node.lineno}")
    return found


def test_protocol_decisions_live_in_the_engine():
    violations = []
    for name, path in modules():
        if name.startswith(("qbsync.connector", "qbsync.sync")):
            violations += [f"{name}: {hit}" for hit in _protocol_literals(path)]
    assert not violations, "protocol words outside engine/:\n" + "\n".join(violations)


def test_the_protocol_check_sees_literals(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('STATUS = "busy"\nFATAL = -101\nOTHER = "busy signal"\n', encoding="utf-8")
    assert _protocol_literals(sample) == ["'busy' at line 1", "-101 at line 2"]


def test_the_engine_is_pure_no_io():
    """The session engine reads no clock, opens no file or socket: time comes in as data."""
    banned_calls = {"open", "now", "utcnow", "time", "monotonic", "sleep"}
    violations = []
    for name, path in modules():
        if not name.startswith("qbsync.engine"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                fn = node.func
                called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                if called in banned_calls:
                    violations.append(f"{name}: {called}() at line {node.lineno}")
    assert not violations, "\n".join(violations)
