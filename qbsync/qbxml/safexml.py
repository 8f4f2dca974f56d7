"""The one way qbsync parses XML it is given (qbXML requests and responses): no DTD, no entity.

qbXML never has a DOCTYPE: one in a document is refused (`DOCTYPE_REFUSED`), and the parser is
set up so that nothing is ever resolved before that check (no external entity read from a file
or the network, no internal entity expanded).
"""

from __future__ import annotations

from typing import Any

from lxml import etree

DOCTYPE_REFUSED = "DOCTYPE and entities are not allowed"
# For lxml's XMLParser and iterparse alike.
PARSER_OPTIONS: dict[str, Any] = {"resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": True}


def parser(**options: Any) -> etree.XMLParser:
    """An XMLParser with PARSER_OPTIONS (plus e.g. remove_comments=True)."""
    return etree.XMLParser(**PARSER_OPTIONS, **options)


def has_doctype(tree: etree._ElementTree) -> bool:
    """Whether the document declared a DOCTYPE (with or without entities)."""
    info = tree.docinfo
    return bool(info.doctype or info.internalDTD is not None or info.system_url or info.public_id)
