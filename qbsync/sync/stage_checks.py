"""The file-wide checks of `qbsync stage`: what QuickBooks would refuse about a record only in
the light of the other lines and of the store. Each returns (line, field, message) problems; a
line with a problem is never staged. The lookups are batched: a few queries per call, never
one per line.

- the same "id" on two lines (which one the app meant is unknown: every such line is refused);
- two records of one name-sharing list with the same FullName, in the file or against what the
  connection already holds (QuickBooks 3100; compared case-insensitively, as QuickBooks does);
- a `{"local_id": …}` reference to a record that is neither in the mirror, nor in an unsettled
  export change, nor on a valid line of the same call (it could never be resolved).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from qbsync.store import changes as store_changes
from qbsync.store import records as store_records
from qbsync.store.db import Store
from qbsync.sync import catalogue, content

MAX_DEPTH = 64  # JSON nesting levels a staged line may have (qbXML data needs fewer than 10)
_MAX_SUBLEVELS = 32  # hierarchy levels followed to build a FullName (QuickBooks allows 5)
_NAME_IN_USE = 3100

Problem = tuple[int, "str | None", str]


class Item(Protocol):  # staging.StagedItem
    line: int
    local_id: str
    link_id: str | None
    data: dict[str, Any]


def too_deep(value: Any, limit: int = MAX_DEPTH, text: str | None = None) -> bool:
    """True when objects and arrays nest more than `limit` levels (the line itself is level 1).
    `text`: the JSON it was read from; with no more than `limit` opening brackets in all (each
    object or array has one), it cannot nest deeper, and is not walked."""
    if text is not None and text.count("{") + text.count("[") <= limit:
        return False
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _lines(lines: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(n) for n in lines[:limit])
    return shown + (f" and {len(lines) - limit} more" if len(lines) > limit else "")


# -- the same id twice -------------------------------------------------------------------------


def duplicate_ids(items: Iterable[Item]) -> list[Problem]:
    first: dict[str, int] = {}  # id → its first line (a list per id only for the ids given twice)
    again: dict[str, list[int]] = {}
    for item in items:
        if item.local_id in first:
            again.setdefault(item.local_id, [first[item.local_id]]).append(item.line)
        else:
            first[item.local_id] = item.line
    problems: list[Problem] = []
    for local_id in first:
        lines = again.get(local_id)
        if lines:
            for line in lines:
                problems.append((line, "id", f"{local_id!r} is on lines {_lines(lines)}: give each record once"))
    return problems


# -- names QuickBooks keeps unique ---------------------------------------------------------------


@dataclass(slots=True)  # one per record of the name space and per line of the call
class _Named:
    name: Any  # the Name (None when unknown)
    parent: Any  # the ParentRef as staged or reported (None: top level)
    qb_id: str | None = None
    reported: str | None = None  # FullName QuickBooks last reported, while Name and parent are unchanged
    line: int | None = None  # the line of this call that stages it


def _holdings(store: Store, connection_id: int, types: tuple[str, ...]) -> dict[tuple[str, str], _Named]:
    """Name and parent of every record of `types` the connection holds or will hold once its
    unsettled exports are sent: the mirror with those changes laid over it, deletes removed."""
    held = {
        (r["type"], r["local_id"]): _Named(r["name"], r["parent"], r["qb_id"], r["full_name"])
        for r in store_records.names_of_types(store, connection_id, types)
    }
    for c in store_changes.unsettled_export_names(store, connection_id, types):
        key = (c["type"], c["local_id"])
        if c["action"] == "delete":
            held.pop(key, None)
        elif c["action"] == "add" or key not in held:
            held[key] = _Named(c["name"], c["parent"], (held.get(key) or _Named(None, None)).qb_id)
        elif c["has_name"] or c["has_parent"]:
            entry = held[key]
            entry.reported = None
            if c["has_name"]:
                entry.name = c["name"]
            if c["has_parent"]:
                entry.parent = c["parent"]
    return held


class _FullNames:
    """FullName of each entry ("Parent:Child" for a sub-record), or None when it cannot be told
    (a parent not found anywhere): such a record is not checked rather than wrongly refused."""

    def __init__(self, entries: dict[tuple[str, str], _Named], types: tuple[str, ...]):
        self.entries, self.types = entries, types
        self.by_qb_id = {e.qb_id: key for key, e in entries.items() if e.qb_id}
        self.memo: dict[tuple[str, str], str | None] = {}

    def _parent_key(self, type_name: str, ref: Mapping[str, Any]) -> tuple[str, str] | None:
        if content.is_local_ref(ref):
            lid = str(ref[content.LOCAL_ID])
            for t in (type_name, *self.types):  # its own list first; items may nest across item types
                if (t, lid) in self.entries:
                    return (t, lid)
            return None
        return self.by_qb_id.get(ref.get("ListID")) if ref.get("ListID") else None

    def of(self, key: tuple[str, str], depth: int = 0) -> str | None:
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None  # a parent cycle ends here
        entry = self.entries[key]
        name, parent, full = entry.name, entry.parent, None
        if not isinstance(name, (str, int)) or isinstance(name, bool):
            full = entry.reported
        elif not parent:
            full = str(name)
        elif isinstance(parent, Mapping):
            parent_key = self._parent_key(key[0], parent)
            above = self.of(parent_key, depth + 1) if parent_key and depth < _MAX_SUBLEVELS else None
            above = above or (str(parent["FullName"]) if parent.get("FullName") else None)
            full = f"{above}:{name}" if above else entry.reported
        self.memo[key] = full
        return full


def _fold(name: str) -> str:
    return name.strip().casefold()


def leaf_of(name: Any) -> str | None:
    """The folded last part of a Name or FullName ("Parent:Child" -> "child"), None for no name:
    two records whose FullNames clash (the same once folded) have the same leaf."""
    if not isinstance(name, (str, int)) or isinstance(name, bool):
        return None
    return _fold(str(name)).rsplit(":", 1)[-1].strip()


@dataclass
class Held:
    """The records of a name space the connection holds (`_holdings`), and what tells a line
    that cannot clash with any: their (type, id) keys, leaves, and the ids their parents have."""

    entries: dict[tuple[str, str], _Named]
    keys: set[tuple[str, str]]
    leaves: set[str]
    parent_ids: set[str]


def held_names(store: Store, connection_id: int, et: Any) -> Held | None:
    """What the connection holds of `et`'s name space (None: its names are not kept unique)."""
    types = catalogue.name_space_types(et.name)
    if not types:
        return None
    entries = _holdings(store, connection_id, types)
    leaves = {leaf for e in entries.values() for leaf in (leaf_of(e.name), leaf_of(e.reported)) if leaf is not None}
    parents = {str(e.parent[content.LOCAL_ID]) for e in entries.values() if content.is_local_ref(e.parent)}
    return Held(entries, set(entries), leaves, parents)


