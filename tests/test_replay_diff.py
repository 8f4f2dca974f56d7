"""The replay diff (qbsync.replay.diff) on its own: qbXML messages, sessions of messages and
callback sequences compared as plain data, no store, no server, no files."""

from __future__ import annotations

from qbsync.recording import NOT_RECORDED, Callback, Exchange
from qbsync.replay.diff import (
    Difference,
    MessageSetRoles,
    align_callbacks,
    callback_line,
    compare_callbacks,
    compare_messages,
    compare_requests,
    message_set_ids,
)

# -- one message against another ------------------------------------------------------------------

HEAD = '<?xml version="1.0" encoding="utf-8"?><?qbxml version="13.0"?>'


def msg(body: str, attrs: str = 'onError="continueOnError"', head: str = HEAD) -> str:
    return f"{head}<QBXML><QBXMLMsgsRq {attrs}>{body}</QBXMLMsgsRq></QBXML>"


def test_insignificant_differences_are_ignored():
    a = msg('<CustomerAddRq requestID="c1"><CustomerAdd><Name>A &amp; B</Name><Notes></Notes></CustomerAdd></CustomerAddRq>',
            'onError="continueOnError" newMessageSetID="x1"')
    b = ('<?xml version="1.0"?>\n<?qbxml version="13.0"?>\n<QBXML>\n  <QBXMLMsgsRq newMessageSetID="other" '
         'onError="continueOnError">\n    <CustomerAddRq requestID="c1">\n      <CustomerAdd>\n'
         "        <Name>A &#38; B</Name>\n        <Notes/>\n      </CustomerAdd>\n    </CustomerAddRq>\n"
         "  </QBXMLMsgsRq>\n</QBXML>\n")
    assert compare_messages(a, b) == []


def test_leaf_values_are_compared_exactly():
    a = msg('<CustomerAddRq requestID="c1"><CustomerAdd><Name>Acme</Name></CustomerAdd></CustomerAddRq>')
    b = msg('<CustomerAddRq requestID="c1"><CustomerAdd><Name>Acme </Name></CustomerAdd></CustomerAddRq>')
    [d] = compare_messages(a, b)
    assert (d.path, d.recorded, d.now) == ('QBXML/QBXMLMsgsRq/CustomerAddRq[requestID="c1"]/CustomerAdd/Name',
                                           "Acme", "Acme ")


def test_on_error_and_element_order_count():
    a = msg('<CustomerAddRq requestID="c1"><CustomerAdd><Name>A</Name><Phone>1</Phone></CustomerAdd></CustomerAddRq>')
    b = msg('<CustomerAddRq requestID="c1"><CustomerAdd><Phone>1</Phone><Name>A</Name></CustomerAdd></CustomerAddRq>',
            'onError="stopOnError"')
    found = {(d.kind, d.path) for d in compare_messages(a, b)}
    assert ("changed", "QBXML/QBXMLMsgsRq/@onError") in found
    assert any(k == "moved" and p.endswith(("CustomerAdd/Name", "CustomerAdd/Phone")) for k, p in found)


def test_requests_in_another_order_are_reported_as_moved():
    c1 = '<CustomerAddRq requestID="c1"><CustomerAdd><Name>A</Name></CustomerAdd></CustomerAddRq>'
    c2 = '<CustomerAddRq requestID="c2"><CustomerAdd><Name>B</Name></CustomerAdd></CustomerAddRq>'
    found = compare_messages(msg(c1 + c2), msg(c2 + c1))
    [d] = found  # one of the two moved relative to the other; their contents are the same
    assert d.kind == "moved" and d.path in ('QBXML/QBXMLMsgsRq/CustomerAddRq[requestID="c1"]',
                                            'QBXML/QBXMLMsgsRq/CustomerAddRq[requestID="c2"]')
    assert {d.recorded, d.now} == {"position 1", "position 2"}


def test_message_set_ids_are_compared_by_role():
    def session(first: str, second_old: str) -> list[str]:
        return [msg("", f'onError="continueOnError" newMessageSetID="{first}"'),
                msg("", f'onError="continueOnError" oldMessageSetID="{second_old}" newMessageSetID="n2-{first}"')]

    def compare(rec: list[str], now: list[str]) -> list[Difference]:
        roles = (MessageSetRoles(), MessageSetRoles())
        return [d for i, (a, b) in enumerate(zip(rec, now), 1) for d in compare_messages(a, b, i, roles)]

    assert compare(session("r1", "r1"), session("n1", "n1")) == []
    [d] = compare(session("r1", "r1"), session("n1", "somewhere-else"))
    assert d.path == "QBXML/QBXMLMsgsRq/@oldMessageSetID" and d.message == 2


