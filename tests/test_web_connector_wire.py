"""WebConnector's wire format against the reference material in ../shared/qbwc: the WSDLs, the
captured QBWC envelopes and a real QBWC 2.2 verbose log; and its HCP query against Intuit's XSDs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import xmlschema
from lxml import etree
from qbwc_test_server import CannedCompany, QbwcService, customer_query, serve

from qbsync.testing import WebConnector
from qbsync.testing.web_connector.company import hcp_request
from qbsync.testing.web_connector.soap import OPERATION_PARAMS, build_envelope

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
QBWC = SHARED / "qbwc"
NS = "http://developer.intuit.com/"
XS = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"

pytestmark = pytest.mark.skipif(not QBWC.is_dir(), reason="../shared/qbwc reference material not present")

WSDL_FILES = sorted(QBWC.glob("wsdl/*/*.wsdl"))
RAW_CAPTURES = sorted(p for p in QBWC.glob("captured-envelopes/*.xml") if "invalid_record_ref" not in p.name)


def full_session() -> QbwcService:
    """A session touching every operation: connectionError, NoOp, an HRESULT, closeConnection."""
    service = QbwcService(
        requests=[customer_query("1"), customer_query("2"), customer_query("3")],
        noop_times=1, percents=[50, 100], connection_error_replies=[""],
    )
    with serve(service) as url:
        report = WebConnector(url, "qbuser", "s3cret", noop_delay=0,
                              company=CannedCompany(open_failures=1, hresult_on={2})).run()
    assert set(report.calls) == set(OPERATION_PARAMS), report.calls
    return service


@pytest.fixture(scope="module")
def session() -> QbwcService:
    return full_session()


def body_element(envelope: bytes) -> etree._Element:
    root = etree.fromstring(envelope)
    assert root.tag == f"{{{SOAP}}}Envelope"
    (body,) = root
    assert body.tag == f"{{{SOAP}}}Body"
    (element,) = body
    return element


def wsdl_schema(path: Path) -> xmlschema.XMLSchema:
    schema_el = etree.parse(str(path)).find(f"{{{WSDL}}}types/{{{XS}}}schema")
    return xmlschema.XMLSchema(etree.tostring(schema_el).decode())


@pytest.mark.parametrize("wsdl", WSDL_FILES, ids=lambda p: p.parent.name)
def test_every_envelope_sent_validates_against_the_wsdl_schema(session, wsdl):
    schema = wsdl_schema(wsdl)
    checked = 0
    for rec in session.received:
        if rec.op not in schema.elements:  # the 6-operation WSDL has no serverVersion/clientVersion
            continue
        element = body_element(rec.body)
        schema.validate(element)
        # children exactly in the WSDL's order, with the WSDL's names
        declared = [e.local_name for e in schema.elements[rec.op].type.content.iter_elements()]
        sent = [etree.QName(c).localname for c in element]
        if rec.op == "serverVersion":
            assert sent == []  # real QBWC sends it empty, whatever the WSDL declares
        else:
            assert sent == declared, rec.op
        assert all(etree.QName(c).namespace == NS for c in element)
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("wsdl", WSDL_FILES, ids=lambda p: p.parent.name)
def test_soap_action_and_binding_style_match_the_wsdl(session, wsdl):
    tree = etree.parse(str(wsdl))
    actions = {}
    for binding in tree.findall(f"{{{WSDL}}}binding"):
        if binding.find(f"{{{WSDL_SOAP}}}binding") is None:
            continue  # the SOAP 1.2 binding
        for op in binding.findall(f"{{{WSDL}}}operation"):
            soap_op = op.find(f"{{{WSDL_SOAP}}}operation")
            actions[op.get("name")] = soap_op.get("soapAction")
            assert soap_op.get("style", "document") == "document"
            assert op.find(f"{{{WSDL}}}input/{{{WSDL_SOAP}}}body").get("use") == "literal"
    for rec in session.received:
        if rec.op in actions:
            assert rec.soapaction == f'"{actions[rec.op]}"'


def test_the_test_service_replies_validate_against_the_wsdl_too():
    # so that a passing run against it means something
    schema = wsdl_schema(QBWC / "wsdl/intuit-troubleshoot-service_via_flowlink/QBWebConnectorSvc.wsdl")
    service = QbwcService(requests=[customer_query()])
    replies = []
    orig = service._reply

    def capture(op, result, start_response):
        out = orig(op, result, start_response)
        replies.append(out[0])
        return out

    service._reply = capture
    with serve(service) as url:
        WebConnector(url, "qbuser", "s3cret", company=CannedCompany(), noop_delay=0).run()
    assert len(replies) == 6
    for data in replies:
        schema.validate(body_element(data))


def test_parameter_table_matches_the_troubleshooting_wsdl():
    schema = wsdl_schema(QBWC / "wsdl/intuit-troubleshoot-service_via_flowlink/QBWebConnectorSvc.wsdl")
    for op, params in OPERATION_PARAMS.items():
        assert tuple(e.local_name for e in schema.elements[op].type.content.iter_elements()) == params


@pytest.mark.parametrize("capture", RAW_CAPTURES, ids=lambda p: p.name)
def test_receiveResponseXML_is_byte_identical_to_a_real_qbwc_capture(capture):
    raw = capture.read_bytes()
    captured = body_element(raw)
    ticket = captured.findtext(f"{{{NS}}}ticket")
    qbxml = captured.findtext(f"{{{NS}}}response")
    assert qbxml.startswith('<?xml version="1.0" ?>')

    service = QbwcService(requests=[customer_query()], ticket=ticket)
    with serve(service) as url:
        report = WebConnector(url, "qbuser", "s3cret", company=lambda xml: HCP if "HostQueryRq" in xml else qbxml,
                              noop_delay=0).run()
    assert report.ok, report.errors + report.violations
    (sent,) = service.calls("receiveResponseXML")
    # the stored files end with a newline after </soap:Envelope> (a file-saving artefact)
    assert sent.body == raw.rstrip(b"\n")


def test_receiveResponseXML_has_the_shape_of_the_hand_prettified_capture():
    element = body_element((QBWC / "captured-envelopes/receiveResponseXML__sales_order_add_rs_invalid_record_ref.xml")
                           .read_bytes())
    ours = body_element(build_envelope("receiveResponseXML", {"ticket": "t", "response": "<QBXML/>"}))
    assert [c.tag for c in ours] == [c.tag for c in element]
    assert ours.find(f"{{{NS}}}hresult").text is None and ours.find(f"{{{NS}}}message").text is None
    assert element.find(f"{{{NS}}}hresult").text is None and element.find(f"{{{NS}}}message").text is None


HCP = ('<?xml version="1.0" ?><QBXML><QBXMLMsgsRs><HostQueryRs requestID="1" statusCode="0" '
       'statusSeverity="Info" statusMessage="Status OK" /></QBXMLMsgsRs></QBXML>')


# -- the real QBWC 2.2 log ----------------------------------------------------------------------

STAMP = re.compile(r"^\d{8}\.\d\d:\d\d:\d\d UTC\t: QBWebConnector\.(\S+?)\(\) : (.*)$")


def parse_log(path: Path) -> dict:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    calls, percents, requests, responses, params = [], [], [], [], {}
    close_reply = None
    i = 0
    while i < len(lines):
        m = STAMP.match(lines[i])
        i += 1
        if not m:
            continue
        where, text = m.groups()
        if called := re.match(r"\*\*\* Calling (\w+)\(\)", text):
            calls.append(called.group(1))
        elif more := re.match(r'more="(-?\d+)"', text):
            percents.append(int(more.group(1)))
        elif cc := re.search(r'ccResponse="([^"]*)"', text):
            close_reply = cc.group(1)
        elif kv := re.match(r'(cfn|qbNationality|qbXMLMajorVers|qbXMLMinorVers)="([^"]*)"', text):
            params.setdefault(kv.group(1), set()).add(kv.group(2))
        elif text.startswith("XML dump follows") and where.startswith("SOAPWebService.do_"):
            dump = []
            while i < len(lines) and not STAMP.match(lines[i]):
                dump.append(lines[i])
                i += 1
            xml = "\n".join(dump).strip()
            (requests if where.endswith("do_sendRequestXML") else responses).append(xml)
    return {"calls": calls, "percents": percents, "requests": requests, "responses": responses,
            "params": params, "close_reply": close_reply}


def test_replaying_the_real_qbwc_log_gives_the_same_calls_and_parameters():
    log = parse_log(QBWC / "logs/QWCLog.txt")
    assert log["calls"] == ["sendRequestXML", "receiveResponseXML"] * 2 + ["closeConnection"]
    assert len(log["requests"]) == 2 and len(log["responses"]) == 2
    (cfn,) = log["params"]["cfn"]

    # The log starts after request no. 5 was answered (more="83"): replay requests 6 and 7.
    service = QbwcService(requests=log["requests"], percents=log["percents"][1:], close_message=log["close_reply"])
    answers = iter(log["responses"])
    seen = []

    def quickbooks(xml: str) -> str:
        if "HostQueryRq" in xml:
            return HCP
        seen.append(xml)
        return next(answers)

    with serve(service) as url:
        report = WebConnector(url, "qbuser", "s3cret", company=quickbooks, company_file=cfn, noop_delay=0).run()

    assert report.ok, report.errors + report.violations
    assert report.calls == ["serverVersion", "clientVersion", "authenticate"] + log["calls"]
    assert report.percent_trace == log["percents"][1:] == [85, 100]
    assert report.final_message == "Complete!"
    assert seen == log["requests"]
    assert report.status_codes == [0, 0]
    for rec in service.calls("sendRequestXML"):
        assert {rec.param("qbXMLCountry")} == log["params"]["qbNationality"]
        assert {rec.param("qbXMLMajorVers")} == log["params"]["qbXMLMajorVers"]
        assert {rec.param("qbXMLMinorVers")} == log["params"]["qbXMLMinorVers"]
        assert rec.param("strCompanyFileName") == cfn
    # later calls carry an empty HCPResponseXML, as in the log
    assert service.calls("sendRequestXML")[1].param("strHCPResponse") is None
    received = [r.param("response") for r in service.calls("receiveResponseXML")]
    assert received == log["responses"]
    assert all(r.param("hresult") is None and r.param("message") is None
               for r in service.calls("receiveResponseXML"))


# -- the HCP query is valid qbXML -------------------------------------------------------------

@pytest.mark.parametrize("version", ["13.0", "16.0"])
def test_hcp_query_validates_against_the_published_schema(published_xsd, version):
    xsd = published_xsd / version / f"qbxmlops{version.replace('.', '')}.xsd"
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    doc = etree.fromstring(hcp_request(version).encode())
    assert schema.validate(doc), schema.error_log
    assert f'<?qbxml version="{version}"?>' in hcp_request(version)


# -- reading replies: namespace-aware, strict about what QBWC needs ----------------------------

from qbsync.testing.web_connector.soap import SoapProblem, parse_reply  # noqa: E402


def envelope(inner: str, soap_ns: str = SOAP) -> bytes:
    return f'<?xml version="1.0"?><e:Envelope xmlns:e="{soap_ns}"><e:Body>{inner}</e:Body></e:Envelope>'.encode()


def test_prefixes_do_not_matter_and_cdata_is_text():
    reply = parse_reply("authenticate", 200, "text/xml", envelope(
        f'<tns:authenticateResponse xmlns:tns="{NS}"><tns:authenticateResult><tns:string>t1</tns:string>'
        f'<tns:string xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true" /><tns:string>300'
        "</tns:string></tns:authenticateResult></tns:authenticateResponse>"))
    assert reply.strings == ["t1", None, "300"]
    reply = parse_reply("sendRequestXML", 200, "text/xml", envelope(
        f'<sendRequestXMLResponse xmlns="{NS}"><sendRequestXMLResult><![CDATA[<QBXML/>]]></sendRequestXMLResult>'
        "</sendRequestXMLResponse>"))
    assert reply.text == "<QBXML/>"


@pytest.mark.parametrize(
    "op,inner,needle",
    [
        ("authenticate", f'<authenticateResponse xmlns="{NS}"><authenticateResult>t1</authenticateResult>'
                         "</authenticateResponse>", "bare string"),
        ("receiveResponseXML", f'<receiveResponseXMLResponse xmlns="{NS}" />', "is missing"),
        ("receiveResponseXML", f'<receiveResponseXMLResponse xmlns="{NS}"><receiveResponseXMLResult>1e2'
                               "</receiveResponseXMLResult></receiveResponseXMLResponse>", "plain integer"),
        ("getLastError", f'<getLastErrorResponse xmlns="{NS}"><getLastErrorResult>a</getLastErrorResult>'
                         "<getLastErrorResult>b</getLastErrorResult></getLastErrorResponse>", "2 <getLastErrorResult>"),
        ("getLastError", f'<getLastErrorResponse xmlns="{NS}"><getLastErrorResult xmlns="">a</getLastErrorResult>'
                         "</getLastErrorResponse>", "without a namespace"),
        ("closeConnection", f'<closeConnectionResult xmlns="{NS}">x</closeConnectionResult>', "closeConnectionResponse"),
    ],
)
def test_replies_qbwc_cannot_read_are_rejected(op, inner, needle):
    with pytest.raises(SoapProblem) as exc:
        parse_reply(op, 200, "text/xml", envelope(inner))
    assert needle in str(exc.value) and exc.value.kind == "protocol"


def test_soap_12_reply_is_rejected():
    inner = f'<getLastErrorResponse xmlns="{NS}"><getLastErrorResult>x</getLastErrorResult></getLastErrorResponse>'
    with pytest.raises(SoapProblem, match="SOAP 1.2"):
        parse_reply("getLastError", 200, "application/soap+xml", envelope(inner, "http://www.w3.org/2003/05/soap-envelope"))
