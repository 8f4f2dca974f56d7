"""Shared record logic for FakeQuickBooks: the per-message context, Ref resolution, names
(FullName, Sublevel, uniqueness), merging Mod data, money arithmetic."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from qbsync.qbxml.schema import Schema
from qbsync.qbxml.xsdmodel import ElementDecl, Particle
from qbsync.testing.fake_quickbooks import catalog, status
from qbsync.testing.fake_quickbooks.catalog import TypeInfo
from qbsync.testing.fake_quickbooks.company_data import Company
from qbsync.testing.fake_quickbooks.ids import IdFactory, check_object_id, format_datetime, next_edit_sequence
from qbsync.testing.fake_quickbooks.index import full_name

CENT = Decimal("0.01")


@dataclass
class Ctx:
    """What one message works with: the company, the time of the message, injected locks."""

    company: Company
    now: datetime
    locks: Mapping[str, int] = field(default_factory=dict)
    schema: Schema | None = None  # the fake's own version: tells which fields exclude each other

    def ret_decl(self, ret_name: str, line: str | None = None) -> ElementDecl | None:
        decl = self.schema.element(ret_name) if self.schema is not None else None
        if decl is not None and line is not None:
            info = decl.child(line)
            decl = info.decl if info is not None else None
        return decl

    @property
    def ids(self) -> IdFactory:
        return IdFactory(self.company.counters)

    @property
    def tz(self) -> tzinfo | None:
        return self.now.tzinfo

    @property
    def stamp(self) -> str:
        return format_datetime(self.now)

    @property
    def today(self) -> str:
        return self.now.date().isoformat()


# ---- small data helpers ---------------------------------------------------------------------


def as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def price(value: Decimal) -> str:
    """PRICETYPE text: two to five decimals."""
    text = str(value.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP))
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac.ljust(2, '0')}"


def is_true(value: Any) -> bool:
    return str(value).strip().lower() in ("true", "1")


def deep(value: Any) -> Any:
    return copy.deepcopy(value)


# ---- names ----------------------------------------------------------------------------------


def find_by_name(company: Company, types: tuple[str, ...], name: str) -> tuple[str, dict] | None:
    """The record whose FullName is `name` (QuickBooks compares names case-insensitively)."""
    return company.index.by_name(types, name)


def check_unique_name(ctx: Ctx, info: TypeInfo, name: str, exclude_id: str | None = None) -> None:
    """3100 when another record of the namespace (Customer, Vendor, Employee share one; all
    item types share one) already has this FullName. Inactive records still hold their name."""
    found = find_by_name(ctx.company, catalog.namespace_types(info), name)
    if found is not None and found[1].get("ListID") != exclude_id:
        raise status.name_in_use(name)


# ---- refs -----------------------------------------------------------------------------------


def lookup(company: Company, types: tuple[str, ...], ref: Mapping) -> tuple[str, dict] | None:
    """Resolve a Ref by ListID (preferred, as QuickBooks does; 3000 when it is no ID at all)
    or FullName."""
    list_id = ref.get("ListID")
    if list_id:
        return company.locate(check_object_id("ListID", list_id), types)
    name = ref.get("FullName")
    if name:
        return find_by_name(company, types, str(name))
    return None


def ref_to(company: Company, type_name: str, rec: Mapping) -> dict:
    return {"ListID": rec["ListID"], "FullName": full_name(company, type_name, rec)}


def resolve_ref(ctx: Ctx, key: str, ref: Any, where: str) -> Any:
    """A Ref as stored: ListID and FullName of the record it names. 3140 when it names
    nothing. Refs to lists the fake does not model are kept as sent."""
    targets = catalog.REF_TARGETS.get(key)
    if not isinstance(ref, Mapping):
        return deep(ref)
    if targets is None:
        return other_list_ref(ctx, key, ref)
    if not ref.get("ListID") and not ref.get("FullName"):
        return None  # an empty Ref clears the field
    found = lookup(ctx.company, targets, ref)
    if found is None:
        label = catalog.get(targets[0]).label
        raise status.invalid_ref(label, str(ref.get("FullName") or ref.get("ListID")), where)
    return ref_to(ctx.company, found[0], found[1])


_SAME_LIST = {"PreferredPaymentMethodRef": "PaymentMethodRef"}


def other_list_ref(ctx: Ctx, key: str, ref: Mapping) -> dict:
    """A Ref to a list the fake does not model (payment methods, templates, sales reps, ...):
    any name is accepted and keeps one stable ListID, so the Ret carries both keys as
    QuickBooks' does."""
    lists = ctx.company.state.setdefault("other_lists", {}).setdefault(_SAME_LIST.get(key, key), {})
    name, list_id = ref.get("FullName"), ref.get("ListID")
    if list_id:
        check_object_id("ListID", list_id)
    if name:
        entry = lists.get(str(name).casefold())
        if entry is None:
            entry = {"ListID": str(list_id) if list_id else ctx.ids.list_id(ctx.now), "FullName": str(name)}
            lists[str(name).casefold()] = entry
        return dict(entry)
    for entry in lists.values():
        if entry["ListID"] == list_id:
            return dict(entry)
    return deep(dict(ref))


