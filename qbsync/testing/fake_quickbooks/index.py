"""Lookups over a company's records that would otherwise scan them: by FullName (per name
space, compared casefolded as QuickBooks does), children by ParentRef, transactions by their
customer or vendor, transactions by the items on their lines, payments by the invoices they
are applied to, and the highest numeric RefNumber of each transaction type.

The :class:`Index` belongs to a :class:`~qbsync.testing.fake_quickbooks.company_data.Company`
and is built from its records on first use (so again after a load). Every write keeps it
current: ``Company.put`` and ``Company.remove`` do so themselves; code that changes a stored
record in place calls ``Company.touch`` afterwards (and for each record whose FullName moved
with it, e.g. the jobs of a renamed customer).

Lookups answer in the order a scan would have found the records: by the order of the types
asked for, then by creation (the order of the company's record dicts).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from qbsync.testing.fake_quickbooks import catalog

Key = tuple[str, str]  # (type name, ListID/TxnID)


def full_name(company: Any, type_name: str, rec: Mapping) -> str:
    """FullName computed from the ParentRef chain, so a parent's rename reaches every child."""
    info = catalog.get(type_name)
    name = str(rec.get("Name", ""))
    if not info.hierarchical:
        return name
    parts = [name]
    seen = {rec.get("ListID")}
    parent = rec.get("ParentRef")
    while isinstance(parent, Mapping) and parent.get("ListID") and parent["ListID"] not in seen:
        seen.add(parent["ListID"])
        found = company.locate(parent["ListID"], catalog.parent_types(info))
        if found is None:
            break
        parts.append(str(found[1].get("Name", "")))
        parent = found[1].get("ParentRef")
    return ":".join(reversed(parts))


class _Entry(NamedTuple):
    """What one record is indexed under."""

    name: tuple[str, str] | None  # (namespace, casefolded FullName) of a list record
    parent: str | None  # ParentRef ListID
    entity: str | None  # CustomerRef/VendorRef ListID of a transaction
    items: frozenset[str]  # ItemRef ListIDs on its lines
    applied: frozenset[str]  # TxnIDs a payment is applied to
    ref_number: tuple[str, int] | None  # (type, number) of a transaction with a numeric RefNumber


@functools.cache
def _namespaces(types: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(catalog.get(t).namespace for t in types))


def _ref_id(value: Any) -> str | None:
    return value.get("ListID") or None if isinstance(value, Mapping) else None


