"""`WebConnector`: a stand-in for QuickBooks Web Connector 2.3 that drives any QBWC SOAP endpoint.

It speaks to your web service over real HTTP exactly as QBWC does (SOAP 1.1, document/literal,
the quoted SOAPAction header, compact envelopes with escaped qbXML) and follows QBWC's call
order::

    serverVersion -> clientVersion -> authenticate
        -> [connectionError ...]            when the company file cannot be opened
        -> sendRequestXML -> receiveResponseXML -> ... (until 100 %)
        -> [getLastError]                   after "" from sendRequestXML or a negative percent
        -> closeConnection

Each qbXML request your service returns is handed to a *company* (a
:class:`~qbsync.testing.FakeQuickBooks`, or any callable ``f(request_xml) -> response_xml``);
the response goes back in receiveResponseXML. Every reply of your service is checked the way
the real client reads it, and what happened is returned as a :class:`RunReport`.

Example, in a pytest test (``live_server_url`` is your QBWC service running, e.g. under waitress
in a thread: ``waitress.create_server(app, host="127.0.0.1", port=0)``, then
``http://127.0.0.1:{server.effective_port}/qbwc``)::

    from qbsync.testing import FakeQuickBooks, WebConnector

    def test_sync_pushes_customers(live_server_url):
        company = FakeQuickBooks(qbxml_version="13.0")
        report = WebConnector(live_server_url, "acme-sync", "s3cret", company=company,
                              noop_delay=0).run()
        assert report.ok, report.errors + report.violations
        assert report.calls[:3] == ["serverVersion", "clientVersion", "authenticate"]
        assert report.calls[-1] == "closeConnection"
        assert report.status_codes == [0, 0]          # statusCode of each qbXML response
        assert report.percent_trace[-1] == 100
        print(report.final_message)                    # what QBWC would show, e.g. "Complete!"

Things to try against your service: a ``FakeQuickBooks`` with ``fail_open()`` (connectionError),
``lose_next_response()`` (a session that dies after QuickBooks applied a message: the next run
must recover), a wrong password (``report.outcome == "invalid_user"``), ``noop_delay=0`` when
your service stalls with ``NoOp``. ``report.violations`` lists every reply the real Web
Connector would choke on (``<item>`` instead of ``<string>``, a float or decreasing percent,
unescaped qbXML, wrong namespace...).

The command line equivalent is ``qbsync simulate --url URL --username U --password-env VAR``.
"""

from qbsync.testing.web_connector.connector import WebConnector
from qbsync.testing.web_connector.report import RunReport

__all__ = ["RunReport", "WebConnector"]