def may_clash(held: Held, type_name: str, local_id: str, plain: bool, leaf: str | None, shared: bool,
              is_parent: bool) -> bool:
    """Whether `name_clashes` needs this line. It does not when the line's FullName is its own
    Name (`plain`: no ParentRef, no link, no record of its id held), whose leaf no other record
    of the file or the connection has, and no record names it as parent: such a line clashes
    with nothing, and no other line's FullName depends on it."""
    return (not plain or shared or is_parent or (type_name, local_id) in held.keys or local_id in held.parent_ids
            or (leaf is not None and leaf in held.leaves))


def name_clashes(store: Store, connection_id: int, et: Any, items: Sequence[Item],
                 held: Held | None = None) -> list[Problem]:
    """Lines whose record would share its FullName with another record of the same name space:
    one the connection holds (every such line), or an earlier line of this call. `held`: what
    `held_names` read of the store (used up here), when the caller narrowed `items` with it."""
    types = catalogue.name_space_types(et.name)
    if not types or not items:
        return []
    entries = held.entries if held is not None else _holdings(store, connection_id, types)
    linked = {item.link_id: item.local_id for item in items if item.link_id}
    for key in [k for k, e in entries.items() if k[0] == et.name and e.qb_id in linked and linked[e.qb_id] != k[1]]:
        del entries[key]  # a line links its own id to this QuickBooks record: one record, not two
    for item in items:
        key = (et.name, item.local_id)
        before = entries.get(key)
        parent = item.data["ParentRef"] if "ParentRef" in item.data else (before.parent if before else None)
        qb_id = item.link_id or (before.qb_id if before else None)
        entries[key] = _Named(item.data.get(et.name_field), parent, qb_id, line=item.line)
    full_names = _FullNames(entries, types)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in entries:
        full = full_names.of(key)
        if full:
            groups[_fold(full)].append(key)
    shared = "across " + " and ".join(", ".join(types).rsplit(", ", 1)) if len(types) > 1 else f"in the {et.name} list"
    why = f"QuickBooks keeps names unique {shared} ({_NAME_IN_USE})"
    problems: list[Problem] = []
    for keys in groups.values():
        if len(keys) < 2:
            continue
        staged = sorted((entries[k].line, k) for k in keys if entries[k].line is not None)
        held = [k for k in keys if entries[k].line is None]
        for i, (line, key) in enumerate(staged):
            full = full_names.of(key)
            if held:
                other = held[0]
                problems.append((line, et.name_field, f"{full!r} is already the name of {other[0]} {other[1]!r}; {why}"))
            elif i > 0:
                problems.append((line, et.name_field, f"{full!r} is also the name on line {staged[0][0]}; {why}"))
    return problems


