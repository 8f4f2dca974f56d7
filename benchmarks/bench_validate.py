"""Validator figures: ready time in a fresh process, schema load times (embedded vs published),
and lxml vs xmlschema validation of CustomerQueryRs pages with 1,000 and 10,000 CustomerRet.

    python -m benchmarks.bench_validate

The published schemas come from QBSYNC_PUBLISHED_XSD (default ../shared/qbxml-xsd beside the repository); without
them only the embedded figures are printed. Times are wall-clock, best of a few runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from benchmarks.timing import best as _best

best = partial(_best, runs=3)  # the schema loads are slow: 3 runs each

VERSION = "13.0"
SIZES = (1_000, 10_000)

_READY = r"""
import time, sys
t0 = time.perf_counter()
from qbsync.qbxml.validate import validate_document
doc = b'<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"><CustomerAddRq><CustomerAdd><Name>A</Name></CustomerAdd></CustomerAddRq></QBXMLMsgsRq></QBXML>'
r = validate_document(doc, schema_dir=sys.argv[1] or None)
assert r.valid, r.errors
print(time.perf_counter() - t0)
"""


def published_dir() -> Path | None:
    folder = Path(os.environ.get("QBSYNC_PUBLISHED_XSD") or Path(__file__).resolve().parents[2] / "shared" / "qbxml-xsd")
    return folder if (folder / VERSION).is_dir() else None


def ready_time(schema_dir: str) -> tuple[float, float]:
    """(import + first validation inside the process, whole process wall time) in a fresh process."""
    inner, outer = [], []
    env = {k: v for k, v in os.environ.items() if k != "QBSYNC_QBXML_SCHEMA_DIR"}
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _READY, schema_dir], capture_output=True, text=True, check=True, env=env)
        outer.append(time.perf_counter() - t)
        inner.append(float(out.stdout.strip()))
    return min(inner), min(outer)


def customer_page(n: int) -> bytes:
    """A CustomerQueryRs with `n` full CustomerRet records (~1.2 KB each), built and validated once
    by qbsync's own builder, then repeated."""
    from qbsync.qbxml import RsSpec, build_response

    ret = {
        "ListID": "80000001-1234567890", "TimeCreated": "2024-05-01T09:30:00-07:00",
        "TimeModified": "2024-05-02T10:00:00-07:00", "EditSequence": "1714580000", "Name": "Acme & Sons",
        "FullName": "Acme & Sons", "IsActive": True, "Sublevel": 0, "CompanyName": "Acme & Sons Ltd",
        "FirstName": "Ana", "LastName": "Núñez",
        "BillAddress": {"Addr1": "1 Main St", "Addr2": "Suite 200", "City": "Mountain View", "State": "CA",
                        "PostalCode": "94043", "Country": "USA"},
        "ShipAddress": {"Addr1": "2 Dock Rd", "City": "Oakland", "State": "CA", "PostalCode": "94607"},
        "Phone": "555-0100", "AltPhone": "555-0101", "Fax": "555-0102", "Email": "ana@example.com",
        "Contact": "Ana Núñez", "CustomerTypeRef": {"ListID": "80000002-1234567890", "FullName": "Retail"},
        "TermsRef": {"ListID": "80000003-1234567890", "FullName": "Net 30"},
        "SalesRepRef": {"ListID": "80000004-1234567890", "FullName": "JD"},
        "Balance": "1250.00", "TotalBalance": "1250.00",
        "SalesTaxCodeRef": {"ListID": "80000005-1234567890", "FullName": "Tax"},
        "ItemSalesTaxRef": {"ListID": "80000006-1234567890", "FullName": "CA Sales Tax"},
        "ResaleNumber": "R-12345", "AccountNumber": "ACC-0001", "CreditLimit": "5000.00",
        "JobStatus": "Awarded", "Notes": "Prefers email. Gate code 1234 <front>.",
    }
    one = build_response([RsSpec("CustomerQuery", request_id="1", rets=[("CustomerRet", ret)])]).encode("utf-8")
    start = one.index(b"<CustomerRet>")
    end = one.index(b"</CustomerRet>") + len(b"</CustomerRet>")
    return one[:start] + one[start:end] * n + one[end:]


