"""The Web Connector service: what the QuickBooks Web Connector talks to.

- `service`: `ConnectorService`, the callbacks as a thin shell: load the session and its work by
  ticket, feed the event to the pure session engine (`qbsync.engine.session`), record the
  outcomes and save, in one transaction, then answer. No protocol decision is made here.
- `soap`: the spyne SOAP service calling `ConnectorService` with plain values; `operations`: the
  QBWC operations as plain data; `wsdl`: the WSDL built from that table.
- `app`: the WSGI dispatcher (SOAP, WSDL, /support, /healthz) and the waitress server;
  `support`: the /support status page.

Only `soap` and `app` import spyne and waitress.
"""
