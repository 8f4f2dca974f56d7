"""The qbXML layer: pure building, parsing and validation (no IO beyond reading schema files).

    from qbsync.qbxml import Request, build_request, parse_response
    xml = build_request([Request("CustomerAdd", {"Name": "Acme"}, request_id="1")])
"""

from qbsync.qbxml.build import Request, RsSpec, build_element, build_request, build_response, check_fields
from qbsync.qbxml.parse import (
    ParsedRequest,
    RequestMessage,
    ResponseMessage,
    ResponseStream,
    RsHeader,
    RsResult,
    iter_response,
    parse_request,
    parse_response,
    qbxml_version,
)
from qbsync.qbxml.entities import ENTITY_TYPES, EntityType, dependency_order, entity
from qbsync.qbxml.problems import Problem, QbxmlValidationError
from qbsync.qbxml.schema import Schema, available_versions, load_schema
from qbsync.qbxml.status_codes import StatusInfo, describe_range, lookup
from qbsync.qbxml.validate import ValidationReport, validate_document
from qbsync.qbxml.values import format_value

__all__ = [
    "ENTITY_TYPES",
    "EntityType",
    "StatusInfo",
    "ValidationReport",
    "dependency_order",
    "describe_range",
    "entity",
    "lookup",
    "ParsedRequest",
    "Problem",
    "QbxmlValidationError",
    "Request",
    "RequestMessage",
    "ResponseMessage",
    "ResponseStream",
    "RsHeader",
    "RsResult",
    "RsSpec",
    "Schema",
    "available_versions",
    "build_element",
    "build_request",
    "build_response",
    "check_fields",
    "format_value",
    "iter_response",
    "load_schema",
    "parse_request",
    "parse_response",
    "qbxml_version",
    "validate_document",
]
