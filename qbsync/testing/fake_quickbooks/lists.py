"""List records in FakeQuickBooks: Add, Mod, ListDel for Customer (and jobs), Vendor,
Employee, the four item types, Class, StandardTerms, Account and SalesTaxCode."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from qbsync.testing.fake_quickbooks import catalog, status
from qbsync.testing.fake_quickbooks.catalog import TypeInfo
from qbsync.testing.fake_quickbooks.records import (
    Ctx,
    check_editable,
    check_lock,
    check_unique_name,
    deep,
    full_name,
    lookup,
    merge,
    ref_to,
    references,
    resolve_refs,
    stamp_modified,
    stamp_new,
)

_PLURAL = {"Customer": "Customers", "Item": "Items", "Account": "Accounts", "Class": "Classes"}

# Add fields that QuickBooks turns into something else (an opening-balance transaction, the
# on-hand value) rather than keeping them on the record.
_ADD_ONLY = ("OpenBalance", "OpenBalanceDate", "TotalValue", "InventoryDate", "BarCode", "Contacts", "AdditionalNotes", "TaxLineID")

_CASH_FLOW = {
    "Bank": "NotApplicable",
    "AccountsReceivable": "Operating",
    "AccountsPayable": "Operating",
    "OtherCurrentAsset": "Operating",
    "OtherCurrentLiability": "Operating",
    "CreditCard": "Operating",
    "FixedAsset": "Investing",
    "OtherAsset": "Investing",
    "LongTermLiability": "Financing",
    "Equity": "Financing",
}


NAME_LIMIT = 41  # EmployeeRet/Name; EmployeeAdd/Name itself has no limit in the schema
_SSN = re.compile(r"^(\d{3})-?(\d{2})-?(\d{4})$")


def employee_name(data: Mapping) -> str:
    """The name QuickBooks shows for an employee added without one: first, middle, last."""
    parts = [data.get(k) for k in ("FirstName", "MiddleName", "LastName")]
    return " ".join(str(p) for p in parts if p)[:NAME_LIMIT].strip()


def _check_employee(rec: dict, given_name: Any) -> None:
    if given_name and len(str(given_name)) > NAME_LIMIT:
        raise status.invalid_value("Name", str(given_name), f"The name is longer than {NAME_LIMIT} characters.")
    ssn = rec.get("SSN")
    if ssn:
        m = _SSN.match(str(ssn).strip())
        if m is None:
            raise status.invalid_value("SSN", str(ssn), "A social security number has nine digits (NNN-NN-NNNN).")
        rec["SSN"] = "-".join(m.groups())


def _parent(ctx: Ctx, info: TypeInfo, ref: Any) -> dict | None:
    """The resolved ParentRef (3130 when it names nothing), or None for a top-level record."""
    if not isinstance(ref, Mapping) or not (ref.get("ListID") or ref.get("FullName")):
        return None
    found = lookup(ctx.company, catalog.parent_types(info), ref)
    if found is None:
        raise status.invalid_parent(str(ref.get("FullName") or ref.get("ListID")), _PLURAL.get(info.label, info.label + "s"))
    return ref_to(ctx.company, found[0], found[1])


def _qualified(parent: Mapping | None, name: str) -> str:
    return f"{parent['FullName']}:{name}" if parent else name


def add(ctx: Ctx, type_name: str, data: Mapping, *, seed: bool = False) -> dict:
    info = catalog.get(type_name)
    data = dict(data)
    name = str(data.get("Name") or (employee_name(data) if type_name == "Employee" else "")).strip()
    if not name:
        raise status.invalid_value("Name", "", "A name is required.")
    parent = _parent(ctx, info, data.get("ParentRef")) if info.hierarchical else None
    check_unique_name(ctx, info, _qualified(parent, name))
    given_id = data.pop("ListID", None)  # only the in-QuickBooks API can choose an ID (seeding)
    if given_id and ctx.company.locate(str(given_id)) is not None:
        raise status.id_in_use("ListID", str(given_id))
    rec: dict[str, Any] = {"ListID": str(given_id) if given_id else ctx.ids.list_id(ctx.now, seed=seed)}
    stamp_new(ctx, rec)
    rec.update(resolve_refs(ctx, data, info.name, skip=("ParentRef", *_ADD_ONLY)))
    rec["Name"] = name
    rec.setdefault("IsActive", "true")
    if parent:
        rec["ParentRef"] = parent
    if data.get("OpenBalance"):
        rec["_open_balance"] = str(data["OpenBalance"])
    if type_name == "Employee":
        _check_employee(rec, data.get("Name"))
    _defaults(ctx, info, rec, data)
    rec["FullName"] = full_name(ctx.company, type_name, rec)
    ctx.company.put(type_name, rec)
    return rec


def _default_ref(ctx: Ctx, types: tuple[str, ...], name: str) -> dict | None:
    found = lookup(ctx.company, types, {"FullName": name})
    return ref_to(ctx.company, found[0], found[1]) if found else None


def _defaults(ctx: Ctx, info: TypeInfo, rec: dict, data: Mapping) -> None:
    """The fields QuickBooks fills in on a new record of each type."""
    name = info.name
    if name == "Customer":
        rec.setdefault("JobStatus", "None")
        rec.setdefault("PreferredDeliveryMethod", "None")
        if "SalesTaxCodeRef" not in rec:
            ref = _default_ref(ctx, ("SalesTaxCode",), "Tax")
            if ref:
                rec["SalesTaxCodeRef"] = ref
    elif name == "Vendor":
        rec.setdefault("IsVendorEligibleFor1099", "false")
    elif info.is_item:
        if "SalesTaxCodeRef" not in rec:
            ref = _default_ref(ctx, ("SalesTaxCode",), "Non" if name in ("ItemService", "ItemOtherCharge") else "Tax")
            if ref:
                rec["SalesTaxCodeRef"] = ref
        if name == "ItemInventory":
            rec.setdefault("SalesPrice", "0.00")
            rec.setdefault("PurchaseCost", "0.00")
            rec.setdefault("QuantityOnHand", "0")
            rec["AverageCost"] = rec["PurchaseCost"]
            rec.setdefault("QuantityOnOrder", "0")
            rec.setdefault("QuantityOnSalesOrder", "0")
    elif name == "Account":
        rec.setdefault("CashFlowClassification", _CASH_FLOW.get(str(rec.get("AccountType")), "None"))
    elif name == "StandardTerms":
        rec.setdefault("StdDueDays", "0")
        rec.setdefault("StdDiscountDays", "0")
        rec.setdefault("DiscountPct", "0.00")


def mod(ctx: Ctx, type_name: str, data: Mapping) -> dict:
    info = catalog.get(type_name)
    rec = check_editable(ctx, info, str(data.get("ListID")), data.get("EditSequence"))
    changes = {k: v for k, v in data.items() if k not in ("ListID", "EditSequence", "ParentRef", *_ADD_ONLY)}
    name = str(changes.pop("Name", None) or rec.get("Name"))
    if type_name == "Employee" and "Name" not in data and any(k in data for k in ("FirstName", "MiddleName", "LastName")):
        merged = {**rec, **{k: data[k] for k in ("FirstName", "MiddleName", "LastName") if k in data}}
        name = employee_name(merged) or name
    parent = rec.get("ParentRef")
    if info.hierarchical and "ParentRef" in data:
        parent = _parent(ctx, info, data.get("ParentRef"))
        if parent and (parent["ListID"] == rec["ListID"] or _is_descendant(ctx, info, parent["ListID"], rec["ListID"])):
            raise status.invalid_parent(parent["FullName"], _PLURAL.get(info.label, info.label + "s"))
    check_unique_name(ctx, info, _qualified(parent, name), exclude_id=rec["ListID"])
    updated = deep(rec)
    merge(updated, resolve_refs(ctx, changes, info.name), ctx.ret_decl(info.ret))
    if type_name == "Employee":
        _check_employee(updated, data.get("Name"))
    rec.clear()
    rec.update(updated)
    rec["Name"] = name
    if parent:
        rec["ParentRef"] = parent
    else:
        rec.pop("ParentRef", None)
    if type_name == "ItemInventory" and "PurchaseCost" in changes:
        rec["AverageCost"] = rec.get("PurchaseCost", "0.00")
    stamp_modified(ctx, rec)
    rec["FullName"] = full_name(ctx.company, type_name, rec)
    ctx.company.touch(type_name, rec)
    _refresh_descendants(ctx, info, rec["ListID"])
    return rec


def _children(ctx: Ctx, info: TypeInfo, list_id: str) -> list[tuple[str, dict]]:
    return ctx.company.index.children(catalog.parent_types(info), list_id)


def _is_descendant(ctx: Ctx, info: TypeInfo, candidate: str, ancestor: str) -> bool:
    return any(rec["ListID"] == candidate or _is_descendant(ctx, info, candidate, rec["ListID"]) for _, rec in _children(ctx, info, ancestor))


def _refresh_descendants(ctx: Ctx, info: TypeInfo, list_id: str) -> None:
    """A parent's new name cascades into its children's FullName (and their children's)."""
    if not info.hierarchical:
        return
    found = ctx.company.locate(list_id, catalog.parent_types(info))
    if found is None:
        return
    parent_ref = ref_to(ctx.company, found[0], found[1])
    for t, child in _children(ctx, info, list_id):
        child["ParentRef"] = dict(parent_ref)
        child["FullName"] = full_name(ctx.company, t, child)
        ctx.company.touch(t, child)
        _refresh_descendants(ctx, catalog.get(t), child["ListID"])


def delete(ctx: Ctx, type_name: str, list_id: str) -> dict:
    """ListDel: 3120 for an unknown ListID; a record other records use (a customer with
    invoices or jobs, an item on a line) cannot be deleted (make it inactive instead)."""
    info = catalog.get(type_name)
    rec = ctx.company.get(type_name, list_id)
    if rec is None:
        raise status.not_found(list_id)
    check_lock(ctx, info, list_id)
    for t in catalog.TYPES:
        for other in ctx.company.records(t).values():
            if other is not rec and references(other, list_id):
                raise status.cannot_delete(f"{info.label} list", list_id)
    name = full_name(ctx.company, type_name, rec)
    ctx.company.remove(type_name, list_id)
    entry = {
        "kind": "list",
        "ListDelType": type_name,
        "ListID": list_id,
        "TimeCreated": rec.get("TimeCreated"),
        "TimeDeleted": ctx.stamp,
        "FullName": name,
    }
    ctx.company.deleted.append(entry)
    return entry


def make_inactive(ctx: Ctx, type_name: str, list_id: str) -> dict:
    rec = ctx.company.get(type_name, list_id)
    if rec is None:
        raise status.not_found(list_id)
    return mod(ctx, type_name, {"ListID": list_id, "EditSequence": rec["EditSequence"], "IsActive": "false"})


SEED: list[tuple[str, dict]] = [
    # What a new QuickBooks company file already holds, so that ordinary requests resolve.
    ("SalesTaxCode", {"Name": "Tax", "IsTaxable": "true", "Desc": "Taxable Sales"}),
    ("SalesTaxCode", {"Name": "Non", "IsTaxable": "false", "Desc": "Non-Taxable Sales"}),
    ("Account", {"Name": "Checking", "AccountType": "Bank"}),
    ("Account", {"Name": "Accounts Receivable", "AccountType": "AccountsReceivable", "SpecialAccountType": "AccountsReceivable"}),
    ("Account", {"Name": "Undeposited Funds", "AccountType": "OtherCurrentAsset", "SpecialAccountType": "UndepositedFunds"}),
    ("Account", {"Name": "Inventory Asset", "AccountType": "OtherCurrentAsset", "SpecialAccountType": "InventoryAssets"}),
    ("Account", {"Name": "Accounts Payable", "AccountType": "AccountsPayable", "SpecialAccountType": "AccountsPayable"}),
    ("Account", {"Name": "Sales", "AccountType": "Income"}),
    ("Account", {"Name": "Services", "AccountType": "Income"}),
    ("Account", {"Name": "Cost of Goods Sold", "AccountType": "CostOfGoodsSold", "SpecialAccountType": "CostOfGoodsSold"}),
    ("Account", {"Name": "Office Supplies", "AccountType": "Expense"}),
    ("StandardTerms", {"Name": "Due on receipt", "StdDueDays": "0"}),
    ("StandardTerms", {"Name": "Net 15", "StdDueDays": "15"}),
    ("StandardTerms", {"Name": "Net 30", "StdDueDays": "30"}),
]


def seed(ctx: Ctx) -> None:
    for type_name, data in SEED:
        add(ctx, type_name, deep(data), seed=True)