def test_a_repeated_element_is_named_by_its_position():
    line = "<InvoiceLineAdd><Quantity>{}</Quantity></InvoiceLineAdd>"
    a = msg(f'<InvoiceAddRq requestID="i1"><InvoiceAdd>{line.format(1)}{line.format(2)}</InvoiceAdd></InvoiceAddRq>')
    b = msg(f'<InvoiceAddRq requestID="i1"><InvoiceAdd>{line.format(1)}{line.format(5)}</InvoiceAdd></InvoiceAddRq>')
    [d] = compare_messages(a, b, 4)
    assert (d.kind, d.path, d.recorded, d.now, d.message) == (
        "changed", 'QBXML/QBXMLMsgsRq/InvoiceAddRq[requestID="i1"]/InvoiceAdd/InvoiceLineAdd[2]/Quantity', "2", "5", 4)


def test_a_value_against_elements_shows_both_sides_whole():
    a = msg('<CustomerAddRq requestID="c1"><CustomerAdd><Name>A</Name></CustomerAdd></CustomerAddRq>')
    b = msg('<CustomerAddRq requestID="c1"><CustomerAdd><Name><First>A</First></Name></CustomerAdd></CustomerAddRq>')
    [d] = compare_messages(a, b)
    assert (d.kind, d.recorded, d.now) == ("changed", "<Name>A</Name>", "<Name><First>A</First></Name>")


def test_a_missing_element_is_shown_cut_to_200_characters():
    long_notes = "<Notes>" + "x" * 300 + "</Notes>"
    a = msg(f'<CustomerAddRq requestID="c1"><CustomerAdd><Name>A</Name>{long_notes}</CustomerAdd></CustomerAddRq>')
    b = msg('<CustomerAddRq requestID="c1"><CustomerAdd><Name>A</Name></CustomerAdd></CustomerAddRq>')
    [d] = compare_messages(a, b)
    assert d.kind == "missing" and d.path.endswith("/CustomerAdd/Notes") and d.now is None
    assert len(d.recorded) == 200 and d.recorded.startswith("<Notes>xxx") and d.recorded.endswith("…")


def test_text_that_is_not_xml_is_compared_as_text():
    assert compare_messages("not xml", "not xml") == []
    [d] = compare_messages("not xml", msg(""))
    assert (d.path, d.recorded) == ("(not well-formed XML)", "not xml")


def test_message_set_ids_of_a_message():
    assert message_set_ids(msg("", 'newMessageSetID="n1" oldMessageSetID="o1"')) == {
        "newMessageSetID": "n1", "oldMessageSetID": "o1"}
    assert message_set_ids(msg("")) == {}
    assert message_set_ids("<not xml") == {}


# -- the messages of a session -----------------------------------------------------------------------

C1 = '<CustomerAddRq requestID="c1"><CustomerAdd><Name>A</Name></CustomerAdd></CustomerAddRq>'
I1 = '<ItemServiceAddRq requestID="i1"><ItemServiceAdd><Name>Consulting</Name></ItemServiceAdd></ItemServiceAddRq>'


def exchanges(*messages: str) -> list[Exchange]:
    return [Exchange(n, f"{n:03d}-request.xml", text, answered=True) for n, text in enumerate(messages, 1)]


def test_the_same_session_has_no_differences():
    assert compare_requests(exchanges(msg(C1 + I1), msg(C1)), [msg(C1 + I1), msg(C1)]) == []


def test_a_request_sent_in_a_later_message_is_moved_then_compared_inside():
    i1_now = I1.replace("Consulting", "Consulting ")
    found = compare_requests(exchanges(msg(C1 + I1)), [msg(C1), msg(i1_now)])
    path = 'QBXML/QBXMLMsgsRq/ItemServiceAddRq[requestID="i1"]'
    assert [(d.kind, d.message, d.path, d.recorded, d.now) for d in found] == [
        ("moved", 1, path, "message 1", "message 2"),
        ("changed", 1, path + "/ItemServiceAdd/Name", "Consulting", "Consulting "),
    ]


