"""The QuickBooks Web Connector SOAP service and its HTTP app (the only package importing spyne
and waitress).

Modules: `operations` (the QBWC operations as plain data), `wsdl` (the WSDL we serve, built from
that table), `qbwc` (the spyne service calling a ConnectorService), `support` (the /support status
page), `app` (the WSGI dispatcher and the waitress server).
"""
