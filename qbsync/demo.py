"""`make demo`: one whole sync cycle, from nothing, told in the words of the Sync Wizard.

It runs the real `qbsync` commands (shown as you would type them) against a fresh store, the real
Web Connector service on localhost, and the shipped test doubles: a FakeQuickBooks company
standing in for QuickBooks Desktop, and a WebConnector standing in for the QuickBooks Web
Connector (`qbsync simulate`). Everything it makes stays in a temporary folder it names at the end.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

PASSWORD_ENV = "QBSYNC_DEMO_PASSWORD"

CUSTOMERS = [
    {
        "id": "cust-1",
        "Name": "Acme Corp",
        "CompanyName": "Acme Corp",
        "Phone": "555-0100",
        "BillAddress": {"Addr1": "1 Main St", "City": "Springfield", "State": "IL", "PostalCode": "62701"},
    },
    {"id": "job-1", "Name": "Roof repair", "ParentRef": {"local_id": "cust-1"}},
    {"id": "cust-2", "Name": "Beta LLC", "Email": "ap@beta.example"},
    {"id": "cust-3", "Name": "Gamma Inc"},
]
ITEMS = [{"id": "svc-1", "Name": "Labor", "SalesOrPurchase": {"Price": 95, "AccountRef": {"FullName": "Services"}}}]
INVOICES = [
    {
        "id": "inv-1",
        "RefNumber": "1001",
        "TxnDate": "2026-11-26",
        "CustomerRef": {"local_id": "job-1"},
        "InvoiceLine": [{"id": "l1", "ItemRef": {"local_id": "svc-1"}, "Desc": "Roof inspection, hours", "Quantity": 3, "Rate": 95}],
    }
]


class Demo:
    def __init__(self, folder: Path):
        self.folder = folder
        self.env = dict(os.environ, QBSYNC_DB=str(folder / "qbsync.db"), NO_COLOR="1", COLUMNS="160")
        self.env[PASSWORD_ENV] = "demo-password-not-secret"
        self.env.pop("QBSYNC_FORMAT", None)
        self.company = folder / "company.qbw.db"
        self.server: subprocess.Popen[str] | None = None

    # ---- output ------------------------------------------------------------------------
    @staticmethod
    def say(text: str) -> None:
        print("\n" + textwrap.fill(text, 100), flush=True)

    @staticmethod
    def step(title: str) -> None:
        print(f"\n{'=' * 100}\n{title}\n{'=' * 100}", flush=True)

    def qbsync(self, *args: str, stdin: str | None = None, show: bool = True, check: bool = True) -> str:
        shown = "qbsync " + " ".join(shlex.quote(a) for a in args)
        if stdin is not None:
            shown = f"{shown} < {'records.jsonl'}"
        if show:
            print(f"\n$ {shown}", flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "qbsync", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.folder,
        )
        if show:
            for stream in (proc.stdout, proc.stderr):
                if stream.strip():
                    print(stream.rstrip(), flush=True)
        if check and proc.returncode != 0:
            raise SystemExit(f"demo: `{shown}` failed with exit code {proc.returncode}")
        return proc.stdout

    @staticmethod
    def jsonl(records: list[dict]) -> str:
        return "".join(json.dumps(r) + "\n" for r in records)

    # ---- the fake QuickBooks company, "acting in QuickBooks" ------------------------------------
    def in_quickbooks(self, code: str) -> str:
        """Run a few lines against the FakeQuickBooks company file, as a QuickBooks user would act."""
        script = "from qbsync.testing import FakeQuickBooks\nfq = FakeQuickBooks(path=%r)\n" % str(self.company) + code
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=self.env).stdout.strip()

    # ---- the server ----------------------------------------------------------------------------
    def start_server(self) -> str:
        print("\n$ qbsync serve-connector --port 0 &", flush=True)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "qbsync", "serve-connector", "--host", "127.0.0.1", "--port", "0", "--log-file", str(self.folder / "server.log")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.folder,
        )
        assert self.server.stdout is not None
        url = self.server.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit(f"demo: the server did not start: {url or self.server.stderr.read()}")
        base = url.rsplit("/", 1)[0]
        for _ in range(50):
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        print(f"serving the Web Connector on {url} (status page {base}/support)", flush=True)
        return url

    def stop_server(self) -> None:
        if self.server and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()

    def web_connector_run(self, url: str) -> None:
        self.qbsync("simulate", "--url", url, "--username", "acme-sync", "--password-env", PASSWORD_ENV, "--company-file", self.company.name)

    # ---- the story -----------------------------------------------------------------------------
    def run(self) -> None:
        started = time.monotonic()
        self.step("1. A fresh store and a connection to one QuickBooks company file")
        self.qbsync("init")
        self.qbsync("connection", "add", "acme", "--username", "acme-sync", "--password-env", PASSWORD_ENV,
                    "--import", "Customer,Invoice")
        self.say(
            "QuickBooks Desktop is played by a FakeQuickBooks company file. Someone already created a vendor "
            "named 'Gamma Inc' in it: customers and vendors share one set of names in QuickBooks, so exporting a "
            "customer with that name will fail. That is this demo's deliberate error. The bookkeeper also added "
            "a customer 'Delta Co' in QuickBooks: the connection imports customers and invoices, so it will come "
            "to the app."
        )
        vendor_id = self.in_quickbooks("print(fq.create('Vendor', {'Name': 'Gamma Inc'})['ListID'])")
        self.in_quickbooks("fq.create('Customer', {'Name': 'Delta Co', 'Phone': '555-0400'})")

        self.step("2. The app hands over its records (JSON lines); they wait in the wizard")
        self.qbsync("stage", "Customer", "-", stdin=self.jsonl(CUSTOMERS))
        self.qbsync("stage", "ItemService", "-", stdin=self.jsonl(ITEMS))
        self.qbsync("stage", "Invoice", "-", stdin=self.jsonl(INVOICES))
        self.qbsync("pending")
        beta = self.change_id("Beta LLC")

        self.step("3. Uncheck what should not move now, then Approve Checked with Keep Unchecked")
        self.say("Beta LLC is not ready to go to QuickBooks today: uncheck it, and keep it for the next run.")
        self.qbsync("uncheck", str(beta))
        self.qbsync("approve", "--keep-unchecked", "--yes")
        self.say("Approved changes are now Pending syncs: they move when the Web Connector runs.")
        self.qbsync("queue")

        self.step("4. The Web Connector runs: the service sends the approved changes to QuickBooks")
        url = self.start_server()
        self.web_connector_run(url)
        self.say("Customers and the item went first, then the job (it needs its customer's ListID), then the invoice. "
                 "Then the service asked QuickBooks what changed there (qbsync's own saves are not news).")
        self.qbsync("records", "Customer")

        self.step("5. The Error Log: what could not move, why, and what to do")
        self.qbsync("errors", "--explain")
        gamma = self.error_id("Gamma Inc")
        self.qbsync("explain", "3100")
        self.say("The admin resolves it in QuickBooks: the vendor is renamed to 'Gamma Inc (supplier)'. Then Retry.")
        self.in_quickbooks(f"fq.edit('Vendor', {vendor_id!r}, {{'Name': 'Gamma Inc (supplier)'}})")
        self.qbsync("retry", str(gamma))
        self.web_connector_run(url)
        self.qbsync("errors")
        self.say("Failed Syncs keeps every failure over time, including the one just resolved:")
        self.qbsync("failed")

        self.step("6. Keep Unchecked: the change left unchecked is back in the wizard, checked")
        self.say("Beta LLC is back, and the import section shows what QuickBooks reported: Delta Co.")
        self.qbsync("pending")
        self.qbsync("status")

        self.step("7. Import from QuickBooks: approved, re-read and applied to the app's side")
        self.qbsync("approve", "--yes")
        self.web_connector_run(url)
        self.say("Delta Co was read again from QuickBooks and applied to the mirror; the app reads it from "
                 "the feed (`qbsync changes`), in the same shape it stages records.")
        self.qbsync("records", "Customer")

        self.step("8. Both sides changed Acme Corp: Fix Edit Sequence merges three ways")
        self.say("The app changes Acme Corp's email and it is approved; before the Web Connector runs, the "
                 "bookkeeper changes Acme Corp's phone in QuickBooks. QuickBooks refuses the app's change with 3200 "
                 "(the record changed since qbsync last read it).")
        self.qbsync("stage", "Customer", "-", stdin=self.jsonl([{**CUSTOMERS[0], "Email": "billing@acme.example"}]))
        self.qbsync("approve", "--yes")
        acme_id = self.in_quickbooks("print(fq.find('Customer', 'Acme Corp')['ListID'])")
        self.in_quickbooks(f"fq.edit('Customer', {acme_id!r}, {{'Phone': '555-0111'}})")
        self.web_connector_run(url)
        self.qbsync("errors")
        acme = self.error_id("Acme Corp")
        self.say("Fix Edit Sequence re-reads the record and merges: the app's email goes with the fresh "
                 "EditSequence, QuickBooks' new phone is kept (nobody changed the same field on both sides).")
        self.qbsync("fix-edit-sequence", str(acme))
        self.web_connector_run(url)
        self.qbsync("records", "Customer")
        self.say("QuickBooks' phone change was also detected: it waits in the import section like any other.")
        self.qbsync("pending")

        self.step("9. Point a real QuickBooks Web Connector at this service")
        self.say(
            "On the QuickBooks PC, run `qbsync serve-connector` and write the .qwc file below; open it in the Web "
            "Connector (Add an application), enter the connection's password, and tick Auto-Run. On another "
            "machine, serve behind an https reverse proxy and use its https URL (see docs/connector.md)."
        )
        self.qbsync("qwc", "acme", "--url", "http://localhost:8080/qbwc", "--every-minutes", "15")
        self.stop_server()
        print(f"\nDemo finished in {time.monotonic() - started:.1f} s. Its files are in {self.folder}", flush=True)
        print(f"(try: QBSYNC_DB={self.folder / 'qbsync.db'} qbsync errors --format json; the server log is server.log)")

    def change_id(self, name: str) -> int:
        rows = json.loads(self.qbsync("pending", "--format", "json", show=False))
        return next(r["id"] for r in rows if r["name"] == name)

    def error_id(self, name: str) -> int:
        rows = json.loads(self.qbsync("errors", "--format", "json", show=False))
        return next(r["id"] for r in rows if r["name"] == name)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="qbsync-demo-"))
    demo = Demo(folder)
    try:
        demo.run()
    finally:
        demo.stop_server()


if __name__ == "__main__":
    main()
