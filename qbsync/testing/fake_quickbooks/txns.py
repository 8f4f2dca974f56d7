"""Transactions in FakeQuickBooks: Add, Mod, TxnDel for Invoice, Estimate, SalesReceipt,
CreditMemo, Bill and ReceivePayment, with the amounts QuickBooks computes.

* Line Amount = Quantity × Rate when no Amount is given (the item's price when no Rate
  either); a line with only an Amount gets Rate = Amount.
* Subtotal = the sum of the lines; no sales tax is modelled (SalesTaxTotal 0.00), so
  TotalAmount = Subtotal.
* Mod: header fields sent replace; when any line of a kind is sent, that kind's lines become
  exactly the lines sent: a known TxnLineID keeps (and updates) its line, ``-1`` adds one,
  lines left out are deleted, an unknown TxnLineID is an error.
* ReceivePayment: AppliedToTxnAdd applies to open invoices of the customer (3210 when more
  than the open balance), IsAutoApply applies to the oldest open invoices, the rest stays as
  UnusedPayment.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from qbsync.testing.fake_quickbooks import catalog, status
from qbsync.testing.fake_quickbooks.catalog import TypeInfo
from qbsync.testing.fake_quickbooks.derive import invoice_balance
from qbsync.testing.fake_quickbooks.ids import NEW_LINE_ID, add_days, check_object_id
from qbsync.testing.fake_quickbooks.records import (
    Ctx,
    as_list,
    check_editable,
    check_lock,
    dec,
    deep,
    is_true,
    lookup,
    merge,
    money,
    price,
    ref_to,
    resolve_refs,
    stamp_modified,
    stamp_new,
)

ZERO = Decimal("0")
_AUTO_REF_NUMBER = ("Invoice", "Estimate", "SalesReceipt", "CreditMemo")
_LINE_ONLY = ("LinkToTxn", "DataExt", "PriceLevelRef", "OptionForPriceRuleConflict", "defMacro")
_HEADER_ONLY = ("LinkToTxnID", "SetCredit", "IsAutoApply", "ClearExpenseLines", "ClearItemLines", "defMacro", "CreditCardTxnInfoMod")


def _where(info: TypeInfo, line: bool = False) -> str:
    return f"{info.label} line" if line else info.label


def _item_price(item: Mapping | None, purchase: bool) -> Decimal | None:
    if not item:
        return None
    if purchase:
        candidates = [item.get("PurchaseCost"), (item.get("SalesAndPurchase") or {}).get("PurchaseCost"), (item.get("SalesOrPurchase") or {}).get("Price")]
    else:
        candidates = [item.get("SalesPrice"), (item.get("SalesAndPurchase") or {}).get("SalesPrice"), (item.get("SalesOrPurchase") or {}).get("Price")]
    for c in candidates:
        if dec(c) is not None:
            return dec(c)
    return None


def _item_desc(item: Mapping | None, purchase: bool) -> str | None:
    if not item:
        return None
    sp = item.get("SalesAndPurchase") or {}
    so = item.get("SalesOrPurchase") or {}
    if purchase:
        return item.get("PurchaseDesc") or sp.get("PurchaseDesc") or so.get("Desc")
    return item.get("SalesDesc") or sp.get("SalesDesc") or so.get("Desc")


def _compute_line(ctx: Ctx, kind: str, line: dict, recompute_amount: bool) -> None:
    """Fill Rate/Cost and Amount the way QuickBooks does; `recompute_amount` when Quantity
    or Rate changed and no Amount was sent."""
    if kind == "ExpenseLine":
        line["Amount"] = money(dec(line.get("Amount")) or ZERO)
        return
    purchase = kind == "ItemLine"
    rate_key = "Cost" if purchase else "Rate"
    item = None
    ref = line.get("ItemRef")
    if isinstance(ref, Mapping) and ref.get("ListID"):
        found = ctx.company.locate(ref["ListID"], catalog.ITEM_TYPES)
        item = found[1] if found else None
    if item is not None:
        if "Desc" not in line and _item_desc(item, purchase):
            line["Desc"] = _item_desc(item, purchase)
        if "SalesTaxCodeRef" not in line and not purchase and item.get("SalesTaxCodeRef"):
            line["SalesTaxCodeRef"] = deep(item["SalesTaxCodeRef"])
    if line.get("RatePercent"):
        line["Amount"] = money(dec(line.get("Amount")) or ZERO)
        return
    q, r = dec(line.get("Quantity")), dec(line.get(rate_key))
    a = None if recompute_amount else dec(line.get("Amount"))
    if r is None and a is None:
        r = _item_price(item, purchase)
    if a is None:
        if r is None:
            if item is None:
                return  # a description-only line
            r = ZERO
        a = (q if q is not None else Decimal(1)) * r
    elif r is None:
        r = a / q if q else a
    line[rate_key] = price(r)
    line["Amount"] = money(a)


def _new_line(ctx: Ctx, info: TypeInfo, kind: str, data: Mapping) -> dict:
    line: dict[str, Any] = {"TxnLineID": ctx.ids.txn_id(ctx.now)}
    line.update(resolve_refs(ctx, {k: v for k, v in data.items() if k != "TxnLineID"}, _where(info, True), skip=_LINE_ONLY))
    _compute_line(ctx, kind, line, recompute_amount=False)
    return line


def _mod_lines(ctx: Ctx, info: TypeInfo, kind: str, current: list[dict], mods: list[Mapping]) -> list[dict]:
    by_id = {line["TxnLineID"]: line for line in current}
    out = []
    for m in mods:
        line_id = str(m.get("TxnLineID", NEW_LINE_ID))
        if line_id == NEW_LINE_ID:
            out.append(_new_line(ctx, info, kind, m))
            continue
        existing = by_id.get(check_object_id("TxnLineID", line_id))
        if existing is None:
            raise status.not_found(line_id)
        line = deep(existing)
        changes = resolve_refs(ctx, {k: v for k, v in m.items() if k != "TxnLineID"}, _where(info, True), skip=_LINE_ONLY)
        merge(line, changes, ctx.ret_decl(info.ret, f"{kind}Ret"))
        rate_key = "Cost" if kind == "ItemLine" else "Rate"
        recompute = "Amount" not in changes and ("Quantity" in changes or rate_key in changes)
        if "Amount" in changes and rate_key not in changes:
            line.pop(rate_key, None)
        _compute_line(ctx, kind, line, recompute_amount=recompute)
        out.append(line)
    return out


def _totals(info: TypeInfo, rec: dict) -> None:
    if info.name == "Bill":
        total = sum((dec(line.get("Amount")) or ZERO for kind in info.lines for line in rec.get(f"{kind}Ret", [])), ZERO)
        rec["AmountDue"] = money(total)
        return
    if not info.lines:
        return
    subtotal = sum((dec(line.get("Amount")) or ZERO for line in rec.get(f"{info.lines[0]}Ret", [])), ZERO)
    rec["Subtotal"] = money(subtotal)
    rec["SalesTaxPercentage"] = "0.00"
    rec["SalesTaxTotal"] = "0.00"
    if info.name != "Invoice":
        rec["TotalAmount"] = money(subtotal)


def _account_ref(ctx: Ctx, name: str) -> dict | None:
    found = lookup(ctx.company, ("Account",), {"FullName": name})
    return ref_to(ctx.company, "Account", found[1]) if found else None


def _next_ref_number(ctx: Ctx, type_name: str) -> str:
    return str(ctx.company.index.max_ref_number(type_name) + 1)


def _due_days(ctx: Ctx, rec: Mapping) -> int:
    terms = rec.get("TermsRef")
    if isinstance(terms, Mapping) and terms.get("ListID"):
        found = ctx.company.get("StandardTerms", terms["ListID"])
        if found and str(found.get("StdDueDays", "0")).lstrip("-").isdigit():
            return int(found["StdDueDays"])
    return 0


def _defaults(ctx: Ctx, info: TypeInfo, rec: dict, data: Mapping) -> None:
    name = info.name
    rec.setdefault("TxnDate", ctx.today)
    if name in _AUTO_REF_NUMBER and not rec.get("RefNumber"):
        rec["RefNumber"] = _next_ref_number(ctx, name)
    if name in ("Invoice", "CreditMemo", "ReceivePayment") and "ARAccountRef" not in rec:
        ref = _account_ref(ctx, "Accounts Receivable")
        if ref:
            rec["ARAccountRef"] = ref
    if name == "Bill" and "APAccountRef" not in rec:
        ref = _account_ref(ctx, "Accounts Payable")
        if ref:
            rec["APAccountRef"] = ref
    if name in ("SalesReceipt", "ReceivePayment") and "DepositToAccountRef" not in rec:
        ref = _account_ref(ctx, "Undeposited Funds")
        if ref:
            rec["DepositToAccountRef"] = ref
    if name in ("Invoice", "Bill", "SalesReceipt") and not rec.get("DueDate"):
        rec["DueDate"] = add_days(rec["TxnDate"], _due_days(ctx, rec))
    if name in ("Invoice", "SalesReceipt") and not rec.get("ShipDate"):
        rec["ShipDate"] = rec["TxnDate"]
    if name in ("Invoice", "CreditMemo", "SalesReceipt"):
        rec.setdefault("IsPending", "false")
        rec.setdefault("IsToBePrinted", "false")
        rec.setdefault("IsToBeEmailed", "false")
    if name == "Invoice":
        rec.setdefault("IsFinanceCharge", "false")
    if name == "Estimate":
        rec.setdefault("IsActive", "true")
        rec.setdefault("IsToBeEmailed", "false")
    if info.entity_ref == "CustomerRef" and name != "ReceivePayment" and "CustomerSalesTaxCodeRef" not in rec:
        customer = ctx.company.get("Customer", rec["CustomerRef"]["ListID"])
        if customer and customer.get("SalesTaxCodeRef"):
            rec["CustomerSalesTaxCodeRef"] = deep(customer["SalesTaxCodeRef"])


def _require_entity(info: TypeInfo, resolved: Mapping) -> None:
    """A transaction always names its customer or vendor: an empty Ref is an invalid one."""
    if not isinstance(resolved.get(info.entity_ref), Mapping):
        label = catalog.get(catalog.REF_TARGETS[info.entity_ref][0]).label
        raise status.invalid_ref(label, "", info.label)


def add(ctx: Ctx, type_name: str, data: Mapping) -> dict:
    info = catalog.get(type_name)
    line_keys = tuple(f"{kind}Add" for kind in info.lines)
    header = resolve_refs(ctx, data, _where(info), skip=(*line_keys, *_HEADER_ONLY, "AppliedToTxnAdd", "TxnID"))
    _require_entity(info, header)
    given_id = data.get("TxnID")  # only the in-QuickBooks API can choose an ID (seeding)
    if given_id and ctx.company.locate(str(given_id)) is not None:
        raise status.id_in_use("TxnID", str(given_id))
    rec: dict[str, Any] = {"TxnID": str(given_id) if given_id else ctx.ids.txn_id(ctx.now)}
    stamp_new(ctx, rec)
    rec["TxnNumber"] = str(ctx.ids.txn_number())
    rec.update(header)
    for kind in info.lines:
        rec[f"{kind}Ret"] = [_new_line(ctx, info, kind, line) for line in as_list(data.get(f"{kind}Add"))]
    _defaults(ctx, info, rec, data)
    _totals(info, rec)
    if type_name == "ReceivePayment":
        _apply_payment(ctx, rec, as_list(data.get("AppliedToTxnAdd")), is_true(data.get("IsAutoApply", "")), data.get("TotalAmount"))
    ctx.company.put(type_name, rec)
    return rec


def mod(ctx: Ctx, type_name: str, data: Mapping) -> dict:
    info = catalog.get(type_name)
    rec = check_editable(ctx, info, str(data.get("TxnID")), data.get("EditSequence"))
    line_keys = tuple(f"{kind}Mod" for kind in info.lines)
    changes = resolve_refs(ctx, data, _where(info), skip=("TxnID", "EditSequence", *line_keys, *_HEADER_ONLY, "AppliedToTxnMod"))
    if info.entity_ref in data:
        _require_entity(info, changes)
    new_lines = {}
    for kind in info.lines:
        mods = as_list(data.get(f"{kind}Mod"))
        cleared = is_true(data.get("ClearExpenseLines" if kind == "ExpenseLine" else "ClearItemLines", "")) if type_name == "Bill" else False
        if mods or cleared:
            new_lines[f"{kind}Ret"] = _mod_lines(ctx, info, kind, [] if cleared and not mods else rec.get(f"{kind}Ret", []), mods)
    updated = deep(rec)
    merge(updated, changes, ctx.ret_decl(info.ret))
    updated.update(new_lines)
    _totals(info, updated)
    if type_name == "ReceivePayment":
        applied = as_list(data.get("AppliedToTxnMod"))
        if applied or "TotalAmount" in data:
            _apply_payment(ctx, updated, applied or updated.get("_applied", []), False, updated.get("TotalAmount"), keep_total=True)
    stamp_modified(ctx, updated)
    rec.clear()
    rec.update(updated)
    ctx.company.touch(type_name, rec)
    return rec


def _open_invoices(ctx: Ctx, customer_id: str, payment_id: str) -> list[dict]:
    invoices = [inv for inv in ctx.company.index.of_entity("Invoice", customer_id) if invoice_balance(ctx.company, inv, payment_id) > 0]
    return sorted(invoices, key=lambda inv: (inv.get("TxnDate", ""), int(inv.get("TxnNumber", "0"))))


def _apply_payment(ctx: Ctx, rec: dict, applied: list[Mapping], auto: bool, total_text: Any, keep_total: bool = False) -> None:
    payment_id = rec["TxnID"]
    customer_id = rec["CustomerRef"]["ListID"]
    result: list[dict] = []
    for app in applied:
        txn_id = check_object_id("TxnID", app.get("TxnID"))
        inv = ctx.company.get("Invoice", txn_id)
        if inv is None or inv.get("CustomerRef", {}).get("ListID") != customer_id:
            raise status.not_found(txn_id)
        amount = dec(app.get("PaymentAmount", app.get("Amount"))) or ZERO
        discount = dec(app.get("DiscountAmount")) or ZERO
        open_balance = invoice_balance(ctx.company, inv, payment_id) - sum((dec(r["Amount"]) for r in result if r["TxnID"] == txn_id), ZERO)
        if amount + discount > open_balance:
            raise status.invalid_value("PaymentAmount", money(amount), "You cannot pay more than the amount due.")
        entry = {"TxnID": txn_id, "Amount": money(amount)}
        if discount:
            entry["DiscountAmount"] = money(discount)
        result.append(entry)
    applied_sum = sum((dec(r["Amount"]) for r in result), ZERO)
    total = dec(total_text)
    if total is None:
        total = applied_sum
    if auto and not result:
        left = total
        for inv in _open_invoices(ctx, customer_id, payment_id):
            if left <= 0:
                break
            take = min(left, invoice_balance(ctx.company, inv, payment_id))
            result.append({"TxnID": inv["TxnID"], "Amount": money(take)})
            left -= take
        applied_sum = total - left
    if applied_sum > total:
        raise status.invalid_value("TotalAmount", money(total), "The amount applied is more than the payment amount.")
    rec["TotalAmount"] = money(total)
    rec["_applied"] = result


def delete(ctx: Ctx, type_name: str, txn_id: str) -> dict:
    """TxnDel: the transaction goes; payments applied to a deleted invoice become unused."""
    info = catalog.get(type_name)
    rec = ctx.company.get(type_name, txn_id)
    if rec is None:
        raise status.not_found(txn_id)
    check_lock(ctx, info, txn_id)
    ctx.company.remove(type_name, txn_id)
    if type_name == "Invoice":
        for payment in ctx.company.index.payments_applied_to(txn_id):
            payment["_applied"] = [a for a in payment.get("_applied", []) if a["TxnID"] != txn_id]
            ctx.company.touch("ReceivePayment", payment)
    entry = {
        "kind": "txn",
        "TxnDelType": type_name,
        "TxnID": txn_id,
        "TimeCreated": rec.get("TimeCreated"),
        "TimeDeleted": ctx.stamp,
    }
    if rec.get("RefNumber"):
        entry["RefNumber"] = rec["RefNumber"]
    ctx.company.deleted.append(entry)
    return entry
