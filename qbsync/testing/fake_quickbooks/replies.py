"""What FakeQuickBooks' request processor gives back: a :class:`Reply` per message (the
response text, or an HRESULT), :class:`ConnectionLost` when a response is lost on purpose, and
the :class:`Exchange` log kept in ``FakeQuickBooks.history``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """What ProcessRequest gives back: the response text, or an HRESULT and its message."""

    xml: str | None
    hresult: str = ""
    message: str = ""
    lost: bool = False  # the message was applied but its response lost (lose_next_response)

    @property
    def ok(self) -> bool:
        return not self.hresult and not self.lost


class ConnectionLost(ConnectionError):
    """The message was applied in QuickBooks but its response never reached the caller."""

    def __init__(self, xml: str | None):
        super().__init__("the response to this message was lost (FakeQuickBooks.lose_next_response)")
        self.xml = xml


@dataclass
class Exchange:
    request: str
    reply: Reply | None
    lost: bool = False
