"""Values QuickBooks computes from other records, derived whenever a record is returned:
balances, what was applied to an invoice, FullName/Sublevel of jobs and sub-items, and the
current FullName inside every Ref (a renamed customer shows its new name on old invoices)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from qbsync.testing.fake_quickbooks import catalog
from qbsync.testing.fake_quickbooks.company_data import Company
from qbsync.testing.fake_quickbooks.records import address_block, dec, full_name, money

ZERO = Decimal("0")


def _d(value: Any) -> Decimal:
    return dec(value) or ZERO


def applications(company: Company, txn_id: str, exclude_payment: str | None = None) -> list[tuple[dict, dict]]:
    """(payment, application) pairs applied to the transaction `txn_id`."""
    out = []
    for payment in company.index.payments_applied_to(txn_id):
        if payment["TxnID"] == exclude_payment:
            continue
        for app in payment.get("_applied", []):
            if app["TxnID"] == txn_id:
                out.append((payment, app))
    return out


def applied_total(company: Company, txn_id: str, exclude_payment: str | None = None) -> Decimal:
    return sum((_d(a.get("Amount")) + _d(a.get("DiscountAmount")) for _, a in applications(company, txn_id, exclude_payment)), ZERO)


def invoice_total(rec: Mapping) -> Decimal:
    return _d(rec.get("Subtotal")) + _d(rec.get("SalesTaxTotal"))


def invoice_balance(company: Company, rec: Mapping, exclude_payment: str | None = None) -> Decimal:
    return invoice_total(rec) - applied_total(company, rec["TxnID"], exclude_payment)


def unused_payment(rec: Mapping) -> Decimal:
    return _d(rec.get("TotalAmount")) - sum((_d(a.get("Amount")) for a in rec.get("_applied", [])), ZERO)


def _own_balance(company: Company, list_id: str) -> Decimal:
    total = ZERO
    cust = company.get("Customer", list_id)
    if cust is not None:
        total += _d(cust.get("_open_balance"))
    for inv in company.index.of_entity("Invoice", list_id):
        total += invoice_balance(company, inv)
    for memo in company.index.of_entity("CreditMemo", list_id):
        total -= _d(memo.get("TotalAmount"))
    for pay in company.index.of_entity("ReceivePayment", list_id):
        total -= unused_payment(pay)
    return total


def _total_balance(company: Company, list_id: str, own: Decimal | None = None) -> Decimal:
    """The customer's balance (`own`, when already known) plus its jobs' total balances."""
    total = _own_balance(company, list_id) if own is None else own
    for _, child in company.index.children(("Customer",), list_id):
        total += _total_balance(company, child["ListID"])
    return total


def _vendor_balance(company: Company, list_id: str) -> Decimal:
    vendor = company.get("Vendor", list_id) or {}
    total = _d(vendor.get("_open_balance"))
    for bill in company.index.of_entity("Bill", list_id):
        total += _d(bill.get("AmountDue"))
    return total


# Which transaction lines move stock, and which way.
_STOCK_MOVES = (("Bill", "ItemLineRet", 1), ("Invoice", "InvoiceLineRet", -1), ("SalesReceipt", "SalesReceiptLineRet", -1),
                ("CreditMemo", "CreditMemoLineRet", 1))


def quantity_on_hand(company: Company, rec: Mapping) -> str:
    """The starting quantity plus bills, less invoices and sales receipts, plus credit memos."""
    qty = _d(rec.get("QuantityOnHand"))
    for type_name, line_key, sign in _STOCK_MOVES:
        for txn in company.index.with_item(type_name, rec["ListID"]):
            for line in txn.get(line_key, []):
                if (line.get("ItemRef") or {}).get("ListID") == rec["ListID"]:
                    qty += sign * _d(line.get("Quantity") or "1")
    text = format(qty.normalize(), "f")
    return text


def _refresh_refs(company: Company, value: Any, owner: catalog.TypeInfo) -> Any:
    if isinstance(value, list):
        return [_refresh_refs(company, v, owner) for v in value]
    if not isinstance(value, Mapping):
        return value
    out = {}
    for key, v in value.items():
        targets = catalog.REF_TARGETS.get(key) or (catalog.parent_types(owner) if key == "ParentRef" else None)
        if targets and isinstance(v, Mapping) and v.get("ListID"):
            found = company.locate(v["ListID"], targets)
            out[key] = {"ListID": v["ListID"], "FullName": full_name(company, found[0], found[1])} if found else dict(v)
        elif isinstance(v, (Mapping, list)):
            out[key] = _refresh_refs(company, v, owner)
        else:
            out[key] = v
    return out


def derive(company: Company, type_name: str, rec: Mapping) -> dict:
    """The record as QuickBooks returns it right now (a copy; private keys kept)."""
    info = catalog.get(type_name)
    out = _refresh_refs(company, rec, info)
    for address in ("BillAddress", "ShipAddress", "VendorAddress"):
        block = address_block(rec.get(address))
        if block:
            out[address + "Block"] = block
    if info.hierarchical:
        out["FullName"] = full_name(company, type_name, rec)
        out["Sublevel"] = str(out["FullName"].count(":"))
    elif info.is_list:
        out["FullName"] = rec.get("Name", "")
    if type_name == "Customer":
        own = _own_balance(company, rec["ListID"])
        out["Balance"] = money(own)
        out["TotalBalance"] = money(_total_balance(company, rec["ListID"], own))
    elif type_name == "Vendor":
        out["Balance"] = money(_vendor_balance(company, rec["ListID"]))
    elif type_name == "ItemInventory":
        out["QuantityOnHand"] = quantity_on_hand(company, rec)
    elif type_name == "Account":
        balance = _d(rec.get("_open_balance"))
        out["Balance"] = money(balance)
        out["TotalBalance"] = money(balance)
    elif type_name == "Invoice":
        applied = applied_total(company, rec["TxnID"])
        balance = invoice_total(rec) - applied
        out["AppliedAmount"] = money(-applied)
        out["BalanceRemaining"] = money(balance)
        out["IsPaid"] = "true" if balance <= 0 else "false"
    elif type_name == "CreditMemo":
        out["CreditRemaining"] = money(_d(rec.get("TotalAmount")))
    elif type_name == "Bill":
        out["OpenAmount"] = money(_d(rec.get("AmountDue")))
        out["IsPaid"] = "false" if _d(rec.get("AmountDue")) > 0 else "true"
    elif type_name == "ReceivePayment":
        out["UnusedPayment"] = money(unused_payment(rec))
        out["UnusedCredits"] = "0.00"
        out["AppliedToTxnRet"] = [_applied_ret(company, app) for app in rec.get("_applied", [])]
    return out


def _applied_ret(company: Company, app: Mapping) -> dict:
    ret: dict[str, Any] = {"TxnID": app["TxnID"], "TxnType": "Invoice"}
    inv = company.get("Invoice", app["TxnID"])
    if inv is not None:
        ret["TxnDate"] = inv.get("TxnDate")
        if inv.get("RefNumber"):
            ret["RefNumber"] = inv["RefNumber"]
        ret["BalanceRemaining"] = money(invoice_balance(company, inv))
    ret["Amount"] = app["Amount"]
    if app.get("DiscountAmount"):
        ret["DiscountAmount"] = app["DiscountAmount"]
    return ret


def linked_txns(company: Company, type_name: str, rec: Mapping) -> list[dict]:
    """An invoice's LinkedTxn entries: the payments applied to it (IncludeLinkedTxns)."""
    if type_name != "Invoice":
        return []
    out = []
    for payment, app in applications(company, rec["TxnID"]):
        entry = {"TxnID": payment["TxnID"], "TxnType": "ReceivePayment", "TxnDate": payment.get("TxnDate")}
        if payment.get("RefNumber"):
            entry["RefNumber"] = payment["RefNumber"]
        entry["LinkType"] = "AMTTYPE"
        entry["Amount"] = money(-_d(app.get("Amount")))
        out.append(entry)
    return out
