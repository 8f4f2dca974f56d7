"""Comparing what qbsync sends now with what it sent in a recording: pure functions over qbXML
text and callback lists, no IO (the runner, :mod:`qbsync.replay.runner`, does the replaying).

What is compared, and what is normalised (see ``NORMALISED``):

- qbXML is parsed and compared as trees: the XML declaration, the encoding, whitespace between
  elements, attribute order, ``<a/>`` against ``<a></a>`` and character references carry no
  meaning for QuickBooks and are ignored. Everything else counts: element order (the schema
  fixes it), requestIDs (they match answers to changes), onError, the qbXML version, and every
  leaf value exactly, surrounding spaces included.
- ``newMessageSetID`` / ``oldMessageSetID`` are made per run (session id, sequence and random
  bits), so they are compared by role: the nth distinct id of the recording must stand where the
  nth distinct id of the replay stands (an ``oldMessageSetID`` must still name the same earlier
  message).
- A request found in another message (same name and requestID) is reported once as moved, then
  compared inside; the callbacks are aligned like a diff of their names, then compared by result.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from qbsync.qbxml import safexml
from qbsync.recording import NOT_RECORDED, Callback, Exchange

NORMALISED = (
    "XML declaration, encoding, whitespace between elements, attribute order, empty-element form "
    "and character references (no meaning for QuickBooks)",
    "newMessageSetID / oldMessageSetID compared by role, not by value (generated per run)",
)
MESSAGE_SET_ATTRS = ("newMessageSetID", "oldMessageSetID")
_MAX_VALUE = 200  # characters of an element shown when it is missing or added
_PARSER = safexml.parser()


def _parse(text: str) -> etree._Element:
    return etree.fromstring(text.encode("utf-8"), _PARSER)


def message_set_ids(text: str) -> dict[str, str]:
    """The message-set ids on a request message's QBXMLMsgsRq ({} when it has none or is not XML)."""
    try:
        root = _parse(text)
    except etree.XMLSyntaxError:
        return {}
    msgs = root.find("QBXMLMsgsRq")
    if msgs is None:
        return {}
    return {a: msgs.get(a) for a in MESSAGE_SET_ATTRS if msgs.get(a)}


# -- comparing two qbXML messages ---------------------------------------------------------------


@dataclass
class Difference:
    """One difference: in a request message (`message` is its number, `path` the element) or
    in the callbacks (`index` is the callback's position, from 1)."""

    where: str  # "request" or "callback"
    kind: str  # changed / missing (recorded only) / added (now only) / moved
    recorded: str | None
    now: str | None
    message: int | None = None
    path: str | None = None
    index: int | None = None
    call: str | None = None


