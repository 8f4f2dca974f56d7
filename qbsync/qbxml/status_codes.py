"""The status-code catalogue: what a qbXML statusCode or a request-processor HRESULT means,
who has to act, and what to do. Plain data, no IO.

Two families of codes share one catalogue:

* per-request ``statusCode`` integers, found on every ``…Rs`` element of a response;
* HRESULTs (``0x8004xxxx``) that fail a whole message or the connection to QuickBooks. The
  Web Connector passes them as hex text to ``receiveResponseXML``/``connectionError``.

Facts come from the project's reference notes (``qbxml-status-codes.md`` and §6 of
``qbwc-protocol.md``); the wording here is ours. Two codes are not in that table but are
answered by ``FakeQuickBooks``, so they are explained too: 3130 (a recorded QuickBooks response
in the project's qbXML fixtures) and 3391 (an iteratorID QuickBooks no longer knows; the
iterator rules are in §7.3 of ``qbwc-protocol.md``). Decide on the code, never on the severity
string or the message text QuickBooks sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# --- vocabulary -------------------------------------------------------------------------------

INFO, WARN, ERROR = "Info", "Warn", "Error"
SEVERITIES = (INFO, WARN, ERROR)

QUICKBOOKS, APP = "quickbooks", "app"
WHO_ACTS = (QUICKBOOKS, APP)

# What the sync engine does with a code, one word per behaviour.
SUCCESS = "success"  # the request ran; read the Ret data
WARNING = "warning"  # the request ran, but log the warning
TRANSIENT = "transient"  # resend unchanged in a later session
STALE_EDIT_SEQUENCE = "stale_edit_sequence"  # re-query, merge, resend the Mod
NOT_PROCESSED = "not_processed"  # skipped after an earlier failure: requeue untouched
APP_DATA = "app_data"  # the app must change its data or request
QUICKBOOKS_SETUP = "quickbooks_setup"  # someone must change a setting in QuickBooks
WHOLE_MESSAGE = "whole_message"  # an HRESULT: the whole message (or connection) failed
KINDS = (SUCCESS, WARNING, TRANSIENT, STALE_EDIT_SEQUENCE, NOT_PROCESSED, APP_DATA, QUICKBOOKS_SETUP, WHOLE_MESSAGE)

Code = int | str


@dataclass(frozen=True)
class StatusInfo:
    """One catalogue entry.

    ``code`` is an int for a statusCode and the canonical hex text (``"0x80040400"``) for an
    HRESULT. ``applied`` tells whether the request took effect (True only for 0–999: never
    resend such a write). ``known`` is False for the generic entries made by
    :func:`describe_range` for codes the catalogue does not list.
    """

    code: Code
    severity: str
    title: str
    meaning: str
    retry_helps: bool
    fix_edit_sequence_helps: bool
    who_acts: str
    steps: tuple[str, ...]
    kind: str
    applied: bool
    known: bool = True

    @property
    def is_hresult(self) -> bool:
        return isinstance(self.code, str)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the keys of ``qbsync explain --format json``)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "title": self.title,
            "meaning": self.meaning,
            "retry_helps": self.retry_helps,
            "fix_edit_sequence_helps": self.fix_edit_sequence_helps,
            "who_acts": self.who_acts,
            "steps": list(self.steps),
            "kind": self.kind,
            "applied": self.applied,
            "known": self.known,
        }


def _entry(
    code: Code,
    severity: str,
    title: str,
    meaning: str,
    *,
    retry: bool,
    who: str,
    kind: str,
    steps: tuple[str, ...],
    fix_edit_sequence: bool = False,
) -> StatusInfo:
    applied = isinstance(code, int) and 0 <= code <= 999
    return StatusInfo(code, severity, title, meaning, retry, fix_edit_sequence, who, steps, kind, applied)


# --- per-request statusCodes ------------------------------------------------------------------

_STATUS_CODES: tuple[StatusInfo, ...] = (
    # 0–999: the request ran.
    _entry(0, INFO, "OK", "The request succeeded.", retry=False, who=APP, kind=SUCCESS, steps=(
        "Read the returned record.",
        "Store its ListID or TxnID and its EditSequence for later changes.",
    )),
    _entry(1, INFO, "No match", "The query ran and found no record matching its filters; this is not an error.",
           retry=False, who=APP, kind=SUCCESS, steps=(
        "Treat the result as an empty list.",
        "If you asked for a ListID or TxnID you had stored, the record was probably deleted or merged in "
        "QuickBooks: confirm with ListDeletedQuery or TxnDeletedQuery.",
        "Then drop the stored mapping, or create the record again.",
    )),
    _entry(500, WARN, "Query partly done",
           "The query stopped short because one of the exact keys it named (a ListID, FullName, TxnID or "
           "RefNumber) does not exist; rows for the other keys may still be in the response.",
           retry=False, who=APP, kind=WARNING, steps=(
        "Keep the rows that did come back.",
        "Handle the missing key as for code 1: create that record or repair the stale mapping.",
        "If it was a ListID or TxnID you had stored, the record was probably deleted or merged in QuickBooks: "
        "confirm with ListDeletedQuery or TxnDeletedQuery.",
    )),
    _entry(501, WARN, "Not expressible in this version",
           "The record cannot be expressed in the qbXML version the request asked for.",
           retry=False, who=APP, kind=WARNING, steps=(
        "Raise the qbXML version of the request, no higher than the version the Web Connector reports.",
        "Or leave that record out of the sync.",
    )),
    _entry(510, WARN, "Record not returned", "QuickBooks ran the request but could not return one of the records.",
           retry=True, who=APP, kind=WARNING, steps=(
        "Query that single record again by its ID.",
        "If it keeps failing, ask the QuickBooks Admin to run File > Utilities > Verify Data and Rebuild Data.",
    )),
    _entry(530, WARN, "Field not supported here",
           "A field in the request is not supported by this QuickBooks edition, country or version; the request "
           "was saved without it.",
           retry=False, who=APP, kind=WARNING, steps=(
        "Do not send the Add again: the record was saved.",
        "Stop sending that field to this edition or country (HostRet tells which one it is).",
    )),
    _entry(531, WARN, "Enum value not supported here",
           "An enumerated value in the request is not supported by this QuickBooks edition or country.",
           retry=False, who=APP, kind=WARNING, steps=(
        "Map the value to one this edition or country accepts.",
    )),
    _entry(550, WARN, "Notes not saved", "The record was saved but its Notes were not.",
           retry=False, who=APP, kind=WARNING, steps=(
        "Record the returned ID: the record exists.",
        "If the notes matter, send them again with a Mod.",
    )),
    _entry(560, WARN, "Deprecated field", "The request used a field that still works but is deprecated.",
           retry=False, who=APP, kind=WARNING, steps=(
        "Switch to the field that replaces it before it is removed.",
    )),
    _entry(570, WARN, "Link to closed transaction skipped",
           "The record was saved, but the link to another transaction was not made because that transaction is "
           "already closed (for example a fully received purchase order or a closed estimate).",
           retry=False, who=APP, kind=WARNING, steps=(
        "Save without the link, or link to a transaction that is still open.",
        "Alternatively a QuickBooks user can reopen the source transaction.",
    )),
    _entry(600, WARN, "No saved state for message set",
           "Error recovery found no stored status for the message-set ID asked about: that message set was never "
           "saved or was already cleared.",
           retry=False, who=APP, kind=WARNING, steps=(
        "Do not assume the earlier writes failed or succeeded.",
        "Query the records themselves (by ExternalGUID, name or RefNumber) to find out whether they exist.",
    )),
    # 1000–1999: general errors, nothing applied.
    _entry(1000, ERROR, "Internal QuickBooks error", "QuickBooks hit an internal error while processing the request.",
           retry=True, who=QUICKBOOKS, kind=TRANSIENT, steps=(
        "Send the request once more in a later session.",
        "If it fails again, look in qbsdklog.txt on the QuickBooks computer and run File > Utilities > Verify "
        "Data and Rebuild Data.",
        "On the app side, try a smaller request.",
    )),
    _entry(1010, ERROR, "System not available", "QuickBooks reported that the system is not available.",
           retry=True, who=QUICKBOOKS, kind=TRANSIENT, steps=(
        "Check that QuickBooks is running and nothing blocks it.",
        "Send the request again in the next session.",
    )),
    _entry(1030, ERROR, "Request not supported here",
           "This QuickBooks edition or country does not support this request type.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Stop sending this request to this company file.",
        "Check HostRet (product name and supported qbXML versions) before choosing requests.",
    )),
    _entry(1060, ERROR, "Invalid requestID", "The requestID is not valid, usually because it is longer than 50 characters.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Keep every requestID at 50 characters or fewer and send the request again.",
    )),
    # 3000–3099: the request is badly formed.
    _entry(3000, ERROR, "Invalid object ID",
           "An object ID in the request (ListID, TxnID or TxnLineID) is not valid. It also happens when LinkToTxnID "
           "and LinkToTxn name the same transaction.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Check that the stored ID belongs to this company file (compare the FileID) and to the right record type.",
        "Look the record up again by name and store the ID QuickBooks returns.",
        "Do not link the same transaction through both LinkToTxnID and LinkToTxn.",
    )),
    _entry(3010, ERROR, "Bad boolean", "A boolean field holds a value QuickBooks cannot read.",
           retry=False, who=APP, kind=APP_DATA, steps=("Send booleans as true or false.",)),
    _entry(3020, ERROR, "Bad date", "A date field holds a value QuickBooks cannot read.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Send dates as YYYY-MM-DD and date-times as YYYY-MM-DDThh:mm:ss, within the range QuickBooks accepts.",
    )),
    _entry(3030, ERROR, "Bad date range", "A date range filter starts after it ends.",
           retry=False, who=APP, kind=APP_DATA, steps=("Make the From date no later than the To date.",)),
    _entry(3031, ERROR, "Bad name range", "The From or To value of a name range filter is not valid.",
           retry=False, who=APP, kind=APP_DATA, steps=("Correct the bounds of the NameRangeFilter (or similar range).",)),
    _entry(3035, ERROR, "Bad time interval", "A duration value is not valid.",
           retry=False, who=APP, kind=APP_DATA, steps=("Send durations in the PTnHnM form, e.g. PT2H30M.",)),
    # 3100–9099: business rules, record state and permissions.
    _entry(3100, ERROR, "Name already in use",
           "Another record already has this name. Names are unique within a list, and customers, vendors, "
           "employees and other names share one set of names.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Query QuickBooks for the record with that name.",
        "If it is the result of your own earlier Add (same ExternalGUID or same data), link to it instead of adding.",
        "Otherwise map the change to the existing record, or add it under another name.",
        "A QuickBooks Admin can instead rename, merge or deactivate the other record; inactive records still "
        "hold their names.",
    )),
    _entry(3120, ERROR, "Record not found",
           "A record the request points to cannot be found, typically because it was deleted in QuickBooks.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Drop the stale stored ID.",
        "Create the record again or map it to an existing one by name.",
        "If a user deleted it on purpose, stop syncing it.",
    )),
    _entry(3130, ERROR, "Invalid parent reference",
           "The ParentRef of a list record (a job's customer, a sub-item's parent item, a sub-account's or "
           "sub-class's parent) names a record that does not exist in that list.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Create or sync the parent record first (a customer before its jobs), then send the request again.",
        "Or correct the FullName or ListID in the ParentRef; FullName is the parent's full path (Parent:Child).",
        "Never make a record its own parent or the parent of one of its ancestors.",
    )),
    _entry(3140, ERROR, "Invalid reference",
           "A reference (customer, item, account, terms, class and the like) names a record that does not exist "
           "in its list.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Create or sync the referenced record first (customers and items before the invoices that use them), "
        "then send the request again.",
        "Or correct the FullName or ListID in the reference.",
        "If the app may not create that record (an income account, a tax item), a QuickBooks Admin must create it "
        "or adjust the app's mapping.",
    )),
    _entry(3170, ERROR, "Modify failed: record in use",
           "QuickBooks could not change the record because it is in use or another user changed it.",
           retry=True, who=APP, kind=TRANSIENT, steps=(
        "Send the request again in a later session, backing off each time; the second try usually works.",
        "If the detail says someone else changed the record, query it first and resend with the new EditSequence.",
        "Ask QuickBooks users to close the record's window during syncs.",
    )),
    _entry(3171, ERROR, "Closed period",
           "The transaction date is on or before the company's closing date.",
           retry=False, who=QUICKBOOKS, kind=QUICKBOOKS_SETUP, steps=(
        "Ask the QuickBooks Admin to move or clear the closing date, or its password, in Edit > Preferences > "
        "Accounting > Company Preferences.",
        "Or date the change inside an open period in the app, then send it again.",
    )),
    _entry(3175, ERROR, "Could not lock",
           "QuickBooks could not take a lock it needed because another user or process holds it.",
           retry=True, who=APP, kind=TRANSIENT, steps=(
        "Send the request again in a later session.",
        "Avoid long edits by QuickBooks users while a sync runs.",
    )),
    _entry(3176, ERROR, "List entry in use", "Another user has the list entry open.",
           retry=True, who=QUICKBOOKS, kind=TRANSIENT, steps=(
        "Ask the user to close the record in QuickBooks.",
        "The app sends the request again in a later session.",
    )),
    _entry(3177, ERROR, "Duplicate link", "The request links to the same transaction more than once through LinkToTxnID.",
           retry=False, who=APP, kind=APP_DATA, steps=("Link each source transaction only once per request.",)),
    _entry(3180, ERROR, "Save failed",
           "QuickBooks could not save the record; its own reason follows \"QuickBooks error message:\" in the "
           "status message.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Read the reason after \"QuickBooks error message:\" in the status message.",
        "If it says another user changed the record, query it and resend with the new EditSequence.",
        "If it is a credit limit, a QuickBooks user must raise or override the limit.",
        "If the transaction would end up with no lines, do not send it; if a DataExt already exists, treat it as "
        "done or use DataExtMod.",
    )),
    _entry(3200, ERROR, "Stale EditSequence",
           "The record changed in QuickBooks after the app last read it, so the EditSequence sent is out of date.",
           retry=False, fix_edit_sequence=True, who=APP, kind=STALE_EDIT_SEQUENCE, steps=(
        "Query the record again by its ListID or TxnID.",
        "Merge the app's change with the current QuickBooks data, deciding whose change wins.",
        "Send the Mod again with the new EditSequence.",
    )),
    _entry(3210, ERROR, "Business rule broken",
           "A field value breaks a QuickBooks business rule, such as a payment larger than the amount due.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Read QuickBooks' reason in the status message and correct the value.",
        "For payments, apply no more than the open balance, or leave out AppliedToTxn so QuickBooks applies it.",
    )),
    _entry(3231, ERROR, "Not processed",
           "The request was skipped because an earlier request in the same message failed under stopOnError.",
           retry=True, who=APP, kind=NOT_PROCESSED, steps=(
        "Do not count it as failed: put it back in the queue as it is.",
        "Deal with the earlier failure, then send it again.",
        "Send independent requests with continueOnError.",
    )),
    _entry(3250, ERROR, "Feature off or missing",
           "The feature the request needs (such as inventory, class tracking, sales orders or multiple currencies) "
           "is turned off or missing in this QuickBooks.",
           retry=False, who=QUICKBOOKS, kind=QUICKBOOKS_SETUP, steps=(
        "Ask the QuickBooks Admin to turn the feature on in Edit > Preferences, if this edition has it.",
        "Otherwise stop sending this request or field to this company file.",
    )),
    _entry(3260, ERROR, "Permission too low",
           "The QuickBooks user the app logs in as does not have enough rights for this action.",
           retry=False, who=QUICKBOOKS, kind=QUICKBOOKS_SETUP, steps=(
        "Ask the QuickBooks Admin to open Edit > Preferences > Integrated Applications, select the app and "
        "open Properties.",
        "Give the app's Login-as user a role with the rights it needs (for example full access), then sync again.",
    )),
    _entry(3261, ERROR, "Personal data not allowed",
           "The app is not allowed to read personal data such as Social Security or credit card numbers.",
           retry=False, who=QUICKBOOKS, kind=QUICKBOOKS_SETUP, steps=(
        "Ask the QuickBooks Admin to allow the app access to personal data in Integrated Applications > Properties.",
        "Or stop asking for those fields, and set PersonalDataPref in the .qwc file to match.",
    )),
    _entry(3391, ERROR, "Invalid iteratorID",
           "A query with iterator=\"Continue\" or \"Stop\" named an iteratorID QuickBooks does not know: the "
           "iterator was finished or stopped, belongs to another query, or died with the session that opened it.",
           retry=False, who=APP, kind=APP_DATA, steps=(
        "Start the query again with iterator=\"Start\" and page on with the iteratorID of that answer.",
        "Stop sending Continue once iteratorRemainingCount is 0.",
        "Never keep an iteratorID for a later Web Connector session: iterators do not survive closeConnection.",
    )),
)

# --- HRESULTs: the whole message, or the connection, failed -----------------------------------

_HRESULTS: tuple[StatusInfo, ...] = (
    _entry("0x80040400", ERROR, "qbXML could not be parsed",
           "QuickBooks could not parse the qbXML message, so nothing in it ran.",
           retry=False, who=APP, kind=WHOLE_MESSAGE, steps=(
        "Validate the message against the schema of its qbXML version (qbsync validate).",
        "Look for elements out of schema order, missing required elements, unescaped & or <, or a request or "
        "version this QuickBooks does not support.",
        "Fix the request before sending it again; the same text fails the same way.",
    )),
    _entry("0x80040401", ERROR, "QuickBooks not accessible", "The request processor could not reach QuickBooks.",
           retry=True, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Let the next scheduled session try again.",
        "If it persists, check on the QuickBooks computer that QuickBooks starts and opens the company file.",
    )),
    _entry("0x80040402", ERROR, "Unexpected error",
           "The request processor hit an unexpected error; details are in qbsdklog.txt.",
           retry=True, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Read qbsdklog.txt on the QuickBooks computer.",
        "If the log says the app may not log in automatically, handle it as 0x8004041D.",
        "Otherwise try once more in the next session.",
    )),
    _entry("0x80040408", ERROR, "Could not start QuickBooks",
           "QuickBooks could not be started or could not open the company file.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Close any other company file, or leave QuickBooks open with no company file.",
        "Run QuickBooks and the Web Connector at the same Windows privilege level (both or neither as administrator).",
        "Check that the company file path has not changed and that the Login-as user is not signed in elsewhere.",
        "Wait for any single-user task an Admin is doing to finish.",
    )),
    _entry("0x80040409", ERROR, "Version mismatch",
           "This QuickBooks version cannot open this company file.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Upgrade the company file, or use the QuickBooks version that matches it.",
    )),
    _entry("0x8004040A", ERROR, "Other company file open", "A different company file is already open in QuickBooks.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Close the other company file, or leave QuickBooks open with no company file.",
    )),
    _entry("0x8004040D", ERROR, "Invalid ticket", "The ticket handed to the request processor is not valid.",
           retry=True, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Let the next session run; it gets a new ticket.",
        "If it repeats, restart the Web Connector on the QuickBooks computer.",
    )),
    _entry("0x80040410", ERROR, "Wrong file mode",
           "The company file is open in another mode than the one asked for, usually single-user when multi-user "
           "access was needed.",
           retry=True, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Switch QuickBooks to multi-user mode, or close the company file.",
        "With Enterprise, wait until the user holding the file in single-user mode is done.",
    )),
    _entry("0x80040414", ERROR, "Dialog open in QuickBooks",
           "A modal window open in QuickBooks blocks access for integrated apps.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Close the open window in QuickBooks (update reminders, backup prompts, login boxes).",
        "For unattended syncs, turn off the reminders that open such windows.",
    )),
    _entry("0x80040416", ERROR, "Company file name needed",
           "QuickBooks is not running, so the session needs the company file path to open it.",
           retry=False, who=APP, kind=WHOLE_MESSAGE, steps=(
        "Set the full company file path in the connection so authenticate returns it.",
        "Or keep QuickBooks open with the company file on the QuickBooks computer.",
    )),
    _entry("0x80040418", ERROR, "First access needs the Admin",
           "This app has never opened this company file, and only the QuickBooks Admin can grant the first access.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Have the Admin open the company file in single-user mode and run the update once.",
        "Accept the app's certificate when QuickBooks asks, or grant access in Edit > Preferences > Integrated "
        "Applications > Company Preferences.",
    )),
    _entry("0x8004041A", ERROR, "App not allowed", "The app has no permission to use this company file.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "In Edit > Preferences > Integrated Applications > Company Preferences, make sure applications are allowed.",
        "Tick the Allow Access box next to the app and save.",
    )),
    _entry("0x8004041D", ERROR, "No automatic login",
           "The app is not allowed to log in to this company file automatically.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Have the Admin open the company file in single-user mode.",
        "Open Integrated Applications, select the app, open Properties and allow it to log in automatically as a "
        "chosen Login-as user.",
        "If that was already set, remove the app from the list and grant access again.",
    )),
    _entry("0x80040430", ERROR, "No automatic login",
           "The app is not allowed to log in to this company file automatically (another code for 0x8004041D).",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Have the Admin open the company file in single-user mode.",
        "Open Integrated Applications, select the app, open Properties and allow it to log in automatically as a "
        "chosen Login-as user.",
        "If that was already set, remove the app from the list and grant access again.",
    )),
    _entry("0x80040420", ERROR, "Access denied by user",
           "A QuickBooks user refused the app access; it has to be authorised again.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "In Integrated Applications, open the app's Properties and allow automatic login again.",
    )),
    _entry("0x80040422", ERROR, "Another app has single-user access",
           "The app needs single-user access but another app already holds the file in single-user mode.",
           retry=True, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Close the other integration, or ask the user to switch QuickBooks to multi-user mode.",
        "The next session will try again.",
    )),
    _entry("0x80040308", ERROR, "Request processor missing",
           "The QuickBooks request processor (QBXMLRP2) is not installed.",
           retry=False, who=QUICKBOOKS, kind=WHOLE_MESSAGE, steps=(
        "Repair or reinstall QuickBooks so the SDK request processor is installed again.",
    )),
)

_BY_CODE: dict[Code, StatusInfo] = {info.code: info for info in (*_STATUS_CODES, *_HRESULTS)}

# --- code parsing -----------------------------------------------------------------------------

_HEX = re.compile(r"^(?:0[xX])?([0-9a-fA-F]{8})$")
_DEC = re.compile(r"^[+-]?\d+$")


def normalize_code(code: Code) -> Code:
    """Canonical form of a code: an int statusCode or ``"0x8004…"`` upper-case hex text.

    Accepts ints, decimal text (``"3200"``), and HRESULTs with or without ``0x`` in any case
    (``"0x80040400"``, ``"80040400"``). The signed 32-bit form some tools print
    (``-2147220480``) maps to its HRESULT. Raises ValueError for anything else.
    """
    if isinstance(code, bool):
        raise ValueError(f"not a status code: {code!r}")
    if isinstance(code, int):
        if -(2**31) <= code < 0:  # an HRESULT printed as a signed 32-bit integer
            return f"0x{code & 0xFFFFFFFF:08X}"
        return code
    if not isinstance(code, str):
        raise ValueError(f"not a status code: {code!r}")
    text = code.strip()
    hexmatch = _HEX.match(text)
    # Eight hex digits with the top bit set is an HRESULT; per-request codes stay below 10000.
    if hexmatch and (text[:2].lower() == "0x" or hexmatch.group(1)[0] in "89abcdefABCDEF"):
        return "0x" + hexmatch.group(1).upper()
    if _DEC.match(text):
        return normalize_code(int(text))
    raise ValueError(f"not a status code: {code!r}")


def lookup(code: Code) -> StatusInfo | None:
    """The catalogue entry for ``code`` (any spelling :func:`normalize_code` accepts), or None
    when the code is unknown or malformed."""
    try:
        return _BY_CODE.get(normalize_code(code))
    except ValueError:
        return None


def all_codes() -> list[StatusInfo]:
    """Every known entry: statusCodes in ascending order, then HRESULTs."""
    return [*_STATUS_CODES, *_HRESULTS]


# --- ranges: how to treat a code the catalogue does not list ----------------------------------

@dataclass(frozen=True)
class _Range:
    low: int
    high: int
    severity: str
    title: str
    meaning: str
    kind: str
    who: str


_RANGES: tuple[_Range, ...] = (
    _Range(0, 499, INFO, "Processed", "The request ran; any data is in the response.", SUCCESS, APP),
    _Range(500, 999, WARN, "Processed with a warning",
           "The request ran, but the result may not be exactly what was asked (partial, or something ignored).",
           WARNING, APP),
    _Range(1000, 1999, ERROR, "General error", "A general error; the request was not applied.", APP_DATA, APP),
    _Range(2000, 2999, ERROR, "Not for QuickBooks Desktop",
           "A code QuickBooks Desktop does not use (these are QuickBooks Online sign-on codes).", APP_DATA, APP),
    _Range(3000, 3099, ERROR, "Request format error", "The request is badly formed; it was not applied.", APP_DATA, APP),
    _Range(3100, 9099, ERROR, "Business, state or permission error",
           "A business-rule, record-state or permission error; the request was not applied.", APP_DATA, APP),
    _Range(9100, 9199, ERROR, "Macro error", "An error in a qbXML macro; the request was not applied.", APP_DATA, APP),
)


def range_of(code: int) -> tuple[int, int, str] | None:
    """``(low, high, title)`` of the Intuit range holding statusCode ``code``, or None."""
    for r in _RANGES:
        if r.low <= code <= r.high:
            return r.low, r.high, r.title
    return None


def describe_range(code: Code) -> StatusInfo | None:
    """A generic entry (``known=False``) for a code the catalogue does not list, built from
    its range, so the engine can still classify it. Unlisted errors get the cautious default:
    not retryable, the app must look at it. Returns None for malformed codes and codes
    outside every range. For a listed code, use :func:`lookup`.
    """
    try:
        norm = normalize_code(code)
    except ValueError:
        return None
    if isinstance(norm, str):
        if not norm.startswith("0x8004"):
            return None
        return StatusInfo(
            norm, ERROR, "Request processor error",
            "An error from the QuickBooks request processor that failed the whole message or the connection.",
            False, False, QUICKBOOKS,
            ("Look the code up in qbsdklog.txt on the QuickBooks computer.",
             "Check that QuickBooks is running, has the right company file open and shows no open window."),
            WHOLE_MESSAGE, False, known=False,
        )
    for r in _RANGES:
        if r.low <= norm <= r.high:
            applied = norm <= 999
            steps = (
                ("Read the returned data and log the status message.",)
                if applied
                else ("Log the statusCode and statusMessage exactly as received.",
                      "Treat it as an error the app must look at; do not resend it unchanged.")
            )
            return StatusInfo(norm, r.severity, r.title, r.meaning, False, False, r.who, steps, r.kind,
                              applied, known=False)
    return None
