"""parse_response makes each RsResult from its header's fields without the constructor: the
result must hold every field of the header, the Rs's plain fields and its records."""

from __future__ import annotations

import dataclasses

from qbsync.qbxml.parse import RsHeader, RsResult, iter_response, parse_response

MESSAGE = (
    '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML><QBXMLMsgsRs newMessageSetID="m1">'
    '<CustomerAddRs requestID="w-1" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
    "<CustomerRet><ListID>80-1</ListID><Name>Acme</Name></CustomerRet></CustomerAddRs>"
    '<ListDelRs requestID="d" statusCode="0" statusSeverity="Info" statusMessage="Status OK">'
    "<ListDelType>Customer</ListDelType><ListID>80-2</ListID><TimeDeleted>2026-11-26T08:00:00</TimeDeleted></ListDelRs>"
    '<CustomerQueryRs requestID="q" statusCode="1" statusSeverity="Info" statusMessage="none" retCount="0"'
    ' iteratorRemainingCount="0" iteratorID="{it}"/>'
    "</QBXMLMsgsRs></QBXML>"
)


def test_each_result_holds_its_headers_fields_and_records() -> None:
    parsed = parse_response(MESSAGE, validate=False)
    headers = [h for h, name, _ in iter_response(MESSAGE) if name is None]
    assert [r.request_id for r in parsed.responses] == ["w-1", "d", "q"]
    for result, header in zip(parsed.responses, headers):
        assert isinstance(result, RsResult)
        for f in dataclasses.fields(RsHeader):
            assert getattr(result, f.name) == getattr(header, f.name), f.name
    add, delete, query = parsed.responses
    assert add.rets == [("CustomerRet", {"ListID": "80-1", "Name": "Acme"})] and delete.rets == [] == query.rets
    assert delete.fields == {"ListDelType": "Customer", "ListID": "80-2", "TimeDeleted": "2026-11-26T08:00:00"}
    assert (query.status_code, query.ret_count, query.iterator_id, query.iterator_remaining_count) == (1, 0, "{it}", 0)
    assert add.rets is not delete.rets  # each result its own list


def test_max_rets_keeps_the_first_records_only() -> None:
    two = MESSAGE.replace("</CustomerRet>", "</CustomerRet><CustomerRet><ListID>80-9</ListID></CustomerRet>", 1)
    assert len(parse_response(two, validate=False).responses[0].rets) == 2
    assert parse_response(two, validate=False, max_rets=1).responses[0].rets == [
        ("CustomerRet", {"ListID": "80-1", "Name": "Acme"})]
