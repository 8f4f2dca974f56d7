"""The package boundaries of the design guide, checked on every run: only `store/` touches SQL,
only the connector's SOAP adapter and HTTP app touch spyne/waitress, only `commands/` (and the
CLI root) touches typer, the qbXML layer depends on nothing of ours but errors, the session
engine is pure, and every Web Connector protocol decision lives in `engine/`."""

from __future__ import annotations

import ast
import re
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


# -- SQL only in qbsync/store/ ------------------------------------------------------------------
# The Store's SQL methods (execute, query, query_one, scalar, update_row) and its connections
# (conn, db) are for the modules of qbsync/store/ only; everything else calls a store function
# that names what it wants (savepoint() and transaction() are for everyone). That
# covers sync/, connector/, commands/ and the top-level modules (replay, recording, ...).
# qbsync/testing/ is outside the rule: it may not import the store at all (RULES above), and
# FakeQuickBooks keeps its company file in an SQLite database of its own (it stands in for
# QuickBooks, not for our store).

STORE_PACKAGE = "qbsync.store"
OWN_SQLITE = ("qbsync.testing",)
STORE_SQL_METHODS = {"execute", "executemany", "executescript", "query", "query_one", "scalar", "update_row"}
STORE_CONNECTIONS = {"conn", "db"}  # Store.conn (sqlite3) and Store.db (sqlite-utils): SQL by another door
SQL_TEXT = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|ALTER|DROP|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE"
    r"|VACUUM|ATTACH|WITH)\b"
    r"|\b(ORDER BY|GROUP BY|CASE \w+ WHEN|WHERE \w+ (=|IN|IS|LIKE)\b|FROM \w+ WHERE)",
    re.MULTILINE,
)
# module prefix -> (third-party roots it may NOT import, qbsync subpackages/modules it may NOT import)
WORKFLOW_RULES = {
    "qbsync.sync": (
        {"sqlite3", "sqlite_utils", "spyne", "waitress", "typer", "tabulate"},
        {"connector", "commands", "testing", "replay", "cli", "output"},
    ),
}
TOP_LEVEL_BANNED = {"sqlite3", "sqlite_utils"}  # qbsync/*.py: the store is reached through its functions


def outside_the_store() -> list[tuple[str, Path]]:
    """Production modules that must not run SQL of their own."""
    return [
        (name, path) for name, path in modules()
        if not name.startswith(STORE_PACKAGE + ".") and name != STORE_PACKAGE
        and not any(name == p or name.startswith(p + ".") for p in OWN_SQLITE)
    ]


def imported_names(tree: ast.AST) -> set[str]:
    """Names an import binds in a module (`fq_query` in `from qbsync.testing import fq_query`)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return bound


def sql_method_calls(source: str) -> list[tuple[int, str]]:
    """(line, `receiver.name`) of every call to one of the Store's SQL methods and every use of
    its connections; names on an imported module (`fq_query.query(...)`) are that module's own."""
    tree = ast.parse(source)
    modules_here = imported_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STORE_SQL_METHODS:
            attribute = node.func
        elif isinstance(node, ast.Attribute) and node.attr in STORE_CONNECTIONS:
            attribute = node
        else:
            continue
        if isinstance(attribute.value, ast.Name) and attribute.value.id in modules_here:
            continue
        found.append((node.lineno, f"{ast.unparse(attribute.value)}.{attribute.attr}"))
    return found


def sql_texts(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string that reads as SQL (docstrings aside)."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
        and SQL_TEXT.search(node.value)
    ]


def test_no_sql_runs_outside_the_store():
    violations = [
        f"{name}:{line} uses {call} (the Store's SQL is for qbsync/store/ only: add a store function)"
        for name, path in outside_the_store()
        for line, call in sql_method_calls(path.read_text(encoding="utf-8"))
    ]
    assert not violations, "\n".join(violations)


def test_no_sql_text_outside_the_store():
    violations = [
        f"{name}:{line} has SQL {text.strip()[:60]!r} (name what you want in a store function instead)"
        for name, path in outside_the_store()
        for line, text in sql_texts(path.read_text(encoding="utf-8"))
    ]
    assert not violations, "\n".join(violations)


