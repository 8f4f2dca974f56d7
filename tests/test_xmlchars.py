"""The one rule for characters XML cannot carry (`qbsync.qbxml.xmlchars`), checked against the
XML 1.0 `Char` production over every code point, and its users: qbXML values and the .qwc file."""

from __future__ import annotations

import sys

import pytest
from lxml import etree

from qbsync.qbxml.values import ValueProblem, format_value
from qbsync.qbxml.xmlchars import NOT_XML_CHAR, first_invalid_xml_char, without_invalid_xml_chars
from qbsync.qbxml.xsdmodel import SimpleType


def is_xml_char(cp: int) -> bool:
    """XML 1.0 (Fifth Edition) production [2] Char, as the specification writes it."""
    return cp in (0x9, 0xA, 0xD) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or 0x10000 <= cp <= 0x10FFFF


def test_the_rule_is_the_complement_of_xmls_char_production_over_every_code_point():
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    refused = {ord(c) for c in NOT_XML_CHAR.findall(everything)}
    assert refused == {cp for cp in range(sys.maxunicode + 1) if not is_xml_char(cp)}


@pytest.mark.parametrize("text, found", [
    ("Acme & Sons <Ltd>", None),
    ("tab\tnew line\ncarriage\r", None),
    ("emoji \U0001F600 and \ufffd", None),
    ("bell\x07", "U+0007"),
    ("nul\x00", "U+0000"),
    ("lone high \ud800", "U+D800"),
    ("lone low \udcff (an undecodable command-line byte)", "U+DCFF"),
    ("not a character \ufffe", "U+FFFE"),
    ("\uffff", "U+FFFF"),
])
def test_first_invalid_xml_char(text, found):
    assert first_invalid_xml_char(text) == found
    assert first_invalid_xml_char(without_invalid_xml_chars(text)) is None


@pytest.mark.parametrize("text", ["ok \U0001F600", "bell\x07", "\ud800", "\udfff", "\ufffe", "\uffff"])
def test_lxml_refuses_exactly_what_the_rule_refuses(text):
    el = etree.Element("Name")
    try:
        el.text = text
        accepted = True
    except (ValueError, UnicodeEncodeError):
        accepted = False
    assert accepted == (first_invalid_xml_char(text) is None)


@pytest.mark.parametrize("text", ["a\ud800b", "a\ufffeb", "a\x01b"])
def test_qbxml_values_refuse_them(text):
    with pytest.raises(ValueProblem, match="U\\+"):
        format_value(SimpleType("STRTYPE"), text)