def main() -> None:
    from lxml import etree

    from qbsync.qbxml.schema import embedded_dir, load_schema
    from qbsync.qbxml.validate import validate_document
    from qbsync.qbxml.xsdmodel import XsdModel

    published = published_dir()
    embedded_entry = embedded_dir() / f"qbsync-qbxml-{VERSION}.xsd"
    entries = {"embedded": embedded_entry}
    if published:
        entries["published"] = published / VERSION / f"qbxmlops{VERSION.replace('.', '')}.xsd"

    print(f"qbXML {VERSION}; Python {sys.version.split()[0]}, lxml {etree.__version__}")
    print("\nValidator ready in a fresh process (import + first validate_document; process wall time):")
    for label in entries:
        inner, outer = ready_time("" if label == "embedded" else str(published / VERSION))
        print(f"  {label:9s} {inner:6.3f} s   (process {outer:.3f} s)")

    import xmlschema

    print("\nSchema load (best of 3):  lxml.XMLSchema   xmlschema.XMLSchema10   XsdModel (index + CustomerRet)")
    for label, entry in entries.items():
        lx = best(lambda: etree.XMLSchema(etree.parse(str(entry))))
        xs = best(lambda: xmlschema.XMLSchema10(str(entry)), runs=2)
        xm = best(lambda: XsdModel(entry).message_element("CustomerQueryRs").child("CustomerRet").decl.children)
        print(f"  {label:9s}               {lx:6.3f} s          {xs:6.3f} s              {xm:6.3f} s")

    schemas = {"embedded": load_schema(VERSION, embedded_dir())}
    if published:
        schemas["published"] = load_schema(VERSION, published / VERSION)
    for n in SIZES:
        doc = customer_page(n)
        print(f"\nCustomerQueryRs with {n:,} CustomerRet ({len(doc) / 1e6:.1f} MB):")
        lxml_times = {}
        for label, schema in schemas.items():
            tree = etree.fromstring(doc).getroottree()
            assert schema.lxml.validate(tree), schema.lxml.error_log
            parse_validate = best(lambda: schema.lxml.validate(etree.fromstring(doc).getroottree()))
            pre_parsed = best(lambda: schema.lxml.validate(tree))
            lxml_times[label] = parse_validate
            ours = best(lambda: validate_document(doc, schema_dir=None if label == "embedded" else published / VERSION))
            print(f"  {label:9s} lxml parse+validate {parse_validate:6.3f} s | lxml pre-parsed {pre_parsed:6.3f} s"
                  f" | validate_document {ours:6.3f} s")
        xs_schema = xmlschema.XMLSchema10(str(entries["embedded"]))
        xs = best(lambda: xs_schema.is_valid(doc.decode("utf-8")), runs=1)
        print(f"  embedded  xmlschema is_valid {xs:6.3f} s ({xs / max(lxml_times['embedded'], 1e-9):.0f}x lxml parse+validate)")


if __name__ == "__main__":
    main()


GROUP = "Validation"


def figures(quick: bool = False) -> list[dict]:
    """Issue 11's validation targets: validator ready in a fresh process (≤ 0.2 s) and a
    10,000-record response validated (≤ 0.3 s), embedded and published schema."""
    from benchmarks.report import figure
    from qbsync.qbxml.validate import validate_document

    published = published_dir()
    folders = {"embedded": None}
    if published:
        folders["published"] = published / VERSION
    out = []
    for label, folder in folders.items():
        inner, outer = ready_time(str(folder or ""))
        out.append(figure(f"validate.ready.{label}", GROUP, f"validator ready in a fresh process, {label} schema",
                          round(inner, 3), "s", 0.2, note=f"import + first validate_document; whole process {outer:.3f} s"))
    n = 1_000 if quick else 10_000
    doc = customer_page(n)
    for label, folder in folders.items():
        validate_document(doc, schema_dir=folder)  # the schema compiled before timing, as in a server
        took = best(lambda: validate_document(doc, schema_dir=folder), runs=5)  # a shared machine: the best of 5
        out.append(figure(f"validate.response.{label}", GROUP,
                          f"{n:,}-record CustomerQueryRs ({len(doc) / 1e6:.1f} MB) validated, {label} schema",
                          round(took, 3), "s", 0.3 if n == 10_000 else None, size=n, note="validate_document, best of 5"))
    return out
