"""Read a qbXML XSD (Intuit's published files or our derived one) into a content model.

qbXML schemas use a small part of XSD: global and local elements, named complex and simple
types, model groups, sequence/choice, element refs, attributes, simpleContent extensions and
restrictions with facets. This module reads exactly that with lxml, quickly (no full XSD
compiler), so that the builder can order elements and type values by the schema itself: no
element order is ever written by hand in Python.

Elements are resolved lazily and cached, so loading costs only the parse and an index.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from lxml import etree

XSD = "http://www.w3.org/2001/XMLSchema"
_Q = "{%s}" % XSD
UNBOUNDED = None


@dataclass(frozen=True)
class SimpleType:
    """A leaf's value type. `base` is the first named type met going up the restriction chain
    (e.g. STRTYPE, AMTTYPE, BOOLTYPE, an xsd builtin like `xsd:string`)."""

    base: str
    max_length: int | None = None
    enumeration: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    min_inclusive: int | None = None
    max_inclusive: int | None = None


@dataclass(frozen=True)
class Attribute:
    name: str
    type: SimpleType
    required: bool
    default: str | None = None


@dataclass
class Particle:
    """A node of a content model: an element occurrence, a sequence or a choice."""

    kind: str  # "element" | "sequence" | "choice"
    min_occurs: int = 1
    max_occurs: int | None = 1  # None = unbounded
    element: ElementDecl | None = None
    children: list[Particle] = field(default_factory=list)


@dataclass(frozen=True)
class ChildInfo:
    """What the content model says about one child name of an element."""

    decl: ElementDecl
    index: int  # position in document order
    repeated: bool  # may occur more than once
    required: bool  # must occur (min >= 1 on every level, not inside an alternative)


class ElementDecl:
    """An element declaration in context. Leaves have `simple`; aggregates have `content`."""

    def __init__(self, name: str, model: XsdModel, node: etree._Element, simple: SimpleType | None = None):
        self.name = name
        self._model = model
        self._node = node
        self._simple = simple
        self._resolved = False  # resolving started (a recursive model meets itself: stop there)
        self._ready = False  # resolving finished: what other threads may read
        self._content: Particle | None = None
        self._attributes: dict[str, Attribute] = {}

    def __repr__(self) -> str:
        return f"<ElementDecl {self.name}>"

    def _resolve(self) -> None:
        if self._ready:
            return
        # Server threads build and read messages at once: one resolves, the others wait for it
        # (they saw `_resolved` before `_simple` was set, and took a leaf for an empty element).
        with self._model._resolving:
            if self._resolved:
                return
            self._resolved = True
            self._model._resolve_element(self)
            self._ready = True

    @property
    def simple(self) -> SimpleType | None:
        self._resolve()
        return self._simple

    @property
    def content(self) -> Particle | None:
        self._resolve()
        return self._content

    @property
    def attributes(self) -> dict[str, Attribute]:
        self._resolve()
        return self._attributes

    @property
    def is_leaf(self) -> bool:
        return self.simple is not None and self.content is None

    @cached_property
    def children(self) -> dict[str, ChildInfo]:
        """Child names in document order, with their declaration and cardinality. Where a name
        occurs in several branches (rare), the first occurrence gives the declaration and order."""
        out: dict[str, ChildInfo] = {}
        if self.content is None:
            return out

        def walk(p: Particle, repeated: bool, required: bool) -> None:
            rep = repeated or p.max_occurs is None or p.max_occurs > 1
            req = required and p.min_occurs >= 1
            if p.kind == "element":
                assert p.element is not None
                if p.element.name not in out:
                    out[p.element.name] = ChildInfo(p.element, len(out), rep, req)
                else:  # same name again: it may repeat, and it is required only if always present
                    prev = out[p.element.name]
                    out[p.element.name] = ChildInfo(prev.decl, prev.index, True, prev.required)
                return
            alternatives = p.kind == "choice" and len(p.children) > 1
            for c in p.children:
                walk(c, rep, req and not alternatives)

        walk(self.content, False, True)
        return out

    @cached_property
    def required_children(self) -> tuple[str, ...]:
        """The names of the children that must occur, in document order (a builder checks these
        few, not every child, for each element it fills)."""
        return tuple(name for name, info in self.children.items() if info.required)

    def child(self, name: str) -> ChildInfo | None:
        return self.children.get(name)


class XsdModel:
    """The components of one schema (the entry file and everything it includes)."""

    def __init__(self, entry: str | Path):
        self.entry = Path(entry)
        self._elements: dict[str, etree._Element] = {}
        self._complex: dict[str, etree._Element] = {}
        self._simple_nodes: dict[str, etree._Element] = {}
        self._groups: dict[str, etree._Element] = {}
        self._attr_groups: dict[str, etree._Element] = {}
        self._global_cache: dict[str, ElementDecl] = {}
        self._simple_cache: dict[str, SimpleType] = {}
        self._resolving = threading.RLock()  # see ElementDecl._resolve
        self._load(self.entry, set())

    # ---- loading -------------------------------------------------------------------------
    def _load(self, path: Path, seen: set[Path]) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        parser = etree.XMLParser(remove_comments=True, huge_tree=True)
        root = etree.parse(str(path), parser).getroot()
        for node in root:
            tag = node.tag
            if tag == _Q + "include":
                self._load(path.parent / node.get("schemaLocation"), seen)
            elif tag == _Q + "element":
                self._elements[node.get("name")] = node
            elif tag == _Q + "complexType":
                self._complex[node.get("name")] = node
            elif tag == _Q + "simpleType":
                self._simple_nodes[node.get("name")] = node
            elif tag == _Q + "group":
                self._groups[node.get("name")] = node
            elif tag == _Q + "attributeGroup":
                self._attr_groups[node.get("name")] = node

    # ---- public lookups ------------------------------------------------------------------
    def element(self, name: str) -> ElementDecl | None:
        """The global element `name`, or None."""
        decl = self._global_cache.get(name)
        if decl is None:
            node = self._elements.get(name)
            if node is None:
                return None
            decl = ElementDecl(name, self, node)
            self._global_cache[name] = decl
        return decl

    def message_element(self, name: str) -> ElementDecl | None:
        """A request or response element (`CustomerAddRq`, `CustomerAddRs`): these are declared
        inside QBXMLMsgsRq / QBXMLMsgsRs rather than globally."""
        envelope = "QBXMLMsgsRs" if name.endswith("Rs") else "QBXMLMsgsRq"
        env = self.element(envelope)
        info = env.child(name) if env is not None else None
        return info.decl if info is not None else self.element(name)

    def request_names(self) -> list[str]:
        """Every request this schema accepts, without the `Rq` suffix, in schema order."""
        env = self.element("QBXMLMsgsRq")
        return [n[:-2] for n in env.children if n.endswith("Rq")] if env is not None else []

    def global_element_names(self) -> list[str]:
        return list(self._elements)

    def has_complex_type(self, name: str) -> bool:
        return name in self._complex

    # ---- resolution ----------------------------------------------------------------------
    def _resolve_element(self, decl: ElementDecl) -> None:
        node = decl._node
        type_name = node.get("type")
        if type_name is not None:
            if type_name in self._complex:
                self._read_complex(decl, self._complex[type_name])
            else:
                decl._simple = self.simple_type(type_name)
            return
        inline_complex = node.find(_Q + "complexType")
        if inline_complex is not None:
            self._read_complex(decl, inline_complex)
            return
        inline_simple = node.find(_Q + "simpleType")
        if inline_simple is not None:
            decl._simple = self._read_simple(inline_simple)
            return
        decl._simple = SimpleType("xsd:anyType")

    def _read_complex(self, decl: ElementDecl, node: etree._Element) -> None:
        for child in node:
            tag = child.tag
            if tag in (_Q + "sequence", _Q + "choice", _Q + "group", _Q + "all"):
                decl._content = self._particle(child)
            elif tag == _Q + "attribute":
                attr = self._attribute(child)
                decl._attributes[attr.name] = attr
            elif tag == _Q + "attributeGroup":
                self._attribute_group(decl, child.get("ref"))
            elif tag == _Q + "simpleContent":
                ext = child[0]
                decl._simple = self.simple_type(ext.get("base")) if ext.get("base") else SimpleType("xsd:string")
                if ext.tag == _Q + "restriction":
                    decl._simple = self._facets(ext, decl._simple)
                for a in ext:
                    if a.tag == _Q + "attribute":
                        attr = self._attribute(a)
                        decl._attributes[attr.name] = attr
                    elif a.tag == _Q + "attributeGroup":
                        self._attribute_group(decl, a.get("ref"))
            elif tag == _Q + "complexContent":
                ext = child[0]
                base = self._complex.get(ext.get("base"))
                if base is not None:
                    self._read_complex(decl, base)
                self._read_complex(decl, ext)

    def _attribute_group(self, decl: ElementDecl, ref: str) -> None:
        group = self._attr_groups[ref]
        for a in group:
            if a.tag == _Q + "attribute":
                attr = self._attribute(a)
                decl._attributes[attr.name] = attr
            elif a.tag == _Q + "attributeGroup":
                self._attribute_group(decl, a.get("ref"))

    def _attribute(self, node: etree._Element) -> Attribute:
        if node.get("type"):
            st = self.simple_type(node.get("type"))
        elif node.find(_Q + "simpleType") is not None:
            st = self._read_simple(node.find(_Q + "simpleType"))
        else:
            st = SimpleType("xsd:string")
        return Attribute(node.get("name"), st, node.get("use") == "required", node.get("default"))

    @staticmethod
    def _occurs(node: etree._Element) -> tuple[int, int | None]:
        lo = int(node.get("minOccurs", "1"))
        hi_raw = node.get("maxOccurs", "1")
        hi = UNBOUNDED if hi_raw == "unbounded" else int(hi_raw)
        return lo, hi

    def _particle(self, node: etree._Element) -> Particle:
        lo, hi = self._occurs(node)
        tag = node.tag
        if tag == _Q + "element":
            ref = node.get("ref")
            decl = self.element(ref) if ref else ElementDecl(node.get("name"), self, node)
            if decl is None:
                raise ValueError(f"{self.entry.name}: element ref {ref!r} is not declared")
            return Particle("element", lo, hi, element=decl)
        if tag == _Q + "group":
            group = self._groups[node.get("ref")]
            inner = next(c for c in group if c.tag in (_Q + "sequence", _Q + "choice", _Q + "all"))
            p = self._particle(inner)
            # the ref's own occurrence wraps the group's content model
            return Particle("sequence", lo, hi, children=[p])
        kind = "choice" if tag == _Q + "choice" else "sequence"
        children = [self._particle(c) for c in node if c.tag in (_Q + "element", _Q + "group", _Q + "sequence", _Q + "choice")]
        return Particle(kind, lo, hi, children=children)

    def simple_type(self, name: str) -> SimpleType:
        if name.startswith("xsd:") or name.startswith("xs:"):
            return SimpleType("xsd:" + name.split(":", 1)[1])
        cached = self._simple_cache.get(name)
        if cached is None:
            node = self._simple_nodes.get(name)
            if node is None:
                raise ValueError(f"{self.entry.name}: unknown simple type {name!r}")
            inner = self._read_simple(node)
            # a named type is its own base: facets from its definition are kept
            cached = SimpleType(name, inner.max_length, inner.enumeration, inner.patterns, inner.min_inclusive, inner.max_inclusive)
            self._simple_cache[name] = cached
        return cached

    def _read_simple(self, node: etree._Element) -> SimpleType:
        restriction = node.find(_Q + "restriction")
        if restriction is None:  # a union or list: validated by lxml, treated as text here
            return SimpleType("xsd:string")
        base_name = restriction.get("base")
        base = self.simple_type(base_name) if base_name else SimpleType("xsd:string")
        return self._facets(restriction, base)

    @staticmethod
    def _facets(restriction: etree._Element, base: SimpleType) -> SimpleType:
        max_length = base.max_length
        enum = list()
        patterns = list(base.patterns)
        lo, hi = base.min_inclusive, base.max_inclusive
        for f in restriction:
            if f.tag == _Q + "maxLength":
                max_length = int(f.get("value"))
            elif f.tag == _Q + "enumeration":
                enum.append(f.get("value"))
            elif f.tag == _Q + "pattern":
                patterns.append(f.get("value"))
            elif f.tag == _Q + "minInclusive":
                lo = int(f.get("value"))
            elif f.tag == _Q + "maxInclusive":
                hi = int(f.get("value"))
        return SimpleType(base.base, max_length, tuple(enum) or base.enumeration, tuple(patterns), lo, hi)


def particle_signature(p: Particle, depth: int = 0, max_depth: int = 6) -> tuple:
    """A comparable description of a content model (names, order, cardinalities, nesting),
    used to prove that our derived schema keeps the published structure."""
    if p.kind == "element":
        e = p.element
        assert e is not None
        inner: tuple = ()
        if depth < max_depth and e.content is not None:
            inner = particle_signature(e.content, depth + 1, max_depth)
        leaf = (e.simple.base, e.simple.max_length, e.simple.enumeration) if e.simple else None
        attrs = tuple(sorted((a.name, a.required) for a in e.attributes.values()))
        return ("element", e.name, p.min_occurs, p.max_occurs, leaf, attrs, inner)
    # sequences that only wrap one thing (group refs) are flattened for comparison
    kids = tuple(particle_signature(c, depth, max_depth) for c in p.children)
    return (p.kind, p.min_occurs, p.max_occurs, kids)