def test_whole_messages_missing_or_added_name_their_requests():
    missing = compare_requests(exchanges(msg(C1), msg(I1)), [msg(C1)])
    assert [(d.kind, d.message, d.path) for d in missing] == [
        ("missing", 2, 'QBXML/QBXMLMsgsRq/ItemServiceAddRq[requestID="i1"]')]
    assert missing[0].recorded.startswith("<ItemServiceAddRq") and missing[0].now is None
    added = compare_requests(exchanges(msg(C1)), [msg(C1), msg(I1)])
    assert [(d.kind, d.message, d.recorded) for d in added] == [("added", 2, None)]


def test_a_missing_message_without_requests_is_named_by_its_file():
    [d] = compare_requests(exchanges(msg(C1), "<not xml"), [msg(C1)])
    assert (d.kind, d.message, d.path, d.recorded, d.now) == ("missing", 2, "/", "002-request.xml (not sent now)", None)


def test_message_set_roles_hold_across_the_messages_of_a_session():
    first, second = 'newMessageSetID="{}"', 'oldMessageSetID="{}" newMessageSetID="{}"'
    recorded = exchanges(msg(C1, first.format("r1")), msg(C1, second.format("r1", "r2")))
    assert compare_requests(recorded, [msg(C1, first.format("x")), msg(C1, second.format("x", "y"))]) == []
    [d] = compare_requests(recorded, [msg(C1, first.format("x")), msg(C1, second.format("y", "y"))])
    assert (d.message, d.path) == (2, "QBXML/QBXMLMsgsRq/@oldMessageSetID")
    assert (d.recorded, d.now) == ("<message set #1>", "<message set #2>")


# -- the callbacks ---------------------------------------------------------------------------------------


def calls(*pairs: tuple[str, object]) -> list[Callback]:
    return [Callback(call, result) for call, result in pairs]


def test_callback_lines():
    assert callback_line(Callback("authenticate", "nvu")) == 'authenticate: "nvu"'
    assert callback_line(Callback("authenticate", "")) == 'authenticate: session started, company file ""'
    assert callback_line(Callback("sendRequestXML", "request 2")) == "sendRequestXML: request 2"
    assert callback_line(Callback("receiveResponseXML", 50)) == "receiveResponseXML: 50"
    assert callback_line(Callback("closeConnection", "Synced 4 – “ok”")) == 'closeConnection: "Synced 4 – “ok”"'
    assert callback_line(Callback("getLastError", NOT_RECORDED)) == "getLastError: (result not recorded)"


def test_changed_added_and_missing_callbacks_with_their_positions():
    recorded = calls(("authenticate", ""), ("sendRequestXML", "request 1"), ("receiveResponseXML", 50),
                     ("closeConnection", "Synced 1"))
    now = calls(("authenticate", ""), ("sendRequestXML", "request 1"), ("receiveResponseXML", 100),
                ("getLastError", "x"), ("closeConnection", "Synced 1"))
    assert [(d.kind, d.index, d.call, d.recorded, d.now) for d in compare_callbacks(recorded, now)] == [
        ("changed", 3, "receiveResponseXML", "receiveResponseXML: 50", "receiveResponseXML: 100"),
        ("added", 4, "getLastError", None, 'getLastError: "x"'),
    ]
    assert [tag for tag, _, _ in align_callbacks(recorded, now)] == [" ", " ", "~", "+", " "]
    gone = compare_callbacks(recorded, now[:1] + now[-1:])
    assert [(d.kind, d.index, d.call) for d in gone] == [("missing", 2, "sendRequestXML"),
                                                         ("missing", 3, "receiveResponseXML")]
    assert all(d.where == "callback" and d.path is None for d in gone)


def test_a_result_the_recording_lacks_matches_any():
    recorded = calls(("authenticate", ""), ("closeConnection", NOT_RECORDED))
    assert compare_callbacks(recorded, calls(("authenticate", ""), ("closeConnection", "anything"))) == []
    [d] = compare_callbacks(recorded, calls(("authenticate", "busy"), ("closeConnection", "anything")))
    assert (d.kind, d.index, d.recorded, d.now) == ("changed", 1, 'authenticate: session started, company file ""',
                                                    'authenticate: "busy"')
