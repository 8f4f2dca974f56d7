"""Validate a whole qbXML document (request or response) against a qbXML schema.

lxml does the validation (fast: a validator is ready in well under 0.2 s and checks 10,000
records in a fraction of a second); its messages are then rewritten into plain words with the
schema's content model (`XsdModel`), so every problem names the element path, the value and the
rule, e.g. "amount '10.5' must have 0 or 2 decimals (e.g. 10.50)".

The `<?qbxml version="X.Y"?>` instruction is invisible to XSD validation, so it is read here to
pick the schema version. Every real request we have (Intuit's SDK samples, recorded traffic, the
Web Connector's own captures) carries it and QuickBooks needs it to choose the spec, so a request
without it is an error; responses from QuickBooks never carry it, so they are checked against the
default (or forced) version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from qbsync.errors import QbsyncError
from qbsync.qbxml import safexml
from qbsync.qbxml.problems import Problem
from qbsync.qbxml.schema import DEFAULT_VERSION, Schema, available_versions, embedded_dir, load_schema
from qbsync.qbxml.versions import version_key
from qbsync.qbxml.xsdmodel import ElementDecl

REQUEST, RESPONSE, UNKNOWN = "request", "response", "unknown"
_ENVELOPES = {
    "QBXMLMsgsRq": REQUEST,
    "QBXMLSubscriptionMsgsRq": REQUEST,
    "QBXMLMsgsRs": RESPONSE,
    "QBXMLSubscriptionMsgsRs": RESPONSE,
}
_VERSION_PI = re.compile(r"""version\s*=\s*["']([^"']*)["']""")
_XML_DECL_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")


@dataclass
class ValidationReport:
    file: str
    kind: str  # "request" | "response" | "unknown"
    version: str | None  # the qbXML version the document declares (or the one forced)
    valid: bool
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    schema_version: str | None = None  # the schema version the document was checked against

    def as_dict(self) -> dict:
        return {
            "file": self.file,
            "kind": self.kind,
            "version": self.version,
            "schema_version": self.schema_version,
            "valid": self.valid,
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
        }


def validate_document(
    data: str | bytes,
    *,
    schema_dir: str | Path | None = None,
    version: str | None = None,
    filename: str | None = None,
) -> ValidationReport:
    """Validate one qbXML document. `version` forces the schema version (otherwise the
    document's `<?qbxml version?>`, else the default). Raises QbsyncError only for problems
    with the schema folder or a forced version; everything wrong with the document is reported."""
    report = ValidationReport(file=filename or "-", kind=UNKNOWN, version=version, valid=False)
    try:
        tree = _parse(data)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        report.errors.append(Problem("/", f"not well-formed XML: {_syntax_message(exc)}", line))
        return report

    root = tree.getroot()
    declared = _declared_version(root)
    report.kind = _kind(root)
    if safexml.has_doctype(tree):  # before anything reads the document's content
        report.errors.append(Problem("/", safexml.DOCTYPE_REFUSED, 1))
        return report
    if version is None:
        report.version = declared
    if report.kind == UNKNOWN:
        report.errors.append(Problem("/" + etree.QName(root).localname, _not_qbxml(root), root.sourceline))
        return report

    if report.kind == REQUEST and declared == "":
        report.errors.append(Problem("/QBXML", 'the <?qbxml?> instruction has no version="X.Y"', root.sourceline))
    if report.kind == REQUEST and declared is None:
        report.errors.append(
            Problem(
                "/QBXML",
                'no <?qbxml version="X.Y"?> instruction before <QBXML>: QuickBooks needs it to pick the qbXML '
                f'spec version (add e.g. <?qbxml version="{version or DEFAULT_VERSION}"?>)',
                root.sourceline,
            )
        )

    wanted = version or declared
    try:
        schema = _schema_for(wanted, schema_dir)
    except _BadVersion as exc:
        report.errors.append(Problem("/QBXML", str(exc), root.sourceline))
        return report
    report.schema_version = schema.version
    if declared and declared != schema.version and version is None:
        report.warnings.append(
            Problem(
                "/QBXML",
                f"no qbXML {declared} schema {'embedded' if _is_embedded(schema) else 'in ' + schema.source}; "
                f"checked against {schema.version} (elements newer than {declared} are not flagged)",
                root.sourceline,
            )
        )

    found = [_rewrite(entry, tree, schema) for entry in schema.validate_tree(tree)]
    report.errors.extend(sorted(found, key=lambda p: p.line or 0))  # lxml reports a parent after its children
    report.valid = not report.errors
    return report


def validate_file(path: str | Path, **kwargs) -> ValidationReport:
    p = Path(path)
    return validate_document(p.read_bytes(), filename=kwargs.pop("filename", None) or str(path), **kwargs)


# ---- document facts --------------------------------------------------------------------------


def _parse(data: str | bytes) -> etree._ElementTree:
    if isinstance(data, str):
        # lxml refuses str input that declares an encoding; the text is already decoded
        data = _XML_DECL_ENCODING.sub(r"\1", data, count=1).encode("utf-8")
    return etree.ElementTree(etree.fromstring(data, safexml.parser(remove_blank_text=False)))


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    msg = (exc.msg or str(exc)).strip()
    return re.sub(r",? line \d+, column \d+$", "", msg) or "the document could not be parsed"


def _declared_version(root: etree._Element) -> str | None:
    for node in root.itersiblings(preceding=True):
        if isinstance(node, etree._ProcessingInstruction) and node.target == "qbxml":
            m = _VERSION_PI.search(node.text or "")
            return m.group(1).strip() if m else ""
    return None


def _not_qbxml(root: etree._Element) -> str:
    qname = etree.QName(root)
    if qname.namespace:
        return f"qbXML elements take no namespace: remove xmlns=\"{qname.namespace}\" from <{qname.localname}>"
    if root.tag != "QBXML":
        return f"not a qbXML message: expected <QBXML> holding <QBXMLMsgsRq> or <QBXMLMsgsRs>, found <{root.tag}>"
    return "not a qbXML message: <QBXML> holds no <QBXMLMsgsRq> or <QBXMLMsgsRs>"


def _kind(root: etree._Element) -> str:
    if root.tag != "QBXML":
        return UNKNOWN
    for child in root:
        if isinstance(child.tag, str) and child.tag in _ENVELOPES:
            return _ENVELOPES[child.tag]
    return UNKNOWN


class _BadVersion(QbsyncError):
    pass


def _schema_for(version: str | None, schema_dir: str | Path | None, load: bool = True) -> Schema | None:
    """The schema for `version`: the exact one, else the nearest older one, else (for versions
    older than every schema we have, e.g. Intuit's 2.0 samples) the oldest one — newer qbXML
    schemas accept older requests. A version above every schema available is an error."""
    have = available_versions(schema_dir)
    if version is not None and version != "":
        if not re.fullmatch(r"\d+(\.\d+)?", version):
            raise _BadVersion(f"'{version}' is not a qbXML version (expected e.g. 13.0)")
        if version_key(version) > version_key(have[-1]):
            where = "the embedded schema" if not (schema_dir or _env_dir()) else f"schema folder {schema_dir or _env_dir()}"
            raise _BadVersion(
                f"qbXML version {version} is newer than any schema available in {where} "
                f"(available: {', '.join(have)})"
            )
        if version_key(version) < version_key(have[0]):
            version = have[0]
    return load_schema(version or None, schema_dir) if load else None


def _env_dir() -> str | None:
    import os

    from qbsync.qbxml.schema import SCHEMA_DIR_ENV

    return os.environ.get(SCHEMA_DIR_ENV) or None


def check_version(version: str | None, schema_dir: str | Path | None = None) -> None:
    """Raise QbsyncError when the schema folder or a forced version cannot serve (for up-front
    usage checks; loads nothing)."""
    _schema_for(version, schema_dir, load=False)


# ---- turning lxml's messages into plain words --------------------------------------------------

_LXML_PREFIX = re.compile(r"^Element '(?P<el>[^']+)'(?:, attribute '(?P<attr>[^']+)')?: (?P<rest>.*)$", re.S)
_EXPECTED = re.compile(r"Expected is(?: one of)? \( (?P<names>[^)]*) \)")
_LIST_LIMIT = 10  # libxml2 lists at most this many expected elements

_TYPE_RULES = {
    "AMTTYPE": "an amount: digits with an optional sign and 0 or 2 decimals, at most 13 digits before the point (e.g. 10.50)",
    "PRICETYPE": "a price: digits with an optional sign and up to 5 decimals, at most 10 digits before the point (e.g. 19.99)",
    "QUANTYPE": "a quantity: digits with an optional sign and up to 5 decimals, at most 10 digits before the point (e.g. 2.5)",
    "PERCENTTYPE": "a percentage: digits with an optional sign and up to 5 decimals, at most 10 digits before the point (e.g. 7.25)",
    "BOOLTYPE": "a boolean: true or false",
    "DATETYPE": "a date: YYYY-MM-DD",
    "DATETIMETYPE": "a date-time: YYYY-MM-DDThh:mm:ss, optionally with an offset such as -08:00 (no trailing Z)",
    "INTTYPE": "a whole number",
    "FLOATTYPE": "a decimal number",
    "GUIDTYPE": "a GUID in braces, e.g. {6B29FC40-CA47-1067-B31D-00DD010662DA}, or 0",
    "TIMEINTERVALTYPE": "a time interval such as PT1H30M",
}


def _rewrite(entry: etree._LogEntry, tree: etree._ElementTree, schema: Schema) -> Problem:
    path = entry.path or ""
    line = entry.line or None
    m = _LXML_PREFIX.match(entry.message)
    name, attr, rest = (m.group("el"), m.group("attr"), m.group("rest")) if m else ("", None, entry.message)
    text = _message(entry.type_name, name, attr, rest, path, tree, schema)
    return Problem(path, text or _fallback(name, attr, rest), line)


def _fallback(name: str, attr: str | None, rest: str) -> str:
    where = f"attribute '{attr}' of '{name}'" if attr else f"element '{name}'" if name else ""
    return f"{where}: {rest}" if where else rest


def _message(kind: str, name: str, attr: str | None, rest: str, path: str, tree, schema: Schema) -> str | None:
    decl = _decl_at(schema, path)
    if kind == "SCHEMAV_ELEMENT_CONTENT":
        return _content_message(name, rest, path, tree, schema)
    if kind == "SCHEMAV_CVC_COMPLEX_TYPE_4":  # required attribute missing
        m = re.search(r"attribute '([^']+)' is required", rest)
        attr = attr or (m.group(1) if m else "?")
        if name == "QBXMLMsgsRq" and attr == "onError":
            return "QBXMLMsgsRq needs the onError attribute: stopOnError, continueOnError or rollbackOnError"
        return f"element '{name}' needs the attribute '{attr}'"
    if kind == "SCHEMAV_CVC_COMPLEX_TYPE_3_2_1":
        return f"attribute '{attr}' is not allowed on '{name}'"
    if kind in ("SCHEMAV_CVC_COMPLEX_TYPE_2_1", "SCHEMAV_CVC_ELT_3_2_1"):
        return f"element '{name}' must be empty"

    value = _value(kind, rest, path, attr, tree)
    shown = _show(value)
    simple = None
    if attr and decl is not None:
        a = decl.attributes.get(attr)
        simple = a.type if a else None
    elif decl is not None:
        simple = decl.simple
    label = f"attribute '{attr}'" if attr else f"'{name}'"

    if kind == "SCHEMAV_CVC_MAXLENGTH_VALID":
        limit = re.search(r"maximum length of '(\d+)'", rest)
        n = len(value) if value is not None else re.search(r"length of '(\d+)'", rest).group(1)
        return f"{shown} is {n} characters; the limit for {label} is {limit.group(1) if limit else '?'}"
    if kind == "SCHEMAV_CVC_MINLENGTH_VALID":
        return f"{shown} is too short for {label}"
    if kind == "SCHEMAV_CVC_ENUMERATION_VALID":
        allowed = simple.enumeration if simple is not None and simple.enumeration else _set_values(rest)
        return f"{shown} is not allowed for {label}; use one of: {', '.join(allowed)} (case matters)"
    if kind == "SCHEMAV_CVC_MININCLUSIVE_VALID":
        lo = re.search(r"minimum value allowed \('([^']*)'\)", rest)
        return f"{shown} is below the minimum of {lo.group(1) if lo else '?'} for {label}"
    if kind == "SCHEMAV_CVC_MAXINCLUSIVE_VALID":
        hi = re.search(r"maximum value allowed \('([^']*)'\)", rest)
        return f"{shown} is above the maximum of {hi.group(1) if hi else '?'} for {label}"
    if kind in ("SCHEMAV_CVC_PATTERN_VALID", "SCHEMAV_CVC_DATATYPE_VALID_1_2_1", "SCHEMAV_CVC_DATATYPE_VALID_1_2_3"):
        base = simple.base if simple is not None else _type_from_message(rest)
        return _value_message(base, value, shown, label)
    return None


def _value_message(base: str | None, value: str | None, shown: str, label: str) -> str:
    v = value or ""
    if base == "AMTTYPE":
        if re.fullmatch(r"\s*[+-]?\d+(\.\d*)?\s*", v) and v != v.strip():
            return f"amount {shown} has spaces around it; {label} must be {_TYPE_RULES[base]}"
        m = re.fullmatch(r"[+-]?(\d+)(?:\.(\d*))?", v)
        if m and m.group(2) is not None and len(m.group(2)) != 2 and len(m.group(1)) <= 13:
            return f"amount {shown} must have 0 or 2 decimals (e.g. {_two_decimals(v)})"
        return f"amount {shown} is not valid for {label}: it must be {_TYPE_RULES[base]}"
    if base == "DATETIMETYPE" and v.endswith("Z"):
        return f"date-time {shown} ends in Z, which QuickBooks rejects; write {v[:-1]} or give an offset such as -08:00"
    if base == "BOOLTYPE" and v.lower() in ("true", "false"):
        return f"{shown} is not a qbXML boolean: write {v.lower()} (lower case)"
    rule = _TYPE_RULES.get(base or "")
    if rule:
        return f"{shown} is not valid for {label}: it must be {rule}"
    return f"{shown} does not match the format {label} requires ({base or 'schema type'})"


def _two_decimals(v: str) -> str:
    sign = v[0] if v[:1] in "+-" else ""
    whole, _, frac = v.lstrip("+-").partition(".")
    return f"{sign}{whole or '0'}.{(frac + '00')[:2]}" if len(frac) < 2 else f"{sign}{whole}.{frac[:2]} (rounded as you intend)"


def _content_message(name: str, rest: str, path: str, tree, schema: Schema) -> str:
    expected = _EXPECTED.search(rest)
    names = [n.strip() for n in expected.group("names").split(",")] if expected else []
    listed = ", ".join(names) + (", …" if len(names) >= _LIST_LIMIT else "")
    parent_path = path.rsplit("/", 1)[0] if "This element is not expected" in rest else path
    parent = _decl_at(schema, parent_path)
    parent_name = _step_name(parent_path.rsplit("/", 1)[-1]) if parent_path else ""

    if "Missing child element" in rest:
        return f"element '{name}' is incomplete: a required child is missing; expected {('one of: ' if len(names) > 1 else '')}{listed}"

    # an unexpected element
    if parent_name in ("QBXMLMsgsRq", "QBXMLMsgsRs") and (parent is None or name not in parent.children):
        what = "request" if parent_name == "QBXMLMsgsRq" else "response"
        if not name.endswith(parent_name[-2:]):
            return f"element '{name}' is not a qbXML {what}; '{parent_name}' holds only {what}s (…{parent_name[-2:]} elements)"
        if _is_embedded(schema):
            return (
                f"{what} '{name}' is not covered by qbsync's embedded schema (qbXML {schema.version}); "
                "to validate it, use Intuit's SDK schemas with --schema-dir (or QBSYNC_QBXML_SCHEMA_DIR)"
            )
        later = _later_versions_with(name, schema)
        hint = f"; it exists in qbXML {later}" if later else ""
        return f"{what} '{name}' is not part of qbXML {schema.version}{hint}"
    if parent is not None and name in parent.children:
        mine = parent.children[name]
        prev = _previous_sibling(tree, path)
        if prev is not None and prev in parent.children:
            if prev == name and not mine.repeated:
                return f"element '{name}' appears more than once in '{parent_name}'; it may appear only once"
            if parent.children[prev].index > mine.index:
                return f"element '{name}' is out of order: in '{parent_name}' it must come before '{prev}' (the schema fixes the order of elements)"
        earlier = [n for n in names if n in parent.children and parent.children[n].index < mine.index]
        if earlier and not set(earlier) & _following_siblings(tree, path):
            return (
                f"a required element is missing before '{name}' in '{parent_name}': expected "
                f"{('one of: ' if len(names) > 1 else '')}{listed}"
            )
        if earlier:
            return (
                f"element '{name}' is out of order: expected {listed} here; in '{parent_name}', "
                f"{earlier[0]} comes before {name} (the schema fixes the order of elements)"
            )
        if not mine.repeated:
            return f"element '{name}' is not expected here: it may appear only once in '{parent_name}', or it is out of order" + (
                f"; expected one of: {listed}" if names else ""
            )
        return f"element '{name}' is not expected here; expected one of: {listed}" if names else f"element '{name}' is not expected here"
    where = f" in '{parent_name}'" if parent_name else ""
    if names:
        return f"element '{name}' is not expected here{where}; expected one of: {listed}"
    return f"element '{name}' is not allowed{where} (nothing more may follow here)"


def _is_embedded(schema: Schema) -> bool:
    # compare folders: a Schema's `source` depends on how it was first loaded (see load_schema's cache)
    return schema.source == "embedded" or schema.entry.resolve().parent == embedded_dir().resolve()


def _following_siblings(tree, path: str) -> set[str]:
    try:
        found = tree.xpath(path)
    except etree.XPathError:
        return set()
    if not found or not isinstance(found[0], etree._Element):
        return set()
    return {el.tag for el in found[0].itersiblings() if isinstance(el.tag, str)}


def _previous_sibling(tree, path: str) -> str | None:
    try:
        found = tree.xpath(path)
    except etree.XPathError:
        return None
    if not found or not isinstance(found[0], etree._Element):
        return None
    prev = found[0].getprevious()
    while prev is not None and not isinstance(prev.tag, str):
        prev = prev.getprevious()
    return prev.tag if prev is not None else None


def _later_versions_with(name: str, schema: Schema) -> str | None:
    """For an SDK folder: the first other version in that folder that has the request."""
    from qbsync.qbxml.schema import find_entries
    from qbsync.qbxml.xsdmodel import XsdModel

    try:
        entries = find_entries(Path(schema.source))
    except QbsyncError:
        return None
    for v in sorted(entries, key=version_key):
        if version_key(v) <= version_key(schema.version):
            continue
        if XsdModel(entries[v]).message_element(name) is not None:
            return v
    return None


def _step_name(step: str) -> str:
    return step.split("[", 1)[0]


def _decl_at(schema: Schema, path: str) -> ElementDecl | None:
    """The declaration of the element at an lxml error path, walked through the content model."""
    steps = [_step_name(s) for s in path.split("/") if s]
    if not steps:
        return None
    decl = schema.model.element(steps[0])
    for step in steps[1:]:
        if decl is None:
            return None
        info = decl.child(step)
        decl = info.decl if info is not None else None
    return decl


def _value(kind: str, rest: str, path: str, attr: str | None, tree) -> str | None:
    if not attr and path:
        try:
            found = tree.xpath(path)
        except etree.XPathError:
            found = []
        if found and isinstance(found[0], etree._Element):
            return found[0].text or ""
    m = re.search(r"The value '(.*?)' is not", rest, re.S) or re.search(r"'(.*?)' is not a valid value", rest, re.S)
    return m.group(1) if m else None


def _show(value: str | None, limit: int = 60) -> str:
    if value is None:
        return "the value"
    return "'" + (value if len(value) <= limit else value[: limit - 1] + "…") + "'"


def _set_values(rest: str) -> list[str]:
    m = re.search(r"\{(.*)\}", rest)
    return re.findall(r"'([^']*)'", m.group(1)) if m else []


def _type_from_message(rest: str) -> str | None:
    m = re.search(r"type '([^']+)'", rest)
    return m.group(1) if m else None
