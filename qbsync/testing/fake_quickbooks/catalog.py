"""What FakeQuickBooks knows about each supported object type: list or transaction, its Ret
element, which names must be unique together, which Refs point where, and its line kinds.

Structure (element names, order, cardinalities) always comes from the schema; this catalogue
only holds the business facts the schema cannot express.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

LIST, TXN = "list", "txn"


@dataclass(frozen=True)
class TypeInfo:
    name: str  # "Customer", also the ListDelType / TxnDelType value
    kind: str  # LIST | TXN
    namespace: str = ""  # names unique within a namespace (lists only)
    hierarchical: bool = False  # ParentRef, FullName "Parent:Child", Sublevel
    label: str = ""  # how QuickBooks names the list in messages ("Customer", "Item", "Terms")
    lines: tuple[str, ...] = ()  # line kinds, e.g. ("InvoiceLine",): InvoiceLineAdd/Mod/Ret
    entity_ref: str = ""  # transactions: the Ref naming their customer or vendor

    @property
    def ret(self) -> str:
        return self.name + "Ret"

    @property
    def is_list(self) -> bool:
        return self.kind == LIST

    @property
    def is_item(self) -> bool:
        return self.namespace == "item"

    @property
    def id_field(self) -> str:
        return "ListID" if self.kind == LIST else "TxnID"


ENTITY_TYPES = ("Customer", "Vendor", "Employee")
ITEM_TYPES = ("ItemService", "ItemNonInventory", "ItemInventory", "ItemOtherCharge")

_TYPES = [
    TypeInfo("Customer", LIST, "entity", True, "Customer"),
    TypeInfo("Vendor", LIST, "entity", False, "Vendor"),
    TypeInfo("Employee", LIST, "entity", False, "Employee"),
    *(TypeInfo(t, LIST, "item", True, "Item") for t in ITEM_TYPES),
    TypeInfo("Class", LIST, "Class", True, "Class"),
    TypeInfo("StandardTerms", LIST, "terms", False, "Terms"),
    TypeInfo("Account", LIST, "Account", True, "Account"),
    TypeInfo("SalesTaxCode", LIST, "SalesTaxCode", False, "Sales Tax Code"),
    TypeInfo("Invoice", TXN, lines=("InvoiceLine",), entity_ref="CustomerRef", label="Invoice"),
    TypeInfo("Estimate", TXN, lines=("EstimateLine",), entity_ref="CustomerRef", label="Estimate"),
    TypeInfo("SalesReceipt", TXN, lines=("SalesReceiptLine",), entity_ref="CustomerRef", label="SalesReceipt"),
    TypeInfo("CreditMemo", TXN, lines=("CreditMemoLine",), entity_ref="CustomerRef", label="CreditMemo"),
    TypeInfo("ReceivePayment", TXN, entity_ref="CustomerRef", label="ReceivePayment"),
    TypeInfo("Bill", TXN, lines=("ExpenseLine", "ItemLine"), entity_ref="VendorRef", label="Bill"),
]

TYPES: dict[str, TypeInfo] = {t.name: t for t in _TYPES}
LIST_TYPES = tuple(t.name for t in _TYPES if t.kind == LIST)
TXN_TYPES = tuple(t.name for t in _TYPES if t.kind == TXN)

# Which types a Ref may point at. Refs not listed here (TemplateRef, SalesRepRef,
# PaymentMethodRef, ...) name lists the fake does not model: they are kept as sent.
_ACCOUNT = ("Account",)
REF_TARGETS: dict[str, tuple[str, ...]] = {
    "CustomerRef": ("Customer",),
    "VendorRef": ("Vendor",),
    "PrefVendorRef": ("Vendor",),
    "SupervisorRef": ("Employee",),
    "ItemRef": ITEM_TYPES,
    "ClassRef": ("Class",),
    "DiscountClassRef": ("Class",),
    "TermsRef": ("StandardTerms",),
    "SalesTaxCodeRef": ("SalesTaxCode",),
    "CustomerSalesTaxCodeRef": ("SalesTaxCode",),
    "PurchaseTaxCodeRef": ("SalesTaxCode",),
    "AccountRef": _ACCOUNT,
    "IncomeAccountRef": _ACCOUNT,
    "ExpenseAccountRef": _ACCOUNT,
    "COGSAccountRef": _ACCOUNT,
    "AssetAccountRef": _ACCOUNT,
    "ARAccountRef": _ACCOUNT,
    "APAccountRef": _ACCOUNT,
    "DepositToAccountRef": _ACCOUNT,
    "OverrideItemAccountRef": _ACCOUNT,
    "DiscountAccountRef": _ACCOUNT,
}


def get(name: str) -> TypeInfo:
    try:
        return TYPES[name]
    except KeyError:
        raise KeyError(f"FakeQuickBooks does not model {name!r}; supported: {', '.join(TYPES)}") from None


@functools.cache
def namespace_types(info: TypeInfo) -> tuple[str, ...]:
    """The types whose names share `info`'s namespace (Customer/Vendor/Employee share one)."""
    return tuple(t.name for t in _TYPES if t.kind == LIST and t.namespace == info.namespace)


def parent_types(info: TypeInfo) -> tuple[str, ...]:
    """Where a ParentRef of `info` may point: the same list (any item type for items)."""
    return ITEM_TYPES if info.is_item else (info.name,)
