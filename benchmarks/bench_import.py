"""Import detection on the server side: N customers read through iterator pages of 500.

The service is called in-process (no HTTP) with QuickBooks' answers made beforehand for each
page (CustomerRet with the fields a real file returns), so the figure is qbsync's own cost per
record: parsing the page, checking it against the store, writing the import changes. Each size
runs in a fresh process, so its peak memory is its own.

    python -m benchmarks.bench_import          # 10,000 and 100,000
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAGE = 500
GROUP = "Import (server side)"
US_PER_RECORD_TARGET = 50.0  # 20,000 records/s
PEAK_MB_TARGET = 250.0


def _ret(i: int) -> tuple[str, dict]:
    return ("CustomerRet", {
        "ListID": f"8{i:07d}-1796595863", "TimeCreated": "2026-11-26T09:00:00-08:00",
        "TimeModified": "2026-11-26T09:00:00-08:00", "EditSequence": "1796595863", "Name": f"Customer {i:06d}",
        "FullName": f"Customer {i:06d}", "IsActive": "true", "Sublevel": "0",
        "BillAddress": {"Addr1": "1 Main St", "City": "Springfield", "State": "IL", "PostalCode": "62701"},
        "Phone": "555-0100", "Email": f"c{i}@example.com", "Balance": "0.00", "TotalBalance": "0.00",
        "SalesTaxCodeRef": {"ListID": "10000-1796595863", "FullName": "Tax"}, "JobStatus": "None",
        "PreferredDeliveryMethod": "None",
    })


def child(n: int) -> dict:
    """One detection of `n` customers; server CPU (service calls only) and this process's peak."""
    from qbsync.connector.service import ConnectorService
    from qbsync.qbxml import RsSpec, build_response, parse_request
    from qbsync.store import connections, open_store
    from qbsync.sync.passwords import hash_password

    db = Path(tempfile.mkdtemp(prefix="qbsync-bench-import-")) / "qbsync.db"
    with open_store(db, create=True) as store:
        connections.add_connection(store, name="big", username="big", password_hash=hash_password("pw"),
                                   import_types=["Customer"])
    service = ConnectorService(str(db))

    def answer(request: str, page: int) -> str:
        rq = parse_request(request).requests[0]
        if rq.name != "CustomerQuery":
            return build_response([RsSpec(rq.name, request_id=rq.request_id, status_code=1, message="none")],
                                  validate=False)
        first = page * PAGE
        rets = [_ret(i) for i in range(first, min(n, first + PAGE))]
        return build_response([RsSpec("CustomerQuery", request_id=rq.request_id, rets=rets, attrs={
            "iteratorID": "{bench}", "iteratorRemainingCount": max(0, n - first - PAGE)})], validate=False)

    from qbsync.qbxml import load_schema

    load_schema().lxml  # compiled once per process, as a running server has it
    t = time.process_time()
    ticket = service.authenticate("big", "pw")[0]  # the session's start (one scrypt): not detection, not counted
    login_cpu = time.process_time() - t
    cpu = 0.0
    page = 0
    while True:
        t = time.process_time()
        request = service.send_request_xml(ticket, "", "", "US", 13, 0)
        cpu += time.process_time() - t
        if not request:
            break
        response = answer(request, page)  # QuickBooks' work: not counted
        page += "CustomerQuery" in request
        t = time.process_time()
        percent = service.receive_response_xml(ticket, response, "", "")
        cpu += time.process_time() - t
        if percent >= 100:
            break
    service.close_connection(ticket)
    with open_store(db, write=False) as store:
        awaiting = store.scalar("SELECT count(*) FROM changes WHERE status = 'awaiting' AND direction = 'import'")
    return {"n": n, "cpu_s": cpu, "login_cpu_s": login_cpu, "peak_mb": _peak_mb(), "awaiting": awaiting}


def _peak_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: a child started by a big
    process keeps the parent's ru_maxrss across exec."""
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(n: int) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_import", "--child", str(n)],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def figures(quick: bool = False) -> list[dict]:
    from benchmarks.report import figure

    out = []
    for n in ((1_000, 2_000) if quick else (10_000, 100_000)):
        r = _measure(n)
        if r["awaiting"] != n:
            raise RuntimeError(f"import benchmark: {r['awaiting']} import changes for {n} records")
        out.append(figure(f"import.detect_{n}.per_record", GROUP, f"{n:,} customers detected (pages of {PAGE}): "
                          "server CPU per record", round(r["cpu_s"] / n * 1e6, 1), "µs", US_PER_RECORD_TARGET,
                          size=n, cpu_s=round(r["cpu_s"], 2), peak_mb=round(r["peak_mb"]),
                          note=f"{n / r['cpu_s']:,.0f} records/s (target 20,000); every sendRequestXML and "
                               f"receiveResponseXML of the session; its authenticate ({r['login_cpu_s'] * 1000:.0f} ms, "
                               "one scrypt) and the schema's compilation (once per server process) not counted"))
        out.append(figure(f"import.detect_{n}.peak_mb", GROUP, f"{n:,} customers detected: peak memory",
                          round(r["peak_mb"]), "MB", PEAK_MB_TARGET, size=n))
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        print(json.dumps(child(int(args[1]))))
        return
    for f in figures():
        print(f"{f['label']}: {f['value']} {f['unit']} ({f.get('note', '')})")


if __name__ == "__main__":
    main()
