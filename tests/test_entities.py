"""The entity catalogue, checked element by element against Intuit's published qbXML schemas
(13.0 and 16.0), so a typo or a wrong claim in the catalogue fails here.

The published schemas are found through QBSYNC_PUBLISHED_XSD (default ../shared/qbxml-xsd beside the repository).
When the variable is set and the folder is missing, the tests fail instead of skipping.
"""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache
from pathlib import Path

import pytest
from lxml import etree

from qbsync.errors import InvalidInput
from qbsync.qbxml.entities import (
    ENTITY_TYPES,
    ITEM_TYPES,
    LIST,
    NEW_LINE_ID,
    TXN,
    EntityType,
    UnknownEntityType,
    dependency_order,
    entity,
)

XS = "{http://www.w3.org/2001/XMLSchema}"
VERSIONS = ("13.0", "16.0")
ISSUE_TYPES = (
    "Customer Vendor Employee ItemService ItemNonInventory ItemInventory ItemOtherCharge Class StandardTerms "
    "Account SalesTaxCode Invoice Estimate SalesReceipt ReceivePayment CreditMemo Bill"
).split()


def published_dir(version: str) -> Path:
    configured = os.environ.get("QBSYNC_PUBLISHED_XSD")
    root = Path(configured or Path(__file__).resolve().parents[2] / "shared" / "qbxml-xsd")
    folder = root / version
    if not folder.is_dir():
        if configured:
            pytest.fail(f"QBSYNC_PUBLISHED_XSD={configured} has no {version} folder")
        pytest.skip(f"published qbXML schemas not found at {root}")
    return folder


class PublishedSchema:
    """Just enough of an XSD reader to answer "which elements can appear inside X?"."""

    def __init__(self, folder: Path, version: str):
        tag = version.replace(".", "")
        self.elements: dict[str, etree._Element] = {}
        self.types: dict[str, etree._Element] = {}
        self.groups: dict[str, etree._Element] = {}
        files = [folder / f"{stem}{tag}.xsd" for stem in ("qbxmlops", "qbxml", "qbxmltypes", "qbxmlso")]
        for path in files:
            for node in etree.parse(str(path)).getroot():
                name = node.get("name")
                if node.tag == XS + "element":
                    self.elements[name] = node
                elif node.tag == XS + "complexType":
                    self.types[name] = node
                elif node.tag == XS + "group":
                    self.groups[name] = node
        msgs = self.elements["QBXMLMsgsRq"]
        self.requests = {node.get("name") for node in msgs.iter(XS + "element") if node.get("name")}

    def model(self, particle: etree._Element) -> etree._Element:
        """The node holding the content model of an element particle (global or local)."""
        if particle.get("ref"):
            particle = self.elements[particle.get("ref")]
        type_name = particle.get("type")
        if type_name in self.types:
            return self.types[type_name]
        return particle

    def particles(self, node: etree._Element):
        """(name, particle) for each element that can appear directly inside ``node``'s model."""
        for child in node:
            if child.tag == XS + "element":
                yield child.get("name") or child.get("ref"), child
            elif child.tag == XS + "group" and child.get("ref"):
                yield from self.particles(self.groups[child.get("ref")])
            elif child.tag == XS + "extension":
                if child.get("base") in self.types:
                    yield from self.particles(self.types[child.get("base")])
                yield from self.particles(child)
            elif child.tag in {XS + t for t in ("sequence", "choice", "all", "complexType", "complexContent")}:
                yield from self.particles(child)

    def children(self, element: str) -> dict[str, etree._Element]:
        return dict(self.particles(self.model(self.elements[element])))

    def child_names(self, element: str) -> set[str]:
        return set(self.children(element))

    def has_path(self, element: str, path: str) -> bool:
        """Does ``a/b/c`` lead from ``element`` down through nested elements?"""
        node = self.model(self.elements[element])
        for step in path.split("/"):
            found = dict(self.particles(node)).get(step)
            if found is None:
                return False
            node = self.model(found)
        return True

    def ref_paths(self, element: str, prefix: str = "") -> set[str]:
        """Every ``…Ref`` / ``…TxnID`` path inside ``element`` (a Ref's own content not entered)."""
        return self._ref_paths(self.model(self.elements[element]), prefix, depth=0)

    def _ref_paths(self, node, prefix: str, depth: int) -> set[str]:
        found: set[str] = set()
        for name, particle in self.particles(node):
            path = f"{prefix}{name}"
            if name.endswith("Ref") or name.endswith("TxnID"):
                found.add(path)
            elif depth < 4:
                found |= self._ref_paths(self.model(particle), path + "/", depth + 1)
        return found

    def rq_type(self, request: str) -> etree._Element:
        """The complexType of the ``request``Rq element (declared inside QBXMLMsgsRq)."""
        return self._message_type("QBXMLMsgsRq", request + "Rq")

    def rs_names(self, request: str) -> set[str]:
        """Element names directly inside the ``request``Rs element (declared inside QBXMLMsgsRs)."""
        return set(dict(self.particles(self._message_type("QBXMLMsgsRs", request + "Rs"))))

    def _message_type(self, envelope: str, name: str) -> etree._Element:
        for node in self.elements[envelope].iter(XS + "element"):
            if node.get("name") == name:
                return self.types[node.get("type")]
        raise KeyError(name)

    def enumeration(self, element: str) -> set[str]:
        return {node.get("value") for node in self.elements[element].iter(XS + "enumeration")}


