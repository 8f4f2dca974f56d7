"""Plain data the engine works on: export changes, the mirror, and what each response meant.

Nothing here knows SQLite or HTTP: the service turns store rows into these (``from_row``) and
turns the outcomes back into store calls.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from qbsync.engine import locks as lock_rules


@dataclass(frozen=True)
class Ref:
    """A reference of a change to another record by the app's id, e.g. path
    ``InvoiceLine[0]/ItemRef``, local id ``I-7``, types ``("ItemService", …)`` (empty: any type)."""

    path: str
    local_id: str
    types: tuple[str, ...] = ()

    @classmethod
    def from_values(cls, path: str, local_id: str, ref_type: str | None) -> Ref:
        """A `change_refs` row as plain values (path, local id, types as the store keeps them)."""
        return _shared_ref(path, local_id, ref_type)

    def label(self) -> str:
        """How a person names the record referred to: ``Customer C-1``."""
        return f"{kind_label(self.types)} {self.local_id}"


@functools.lru_cache(maxsize=4096)
def _shared_ref(path: str, local_id: str, ref_type: str | None) -> Ref:
    """One Ref for each distinct reference (it is frozen): a callback loads every reference of
    every change in its window, and invoices repeat theirs (one customer, a few items)."""
    return Ref(str(path), str(local_id), _ref_types(ref_type or ""))


@functools.lru_cache(maxsize=256)
def _ref_types(text: str) -> tuple[str, ...]:
    """The types of a reference as the store keeps them ("ItemService,ItemInventory,…"); a few
    distinct texts, read for every reference of every change a callback loads."""
    return tuple(filter(None, text.split(",")))


def kind_label(types: tuple[str, ...] | list[str]) -> str:
    """A type, or a word for several: ("ItemService", "ItemInventory", …) -> "item"."""
    if len(types) == 1:
        return types[0]
    if types and all(t.startswith("Item") for t in types):
        return "item"
    return "record"


class _JsonObject:
    """A dict field that may be given as JSON text, decoded when first read: a callback loads a
    window of queued changes, and only those it sends need their payload. None is {}."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return None  # the dataclass default
        value = obj.__dict__[self.slot]
        if isinstance(value, str):
            value = obj.__dict__[self.slot] = dict(json.loads(value) or {}) if value != "{}" else {}
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = self.kept(value)

    @staticmethod
    def kept(value: Any) -> Any:
        """What the field keeps of a value given: JSON text as it is, else a dict of its own."""
        return value if isinstance(value, str) else dict(value or {})


