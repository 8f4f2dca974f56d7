"""qbXML hot paths: building one request (the server builds each write alone to check it, then
the message), building a 50-request export message, parsing a 1,000-record response into plain
data, and streaming a 10,000-record response.

    python -m benchmarks.bench_qbxml
"""

from __future__ import annotations


import time

from benchmarks.report import figure
from benchmarks.timing import best
from qbsync.qbxml import Request, RsSpec, build_request, build_response, iter_response, load_schema, parse_response


def invoice(i: int) -> Request:
    lines = [{"ItemRef": {"FullName": "Labor"}, "Desc": f"line {n}", "Quantity": 2, "Rate": "95.50"} for n in range(5)]
    return Request("InvoiceAdd", {"CustomerRef": {"ListID": f"8000{i:04d}-1700000000"}, "RefNumber": f"INV-{i}", "TxnDate": "2026-11-26", "InvoiceLineAdd": lines}, request_id=f"c{i}")


def customer(i: int) -> Request:
    return Request("CustomerAdd", {
        "Name": f"Customer {i:06d}", "CompanyName": f"Company {i} Ltd", "FirstName": "Ana", "LastName": f"Lee {i}",
        "BillAddress": {"Addr1": f"{i} Main St", "City": "Springfield", "State": "IL", "PostalCode": "62701"},
        "Phone": f"555-{i % 10000:04d}", "Email": f"c{i}@example.com", "Notes": "Net 30; deliveries to the back door.",
    }, request_id=f"c{i}")


def per_request_cpu(requests: list[Request], rounds: int = 3) -> float:
    """CPU seconds to build and validate a one-request message, per request (best of `rounds`
    passes over `requests`), with the schema passed as the server does."""
    schema = load_schema()
    best_cpu = float("inf")
    for _ in range(rounds):
        c = time.process_time()
        for req in requests:
            build_request([req], on_error="continueOnError", schema=schema)
        best_cpu = min(best_cpu, (time.process_time() - c) / len(requests))
    return best_cpu


GROUP = "qbXML builder (one request, validated)"


def figures(quick: bool = False) -> list[dict]:
    """µs of CPU per CustomerAdd and per 5-line InvoiceAdd message built and validated."""
    load_schema().lxml
    n = 50 if quick else 1000
    out = []
    for key, label, make in (("customer_add", "CustomerAdd", customer), ("invoice_add", "5-line InvoiceAdd", invoice)):
        cpu = per_request_cpu([make(i) for i in range(n)])
        out.append(figure(f"qbxml.build.{key}", GROUP, f"build + validate one {label} request", round(cpu * 1e6, 1), "µs",
                          size=n, note="CPU per one-request message, schema passed (as the server calls it)"))
    return out


def customer_ret(i: int) -> tuple[str, dict]:
    return (
        "CustomerRet",
        {
            "ListID": f"{80000000 + i}-1700000000",
            "TimeCreated": "2026-01-01T00:00:00-08:00",
            "TimeModified": "2026-01-01T00:00:00-08:00",
            "EditSequence": "1700000000",
            "Name": f"Customer {i}",
            "FullName": f"Customer {i}",
            "IsActive": "true",
            "Sublevel": "0",
            "BillAddress": {"Addr1": f"{i} Main St", "City": "Springfield", "State": "IL", "PostalCode": "62701"},
            "Phone": "555-0100",
            "Email": f"c{i}@example.com",
        },
    )


def main() -> None:
    load_schema().lxml  # compiled once per process; not part of the per-message cost
    for f in figures():
        print(f"{f['label']}: {f['value']} {f['unit']} CPU")
    requests = [invoice(i) for i in range(50)]
    t = best(lambda: build_request(requests, on_error="continueOnError"))
    print(f"build + validate 50 InvoiceAdd (5 lines each): {t * 1000:.1f} ms ({t / 50 * 1e6:.0f} µs per request)")

    page = build_response([RsSpec("CustomerQuery", request_id="q", rets=[customer_ret(i) for i in range(1000)])])
    t = best(lambda: parse_response(page, validate=False))
    print(f"parse 1,000 CustomerRet into plain data: {t * 1000:.1f} ms ({len(page) / 1e6:.1f} MB)")
    t = best(lambda: parse_response(page, validate=True))
    print(f"parse + schema warnings, 1,000 CustomerRet: {t * 1000:.1f} ms")

    big = build_response([RsSpec("CustomerQuery", request_id="q", rets=[customer_ret(i) for i in range(10_000)])], validate=False).encode()

    def stream() -> int:
        return sum(1 for _, name, _ in iter_response(big) if name)

    t = best(stream, runs=3)
    print(f"stream 10,000 CustomerRet: {t:.2f} s ({10_000 / t:,.0f} records/s, {len(big) / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
