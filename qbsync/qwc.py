"""The .qwc file a user opens in QuickBooks Web Connector ("Add an application"). Pure: values
in, XML text out; the CLI (`qbsync qwc`) reads the connection and its kept GUIDs from the store.

The Web Connector refuses a .qwc whose AppURL is plain http on a host other than localhost
(QBWC1010/1051), is an IP address (QBWC1001), or whose AppSupport is on another host or does
not answer 200 (QBWC1000-1004). `check_app_url` applies the same rules up front, and the
AppSupport URL is derived from the AppURL (same scheme and host, our ``/support`` page).
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from xml.sax.saxutils import escape

from qbsync.errors import InvalidInput
from qbsync.qbxml.xmlchars import first_invalid_xml_char

APP_ID = "qbsync"
QB_TYPE = "QBFS"
STYLE = "Document"  # one of Document / DocWrapped / RPC; "DocLit" does not exist
SUPPORT_PATH = "/support"
MAX_DESCRIPTION = 80  # Intuit's recommended maximum

_GUID = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")


@dataclass(frozen=True)
class QwcFile:
    """Everything a .qwc holds. `owner_id`/`file_id` are braced upper-case GUIDs."""

    connection: str
    username: str
    app_url: str
    owner_id: str
    file_id: str
    every_minutes: int | None = None

    @property
    def app_name(self) -> str:
        # Unique per connection: QBWC keys its registry entry (and QuickBooks its Integrated
        # Applications entry) on AppName.
        return f"qbsync ({self.connection})"

    @property
    def app_support(self) -> str:
        return support_url(self.app_url)

    @property
    def description(self) -> str:
        return app_description(self.connection)


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return bool(re.fullmatch(r"[0-9.]+", host))  # 127.1, 10.0.1 and other short IPv4 forms
    return True


def check_app_url(url: str) -> urllib.parse.SplitResult:
    """The parsed AppURL, or InvalidInput saying why the Web Connector would refuse it."""
    text = url.strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"--url must be an https:// URL of the qbsync service, e.g. https://sync.example.com/qbwc; got {url!r}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidInput("--url must not contain a user name or password; the Web Connector asks for the password itself")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidInput(f"--url has an invalid port: {url!r}") from None
    host = parts.hostname
    if _is_ip_address(host):
        raise InvalidInput(
            f"--url uses the IP address {host}; the Web Connector refuses IP addresses (QBWC1001): "
            "use localhost on the QuickBooks machine, or a host name"
        )
    if parts.scheme.lower() == "http" and host.lower() != "localhost":
        raise InvalidInput(
            f"--url must use https for {host}; the Web Connector accepts plain http only for localhost "
            "(QBWC1010): put the service behind an https reverse proxy"
        )
    if parts.path.rstrip("/") in ("", "/support", "/healthz"):
        raise InvalidInput(
            f"--url must be the SOAP service's URL including its path (serve-connector --path, default /qbwc), "
            f"e.g. {parts.scheme}://{parts.netloc}/qbwc; got {url!r}"
        )
    if parts.fragment:
        raise InvalidInput(f"--url must not have a #fragment: {url!r}")
    bad = first_invalid_xml_char(text)
    if bad:
        raise InvalidInput(f"--url contains character {bad}, which a .qwc file cannot carry: {url!r}")
    if any(c.isspace() for c in text):
        raise InvalidInput(f"--url contains spaces: {url!r}")
    return parts


def support_url(app_url: str) -> str:
    """The AppSupport URL: the /support page on the AppURL's scheme, host and port."""
    parts = check_app_url(app_url)
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc, SUPPORT_PATH, "", ""))


def app_description(connection: str) -> str:
    """At most 80 characters, naming the connection (shortened with "…" when long)."""
    head, tail = "qbsync: approved changes between your app and QuickBooks (", ")"
    room = MAX_DESCRIPTION - len(head) - len(tail)
    name = connection if len(connection) <= room else connection[: room - 1] + "…"
    return f"{head}{name}{tail}"


def check_value(what: str, text: str) -> str:
    """`text` unchanged, or InvalidInput when it holds a character XML (so a .qwc file) cannot carry."""
    bad = first_invalid_xml_char(text)
    if bad:
        raise InvalidInput(f"{what} {text!r} contains character {bad}, which a .qwc file cannot carry")
    return text


def _value(text: str) -> str:
    return escape(check_value("the value", text))


def render(qwc: QwcFile) -> str:
    """The .qwc XML text, in the element order of Intuit's sample files."""
    check_app_url(qwc.app_url)
    for label, value in (("OwnerID", qwc.owner_id), ("FileID", qwc.file_id)):
        if not _GUID.match(value):
            raise ValueError(f"{label} must be a braced upper-case GUID, got {value!r}")
    if qwc.every_minutes is not None and qwc.every_minutes < 1:
        raise InvalidInput("--every-minutes must be at least 1")
    check_value("the connection name", qwc.connection)
    check_value("the Web Connector username", qwc.username)
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        "<QBWCXML>",
        f"<AppName>{_value(qwc.app_name)}</AppName>",
        f"<AppID>{APP_ID}</AppID>",
        f"<AppURL>{_value(qwc.app_url.strip())}</AppURL>",
        f"<AppDescription>{_value(qwc.description)}</AppDescription>",
        f"<AppSupport>{_value(qwc.app_support)}</AppSupport>",
        f"<UserName>{_value(qwc.username)}</UserName>",
        f"<OwnerID>{qwc.owner_id}</OwnerID>",
        f"<FileID>{qwc.file_id}</FileID>",
        f"<QBType>{QB_TYPE}</QBType>",
    ]
    if qwc.every_minutes is not None:
        lines.append(f"<Scheduler><RunEveryNMinutes>{int(qwc.every_minutes)}</RunEveryNMinutes></Scheduler>")
    lines += ["<IsReadOnly>false</IsReadOnly>", f"<Style>{STYLE}</Style>", "</QBWCXML>"]
    return "\n".join(lines) + "\n"
