"""`qbsync stage`: the app's JSON lines become export changes in the wizard.

Two passes: every line is parsed and validated first (nothing is written when a line is bad,
unless skip_invalid), then one transaction turns the good lines into changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from qbsync.errors import InvalidInput, NotFound
from qbsync.store import changes as store_changes
from qbsync.store import records as store_records
from qbsync.store.db import Store
from qbsync.store.stage_index import StageIndex
from qbsync.timeutil import utc_now
from qbsync.sync import catalogue, content, stage_checks

PLACEHOLDER_ID = "80000001-1234567890"  # stands in for a local_id reference during validation
_FOLDABLE = ("awaiting", "held")
_UNSETTLED = ("awaiting", "held", "queued", "sending", "error")
_TOO_DEEP = object()  # a line the JSON decoder could not descend


@dataclass(slots=True)  # a call holds one per line for the file-wide checks
class StagedItem:
    line: int
    local_id: str
    link_id: str | None  # ListID/TxnID given with the app's id: links a QuickBooks record
    data: dict[str, Any]  # normalised content, without "id" and the link id
    has_refs: bool = True  # False: the line's text was plain (no local-id reference anywhere)
    unchanged: bool = False  # True: its content is what the store saw staged last (check_record's seen_fp)
    fingerprint: str | None = None  # `_fingerprint` of it, when already known


@dataclass
class StageProblem:
    line: int
    field: str | None
    message: str
    local_id: str | None = None  # the app's id on the refused line, when it has a usable one

    def __str__(self) -> str:
        where = f"line {self.line}" + (f": {self.field}" if self.field else "")
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class StageResult:
    type: str
    read: int = 0
    added: int = 0
    modified: int = 0
    deleted: int = 0
    updated: int = 0  # changes already awaiting approval that were updated
    unchanged: int = 0
    linked: int = 0
    cleared: int = 0
    skipped: list[StageProblem] = field(default_factory=list)
    change_ids: list[int] = field(default_factory=list)

    @property
    def skipped_lines(self) -> int:
        """How many lines were skipped (a line may have several problems)."""
        return len({p.line for p in self.skipped})

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type, "read": self.read, "added": self.added, "modified": self.modified,
            "deleted": self.deleted, "updated": self.updated, "unchanged": self.unchanged, "linked": self.linked,
            "cleared": self.cleared, "skipped": [p.as_dict() for p in self.skipped],
            "skipped_lines": self.skipped_lines, "change_ids": self.change_ids,
        }


# -- pass 1: parse and validate --------------------------------------------------------------


def _placeholders(value: Any, decl: Any) -> Any:
    """The value as check_fields should see it: local-id references become a well-formed
    stand-in of the kind the field takes (they are resolved only at send time)."""
    if content.is_local_ref(value):
        if decl is None:
            return value
        if decl.content is None:  # a leaf such as AppliedToTxn/TxnID
            return PLACEHOLDER_ID
        for key in ("ListID", "TxnID", "FullName"):
            if decl.child(key) is not None:
                return {key: PLACEHOLDER_ID}
        return value
    if isinstance(value, Mapping):
        if decl is not None and decl.content is None and set(value) <= {"ListID", "TxnID"} and len(value) == 1:
            return next(iter(value.values()))  # {"TxnID": …} where the field itself is the id
        return {k: _placeholders(v, _child(decl, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v, decl) for v in value]
    return value


def _child(decl: Any, key: str) -> Any:
    if decl is None or decl.content is None:
        return None
    info = decl.child(key)
    return info.decl if info is not None else None


def _ref_problems(value: Any, path: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        if content.LOCAL_ID in value:
            lid = value[content.LOCAL_ID]
            if len(value) != 1:
                out.append((path, "a local_id reference takes no other keys"))
            if isinstance(lid, bool) or not isinstance(lid, (str, int)) or str(lid).strip() == "":
                out.append((path, f"local_id must be a non-empty string or integer, not {json.dumps(lid)}"))
            return out
        for k, v in value.items():
            out.extend(_ref_problems(v, f"{path}/{k}" if path else k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_ref_problems(v, f"{path}[{i + 1}]"))
    return out


def _field_of(problem_path: str, et: Any) -> str:
    parts = problem_path.strip("/").split("/")  # schema-level problems come as /InvoiceAdd/TxnDate
    if parts and parts[0] == et.add_rq:
        parts = parts[1:]
    for i, part in enumerate(parts):
        name, _, index = part.partition("[")
        line = et.line(name)
        if line is not None and name == line.add:
            parts[i] = line.base + (f"[{index}" if index else "")
    return "/".join(parts)


def plain_text(text: str) -> bool:
    """True when a JSON line cannot hold a local-id reference nor a bare {"ListID"/"TxnID": …}
    (no such word, no \\u escape that could spell one): its check skips those walks."""
    return not any(word in text for word in ("local_id", "ListID", "TxnID", "\\u"))


def check_record(
    et: Any, obj: Any, lineno: int, schema: Any = None, plain: bool = False, seen_fp: str | None = None,
    decls: tuple[Any, dict[str, Any]] | None = None,
) -> tuple[StagedItem | None, list[StageProblem]]:
    """Validate one staged object; returns the item (normalised) or its problems. `schema`:
    the loaded schema (looking it up costs more than checking a record: pass it for many);
    `plain`: the line's text passed `plain_text` (the same result, found sooner); `seen_fp`:
    the fingerprint the store holds for this id: content that matches it was checked when it
    was staged, and skips the schema check (the checks of the line itself still run); `decls`:
    `catalogue.add_decls` of the type (read once for many)."""
    from qbsync.qbxml import check_fields, load_schema

    schema = schema or load_schema()

    def bad(fld: str | None, msg: str) -> tuple[None, list[StageProblem]]:
        return None, [StageProblem(lineno, fld, msg)]

    if not isinstance(obj, dict):
        return bad(None, f"expected a JSON object, got {type(obj).__name__}")
    local_id = obj.get("id")
    if local_id is None:
        return bad("id", 'missing "id" (the app\'s id of the record)')
    if isinstance(local_id, bool) or not isinstance(local_id, (str, int)) or str(local_id).strip() == "":
        return bad("id", f'"id" must be a non-empty string or integer, not {json.dumps(local_id)}')
    link_id = obj.get(et.id_field)
    if link_id is not None and (not isinstance(link_id, str) or not link_id.strip()):
        return bad(et.id_field, f"{et.id_field} must be a non-empty string")
    name = obj.get(et.name_field)
    if et.is_list and isinstance(name, str):
        if not name.strip():
            return bad(et.name_field, "must not be blank: QuickBooks refuses a record without a name (3210)")
        if ":" in name:
            return bad(et.name_field, f"{name!r} contains ':', which QuickBooks keeps for the name hierarchy"
                                      " (FullName \"Parent:Child\"); name a sub-record by Name and ParentRef")
    decl, line_decls = decls or catalogue.add_decls(et.name)
    problems = [] if plain else [StageProblem(lineno, p, m) for p, m in _ref_problems(obj, "")]
    view: dict[str, Any] = {}
    for key, value in obj.items():
        if key in ("id", et.id_field):
            continue
        line = et.line(key)
        if line is not None and key != line.base:
            problems.append(StageProblem(lineno, key, f"give lines under {line.base!r} (the line's base name), not {key!r}"))
            continue
        if line is not None:
            if not isinstance(value, list):
                value = [value]
            lines = []
            for item in value:
                if isinstance(item, Mapping):
                    item = {k: v for k, v in item.items() if k not in content.LINE_KEYS}
                lines.append(item if plain else _placeholders(item, line_decls.get(key)))
            view[line.add] = lines
        else:
            view[key] = value if plain else _placeholders(value, _child(decl, key))
    if problems:
        return None, problems

    def normalized() -> dict[str, Any]:
        raw = {k: v for k, v in obj.items() if k not in ("id", et.id_field)}
        for line in et.lines:  # a single line given as an object is a list of one
            if line.base in raw and not isinstance(raw[line.base], list):
                raw[line.base] = [raw[line.base]]
        return content.normalize(raw, decl, line_decls)

    if seen_fp is not None and link_id is None:
        # Content the store saw staged before (the same fingerprint) passed these checks then:
        # an unchanged record costs its normalising, not the schema check.
        try:
            data = normalized()
        except Exception:  # not normalisable: the checks below say why
            data = None
        fp = content.fingerprint({"data": data, "link": None}) if data is not None else None
        if fp == seen_fp:
            return StagedItem(lineno, str(local_id), link_id, data, has_refs=not plain, unchanged=True, fingerprint=fp), []
    for p in check_fields(et.add_rq, view, schema):
        problems.append(StageProblem(lineno, _field_of(p.path, et) or None, p.message))
    if problems:
        return None, problems
    return StagedItem(lineno, str(local_id), link_id, normalized(), has_refs=not plain), []


def checked_lines(
    type_name: str, lines: Iterable[str], progress: Callable[[int], None] | None = None,
    seen: Callable[[list[str]], Mapping[str, str]] | None = None,
) -> Iterator[tuple[StagedItem | None, list[StageProblem]]]:
    """Each line parsed and checked alone, as it is read: (item, []) or (None, its problems).
    Blank lines yield nothing. Holds CHUNK lines at a time. `seen(ids)`: the fingerprints the
    store holds for these ids (see check_record's `seen_fp`), asked once per CHUNK lines."""
    from qbsync.qbxml import load_schema

    et = catalogue.entity_type(type_name)
    schema = load_schema()
    decls = catalogue.add_decls(et.name)
    block: list[tuple[int, Any, str]] = []  # (line number, parsed object or its problem, text)

    def flush() -> Iterator[tuple[StagedItem | None, list[StageProblem]]]:
        fps: Mapping[str, str] = {}
        if seen is not None:
            fps = seen([str(o["id"]) for _, o, _ in block if isinstance(o, dict) and _usable_id(o.get("id"))])
        for lineno, obj, text in block:
            if isinstance(obj, StageProblem):
                yield None, [obj]
                continue
            fp = fps.get(str(obj["id"])) if fps and isinstance(obj, dict) and _usable_id(obj.get("id")) else None
            item, found = check_record(et, obj, lineno, schema, plain_text(text), seen_fp=fp, decls=decls)
            if item is None and isinstance(obj, dict) and _usable_id(obj.get("id")):
                for p in found:
                    p.local_id = str(obj["id"])
            yield item, found
        block.clear()

    for lineno, text in enumerate(lines, start=1):
        if progress is not None and lineno % 500 == 0:
            progress(lineno)
        if lineno == 1:
            text = text.lstrip("\ufeff")  # a byte-order mark from a Windows export
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            obj = StageProblem(lineno, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
        except RecursionError:
            obj = _TOO_DEEP
        if obj is _TOO_DEEP or isinstance(obj, (dict, list)) and stage_checks.too_deep(obj, text=text):
            obj = StageProblem(lineno, None, f"JSON nested more than {stage_checks.MAX_DEPTH} levels deep")
        block.append((lineno, obj, text))
        if len(block) >= CHUNK:
            yield from flush()
    yield from flush()


def _usable_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def parse_lines(
    type_name: str, lines: Iterable[str], progress: Callable[[int], None] | None = None
) -> tuple[list[StagedItem], list[StageProblem]]:
    """Every line checked alone: the valid items (all in memory) and the problems."""
    items: list[StagedItem] = []
    problems: list[StageProblem] = []
    for item, found in checked_lines(type_name, lines, progress):
        if item is not None:
            items.append(item)
        problems.extend(found)
    return items, problems


# -- pass 2: turn records into changes ---------------------------------------------------------


def resolver(store: Store, connection_id: int) -> content.Resolver:
    def resolve(local_id: str) -> tuple[str | None, str | None] | None:
        found = store_records.find_by_local_id(store, connection_id, local_id)
        if not found:
            return None
        rec = found[0]
        full_name = (rec.get("qb_data") or {}).get("FullName") or rec.get("name")
        return rec["qb_id"], full_name
    return resolve


def _refs(type_name: str, payload: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(path, lid, catalogue.ref_types(type_name, path)) for path, lid in content.local_refs(payload)]


def _display_name(et: Any, data: Mapping[str, Any], fallback: str) -> str:
    name = et.display_name(data) if data else ""
    return name or fallback


def _pick_fold(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The change an update folds into: the entity's latest unsettled change, when it is still
    in the wizard or in error with a known outcome (the app fixing its data is the usual
    resolution). Never an older one behind a newer change still on its way: that newer change
    would be sent after it and put older values back in QuickBooks, and a failed Add folded
    behind a queued Mod would become a Mod that can never go."""
    latest = found[-1] if found else None
    if latest is not None and (
        latest["status"] in _FOLDABLE or (latest["status"] == "error" and not latest["outcome_unknown"])
    ):
        return latest
    return None


def _write_change(
    store: Store, connection_id: int, et: Any, local_id: str, fold: dict[str, Any] | None, *,
    action: str, qb_id: str | None, name: str, payload: dict[str, Any], before: dict[str, Any], result: StageResult,
    has_refs: bool = True, now: str | None = None,
) -> None:
    if fold is not None:
        store_changes.update_change(
            store, fold["id"], action=action, qb_id=qb_id, name=name, payload=payload, before=before,
            status="awaiting", checked=int(fold["checked"]) if fold["status"] == "awaiting" else 1,
            status_code=None, status_severity=None, status_message=None, note=None, outcome_unknown=0,
            refresh_edit_sequence=0,
        )
        change_id = fold["id"]
        result.updated += 1
    else:
        change_id = store_changes.insert_change(
            store, connection_id=connection_id, direction="export", type_=et.name, action=action, local_id=local_id,
            qb_id=qb_id, name=name, payload=payload, before=before, now=now,
        )
        if action == "add":
            result.added += 1
        elif action == "mod":
            result.modified += 1
        else:
            result.deleted += 1
    refs = _refs(et.name, payload) if has_refs else []
    if fold is not None or refs:  # a new change has no references to replace
        store_changes.set_refs(store, change_id, refs)
    result.change_ids.append(change_id)


def _fingerprint(item: StagedItem) -> str:
    return item.fingerprint or content.fingerprint({"data": item.data, "link": item.link_id})


class _Known:
    """What the store holds about the entities of one chunk of items, read in a few queries
    (seen fingerprints; mirror records and unsettled changes of the ids whose content differs
    from what was seen) instead of three per item. A relink renames rows of other ids, so
    after one the chunk's remaining items read the store item by item again."""

    def __init__(self, store: Store, connection_id: int, et: Any, items: list[StagedItem],
                 fingerprints: Mapping[int, str] | None = None):
        self.store, self.connection_id, self.et = store, connection_id, et
        self.fresh = True
        self.now = utc_now()  # one clock reading for the chunk's new changes and seen fingerprints
        self.seen = store_changes.seen_fingerprints(store, connection_id, "export", et.name, [i.local_id for i in items])
        differ = [i.local_id for i in items if fingerprints is None or self.seen.get(i.local_id) != fingerprints[i.line]]
        self.records = store_records.get_records(store, connection_id, et.name, differ)
        self.found = store_changes.changes_for_entities(store, connection_id, "export", et.name, differ, _UNSETTLED)
        self.fetched = set(differ)

    def fingerprint(self, local_id: str) -> str | None:
        if self.fresh:
            return self.seen.get(local_id)
        return store_changes.get_seen(self.store, self.connection_id, "export", self.et.name, local_id)

    def record_and_changes(self, local_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        if self.fresh and local_id in self.fetched:
            return self.records.get(local_id), self.found.get(local_id, [])
        return (store_records.get_record(self.store, self.connection_id, self.et.name, local_id),
                store_changes.changes_for_entity(self.store, self.connection_id, "export", self.et.name,
                                                 local_id, _UNSETTLED))


def _stage_one(store: Store, connection_id: int, et: Any, item: StagedItem, result: StageResult,
               known: _Known | None = None, fp: str | None = None) -> None:
    local_id = item.local_id
    fp = fp or _fingerprint(item)
    known = known or _Known(store, connection_id, et, [item], {item.line: fp})
    if item.link_id:
        linked = store_records.get_record_by_qb_id(store, connection_id, et.name, item.link_id)
        if linked is not None and linked["local_id"] != local_id:
            taken = store_records.get_record(store, connection_id, et.name, local_id)
            if taken is not None:
                raise InvalidInput(
                    f"line {item.line}: id {local_id!r} is already linked to {et.name} {taken['qb_id']}; "
                    f"cannot link it to {item.link_id} too"
                )
            store_records.relink(store, connection_id, et.name, linked["local_id"], local_id)
            known.fresh = False
            result.linked += 1
        elif linked is None:
            mine = store_records.get_record(store, connection_id, et.name, local_id)
            if mine is not None and mine["qb_id"] and mine["qb_id"] != item.link_id:
                raise InvalidInput(
                    f"line {item.line}: id {local_id!r} is linked to {et.name} {mine['qb_id']}, not {item.link_id}"
                )
    if known.fingerprint(local_id) == fp:
        result.unchanged += 1
        return
    record, found = known.record_and_changes(local_id)
    fold = _pick_fold(found)
    base: dict[str, Any] = dict(record["data"]) if record else {}
    exists = record is not None or bool(item.link_id)
    for c in found:  # approved changes not yet settled are what QuickBooks will hold
        if c is fold or c["status"] not in ("queued", "sending", "error"):
            continue
        if c["action"] == "delete":
            base, exists = {}, False
        else:
            base = content.overlay(base, c["payload"])
            exists = True
    qb_id = (record or {}).get("qb_id") or item.link_id
    name = _display_name(et, item.data, (record or {}).get("name") or local_id)
    if not exists:
        _write_change(store, connection_id, et, local_id, fold, action="add", qb_id=None, name=name,
                      payload=item.data, before={}, result=result, has_refs=item.has_refs, now=known.now)
    else:
        changed = content.diff(item.data, base, resolver(store, connection_id))
        if not changed:
            if fold is not None:
                store_changes.update_change(store, fold["id"], status="cleared", resolved_at=utc_now(),
                                            note="staged back to the content QuickBooks already has")
                result.cleared += 1
            else:
                result.unchanged += 1
        else:
            payload = {}
            for key, (_, after) in changed.items():
                payload[key] = content.keep_line_ids(after, base.get(key)) if et.line(key) and isinstance(after, list) else after
            before = {key: old for key, (old, _) in changed.items()}
            _write_change(store, connection_id, et, local_id, fold, action="mod", qb_id=qb_id, name=name,
                          payload=payload, before=before, result=result, has_refs=item.has_refs, now=known.now)
    store_changes.set_seen(store, connection_id, "export", et.name, local_id, fp, known.now)


CHUNK = 500  # items read from the store together (a few queries per chunk, not per item)


def _chunks(items: Iterable[StagedItem], size: int | None = None) -> Iterator[list[StagedItem]]:
    """Chunks of up to `size` (CHUNK) items, an id never twice in one (a later line of the same
    id must see what the earlier one wrote)."""
    size = size or CHUNK
    chunk: list[StagedItem] = []
    ids: set[str] = set()
    for item in items:
        if len(chunk) >= size or item.local_id in ids:
            yield chunk
            chunk, ids = [], set()
        chunk.append(item)
        ids.add(item.local_id)
    if chunk:
        yield chunk


def stage_items(
    store: Store, connection: Mapping[str, Any], type_name: str, items: Iterable[StagedItem],
    skipped: list[StageProblem] | None = None, read: int = 0, skip_invalid: bool = False,
    trust_unchanged: bool = False,
) -> StageResult:
    """Turn validated items into changes, all in one transaction. `items` may be any iterable
    (stage_lines streams them back from its index): they are taken CHUNK at a time.
    `trust_unchanged`: an item found unchanged when it was checked is counted so without
    reading the store again (stage_lines, when no line of the call links or relinks ids)."""
    et = catalogue.entity_type(type_name)
    cid = connection["id"]
    result = StageResult(type=et.name, read=read, skipped=list(skipped or []))
    with store.transaction():
        for chunk in _chunks(items):
            if trust_unchanged:
                result.unchanged += sum(1 for item in chunk if item.unchanged)
                chunk = [item for item in chunk if not item.unchanged]
                if not chunk:
                    continue
            fps = {item.line: _fingerprint(item) for item in chunk}
            known = _Known(store, cid, et, chunk, fps)
            for item in chunk:
                if not skip_invalid:
                    _stage_one(store, cid, et, item, result, known, fps[item.line])
                    continue
                # --skip-invalid: a line that turns out to conflict is skipped (what it wrote undone),
                # not the whole file.
                try:
                    with store.savepoint():
                        _stage_one(store, cid, et, item, result, known, fps[item.line])
                except InvalidInput as exc:
                    result.skipped.append(StageProblem(item.line, None, str(exc).split(": ", 1)[-1]))
    return result


def check_call(
    store: Store, connection_id: int, et: Any, items: list[StagedItem], refused_ids: Iterable[str] = ()
) -> tuple[list[StagedItem], list[StageProblem]]:
    """The checks across lines (stage_checks): the items still valid, and the problems found.
    `refused_ids`: the ids on lines already refused (a reference to one is refused too)."""
    problems: list[StageProblem] = []
    refused: set[int] = set()

    def refuse(found: list[stage_checks.Problem]) -> list[StagedItem]:
        problems.extend(StageProblem(*p) for p in found)
        refused.update(p[0] for p in found)
        return [i for i in items if i.line not in refused]

    keep = refuse(stage_checks.duplicate_ids(items))
    keep = refuse(stage_checks.name_clashes(store, connection_id, et, keep))
    refused_ids = {*refused_ids, *(i.local_id for i in items if i.line in refused)}
    keep = refuse(stage_checks.dangling_references(store, connection_id, keep, refused_ids))
    return keep, problems


def _light(et: Any, item: StagedItem) -> StagedItem:
    """What the file-wide checks need of an item (stage_checks): its id, link, Name, ParentRef
    and the fields holding a local-id reference."""
    keep = {k: v for k, v in item.data.items()
            if k in (et.name_field, "ParentRef") or item.has_refs and content.local_refs(v)}
    return StagedItem(item.line, item.local_id, item.link_id, keep)


def _index(index: StageIndex, et: Any, item: StagedItem) -> None:
    """The item into the index, with its fingerprint (made once, here)."""
    parent = item.data.get("ParentRef")
    index.add(item.line, item.local_id, item.link_id, item.data,
              has_refs=item.has_refs and bool(content.local_refs(item.data)),
              unchanged=item.unchanged, fingerprint=_fingerprint(item),
              leaf=stage_checks.leaf_of(item.data.get(et.name_field)),
              parent_id=str(parent[content.LOCAL_ID]) if content.is_local_ref(parent) else None,
              plain="ParentRef" not in item.data and item.link_id is None)


def _item(row: Mapping[str, Any], decode: bool = True) -> StagedItem:
    """The item of an index row (`decode` False: without its content, for an item counted
    as unchanged and never read)."""
    return StagedItem(row["line"], row["local_id"], row["link_id"], StageIndex.data(row) if decode else {},
                      bool(row["has_refs"]), bool(row["unchanged"]), row["fingerprint"])


def check_indexed(
    store: Store, connection_id: int, et: Any, index: StageIndex, refused_ids: Iterable[str] = ()
) -> list[StageProblem]:
    """`check_call` for the lines of an index, the same problems found: each check reads back
    only the lines it may refuse (memory holds those, not the file)."""
    problems: list[StageProblem] = []
    refused_ids = set(refused_ids)

    def refuse(found: list[stage_checks.Problem], items: list[StagedItem]) -> None:
        problems.extend(StageProblem(*p) for p in found)
        lines = {p[0] for p in found}
        refused_ids.update(i.local_id for i in items if i.line in lines)
        index.refuse(lines)

    sharing = [_light(et, _item(row)) for row in index.lines_sharing_an_id()]
    refuse(stage_checks.duplicate_ids(sharing), sharing)
    held = stage_checks.held_names(store, connection_id, et)
    if held is not None:
        named = [_light(et, _item(row)) for row in index.lines_for_names()
                 if stage_checks.may_clash(held, et.name, row["local_id"], bool(row["plain"]), row["leaf"],
                                           bool(row["shared"]), bool(row["is_parent"]))]
        refuse(stage_checks.name_clashes(store, connection_id, et, named, held), named)
    referring = [_light(et, _item(row)) for row in index.lines_with_refs()]
    refuse(stage_checks.dangling_references(store, connection_id, referring, refused_ids, index.id_counts), referring)
    return problems


def stage_lines(
    store: Store, connection: Mapping[str, Any], type_name: str, lines: Iterable[str], *,
    skip_invalid: bool = False, progress: Callable[[int], None] | None = None,
) -> StageResult:
    """Validate every line, each alone and then across lines and against the store, then stage
    them. A bad line raises InvalidInput (nothing written) unless skip_invalid, which stages the
    good lines and reports the bad ones.

    Lines are streamed: each valid item goes to a temporary index (StageIndex) as it is checked;
    the file-wide checks read back only the lines they may refuse, and the write pass every line
    not refused, a chunk at a time. Memory grows with neither the size of the records nor their
    number."""
    et = catalogue.entity_type(type_name)
    index = StageIndex()
    try:
        problems: list[StageProblem] = []
        cid = connection["id"]

        def seen(ids: list[str]) -> Mapping[str, str]:
            return store_changes.seen_fingerprints(store, cid, "export", et.name, ids)

        links = False
        valid = 0
        for item, found in checked_lines(type_name, lines, progress, seen):
            if item is not None:
                _index(index, et, item)
                valid += 1
                links = links or item.link_id is not None
            problems.extend(found)
        read = valid + len({p.line for p in problems})
        found = check_indexed(store, connection["id"], et, index, {p.local_id for p in problems if p.local_id})
        problems = sorted(problems + found, key=lambda p: p.line)
        if problems and not skip_invalid:
            first = problems[0]
            more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
            raise InvalidInput(f"{first}{more}; nothing was staged (--skip-invalid stages the valid lines)")
        # A link may relink (rename) another id's rows: then every item reads the store again.
        # Otherwise an item found unchanged is only counted (stage_items): its content stays unread.
        items = (_item(row, decode=links or not row["unchanged"]) for row in index.lines_kept())
        return stage_items(store, connection, type_name, items, problems, read,
                           skip_invalid=skip_invalid, trust_unchanged=not links)
    finally:
        index.close()


def stage_deletes(store: Store, connection: Mapping[str, Any], type_name: str, ids: list[str]) -> StageResult:
    """Export deletes for the app's ids; an id unknown to both the mirror and the wizard fails
    the whole call (nothing written). An id given twice is one delete."""
    et = catalogue.entity_type(type_name)
    ids = list(dict.fromkeys(str(i) for i in ids))
    result = StageResult(type=et.name, read=len(ids))
    cid = connection["id"]
    with store.transaction():
        for local_id in ids:
            record = store_records.get_record(store, cid, et.name, local_id)
            found = store_changes.changes_for_entity(store, cid, "export", et.name, local_id, _UNSETTLED)
            fold = _pick_fold(found)
            adds_in_flight = [c for c in found if c is not fold and c["action"] == "add"
                              and c["status"] in ("queued", "sending", "error")]
            if record is None and not adds_in_flight:
                if fold is not None and fold["action"] == "add":
                    store_changes.update_change(store, fold["id"], status="cleared", resolved_at=utc_now(),
                                                note="deleted in the app before it was sent")
                    store_changes.forget_seen(store, cid, et.name, local_id)
                    result.cleared += 1
                    continue
                raise NotFound(f"no {et.name} with id {local_id!r} to delete (not in the mirror or the wizard)")
            if fold is not None and fold["action"] == "delete":
                result.unchanged += 1
                continue
            name = (record or {}).get("name") or (fold or adds_in_flight[0])["name"] or local_id
            _write_change(store, cid, et, local_id, fold, action="delete", qb_id=(record or {}).get("qb_id"),
                          name=name, payload={}, before=dict((record or {}).get("data") or {}), result=result)
            store_changes.set_seen(store, cid, "export", et.name, local_id, "deleted")
    return result