@lru_cache(maxsize=None)
def _schema(version: str) -> PublishedSchema:
    return PublishedSchema(published_dir(version), version)


@pytest.fixture(params=VERSIONS, scope="module")
def xsd(request) -> PublishedSchema:
    return _schema(request.param)


TYPES = list(ENTITY_TYPES.values())
IDS = [t.name for t in TYPES]


# --- the catalogue itself ---------------------------------------------------------------------

def test_catalogue_has_exactly_the_supported_types():
    assert list(ENTITY_TYPES) == ISSUE_TYPES
    lists = [t.name for t in TYPES if t.kind == LIST]
    txns = [t.name for t in TYPES if t.kind == TXN]
    assert txns == ["Invoice", "Estimate", "SalesReceipt", "ReceivePayment", "CreditMemo", "Bill"]
    assert len(lists) == 11


def test_entries_are_immutable():
    customer = entity("Customer")
    with pytest.raises(dataclasses.FrozenInstanceError):
        customer.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        customer.references["ClassRef"] = ("Account",)  # type: ignore[index]
    with pytest.raises(TypeError):
        ENTITY_TYPES["Widget"] = customer  # type: ignore[index]


@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_fields_follow_the_kind(t: EntityType):
    if t.kind == LIST:
        assert (t.id_field, t.name_field, t.del_rq, t.deleted_query_rq) == ("ListID", "Name", "ListDel", "ListDeletedQuery")
        assert not t.lines and not t.mod_deletes_unsent_lines
    else:
        assert (t.id_field, t.name_field, t.del_rq, t.deleted_query_rq) == ("TxnID", "RefNumber", "TxnDel", "TxnDeletedQuery")
        assert t.display_fields == ("RefNumber", "TxnDate")
        assert t.lines and t.mod_deletes_unsent_lines
    assert t.ret == f"{t.name}Ret" and t.add_rq == f"{t.name}Add" and t.query_rq == f"{t.name}Query"
    assert t.list_deleted_type == t.del_type
    for targets in t.references.values():
        assert targets and set(targets) <= set(ENTITY_TYPES)


def test_jobs_are_customers_with_a_parent():
    assert entity("Customer").references["ParentRef"] == ("Customer",)
    assert entity("Customer").hierarchical


def test_item_ref_may_point_to_any_item_type():
    for t in TYPES:
        for path, targets in t.references.items():
            if path.endswith("ItemRef"):
                assert targets == ITEM_TYPES, (t.name, path)


