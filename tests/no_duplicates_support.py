"""A world for the no-duplicates property test (tests/test_no_duplicates.py): a real store, the
real ConnectorService behind the real WSGI app on waitress (127.0.0.1, any free port), a
FakeQuickBooks company reached through the shipped WebConnector, and a small model of what the
app staged, so the test can say what QuickBooks must (and must never) hold.

Entities have fixed names (a list record is found by FullName, a transaction by RefNumber) and
a *version*: every edit gives the entity a version it never had, and every compared field
depends on it, so a record's values in QuickBooks tell which staged version reached it."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from qbsync.qbxml import parse_request
from qbsync.connector.service import ConnectorService
from qbsync.connector.app import make_wsgi_app, serve
from qbsync.store import open_store
from qbsync.store.connections import add_connection, get_connection
from qbsync.qbxml.entities import dependency_order
from qbsync.sync import errorlog, overview, staging, wizard
from qbsync.sync.passwords import hash_password
from qbsync.testing import WebConnector
from qbsync.qbxml import parse_response
from qbsync.testing.fake_quickbooks import ConnectionLost, FakeQuickBooks, Reply
from clock import Clock
from wizard_support import TEST_HASH_COST, run_cli

USER, PASSWORD = "acme-sync", "acme-pass-1"
SESSION_TIMEOUT = 120
LIST_TYPES = ("Customer", "ItemService")
WRITE_RQ = ("Add", "Mod")


@functools.cache
def password_hash() -> str:
    """One scrypt hash for every world, at the tests' cost (each authenticate still verifies it)."""
    return hash_password(PASSWORD, cost=TEST_HASH_COST)


# -- the app's entities ---------------------------------------------------------------------------


@dataclass
class Entity:
    type: str
    local_id: str
    key: str  # FullName (lists) or RefNumber (transactions) in QuickBooks
    parent: str | None = None  # a job's customer
    customer: str | None = None  # an invoice's / payment's customer (local id)
    items: tuple[str, ...] = ()  # an invoice's items, one line each (local ids)
    invoice: str | None = None  # the invoice a payment applies to
    version: int = 1
    editable: bool = True

    @property
    def is_list(self) -> bool:
        return self.type in LIST_TYPES

    def data(self, version: int | None = None) -> dict[str, Any]:
        """The staged JSON of this entity at `version` (default: its current one)."""
        v = self.version if version is None else version
        if self.type == "Customer":
            row: dict[str, Any] = {"id": self.local_id, "Name": self.key.rsplit(":", 1)[-1], "Phone": f"555-{v:04d}"}
            if self.parent:
                row["ParentRef"] = {"local_id": self.parent}
            return row
        if self.type == "ItemService":
            return {"id": self.local_id, "Name": self.key,
                    "SalesOrPurchase": {"Price": f"{10 + v}.00", "AccountRef": {"FullName": "Services"}}}
        if self.type == "Invoice":
            return {"id": self.local_id, "CustomerRef": {"local_id": self.customer}, "RefNumber": self.key,
                    "TxnDate": "2026-11-20", "Memo": f"v{v}",
                    "InvoiceLine": [{"id": f"L{i}", "ItemRef": {"local_id": item}, "Quantity": v + i}
                                    for i, item in enumerate(self.items)]}
        return {"id": self.local_id, "CustomerRef": {"local_id": self.customer}, "RefNumber": self.key,
                "TxnDate": "2026-11-21", "TotalAmount": "1.00",
                "AppliedToTxn": [{"TxnID": {"local_id": self.invoice}, "PaymentAmount": "1.00"}]}

    def values(self, version: int) -> dict[str, Any]:
        """The fields compared with QuickBooks, as this version stages them."""
        if self.type == "Customer":
            return {"Phone": f"555-{version:04d}"}
        if self.type == "ItemService":
            return {"Price": Decimal(f"{10 + version}.00")}
        if self.type == "Invoice":
            return {"Memo": f"v{version}", "Quantities": [Decimal(version + i) for i in range(len(self.items))]}
        return {"TotalAmount": Decimal("1.00")}


