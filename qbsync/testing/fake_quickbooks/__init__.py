"""FakeQuickBooks: a QuickBooks Desktop company that answers qbXML request messages the way
QuickBooks does, for tests (yours and ours) and for ``qbsync simulate``.

    from qbsync.testing import FakeQuickBooks

    fq = FakeQuickBooks()                       # in memory; path="company.db" to keep it
    reply = fq.process(request_xml)             # what QBXMLRP2's ProcessRequest returns
    reply.xml, reply.hresult, reply.message     # response text | "" or "0x80040400" | text

What it does, as QuickBooks does:

* Every message is validated against the qbXML schema of the version in its
  ``<?qbxml version?>`` instruction (which may not exceed ``qbxml_version``). A message that is
  not well-formed, breaks the schema or has no (or too high a) version is not processed at
  all: ``hresult="0x80040400"``, QuickBooks' parse-error message, ``xml=None``.
* Add / Mod / Query / Del for Customer (jobs through ParentRef), Vendor, Employee, ItemService,
  ItemNonInventory, ItemInventory, ItemOtherCharge, Class, StandardTerms, Account,
  SalesTaxCode, Invoice, Estimate, SalesReceipt, CreditMemo, Bill and ReceivePayment, plus
  ItemQuery, ListDeletedQuery, TxnDeletedQuery, HostQuery, CompanyQuery and PreferencesQuery.
  Other valid requests get status 1030 (not supported by this implementation).
* One ``…Rs`` per request, in order, requestID echoed; ``stopOnError`` (and
  ``rollbackOnError``, whose QuickBooks behaviour is unverified) answers the requests after
  the first error with 3231; ``continueOnError`` runs them all.
* Error recovery: a message with ``newMessageSetID`` has its response saved in the company;
  a later message with ``oldMessageSetID`` gets the saved responses (with their
  ``ErrorRecovery`` IDs) first and ``messageSetStatusCode`` on ``QBXMLMsgsRs`` (0 when every
  saved request succeeded, else the first failing code; 600 when nothing is saved under that
  ID), then the answers to its own requests.

Fault injection (each for tests of your error handling):

* ``lose_next_response()``: the next message is applied, then its response is lost:
  ``process`` raises :class:`ConnectionLost` (``.xml`` holds the response that never arrived);
  with ``raise_error=False`` it returns ``Reply(xml=None, hresult="", lost=True)`` instead.
* ``malformed_next_response()``: the next response is cut short (not well-formed XML).
* ``lock(type, id, code=3170)``: Mod/Del of that record fails with 3170 (or 3175) until
  ``unlock``.
* ``delay(seconds, count=1)``: the next `count` messages (None: all) take that long.
* ``fail_open(hresult="0x80040408", message=..., times=None)``: the company file cannot be
  opened: ``open_error`` / ``begin_session()`` return the failure (the Web Connector's
  connectionError path) and ``process`` answers with that HRESULT.

Acting "in QuickBooks" (what users do between syncs): ``create``, ``edit``, ``make_inactive``,
``delete``, ``get``, ``find``, ``all``. They use qbXML field names and return Ret-shaped dicts.

Time comes from ``clock`` (a callable returning a datetime; naive means UTC), so tests decide
TimeCreated/TimeModified and the EditSequences derived from them; with a fixed clock the same
messages get byte-identical answers (iteratorIDs included), which keeps recordings stable.

A new company holds what QuickBooks creates with a company file (sales tax codes Tax/Non, the
usual accounts, terms Net 15/Net 30/Due on receipt); ``seed=False`` starts empty. With ``path``
the company lives in a SQLite file and survives the process; iterators and injected faults
belong to the running instance (a session), as in QuickBooks.

Not modelled: sales tax (SalesTaxTotal is 0.00), currencies, custom fields (DataExt), other
lists than the ones above (their Refs are accepted by name and given a stable ListID).
"""

from qbsync.testing.fake_quickbooks.company import FakeQuickBooks
from qbsync.testing.fake_quickbooks.replies import ConnectionLost, Exchange, Reply
from qbsync.testing.fake_quickbooks.status import QbStatus

__all__ = ["ConnectionLost", "Exchange", "FakeQuickBooks", "QbStatus", "Reply"]
