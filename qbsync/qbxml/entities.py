"""The entity catalogue: the QuickBooks object types qbsync syncs, as plain data.

For every type: list or transaction, id and display fields, its request names, the records it
refers to (for dependency ordering), its line aggregates and how a Mod treats them, whether its
Add takes ExternalGUID, and how it is deleted. Facts are those of Intuit's published qbXML 13.0
schema (qbsync's default version); ``tests/test_entities.py`` checks every element name here
against the published 13.0 and 16.0 schemas.

Request names are given as :class:`qbsync.qbxml.Request` takes them: the ``…Rq`` element without
its ``Rq`` suffix (``"CustomerAdd"``), which for an Add or Mod is also the name of the inner
element holding the data.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from qbsync.errors import InvalidInput

LIST, TXN = "list", "txn"

# On a transaction Mod, QuickBooks deletes every existing line the request does not send
# again (by its TxnLineID); a line to be added carries this TxnLineID instead.
NEW_LINE_ID = "-1"

ITEM_TYPES: tuple[str, ...] = ("ItemService", "ItemNonInventory", "ItemInventory", "ItemOtherCharge")


@dataclass(frozen=True)
class LineAggregate:
    """A repeating line aggregate of a transaction, e.g. ``InvoiceLine``.

    ``add``/``mod``/``ret`` are its element names inside the Add, Mod and Ret forms (``mod`` is
    None when a Mod cannot carry it: such lines cannot be changed once saved). ``id_field``
    identifies an existing line in a Mod (``TxnLineID``; for ``AppliedToTxn`` it is the TxnID of
    the transaction paid). ``new_line_id`` is the id a Mod sends for a line to be added, or None
    when the aggregate has no such marker. ``group`` marks an item-group line, whose Mod form
    holds the member lines (``member_mod``). ``clear_element`` is the Mod flag that removes
    every line of this kind at once (Bill only).
    """

    base: str
    add: str
    mod: str | None
    ret: str
    id_field: str | None = "TxnLineID"
    new_line_id: str | None = NEW_LINE_ID
    group: bool = False
    member_mod: str | None = None
    clear_element: str | None = None


class References(Mapping[str, tuple[str, ...]]):
    """Read-only map: path of a Ref (or TxnID) element inside the Add form → the types it may
    point to, e.g. ``"InvoiceLineAdd/ItemRef" → ("ItemService", …)``.

    Iteration yields the full paths. A lookup also accepts the tail of a path, each step
    optionally without its ``Add`` suffix: ``refs["ItemRef"]`` or ``refs["AppliedToTxn/TxnID"]``
    return the targets of every matching path (in catalogue order, without repeats).
    """

    __slots__ = ("_paths",)

    def __init__(self, paths: Mapping[str, tuple[str, ...]] | None = None):
        self._paths: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (paths or {}).items()}

    def __getitem__(self, key: str) -> tuple[str, ...]:
        if key in self._paths:
            return self._paths[key]
        targets: dict[str, None] = {}
        for path in self._matches(key):
            targets.update(dict.fromkeys(self._paths[path]))
        if not targets:
            raise KeyError(key)
        return tuple(targets)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self._paths or any(True for _ in self._matches(key)))

    def __iter__(self):
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"References({self._paths!r})"

    def _matches(self, key: str):
        wanted = key.split("/")
        for path in self._paths:
            steps = path.split("/")
            if len(steps) >= len(wanted) and all(
                have in (want, want + "Add") for have, want in zip(steps[-len(wanted):], wanted)
            ):
                yield path


@dataclass(frozen=True)
class EntityType:
    """One supported QuickBooks object type."""

    name: str
    kind: str  # LIST or TXN
    id_field: str  # ListID / TxnID
    name_field: str  # set on Add: Name for lists, RefNumber for transactions
    display_fields: tuple[str, ...]  # first non-empty Ret field names a list record; "RefNumber (TxnDate)" for txns
    add_rq: str
    mod_rq: str | None  # None: qbXML 13.0 has no Mod for this type
    query_rq: str
    ret: str
    supports_external_guid: bool  # does the Add form take ExternalGUID?
    iterator: bool  # does the Query accept iterator="Start|Continue|Stop"?
    del_rq: str  # ListDel / TxnDel
    del_type: str  # the ListDelType / TxnDelType value
    deleted_query_rq: str  # ListDeletedQuery / TxnDeletedQuery
    list_deleted_type: str  # the value to filter the deleted-records query on
    references: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    lines: tuple[LineAggregate, ...] = ()
    hierarchical: bool = False  # has ParentRef: the display name is the FullName ("Parent:Child")
    # Lists whose FullNames QuickBooks keeps unique together (3100 "already in use"): customers,
    # vendors and employees share one; all item types share one; other lists have their own.
    # Empty for transactions.
    name_space: str = ""

    def __post_init__(self) -> None:
        # Keep the catalogue immutable all the way down.
        object.__setattr__(self, "references", References(self.references))

    @property
    def is_list(self) -> bool:
        return self.kind == LIST

    @property
    def del_type_field(self) -> str:
        """The element of the delete (and deleted-query) request that carries :attr:`del_type`."""
        return "ListDelType" if self.is_list else "TxnDelType"

    @property
    def mod_deletes_unsent_lines(self) -> bool:
        """True when a Mod that sends lines deletes the existing lines it leaves out."""
        return any(line.mod for line in self.lines)

    def dependencies(self) -> frozenset[str]:
        """Other types this one refers to (self-references such as ParentRef left out)."""
        return frozenset(t for targets in self.references.values() for t in targets if t != self.name)

    def display_name(self, ret: Mapping[str, object]) -> str:
        """A person-readable name for a Ret record: the FullName/Name of a list record,
        "RefNumber (TxnDate)" for a transaction. Missing fields fall back to the id."""
        if self.is_list:
            for key in self.display_fields:
                value = ret.get(key)
                if value:
                    return str(value)
            return str(ret.get(self.id_field, ""))
        ref, date = ret.get("RefNumber"), ret.get("TxnDate")
        if ref and date:
            return f"{ref} ({date})"
        return str(ref or date or ret.get(self.id_field, ""))

    def line(self, element: str) -> LineAggregate | None:
        """The line aggregate whose base, Add, Mod or Ret element is ``element``."""
        for line in self.lines:
            if element in (line.base, line.add, line.mod, line.ret):
                return line
        return None


# --- helpers that keep the table below short --------------------------------------------------

_ACCOUNT, _CLASS, _TERMS, _TAX = ("Account",), ("Class",), ("StandardTerms",), ("SalesTaxCode",)


def _list(name: str, *, external_guid: bool, iterator: bool, mod: bool = True, hierarchical: bool = False,
          references: Mapping[str, tuple[str, ...]] | None = None, name_space: str | None = None) -> EntityType:
    return EntityType(
        name=name, kind=LIST, id_field="ListID", name_field="Name",
        display_fields=("FullName", "Name") if hierarchical else ("Name",),
        add_rq=f"{name}Add", mod_rq=f"{name}Mod" if mod else None, query_rq=f"{name}Query", ret=f"{name}Ret",
        supports_external_guid=external_guid, iterator=iterator,
        # For every supported type the delete enumeration value is the type's own name.
        del_rq="ListDel", del_type=name, deleted_query_rq="ListDeletedQuery", list_deleted_type=name,
        references=references or {}, hierarchical=hierarchical, name_space=name_space or name,
    )


def _txn(name: str, *, lines: tuple[LineAggregate, ...], references: Mapping[str, tuple[str, ...]]) -> EntityType:
    # Every supported transaction has Add, Mod and Query, takes ExternalGUID on Add and pages
    # with iterators (checked against the schema by the tests).
    return EntityType(
        name=name, kind=TXN, id_field="TxnID", name_field="RefNumber", display_fields=("RefNumber", "TxnDate"),
        add_rq=f"{name}Add", mod_rq=f"{name}Mod", query_rq=f"{name}Query", ret=f"{name}Ret",
        supports_external_guid=True, iterator=True,
        del_rq="TxnDel", del_type=name, deleted_query_rq="TxnDeletedQuery", list_deleted_type=name,
        references=references, lines=lines,
    )


def _item_lines(prefix: str) -> tuple[LineAggregate, ...]:
    """The item line and item-group line of a sales form (InvoiceLine, InvoiceLineGroup, …)."""
    return (
        LineAggregate(f"{prefix}Line", f"{prefix}LineAdd", f"{prefix}LineMod", f"{prefix}LineRet"),
        LineAggregate(f"{prefix}LineGroup", f"{prefix}LineGroupAdd", f"{prefix}LineGroupMod",
                      f"{prefix}LineGroupRet", group=True, member_mod=f"{prefix}LineMod"),
    )


# Single lines some sales forms carry (used by non-US editions): added and returned, never modified.
_FIXED_LINES: tuple[LineAggregate, ...] = tuple(
    LineAggregate(base, f"{base}Add", None, f"{base}Ret", id_field=None, new_line_id=None)
    for base in ("DiscountLine", "SalesTaxLine", "ShippingLine")
)
_FIXED_LINE_REFS = {f"{base}Add/AccountRef": _ACCOUNT for base in ("DiscountLine", "SalesTaxLine", "ShippingLine")}


def _sales_line_refs(prefix: str) -> dict[str, tuple[str, ...]]:
    line = f"{prefix}LineAdd"
    return {
        f"{line}/ItemRef": ITEM_TYPES,
        f"{line}/ClassRef": _CLASS,
        f"{line}/SalesTaxCodeRef": _TAX,
        f"{line}/OverrideItemAccountRef": _ACCOUNT,
    }


def _item_refs(name: str) -> dict[str, tuple[str, ...]]:
    """References of ItemService, ItemNonInventory and ItemOtherCharge (a sub-item has a parent
    of its own type)."""
    return {
        "ClassRef": _CLASS,
        "ParentRef": (name,),
        "SalesTaxCodeRef": _TAX,
        "SalesOrPurchase/AccountRef": _ACCOUNT,
        "SalesAndPurchase/IncomeAccountRef": _ACCOUNT,
        "SalesAndPurchase/PurchaseTaxCodeRef": _TAX,
        "SalesAndPurchase/ExpenseAccountRef": _ACCOUNT,
        "SalesAndPurchase/PrefVendorRef": ("Vendor",),
    }


# --- the catalogue ----------------------------------------------------------------------------
# references: path of the Ref (or TxnID) element inside the Add form → the supported types it
# may point to. References to types qbsync does not sync (price levels, sales reps, currencies,
# templates, …) are left out: they play no part in ordering qbsync's own changes.

_TYPES: tuple[EntityType, ...] = (
    _list("Customer", name_space="entity", external_guid=True, iterator=True, hierarchical=True, references={
        "ClassRef": _CLASS,
        "ParentRef": ("Customer",),  # a job is a Customer whose ParentRef is its customer
        "TermsRef": _TERMS,
        "SalesTaxCodeRef": _TAX,
    }),
    _list("Vendor", name_space="entity", external_guid=True, iterator=True, references={
        "ClassRef": _CLASS,
        "TermsRef": _TERMS,
        "SalesTaxCodeRef": _TAX,
        "TaxOnPurchasesAccountRef": _ACCOUNT,
        "TaxOnSalesAccountRef": _ACCOUNT,
        "PrefillAccountRef": _ACCOUNT,
    }),
    _list("Employee", name_space="entity", external_guid=True, iterator=False, references={
        "SupervisorRef": ("Employee",),
        "EmployeePayrollInfo/ClassRef": _CLASS,
    }),
    _list("ItemService", name_space="item", external_guid=True, iterator=True, hierarchical=True, references=_item_refs("ItemService")),
    _list("ItemNonInventory", name_space="item", external_guid=True, iterator=True, hierarchical=True,
          references=_item_refs("ItemNonInventory")),
    _list("ItemInventory", name_space="item", external_guid=True, iterator=True, hierarchical=True, references={
        "ClassRef": _CLASS,
        "ParentRef": ("ItemInventory",),
        "SalesTaxCodeRef": _TAX,
        "IncomeAccountRef": _ACCOUNT,
        "PurchaseTaxCodeRef": _TAX,
        "COGSAccountRef": _ACCOUNT,
        "PrefVendorRef": ("Vendor",),
        "AssetAccountRef": _ACCOUNT,
    }),
    _list("ItemOtherCharge", name_space="item", external_guid=True, iterator=True, hierarchical=True,
          references=_item_refs("ItemOtherCharge")),
    _list("Class", external_guid=False, iterator=False, hierarchical=True, references={"ParentRef": _CLASS}),
    _list("StandardTerms", external_guid=False, iterator=False, mod=False),
    _list("Account", external_guid=False, iterator=False, hierarchical=True, references={
        "ParentRef": _ACCOUNT,
        "SalesTaxCodeRef": _TAX,
    }),
    _list("SalesTaxCode", external_guid=False, iterator=False),
    _txn("Invoice", lines=(*_item_lines("Invoice"), *_FIXED_LINES), references={
        "CustomerRef": ("Customer",),
        "ClassRef": _CLASS,
        "ARAccountRef": _ACCOUNT,
        "TermsRef": _TERMS,
        "CustomerSalesTaxCodeRef": _TAX,
        "LinkToTxnID": ("Estimate",),
        "SetCredit/CreditTxnID": ("CreditMemo",),
        **_sales_line_refs("Invoice"),
        "InvoiceLineAdd/LinkToTxn/TxnID": ("Estimate",),
        **_FIXED_LINE_REFS,
    }),
    _txn("Estimate", lines=_item_lines("Estimate"), references={
        "CustomerRef": ("Customer",),
        "ClassRef": _CLASS,
        "TermsRef": _TERMS,
        "CustomerSalesTaxCodeRef": _TAX,
        **_sales_line_refs("Estimate"),
    }),
    _txn("SalesReceipt", lines=(*_item_lines("SalesReceipt"), *_FIXED_LINES), references={
        "CustomerRef": ("Customer",),
        "ClassRef": _CLASS,
        "CustomerSalesTaxCodeRef": _TAX,
        "DepositToAccountRef": _ACCOUNT,
        **_sales_line_refs("SalesReceipt"),
        **_FIXED_LINE_REFS,
    }),
    _txn("ReceivePayment", lines=(
        # Applications are keyed by the TxnID of the transaction paid, not by a TxnLineID.
        LineAggregate("AppliedToTxn", "AppliedToTxnAdd", "AppliedToTxnMod", "AppliedToTxnRet",
                      id_field="TxnID", new_line_id=None),
    ), references={
        "CustomerRef": ("Customer",),
        "ARAccountRef": _ACCOUNT,
        "DepositToAccountRef": _ACCOUNT,
        "AppliedToTxnAdd/TxnID": ("Invoice",),
        "AppliedToTxnAdd/SetCredit/CreditTxnID": ("CreditMemo",),
        "AppliedToTxnAdd/DiscountAccountRef": _ACCOUNT,
        "AppliedToTxnAdd/DiscountClassRef": _CLASS,
    }),
    _txn("CreditMemo", lines=(*_item_lines("CreditMemo"), *_FIXED_LINES), references={
        "CustomerRef": ("Customer",),
        "ClassRef": _CLASS,
        "ARAccountRef": _ACCOUNT,
        "TermsRef": _TERMS,
        "CustomerSalesTaxCodeRef": _TAX,
        **_sales_line_refs("CreditMemo"),
        **_FIXED_LINE_REFS,
    }),
    _txn("Bill", lines=(
        LineAggregate("ExpenseLine", "ExpenseLineAdd", "ExpenseLineMod", "ExpenseLineRet",
                      clear_element="ClearExpenseLines"),
        LineAggregate("ItemLine", "ItemLineAdd", "ItemLineMod", "ItemLineRet", clear_element="ClearItemLines"),
        LineAggregate("ItemGroupLine", "ItemGroupLineAdd", "ItemGroupLineMod", "ItemGroupLineRet",
                      group=True, member_mod="ItemLineMod"),
    ), references={
        "VendorRef": ("Vendor",),
        "APAccountRef": _ACCOUNT,
        "TermsRef": _TERMS,
        "SalesTaxCodeRef": _TAX,
        "ExpenseLineAdd/AccountRef": _ACCOUNT,
        "ExpenseLineAdd/CustomerRef": ("Customer",),
        "ExpenseLineAdd/ClassRef": _CLASS,
        "ExpenseLineAdd/SalesTaxCodeRef": _TAX,
        "ItemLineAdd/ItemRef": ITEM_TYPES,
        "ItemLineAdd/CustomerRef": ("Customer",),
        "ItemLineAdd/ClassRef": _CLASS,
        "ItemLineAdd/SalesTaxCodeRef": _TAX,
        "ItemLineAdd/OverrideItemAccountRef": _ACCOUNT,
    }),
)

ENTITY_TYPES: Mapping[str, EntityType] = MappingProxyType({t.name: t for t in _TYPES})


class UnknownEntityType(InvalidInput, LookupError):
    """A type name that is not in the catalogue (exit code 3 on the command line)."""


def entity(name: str) -> EntityType:
    """The catalogue entry for ``name`` (case-insensitive, e.g. ``"Invoice"``, ``"invoice"``)."""
    found = ENTITY_TYPES.get(name)
    if found is None and isinstance(name, str):
        folded = name.strip().casefold()
        found = next((t for key, t in ENTITY_TYPES.items() if key.casefold() == folded), None)
    if found is None:
        raise UnknownEntityType(
            f"unknown object type {name!r}; supported types: {', '.join(ENTITY_TYPES)}"
        )
    return found


def name_space_types(name: str) -> tuple[str, ...]:
    """The list types whose names must be unique together with ``name``'s (itself included);
    empty for a transaction type."""
    space = entity(name).name_space
    return tuple(t.name for t in _TYPES if space and t.name_space == space)


def dependency_order(names: list[str] | tuple[str, ...] | None = None) -> list[str]:
    """``names`` (default: every type) ordered so that each type comes after the types it refers
    to, keeping catalogue order otherwise: send changes in this order and a reference never
    points at a record QuickBooks has not seen yet."""
    return list(_dependency_order(None if names is None else tuple(names)))


@functools.lru_cache(maxsize=64)
def _dependency_order(names: tuple[str, ...] | None) -> tuple[str, ...]:
    # The catalogue never changes while qbsync runs: each order is worked out once (a session
    # asks for the default one every time it plans a message).
    wanted = [entity(n).name for n in (names if names is not None else ENTITY_TYPES)]
    wanted_set = set(wanted)
    ordered: list[str] = []
    placed: set[str] = set()
    remaining = list(wanted)
    while remaining:
        for name in remaining:
            if (ENTITY_TYPES[name].dependencies() & wanted_set) <= placed:
                ordered.append(name)
                placed.add(name)
                remaining.remove(name)
                break
        else:  # a cycle: cannot happen with the catalogue above (the tests check it)
            raise ValueError(f"reference cycle among {', '.join(remaining)}")
    return tuple(ordered)
