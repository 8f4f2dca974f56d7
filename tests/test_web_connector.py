"""WebConnector against a real waitress server running a hand-written QBWC test service."""

from __future__ import annotations

import importlib.util
import json

import pytest
from lxml import etree
from qbwc_test_server import CannedCompany, QbwcService, Reply, customer_query, qbxml_request, serve

from qbsync.testing import RunReport, WebConnector

NS = "http://developer.intuit.com/"
PASSWORD = "s3cret"
START = ["serverVersion", "clientVersion", "authenticate"]


def run(service: QbwcService, company=None, **kw) -> RunReport:
    kw.setdefault("noop_delay", 0)
    with serve(service) as url:
        return WebConnector(url, service.username, kw.pop("password", PASSWORD),
                            company=company or CannedCompany(), **kw).run()


def test_full_session_follows_qbwc_order_and_reports_everything():
    service = QbwcService(requests=[customer_query("1"), customer_query("2"), customer_query("3")])
    company = CannedCompany(status_codes=[0, 1, 0])
    report = run(service, company)

    assert report.calls == START + ["sendRequestXML", "receiveResponseXML"] * 3 + ["closeConnection"]
    assert service.ops == report.calls
    assert report.ok and report.outcome == "complete"
    assert report.round_trips == 3
    assert report.percent_trace == [33, 66, 100]
    assert report.status_codes == [0, 1, 0]
    assert report.requests == service.requests
    assert company.received == service.requests
    assert len(report.responses) == 3 and "CustomerQueryRs" in report.responses[0]
    assert report.final_message == "Complete!"
    assert report.server_version == "qbwc-test-service 1.0"
    assert report.client_version_reply == ""
    assert report.auth["result"] == "" and report.auth["ticket_issued"] is True
    assert report.errors == report.violations == report.warnings == []
    assert company.sessions == [""] and company.ended == 1


def test_report_is_json_ready_and_never_holds_secrets():
    service = QbwcService(requests=[customer_query()])
    with serve(service) as url:
        wc = WebConnector(url, "qbuser", PASSWORD, company=CannedCompany(), noop_delay=0)
        report = wc.run()
    data = report.as_dict()
    text = json.dumps(data)
    assert PASSWORD not in text and service.ticket not in text
    assert PASSWORD not in repr(wc) and PASSWORD not in repr(report)
    assert set(data) >= {"calls", "requests", "responses", "round_trips", "status_codes", "hresults",
                         "percent_trace", "auth", "warnings", "errors", "violations", "final_message", "ok"}


def test_first_sendRequestXML_carries_hcp_response_later_ones_empty():
    service = QbwcService(requests=[customer_query("1"), customer_query("2")])
    company = CannedCompany(qbxml_version="16.0", company_file=r"C:\QB\Acme.QBW")
    report = run(service, company)
    assert report.ok
    first, second = service.calls("sendRequestXML")
    hcp = first.param("strHCPResponse")
    rs = [el.tag for el in etree.fromstring(hcp.encode()).find("QBXMLMsgsRs")]
    assert rs == ["HostQueryRs", "CompanyQueryRs", "PreferencesQueryRs"]
    assert second.param("strHCPResponse") is None  # sent as an empty element
    assert b"<strHCPResponse />" in second.body
    for call in (first, second):
        assert [name for name, _ in call.params] == [
            "ticket", "strHCPResponse", "strCompanyFileName", "qbXMLCountry", "qbXMLMajorVers", "qbXMLMinorVers"]
        assert call.param("strCompanyFileName") == r"C:\QB\Acme.QBW"
        assert call.param("qbXMLCountry") == "US"
        assert (call.param("qbXMLMajorVers"), call.param("qbXMLMinorVers")) == ("16", "0")
    assert report.company_file == r"C:\QB\Acme.QBW"


def test_hcp_hook_of_the_company_is_used_when_present():
    class WithHook(CannedCompany):
        def hcp_response(self):
            return '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><HostQueryRs statusCode="0" /></QBXMLMsgsRs></QBXML>'

    service = QbwcService(requests=[customer_query()])
    report = run(service, WithHook())
    assert report.ok
    assert "<HostQueryRs statusCode" in service.calls("sendRequestXML")[0].param("strHCPResponse")


