"""qbXML hot paths: building a 50-request export message, parsing a 1,000-record response into
plain data, and streaming a 10,000-record response.

    python -m benchmarks.bench_qbxml
"""

from __future__ import annotations


from benchmarks.timing import best
from qbsync.qbxml import Request, RsSpec, build_request, build_response, iter_response, load_schema, parse_response


def invoice(i: int) -> Request:
    lines = [{"ItemRef": {"FullName": "Labor"}, "Desc": f"line {n}", "Quantity": 2, "Rate": "95.50"} for n in range(5)]
    return Request("InvoiceAdd", {"CustomerRef": {"ListID": f"8000{i:04d}-1700000000"}, "RefNumber": f"INV-{i}", "TxnDate": "2026-11-26", "InvoiceLineAdd": lines}, request_id=f"c{i}")


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