def resolve_refs(ctx: Ctx, data: Mapping, where: str, skip: tuple[str, ...] = ()) -> dict:
    """A copy of `data` with every modelled Ref resolved (recursing into aggregates such as
    SalesOrPurchase, but not into line lists, which the caller handles)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in skip:
            continue
        if key.endswith("Ref"):
            if isinstance(value, list):
                out[key] = [resolve_ref(ctx, key, v, where) for v in value]
            else:
                resolved = resolve_ref(ctx, key, value, where)
                if resolved is not None:
                    out[key] = resolved
        elif isinstance(value, Mapping):
            out[key] = resolve_refs(ctx, value, where)
        else:
            out[key] = deep(value)
    return out


def references(value: Any, object_id: str) -> bool:
    """Whether any Ref (or applied-to link) inside `value` points at `object_id`."""
    if isinstance(value, Mapping):
        for key, v in value.items():
            if key in ("ListID", "TxnID") and v == object_id:
                return True
            if isinstance(v, (Mapping, list)) and references(v, object_id):
                return True
        return False
    if isinstance(value, list):
        return any(references(v, object_id) for v in value)
    return False


def _names(p: Particle) -> set[str]:
    if p.kind == "element":
        return {p.element.name} if p.element is not None else set()
    return set().union(*(_names(c) for c in p.children)) if p.children else set()


def alternatives(decl: ElementDecl | None, key: str) -> set[str]:
    """The fields that cannot stand beside `key` in `decl` (other branches of a choice it is
    in, e.g. Rate and RatePercent on a line): setting one in a Mod drops the others."""
    if decl is None or decl.content is None:
        return set()
    out: set[str] = set()

    def walk(p: Particle) -> None:
        if p.kind == "choice" and len(p.children) > 1:
            branches = [_names(c) for c in p.children]
            if any(key in b for b in branches):
                out.update(*(b for b in branches if key not in b))
        for c in p.children:
            walk(c)

    walk(decl.content)
    return out


def merge(stored: dict, changes: Mapping, decl: ElementDecl | None = None) -> None:
    """Apply Mod data: given fields replace, an empty value clears, aggregates merge field
    by field (a BillAddress with only City keeps Addr1), Refs and lists replace. With the
    Ret's `decl`, a field set drops the fields it excludes."""
    for key, value in changes.items():
        if decl is not None and decl.child(key) is None and key.endswith("Mod") and decl.child(key[:-3]) is not None:
            key = key[:-3]  # a Mod form's `SalesOrPurchaseMod` changes the record's `SalesOrPurchase`
        for other in alternatives(decl, key):
            stored.pop(other, None)
        if value is None or value == "":
            stored.pop(key, None)
        elif isinstance(value, Mapping) and not key.endswith("Ref") and isinstance(stored.get(key), dict):
            child = decl.child(key) if decl is not None else None
            merge(stored[key], value, child.decl if child is not None else None)
            if not stored[key]:
                stored.pop(key)
        else:
            stored[key] = deep(value)


# ---- common Ret fields ----------------------------------------------------------------------


def stamp_new(ctx: Ctx, rec: dict) -> None:
    rec["TimeCreated"] = ctx.stamp
    rec["TimeModified"] = ctx.stamp
    rec["EditSequence"] = next_edit_sequence(ctx.now)


def stamp_modified(ctx: Ctx, rec: dict) -> None:
    rec["TimeModified"] = ctx.stamp
    rec["EditSequence"] = next_edit_sequence(ctx.now, rec.get("EditSequence"))


def check_editable(ctx: Ctx, info: TypeInfo, object_id: str, edit_sequence: str | None) -> dict:
    """The record a Mod names, after the checks QuickBooks makes in this order: the ID has
    QuickBooks' shape (3000), it exists (3120), nobody holds it (3170/3175, injected), the
    EditSequence is current (3200)."""
    rec = ctx.company.get(info.name, check_object_id(info.id_field, object_id))
    if rec is None:
        raise status.not_found(object_id)
    check_lock(ctx, info, object_id)
    if edit_sequence is not None and str(edit_sequence) != str(rec.get("EditSequence")):
        raise status.stale_edit_sequence(str(edit_sequence))
    return rec


def check_lock(ctx: Ctx, info: TypeInfo, object_id: str) -> None:
    code = ctx.locks.get(object_id)
    if code:
        raise status.in_use(code, f"{info.label} list" if info.is_list else info.label, object_id)


def address_block(address: Mapping | None) -> dict | None:
    """The printable block QuickBooks derives from an address: its lines, then
    "City, State PostalCode", then the country."""
    if not isinstance(address, Mapping):
        return None
    lines = [str(address[k]) for k in ("Addr1", "Addr2", "Addr3", "Addr4", "Addr5") if address.get(k)]
    city_line = " ".join(p for p in (", ".join(p for p in (address.get("City"), address.get("State")) if p), address.get("PostalCode")) if p)
    if city_line:
        lines.append(city_line)
    if address.get("Country"):
        lines.append(str(address["Country"]))
    # A derived display block: at most 5 lines of at most 41 characters (the schema's limits
    # for …AddressBlock), e.g. a long "City, State PostalCode" line is cut to fit.
    lines = [line[:ADDRESS_BLOCK_LINE] for line in lines[:5]]
    return {f"Addr{i + 1}": line for i, line in enumerate(lines)} or None


ADDRESS_BLOCK_LINE = 41