def test_references_by_path_or_by_tail():
    invoice = entity("Invoice").references
    assert invoice["InvoiceLineAdd/ItemRef"] == ITEM_TYPES
    assert "ItemRef" in invoice and invoice["ItemRef"] == ITEM_TYPES
    assert invoice["CustomerRef"] == ("Customer",)
    assert all("/" in p or p.endswith(("Ref", "TxnID")) for p in invoice)  # iteration gives paths
    payment = entity("ReceivePayment").references
    assert payment["AppliedToTxn/TxnID"] == payment["AppliedToTxnAdd/TxnID"] == ("Invoice",)
    assert "AppliedToTxnAdd/TxnID" in list(payment) and "AppliedToTxn/TxnID" not in list(payment)
    assert "VendorRef" not in invoice and invoice.get("VendorRef") is None
    with pytest.raises(KeyError):
        invoice["VendorRef"]
    assert entity("StandardTerms").references == {}


def test_line_facts():
    invoice = entity("Invoice")
    line = invoice.line("InvoiceLineAdd")
    assert (line.base, line.add, line.mod, line.ret, line.id_field) == (
        "InvoiceLine", "InvoiceLineAdd", "InvoiceLineMod", "InvoiceLineRet", "TxnLineID")
    assert line.new_line_id == NEW_LINE_ID == "-1"
    assert invoice.line("InvoiceLineRet") is line and invoice.line("Nope") is None
    bill = entity("Bill")
    assert {"ItemLine", "ExpenseLine"} <= {ln.base for ln in bill.lines}
    applied = entity("ReceivePayment").line("AppliedToTxn")
    assert (applied.add, applied.mod, applied.ret, applied.id_field) == (
        "AppliedToTxnAdd", "AppliedToTxnMod", "AppliedToTxnRet", "TxnID")


def test_lookup_is_case_insensitive_and_errors_name_the_supported_types():
    assert entity("invoice") is entity("Invoice") is ENTITY_TYPES["Invoice"]
    with pytest.raises(UnknownEntityType) as caught:
        entity("Widget")
    message = str(caught.value)
    assert "Widget" in message and all(name in message for name in ISSUE_TYPES)
    assert isinstance(caught.value, InvalidInput) and isinstance(caught.value, LookupError)
    assert caught.value.exit_code == 3


def test_display_names():
    assert entity("Customer").display_name({"Name": "Job 1", "FullName": "Acme:Job 1"}) == "Acme:Job 1"
    assert entity("Vendor").display_name({"Name": "Paper Co"}) == "Paper Co"
    assert entity("Invoice").display_name({"RefNumber": "1001", "TxnDate": "2026-11-26"}) == "1001 (2026-11-26)"
    assert entity("Bill").display_name({"TxnID": "1A-2"}) == "1A-2"


def test_dependency_order_puts_referenced_types_first():
    order = dependency_order()
    assert sorted(order) == sorted(ISSUE_TYPES)
    position = {name: i for i, name in enumerate(order)}
    for t in TYPES:
        for dep in t.dependencies():
            assert position[dep] < position[t.name], (dep, t.name)
    assert dependency_order(["ReceivePayment", "Invoice", "Customer"]) == ["Customer", "Invoice", "ReceivePayment"]
    assert "Customer" not in entity("Customer").dependencies()


# --- against the published schemas ------------------------------------------------------------

@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_requests_exist_as_claimed(xsd: PublishedSchema, t: EntityType):
    assert f"{t.add_rq}Rq" in xsd.requests
    assert f"{t.query_rq}Rq" in xsd.requests
    if t.mod_rq is None:
        assert f"{t.name}ModRq" not in xsd.requests and f"{t.name}Mod" not in xsd.elements
    else:
        assert f"{t.mod_rq}Rq" in xsd.requests
    assert f"{t.del_rq}Rq" in xsd.requests and f"{t.deleted_query_rq}Rq" in xsd.requests
    # e.g. CustomerAddRqType contains CustomerAdd, CustomerModRqType contains CustomerMod
    for request in filter(None, (t.add_rq, t.mod_rq)):
        assert request in dict(xsd.particles(xsd.rq_type(request)))


@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_ret_and_id_fields(xsd: PublishedSchema, t: EntityType):
    ret = xsd.child_names(t.ret)
    assert {t.id_field, "EditSequence", "TimeModified"} <= ret
    assert set(t.display_fields) <= ret
    assert t.name_field in xsd.child_names(t.add_rq)
    # The Add and Mod responses return this Ret.
    for request in filter(None, (t.add_rq, t.mod_rq, t.query_rq)):
        assert t.ret in xsd.rs_names(request), request
    if t.mod_rq:
        assert {t.id_field, "EditSequence"} <= xsd.child_names(t.mod_rq)


