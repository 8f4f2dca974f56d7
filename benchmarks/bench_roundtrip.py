"""The server round trip: 2,000 approved customer exports through the real ConnectorService,
at batch size 50 and 200.

    python -m benchmarks.bench_roundtrip

Over HTTP: the service behind `make_wsgi_app` on `serve(...)` (waitress, 127.0.0.1, a free
port), driven by the shipped `WebConnector` with a `FakeQuickBooks` company: total time, round
trips, time per round trip and per request. The run's time is split three ways: the fake
company answering qbXML, the service inside its callbacks (timed around each ConnectorService
method), and the rest, which is HTTP and SOAP on both ends (the spyne server and the
WebConnector client building and reading envelopes).

Direct: the same `ConnectorService` methods called in QBWC's order with the FakeQuickBooks
answering, no HTTP and no SOAP: the time the service itself (engine + store) spends per
callback, with its first and last call (a callback's cost that grows with the queue shows as
a first call dearer than the last). authenticate includes one scrypt password check, on purpose. Each figure is the best
of RUNS runs, each on a fresh store (a run syncs the changes); schemas are loaded before the
first run.

SOAP included, in-process: batches of 200 CustomerAdd, and of 200 five-line InvoiceAdd, through
the WSGI app the server runs (spyne + ConnectorService) called with the envelopes a Web
Connector posts, no network: the server's CPU per request (the median of three messages),
against the floor of lxml parsing and serialising the same bytes (both envelopes and the qbXML
inside them).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from qbsync.connector.service import ConnectorService
from qbsync.testing import FakeQuickBooks

CHANGES = 2_000
BATCH_SIZES = (50, 200)
RUNS = 2
USER, PASSWORD = "bench-sync", "bench-pass-1"
CLIENT_VERSION = "2.3.0.215"
COMPANY_FILE = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\bench.QBW"


class TimedCompany(FakeQuickBooks):
    """A FakeQuickBooks that adds up the time it spends answering qbXML."""

    seconds = 0.0

    def process(self, request_xml):  # type: ignore[override]
        t = time.perf_counter()
        try:
            return super().process(request_xml)
        finally:
            self.seconds += time.perf_counter() - t


CALLBACKS = {  # ConnectorService method: the QBWC callback it answers
    "server_version": "serverVersion", "client_version": "clientVersion", "authenticate": "authenticate",
    "send_request_xml": "sendRequestXML", "receive_response_xml": "receiveResponseXML",
    "connection_error": "connectionError", "get_last_error": "getLastError", "close_connection": "closeConnection",
}


class TimedService(ConnectorService):
    """The real ConnectorService, with the time spent in each callback noted (by QBWC name)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: dict[str, list[float]] = defaultdict(list)

    def total(self) -> float:
        return sum(sum(v) for v in self.calls.values())


def _timed(method_name: str, callback: str):
    original = getattr(ConnectorService, method_name)

    def timed(self, *args):
        t = time.perf_counter()
        try:
            return original(self, *args)
        finally:
            self.calls[callback].append(time.perf_counter() - t)

    timed.__name__ = method_name
    return timed


for _name, _callback in CALLBACKS.items():
    setattr(TimedService, _name, _timed(_name, _callback))


def make_store(folder: Path, name: str) -> Path:
    """A store with CHANGES approved customer adds (not timed)."""
    from qbsync.store import open_store
    from qbsync.store.connections import add_connection, get_connection
    from qbsync.sync import staging, wizard
    from qbsync.sync.passwords import hash_password

    db = folder / f"{name}.db"
    lines = [json.dumps({"id": f"C{i}", "Name": f"Customer {i:05d}", "Phone": f"555-{i % 10000:04d}",
                         "Email": f"c{i}@example.com",
                         "BillAddress": {"Addr1": f"{i} Main St", "City": "Springfield", "State": "IL"}})
             for i in range(CHANGES)]
    with open_store(db, create=True) as store:
        add_connection(store, name="acme", username=USER, password_hash=hash_password(PASSWORD))
        conn = get_connection(store, "acme")
        staging.stage_lines(store, conn, "Customer", lines)
        wizard.approve(store, conn)
    return db