def test_plain_callable_company_gets_the_hcp_query_and_the_requests():
    seen = []

    def company(xml: str) -> str:
        seen.append(xml)
        return '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerQueryRs requestID="1" statusCode="0" ' \
               'statusSeverity="Info" statusMessage="Status OK" /></QBXMLMsgsRs></QBXML>'

    service = QbwcService(requests=[customer_query()])
    report = run(service, company)
    assert report.ok and report.status_codes == [0]
    assert "<HostQueryRq" in seen[0] and "<CompanyQueryRq" in seen[0] and "<PreferencesQueryRq" in seen[0]
    assert seen[1:] == service.requests


def test_http_headers_and_serverVersion_empty_body():
    service = QbwcService(requests=[customer_query()])
    run(service)
    for rec in service.received:
        assert rec.soapaction == f'"{NS}{rec.op}"'
        assert rec.content_type == "text/xml; charset=utf-8"
        assert rec.body.startswith(b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope ')
        assert b"\n" not in rec.body.split(b"<soap:Body>")[0]  # compact
    assert service.received[0].body.endswith(
        b'<soap:Body><serverVersion xmlns="http://developer.intuit.com/" /></soap:Body></soap:Envelope>')
    assert service.calls("clientVersion")[0].param("strVersion") == "2.3.0.215"
    auth = service.calls("authenticate")[0]
    assert auth.params == [("strUserName", "qbuser"), ("strPassword", PASSWORD)]


def test_client_version_is_configurable():
    service = QbwcService(requests=[customer_query()])
    run(service, client_version="2.1.0.30")
    assert service.calls("clientVersion")[0].param("strVersion") == "2.1.0.30"


def test_success_sends_empty_hresult_and_message_elements():
    service = QbwcService(requests=[customer_query()])
    run(service)
    body = service.calls("receiveResponseXML")[0].body
    assert body.endswith(b"</response><hresult /><message /></receiveResponseXML></soap:Body></soap:Envelope>")


def test_hresult_goes_to_receiveResponseXML_with_empty_response_then_getLastError():
    service = QbwcService(requests=[customer_query(), customer_query()], last_error="QuickBooks rejected the request")
    company = CannedCompany(hresult_on={1})
    report = run(service, company)
    rr = service.calls("receiveResponseXML")[0]
    assert rr.params == [("ticket", service.ticket), ("response", None), ("hresult", "0x80040400"),
                         ("message", "QuickBooks found an error when parsing the provided XML text stream.")]
    assert b"<response />" in rr.body
    assert report.calls == START + ["sendRequestXML", "receiveResponseXML", "getLastError", "closeConnection"]
    assert report.hresults == ["0x80040400"] and report.responses == [""]
    assert report.percent_trace == [-101]
    assert report.final_message == "QuickBooks rejected the request"
    assert report.outcome == "last_error" and not report.ok


def test_noop_pauses_then_sendRequestXML_again():
    service = QbwcService(requests=[customer_query()], noop_times=1)
    report = run(service)
    assert report.calls == START + ["sendRequestXML", "getLastError", "sendRequestXML", "receiveResponseXML",
                                    "closeConnection"]
    assert report.noops == 1 and report.ok
    # the HCP response goes only in the very first sendRequestXML, NoOp or not
    first, second = service.calls("sendRequestXML")
    assert first.param("strHCPResponse") and second.param("strHCPResponse") is None


def test_noop_delay_is_honoured(monkeypatch):
    slept = []
    monkeypatch.setattr("qbsync.testing.web_connector.connector.time.sleep", slept.append)
    run(QbwcService(requests=[customer_query()], noop_times=2), noop_delay=5)
    assert slept == [5, 5]


def test_empty_request_then_last_error_text_is_the_final_message():
    service = QbwcService(requests=[], last_error="Nothing queued")
    report = run(service)
    assert report.calls == START + ["sendRequestXML", "getLastError", "closeConnection"]
    assert report.final_message == "Nothing queued"
    assert report.outcome == "last_error" and not report.ok


@pytest.mark.parametrize(
    "status,message,outcome,ok",
    [("none", "No Data Exchange", "no_work", True), ("busy", "Application Busy", "busy", True)],
)
def test_auth_none_and_busy_end_the_run(status, message, outcome, ok):
    service = QbwcService(requests=[customer_query()], auth_status=status, auth_extra=["600", "300"])
    company = CannedCompany()
    report = run(service, company)
    assert report.calls == START + ["closeConnection"]
    assert report.final_message == message
    assert report.outcome == outcome and report.ok is ok
    assert report.auth["postpone_seconds"] == 600 and report.auth["min_run_interval_seconds"] == 300
    assert report.auth["close_connection_called"] is True
    assert company.sessions == [] and company.received == []


def test_auth_nvu_is_a_failed_run():
    service = QbwcService(requests=[customer_query()])
    report = run(service, password="wrong")
    assert report.calls == START + ["closeConnection"]
    assert report.final_message == "Invalid password for username"
    assert report.outcome == "invalid_user" and not report.ok
    assert report.auth["result"] == "nvu" and report.auth["ticket_issued"] is False


def test_close_connection_after_auth_failure_is_configurable():
    service = QbwcService(requests=[customer_query()], auth_status="none")
    report = run(service, close_after_auth_failure=False)
    assert report.calls == START
    assert report.auth["close_connection_called"] is False and report.ok


def test_company_path_from_authenticate_is_opened_and_reported():
    path = r"C:\Users\Public\Documents\Intuit\QuickBooks\Company Files\Acme.QBW"
    service = QbwcService(requests=[customer_query()], auth_status=path)
    company = CannedCompany()
    report = run(service, company)
    assert company.sessions == [path]
    assert service.calls("sendRequestXML")[0].param("strCompanyFileName") == path
    assert report.auth["company_file"] == path and report.ok


def test_connection_error_retry_with_path_then_success():
    service = QbwcService(requests=[customer_query()], connection_error_replies=[r"C:\QB\Other.QBW"])
    company = CannedCompany(open_failures=1)
    report = run(service, company)
    assert report.calls == START + ["connectionError", "sendRequestXML", "receiveResponseXML", "closeConnection"]
    ce = service.calls("connectionError")[0]
    assert ce.params == [("ticket", service.ticket), ("hresult", "0x80040408"), ("message", "Could not start QuickBooks.")]
    assert company.sessions == ["", r"C:\QB\Other.QBW"]
    assert report.company_file == r"C:\QB\Other.QBW"
    assert report.connection_errors == [{"hresult": "0x80040408", "message": "Could not start QuickBooks.",
                                         "reply": r"C:\QB\Other.QBW"}]
    assert report.ok


def test_connection_error_done_ends_the_run():
    service = QbwcService(requests=[customer_query()], connection_error_replies=["DONE"])
    report = run(service, CannedCompany(open_failures=5))
    assert report.calls == START + ["connectionError"]
    assert report.outcome == "connection_error" and not report.ok
    assert report.final_message == "Could not start QuickBooks."
    assert any(e.startswith("QBWC1013") for e in report.errors)


def test_connection_error_retries_at_most_twice():
    service = QbwcService(requests=[customer_query()], connection_error_replies=["", "", "", ""])
    company = CannedCompany(open_failures=10)
    report = run(service, company)
    assert report.calls == START + ["connectionError"] * 3
    assert company.sessions == ["", "", ""]
    assert report.outcome == "connection_error"


def test_client_version_warning_is_recorded_and_the_run_goes_on():
    service = QbwcService(requests=[customer_query()], client_version_reply="W:Please upgrade to 2.3")
    report = run(service)
    assert report.ok and report.warnings == ["clientVersion warning: Please upgrade to 2.3"]
    assert "sendRequestXML" in report.calls


@pytest.mark.parametrize("reply,expected", [("E:Your Web Connector is too old", "Your Web Connector is too old"),
                                            ("O:2.3.0.300", "2.3.0.300")])
def test_client_version_error_or_required_version_stops_the_run(reply, expected):
    service = QbwcService(requests=[customer_query()], client_version_reply=reply)
    report = run(service)
    assert report.calls == ["serverVersion", "clientVersion"]
    assert report.outcome == "version_rejected" and not report.ok
    assert expected in report.final_message


def test_item_children_in_authenticate_result_are_rejected():
    service = QbwcService(requests=[customer_query()], array_child="item")
    report = run(service)
    assert report.calls == START
    assert not report.ok and report.outcome == "server_error"
    assert any("<string>" in v and "<item>" in v for v in report.violations)
    assert any(e.startswith("QBWC1012") for e in report.errors)


def test_string_children_outside_the_intuit_namespace_are_rejected():
    service = QbwcService(requests=[customer_query()], array_ns="")
    report = run(service)
    assert report.calls == START and not report.ok
    assert any("without a namespace" in v for v in report.violations)


def test_response_element_in_the_wrong_namespace_is_rejected():
    service = QbwcService(requests=[customer_query()], response_ns="http://developer.intuit.com")
    report = run(service)
    # serverVersion/clientVersion are optional (the run goes on); authenticate ends the run
    assert report.calls == START and not report.ok
    assert len(report.violations) == 3
    assert any("authenticateResponse" in v for v in report.violations)


def test_float_percent_is_a_protocol_error():
    service = QbwcService(requests=[customer_query(), customer_query()], percents=["33.3"])
    report = run(service)
    assert report.calls == START + ["sendRequestXML", "receiveResponseXML"]
    assert any("QBWC1042" in v and "'33.3'" in v for v in report.violations)
    assert report.outcome == "server_error" and not report.ok


def test_decreasing_percent_is_a_violation_but_the_run_continues():
    service = QbwcService(requests=[customer_query()] * 3, percents=[50, 40, 100])
    report = run(service)
    assert report.percent_trace == [50, 40, 100]
    assert report.calls[-1] == "closeConnection" and report.outcome == "complete"
    assert report.violations == ["receiveResponseXML percent went down from 50 to 40"]
    assert not report.ok


def test_percent_above_100_is_a_violation_and_ends_the_session():
    service = QbwcService(requests=[customer_query()] * 3, percents=[150])
    report = run(service)
    assert report.calls == START + ["sendRequestXML", "receiveResponseXML", "closeConnection"]
    assert not report.ok and "0..100" in report.violations[0]


@pytest.mark.parametrize(
    "op,mode,code",
    [
        ("authenticate", "500", "QBWC1012"),
        ("sendRequestXML", "fault", "QBWC1041"),
        ("receiveResponseXML", "500", "QBWC1042"),
        ("receiveResponseXML", "garbage", "QBWC1042"),
        ("getLastError", "garbage", "QBWC1043"),
        ("closeConnection", "500", "QBWC1044"),
    ],
)
def test_broken_replies_end_the_run_with_qbwc_error_codes(op, mode, code):
    service = QbwcService(requests=[customer_query()], percents=[-1], misbehave={op: mode})
    report = run(service)
    assert report.calls[-1] == op
    assert not report.ok
    assert any(e.startswith(code) for e in report.errors + report.violations), report.errors
    if mode == "garbage":
        assert any("not well-formed" in e for e in report.errors)
    if mode == "fault":
        assert any("boom in the service" in e for e in report.errors)


def test_connection_error_fault_is_qbwc1045():
    service = QbwcService(requests=[customer_query()], misbehave={"connectionError": "fault"})
    report = run(service, CannedCompany(open_failures=1))
    assert report.calls[-1] == "connectionError"
    assert any(e.startswith("QBWC1045") for e in report.errors)


@pytest.mark.parametrize("op", ["serverVersion", "clientVersion"])
@pytest.mark.parametrize("mode", ["500", "fault"])
def test_version_callbacks_not_implemented_are_only_a_warning(op, mode):
    service = QbwcService(requests=[customer_query()], misbehave={op: mode})
    report = run(service)
    assert report.outcome == "complete" and report.ok
    assert len(report.warnings) == 1 and report.warnings[0].startswith(f"{op} failed")


@pytest.mark.parametrize("mode", ["html", "garbage"])
def test_malformed_version_replies_are_violations_but_the_run_goes_on(mode):
    service = QbwcService(requests=[customer_query()], misbehave={"serverVersion": mode})
    report = run(service)
    assert report.outcome == "complete" and not report.ok
    assert report.calls[-1] == "closeConnection"
    assert len(report.violations) == 1 and "serverVersion" in report.violations[0]


def test_hcp_failure_is_qbwc1014_and_closes_the_session():
    class NoHost(CannedCompany):
        def hcp_response(self):
            return Reply(None, "0x80040402", "Unexpected error")

    service = QbwcService(requests=[customer_query()])
    report = run(service, NoHost())
    assert report.calls == START + ["closeConnection"]
    assert report.outcome == "hcp_error" and not report.ok
    assert report.errors[0].startswith("QBWC1014")


def test_interactive_mode_is_reported_as_unsupported():
    service = QbwcService(requests=[], last_error="Interactive mode")
    report = run(service)
    assert report.calls == START + ["sendRequestXML", "getLastError", "closeConnection"]
    assert report.outcome == "interactive_mode" and not report.ok


def test_clientVersion_reply_without_a_known_prefix_is_a_violation():
    service = QbwcService(requests=[customer_query()], client_version_reply="Hello")
    report = run(service)
    assert report.outcome == "complete" and not report.ok
    assert "QBWC1046" in report.violations[0]


def test_unescaped_qbxml_in_sendRequestXMLResult_is_rejected():
    service = QbwcService(requests=[customer_query()], unescaped_request=True)
    report = run(service)
    assert report.calls[-1] == "sendRequestXML" and not report.ok
    assert any("entity-escaped" in v for v in report.violations)


def test_pretty_printed_envelopes_are_fine_when_values_are_untouched():
    service = QbwcService(requests=[customer_query()], pretty=True)
    report = run(service)
    assert report.ok, report.errors + report.violations


def test_max_round_trips_guards_against_a_service_that_never_finishes():
    service = QbwcService(requests=[customer_query()] * 50, percents=[10])
    report = run(service, max_round_trips=5)
    assert report.round_trips == 5
    assert report.calls[-1] == "closeConnection"
    assert report.outcome == "limit_reached" and not report.ok


def test_max_noops_guards_against_endless_noop():
    service = QbwcService(requests=[customer_query()], noop_times=1000)
    report = run(service, max_noops=3)
    assert report.noops == 4 and report.outcome == "limit_reached"
    assert report.calls[-1] == "closeConnection"


def test_qbxml_is_escaped_once_and_unescaped_once():
    # The service sends a value with '&' and '<' in it; the company must see it exactly once-escaped.
    request = qbxml_request('<CustomerQueryRq requestID="a&amp;b"><FullName>Smith &amp; Sons &lt;UK&gt;</FullName>'
                            "</CustomerQueryRq>")
    service = QbwcService(requests=[request])
    company = CannedCompany()
    report = run(service, company)
    assert company.received == [request]
    assert etree.fromstring(request.encode()).findtext(".//FullName") == "Smith & Sons <UK>"
    # ... and the response travels back byte for byte
    assert service.calls("receiveResponseXML")[0].param("response") == report.responses[0]
    assert 'requestID="a&amp;b"' in report.responses[0]


def test_carriage_returns_in_a_response_survive_the_trip():
    def company(xml):
        return '<?xml version="1.0" ?>\r\n<QBXML>\r\n<QBXMLMsgsRs>\r\n<HostQueryRs statusCode="0" />\r\n</QBXMLMsgsRs>\r\n</QBXML>\r\n'

    service = QbwcService(requests=[customer_query()])
    report = run(service, company)
    assert service.calls("receiveResponseXML")[0].param("response") == report.responses[0]


def test_company_object_without_a_company_is_refused():
    with pytest.raises(TypeError):
        WebConnector("http://127.0.0.1:1/qbwc", "u", "p")


def test_unreachable_service_is_reported_not_raised():
    report = WebConnector("http://127.0.0.1:9/qbwc", "u", "p", company=CannedCompany(), timeout=2).run()
    assert not report.ok and report.calls == START
    assert any(e.startswith("QBWC1012") and "could not reach" in e for e in report.errors)


HAVE_FAKE_QB = importlib.util.find_spec("qbsync.testing.fake_quickbooks") is not None


@pytest.mark.skipif(not HAVE_FAKE_QB, reason="qbsync.testing.fake_quickbooks not written yet")
def test_with_the_shipped_fake_quickbooks():
    from qbsync.testing.fake_quickbooks import FakeQuickBooks

    add = qbxml_request('<CustomerAddRq requestID="1"><CustomerAdd><Name>Acme &amp; Co</Name></CustomerAdd>'
                        "</CustomerAddRq>")
    query = qbxml_request('<CustomerQueryRq requestID="2"><FullName>Acme &amp; Co</FullName></CustomerQueryRq>')
    missing = qbxml_request('<CustomerQueryRq requestID="3"><FullName>Nobody</FullName></CustomerQueryRq>')
    service = QbwcService(requests=[add, query, add, missing])
    report = run(service, FakeQuickBooks(qbxml_version="13.0"))
    assert report.ok, report.errors + report.violations
    assert report.status_codes == [0, 0, 3100, 500]  # a FullName that does not exist: 500 (Warn)
    assert report.percent_trace == [25, 50, 75, 100]
    hcp = service.calls("sendRequestXML")[0].param("strHCPResponse")
    assert "<HostQueryRs" in hcp and "<CompanyQueryRs" in hcp and "<PreferencesQueryRs" in hcp
    assert "Acme &amp; Co" in report.responses[1]


# -- property: whatever a service answers, the run ends and the calls follow QBWC's grammar -----

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class Switch:
    """One waitress server for many hypothesis examples: forwards to the current service."""

    target: QbwcService

    def __call__(self, environ, start_response):
        return self.target(environ, start_response)


@pytest.fixture(scope="module")
def switch():
    app = Switch()
    with serve(app) as url:
        yield app, url


def assert_qbwc_grammar(calls: list[str]) -> None:
    assert calls[:2] == ["serverVersion", "clientVersion"]
    if len(calls) > 2:
        assert calls[2] == "authenticate"
    assert calls.count("closeConnection") <= 1
    if "closeConnection" in calls:
        assert calls[-1] == "closeConnection"
    for before, after in zip(calls, calls[1:]):
        if after == "receiveResponseXML":
            assert before == "sendRequestXML"
        if after == "getLastError":
            assert before in ("sendRequestXML", "receiveResponseXML")
        if before == "getLastError":
            assert after in ("sendRequestXML", "closeConnection")
        if after == "connectionError":
            assert before in ("authenticate", "connectionError")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    percents=st.lists(st.one_of(st.integers(-3, 120), st.sampled_from(["50.5", "", "x", " 7 "])), min_size=1,
                      max_size=6),
    n_requests=st.integers(0, 5),
    noops=st.integers(0, 2),
    auth=st.sampled_from(["", "none", "busy", r"C:\QB\A.QBW"]),
    open_failures=st.integers(0, 3),
    client_reply=st.sampled_from(["", "W:old", "E:no", "O:9.9"]),
)
def test_any_service_behaviour_ends_cleanly_in_qbwc_order(switch, percents, n_requests, noops, auth, open_failures,
                                                          client_reply):
    app, url = switch
    app.target = service = QbwcService(requests=[customer_query(str(i)) for i in range(n_requests)],
                                       percents=percents, noop_times=noops, auth_status=auth,
                                       client_version_reply=client_reply, connection_error_replies=["", ""])
    report = WebConnector(url, "qbuser", "s3cret", company=CannedCompany(open_failures=open_failures),
                          noop_delay=0, max_round_trips=20).run()
    assert report.calls == service.ops
    assert_qbwc_grammar(report.calls)
    assert report.round_trips == report.calls.count("receiveResponseXML") - (
        1 if report.calls[-1] == "receiveResponseXML" else 0)
    assert report.ok == (report.outcome in ("complete", "no_work", "busy")
                         and not report.errors and not report.violations)
    assert report.outcome is not None