@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_hierarchy(xsd: PublishedSchema, t: EntityType):
    add, ret = xsd.child_names(t.add_rq), xsd.child_names(t.ret)
    assert t.hierarchical == ("ParentRef" in add) == ("FullName" in ret) == ("Sublevel" in ret)
    assert t.display_fields[0] in ret


@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_external_guid_on_add_only(xsd: PublishedSchema, t: EntityType):
    assert ("ExternalGUID" in xsd.child_names(t.add_rq)) is t.supports_external_guid
    if t.mod_rq:
        assert "ExternalGUID" not in xsd.child_names(t.mod_rq)


@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_iterator_attribute(xsd: PublishedSchema, t: EntityType):
    attributes = {a.get("name") for a in xsd.rq_type(t.query_rq).iter(XS + "attribute")}
    assert ("iterator" in attributes) is t.iterator


@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_delete_type_values(xsd: PublishedSchema, t: EntityType):
    assert t.del_type_field in dict(xsd.particles(xsd.rq_type(t.del_rq)))
    assert t.del_type_field in xsd.rs_names(t.del_rq)
    assert t.del_type in xsd.enumeration(t.del_type_field)
    assert t.del_type_field in dict(xsd.particles(xsd.rq_type(t.deleted_query_rq)))
    assert t.list_deleted_type in xsd.enumeration(t.del_type_field)


@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_reference_paths_exist_in_the_add_form(xsd: PublishedSchema, t: EntityType):
    for path in t.references:
        assert xsd.has_path(t.add_rq, path), f"{t.add_rq}/{path}"


# Ref elements whose target is always one of the supported types: every one of them in an Add
# form must be in the catalogue (checked on 13.0, the version the catalogue describes).
SUPPORTED_REF_NAMES = {
    "ClassRef", "ParentRef", "TermsRef", "SalesTaxCodeRef", "CustomerSalesTaxCodeRef", "PurchaseTaxCodeRef",
    "CustomerRef", "VendorRef", "PrefVendorRef", "ItemRef", "AccountRef", "ARAccountRef", "APAccountRef",
    "IncomeAccountRef", "ExpenseAccountRef", "COGSAccountRef", "AssetAccountRef", "DepositToAccountRef",
    "OverrideItemAccountRef", "DiscountAccountRef", "DiscountClassRef", "PrefillAccountRef",
    "TaxOnPurchasesAccountRef", "TaxOnSalesAccountRef",
}


@pytest.mark.parametrize("t", TYPES, ids=IDS)
def test_no_reference_to_a_supported_type_is_missing(t: EntityType):
    xsd = _schema("13.0")
    wanted = {p for p in xsd.ref_paths(t.add_rq) if p.rsplit("/", 1)[-1] in SUPPORTED_REF_NAMES}
    assert wanted <= set(t.references), sorted(wanted - set(t.references))


@pytest.mark.parametrize("t", [t for t in TYPES if t.lines], ids=[t.name for t in TYPES if t.lines])
def test_line_aggregates(xsd: PublishedSchema, t: EntityType):
    add, ret = xsd.child_names(t.add_rq), xsd.child_names(t.ret)
    mod = xsd.child_names(t.mod_rq)
    for line in t.lines:
        assert line.add in add and line.ret in ret
        assert line.add == line.base + "Add" and line.ret == line.base + "Ret"
        if line.mod is None:
            assert line.base + "Mod" not in mod and line.id_field is None and line.new_line_id is None
            continue
        assert line.mod == line.base + "Mod" and line.mod in mod
        assert line.id_field in xsd.child_names(line.mod) and line.id_field in xsd.child_names(line.ret)
        if line.id_field == "TxnLineID":
            assert line.new_line_id == "-1"
        if line.group:
            assert line.member_mod in xsd.child_names(line.mod)
        if line.clear_element:
            assert line.clear_element in mod
    # every line aggregate of the Mod form is catalogued
    assert {n for n in mod if n.endswith("Mod") and ("Line" in n or "Applied" in n)} == {
        line.mod for line in t.lines if line.mod}
