"""Shipped test doubles for integrations: :class:`WebConnector` (a QuickBooks Web Connector that
drives your SOAP service over HTTP) and its :class:`RunReport`. See
:mod:`qbsync.testing.web_connector` for a pytest example."""

from qbsync.testing.web_connector import RunReport, WebConnector
from qbsync.testing.fake_quickbooks import ConnectionLost, FakeQuickBooks, Reply  # noqa: F401  (re-exported)

__all__ = ["RunReport", "WebConnector"]