def qb_values(type_name: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The compared fields of a QuickBooks record (as FakeQuickBooks returns it)."""
    if type_name == "Customer":
        return {"Phone": rec.get("Phone")}
    if type_name == "ItemService":
        return {"Price": Decimal(rec["SalesOrPurchase"]["Price"])}
    if type_name == "Invoice":
        lines = rec.get("InvoiceLineRet") or []
        return {"Memo": rec.get("Memo"), "Quantities": [Decimal(line["Quantity"]) for line in lines]}
    return {"TotalAmount": Decimal(rec["TotalAmount"])}


# -- the company, with faults at a chosen message -------------------------------------------------


class FaultyCompany:
    """The FakeQuickBooks the WebConnector talks to, with one fault armed at the n-th qbXML
    message of the run: "lose" (applied, answer lost), "malformed" (applied, answer cut short)
    or "hresult" (QuickBooks fails the whole message with 0x80040402, nothing applied). Every
    message QuickBooks processed is kept in `answered` with its whole answer, lost or cut
    short on the way back or not (what QuickBooks applied)."""

    def __init__(self, fq: FakeQuickBooks, fault: str | None = None, at: int = 1,
                 answered: list[tuple[str, str]] | None = None):
        self.fq, self.fault, self.at, self.seen = fq, fault, at, 0
        self.qbxml_version = fq.qbxml_version
        self.company_file = fq.company_file
        self.fired = False
        self.answered = answered if answered is not None else []

    def hcp_response(self) -> str:
        return self.fq.hcp_response()

    def begin_session(self, company_file: str = ""):
        return self.fq.begin_session(company_file)

    def end_session(self) -> None:
        self.fq.end_session()

    def process(self, xml: str):
        self.seen += 1
        cut = False
        if self.seen == self.at and self.fault and not self.fired:
            self.fired = True
            if self.fault == "lose":
                self.fq.lose_next_response()
            elif self.fault == "malformed":
                cut = True
            elif self.fault == "hresult":
                return _HResult()
        try:
            reply = self.fq.process(xml)
        except ConnectionLost as lost:
            self.answered.append((xml, lost.xml or ""))
            raise
        self.answered.append((xml, reply.xml or ""))
        if cut and reply.xml:  # as FakeQuickBooks.malformed_next_response cuts it
            return Reply(reply.xml[: max(len(reply.xml) // 2, 1)])
        return reply


@dataclass(frozen=True)
class _HResult:
    xml: None = None
    hresult: str = "0x80040402"
    message: str = "Unexpected error. Check the qbsdklog.txt file for possible additional information."


# -- the world -----------------------------------------------------------------------------------


@dataclass
class World:
    folder: Path
    batch_size: int = 3
    clock: Clock = field(default_factory=Clock)
    entities: dict[str, Entity] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)  # change id -> version it carries
    foreign: dict[str, str] = field(default_factory=dict)  # FullName -> ListID made by a QuickBooks user
    answered: list[tuple[str, str]] = field(default_factory=list)  # (request, whole answer) QuickBooks processed
    session_open: bool = False  # the last run was abandoned (answer lost) and has not expired yet
    log: list[str] = field(default_factory=list)  # what happened, for the failure message

    def __post_init__(self) -> None:
        self.db = self.folder / "qbsync.db"
        with open_store(self.db, create=True) as store:
            add_connection(store, name="acme", username=USER, password_hash=password_hash())
        self.fq = FakeQuickBooks(clock=self.clock)
        self.service = ConnectorService(str(self.db), batch_size=self.batch_size, clock=self.clock,
                                        session_timeout=SESSION_TIMEOUT, response_timeout=SESSION_TIMEOUT)
        self.server = serve(make_wsgi_app(self.service, "/qbwc"), "127.0.0.1", 0)

    def close(self) -> None:
        self.server.stop()

    # -- the app and the admin ---------------------------------------------------------------

    def add(self, entity: Entity) -> None:
        self.entities[entity.local_id] = entity

    def stage(self, local_ids: list[str]) -> None:
        """Stage the current version of these entities (type by type) and approve everything."""
        with open_store(self.db) as store:
            conn = get_connection(store, "acme")
            by_type: dict[str, list[Entity]] = {}
            for lid in local_ids:
                by_type.setdefault(self.entities[lid].type, []).append(self.entities[lid])
            for type_name in dependency_order(list(by_type)):  # what is referred to first
                group = by_type[type_name]
                result = staging.stage_lines(store, conn, type_name, [json.dumps(e.data()) for e in group])
                assert not result.skipped, result.skipped
                assert len(result.change_ids) == len(group), (result.as_dict(), [e.local_id for e in group])
                for e, cid in zip(group, result.change_ids):
                    self.versions[cid] = e.version
            wizard.approve(store, conn)
        self.log.append(f"stage {[(lid, self.entities[lid].version) for lid in local_ids]}")

    def edit(self, local_id: str, version: int) -> None:
        self.entities[local_id].version = version
        self.stage([local_id])

    def cli(self, *args: str) -> tuple[int, str]:
        """The real `qbsync` command line, in this process (its stdout and exit code)."""
        proc = run_cli("--db", str(self.db), *args)
        return proc.returncode, proc.stdout

    def errors_json(self) -> list[dict[str, Any]]:
        code, text = self.cli("errors", "--format", "json")
        assert code == 0, text
        return json.loads(text) if text.strip() else []

    def retry_offered(self, *, superseded: bool = True) -> list[int]:
        """Plain `qbsync retry` of every change the Error Log offers retry for. With
        `superseded=False`, not of a change the app has staged a newer change of the same record
        since (retrying that one puts older values back: see test_no_duplicates.py)."""
        rows = [e for e in self.errors_json() if "retry" in e["actions"]]
        if not superseded:
            changes = self.changes()
            rows = [e for e in rows if not any(
                c["id"] > e["id"] and c["type"] == e["type"] and c["local_id"] == e["local_id"]
                and c["status"] != "cleared" for c in changes.values())]
        ids = [e["id"] for e in rows]
        if ids:
            code, text = self.cli("retry", *map(str, ids))
            assert code == 0, text
        self.log.append(f"retry {ids}")
        return ids

    # -- QuickBooks users ---------------------------------------------------------------------

    def take_name(self, entity: Entity) -> bool:
        """A QuickBooks user creates a record with this entity's name (the next Add gets 3100).
        False when that cannot be done now (the name is there already, or a job's customer is not)."""
        if self.fq.find(entity.type, entity.key) is not None:
            return False
        if entity.type == "Customer":
            data: dict[str, Any] = {"Name": entity.key.rsplit(":", 1)[-1]}
            if entity.parent:
                parent = self.entities[entity.parent].key
                if self.fq.find("Customer", parent) is None:
                    return False
                data["ParentRef"] = {"FullName": parent}
        else:
            data = {"Name": entity.key, "SalesOrPurchase": {"Price": "1.00", "AccountRef": {"FullName": "Services"}}}
        rec = self.fq.create(entity.type, data)
        self.foreign[entity.key] = rec["ListID"]
        self.log.append(f"a QuickBooks user created {entity.type} {entity.key!r}")
        return True

    # -- runs -------------------------------------------------------------------------------

    def run(self, fault: str | None = None, at: int = 1, *, advance: float = SESSION_TIMEOUT + 30):
        """One Web Connector run over HTTP. The clock first moves on by `advance` seconds (past
        the session timeout by default, so a session abandoned by the last run has expired)."""
        self.clock.advance(advance)
        if fault == "fail_open":
            self.fq.fail_open(times=1)
        company = FaultyCompany(self.fq, fault if fault in ("lose", "malformed", "hresult") else None, at,
                                self.answered)
        report = WebConnector(self.server.url("/qbwc"), USER, PASSWORD, company=company, noop_delay=0,
                              max_round_trips=200).run()
        self.fq.clear_open_error()
        assert not report.violations, report.violations
        if report.outcome == "response_lost":
            self.session_open = True
        elif report.outcome != "busy":
            self.session_open = False
        self.log.append(f"run fault={fault}@{at} advance={advance}: {report.outcome} {report.final_message!r}")
        return report

    # -- what the store and QuickBooks hold -------------------------------------------------

    def changes(self) -> dict[int, dict[str, Any]]:
        with open_store(self.db) as store:
            rows = store.query("SELECT * FROM changes WHERE direction = 'export' ORDER BY id")
        return {r["id"]: r for r in rows}

    def mirror(self) -> dict[str, dict[str, Any]]:
        with open_store(self.db) as store:
            return {r["local_id"]: r for r in overview.records(store, get_connection(store, "acme"), None)}

    def error_log(self) -> list[dict[str, Any]]:
        with open_store(self.db) as store:
            return errorlog.errors(store, get_connection(store, "acme"))

    def in_quickbooks(self, entity: Entity) -> list[dict[str, Any]]:
        """Every QuickBooks record carrying this entity's FullName / RefNumber."""
        field_name = "FullName" if entity.is_list else "RefNumber"
        return [r for r in self.fq.all(entity.type) if r.get(field_name) == entity.key]

    def applied(self) -> dict[int, int]:
        """How many times QuickBooks applied each change (an Add/Mod/Del of it answered with a
        status below 1000), its answer lost or not; saved answers replayed by error recovery
        are not applications."""
        counts: dict[int, int] = {}
        for request, answer in self.answered:
            writes = {rq.request_id for rq in parse_request(request).requests
                      if rq.name.endswith(WRITE_RQ) or rq.name in ("ListDel", "TxnDel")}
            if not writes or not answer:
                continue
            for rs in parse_response(answer, validate=False).responses:
                if rs.request_id in writes and rs.status_code < 1000 and rs.request_id[1:].isdigit():
                    cid = int(rs.request_id[1:])
                    counts[cid] = counts.get(cid, 0) + 1
        return counts

    def writes_sent(self) -> list[tuple[int, int, str]]:
        """(index in the company's history, change id, request name) of every Add/Mod/Del qbsync sent."""
        out = []
        for i, ex in enumerate(self.fq.history):
            if "<QBXMLMsgsRq" not in ex.request or "HostQueryRq" in ex.request:
                continue
            try:
                parsed = parse_request(ex.request)
            except Exception:  # noqa: BLE001 - not ours to judge here
                continue
            for rq in parsed.requests:
                if rq.name.endswith(WRITE_RQ) or rq.name in ("ListDel", "TxnDel"):
                    if rq.request_id and rq.request_id.startswith("c") and rq.request_id[1:].isdigit():
                        out.append((i, int(rq.request_id[1:]), rq.name))
        return out
