"""The world of the crash-safety test (tests/test_crash_safety.py): a real store, the real
`qbsync serve-connector` as a SEPARATE PROCESS (killed with SIGKILL, started again), a
FakeQuickBooks company kept in a file and answering in THIS process, and the shipped
WebConnector driving the server over HTTP the way QBWC does.

What the app staged is modelled (`Entity`: a fixed name or RefNumber and a version whose values
show in QuickBooks), so the test can say what QuickBooks must hold at the end; what a QuickBooks
user did before the first run (`user_records`) is what detection must import, once each.

Only the server process is killed: the company (QuickBooks) and the WebConnector (QBWC) live on,
as they would on the customer's machine when the qbsync host dies. Everything a test relies on
after a kill is in the two files (the store, the company)."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from wizard_support import TEST_HASH_COST

from qbsync.store import open_store
from qbsync.store import records as store_records
from qbsync.store import sessions as store_sessions
from qbsync.store.connections import add_connection, get_connection
from qbsync.sync import staging, wizard
from qbsync.sync.passwords import hash_password
from qbsync.testing import RunReport, WebConnector
from qbsync.testing.fake_quickbooks import FakeQuickBooks

ROOT = Path(__file__).resolve().parents[1]
USER, PASSWORD = "acme-sync", "acme-crash-1"
CONNECTION = "acme"
IMPORT_TYPES = ["Customer", "Invoice"]
# Short timeouts, so a session whose server died expires soon after the restart (the Web
# Connector is answered `busy` with the seconds to wait until then, and waits them, as QBWC does).
SESSION_TIMEOUT = 1
RESPONSE_TIMEOUT = 2
IMPORT_PAGE_SIZE = 20  # detection pages through iterators, so a kill can land mid import paging
WRITE_RQ = re.compile(r"<(\w+(?:Add|Mod)Rq|ListDelRq|TxnDelRq)\b")


# -- the app's entities --------------------------------------------------------------------------


@dataclass
class Entity:
    type: str  # Customer (jobs too), ItemService, Invoice
    local_id: str
    key: str  # FullName (lists) or RefNumber (invoices) in QuickBooks
    parent: str | None = None  # a job's customer (local id)
    customer: str | None = None  # an invoice's customer or job (local id)
    items: tuple[str, ...] = ()  # an invoice's items, one line each (local ids)
    version: int = 1
    deleted: bool = False
    taken: bool = False  # a deliberate error: a QuickBooks vendor has the name (3100)

    @property
    def refs(self) -> set[str]:
        return {r for r in (self.parent, self.customer, *self.items) if r}

    def data(self) -> dict[str, Any]:
        v = self.version
        if self.type == "Customer":
            row: dict[str, Any] = {"id": self.local_id, "Name": self.key.rsplit(":", 1)[-1], "Phone": f"555-{v:04d}"}
            if self.parent:
                row["ParentRef"] = {"local_id": self.parent}
            return row
        if self.type == "ItemService":
            return {"id": self.local_id, "Name": self.key,
                    "SalesOrPurchase": {"Price": f"{10 + v}.00", "AccountRef": {"FullName": "Services"}}}
        return {"id": self.local_id, "CustomerRef": {"local_id": self.customer}, "RefNumber": self.key,
                "TxnDate": "2026-11-20", "Memo": f"v{v}",
                "InvoiceLine": [{"id": f"L{i}", "ItemRef": {"local_id": item}, "Quantity": i + 1}
                                for i, item in enumerate(self.items)]}

    def expected(self) -> dict[str, Any]:
        """The compared fields QuickBooks holds once every change of this entity went through."""
        if self.type == "Customer":
            return {"Phone": f"555-{self.version:04d}"}
        if self.type == "ItemService":
            return {"Price": Decimal(f"{10 + self.version}.00")}
        return {"Memo": f"v{self.version}", "Lines": len(self.items)}


def qb_values(type_name: str, rec: dict[str, Any]) -> dict[str, Any]:
    if type_name == "Customer":
        return {"Phone": rec.get("Phone")}
    if type_name == "ItemService":
        return {"Price": Decimal(rec["SalesOrPurchase"]["Price"])}
    return {"Memo": rec.get("Memo"), "Lines": len(rec.get("InvoiceLineRet") or [])}


def plan_scenario(rng: random.Random, changes: int) -> tuple[list[Entity], list[str], list[str]]:
    """About `changes` approved changes: items, customers, jobs, invoices (lines referring to
    them), two customers whose names a QuickBooks vendor has (the deliberate errors); then mods
    of earlier customers and invoices, and deletes of invoices and of customers nothing refers
    to. Returns the entities, the local ids modified in the second wave and those deleted."""
    n_items = max(3, changes // 40)
    n_customers = max(4, int(changes * 0.32))
    n_jobs = max(2, int(changes * 0.08))
    n_invoices = max(4, int(changes * 0.38))
    items = [Entity("ItemService", f"I{k}", f"Item {k}") for k in range(n_items)]
    customers = [Entity("Customer", f"C{k}", f"Cust {k}") for k in range(n_customers)]
    jobs = []
    for k in range(n_jobs):
        parent = rng.choice(customers)
        jobs.append(Entity("Customer", f"J{k}", f"{parent.key}:Job {k}", parent=parent.local_id))
    buyers = customers + jobs
    invoices = [Entity("Invoice", f"N{k}", f"INV-{k}", customer=rng.choice(buyers).local_id,
                       items=tuple(rng.choice(items).local_id for _ in range(rng.randint(1, 3))))
                for k in range(n_invoices)]
    taken = [Entity("Customer", f"T{k}", f"Taken {k}", taken=True) for k in range(2)]
    entities = items + customers + jobs + invoices + taken
    referred = {r for e in entities for r in e.refs}
    n_mods = max(2, int(changes * 0.12))
    n_dels = max(2, int(changes * 0.06))
    mods = rng.sample([e.local_id for e in customers + invoices], n_mods)
    deletable = [e.local_id for e in customers + invoices if e.local_id not in referred and e.local_id not in mods]
    dels = rng.sample(deletable, min(n_dels, len(deletable)))
    return entities, mods, dels


# -- the server process --------------------------------------------------------------------------


class Server:
    """`qbsync serve-connector` in a process of its own, on any free port."""

    def __init__(self, db: Path, log_file: Path, batch_size: int):
        env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
        env["PYTHONPATH"] = str(ROOT)
        env["QBSYNC_DB"] = str(db)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qbsync", "serve-connector", "--port", "0", "--threads", "2",
             "--batch-size", str(batch_size), "--session-timeout", str(SESSION_TIMEOUT),
             "--response-timeout", str(RESPONSE_TIMEOUT), "--log-file", str(log_file), "--lockout-failures", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
            cwd=str(ROOT),
        )
        self.url = (self.proc.stdout.readline() if self.proc.stdout else "").strip()
        if not self.url:
            self.proc.wait(timeout=10)
            raise AssertionError(f"serve-connector did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")
        self._lock = threading.Lock()
        self.killed_at: float | None = None
        self.signalled = False
        self.exited: int | None = None

    def kill(self) -> bool:
        """SIGKILL, once; True when this call killed it (it was running). A server that had
        exited by itself is remembered in `exited` (a crash: the test fails on it)."""
        with self._lock:
            if self.killed_at is not None:
                return False
            self.signalled = True
            exited = self.proc.poll()
            if exited is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
            else:
                self.exited = exited
            self.killed_at = time.monotonic()
            return exited is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    @property
    def dead(self) -> bool:
        return self.killed_at is not None


# -- the company ------------------------------------------------------------------------------------


class KillingCompany(FakeQuickBooks):
    """The QuickBooks company, able to kill the server at the nastiest point: right after it
    applied the n-th message (counted from `arm`), before the answer gets back to qbsync."""

    def __init__(self, path: Path):
        super().__init__(path=path)
        self._target: int | None = None
        self._seen = 0
        self._server: Server | None = None
        self.fired = False

    def arm(self, server: Server | None, nth: int | None) -> None:
        self._server, self._target, self._seen, self.fired = server, nth, 0, False

    def process(self, request_xml: str | bytes) -> Any:
        reply = super().process(request_xml)
        self._seen += 1
        if self._server is not None and self._seen == self._target:
            self.fired = self._server.kill()
        return reply


class KillingTransport:
    """The Web Connector's HTTP transport, killing the server `delay` seconds after the n-th
    sendRequestXML / receiveResponseXML of the server's life went out: while the server is
    inside that callback (between any two of its statements), or just after."""

    CALLS = ("sendRequestXML", "receiveResponseXML")

    def __init__(self, inner: Any, server: Server, state: dict[str, Any]):
        self._inner, self._server, self._state = inner, server, state

    def post(self, operation: str, envelope: bytes) -> Any:
        if operation in self.CALLS:
            self._state["seen"] += 1
            if self._state["seen"] == self._state["nth"]:
                timer = threading.Timer(self._state["delay"], lambda: self._state.update(fired=self._server.kill()))
                self._state["timer"] = timer
                timer.start()
        return self._inner.post(operation, envelope)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


# -- the world --------------------------------------------------------------------------------------


@dataclass
class Stats:
    kills: int = 0  # SIGKILLs sent to a running server
    mid_run: int = 0  # of which a Web Connector run was interrupted
    after_applied: int = 0  # of which right after QuickBooks applied a message
    in_callback: int = 0  # of which just after the Web Connector sent sendRequestXML/receiveResponseXML
    runs: int = 0  # Web Connector runs in all
    busy: int = 0  # runs answered busy (a dead server's session not expired yet)
    final_runs: int = 0  # runs after the last kill until everything was settled
    outcomes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class World:
    def __init__(self, folder: Path, *, seed: int, changes: int, batch_size: int):
        self.folder = folder
        self.rng = random.Random(seed)
        self.batch_size = batch_size
        self.db = folder / "qbsync.db"
        self.log_file = folder / "serve.log"
        with open_store(self.db, create=True) as store:
            add_connection(store, name=CONNECTION, username=USER, import_types=list(IMPORT_TYPES),
                           import_page_size=IMPORT_PAGE_SIZE,
                           password_hash=hash_password(PASSWORD, cost=TEST_HASH_COST))
        self.company = KillingCompany(folder / "company.qbw.db")
        self.entities: dict[str, Entity] = {}
        self.change_ids: dict[int, str] = {}  # change id -> local id
        self.user_records: dict[str, dict[str, Any]] = {}  # qb id -> the record as the user left it
        self.stats = Stats()
        self.seconds_per_message = 0.05  # measured as the runs go (see `run`)
        self._plan(changes)

    # -- before the first run ---------------------------------------------------------------

    def _plan(self, changes: int) -> None:
        entities, mods, dels = plan_scenario(self.rng, changes)
        for e in entities:
            self.entities[e.local_id] = e
            if e.taken:  # a QuickBooks vendor has the name: the Add gets 3100
                self.company.create("Vendor", {"Name": e.key})
        self._stage(entities)
        for lid in mods:
            self.entities[lid].version = 2
        self._stage([self.entities[lid] for lid in mods])
        with open_store(self.db) as store:
            conn = get_connection(store, CONNECTION)
            by_type: dict[str, list[str]] = {}
            for lid in dels:
                by_type.setdefault(self.entities[lid].type, []).append(lid)
            for type_name, ids in by_type.items():
                result = staging.stage_deletes(store, conn, type_name, ids)
                assert len(result.change_ids) == len(ids), result.as_dict()
                self.change_ids.update(zip(result.change_ids, ids))
            wizard.approve(store, conn)
        for lid in dels:
            self.entities[lid].deleted = True
        self._act_in_quickbooks(max(3, changes // 25))

    def _stage(self, group: list[Entity]) -> None:
        from qbsync.qbxml.entities import dependency_order

        with open_store(self.db) as store:
            conn = get_connection(store, CONNECTION)
            by_type: dict[str, list[Entity]] = {}
            for e in group:
                by_type.setdefault(e.type, []).append(e)
            for type_name in dependency_order(list(by_type)):
                batch = by_type[type_name]
                if type_name == "Customer":  # parents before their jobs
                    batch.sort(key=lambda e: e.parent is not None)
                result = staging.stage_lines(store, conn, type_name, [json.dumps(e.data()) for e in batch])
                assert not result.skipped and len(result.change_ids) == len(batch), result.as_dict()
                self.change_ids.update(zip(result.change_ids, (e.local_id for e in batch)))
            wizard.approve(store, conn)

    def _act_in_quickbooks(self, count: int) -> None:
        """A QuickBooks user adds customers and invoices, and edits some of them: detection must
        import each once, as it stands."""
        for k in range(count):
            rec = self.company.create("Customer", {"Name": f"QB user {k}", "Phone": "555-9000"})
            if k % 3 == 0:
                rec = self.company.edit("Customer", rec["ListID"], {"Phone": "555-9001"})
            self.user_records[rec["ListID"]] = rec
        for k in range(max(1, count // 2)):
            rec = self.company.create("Invoice", {
                "CustomerRef": {"FullName": f"QB user {k}"}, "RefNumber": f"QB-{k}", "TxnDate": "2026-11-25",
                "InvoiceLineAdd": [{"Desc": "work", "Amount": "5.00"}]})
            if k % 2 == 0:
                rec = self.company.edit("Invoice", rec["TxnID"], {"Memo": "edited in QuickBooks"})
            self.user_records[rec["TxnID"]] = rec

    # -- runs ---------------------------------------------------------------------------------

    def start(self) -> Server:
        return Server(self.db, self.log_file, self.batch_size)

    def run(self, server: Server, calls: dict[str, Any] | None = None) -> RunReport:
        started = time.monotonic()
        wc = WebConnector(server.url, USER, PASSWORD, company=self.company, noop_delay=0, timeout=30,
                          max_round_trips=5000)
        if calls is not None:
            wc._transport = KillingTransport(wc._transport, server, calls)  # noqa: SLF001 - a test's hook
        report = wc.run()
        self.company.end_session()  # QuickBooks closes the session, iterators die with it
        if report.round_trips >= 3:  # how fast this machine goes now (it is shared and loaded)
            pace = (time.monotonic() - started) / report.round_trips
            self.seconds_per_message = 0.7 * self.seconds_per_message + 0.3 * pace
        self.stats.runs += 1
        self.stats.outcomes[report.outcome or "?"] = self.stats.outcomes.get(report.outcome or "?", 0) + 1
        if report.outcome == "busy":
            self.stats.busy += 1
            postpone = report.auth.get("postpone_seconds")
            time.sleep(min(float(postpone or 1), RESPONSE_TIMEOUT + 1))  # as QBWC: try again after that
        return report

    def kill_round(self, mode: str, value: float, delay: float = 0.0) -> None:
        """One life of the server: Web Connector runs until it is killed. `mode` "applied": by
        the company right after it applied its `value`-th message; "callback": `delay` seconds
        after the Web Connector sent its `value`-th sendRequestXML/receiveResponseXML; "timer":
        `value` seconds into a run (counted again from the start of the next run after a `busy`
        answer, so the kill lands in a session, not in the Web Connector's wait). "share" and
        "run" are timers too, `value` being a fraction of the whole sync or of a run of the work
        left, at the pace measured so far."""
        if mode == "share":
            mode, value = "timer", value * self.run_seconds()
        elif mode == "run":
            mode, value = "timer", value * self.run_seconds(remaining=True)
        server = self.start()
        timer: threading.Timer | None = None
        calls: dict[str, Any] | None = None

        def arm_timer() -> threading.Timer:
            t = threading.Timer(value, lambda: self._count_kill(server))
            t.start()
            return t

        if mode == "timer":
            timer = arm_timer()
        elif mode == "applied":
            self.company.arm(server, int(value))
        else:
            calls = {"seen": 0, "nth": int(value), "delay": delay, "fired": False, "timer": None}
        try:
            for _ in range(50):
                report = self.run(server, calls)
                if report.outcome not in ("complete", "no_work", "busy"):
                    self._died(server, report)
                if server.dead:
                    if report.outcome not in ("complete", "no_work", "busy"):
                        self.stats.mid_run += 1
                    break
                if report.outcome == "busy" and timer is not None:
                    timer.cancel()
                    timer = arm_timer()
                if report.outcome in ("complete", "no_work") and not _wrote(report):
                    break  # nothing left to interrupt: the server is killed at rest
        finally:
            for t in (timer, (calls or {}).get("timer")):
                if t is not None:
                    t.cancel()
                    t.join()
            if self.company.fired:
                self.stats.kills += 1
                self.stats.after_applied += 1
            if calls is not None and calls["fired"]:
                self.stats.kills += 1
                self.stats.in_callback += 1
            self.company.arm(None, None)
            self._count_kill(server)
            server.stop()
        if server.exited is not None:
            raise AssertionError(f"the server exited by itself ({server.exited}); see {self.log_file}")

    @staticmethod
    def _died(server: Server, report: RunReport) -> None:
        """A run broke off: that must be the kill (its SIGKILL may still be being reaped)."""
        deadline = time.monotonic() + 2
        while not server.dead and (server.signalled or time.monotonic() < deadline):
            time.sleep(0.01)
        if not server.signalled or server.exited is not None:
            raise AssertionError(f"a run broke off although the server was not killed: {report.outcome} "
                                 f"{report.errors} {report.violations}; server exit code {server.proc.poll()}")

    def _count_kill(self, server: Server) -> None:
        if server.kill():
            self.stats.kills += 1

    def settle(self, max_runs: int = 40) -> list[RunReport]:
        """Runs without kills until one completes having written nothing and nothing is being sent."""
        server = self.start()
        reports = []
        try:
            for _ in range(max_runs):
                report = self.run(server)
                reports.append(report)
                self.stats.final_runs += 1
                if report.outcome not in ("complete", "no_work", "busy") or report.violations:
                    raise AssertionError(f"a run without kills failed: {report.outcome} {report.errors} "
                                         f"{report.violations} {report.final_message!r}")
                if report.outcome in ("complete", "no_work") and not _wrote(report) and not self.sending():
                    return reports
            raise AssertionError(f"no quiet run after {max_runs} runs: {[r.outcome for r in reports]}; "
                                 f"last: {reports[-1].errors} {reports[-1].final_message!r}")
        finally:
            server.stop()

    # -- what the store and QuickBooks hold -------------------------------------------------------

    @property
    def change_count(self) -> int:
        return len(self.change_ids)

    def messages_estimate(self, *, remaining: bool = False) -> float:
        """About how many messages a run sends: the exports (a few Mods need a re-read first)
        and detection's pages."""
        exports = self.change_count
        if remaining:
            with open_store(self.db) as store:
                exports = store.scalar("SELECT count(*) FROM changes WHERE direction = 'export' AND status = 'queued'")
        return exports * 1.3 / self.batch_size + 2 * self.change_count / IMPORT_PAGE_SIZE / (3 if remaining else 1)

    def run_seconds(self, *, remaining: bool = False) -> float:
        """How long an undisturbed run takes now, at the pace measured so far."""
        return self.messages_estimate(remaining=remaining) * self.seconds_per_message + 0.2

    def changes(self) -> dict[int, dict[str, Any]]:
        with open_store(self.db) as store:
            return {r["id"]: r for r in store.query("SELECT * FROM changes ORDER BY id")}

    def mirror(self) -> dict[tuple[str, str], dict[str, Any]]:
        with open_store(self.db) as store:
            conn = get_connection(store, CONNECTION)
            return {(r["type"], r["local_id"]): r for r in store_records.list_records(store, conn["id"])}

    def open_sessions(self) -> list[int]:
        with open_store(self.db) as store:
            conn = get_connection(store, CONNECTION)
            return [r["id"] for r in store_sessions.open_sessions(store, conn["id"])]

    def sending(self) -> list[int]:
        return [i for i, c in self.changes().items() if c["status"] == "sending"]

    def in_quickbooks(self, e: Entity) -> list[dict[str, Any]]:
        key = "FullName" if e.type != "Invoice" else "RefNumber"
        return [r for r in self.company.all(e.type) if r.get(key) == e.key]


def _wrote(report: RunReport) -> bool:
    return any(WRITE_RQ.search(xml) for xml in report.requests)
