#!/usr/bin/env python3
"""Derive qbsync's embedded qbXML schema from Intuit's published schema files.

    python scripts/derive_schema.py --from <SDK validator folder> --version 13.0

reads Intuit's `qbxmlops130.xsd` (and the files it includes) from the folder (or its `13.0/`
subfolder) and writes one self-contained file `schemas/qbxml/qbsync-qbxml-13.0.xsd` that keeps
only structural facts — element names, order, cardinalities, types, facets, attributes — for the
requests qbsync supports: no comments, annotations or documentation text, no include, and only
the components reachable from the root `QBXML`. The message envelopes `QBXMLMsgsRq`/`QBXMLMsgsRs`
keep only the supported requests/responses; every other component is copied node for node (same
named types, groups and local declarations), so the result has exactly the published structure.

The supported set comes from the entity catalogue (`qbsync.qbxml.entities`): each type's Add,
Mod (where the schema has one) and Query requests, plus the shared requests in `EXTRA_REQUESTS`.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

from lxml import etree

XSD = "http://www.w3.org/2001/XMLSchema"
Q = "{%s}" % XSD
REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "schemas" / "qbxml"
COMPONENT_KINDS = ("element", "complexType", "simpleType", "group", "attributeGroup")

# Requests every qbsync connection uses besides the per-type Add/Mod/Query ones: deletes, the
# deleted-object queries, the generic item query, and the Web Connector's first call
# (HostQuery + CompanyQuery + PreferencesQuery).
EXTRA_REQUESTS = (
    "ListDel",
    "TxnDel",
    "ListDeletedQuery",
    "TxnDeletedQuery",
    "ItemQuery",
    "HostQuery",
    "CompanyQuery",
    "PreferencesQuery",
)

# Used only while the entity catalogue cannot be imported (e.g. on a bare checkout of this script).
FALLBACK_ENTITIES = (
    "Customer", "Vendor", "Employee", "ItemService", "ItemNonInventory", "ItemInventory",
    "ItemOtherCharge", "Class", "StandardTerms", "Account", "SalesTaxCode", "Invoice", "Estimate",
    "SalesReceipt", "ReceivePayment", "CreditMemo", "Bill",
)


def _strip_rq(name: str | None) -> str | None:
    if not name:
        return None
    return name[:-2] if name.endswith("Rq") else name


def catalogue_requests() -> tuple[list[str], str]:
    """Request names (without Rq) of the supported entity types, and where they came from."""
    sys.path.insert(0, str(REPO))
    try:
        from qbsync.qbxml.entities import ENTITY_TYPES  # type: ignore[import-not-found]
    except ImportError:
        names: list[str] = []
        for e in FALLBACK_ENTITIES:
            names += [f"{e}Add", f"{e}Mod", f"{e}Query"]
        return names, "built-in fallback list (qbsync.qbxml.entities not importable)"
    names = []
    for et in ENTITY_TYPES.values():
        for attr in ("add_rq", "mod_rq", "query_rq", "del_rq", "deleted_query_rq"):
            n = _strip_rq(getattr(et, attr, None))
            if n:
                names.append(n)
    return names, "qbsync.qbxml.entities.ENTITY_TYPES"


def find_entry(folder: Path, version: str) -> Path:
    digits = version.replace(".", "")
    name = f"qbxmlops{digits}.xsd"
    for candidate in (folder / name, folder / version / name):
        if candidate.is_file():
            return candidate
    raise SystemExit(f"derive_schema: {name} not found in {folder} or {folder / version}")


class Published:
    """Every top-level component of a published schema (entry file plus includes), in file order."""

    def __init__(self, entry: Path):
        self.components: dict[tuple[str, str], etree._Element] = {}
        self.order: list[tuple[str, str]] = []
        self.schema_attrs: dict[str, str] = {}
        self._read(entry, set())

    def _read(self, path: Path, seen: set[Path]) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        parser = etree.XMLParser(remove_comments=True, remove_pis=True, remove_blank_text=True)
        root = etree.parse(str(path), parser).getroot()
        if not self.schema_attrs:
            self.schema_attrs = dict(root.attrib)
        for node in root:
            if not isinstance(node.tag, str):
                continue
            kind = etree.QName(node).localname
            if kind == "include":
                self._read(path.parent / node.get("schemaLocation"), seen)
            elif kind in COMPONENT_KINDS:
                key = (kind, node.get("name"))
                if key in self.components:
                    raise SystemExit(f"derive_schema: {kind} {key[1]!r} declared twice")
                self.components[key] = node
                self.order.append(key)
            elif kind != "annotation":
                raise SystemExit(f"derive_schema: unexpected top-level xsd:{kind} in {path.name}")

    def type_key(self, name: str) -> tuple[str, str] | None:
        if name.startswith("xsd:"):
            return None
        for kind in ("complexType", "simpleType"):
            if (kind, name) in self.components:
                return (kind, name)
        raise SystemExit(f"derive_schema: unknown type {name!r}")


def _references(node: etree._Element, pub: Published) -> list[tuple[str, str]]:
    """The named components a (pruned) component refers to."""
    refs: list[tuple[str, str]] = []
    for el in node.iter():
        if not isinstance(el.tag, str):
            continue
        local = etree.QName(el).localname
        ref = el.get("ref")
        if ref:
            kind = {"element": "element", "group": "group", "attributeGroup": "attributeGroup"}[local]
            refs.append((kind, ref))
        for attr in ("type", "base", "itemType"):
            value = el.get(attr)
            if value:
                key = pub.type_key(value)
                if key:
                    refs.append(key)
        for value in (el.get("memberTypes") or "").split():
            key = pub.type_key(value)
            if key:
                refs.append(key)
    return refs


def _strip(node: etree._Element) -> etree._Element:
    node = copy.deepcopy(node)
    for ann in node.findall(".//" + Q + "annotation"):
        ann.getparent().remove(ann)
    for el in node.iter():  # no stray text (only whitespace exists in qbXML schemas)
        el.text = None if (el.text or "").strip() == "" else el.text
        el.tail = None
    return node


def _prune_envelope(node: etree._Element, keep: set[str]) -> tuple[etree._Element, list[str]]:
    """Keep only the listed child declarations of a message envelope; return what was kept."""
    kept: list[str] = []
    for el in list(node.iter(Q + "element")):
        if el is node:
            continue
        name = el.get("name") or el.get("ref")
        if name in keep:
            kept.append(name)
        else:
            el.getparent().remove(el)
    return node, kept


def derive(entry: Path, version: str, requests: list[str]) -> tuple[bytes, dict]:
    pub = Published(entry)
    keep = {n + suffix for n in requests for suffix in ("Rq", "Rs")}
    kept_by_envelope: dict[str, list[str]] = {}
    selected: dict[tuple[str, str], etree._Element] = {}
    todo = [("element", "QBXML")]
    while todo:
        key = todo.pop()
        if key in selected:
            continue
        if key not in pub.components:
            raise SystemExit(f"derive_schema: {key[0]} {key[1]!r} is referenced but not declared")
        node = _strip(pub.components[key])
        if key in (("element", "QBXMLMsgsRq"), ("element", "QBXMLMsgsRs")):
            node, kept = _prune_envelope(node, keep)
            kept_by_envelope[key[1]] = kept
        selected[key] = node
        todo.extend(_references(node, pub))

    wanted = {n + "Rq" for n in requests}
    missing = sorted(wanted - set(kept_by_envelope.get("QBXMLMsgsRq", [])))
    out = etree.Element(Q + "schema", nsmap={"xsd": XSD})
    for k, v in pub.schema_attrs.items():
        out.set(k, v)
    out.text = None
    header = etree.Comment(
        f" qbsync's embedded qbXML {version} schema. Generated by scripts/derive_schema.py from "
        f"Intuit's published qbXML {version} schema (qbxmlops{version.replace('.', '')}.xsd and its includes); "
        "it keeps structural facts only (element names, order, cardinalities, types, facets, attributes) "
        "for the request types qbsync supports. Do not edit by hand. To regenerate, run "
        f"scripts/derive_schema.py with Intuit's SDK validator folder and version {version} "
        "(the exact command is in schemas/qbxml/README.md; XML comments cannot hold a double hyphen). "
    )
    for key in pub.order:
        if key in selected:
            out.append(selected[key])
    etree.indent(out, space="  ")
    body = etree.tostring(out, encoding="utf-8", xml_declaration=False)
    text = b'<?xml version="1.0" encoding="utf-8"?>\n' + etree.tostring(header) + b"\n" + body + b"\n"
    stats = {
        "components": len(selected),
        "published_components": len(pub.components),
        "requests": sorted(kept_by_envelope.get("QBXMLMsgsRq", [])),
        "responses": sorted(kept_by_envelope.get("QBXMLMsgsRs", [])),
        "absent": missing,  # e.g. a Mod QuickBooks does not have
    }
    return text, stats


def check(path: Path) -> None:
    """The derived file must load in lxml and xmlschema."""
    etree.XMLSchema(etree.parse(str(path)))
    import xmlschema

    xmlschema.XMLSchema10(str(path))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="source", required=True, type=Path,
                    help="folder with Intuit's qbxmlops<NN>.xsd and includes (or per-version subfolders)")
    ap.add_argument("--version", action="append", required=True,
                    help="qbXML version to derive, e.g. 13.0 (repeatable)")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    ap.add_argument("--no-check", action="store_true", help="skip loading the result in lxml and xmlschema")
    args = ap.parse_args(argv)

    base, origin = catalogue_requests()
    requests = list(dict.fromkeys(base + list(EXTRA_REQUESTS)))
    args.out.mkdir(parents=True, exist_ok=True)
    for version in args.version:
        if not re.fullmatch(r"\d+\.\d", version):
            raise SystemExit(f"derive_schema: not a qbXML version: {version!r}")
        entry = find_entry(args.source, version)
        text, stats = derive(entry, version, requests)
        target = args.out / f"qbsync-qbxml-{version}.xsd"
        target.write_bytes(text)
        if not args.no_check:
            check(target)
        print(
            f"{target.relative_to(REPO) if target.is_relative_to(REPO) else target}: "
            f"{len(stats['requests'])} requests, {len(stats['responses'])} responses, "
            f"{stats['components']} of {stats['published_components']} components, {len(text):,} bytes "
            f"(request list from {origin})"
        )
        if stats["absent"]:
            print(f"  not in qbXML {version} (skipped): {', '.join(stats['absent'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