@dataclass
class ExportChange:
    """An approved export (status ``queued``) as the engine sees it. `payload` and `before` may
    be given as the store's JSON text (decoded when first read)."""

    id: int
    type: str
    action: str  # add / mod / delete
    local_id: str
    qb_id: str | None = None
    name: str | None = None
    payload: dict[str, Any] = _JsonObject()  # type: ignore[assignment]
    refs: tuple[Ref, ...] = ()
    before: dict[str, Any] = _JsonObject()  # type: ignore[assignment]  # a Mod's fields as they were
    refresh_edit_sequence: int = 0  # 1: re-read and merge before the Mod; 2: re-read, the app's values win
    locks: int = 0  # lock answers in a row so far (3170/3175/3176, see qbsync.engine.locks)
    lock_code: int | None = None  # the last of them
    not_before: str | None = None  # still resting after a lock answer: not sent before then (ISO UTC)
    message_id: str | None = None  # the newMessageSetID of the message it was last sent in
    last_tried: str | None = None  # when it was last sent (UTC, ISO-8601)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], refs: Iterable[tuple[str, str, str | None]] = (), *,
                 now: str | None = None) -> ExportChange:
        """`row` as the store has it, `refs` its `(path, local_id, ref_type)` rows. A queued change
        whose last answer was a lock carries the store's `attempts_since_failure` (the lock answers
        in a row: every other answer settles the change, writes a Failed Syncs row or gives the
        attempt back); with the shell's `now` it rests until its backoff has passed (`not_before`).

        Made without the generated __init__ (it costs three times as much, and a callback makes
        one per change of its window): every field is set here, as the constructor would set
        it (tests/test_export_change_from_row.py holds the two equal)."""
        code = row.get("status_code")
        locks, until = 0, None
        if code is not None and row.get("status") == "queued" and lock_rules.is_lock(code):
            locks = int(row.get("attempts_since_failure") or 0)
            until = lock_rules.not_before(row.get("last_tried"), locks)
            if until is not None and (now is None or not lock_rules.later(until, now)):
                until = None  # its time has come (or the shell gave no time: it may go)
        change = cls.__new__(cls)
        change.__dict__.update(
            id=int(row["id"]),
            type=row["type"],
            action=row["action"],
            local_id=str(row["local_id"]),
            qb_id=row.get("qb_id"),
            name=row.get("name"),
            _payload=_JsonObject.kept(row.get("payload")),
            refs=tuple([_shared_ref(*r) for r in refs]) if refs else (),  # Ref.from_values, inlined
            _before=_JsonObject.kept(row.get("before")),
            refresh_edit_sequence=int(row.get("refresh_edit_sequence") or 0),
            locks=locks,
            lock_code=int(code) if locks else None,
            not_before=until,
            message_id=row.get("message_id"),
            last_tried=row.get("last_tried"),
        )
        return change

    @property
    def entity(self) -> tuple[str, str]:
        return (self.type, self.local_id)

    def label(self) -> str:
        return f"{self.type} {self.name or self.local_id}"


