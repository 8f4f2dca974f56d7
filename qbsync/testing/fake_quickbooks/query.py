"""Queries in FakeQuickBooks: selection by ListID/TxnID/FullName/RefNumber lists or by filters
(ActiveStatus, modified dates, names, entity, paid status), MaxReturned, iterators, metaData,
IncludeLineItems, and the deleted-record queries.

Status codes, as QuickBooks answers them (qbxml-status-codes.md):

* 0 with the records;
* 500 (Warn) when a key asked for by exact value does not exist: a ListID, FullName, TxnID or
  RefNumber of the query, or the ListID/FullName of its EntityFilter. The records of the keys
  that do exist are still returned (none when no key exists: still 500, never 1);
* 1 (Info) "did not find a matching object" only when filters (dates, names, active status,
  entity, paid status) match nothing;
* 3000 for a ListID/TxnID that is not in QuickBooks' ID shape;
* 3030 for a date range whose From is later than its To; 3031 for a NameRangeFilter whose
  FromName comes after its ToName;
* 3391 for an unknown or finished iteratorID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbsync.testing.fake_quickbooks import catalog, status
from qbsync.testing.fake_quickbooks.catalog import TypeInfo
from qbsync.testing.fake_quickbooks.derive import derive, invoice_balance, linked_txns
from qbsync.testing.fake_quickbooks.ids import check_object_id, parse_datetime
from qbsync.testing.fake_quickbooks.index import Key
from qbsync.testing.fake_quickbooks.records import Ctx, as_list, find_by_name, full_name, is_true


@dataclass
class Answer:
    """One response's status and records (before rendering)."""

    code: int = 0
    message: str = status.STATUS_OK
    rets: list[tuple[str, dict]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Iterator:
    types: tuple[str, ...]
    remaining: list[Key]  # (type, id) still to send
    page: int | None
    options: dict


# ---- selection ------------------------------------------------------------------------------


def _modified_in(rec: Mapping, lo: datetime | None, hi: datetime | None) -> bool:
    if lo is None and hi is None:
        return True
    t = datetime.fromisoformat(str(rec.get("TimeModified")))
    return (lo is None or t >= lo) and (hi is None or t <= hi)


def _name_matches(name: str, flt: Mapping | None, rng: Mapping | None) -> bool:
    if isinstance(flt, Mapping):
        wanted = str(flt.get("Name", "")).casefold()
        have = name.casefold()
        how = flt.get("MatchCriterion")
        if how == "StartsWith" and not have.startswith(wanted):
            return False
        if how == "Contains" and wanted not in have:
            return False
        if how == "EndsWith" and not have.endswith(wanted):
            return False
    if isinstance(rng, Mapping):
        if rng.get("FromName") and name.casefold() < str(rng["FromName"]).casefold():
            return False
        if rng.get("ToName") and name.casefold() > str(rng["ToName"]).casefold():
            return False
    return True


def _date_range(ctx: Ctx, data: Mapping, from_key: str, to_key: str) -> tuple[datetime | None, datetime | None]:
    """The bounds of a From/To date filter in `data` (a date alone: the whole day); 3030 when
    From is later than To."""
    lo_text, hi_text = data.get(from_key), data.get(to_key)
    lo = parse_datetime(str(lo_text), ctx.tz) if lo_text else None
    hi = parse_datetime(str(hi_text), ctx.tz, end_of_day=True) if hi_text else None
    if lo is not None and hi is not None and lo > hi:
        raise status.invalid_date_range(from_key, str(lo_text), to_key, str(hi_text))
    return lo, hi


def _check_name_range(rng: Any) -> None:
    """3031 when a NameRangeFilter's FromName comes after its ToName."""
    if not isinstance(rng, Mapping) or not rng.get("FromName") or not rng.get("ToName"):
        return
    lo, hi = str(rng["FromName"]), str(rng["ToName"])
    if lo.casefold() > hi.casefold():
        raise status.invalid_name_range("NameRangeFilter", lo, hi)


def _select_lists(ctx: Ctx, types: tuple[str, ...], data: Mapping) -> tuple[list[Key], list[str]]:
    """The matching records' (type, ListID), and the asked-for keys that matched nothing."""
    company = ctx.company
    ids, names = as_list(data.get("ListID")), as_list(data.get("FullName"))
    if ids or names:
        found, missing = [], []
        for list_id in ids:
            hit = company.locate(check_object_id("ListID", list_id), types)
            (found.append((hit[0], hit[1]["ListID"])) if hit else missing.append(str(list_id)))
        for name in names:
            hit = find_by_name(company, types, str(name))
            (found.append((hit[0], hit[1]["ListID"])) if hit else missing.append(str(name)))
        return found, missing
    active_status = data.get("ActiveStatus") or "ActiveOnly"
    lo, hi = _date_range(ctx, data, "FromModifiedDate", "ToModifiedDate")
    _check_name_range(data.get("NameRangeFilter"))
    account_types = set(as_list(data.get("AccountType")))
    name_filter, name_range = data.get("NameFilter"), data.get("NameRangeFilter")
    index = company.index
    ordered = index.in_name_order(types)  # by FullName, casefolded
    if active_status == "All" and lo is None and hi is None and not (name_filter or name_range or account_types):
        return ordered, []
    out = []
    for key in ordered:
        rec = company.records(key[0])[key[1]]
        if active_status in ("ActiveOnly", "InactiveOnly"):
            active = is_true(rec.get("IsActive", "true"))
            if active != (active_status == "ActiveOnly"):
                continue
        if (lo is not None or hi is not None) and not _modified_in(rec, lo, hi):
            continue
        if (name_filter or name_range) and not _name_matches(index.name_key(*key), name_filter, name_range):
            continue
        if account_types and rec.get("AccountType") not in account_types:
            continue
        out.append(key)
    return out, []


def _same_ref(have: Any, wanted: Any, exact: bool) -> bool:
    return str(have) == str(wanted) if exact else str(have).casefold() == str(wanted).casefold()


def _entity_ids(ctx: Ctx, flt: Mapping, entity_types: tuple[str, ...]) -> tuple[set[str], list[str]]:
    """The ListIDs an EntityFilter selects, and the keys it names that do not exist."""
    ids: set[str] = set()
    missing: list[str] = []
    roots: list[tuple[str, dict]] = []
    for key, with_children in (("ListID", False), ("FullName", False), ("ListIDWithChildren", True), ("FullNameWithChildren", True)):
        for value in as_list(flt.get(key)):
            if key.startswith("ListID"):
                found = ctx.company.locate(check_object_id(key, value), entity_types)
            else:
                found = find_by_name(ctx.company, entity_types, str(value))
            if found is None:
                missing.append(str(value))
            elif with_children:
                roots.append(found)
            else:
                ids.add(found[1]["ListID"])
    for found in roots:
        prefix = full_name(ctx.company, found[0], found[1]).casefold()
        for t in entity_types:
            for rec in ctx.company.records(t).values():
                fn = full_name(ctx.company, t, rec).casefold()
                if fn == prefix or fn.startswith(prefix + ":"):
                    ids.add(rec["ListID"])
    return ids, missing


def _select_txns(ctx: Ctx, info: TypeInfo, data: Mapping) -> tuple[list[tuple[str, dict]], list[str]]:
    company = ctx.company
    records = company.records(info.name)
    ids = as_list(data.get("TxnID"))
    refs = as_list(data.get("RefNumber"))
    refs_cs = as_list(data.get("RefNumberCaseSensitive"))
    if ids or refs or refs_cs:
        found, missing = [], []
        for txn_id in ids:
            rec = records.get(check_object_id("TxnID", txn_id))
            (found.append((info.name, rec)) if rec else missing.append(str(txn_id)))
        for ref, exact in [(r, False) for r in refs] + [(r, True) for r in refs_cs]:
            hits = [(info.name, rec) for rec in records.values() if _same_ref(rec.get("RefNumber", ""), ref, exact)]
            found.extend(hits) if hits else missing.append(str(ref))
        return found, missing
    lo, hi = _date_range(ctx, data.get("ModifiedDateRangeFilter") or {}, "FromModifiedDate", "ToModifiedDate")
    txn_dates = data.get("TxnDateRangeFilter") or {}
    _date_range(ctx, txn_dates, "FromTxnDate", "ToTxnDate")  # TxnDate is a day: compared as text below
    entity = data.get("EntityFilter")
    entity_ids, missing = _entity_ids(ctx, entity, catalog.ENTITY_TYPES) if isinstance(entity, Mapping) else (None, [])
    ref_filter = data.get("RefNumberFilter")
    ref_range = data.get("RefNumberRangeFilter") or {}
    paid = data.get("PaidStatus") or "All"
    out = []
    for rec in records.values():
        if not _modified_in(rec, lo, hi):
            continue
        day = str(rec.get("TxnDate", ""))
        if txn_dates.get("FromTxnDate") and day < str(txn_dates["FromTxnDate"]):
            continue
        if txn_dates.get("ToTxnDate") and day > str(txn_dates["ToTxnDate"]):
            continue
        if entity_ids is not None and rec.get(info.entity_ref, {}).get("ListID") not in entity_ids:
            continue
        ref = str(rec.get("RefNumber", ""))
        if isinstance(ref_filter, Mapping) and not _name_matches(ref, {"Name": ref_filter.get("RefNumber", ""), "MatchCriterion": ref_filter.get("MatchCriterion")}, None):
            continue
        if ref_range.get("FromRefNumber") and ref < str(ref_range["FromRefNumber"]):
            continue
        if ref_range.get("ToRefNumber") and ref > str(ref_range["ToRefNumber"]):
            continue
        if paid != "All" and info.name in ("Invoice", "Bill"):
            is_paid = (invoice_balance(company, rec) <= 0) if info.name == "Invoice" else False
            if (paid == "PaidOnly") != is_paid:
                continue
        out.append((info.name, rec))
    return out, missing


# ---- rendering records ----------------------------------------------------------------------


def record_ret(ctx: Ctx, type_name: str, rec: Mapping, options: Mapping | None = None) -> dict:
    """A record as its Ret dict for a query (options: IncludeLineItems, IncludeLinkedTxns,
    IncludeRetElement) or for an Add/Mod (all lines, no linked transactions)."""
    info = catalog.get(type_name)
    out = derive(ctx.company, type_name, rec)
    options = options or {}
    if not info.is_list and info.lines and options.get("lines") is False:
        for kind in info.lines:
            out.pop(f"{kind}Ret", None)
    if options.get("linked"):
        out["LinkedTxn"] = linked_txns(ctx.company, type_name, rec)
    include = options.get("include")
    if include:
        keep = set(include)
        out = {k: v for k, v in out.items() if k in keep}
    return out


def _options(info_is_txn: bool, data: Mapping, include: list[str]) -> dict:
    return {
        "lines": is_true(data.get("IncludeLineItems", "false")) if info_is_txn else True,
        "linked": is_true(data.get("IncludeLinkedTxns", "false")),
        "include": list(include or []),
    }


def _records(ctx: Ctx, keys: list[Key]) -> list[tuple[str, dict]]:
    """The (type, record) of each (type, ID) that still exists."""
    return [(t, rec) for t, i in keys if (rec := ctx.company.get(t, i)) is not None]


def _rets(ctx: Ctx, pairs: list[tuple[str, dict]], options: Mapping) -> list[tuple[str, dict]]:
    return [(catalog.get(t).ret, record_ret(ctx, t, rec, options)) for t, rec in pairs]


# ---- the query request ----------------------------------------------------------------------


def query(
    ctx: Ctx,
    types: tuple[str, ...],
    data: Mapping,
    attrs: Mapping[str, str],
    include: list[str],
    iterators: dict[str, Iterator],
) -> Answer:
    """Answer `<X>QueryRq` for the list `types` (one type; all item types for ItemQuery)."""
    first = catalog.get(types[0])
    iterator = attrs.get("iterator")
    max_returned = int(data["MaxReturned"]) if str(data.get("MaxReturned", "")).isdigit() else None
    meta = attrs.get("metaData", "NoMetaData")

    if iterator in ("Continue", "Stop"):
        iterator_id = attrs.get("iteratorID", "")
        state = iterators.get(iterator_id)
        if state is None or state.types != types:  # unknown, finished, or another query's
            raise status.invalid_iterator(iterator_id)
        if iterator == "Stop":
            del iterators[iterator_id]
            return Answer(attrs={"iteratorRemainingCount": 0, "iteratorID": iterator_id})
        page_size = max_returned or state.page
        take = state.remaining if page_size is None else state.remaining[:page_size]
        state.remaining = state.remaining[len(take):]
        pairs = _records(ctx, take)
        if not state.remaining:
            del iterators[iterator_id]
        answer = Answer(rets=_rets(ctx, pairs, state.options), attrs={"iteratorRemainingCount": len(state.remaining), "iteratorID": iterator_id})
        if not pairs:
            answer.code, answer.message = status.NO_MATCH, status.NO_MATCH_MESSAGE
        return answer

    if first.is_list:
        keys, missing = _select_lists(ctx, types, data)
    else:
        pairs, missing = _select_txns(ctx, first, data)
        keys = [(t, rec["TxnID"]) for t, rec in pairs]
    options = _options(not first.is_list, data, include)
    total = len(keys)
    answer = Answer()
    if meta in ("MetaDataOnly", "MetaDataAndResponseData"):
        answer.attrs["retCount"] = total
    if iterator == "Start":
        iterator_id = ctx.ids.iterator_id()
        page = keys if max_returned is None else keys[:max_returned]
        rest = keys[len(page):]
        if rest:
            iterators[iterator_id] = Iterator(types, rest, max_returned, options)
        answer.attrs.update({"iteratorRemainingCount": len(rest), "iteratorID": iterator_id})
        keys = page
    elif max_returned is not None:
        keys = keys[:max_returned]
    if meta != "MetaDataOnly":
        answer.rets = _rets(ctx, _records(ctx, keys), options)
    if missing:  # a key that does not exist is a warning, even when nothing came back
        answer.code, answer.message = status.partial(missing[0])
    elif total == 0:
        answer.code, answer.message = status.NO_MATCH, status.NO_MATCH_MESSAGE
    return answer


def deleted_query(ctx: Ctx, kind: str, data: Mapping, include: list[str]) -> Answer:
    """ListDeletedQuery / TxnDeletedQuery: the deleted records of the asked types."""
    type_key = "ListDelType" if kind == "list" else "TxnDelType"
    wanted = {str(t) for t in as_list(data.get(type_key))}
    rng = data.get("DeletedDateRangeFilter") or {}
    lo, hi = _date_range(ctx, rng, "FromDeletedDate", "ToDeletedDate")
    ret_name = "ListDeletedRet" if kind == "list" else "TxnDeletedRet"
    rets = []
    for entry in ctx.company.deleted:
        if entry.get("kind") != kind or entry.get(type_key) not in wanted:
            continue
        t = datetime.fromisoformat(entry["TimeDeleted"])
        if (lo and t < lo) or (hi and t > hi):
            continue
        ret = {k: v for k, v in entry.items() if k != "kind" and v is not None}
        if include:
            ret = {k: v for k, v in ret.items() if k in include}
        rets.append((ret_name, ret))
    if not rets:
        return Answer(status.NO_MATCH, status.NO_MATCH_MESSAGE)
    return Answer(rets=rets)