@pytest.mark.parametrize("url", ["ftp://example.com/qbwc", "not a url"])
def test_bad_url_is_refused_up_front(url):
    with pytest.raises(ValueError):
        WebConnector(url, "u", "p", company=CannedCompany())


def test_bad_qbxml_version_is_refused_up_front():
    with pytest.raises(ValueError):
        WebConnector("http://127.0.0.1:9/qbwc", "u", "p", company=CannedCompany(), qbxml_version="thirteen")


def test_the_same_connector_can_run_twice():
    service = QbwcService(requests=[customer_query()])
    with serve(service) as url:
        wc = WebConnector(url, "qbuser", PASSWORD, company=CannedCompany(), noop_delay=0)
        first = wc.run()
        service.__post_init__()  # a fresh queue on the service side
        second = wc.run()
    assert first.ok and second.ok and first is not second
    assert second.calls == first.calls


@pytest.mark.skipif(not HAVE_FAKE_QB, reason="qbsync.testing.fake_quickbooks not written yet")
def test_fake_quickbooks_that_cannot_open_the_company_takes_the_connectionError_path():
    from qbsync.testing.fake_quickbooks import FakeQuickBooks

    fq = FakeQuickBooks()
    fq.fail_open(times=1)
    service = QbwcService(requests=[customer_query()], connection_error_replies=[""])
    report = run(service, fq)
    assert report.calls == START + ["connectionError", "sendRequestXML", "receiveResponseXML", "closeConnection"]
    ce = service.calls("connectionError")[0]
    assert ce.param("hresult") == "0x80040408" and ce.param("message")
    assert report.ok