def over_http(db: Path, batch_size: int) -> tuple[float, int, float, float]:
    """(wall time of the WebConnector run, round trips, seconds the company spent, seconds the
    service spent inside its callbacks)."""
    from qbsync.connector.app import make_wsgi_app, serve
    from qbsync.testing import WebConnector

    company = TimedCompany()
    service = TimedService(str(db), batch_size=batch_size)
    with serve(make_wsgi_app(service, "/qbwc"), "127.0.0.1", 0) as server:
        connector = WebConnector(server.url("/qbwc"), USER, PASSWORD, company=company, noop_delay=0)
        t = time.perf_counter()
        report = connector.run()
        elapsed = time.perf_counter() - t
    if not report.ok or len(report.status_codes) != CHANGES or set(report.status_codes) != {0}:
        raise RuntimeError(f"the run did not sync {CHANGES} changes: {report.outcome} {report.errors[:3]} "
                           f"{report.violations[:3]}")
    return elapsed, report.round_trips, company.seconds, service.total()


def synced(db: Path) -> int:
    from qbsync.store import open_store

    with open_store(db) as store:
        return store.scalar("SELECT count(*) FROM changes WHERE status = 'synced'")


def direct(db: Path, batch_size: int) -> tuple[TimedService, float]:
    """ConnectorService callbacks in QBWC's order, no HTTP: (the service with its per-callback
    times, seconds the company spent)."""
    service = TimedService(str(db), batch_size=batch_size)
    company = TimedCompany()
    service.server_version()
    service.client_version(CLIENT_VERSION)
    ticket, status = service.authenticate(USER, PASSWORD)[:2]
    if status not in ("", COMPANY_FILE):
        raise RuntimeError(f"authenticate answered {status!r}")
    company.begin_session(COMPANY_FILE)
    hcp = company.hcp_response()
    first = True
    while True:
        xml = service.send_request_xml(ticket, hcp if first else "", COMPANY_FILE, "US", 13, 0)
        first = False
        if not xml:
            service.get_last_error(ticket)
            break
        reply = company.process(xml)
        percent = service.receive_response_xml(ticket, reply.xml, "", "")
        if percent >= 100:
            break
        if percent < 0:
            raise RuntimeError(f"receiveResponseXML answered {percent}: {service.get_last_error(ticket)}")
    service.close_connection(ticket)
    company.end_session()
    return service, company.seconds


# -- the server's CPU per request, SOAP included ----------------------------------------------


class InProcessSoap:
    """The WSGI app `serve-connector` runs (spyne and the ConnectorService), called in-process
    with the envelopes a Web Connector posts: no network, so the CPU time is the server's own.
    Each call's CPU time and bytes are kept for the lxml floor."""

    def __init__(self, service: ConnectorService):
        from qbsync.connector.app import make_wsgi_app

        self.app = make_wsgi_app(service, "/qbwc")
        self.exchanges: list[tuple[str, bytes, bytes, float]] = []  # operation, request, response, CPU s

    def call(self, operation: str, values: dict) -> object:
        """The operation's result (as the Web Connector reads it), its CPU time noted."""
        import io

        from qbsync.testing.web_connector.soap import build_envelope, parse_reply, soap_action

        envelope = build_envelope(operation, values)
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/qbwc", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
                   "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
                   "CONTENT_TYPE": "text/xml; charset=utf-8", "CONTENT_LENGTH": str(len(envelope)),
                   "HTTP_SOAPACTION": soap_action(operation), "wsgi.input": io.BytesIO(envelope),
                   "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO()}
        answer: list = []
        c = time.process_time()
        body = b"".join(self.app(environ, lambda status, headers, exc_info=None: answer.append(status)))
        cpu = time.process_time() - c
        self.exchanges.append((operation, envelope, body, cpu))
        reply = parse_reply(operation, int(answer[0].split()[0]), "text/xml", body)
        return reply.strings if operation == "authenticate" else reply.text


def lxml_floor(request: bytes, response: bytes, qbxml: str) -> float:
    """CPU seconds lxml takes to parse and serialise the exchange's bytes: both envelopes and
    the qbXML inside one (median of 3)."""
    from lxml import etree

    payloads = (request, response, qbxml.encode("utf-8"))
    times = []
    for _ in range(3):
        c = time.process_time()
        for data in payloads:
            etree.tostring(etree.fromstring(data))
        times.append(time.process_time() - c)
    return sorted(times)[1]


