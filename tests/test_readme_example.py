"""The example of docs/testing.md ("Testing your integration"), run as a test. The page quotes
the part between the markers verbatim (tests/test_readme.py checks it)."""

# readme-example-start
import json
import os
import subprocess

from qbsync.connector.service import ConnectorService
from qbsync.connector.app import make_wsgi_app, serve
from qbsync.testing import FakeQuickBooks, WebConnector


def qbsync(*args, stdin=None, env=None):
    return subprocess.run(["qbsync", *args], input=stdin, env=env, text=True, capture_output=True, check=True).stdout


def test_an_approved_invoice_reaches_quickbooks(tmp_path):
    env = dict(os.environ, QBSYNC_DB=str(tmp_path / "qbsync.db"), WC_PASSWORD="secret")
    qbsync("init", env=env)
    qbsync("connection", "add", "main", "--username", "wc", "--password-env", "WC_PASSWORD", env=env)
    qbsync("stage", "Customer", stdin='{"id": "C-1", "Name": "Acme"}\n', env=env)
    invoice = {"id": "I-1", "CustomerRef": {"local_id": "C-1"}, "RefNumber": "7",
               "InvoiceLine": [{"ItemRef": {"FullName": "Services"}, "Amount": 120}]}
    qbsync("stage", "Invoice", stdin=json.dumps(invoice) + "\n", env=env)
    qbsync("approve", "--yes", env=env)

    company = FakeQuickBooks()  # a QuickBooks company file, in memory
    company.create("ItemService", {"Name": "Services", "SalesOrPurchase": {"AccountRef": {"FullName": "Services"}}})
    service = ConnectorService(tmp_path / "qbsync.db")
    with serve(make_wsgi_app(service)) as server:  # the real SOAP service on a free port
        report = WebConnector(server.url("/qbwc"), "wc", "secret", company=company).run()

    assert report.ok, report.as_dict()
    customer = company.find("Customer", "Acme")
    (invoice_in_qb,) = company.all("Invoice")
    assert invoice_in_qb["CustomerRef"]["ListID"] == customer["ListID"]
    assert invoice_in_qb["BalanceRemaining"] == "120.00"
    assert json.loads(qbsync("errors", "--format", "json", env=env)) == []
# readme-example-end