@pytest.mark.skipif(not HAVE_FAKE_QB, reason="qbsync.testing.fake_quickbooks not written yet")
def test_fake_quickbooks_losing_a_response_abandons_the_session_after_applying_it():
    from qbsync.testing.fake_quickbooks import FakeQuickBooks

    fq = FakeQuickBooks()
    fq.lose_next_response()
    add = qbxml_request('<CustomerAddRq requestID="1"><CustomerAdd><Name>Lost Response Ltd</Name></CustomerAdd>'
                        "</CustomerAddRq>")
    service = QbwcService(requests=[add])
    report = run(service, fq)
    assert report.calls == START + ["sendRequestXML"]
    assert report.outcome == "response_lost" and not report.ok
    assert fq.find("Customer", "Lost Response Ltd") is not None  # applied all the same

    # the next run: the add is refused as a duplicate (3100), which the service must cope with
    service = QbwcService(requests=[add])
    again = run(service, fq)
    assert again.ok and again.status_codes == [3100]


def test_a_callable_raising_connection_error_loses_the_response():
    def company(xml):
        if "HostQueryRq" in xml:
            return '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><HostQueryRs statusCode="0" /></QBXMLMsgsRs></QBXML>'
        raise ConnectionResetError("wire cut")

    report = run(QbwcService(requests=[customer_query()]), company)
    assert report.outcome == "response_lost" and report.calls[-1] == "sendRequestXML"
    assert report.responses == [""]


