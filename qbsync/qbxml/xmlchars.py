"""The characters XML cannot carry: the one rule for qbXML values, the .qwc file and the SOAP
answers.

XML 1.0 allows tab, line feed, carriage return and U+0020–U+D7FF, U+E000–U+FFFD,
U+10000–U+10FFFF (its ``Char`` production); nothing else may appear, not even as a character
reference. Outside that set: the other C0 control characters, U+FFFE and U+FFFF, and lone
surrogates U+D800–U+DFFF (Python's stand-ins for bytes that are not UTF-8, e.g. from a command
line argument). QuickBooks refuses a whole message holding one (HRESULT 0x80040400) and the
Web Connector a .qwc file.
"""

from __future__ import annotations

import re

# The complement of Char within what a Python str can hold (up to U+10FFFF), spelt out: the
# negated form compiles 30 times slower, and every CLI start that checks a name pays for it.
NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def first_invalid_xml_char(text: str) -> str | None:
    """The first character of `text` that XML cannot carry, named ``U+XXXX``; None when all can."""
    found = NOT_XML_CHAR.search(text)
    return f"U+{ord(found.group()):04X}" if found else None


def without_invalid_xml_chars(text: str) -> str:
    """`text` with every character XML cannot carry left out."""
    return NOT_XML_CHAR.sub("", text)