class MessageSetRoles:
    """Message-set ids of one run, numbered by first appearance."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def token(self, value: str) -> str:
        return f"<message set #{self.numbers.setdefault(value, len(self.numbers) + 1)}>"


def _qbxml_version(root: etree._Element) -> str | None:
    node = root.getprevious()
    while node is not None:
        if isinstance(node, etree._ProcessingInstruction) and node.target == "qbxml":
            m = re.search(r"version\s*=\s*[\"']([^\"']*)[\"']", node.text or "")
            return m.group(1) if m else (node.text or "").strip()
        node = node.getprevious()
    return None


def _children(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if isinstance(c.tag, str)]


def _key(el: etree._Element) -> str:
    rid = el.get("requestID")
    return f'{el.tag}[requestID="{rid}"]' if rid is not None else el.tag


def _show(el: etree._Element) -> str:
    text = etree.tostring(el, encoding="unicode", with_tail=False)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _segments(siblings: list[etree._Element]) -> list[str]:
    """Path segments of `siblings`: the requestID for requests, a 1-based index for a tag that
    repeats (``InvoiceLineAdd[2]``), the bare tag otherwise."""
    counts: dict[str, int] = {}
    for el in siblings:
        counts[el.tag] = counts.get(el.tag, 0) + 1
    seen: dict[str, int] = {}
    out = []
    for el in siblings:
        seen[el.tag] = seen.get(el.tag, 0) + 1
        if el.get("requestID") is not None:
            out.append(_key(el))
        else:
            out.append(f"{el.tag}[{seen[el.tag]}]" if counts[el.tag] > 1 else el.tag)
    return out


class _TreeDiff:
    """The differences between two element trees of request message `message`, in `found`."""

    def __init__(self, message: int, recorded_roles: MessageSetRoles, now_roles: MessageSetRoles):
        self.message = message
        self.roles = (recorded_roles, now_roles)
        self.found: list[Difference] = []

    def add(self, kind: str, path: str, recorded: str | None, now: str | None) -> None:
        self.found.append(Difference("request", kind, recorded, now, message=self.message, path=path))

    def attrs(self, a: etree._Element, b: etree._Element, path: str) -> None:
        for name in sorted(set(a.attrib) | set(b.attrib)):
            va, vb = a.get(name), b.get(name)
            if name in MESSAGE_SET_ATTRS:
                va = self.roles[0].token(va) if va is not None else None
                vb = self.roles[1].token(vb) if vb is not None else None
            if va != vb:
                self.add("changed" if va is not None and vb is not None else ("missing" if vb is None else "added"),
                         f"{path}/@{name}", va, vb)

    def element(self, a: etree._Element, b: etree._Element, path: str) -> None:
        self.attrs(a, b, path)
        ca, cb = _children(a), _children(b)
        if not ca and not cb:
            ta, tb = a.text or "", b.text or ""
            if ta != tb:
                self.add("changed", path, ta, tb)
            return
        if not ca or not cb:  # a value on one side, elements on the other
            self.add("changed", path, _show(a), _show(b))
            return
        self.children(ca, cb, path)

    def children(self, ca: list[etree._Element], cb: list[etree._Element], path: str) -> None:
        sa, sb = _segments(ca), _segments(cb)
        ka, kb = [_key(e) for e in ca], [_key(e) for e in cb]
        missing: list[int] = []
        added: list[int] = []
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
            if op == "equal":
                for i, j in zip(range(i1, i2), range(j1, j2)):
                    self.element(ca[i], cb[j], f"{path}/{sa[i]}")
                continue
            pairs = list(zip(range(i1, i2), range(j1, j2))) if op == "replace" else []
            for i, j in pairs:
                if ca[i].tag == cb[j].tag:  # same element in the same place (a requestID change shows as such)
                    self.element(ca[i], cb[j], f"{path}/{sa[i]}")
                else:
                    missing.append(i)
                    added.append(j)
            missing += list(range(i1 + len(pairs), i2))
            added += list(range(j1 + len(pairs), j2))
        # The same element (same tag, same requestID) found elsewhere moved: say so, then compare it.
        now_by_key: dict[str, list[int]] = {}
        for j in added:
            now_by_key.setdefault(kb[j], []).append(j)
        for i in missing:
            j = now_by_key[ka[i]].pop(0) if now_by_key.get(ka[i]) else None
            if j is not None:
                added.remove(j)
                self.add("moved", f"{path}/{sa[i]}", f"position {i + 1}", f"position {j + 1}")
                self.element(ca[i], cb[j], f"{path}/{sa[i]}")
            else:
                self.add("missing", f"{path}/{sa[i]}", _show(ca[i]), None)
        for j in sorted(added):
            self.add("added", f"{path}/{sb[j]}", None, _show(cb[j]))


def compare_messages(recorded: str, now: str, message: int = 1,
                     roles: tuple[MessageSetRoles, MessageSetRoles] | None = None) -> list[Difference]:
    """Every difference between two qbXML request messages, by element path (`roles`: the
    message-set ids seen so far in each run, shared across the messages of a session)."""
    rec_roles, now_roles = roles or (MessageSetRoles(), MessageSetRoles())
    try:
        a, b = _parse(recorded), _parse(now)
    except etree.XMLSyntaxError:  # not XML on one side: compare the text
        if recorded == now:
            return []
        return [Difference("request", "changed", recorded, now, message=message, path="(not well-formed XML)")]
    diff = _TreeDiff(message, rec_roles, now_roles)
    va, vb = _qbxml_version(a), _qbxml_version(b)
    if va != vb:
        diff.add("changed", "<?qbxml version?>", va, vb)
    if a.tag != b.tag:
        diff.add("changed", "/", _show(a), _show(b))
    else:
        diff.element(a, b, a.tag)
    return diff.found


# -- comparing the request messages of two runs -------------------------------------------------


def compare_requests(exchanges: Sequence[Exchange], now: Sequence[str]) -> list[Difference]:
    """Every difference between the request messages of the recording and those sent now,
    message n against message n; a request sent in another message is reported as moved."""
    roles = (MessageSetRoles(), MessageSetRoles())
    found: list[Difference] = []
    recorded = [ex.request for ex in exchanges]
    for n in range(1, max(len(recorded), len(now)) + 1):
        if n > len(now):
            found += _whole_message(recorded[n - 1], n, "missing", f"{exchanges[n - 1].request_file} (not sent now)")
        elif n > len(recorded):
            found += _whole_message(now[n - 1], n, "added", "a message the recording does not have")
        else:
            found += compare_messages(recorded[n - 1], now[n - 1], n, roles)
    return _moves_between_messages(found, recorded, now)


_REQUEST_PATH = re.compile(r"^QBXML/QBXMLMsgsRq/([^/]+\[requestID=\"[^\"]*\"\])$")


def _requests_of(text: str) -> dict[str, etree._Element]:
    try:
        msgs = _parse(text).find("QBXMLMsgsRq")
    except etree.XMLSyntaxError:
        return {}
    return {_key(el): el for el in _children(msgs)} if msgs is not None else {}


def _whole_message(text: str, n: int, kind: str, label: str) -> list[Difference]:
    """A message only one side has: one difference per request (so a request sent in another
    message can be recognised), or one for the message when it has none."""
    requests = _requests_of(text)
    if not requests:
        return [Difference("request", kind, label if kind == "missing" else None, label if kind == "added" else None,
                           message=n, path="/")]
    return [Difference("request", kind, _show(el) if kind == "missing" else None, _show(el) if kind == "added" else None,
                       message=n, path=f"QBXML/QBXMLMsgsRq/{key}") for key, el in requests.items()]


def _moves_between_messages(found: list[Difference], recorded: Sequence[str], now: Sequence[str]) -> list[Difference]:
    """A request missing from one message and added to another (same name and requestID) was
    sent in another message: one "moved" difference, then whatever differs inside it."""
    out: list[Difference] = []
    added = [d for d in found if d.kind == "added" and d.path and _REQUEST_PATH.match(d.path)]
    taken: set[int] = set()
    for d in found:
        if id(d) in taken:
            continue
        m = _REQUEST_PATH.match(d.path or "") if d.kind == "missing" else None
        partner = next((a for a in added if id(a) not in taken and a.message != d.message
                        and a.path == d.path), None) if m else None
        if partner is None:
            out.append(d)
            continue
        taken.add(id(partner))
        out.append(Difference("request", "moved", f"message {d.message}", f"message {partner.message}",
                              message=d.message, path=d.path))
        rec_el = _requests_of(recorded[d.message - 1])[m.group(1)]
        now_el = _requests_of(now[partner.message - 1])[m.group(1)]
        inner = _TreeDiff(d.message, MessageSetRoles(), MessageSetRoles())
        inner.element(rec_el, now_el, d.path)
        out += inner.found
    return [d for d in out if id(d) not in taken]


# -- the callbacks ------------------------------------------------------------------------------


def callback_line(callback: Callback) -> str:
    """A callback and its result as compared and shown: ``receiveResponseXML: 50``."""
    if callback.result is NOT_RECORDED:
        return f"{callback.call}: (result not recorded)"
    value = callback.result
    if callback.call == "authenticate" and value not in ("none", "nvu", "busy"):
        value = f"session started, company file {json.dumps(value, ensure_ascii=False)}"
    elif callback.call == "sendRequestXML" and isinstance(value, str) and value.startswith("request "):
        pass  # "request 2": the message itself is compared on its own
    elif isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)
    return f"{callback.call}: {value}"


def same_callback(recorded: Callback, now: Callback) -> bool:
    """The same call with the same result (a result the recording lacks matches any)."""
    if recorded.call != now.call:
        return False
    return recorded.result is NOT_RECORDED or now.result is NOT_RECORDED or recorded.result == now.result


def align_callbacks(recorded: list[Callback], now: list[Callback]) -> list[tuple[str, Callback | None, Callback | None]]:
    """The two callback sequences side by side, aligned like a diff of their call names:
    rows of (" " same | "~" changed | "-" recorded only | "+" now only, recorded, now)."""
    rows: list[tuple[str, Callback | None, Callback | None]] = []
    ka = [c.call for c in recorded]
    kb = [c.call for c in now]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        pairs = list(zip(range(i1, i2), range(j1, j2))) if op in ("equal", "replace") else []
        for i, j in pairs:
            a, b = recorded[i], now[j]
            rows.append((" " if same_callback(a, b) else "~", a, b))
        rows += [("-", recorded[i], None) for i in range(i1 + len(pairs), i2)]
        rows += [("+", None, now[j]) for j in range(j1 + len(pairs), j2)]
    return rows


def compare_callbacks(recorded: list[Callback], now: list[Callback]) -> list[Difference]:
    """Differences between two callback sequences (`index`: the position in the run now, or in
    the recording for a callback not made now)."""
    found: list[Difference] = []
    i = j = 0
    for tag, a, b in align_callbacks(recorded, now):
        i += a is not None
        j += b is not None
        if tag == "~":
            found.append(Difference("callback", "changed", callback_line(a), callback_line(b), index=j, call=b.call))
        elif tag == "-":
            found.append(Difference("callback", "missing", callback_line(a), None, index=i, call=a.call))
        elif tag == "+":
            found.append(Difference("callback", "added", None, callback_line(b), index=j, call=b.call))
    return found
