"""The status codes and messages FakeQuickBooks answers with.

The wording follows what QuickBooks sends (recorded responses in the project's fixtures:
3100, 3130, 3140, 3200, status 1, 3231; the Intuit status table for 500 and 600). Where no
recording exists (3000, 3030, 3031, 3120, 3170, 3175, 3210, 3391) the text says what the
reference says the message says, with the fragment integrators match on ("cannot be found",
"modified by another user", "could not be locked", "is not valid").

Every int constant of this module is a statusCode the fake answers with, and the fake answers
with no other: ``qbsync explain`` must know each one (tests/test_fake_quickbooks_codes.py).
"""

from __future__ import annotations

OK = 0
NO_MATCH = 1
PARTIAL = 500
NO_SAVED_STATE = 600
UNSUPPORTED = 1030
INVALID_REQUEST_ID = 1060
INVALID_ID = 3000
INVALID_DATE_RANGE = 3030
INVALID_NAME_RANGE = 3031
NAME_IN_USE = 3100
INVALID_PARENT = 3130
NOT_FOUND = 3120
INVALID_REF = 3140
MODIFY_FAILED = 3170
LOCK_FAILED = 3175
STALE_EDIT_SEQUENCE = 3200
INVALID_VALUE = 3210
NOT_PROCESSED = 3231
INVALID_ITERATOR = 3391

HRESULT_PARSE_ERROR = "0x80040400"
PARSE_ERROR_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."
HRESULT_CANNOT_START = "0x80040408"
CANNOT_START_MESSAGE = "Could not start QuickBooks."

STATUS_OK = "Status OK"
NO_MATCH_MESSAGE = "A query request did not find a matching object in QuickBooks"
NOT_PROCESSED_MESSAGE = "The request has not been processed."

_NOT_IN_LIST = "QuickBooks error message: Invalid argument.  The specified record does not exist in the list."


def codes() -> tuple[int, ...]:
    """Every statusCode the fake answers with (the int constants above), ascending."""
    return tuple(sorted(v for k, v in globals().items() if k.isupper() and type(v) is int))


def hresults() -> tuple[str, ...]:
    """The HRESULTs the fake fails a whole message with by default."""
    return tuple(sorted(v for k, v in globals().items() if k.startswith("HRESULT_") and isinstance(v, str)))


def severity(code: int) -> str:
    if code < 500:
        return "Info"
    if code < 1000:
        return "Warn"
    return "Error"


class QbStatus(Exception):
    """A request that QuickBooks answers with a non-zero status (and no data)."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid_id(field: str, object_id: str) -> QbStatus:
    return QbStatus(INVALID_ID, f'The given object ID "{object_id}" in the field "{field}" is invalid.')


def invalid_date_range(from_field: str, from_value: str, to_field: str, to_value: str) -> QbStatus:
    return QbStatus(
        INVALID_DATE_RANGE,
        f'Invalid date range: the From date ({from_field} "{from_value}") is later than the To date ({to_field} "{to_value}").',
    )


def invalid_name_range(field: str, from_value: str, to_value: str) -> QbStatus:
    return QbStatus(
        INVALID_NAME_RANGE,
        f'The From or To value of the {field} range is invalid: "{from_value}" comes after "{to_value}".',
    )


def id_in_use(field: str, object_id: str) -> QbStatus:
    return QbStatus(INVALID_ID, f'The given object ID "{object_id}" in the field "{field}" is invalid: it is already in use.')


def name_in_use(name: str) -> QbStatus:
    return QbStatus(NAME_IN_USE, f'The name "{name}" of the list element is already in use.')


def not_found(object_id: str) -> QbStatus:
    return QbStatus(NOT_FOUND, f'Object "{object_id}" specified in the request cannot be found.')


def invalid_ref(label: str, value: str, where: str) -> QbStatus:
    return QbStatus(INVALID_REF, f'There is an invalid reference to QuickBooks {label} "{value}" in the {where}.  {_NOT_IN_LIST}')


def invalid_parent(value: str, list_label: str) -> QbStatus:
    return QbStatus(INVALID_PARENT, f'There is an invalid reference to a parent "{value}" in the {list_label} list.  {_NOT_IN_LIST}')


def stale_edit_sequence(edit_sequence: str) -> QbStatus:
    return QbStatus(STALE_EDIT_SEQUENCE, f'The provided edit sequence "{edit_sequence}" is out-of-date. ')


def in_use(code: int, type_label: str, object_id: str) -> QbStatus:
    if code == LOCK_FAILED:
        reason = "The record could not be locked because it is being used by another user."
    else:
        reason = "This list has been modified by another user."
    return QbStatus(code, f'There was an error when modifying a {type_label}, element "{object_id}".  QuickBooks error message: {reason}')


def cannot_delete(type_label: str, object_id: str) -> QbStatus:
    return QbStatus(
        MODIFY_FAILED,
        f'There was an error when deleting a {type_label}, element "{object_id}".  '
        "QuickBooks error message: This object is in use and cannot be deleted.",
    )


def invalid_value(field: str, value: str, reason: str) -> QbStatus:
    return QbStatus(INVALID_VALUE, f'The "{field}" field has an invalid value "{value}".  QuickBooks error message: {reason}')


def partial(missing: str) -> tuple[int, str]:
    return (
        PARTIAL,
        f'The query request has not been fully completed. There was a required element ("{missing}") that could not be found in QuickBooks.',
    )


def invalid_iterator(iterator_id: str) -> QbStatus:
    return QbStatus(INVALID_ITERATOR, f'The iteratorID "{iterator_id}" is not valid.')


def invalid_request_id(request_id: str, limit: int) -> str:
    return f'The requestID "{request_id}" is invalid: it may be at most {limit} characters long.'


def unsupported(request_name: str) -> QbStatus:
    return QbStatus(UNSUPPORTED, f"The request {request_name}Rq is not supported by this implementation (FakeQuickBooks).")
