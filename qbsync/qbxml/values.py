"""Formatting Python values as the text QuickBooks expects, by the element's schema type.

Amounts: exactly 2 decimals (AMTTYPE allows 0 or 2; we always write 2). Prices, quantities
and percentages: up to 5 decimals, no exponent. Booleans: `true`/`false`. Dates: YYYY-MM-DD.
Date-times: YYYY-MM-DDThh:mm:ss with a numeric offset when known, never a trailing `Z`
(the schema's DATETIMETYPE pattern rejects it). Nothing is rounded or cut silently: a value
that cannot be written exactly is an error naming the rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from qbsync.qbxml.xmlchars import first_invalid_xml_char
from qbsync.qbxml.xsdmodel import SimpleType

_DECIMALS = {"AMTTYPE": 2, "PRICETYPE": 5, "QUANTYPE": 5, "PERCENTTYPE": 5}


class ValueProblem(ValueError):
    """A value that cannot be written as the field requires; the message names the rule."""


def format_value(simple: SimpleType, value: object) -> str:
    base = simple.base
    if isinstance(value, str):
        text = value
        if base == "DATETIMETYPE" and text.endswith("Z"):
            text = text[:-1] + "+00:00"  # same instant; QuickBooks' pattern has no Z
    elif isinstance(value, bool):
        if base in ("BOOLTYPE", "xsd:boolean"):
            text = "true" if value else "false"
        else:
            raise ValueProblem(f"true/false given where a {_kind(base)} is expected")
    elif base in _DECIMALS:
        text = _decimal_text(value, _DECIMALS[base], exact_places=base == "AMTTYPE")
    elif base in ("INTTYPE", "xsd:integer", "xsd:int") and isinstance(value, int):
        text = str(value)
    elif base == "DATETIMETYPE" and isinstance(value, datetime):
        text = _datetime_text(value)
    elif base == "DATETYPE" and isinstance(value, (date, datetime)):
        text = (value.date() if isinstance(value, datetime) else value).isoformat()
    elif isinstance(value, (int, float, Decimal)) and base in ("STRTYPE", "FLOATTYPE", "xsd:string", "xsd:decimal"):
        text = _decimal_text(value, None, exact_places=False)
    elif isinstance(value, (int, float, Decimal, date)):
        raise ValueProblem(f"{type(value).__name__} value {value!r} given where a {_kind(base)} is expected")
    else:
        raise ValueProblem(f"cannot write a {type(value).__name__} as text")
    bad = first_invalid_xml_char(text)
    if bad:
        raise ValueProblem(f"contains character {bad}, which QuickBooks cannot take")
    return text


# What each qbXML value type accepts, in words, with the check that proves it (the unions of
# BOOLTYPE/DATETYPE/DATETIMETYPE are not patterns in the schema, so they are spelt out here).
_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "AMTTYPE": (re.compile(r"[+-]?\d{1,13}(\.\d{2})?"), "an amount needs 0 or 2 decimals, e.g. 10.50"),
    "PRICETYPE": (re.compile(r"[+-]?\d{1,10}(\.\d{1,5})?"), "a price has at most 10 digits and 5 decimals"),
    "QUANTYPE": (re.compile(r"[+-]?\d{1,10}(\.\d{1,5})?"), "a quantity has at most 10 digits and 5 decimals"),
    "PERCENTTYPE": (re.compile(r"[+-]?\d{1,10}(\.\d{1,5})?"), "a percentage has at most 10 digits and 5 decimals"),
    "BOOLTYPE": (re.compile(r"true|false|1|0"), "use true or false (lower case)"),
    "DATETYPE": (re.compile(r"\d{4}-\d{2}-\d{2}"), "a date is written YYYY-MM-DD"),
    "DATETIMETYPE": (
        re.compile(r"\d{4}-\d{1,2}-\d{1,2}(T\d{1,2}(:\d{1,2}(:\d{1,2}([+-]\d{1,2}:\d{1,2})?)?)?)?"),
        "a date-time is written YYYY-MM-DDThh:mm:ss with an optional +hh:mm offset (no Z)",
    ),
    "INTTYPE": (re.compile(r"[+-]?\d+"), "a whole number is expected"),
    "GUIDTYPE": (
        re.compile(r"0|\{[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}"),
        "a GUID is written {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX} in hex",
    ),
}


def text_rule(simple: SimpleType) -> Callable[[str], object] | None:
    """The full-match test of `simple`'s base-type rule (None: the type has no rule), for a
    builder's quick path: a match is valid; a miss is left to `rule_problem`, which says why."""
    rule = _RULES.get(simple.base)
    return rule[0].fullmatch if rule is not None else None


def rule_problem(simple: SimpleType, text: str) -> str | None:
    """Why `text` is not a valid value of `simple`, in words, or None if the base type's rule
    holds (the empty string is valid for every qbXML value type)."""
    rule = _RULES.get(simple.base)
    if rule is None or text == "":
        return None
    if not rule[0].fullmatch(text):
        return f"{text!r} is not valid: {rule[1]}"
    if simple.base in ("DATETYPE", "DATETIMETYPE"):
        try:  # the shape is right; is it a real calendar date?
            date.fromisoformat("-".join(part.zfill(2) for part in text[:10].split("T")[0].split("-")))
        except ValueError:
            return f"{text!r} is not a real date (YYYY-MM-DD)"
    return None


def _kind(base: str) -> str:
    return {
        "AMTTYPE": "amount",
        "PRICETYPE": "price",
        "QUANTYPE": "quantity",
        "PERCENTTYPE": "percentage",
        "BOOLTYPE": "true/false value",
        "DATETYPE": "date",
        "DATETIMETYPE": "date-time",
        "INTTYPE": "whole number",
    }.get(base, "text value")


def _decimal_text(value: object, max_places: int | None, exact_places: bool) -> str:
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise ValueProblem(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueProblem(f"{value!r} is not a finite number")
    places = -number.as_tuple().exponent if number.as_tuple().exponent < 0 else 0  # type: ignore[operator]
    if max_places is not None and places > max_places:
        raise ValueProblem(f"{value!r} has {places} decimals; at most {max_places} are allowed (round it in the app)")
    if exact_places:
        return f"{number:.{max_places}f}"
    return format(number.normalize() if places else number, "f")


def _datetime_text(value: datetime) -> str:
    value = value.replace(microsecond=0)
    if value.tzinfo is None:
        return value.isoformat()
    offset = value.utcoffset()
    text = value.replace(tzinfo=None).isoformat()
    if offset is None:
        return text
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def now_text(tz: timezone | None = None) -> str:
    """The current time as QuickBooks writes it."""
    return _datetime_text(datetime.now(tz or timezone.utc).astimezone())
