"""A QuickBooks record (a Ret) in the shape the app stages: what `qbsync changes` and the
mirror give the app for an import.

Only the fields the type's Add form takes are kept (ListID, EditSequence, balances and other
QuickBooks bookkeeping are left out: the feed carries the id and EditSequence beside the data);
lines move from the Ret element to their base name (``InvoiceLineRet`` → ``InvoiceLine``) with
their TxnLineID, and a line the app already knows by that TxnLineID keeps the app's line ``id``;
a reference to a record the app has an id for becomes ``{"local_id": …}``, any other keeps QuickBooks'
``ListID``/``FullName``. Pure: the caller says which local id a ListID/TxnID has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from qbsync.sync.content import LOCAL_ID
from qbsync.sync.content import summary as content_summary

# (types the reference may point at, ListID/TxnID) -> the app's local id, or None
LocalIdOf = Callable[[tuple[str, ...], str], "str | None"]


def app_data(type_name: str, ret: Mapping[str, Any], *, old_data: Mapping[str, Any] | None,
             local_id_of: LocalIdOf) -> dict[str, Any]:
    from qbsync.sync import catalogue  # here: it loads the qbXML layer (lxml), which listings skip

    et = catalogue.entity_type(type_name)
    decl, line_decls = catalogue.add_decls(type_name)
    out: dict[str, Any] = {}
    for key, value in ret.items():
        line = et.line(key)
        if line is not None and key == line.ret:
            known = _app_line_ids((old_data or {}).get(line.base))
            rets = value if isinstance(value, list) else [value]
            out[line.base] = [_line(type_name, line.base, i, r, line_decls.get(line.base), known, local_id_of)
                              for i, r in enumerate(rets) if isinstance(r, Mapping)]
        elif _takes(decl, key):
            out[key] = _refs(type_name, key, value, local_id_of)
    return out


def _takes(decl: Any, key: str) -> bool:
    if decl is None:
        return False
    try:
        return decl.child(key) is not None
    except Exception:  # noqa: BLE001 - a declaration without children
        return False


def _app_line_ids(lines: Any) -> dict[str, str]:
    """TxnLineID -> the app's line id, from the mirror's lines."""
    out: dict[str, str] = {}
    for line in lines if isinstance(lines, list) else []:
        if isinstance(line, Mapping) and line.get("TxnLineID") and line.get("id") is not None:
            out.setdefault(str(line["TxnLineID"]), str(line["id"]))
    return out


def _line(type_name: str, base: str, index: int, ret: Mapping[str, Any], decl: Any, known: Mapping[str, str],
          local_id_of: LocalIdOf) -> dict[str, Any]:
    out: dict[str, Any] = {}
    txn_line_id = ret.get("TxnLineID")
    if txn_line_id is not None and str(txn_line_id) in known:
        out["id"] = known[str(txn_line_id)]
    for key, value in ret.items():
        if key == "TxnLineID" or _takes(decl, key):
            out[key] = _refs(type_name, f"{base}[{index}]/{key}", value, local_id_of)
    return out


def _refs(type_name: str, path: str, value: Any, local_id_of: LocalIdOf) -> Any:
    from qbsync.sync import catalogue

    if isinstance(value, Mapping):
        targets = catalogue.ref_types(type_name, path)
        qb_id = value.get("ListID") or value.get("TxnID")
        if targets and qb_id:
            local_id = local_id_of(tuple(targets.split(",")), str(qb_id))
            if local_id is not None:
                return {LOCAL_ID: local_id}
        return {k: _refs(type_name, f"{path}/{k}", v, local_id_of) for k, v in value.items()}
    return value


def summary(change: Mapping[str, Any]) -> str:
    """A change's one-line summary (`content.summary`); a new record from QuickBooks is told by
    the fields the app would stage, not QuickBooks' bookkeeping (FullName, Sublevel, balances)."""
    payload = change["payload"]
    if change["direction"] == "import" and change["action"] == "add":
        from qbsync.sync import catalogue

        et = catalogue.entity_type(change["type"])
        decl, _ = catalogue.add_decls(change["type"])
        payload = {k: v for k, v in payload.items()
                   if _takes(decl, k) or ((line := et.line(k)) is not None and k == line.ret)}
    return content_summary(change["action"], change["direction"], payload, change["before"])
