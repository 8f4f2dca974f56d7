"""Fit plain record data to a schema element before it is rendered: keep only the fields the
element declares in that qbXML version (records keep Add-only and private fields), make
repeated fields lists, drop empty aggregates and aggregates missing a required field. The builder then orders and validates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qbsync.qbxml.xsdmodel import ElementDecl


def shape(decl: ElementDecl, data: Any) -> Any:
    if decl.content is None:
        if isinstance(data, Mapping):
            return None
        return "" if data is None else str(data)
    if not isinstance(data, Mapping):
        return None
    out: dict[str, Any] = {}
    for name, info in decl.children.items():
        if name not in data or data[name] is None:
            continue
        value = data[name]
        if info.repeated:
            items = [shape(info.decl, v) for v in (value if isinstance(value, list) else [value])]
            items = [v for v in items if v not in (None, {})]
            if items:
                out[name] = items
        else:
            if isinstance(value, list):
                if not value:
                    continue
                value = value[0]
            shaped = shape(info.decl, value)
            if shaped not in (None, {}):
                out[name] = shaped
    # an aggregate that lost a required field (a Mod may send parts of one) is left out
    if any(info.required and name not in out for name, info in decl.children.items()):
        return None
    return out
