"""`qbsync validate FILE... | -`: check qbXML requests or responses against the qbXML schema."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from qbsync.commands.common import QuietOption, SchemaDirOption, format_option
from qbsync.commands.messages import say

STDIN_NAME = "<stdin>"


class ValidateFormat(str, Enum):
    text = "text"
    json = "json"
    jsonl = "jsonl"


def validate(
    files: Annotated[
        list[str] | None,
        typer.Argument(metavar="FILE", help="qbXML files to check; - reads one document from stdin.", show_default=False),
    ] = None,
    schema_dir: SchemaDirOption = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Check against this qbXML version (e.g. 16.0) instead of the one in <?qbxml version?>."),
    ] = None,
    fmt: Annotated[
        ValidateFormat,
        format_option("text: one line per problem (file:line: path: message); json/jsonl: one row per file.", envvar=None),
    ] = ValidateFormat.text,
    quiet: QuietOption = False,
) -> None:
    """Validate qbXML requests or responses (it tells which) against the embedded schema, or
    Intuit's SDK schemas with --schema-dir, using the version in <?qbxml version?> where present.

    Exit status: 0 all valid, 3 any invalid, 2 usage error.

    Examples:

        qbsync validate request.xml response.xml

        qbsync validate ../sdk/samples/*.xml --schema-dir "C:/Program Files (x86)/Intuit/IDN/Common/tools/validator"

        cat request.xml | qbsync validate - --format json
    """
    from qbsync.errors import EXIT_INVALID, UsageError

    if not files:
        raise UsageError("no FILE given (e.g. qbsync validate request.xml, or - to read stdin)")
    if files.count("-") > 1:
        raise UsageError("- (stdin) may be given only once")
    for name in files:
        if name == "-":
            continue
        p = Path(name)
        if not p.exists():
            raise UsageError(f"file not found: {name}")
        if p.is_dir():
            raise UsageError(f"{name} is a folder; give the qbXML files in it (e.g. {name}/*.xml)")

    if schema_dir is not None and not Path(schema_dir).is_dir():
        raise UsageError(f"schema folder not found: {schema_dir} (--schema-dir or QBSYNC_QBXML_SCHEMA_DIR)")

    from qbsync.errors import QbsyncError
    from qbsync.output import render, write_text
    from qbsync.qbxml.validate import check_version, validate_document

    try:
        check_version(version, schema_dir)  # also finds the schema folder's versions
    except QbsyncError as exc:  # a version (or folder) that cannot serve is a usage error
        raise UsageError(str(exc)) from None

    reports = []
    for name in files:
        if name == "-":
            data, label = sys.stdin.buffer.read(), STDIN_NAME
        else:
            try:
                data, label = Path(name).read_bytes(), name
            except OSError as exc:
                raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
        report = validate_document(data, schema_dir=schema_dir, version=version, filename=label)
        reports.append(report)
        if fmt is ValidateFormat.text:
            write_text("".join(_line(report.file, p) + "\n" for p in report.errors))
            for p in report.warnings:
                sys.stderr.write(_line(report.file, p, "warning: ") + "\n")

    if fmt is not ValidateFormat.text:
        render((r.as_dict() for r in reports), fmt.value)

    invalid = [r for r in reports if not r.valid]
    errors = sum(len(r.errors) for r in reports)
    kinds = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in _count_kinds(reports))
    summary = f"{len(reports)} file{'s' if len(reports) != 1 else ''} ({kinds}): "
    if invalid:
        summary += f"{len(invalid)} invalid, {errors} error{'s' if errors != 1 else ''}"
    else:
        summary += "all valid"
    say(summary)
    if invalid:
        raise typer.Exit(EXIT_INVALID)


def _line(file: str, p, prefix: str = "") -> str:
    line = p.line if p.line is not None else 0
    return f"{file}:{line}: {p.path or '/'}: {prefix}{p.message}"


def _count_kinds(reports) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for r in reports:
        counts[r.kind] = counts.get(r.kind, 0) + 1
    return sorted(counts.items())


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
