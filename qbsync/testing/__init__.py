"""Shipped test doubles for integrations: :class:`FakeQuickBooks` (a QuickBooks company that
answers qbXML as QuickBooks does) and :class:`WebConnector` (a QuickBooks Web Connector that
drives your SOAP service over real HTTP), with its :class:`RunReport`. See docs/testing.md
and the modules' docstrings."""

from qbsync.testing.fake_quickbooks import ConnectionLost, FakeQuickBooks, Reply
from qbsync.testing.web_connector import RunReport, WebConnector

__all__ = ["ConnectionLost", "FakeQuickBooks", "Reply", "RunReport", "WebConnector"]
