"""Which QuickBooks line each line of a transaction Mod is: the one rule for TxnLineIDs.

A Mod sends every line the transaction should have. QuickBooks keeps (and overwrites) the line
whose TxnLineID is sent, adds a line sent with TxnLineID -1, and deletes every line left out.
Sending a TxnLineID therefore says "this is the same line", and only the app's line ``id`` can
say that. Position cannot: when the app inserts, removes or reorders lines, the line now at
position 2 is not the line QuickBooks has at position 2, and reusing that TxnLineID would keep
the old line's fields the Mod does not send (its class, its link to an estimate or sales order)
on a different line. So:

- a line keeps the TxnLineID of the mirror line with the same app ``id``;
- a line without an ``id``, or with an ``id`` the mirror does not know, is new;
- when two lines share an ``id``, the first keeps the TxnLineID and the others are new
  (QuickBooks cannot take one TxnLineID twice);
- a TxnLineID the latest QuickBooks snapshot no longer lists (the line was deleted in
  QuickBooks) is not sent: the app's line goes back as new.

A TxnLineID already on a staged line is not trusted: the mirror at the moment of matching is
the one source, so staging and sending give the same answer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any


def match_line_ids(
    lines: Sequence[Any], mirror_lines: Any, in_quickbooks: Collection[str] | None = None
) -> list[str | None]:
    """For each of `lines` (the app's lines, in order), the TxnLineID QuickBooks should keep for
    it, or None for a line to send as new. `mirror_lines` are the record's lines as last synced
    (each with the app's ``id`` and QuickBooks' ``TxnLineID``); `in_quickbooks` are the
    TxnLineIDs QuickBooks listed last, or None when unknown (then every mirror line counts)."""
    known: dict[str, str] = {}
    for line in mirror_lines if isinstance(mirror_lines, list) else []:
        if isinstance(line, Mapping) and line.get("id") is not None and line.get("TxnLineID"):
            known.setdefault(str(line["id"]), str(line["TxnLineID"]))
    taken: set[str] = set()
    out: list[str | None] = []
    for line in lines:
        app_id = line.get("id") if isinstance(line, Mapping) else None
        txn_line_id = known.get(str(app_id)) if app_id is not None else None
        if txn_line_id is not None and (txn_line_id in taken or (in_quickbooks is not None and txn_line_id not in in_quickbooks)):
            txn_line_id = None
        if txn_line_id is not None:
            taken.add(txn_line_id)
        out.append(txn_line_id)
    return out
