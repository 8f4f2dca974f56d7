"""qbsync: two-way sync between a business application and QuickBooks Desktop
through the QuickBooks Web Connector."""

__version__ = "0.1.0"
