"""A statusCode qbsync cannot use (not a number, or too big for 64 bits: SQLite could not even
store it) is "no usable status": a write's outcome is unknown, never a failure and never a crash."""

from __future__ import annotations

import pytest

from qbsync.engine import exports
from qbsync.engine.exports import WRITE, SentMessage, interpret
from qbsync.engine.model import Synced, Unknown
from qbsync.qbxml import parse_response


def _answer(code, ret: str = "") -> str:
    return (f'<?xml version="1.0"?><QBXML><QBXMLMsgsRs><CustomerAddRs requestID="c7" statusCode="{code}" '
            f'statusSeverity="Info">{ret}</CustomerAddRs></QBXMLMsgsRs></QBXML>')


def _sent() -> SentMessage:
    return SentMessage(WRITE, 1, {"c7": 7}, {"c7": "Customer"}, "m1", "1 CustomerAdd")


@pytest.mark.parametrize("code", ["9" * 40, "99999999999999999999", "12x", ""])
def test_a_status_code_qbsync_cannot_use_makes_a_write_outcome_unknown(code):
    (o,) = interpret(_sent(), _answer(code), None, None).outcomes
    assert isinstance(o, Unknown) and "no usable status code" in o.reason


def test_an_ordinary_status_code_is_still_read():
    ret = "<CustomerRet><ListID>80000001-1</ListID><EditSequence>2</EditSequence><Name>A</Name></CustomerRet>"
    (o,) = interpret(_sent(), _answer(0, ret=ret), None, None).outcomes
    assert isinstance(o, Synced)
    assert exports.usable_status(type("Rs", (), {"attrs": {"statusCode": "-5"}, "status_code": -5})())


def test_the_parser_keeps_no_number_beyond_64_bits():
    (rs,) = parse_response(_answer("9" * 40), validate=False).responses
    assert rs.status_code == -1 and rs.attrs["statusCode"] == "9" * 40