@dataclass
class MirrorRecord:
    """One record of the mirror: what qbsync knows QuickBooks holds for an entity."""

    type: str
    local_id: str
    qb_id: str | None
    edit_sequence: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    qb_data: dict[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MirrorRecord:
        return cls(
            type=row["type"],
            local_id=str(row["local_id"]),
            qb_id=row.get("qb_id"),
            edit_sequence=row.get("edit_sequence"),
            data=dict(row.get("data") or {}),
            qb_data=row.get("qb_data"),
        )


class Mirror:
    """The mirror records a plan needs, looked up by (type, local id) or by local id alone."""

    def __init__(self, records: Iterable[MirrorRecord] = ()):
        self._by_key: dict[tuple[str, str], MirrorRecord] = {}
        self._by_local: dict[str, list[MirrorRecord]] = {}
        for rec in records:
            self.add(rec)

    def add(self, rec: MirrorRecord) -> None:
        self._by_key[(rec.type, rec.local_id)] = rec
        self._by_local.setdefault(rec.local_id, []).append(rec)

    def learn(self, type_name: str, local_id: str, qb_id: str | None, edit_sequence: str | None) -> None:
        """What a synced change made known: the record's ListID/TxnID and EditSequence."""
        rec = self.get(type_name, local_id)
        if rec is None:
            self.add(MirrorRecord(type_name, local_id, qb_id, edit_sequence))
        else:
            rec.qb_id, rec.edit_sequence = qb_id or rec.qb_id, edit_sequence or rec.edit_sequence

    def get(self, type_name: str, local_id: str) -> MirrorRecord | None:
        return self._by_key.get((type_name, local_id))

    def find(self, local_id: str, types: Iterable[str] = ()) -> MirrorRecord | None:
        """A record with this local id (of one of `types`, when given) that QuickBooks knows."""
        records = self._by_local.get(local_id)
        if not records:  # most calls (a reference's every look-up while planning): nothing to build
            return None
        wanted = types if isinstance(types, (tuple, frozenset, set)) else tuple(types)
        for rec in records:
            if rec.qb_id and (not wanted or rec.type in wanted):
                return rec
        return None

    def __len__(self) -> int:
        return len(self._by_key)


# -- what a response (or its absence) meant for one change -------------------------------------


@dataclass(frozen=True)
class Synced:
    """QuickBooks applied the change (status 0–999; a warning is kept when 500–999)."""

    change_id: int
    qb_id: str | None
    edit_sequence: str | None
    snapshot: dict[str, Any] | None
    status_code: int = 0
    status_message: str | None = None

    @property
    def warning(self) -> bool:
        return self.status_code >= 500


@dataclass(frozen=True)
class Failed:
    """QuickBooks refused the change (status ≥ 1000), or qbsync refused to send it (invalid):
    Error Log and Failed Syncs."""

    change_id: int
    status_code: int | str | None  # a statusCode, or an HRESULT ("0x80040400")
    message: str
    severity: str = "Error"


@dataclass(frozen=True)
class Requeued:
    """Not processed, nothing applied (3231, or the whole message could not be parsed): back to
    the queue, not a failure. `retry_now` tells whether this session may send it again; `alone`
    that it goes again in a message of its own (to find which change QuickBooks could not parse).
    `retry_after`: a lock answer (3170/3175/3176): the attempt counts, and the change rests that
    many seconds before it is sent again (qbsync.engine.locks)."""

    change_id: int
    reason: str
    status_code: int | str | None = None
    retry_now: bool = False
    alone: bool = False
    retry_after: int | None = None


@dataclass(frozen=True)
class Unknown:
    """Sent, but no usable answer came back: QuickBooks may have applied it. Never re-sent blindly."""

    change_id: int
    reason: str


@dataclass(frozen=True)
class Undecided:
    """An outcome-unknown change that settling checked in QuickBooks without being able to tell
    whether it was applied: it stays in the Error Log with the evidence (`reason`), checked, so
    the next sessions do not ask again. Never re-sent blindly."""

    change_id: int
    reason: str


@dataclass(frozen=True)
class Refreshed:
    """The current record was re-read from QuickBooks before a Mod (fix-edit-sequence). After a
    merge, `send` is the Mod's payload, `kept` what only QuickBooks changed (path -> value) and
    `added_lines` the TxnLineIDs of lines QuickBooks added, by line field; `send` None: the
    app's values win as they are."""

    change_id: int
    edit_sequence: str
    snapshot: dict[str, Any]
    send: dict[str, Any] | None = None
    kept: dict[str, Any] = field(default_factory=dict)
    added_lines: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Waiting:
    """Not sent in this session: a record it refers to has not reached QuickBooks yet."""

    change_id: int
    reason: str


@dataclass
class ImportChange:
    """An approved import (status ``queued``): the record is re-read by its ListID/TxnID and its
    current version applied (a deletion is applied as it is)."""

    id: int
    type: str
    action: str  # add / mod / delete
    local_id: str
    qb_id: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ImportChange:
        return cls(int(row["id"]), row["type"], row["action"], str(row["local_id"]), row.get("qb_id"))


@dataclass(frozen=True)
class Applied:
    """An approved import's record as QuickBooks has it now (None: a deletion), to apply to the
    mirror and the feed."""

    change_id: int
    snapshot: dict[str, Any] | None


@dataclass(frozen=True)
class Detected:
    """A record QuickBooks reported as changed (a Ret) or deleted (a ListDeletedRet /
    TxnDeletedRet): it becomes an import change awaiting approval, unless it is qbsync's own
    save or nothing changed. Not tied to a change: it has no `change_id`."""

    type_name: str
    record: dict[str, Any]
    deleted: bool = False


@dataclass(frozen=True)
class Watermark:
    """Detection of `kind` (a type, or ListDeleted / TxnDeleted) read everything up to
    QuickBooks' own time `value` (a TimeModified / TimeDeleted, with its offset)."""

    kind: str
    value: str


@dataclass(frozen=True)
class DetectionDone:
    """Every import type was checked in this session (the time of the next check counts from now)."""


Outcome = Synced | Failed | Requeued | Unknown | Undecided | Refreshed | Waiting | Applied
Found = Detected | Watermark | DetectionDone  # what detection learnt (no change id)
