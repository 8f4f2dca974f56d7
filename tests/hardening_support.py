"""Shared by the bad-input tests (issue 10 §4): a session with one message out over real HTTP,
qbXML responses of any size built as text, and the changes counted by status (nothing lost)."""

from __future__ import annotations

from collections import Counter

from e2e_support import PASSWORD, USER
from soap_helpers import call, post_soap

from qbsync.qbxml import parse_request
from qbsync.store import open_store
from qbsync.testing.web_connector.soap import build_envelope

HCP = ""


def open_session(url: str) -> tuple[str, list[str]]:
    """authenticate + sendRequestXML: the ticket and the requestIDs of the message now out."""
    ticket, status = call(url, "authenticate", strUserName=USER, strPassword=PASSWORD).strings[:2]
    assert status == "" and ticket, status
    xml = call(url, "sendRequestXML", ticket=ticket, strHCPResponse=HCP, strCompanyFileName="company.qbw",
               qbXMLCountry="US", qbXMLMajorVers=13, qbXMLMinorVers=0).text
    assert xml, "nothing was sent"
    return ticket, [r.request_id for r in parse_request(xml).requests]


def receive(url: str, ticket: str, response: str, hresult: str = "", message: str = ""):
    """receiveResponseXML as the Web Connector posts it; the raw HTTP reply."""
    body = build_envelope("receiveResponseXML", {"ticket": ticket, "response": response, "hresult": hresult,
                                                 "message": message})
    return post_soap(url, body, "receiveResponseXML")


def customer_add_rs(request_id: str, n: int = 0, status: str = "0") -> str:
    return (f'<CustomerAddRs requestID="{request_id}" statusCode="{status}" statusSeverity="Info" '
            f'statusMessage="Status OK"><CustomerRet><ListID>80000{n:04d}-1234567890</ListID>'
            f"<TimeCreated>2026-11-26T08:00:00-08:00</TimeCreated><TimeModified>2026-11-26T08:00:00-08:00"
            f"</TimeModified><EditSequence>1234567890</EditSequence><Name>Customer {n}</Name>"
            f"<FullName>Customer {n}</FullName><IsActive>true</IsActive><Sublevel>0</Sublevel>"
            "</CustomerRet></CustomerAddRs>")


def customer_ret(i: int) -> str:
    return (f"<CustomerRet><ListID>{i:08X}-1234567890</ListID><TimeCreated>2026-11-26T08:00:00-08:00</TimeCreated>"
            f"<TimeModified>2026-11-26T08:00:00-08:00</TimeModified><EditSequence>1234567890</EditSequence>"
            f"<Name>Customer {i:07d}</Name><FullName>Customer {i:07d}</FullName><IsActive>true</IsActive>"
            f"<Sublevel>0</Sublevel><CompanyName>Company {i:07d} &amp; Sons</CompanyName>"
            f"<BillAddress><Addr1>{i} Main Street</Addr1><City>Springfield</City><State>CA</State>"
            f"<PostalCode>90210</PostalCode></BillAddress><Phone>555-{i % 10000:04d}</Phone>"
            f"<Email>customer{i}@example.com</Email><Balance>0.00</Balance><TotalBalance>0.00</TotalBalance>"
            "<JobStatus>None</JobStatus></CustomerRet>")


def response(*rs: str) -> str:
    return ('<?xml version="1.0" ?>\n<QBXML>\n<QBXMLMsgsRs>\n' + "".join(rs) + "</QBXMLMsgsRs>\n</QBXML>\n")


def big_query_response(request_ids: list[str], size: int) -> str:
    """A response answering every CustomerAdd of `request_ids`, then a CustomerQueryRs with as
    many CustomerRet as make the whole about `size` bytes of qbXML (text, built in one join)."""
    adds = "".join(customer_add_rs(rid, n) for n, rid in enumerate(request_ids))
    one = len(customer_ret(0))
    rets = "".join(customer_ret(i) for i in range(max(1, size // one)))
    query = (f'<CustomerQueryRs requestID="q-1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
             f"{rets}</CustomerQueryRs>")
    return response(adds, query)


def statuses(db) -> Counter:
    """(status, outcome_unknown) -> how many changes: a change never disappears."""
    with open_store(db) as store:
        rows = store.query("SELECT status, outcome_unknown FROM changes")
    return Counter((r["status"], r["outcome_unknown"]) for r in rows)
