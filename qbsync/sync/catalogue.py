"""What the workflow needs from the qbXML catalogues: types, their Add forms, status codes."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from qbsync.qbxml import entities
from qbsync.qbxml.entities import ENTITY_TYPES, EntityType, entity


def entity_type(name: str) -> EntityType:
    """The catalogue entry (case-insensitive); InvalidInput (exit 3) naming the supported types."""
    return entity(name)


def type_names() -> list[str]:
    return list(ENTITY_TYPES)


# What the Web Connector service imports from QuickBooks, so what `connection add/set --import`
# accepts: the one list. The service has no import step yet (engine.session.STEPS is export
# only); the two-way sync imports every catalogue type, so until then it is the catalogue's.
IMPORTABLE_TYPES: tuple[str, ...] = tuple(ENTITY_TYPES)


def importable_type(name: str) -> str:
    """`name` as the catalogue spells it, if the service imports it; InvalidInput naming the
    accepted types otherwise."""
    from qbsync.errors import InvalidInput

    known = next((t for t in IMPORTABLE_TYPES if t.casefold() == name.strip().casefold()), None)
    if known is None:
        raise InvalidInput(f"the service does not import {name!r}; --import accepts {', '.join(IMPORTABLE_TYPES)}")
    return known


def name_space_types(name: str) -> tuple[str, ...]:
    """The list types whose names QuickBooks keeps unique together with `name`'s (3100)."""
    return entities.name_space_types(name)


@lru_cache(maxsize=None)
def add_decls(type_name: str) -> tuple[Any, dict[str, Any]]:
    """(Add element declaration, {line base name: line Add declaration}) from the schema."""
    from qbsync.qbxml import load_schema

    et = entity(type_name)
    schema = load_schema()
    decl = schema.element(et.add_rq)
    lines: dict[str, Any] = {}
    for line in et.lines:
        info = decl.child(line.add) if decl is not None else None
        lines[line.base] = info.decl if info is not None else None
    return decl, lines


def line_rets(type_name: str) -> dict[str, str]:
    return {line.base: line.ret for line in entity(type_name).lines}


def ref_types(type_name: str, path: str) -> str | None:
    """The record type(s) a reference at `path` (e.g. `InvoiceLine[0]/ItemRef`) points at."""
    et = entity(type_name)
    parts = [p.split("[")[0] for p in path.split("/")]
    line = et.line(parts[0]) if parts else None
    if line is not None:
        parts[0] = line.add
    targets = et.references.get("/".join(parts))
    return ",".join(targets) if targets else None


def status_info(code: int | None) -> Any:
    """The status-code catalogue entry (a generic one for unlisted codes), or None."""
    if code is None:
        return None
    from qbsync.qbxml import status_codes

    return status_codes.lookup(code) or status_codes.describe_range(code)