# -- references by the app's id ------------------------------------------------------------------


def _one_based(path: str) -> str:
    """content.local_refs counts list positions from 0; problems name lines from 1."""
    out, _, rest = path.partition("[")
    while rest:
        index, _, after = rest.partition("]")
        out += f"[{int(index) + 1}]" if index.isdigit() else f"[{index}]"
        head, _, rest = after.partition("[")
        out += head
    return out


def dangling_references(
    store: Store, connection_id: int, items: Sequence[Item], refused_ids: Iterable[str] = (),
    id_counts: Callable[[set[str]], Mapping[str, int]] | None = None,
) -> list[Problem]:
    """Lines with a `{"local_id": …}` that names no record of the connection (any type: a
    reference carries none, and resolves the same way at send time) and no valid line of this
    call. A line refused here takes the lines that refer to it along; `refused_ids` are the ids
    of lines of this call refused by the other checks. `id_counts(ids)`: how many valid lines
    of the call carry each of `ids`, when `items` are only the lines with references (default:
    `items` are every valid line, counted here)."""
    refs = {item.line: found for item in items if (found := content.local_refs(item.data))}  # lines with any
    wanted = {lid for found in refs.values() for _, lid in found}
    if not wanted:
        return []
    types = catalogue.type_names()
    known = store_records.local_ids_present(store, connection_id, wanted, types)
    known |= store_changes.local_ids_with_unsettled_exports(store, connection_id, wanted - known, types)
    if id_counts is None:
        in_call = Counter(item.local_id for item in items)
    else:
        in_call = Counter(id_counts(wanted | {item.local_id for item in items}))
    for lid in refused_ids:
        in_call[lid] += 0  # known to this call, valid on no line
    referrers: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        for _, lid in refs.get(item.line, ()):
            referrers[lid].append(item)
    problems: list[Problem] = []
    refused: set[int] = set()
    todo: list[Item] = list(items)
    while todo:  # until no line is refused any more: each line is refused once
        gone: list[str] = []
        for item in todo:
            if item.line in refused:
                continue
            for path, lid in refs.get(item.line, ()):
                if lid in known or in_call[lid] > 0:
                    continue
                problems.append((item.line, _one_based(path), _missing(lid, lid in in_call)))
                refused.add(item.line)
                in_call[item.local_id] -= 1
                if in_call[item.local_id] == 0:
                    gone.append(item.local_id)
                break
        todo = [i for lid in gone for i in referrers.get(lid, ())]
    return problems


def _missing(lid: str, was_in_call: bool) -> str:
    if was_in_call:
        return f"refers to {lid!r}, whose line here is refused and which is not in the mirror or the wizard"
    return (f"no record with id {lid!r} in the mirror, the wizard or this file; "
            "stage that record first (or in the same file), or refer to it by ListID or FullName")
