"""Pure functions over record content: normalising staged values, comparing, merging,
finding references, one-line summaries. No IO, no SQL.

Staged data is qbXML plain data in the Add form, with two differences: line lists sit under
the line's base name (`InvoiceLine`, not `InvoiceLineAdd`), and references may be
`{"local_id": …}` (the app's id of another record, resolved to a ListID/TxnID at send time).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from qbsync.engine.lines import match_line_ids

LOCAL_ID = "local_id"
LINE_KEYS = ("id", "TxnLineID")  # identify a line; never compared as content
VOLATILE = ("EditSequence", "TimeCreated", "TimeModified")  # change on every QuickBooks save
_DECIMAL_TYPES = ("AMTTYPE", "PRICETYPE", "QUANTYPE", "PERCENTTYPE")


_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(data: Any) -> str:
    text = _FINGERPRINT_JSON.encode(data)  # one encoder for all: json.dumps would make one per call
    return hashlib.sha256(text.encode()).hexdigest()


def is_local_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and LOCAL_ID in value


# -- normalising --------------------------------------------------------------------------


def normalize(data: Mapping[str, Any], decl: Any | None, line_decls: Mapping[str, Any]) -> dict[str, Any]:
    """Staged data in canonical form: numbers and booleans as the qbXML text the builder
    would write (amounts with 2 decimals, `true`/`false`), decimal strings the same way, so
    that `100` and `"100.00"` compare equal. `decl` is the schema declaration of the Add
    element (None: only the generic rules); `line_decls` maps a line base name to its Add
    declaration. Unknown fields are kept as they are (validation reports them)."""
    out: dict[str, Any] = {}
    as_given = _kept_as_given(decl)
    for key, value in data.items():
        if value is None:
            continue
        if type(value) is str and as_given is not None and key not in as_given and key != "id":
            out[key] = value  # the usual case, without the walk below
            continue
        if key == "id":
            out[key] = str(value)
            continue
        if key in line_decls and isinstance(value, list):
            out[key] = [_norm_line(v, line_decls[key]) for v in value]
            continue
        child = _child(decl, key)
        out[key] = _norm_value(value, child)
    return out


def _norm_line(line: Any, decl: Any) -> Any:
    if not isinstance(line, Mapping):
        return line
    return normalize(line, decl, {})


def _child(decl: Any, key: str) -> Any:
    if decl is None:
        return None
    try:
        info = decl.child(key)
    except Exception:  # a declaration without children
        return None
    return info.decl if info is not None else None


_AS_GIVEN = (*_DECIMAL_TYPES, "DATETIMETYPE")  # the types whose text normalising may rewrite
_kept: dict[Any, frozenset[str]] = {}


def _kept_as_given(decl: Any) -> frozenset[str] | None:
    """The children of `decl` whose string values normalising may rewrite (a string of any
    other child is kept as given: `_norm_value`'s first rule), read once per declaration;
    None without a declaration of children."""
    if decl is None:
        return None
    kept = _kept.get(decl)
    if kept is None:
        try:
            children = decl.children
        except Exception:  # a declaration without children
            return None
        kept = _kept[decl] = frozenset(
            name for name, info in children.items()
            if info.decl.simple is not None and info.decl.simple.base in _AS_GIVEN
        )
    return kept


def _norm_value(value: Any, decl: Any) -> Any:
    if type(value) is str:  # the usual case: only decimals and date-times are rewritten
        simple = getattr(decl, "simple", None) if decl is not None else None
        if simple is None or simple.base not in _AS_GIVEN:
            return value  # format_value gives a string back as it is, or refuses it (left for validation)
    if is_local_ref(value):
        return {LOCAL_ID: str(value[LOCAL_ID])}
    if isinstance(value, Mapping):
        as_given = _kept_as_given(decl)
        return {k: v if type(v) is str and as_given is not None and k not in as_given else _norm_value(v, _child(decl, k))
                for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_norm_value(v, decl) for v in value]
    simple = getattr(decl, "simple", None) if decl is not None else None
    if simple is not None:
        from qbsync.qbxml import format_value

        try:
            if isinstance(value, str) and simple.base in _DECIMAL_TYPES:
                return format_value(simple, Decimal(value.strip()))
            return format_value(simple, value)
        except (ValueError, InvalidOperation, ArithmeticError):
            return value  # left for validation to report
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return format(Decimal(str(value)), "f")
    return value


# -- comparing ----------------------------------------------------------------------------

# resolve(local_id) -> (qb_id, full_name) of the mirror record the app calls local_id, or None
Resolver = Callable[[str], "tuple[str | None, str | None] | None"]


def same_ref(new: Any, old: Any, resolve: Resolver) -> bool:
    if old is None:
        return False
    if new == old:
        return True
    if is_local_ref(new):
        if is_local_ref(old):
            return str(new[LOCAL_ID]) == str(old[LOCAL_ID])
        found = resolve(str(new[LOCAL_ID]))
        if not found:
            return False
        qb_id, full_name = found
        if isinstance(old, Mapping):
            if qb_id and (old.get("ListID") == qb_id or old.get("TxnID") == qb_id):
                return True
            return bool(full_name) and old.get("FullName") == full_name and not old.get("ListID")
        return qb_id is not None and old == qb_id
    if isinstance(new, Mapping) and isinstance(old, Mapping):
        for key in ("ListID", "TxnID", "FullName"):
            if key in new and key in old:
                return new[key] == old[key]
        return False
    if isinstance(new, Mapping) and not isinstance(old, Mapping):
        return (new.get("TxnID") or new.get("ListID")) == old
    return False


def values_equal(new: Any, old: Any, resolve: Resolver) -> bool:
    if isinstance(new, Mapping):
        if is_local_ref(new) or set(new) <= {"ListID", "TxnID", "FullName"}:
            return same_ref(new, old, resolve)
        if not isinstance(old, Mapping):
            return False
        return all(values_equal(v, old.get(k), resolve) for k, v in new.items())
    if isinstance(new, list):
        if not isinstance(old, list) or len(new) != len(old):
            return False
        for n, o in zip(new, old):
            if isinstance(n, Mapping) and isinstance(o, Mapping):
                if "id" in n and "id" in o and str(n["id"]) != str(o["id"]):
                    return False
                content = {k: v for k, v in n.items() if k not in LINE_KEYS}
                if not values_equal(content, o, resolve):
                    return False
            elif not values_equal(n, o, resolve):
                return False
        return True
    if new is None:
        return old is None
    return str(new) == str(old) if old is not None else False


def diff(staged: Mapping[str, Any], base: Mapping[str, Any], resolve: Resolver, skip: tuple[str, ...] = ()) -> dict[str, tuple[Any, Any]]:
    """{field: (before, after)} for each staged field whose value differs from `base`.
    Fields the app does not stage are not its business and never differ."""
    out: dict[str, tuple[Any, Any]] = {}
    for key, new in staged.items():
        if key == "id" or key in skip:
            continue
        old = base.get(key)
        if not values_equal(new, old, resolve):
            out[key] = (old, new)
    return out


def diff_snapshots(new: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """{field: (before, after)} between two QuickBooks snapshots of a record, both ways
    (a field QuickBooks no longer returns was cleared), volatile fields ignored."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in sorted(set(new) | set(old)):
        if key in VOLATILE:
            continue
        if new.get(key) != old.get(key):
            out[key] = (old.get(key), new.get(key))
    return out


def keep_line_ids(staged_lines: list[Any], base_lines: Any) -> list[Any]:
    """Staged lines for a Mod: each line that `match_line_ids` pairs with a mirror line (by the
    app's line `id`, never by position) carries that line's TxnLineID; the others are new."""
    out = []
    for line, txn_line_id in zip(staged_lines, match_line_ids(staged_lines, base_lines)):
        if isinstance(line, Mapping):
            line = {k: v for k, v in line.items() if k != "TxnLineID"}
            if txn_line_id is not None:
                line["TxnLineID"] = txn_line_id
        out.append(line)
    return out


def overlay(base: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `fields` replacing whole values (None removes a field)."""
    out = dict(base)
    for key, value in fields.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def take_line_ids_from_ret(data: dict[str, Any], snapshot: Mapping[str, Any], line_rets: Mapping[str, str]) -> dict[str, Any]:
    """After QuickBooks saved a record, copy each line's TxnLineID from the Ret (same order
    as sent) into the mirror's lines, so a later Mod keeps them. `line_rets` maps base → Ret name."""
    out = dict(data)
    for base, ret_name in line_rets.items():
        lines = out.get(base)
        rets = snapshot.get(ret_name)
        if not isinstance(lines, list) or rets is None:
            continue
        rets = rets if isinstance(rets, list) else [rets]
        merged = []
        for i, line in enumerate(lines):
            if isinstance(line, Mapping) and i < len(rets) and isinstance(rets[i], Mapping) and rets[i].get("TxnLineID"):
                line = {**line, "TxnLineID": rets[i]["TxnLineID"]}
            merged.append(line)
        out[base] = merged
    return out


# -- references ---------------------------------------------------------------------------


def local_refs(data: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, local_id) of every `{"local_id": …}` reference, e.g. ("InvoiceLine[1]/ItemRef", "I-7")."""
    found: list[tuple[str, str]] = []
    if is_local_ref(data):
        return [(path, str(data[LOCAL_ID]))]
    if isinstance(data, Mapping):
        for key, value in data.items():
            found.extend(local_refs(value, f"{path}/{key}" if path else key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found.extend(local_refs(value, f"{path}[{i}]"))
    return found


# -- summaries ----------------------------------------------------------------------------


def short(value: Any, limit: int = 30) -> str:
    if value is None:
        return "∅"
    if type(value) is str:  # the usual case, without the Mapping checks below
        text = value
    elif isinstance(value, Mapping):
        if is_local_ref(value):
            text = f"#{value[LOCAL_ID]}"
        else:
            text = str(value.get("FullName") or value.get("ListID") or value.get("TxnID") or json.dumps(value, ensure_ascii=False))
    elif isinstance(value, list):
        text = f"{len(value)} line{'s' if len(value) != 1 else ''}"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def summary(action: str, direction: str, payload: Mapping[str, Any], before: Mapping[str, Any], limit: int = 100) -> str:
    """One line saying what the change does. Parts stop being made once the text is past
    `limit` (it is cut there anyway): a long record's summary costs no more than a short one's."""
    if action == "delete":
        return "delete in QuickBooks" if direction == "export" else "deleted in QuickBooks"
    if action == "add":
        text, sep = "new: ", ""
        for k, v in payload.items():
            if k in VOLATILE or k == "ListID" or k == "TxnID":
                continue
            text += f"{sep}{k}={short(v)}"
            sep = ", "
            if len(text) > limit:
                break
    else:
        text, sep = "", ""
        for k, old in before.items():
            text += f"{sep}{k}: {short(old)} → {short(payload.get(k))}"
            sep = "; "
            if len(text) > limit:
                break
    return text if len(text) <= limit else text[: limit - 1] + "…"