def test_sync_and_top_level_modules_keep_their_boundaries():
    violations = []
    for name, path in modules():
        used = imports(path)
        roots = {u.split(".")[0] for u in used}
        ours = {u.split(".")[1] for u in used if u.startswith("qbsync.")}
        for prefix, (banned_third, banned_ours) in WORKFLOW_RULES.items():
            if name == prefix or name.startswith(prefix + "."):
                violations += [f"{name} imports {r}" for r in sorted(roots & banned_third)]
                violations += [f"{name} imports qbsync.{o}" for o in sorted(ours & banned_ours)]
        if name.count(".") == 1:  # qbsync/<module>.py
            violations += [f"{name} imports {r} (SQL lives in qbsync/store/)" for r in sorted(roots & TOP_LEVEL_BANNED)]
    assert not violations, "\n".join(violations)


def test_the_sql_checks_see_what_they_forbid():
    # What sync/ and the connector held before the store grew functions for it: each must be caught.
    staging = 'def f(store):\n    store.execute("SAVEPOINT stage_line")\n'
    wizard = "def f(store):\n    list_changes(store, order=\"CASE direction WHEN 'import' THEN 0 ELSE 1 END, id\")\n"
    support = 'def f(store):\n    return store.scalar("SELECT count(*) FROM connections")\n'
    assert sql_method_calls(staging) == [(2, "store.execute")]
    assert sql_method_calls(support) == [(2, "store.scalar")]
    assert sql_method_calls("def f(store):\n    store.conn.backup(other)\n    store.db['changes'].update(1, {})\n") == [
        (2, "store.conn"), (3, "store.db")]
    assert sorted(line for line, _ in sql_texts(staging + wizard + support)) == [2, 4, 6]
    # ... and what is not SQL is left alone.
    fine = '"""SELECT the rows you want."""\nfrom qbsync.testing import fq_query\nfq_query.query(ctx, "Customer")\nx = "Delete a record"\n'
    assert sql_method_calls(fine) == [] and sql_texts(fine) == []
    assert "qbsync.sync.staging" in dict(outside_the_store())
    assert "qbsync.store.changes" not in dict(outside_the_store())


def test_migrations_use_nothing_defined_elsewhere():
    """A migration that built its tables from shared constants would change when they do."""
    tree = ast.parse((PACKAGE / "store" / "schema.py").read_text(encoding="utf-8"))
    migrations = [n for n in tree.body if isinstance(n, ast.FunctionDef) and re.match(r"_m\d{3}_", n.name)]
    assert migrations
    violations = []
    for fn in migrations:
        for node in (n for statement in fn.body for n in ast.walk(statement)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in {"store", "_run"}:
                violations.append(f"{fn.name} uses {node.id}")
            if isinstance(node, ast.JoinedStr):
                violations.append(f"{fn.name} builds its SQL with an f-string (line {node.lineno})")
    assert not violations, "\n".join(violations)


# -- runtime dependencies -----------------------------------------------------------------------


def runtime_dependencies() -> dict[str, str]:
    """{distribution name: import name} of pyproject.toml's runtime dependencies."""
    import tomllib

    project = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = [re.match(r"[A-Za-z0-9_.-]+", spec).group(0) for spec in project["dependencies"]]
    return {name: name.lower().replace("-", "_") for name in names}


def third_party_imports() -> dict[str, set[str]]:
    """{import root: modules importing it} over qbsync/, standard library and qbsync left out."""
    import sys

    found: dict[str, set[str]] = {}
    for name, path in modules():
        for root in {u.split(".")[0] for u in imports(path)}:
            if root != "qbsync" and root not in sys.stdlib_module_names:
                found.setdefault(root, set()).add(name)
    return found


def test_every_runtime_dependency_is_used_by_qbsync_and_nothing_else_is_needed():
    deps = runtime_dependencies()
    used = third_party_imports()
    unused = sorted(dist for dist, module in deps.items() if module not in used)
    assert not unused, f"runtime dependencies nothing under qbsync/ imports (move them to the test extras): {unused}"
    undeclared = {root: sorted(mods) for root, mods in used.items() if root not in deps.values()}
    assert not undeclared, f"imported under qbsync/ but not a runtime dependency in pyproject.toml: {undeclared}"


def test_the_docs_say_what_each_runtime_dependency_is_for():
    page = (PACKAGE.parent / "docs" / "development.md").read_text(encoding="utf-8")
    section = page.split("\n## Dependencies\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \|$", section, flags=re.MULTILINE)
    assert sorted(name for name, _ in rows) == sorted(runtime_dependencies())
    assert all(len(purpose.split()) >= 3 for _, purpose in rows)