class Index:
    """The lookups of one company (anything with ``records(type)``, ``get`` and ``locate``)."""

    def __init__(self, company: Any):
        self._company = company
        self._seq: dict[Key, int] = {}  # creation order
        self._next_seq = 0
        self._entries: dict[Key, _Entry] = {}
        self._names: dict[tuple[str, str], dict[Key, None]] = {}
        self._children: dict[str, dict[Key, None]] = {}
        self._by_entity: dict[str, dict[Key, None]] = {}
        self._by_item: dict[str, dict[Key, None]] = {}
        self._applied_to: dict[str, dict[Key, None]] = {}
        self._ref_numbers: dict[tuple[str, int], dict[Key, None]] = {}
        self._max_ref: dict[str, int] = {}  # per type, once asked for
        self._name_order: dict[str, list[Key]] = {}  # per list type, once asked for
        for type_name in catalog.TYPES:
            for rec in company.records(type_name).values():
                self.update(type_name, rec)

    # ---- upkeep ---------------------------------------------------------------------------

    def update(self, type_name: str, rec: Mapping) -> None:
        """(Re)index a stored record after it was added or changed."""
        info = catalog.get(type_name)
        key = (type_name, rec[info.id_field])
        if key not in self._seq:
            self._seq[key] = self._next_seq
            self._next_seq += 1
        new = self._entry(info, rec)
        old = self._entries.get(key)
        if old == new:
            return
        if old is not None:
            self._drop(key, old)
        self._entries[key] = new
        self._add(key, new)

    def remove(self, type_name: str, object_id: str) -> None:
        key = (type_name, object_id)
        old = self._entries.pop(key, None)
        if old is not None:
            self._drop(key, old)
        self._seq.pop(key, None)

    def _entry(self, info: catalog.TypeInfo, rec: Mapping) -> _Entry:
        if info.is_list:
            name = (info.namespace, full_name(self._company, info.name, rec).casefold())
            parent = _ref_id(rec.get("ParentRef")) if info.hierarchical else None
            return _Entry(name, parent, None, frozenset(), frozenset(), None)
        items = frozenset(
            item_id for kind in info.lines for line in rec.get(f"{kind}Ret", []) if (item_id := _ref_id(line.get("ItemRef")))
        )
        applied = frozenset(app["TxnID"] for app in rec.get("_applied", []))
        ref = str(rec.get("RefNumber", ""))
        ref_number = (info.name, int(ref)) if ref.isdecimal() else None
        return _Entry(None, None, _ref_id(rec.get(info.entity_ref)), items, applied, ref_number)

    def _pairs(self, entry: _Entry) -> Iterable[tuple[dict, Any]]:
        if entry.name is not None:
            yield self._names, entry.name
        if entry.parent is not None:
            yield self._children, entry.parent
        if entry.entity is not None:
            yield self._by_entity, entry.entity
        for item_id in entry.items:
            yield self._by_item, item_id
        for txn_id in entry.applied:
            yield self._applied_to, txn_id
        if entry.ref_number is not None:
            yield self._ref_numbers, entry.ref_number

    def _add(self, key: Key, entry: _Entry) -> None:
        if entry.name is not None:
            self._name_order.pop(key[0], None)
        for table, value in self._pairs(entry):
            table.setdefault(value, {})[key] = None
        if entry.ref_number is not None and entry.ref_number[0] in self._max_ref:
            type_name, number = entry.ref_number
            self._max_ref[type_name] = max(self._max_ref[type_name], number)

    def _drop(self, key: Key, entry: _Entry) -> None:
        if entry.name is not None:
            self._name_order.pop(key[0], None)
        for table, value in self._pairs(entry):
            keys = table.get(value)
            if keys is not None:
                keys.pop(key, None)
                if not keys:
                    del table[value]
        if entry.ref_number is not None and entry.ref_number not in self._ref_numbers:
            type_name, number = entry.ref_number
            if self._max_ref.get(type_name) == number:
                del self._max_ref[type_name]  # the highest number went: found again when asked

    # ---- lookups --------------------------------------------------------------------------

    def _records(self, keys: Iterable[Key], types: tuple[str, ...]) -> list[tuple[str, dict]]:
        """The records of `keys` whose type is in `types`, in scan order."""
        if not keys:
            return []
        wanted = [k for k in keys if k[0] in types]
        if len(wanted) > 1:
            wanted.sort(key=lambda k: (types.index(k[0]), self._seq[k]))
        out = []
        for t, object_id in wanted:
            rec = self._company.get(t, object_id)
            if rec is not None:
                out.append((t, rec))
        return out

    def by_name(self, types: tuple[str, ...], name: str) -> tuple[str, dict] | None:
        """The first record of `types` whose FullName is `name` (any case)."""
        wanted = name.strip().casefold()
        keys: list[Key] = []
        for namespace in _namespaces(types):
            keys.extend(self._names.get((namespace, wanted), ()))
        found = self._records(keys, types)
        return found[0] if found else None

    def name_key(self, type_name: str, object_id: str) -> str:
        """The casefolded FullName a list record is indexed under."""
        entry = self._entries[(type_name, object_id)]
        assert entry.name is not None
        return entry.name[1]

    def in_name_order(self, types: tuple[str, ...]) -> list[Key]:
        """The records of the list types `types`, by casefolded FullName (a name shared by
        types: in the order of `types`, then of creation). Do not change the list."""
        if len(types) > 1:
            return sorted((key for t in types for key in self.in_name_order((t,))), key=lambda key: self.name_key(*key))
        type_name = types[0]
        order = self._name_order.get(type_name)
        if order is None:
            order = [(type_name, object_id) for object_id in self._company.records(type_name)]
            order.sort(key=lambda key: self.name_key(*key))
            self._name_order[type_name] = order
        return order

    def children(self, types: tuple[str, ...], list_id: str) -> list[tuple[str, dict]]:
        """The records of `types` whose ParentRef is `list_id`."""
        return self._records(self._children.get(list_id, ()), types)

    def of_entity(self, type_name: str, list_id: str) -> list[dict]:
        """The transactions of `type_name` naming this customer or vendor."""
        return [rec for _, rec in self._records(self._by_entity.get(list_id, ()), (type_name,))]

    def with_item(self, type_name: str, item_id: str) -> list[dict]:
        """The transactions of `type_name` with a line of this item."""
        return [rec for _, rec in self._records(self._by_item.get(item_id, ()), (type_name,))]

    def max_ref_number(self, type_name: str) -> int:
        """The highest numeric RefNumber among the transactions of `type_name` (0: none)."""
        if type_name not in self._max_ref:
            self._max_ref[type_name] = max((n for t, n in self._ref_numbers if t == type_name), default=0)
        return self._max_ref[type_name]

    def payments_applied_to(self, txn_id: str) -> list[dict]:
        """The payments applied (in part) to this transaction."""
        return [rec for _, rec in self._records(self._applied_to.get(txn_id, ()), ("ReceivePayment",))]