def soap_batch(db: Path, count_tag: str, skip_messages: int = 0, batch_size: int = 200, timed: int = 3,
               company: FakeQuickBooks | None = None) -> dict[str, float]:
    """sendRequestXML + receiveResponseXML through the WSGI app, message after message in one
    session: after `skip_messages` untimed ones, up to `timed` messages are timed (fewer when the
    queue runs out). For the median message by CPU: the server's CPU per request (SOAP
    included), the lxml floor per request for the same bytes, and the requests (`count_tag`
    elements) it held. The median of a few messages keeps a shared machine's spikes out."""
    company = company or FakeQuickBooks()
    service = ConnectorService(str(db), batch_size=batch_size)
    soap = InProcessSoap(service)
    ticket = soap.call("authenticate", {"strUserName": USER, "strPassword": PASSWORD})[0]
    company.begin_session(COMPANY_FILE)
    hcp = company.hcp_response()
    measured = []
    for i in range(skip_messages + timed):
        soap.exchanges.clear()
        xml = soap.call("sendRequestXML", {"ticket": ticket, "strHCPResponse": hcp if i == 0 else "",
                                           "strCompanyFileName": COMPANY_FILE, "qbXMLCountry": "US",
                                           "qbXMLMajorVers": 13, "qbXMLMinorVers": 0})
        if not xml:
            if measured:
                break
            raise RuntimeError(f"sendRequestXML sent nothing: {soap.call('getLastError', {'ticket': ticket})}")
        reply = company.process(xml)
        percent = int(soap.call("receiveResponseXML", {"ticket": ticket, "response": reply.xml, "hresult": "",
                                                       "message": ""}))
        if percent < 0:
            raise RuntimeError(f"receiveResponseXML answered {percent}: {soap.call('getLastError', {'ticket': ticket})}")
        if i >= skip_messages:
            (_, send_in, send_out, send_cpu), (_, recv_in, recv_out, recv_cpu) = soap.exchanges
            floor = lxml_floor(send_in, send_out, xml) + lxml_floor(recv_in, recv_out, reply.xml)
            requests = xml.count(f"<{count_tag}")
            measured.append({"cpu": (send_cpu + recv_cpu) / requests, "floor": floor / requests,
                             "requests": requests})
        if percent >= 100:
            break
    soap.call("closeConnection", {"ticket": ticket})
    company.end_session()
    service.close()  # its kept store connections
    return sorted(measured, key=lambda m: m["cpu"])[len(measured) // 2]


HISTORY = 100_000


def history_store(folder: Path, synced: int = HISTORY, queued: int = CHANGES) -> Path:
    """A store with `synced` customers QuickBooks already has (their changes synced, their
    records in the mirror, as a long-lived connection has them) and `queued` approved customer
    adds after them (not timed): a callback's lookups by local id must seek, not read the
    history."""
    from qbsync.store import open_store
    from qbsync.store import changes as store_changes
    from qbsync.store import records as store_records
    from qbsync.store.connections import add_connection, get_connection
    from qbsync.sync import staging, wizard
    from qbsync.sync.passwords import hash_password

    def customers(start: int, stop: int) -> list[str]:
        return [json.dumps({"id": f"C{i}", "Name": f"Customer {i:06d}", "Phone": f"555-{i % 10000:04d}",
                            "BillAddress": {"Addr1": f"{i} Main St", "City": "Springfield", "State": "IL"}})
                for i in range(start, stop)]

    db = folder / f"history-{synced}.db"
    with open_store(db, create=True) as store:
        add_connection(store, name="acme", username=USER, password_hash=hash_password(PASSWORD))
        conn = get_connection(store, "acme")
        staging.stage_lines(store, conn, "Customer", customers(0, synced))
        wizard.approve(store, conn)
        at = "2026-11-01T00:00:00Z"
        with store.transaction():  # as if sessions had synced them
            for change in store_changes.iter_changes(store, conn["id"], ["queued"], direction="export"):
                qb_id = f"80000{change['id']:06d}-1700000000"
                store_changes.mark_sending(store, [change["id"]], message_id=None, at=at)
                store_changes.mark_synced(store, change["id"], qb_id=qb_id, at=at)
                store_records.save_record(store, conn["id"], "Customer", change["local_id"], qb_id=qb_id,
                                          edit_sequence="1700000000", name=change["name"], data=change["payload"],
                                          qb_data=None, now=at)
        staging.stage_lines(store, conn, "Customer", customers(synced, synced + queued))
        wizard.approve(store, conn)
    return db


INVOICES, INVOICE_LINES = 600, 5


def invoice_store(folder: Path, name: str = "invoices") -> Path:
    """A store with one customer, INVOICE_LINES service items and INVOICES approved invoices of
    INVOICE_LINES lines each (not timed)."""
    from qbsync.store import open_store
    from qbsync.store.connections import add_connection, get_connection
    from qbsync.sync import staging, wizard
    from qbsync.sync.passwords import hash_password

    db = folder / f"{name}.db"
    items = [json.dumps({"id": f"I{k}", "Name": f"Service {k}",
                         "SalesOrPurchase": {"Price": 10 + k, "AccountRef": {"FullName": "Services"}}})
             for k in range(INVOICE_LINES)]
    invoices = [json.dumps({"id": f"INV{i}", "RefNumber": f"{1000 + i}", "TxnDate": "2026-11-26",
                            "CustomerRef": {"local_id": "C1"},
                            "InvoiceLine": [{"id": f"L{k}", "ItemRef": {"local_id": f"I{k}"}, "Desc": f"Work {k}",
                                             "Quantity": k + 1, "Rate": 10 + k} for k in range(INVOICE_LINES)]})
                for i in range(INVOICES)]
    with open_store(db, create=True) as store:
        add_connection(store, name="acme", username=USER, password_hash=hash_password(PASSWORD))
        conn = get_connection(store, "acme")
        staging.stage_lines(store, conn, "Customer", [json.dumps({"id": "C1", "Name": "Acme Corp"})])
        staging.stage_lines(store, conn, "ItemService", items)
        staging.stage_lines(store, conn, "Invoice", invoices)
        wizard.approve(store, conn)
    return db


ROUNDS = 3


def least_cpu(run: Callable[[int], dict[str, float]]) -> dict[str, float]:
    """`run(k)` for k in range(ROUNDS): the result with the least CPU per request."""
    return min((run(k) for k in range(ROUNDS)), key=lambda r: r["cpu"])


def invoice_add_5(folder: Path) -> dict[str, float]:
    """Batches of 200 five-line InvoiceAdds (the customer and items go in the message before, untimed)."""
    return soap_batch(invoice_store(folder), "InvoiceAddRq", skip_messages=1)


def main() -> None:
    from qbsync.qbxml import load_schema

    load_schema().lxml  # compiled once per server process; not part of a round trip
    FakeQuickBooks().hcp_response()  # and the fake company's
    print(f"{CHANGES:,} approved customer adds, FakeQuickBooks answering; best of {RUNS} runs, each on a fresh store")
    with tempfile.TemporaryDirectory(prefix="qbsync-bench-roundtrip-") as tmp:
        folder = Path(tmp)
        for batch in BATCH_SIZES:
            total, trips, company_s, served_s = min(
                over_http(make_store(folder, f"http-{batch}-{run}"), batch) for run in range(RUNS))
            best: tuple[TimedService, float] | None = None
            for run in range(RUNS):
                db = make_store(folder, f"direct-{batch}-{run}")
                service, direct_company_s = direct(db, batch)
                if synced(db) != CHANGES:
                    raise RuntimeError(f"the direct run synced {synced(db)} changes, not {CHANGES}")
                if best is None or service.total() < best[0].total():
                    best = (service, direct_company_s)
            service, direct_company_s = best
            wire = total - company_s - served_s
            print(f"\nbatch size {batch}:")
            print(f"  over HTTP: {total:.2f} s, {trips} round trips, {total / trips * 1000:.0f} ms per round trip, "
                  f"{total / CHANGES * 1000:.2f} ms per request")
            print(f"    FakeQuickBooks answering {company_s:.2f} s | service callbacks {served_s:.2f} s | "
                  f"HTTP + SOAP, both ends {wire:.2f} s ({wire / trips * 1000:.1f} ms per round trip)")
            print(f"  direct, no HTTP: service {service.total():.2f} s ({service.total() / CHANGES * 1000:.2f} ms per "
                  f"request), FakeQuickBooks {direct_company_s:.2f} s")
            for name, times in service.calls.items():
                print(f"    {name:20s} {len(times):4d} call(s), {sum(times) / len(times) * 1000:8.2f} ms each "
                      f"(first {times[0] * 1000:.1f}, last {times[-1] * 1000:.1f}), {sum(times):6.2f} s in all")
        print("\nSOAP included, in-process (sendRequestXML + receiveResponseXML through the WSGI app), batch 200:")
        for label, r in (("CustomerAdd", soap_batch(make_store(folder, "soap"), "CustomerAddRq")),
                         (f"{INVOICE_LINES}-line InvoiceAdd", invoice_add_5(folder))):
            print(f"  {label}: {r['cpu'] * 1000:.3f} ms CPU per request; lxml floor {r['floor'] * 1000:.4f} ms "
                  f"({r['cpu'] / r['floor']:.1f}×)")

if __name__ == "__main__":
    main()


GROUP = "Server round trip"


def figures(quick: bool = False) -> list[dict]:
    """The round trip (2,000 customer adds over HTTP at batch size 200, one run), and the
    server's CPU per request, SOAP included, against the lxml floor: a batch of 200 CustomerAdd
    and one of 200 five-line InvoiceAdd through the WSGI app, in-process."""
    from benchmarks.report import figure
    from qbsync.qbxml import load_schema

    load_schema().lxml
    FakeQuickBooks().hcp_response()
    out = []
    with tempfile.TemporaryDirectory(prefix="qbsync-bench-roundtrip-") as tmp:
        folder = Path(tmp)
        global CHANGES
        saved, CHANGES = CHANGES, (100 if quick else CHANGES)
        try:
            total, trips, company_s, served_s = over_http(make_store(folder, "http"), 200)
            service, _ = direct(make_store(folder, "direct"), 200)
            # The least CPU of ROUNDS runs, each on a fresh store: this machine's CPU time drifts
            # ±20–40 % with other tenants' load (see bench_scale.server_rounds).
            customers = least_cpu(lambda k: soap_batch(make_store(folder, f"soap{k}"), "CustomerAddRq"))
            history = 1_000 if quick else HISTORY
            with_history = soap_batch(history_store(folder, history, CHANGES), "CustomerAddRq")
            invoices = least_cpu(lambda k: soap_batch(invoice_store(folder, f"invoices{k}"), "InvoiceAddRq",
                                                      skip_messages=1))
        finally:
            n, CHANGES = CHANGES, saved
    out.append(figure("roundtrip.http.per_request", GROUP, f"{n:,} CustomerAdd over HTTP, batch 200: per request",
                      round(total / n * 1000, 3), "ms", size=n,
                      note=f"{trips} round trips; FakeQuickBooks {company_s:.2f} s, service {served_s:.2f} s, "
                           f"HTTP + SOAP {total - company_s - served_s:.2f} s"))
    out.append(figure("roundtrip.direct.per_request", GROUP, f"{n:,} CustomerAdd, service alone (no HTTP), batch 200: per request",
                      round(service.total() / n * 1000, 3), "ms", size=n,
                      note="wall time inside the ConnectorService callbacks, authenticate's scrypt included"))
    least = -(-n // 200)  # ceil(N / batch)
    out.append(figure("roundtrip.http.round_trips", GROUP,
                      f"round trips for {n:,} approved CustomerAdd at batch 200 (target ceil(N / batch) + 2)",
                      trips, "trips", least + 2, size=n,
                      note=f"ceil({n:,} / 200) = {least}; a sendRequestXML + receiveResponseXML pair is one trip"))
    ratio = customers["cpu"] / customers["floor"]
    out.append(figure("server.lxml_floor_ratio", GROUP, "server CPU per CustomerAdd ÷ lxml parse+serialise floor (least CPU of 3 runs)",
                      round(ratio, 1), "×", 3.0, size=int(customers["requests"]),
                      note=f"{customers['cpu'] * 1000:.3f} ms per request (SOAP included) against "
                           f"{customers['floor'] * 1000:.4f} ms: etree.fromstring + tostring of both envelopes and the "
                           "qbXML inside them, the same bytes, the same run"))
    out.append(figure(f"server.customer_add.history_{history}", GROUP,
                      f"server CPU per CustomerAdd, SOAP included, {history:,} synced records in the mirror "
                      f"(batches of {int(with_history['requests'])}, median of 3)",
                      round(with_history["cpu"] * 1000, 3), "ms", size=history,
                      cpu_s=round(with_history["cpu"] * with_history["requests"], 3),
                      note=f"{n:,} queued after {history:,} synced customers (their changes and mirror records): "
                           "the lookups by local id seek the indexes, so a long history costs nothing per request"))
    out.append(figure("server.invoice_add_5", GROUP,
                      f"server CPU per 5-line InvoiceAdd, SOAP included (batches of {int(invoices['requests'])}, least of "
                      f"{ROUNDS} runs)",
                      round(invoices["cpu"] * 1000, 3), "ms", 0.5, size=int(invoices["requests"]),
                      cpu_s=round(invoices["cpu"] * invoices["requests"], 3),
                      note=f"lxml floor {invoices['floor'] * 1000:.3f} ms per request "
                           f"({invoices['cpu'] / invoices['floor']:.1f}×)"))
    return out