def test_other_company_exceptions_propagate():
    def company(xml):
        raise KeyError("bug in the test company")

    with pytest.raises(KeyError):
        run(QbwcService(requests=[customer_query()]), company)


def test_non_ascii_text_travels_as_utf8_both_ways():
    request = qbxml_request('<CustomerQueryRq requestID="1"><FullName>Café Zoë ™ 日本</FullName></CustomerQueryRq>')
    service = QbwcService(requests=[request], last_error="ignored", close_message="Fertig: Größe ✓")
    company = CannedCompany()
    report = run(service, company)
    assert company.received == [request]
    assert report.final_message == "Fertig: Größe ✓" and report.ok

    def echo_name(xml):
        if "HostQueryRq" in xml:
            return '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><HostQueryRs statusCode="0" /></QBXMLMsgsRs></QBXML>'
        return ('<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><CustomerQueryRs statusCode="0"><CustomerRet>'
                "<Name>Café Zoë ™ 日本</Name></CustomerRet></CustomerQueryRs></QBXMLMsgsRs></QBXML>")

    service = QbwcService(requests=[request])
    report = run(service, echo_name)
    sent = service.calls("receiveResponseXML")[0]
    assert "Café Zoë ™ 日本".encode() in sent.body  # UTF-8 on the wire, not character references
    assert sent.param("response") == report.responses[0]
