"""The :class:`FakeQuickBooks` class: one company answering qbXML messages, its fault
injection and the "in QuickBooks" actions. The package documentation says what it models."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from qbsync.errors import QbsyncError
from qbsync.qbxml import load_schema
from qbsync.qbxml.schema import Schema, available_versions
from qbsync.qbxml.versions import version_key
from qbsync.testing.fake_quickbooks import catalog, lists, messages, query, status, txns
from qbsync.testing.fake_quickbooks.company_data import Company, SqliteFile
from qbsync.testing.fake_quickbooks.faults import Faults
from qbsync.testing.fake_quickbooks.ids import NEW_LINE_ID, system_clock
from qbsync.testing.fake_quickbooks.ids import now as clock_now
from qbsync.testing.fake_quickbooks.records import Ctx, as_list, find_by_name
from qbsync.testing.fake_quickbooks.replies import ConnectionLost, Exchange, Reply

QbStatus = status.QbStatus


class FakeQuickBooks:
    """A QuickBooks company answering qbXML. See the package documentation (:mod:`qbsync.testing.fake_quickbooks`)."""

    def __init__(
        self,
        qbxml_version: str = "13.0",
        path: str | Path | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        schema_dir: str | Path | None = None,
        company_name: str = "Fake QuickBooks Company",
        company_file: str | None = None,
        seed: bool = True,
    ):
        version_key(qbxml_version)  # reject nonsense early
        self.qbxml_version = qbxml_version
        self.schema_dir = schema_dir
        self.clock = clock or system_clock
        self.company_name = company_name
        self.path = Path(path) if path is not None else None
        self.company_file = company_file or (str(self.path) if self.path else r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\fake.QBW")
        self.history: list[Exchange] = []
        self._seed = seed
        self._company = Company()
        self._file = SqliteFile(self.path) if self.path is not None else None
        self._faults = Faults()
        self._iterators: dict[str, query.Iterator] = {}
        self._lock = threading.RLock()  # one message at a time, as QuickBooks' request processor
        self._own_schema = self._schema(qbxml_version)
        self._host = messages.Host(qbxml_version, company_name)
        with self._state():
            pass

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "in memory"
        return f"<FakeQuickBooks qbXML {self.qbxml_version}, {where}>"

    # ---- the request processor ---------------------------------------------------------------

    def process(self, request_xml: str | bytes) -> Reply:
        """Process one qbXML request message, as QuickBooks' request processor does."""
        text = request_xml.decode("utf-8", "replace") if isinstance(request_xml, bytes) else request_xml
        self._wait()
        if self._faults.open_error is not None:
            reply = self._faults.open_error
            self.history.append(Exchange(text, reply))
            return reply
        checked = messages.read_message(request_xml, self.qbxml_version, self._schema)
        if checked is None:
            reply = Reply(None, status.HRESULT_PARSE_ERROR, status.PARSE_ERROR_MESSAGE)
            self.history.append(Exchange(text, reply))
            return reply
        with self._state() as ctx:
            xml = messages.answer_message(ctx, checked, self._iterators, self._host)
        if self._faults.lose:
            self._faults.lose -= 1
            self.history.append(Exchange(text, None, lost=True))
            if self._faults.lose_raises:
                raise ConnectionLost(xml)
            return Reply(None, lost=True)
        if self._faults.malformed:
            self._faults.malformed -= 1
            xml = xml[: max(len(xml) // 2, 1)]
        reply = Reply(xml)
        self.history.append(Exchange(text, reply))
        return reply

    def hcp_response(self) -> str:
        """The Host + Company + Preferences answer QBWC sends in the first sendRequestXML."""
        v = self.qbxml_version
        request = (
            f'<?xml version="1.0"?><?qbxml version="{v}"?><QBXML><QBXMLMsgsRq onError="continueOnError">'
            '<HostQueryRq requestID="1"/><CompanyQueryRq requestID="2"/><PreferencesQueryRq requestID="3"/>'
            "</QBXMLMsgsRq></QBXML>"
        )
        checked = messages.read_message(request, self.qbxml_version, self._schema)
        assert checked is not None
        with self._state() as ctx:
            xml = messages.answer_message(ctx, checked, self._iterators, self._host)
        self.history.append(Exchange(request, Reply(xml)))
        return xml

    def begin_session(self, company_file: str = "") -> Reply | None:
        """Open the company (the Web Connector calls this before its first request). None when
        it opened; otherwise the failure injected with :meth:`fail_open`."""
        error = self._faults.open_error
        if error is None:
            return None
        if self._faults.open_times is not None:
            self._faults.open_times -= 1
            if self._faults.open_times <= 0:
                self._faults.open_error, self._faults.open_times = None, None
        return error

    def end_session(self) -> None:
        """Close the session: iterators die with it, as in QuickBooks."""
        self._iterators.clear()

    # ---- fault injection ----------------------------------------------------------------------

    def lose_next_response(self, count: int = 1, *, raise_error: bool = True) -> None:
        """Apply the next `count` messages, then lose their responses: ``process`` raises
        :class:`ConnectionLost` (or, with ``raise_error=False``, returns
        ``Reply(xml=None, hresult="", lost=True)``)."""
        self._faults.lose += count
        self._faults.lose_raises = raise_error

    def malformed_next_response(self, count: int = 1) -> None:
        self._faults.malformed += count

    def delay(self, seconds: float, count: int | None = 1) -> None:
        """Make the next `count` messages (None: every message) take `seconds` longer."""
        self._faults.delay, self._faults.delay_count = float(seconds), count

    def fail_open(self, hresult: str = status.HRESULT_CANNOT_START, message: str = status.CANNOT_START_MESSAGE, times: int | None = None) -> None:
        """The company file cannot be opened, `times` times (None: until :meth:`clear_open_error`)."""
        self._faults.open_error = Reply(None, hresult, message)
        self._faults.open_times = times

    def clear_open_error(self) -> None:
        self._faults.open_error, self._faults.open_times = None, None

    @property
    def open_error(self) -> Reply | None:
        """The injected failure to open the company (hresult, message), or None."""
        return self._faults.open_error

    def lock(self, type_name: str, object_id: str, code: int = status.MODIFY_FAILED) -> None:
        """Someone holds this record: Mod/Del of it fail with `code` (3170 or 3175)."""
        if code not in (status.MODIFY_FAILED, status.LOCK_FAILED):
            raise ValueError("lock code must be 3170 or 3175")
        catalog.get(type_name)
        self._faults.locks[object_id] = code

    def unlock(self, type_name: str, object_id: str) -> None:
        self._faults.locks.pop(object_id, None)

    # ---- acting in QuickBooks -----------------------------------------------------------------

    def create(self, type_name: str, data: Mapping[str, Any]) -> dict:
        """Add a record as a QuickBooks user would (qbXML Add field names; Refs by FullName or
        ListID). Raises QbStatus (e.g. 3100, 3140) like the matching Add request."""
        info = catalog.get(type_name)
        with self._state() as ctx:
            rec = (lists if info.is_list else txns).add(ctx, type_name, data)
            return self._public(ctx, type_name, rec)

    def edit(self, type_name: str, object_id: str, changes: Mapping[str, Any]) -> dict:
        """Change a record in QuickBooks: its EditSequence and TimeModified move on, so a sync
        holding the old EditSequence now gets 3200."""
        info = catalog.get(type_name)
        with self._state() as ctx:
            rec = ctx.company.get(type_name, object_id)
            if rec is None:
                raise status.not_found(object_id)
            data = {**changes, info.id_field: object_id, "EditSequence": rec["EditSequence"]}
            if not info.is_list:
                data = _lines_as_mods(info, data, rec)
            rec = (lists if info.is_list else txns).mod(_unlocked(ctx), type_name, data)
            return self._public(ctx, type_name, rec)

    def make_inactive(self, type_name: str, list_id: str) -> dict:
        return self.edit(type_name, list_id, {"IsActive": "false"})

    def delete(self, type_name: str, object_id: str) -> dict:
        info = catalog.get(type_name)
        with self._state() as ctx:
            return dict((lists if info.is_list else txns).delete(_unlocked(ctx), type_name, object_id))

    def get(self, type_name: str, object_id: str) -> dict | None:
        catalog.get(type_name)
        with self._state() as ctx:
            rec = ctx.company.get(type_name, object_id)
            return self._public(ctx, type_name, rec) if rec is not None else None

    def find(self, type_name: str, name: str) -> dict | None:
        """A list record by FullName, or a transaction by RefNumber."""
        info = catalog.get(type_name)
        with self._state() as ctx:
            if info.is_list:
                found = find_by_name(ctx.company, (type_name,), name)
                return self._public(ctx, type_name, found[1]) if found else None
            for rec in ctx.company.records(type_name).values():
                if rec.get("RefNumber") == name:
                    return self._public(ctx, type_name, rec)
            return None

    def all(self, type_name: str) -> list[dict]:
        """Every record of the type, inactive ones included, in creation order."""
        catalog.get(type_name)
        with self._state() as ctx:
            return [self._public(ctx, type_name, rec) for rec in ctx.company.records(type_name).values()]

    def deleted(self) -> list[dict]:
        with self._state() as ctx:
            return [dict(e) for e in ctx.company.deleted]

    # ---- internals ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _state(self) -> Iterator[Ctx]:
        """One unit of work: the company (reloaded from / saved to the file when there is one)
        and the time of this unit."""
        with self._lock:
            yield from self._unit()

    def _unit(self) -> Iterator[Ctx]:
        if self._file is None:
            ctx = Ctx(self._company, clock_now(self.clock), self._faults.locks, self._own_schema)
            if self._seed and not self._company.state.get("seeded"):
                lists.seed(ctx)
                self._company.state["seeded"] = True
            yield ctx
            return
        with self._file.transaction(self._company) as fresh:
            ctx = Ctx(self._company, clock_now(self.clock), self._faults.locks, self._own_schema)
            if fresh:
                self._company.state = Company().state
                if self._seed:
                    lists.seed(ctx)
                self._company.state["seeded"] = self._seed
            yield ctx

    def _public(self, ctx: Ctx, type_name: str, rec: Mapping) -> dict:
        ret = query.record_ret(ctx, type_name, rec)
        return {k: v for k, v in ret.items() if not k.startswith("_")}

    def _wait(self) -> None:
        f = self._faults
        if f.delay > 0 and (f.delay_count is None or f.delay_count > 0):
            if f.delay_count is not None:
                f.delay_count -= 1
            time.sleep(f.delay)

    def _schema(self, version: str) -> Schema:
        try:
            return load_schema(version, self.schema_dir)
        except QbsyncError:
            # Older than every schema we have (e.g. 2.0): QuickBooks accepts old versions, and
            # their messages are valid under the oldest schema available.
            oldest = available_versions(self.schema_dir)[0]
            return load_schema(oldest, self.schema_dir)


def _unlocked(ctx: Ctx) -> Ctx:
    """Locks stand for other users holding a record; QuickBooks' own user is not blocked."""
    return Ctx(ctx.company, ctx.now, {}, ctx.schema)


def _lines_as_mods(info: catalog.TypeInfo, data: dict, rec: Mapping) -> dict:
    """`edit` takes lines as a Mod does (`InvoiceLineMod`: the lines after the change), or
    `InvoiceLineAdd` to append lines to the ones the transaction has."""
    out = dict(data)
    for kind in info.lines:
        added = as_list(out.pop(f"{kind}Add", None))
        if added:
            kept = as_list(out.get(f"{kind}Mod")) or [{"TxnLineID": ln["TxnLineID"]} for ln in rec.get(f"{kind}Ret", [])]
            out[f"{kind}Mod"] = kept + [{"TxnLineID": NEW_LINE_ID, **line} for line in added]
    return out

