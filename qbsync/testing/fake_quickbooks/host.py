"""HostQuery, CompanyQuery and PreferencesQuery answers: what QBWC asks QuickBooks for before
the first sendRequestXML (the strHCPResponse), plausible for a US QuickBooks Desktop."""

from __future__ import annotations

from typing import Any

from qbsync.qbxml.versions import version_key
from qbsync.testing.fake_quickbooks.records import Ctx, find_by_name, ref_to

# qbXML version -> (product, MajorVersion) of the QuickBooks release that introduced it.
_PRODUCTS = {
    "13.0": ("QuickBooks Pro 2014", "24"),
    "14.0": ("QuickBooks Enterprise Solutions 21.0", "31"),
    "15.0": ("QuickBooks Enterprise Solutions 22.0", "32"),
    "16.0": ("QuickBooks Enterprise Solutions 23.0", "33"),
}
_ALL_VERSIONS = ["1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0", "8.0", "9.0", "10.0", "11.0", "12.0", "13.0", "14.0", "15.0", "16.0"]


def supported_versions(max_version: str) -> list[str]:
    return [v for v in _ALL_VERSIONS if version_key(v) <= version_key(max_version)]


def host_ret(max_version: str) -> dict[str, Any]:
    product, major = _PRODUCTS.get(max_version, ("QuickBooks Enterprise Solutions", str(version_key(max_version)[0] + 11)))
    return {
        "ProductName": product,
        "MajorVersion": major,
        "MinorVersion": "0",
        "Country": "US",
        "SupportedQBXMLVersion": supported_versions(max_version),
        "IsAutomaticLogin": "true",
        "QBFileMode": "SingleUser",
    }


def company_ret(ctx: Ctx, company_name: str) -> dict[str, Any]:
    address = {"Addr1": "100 Example Way", "City": "Springfield", "State": "CA", "PostalCode": "94000", "Country": "US"}
    ret: dict[str, Any] = {
        "IsSampleCompany": "false",
        "CompanyName": company_name,
        "LegalCompanyName": company_name,
        "Address": address,
        "AddressBlock": {"Addr1": "100 Example Way", "Addr2": "Springfield, CA 94000"},
        "LegalAddress": dict(address),
        "Phone": "555-0100",
        "Email": "office@example.com",
        "FirstMonthFiscalYear": "January",
        "FirstMonthIncomeTaxYear": "January",
        "TaxForm": "Form1120",
    }
    ret.update(ctx.company.company.get("overrides", {}))
    return ret


def preferences_ret(ctx: Ctx) -> dict[str, Any]:
    prefs: dict[str, Any] = {
        "AccountingPreferences": {
            "IsUsingAccountNumbers": "false",
            "IsRequiringAccounts": "true",
            "IsUsingClassTracking": "true",
            "IsUsingAuditTrail": "true",
            "IsAssigningJournalEntryNumbers": "true",
        },
        "FinanceChargePreferences": {
            "GracePeriod": "0",
            "IsAssessingForOverdueCharges": "false",
            "CalculateChargesFrom": "DueDate",
            "IsMarkedToBePrinted": "false",
        },
        "JobsAndEstimatesPreferences": {
            "IsUsingEstimates": "true",
            "IsUsingProgressInvoicing": "false",
            "IsPrintingItemsWithZeroAmounts": "false",
        },
        "PurchasesAndVendorsPreferences": {
            "IsUsingInventory": "true",
            "DaysBillsAreDue": "10",
            "IsAutomaticallyUsingDiscounts": "false",
        },
        "ReportsPreferences": {"AgingReportBasis": "AgeFromDueDate", "SummaryReportBasis": "Accrual"},
        "SalesAndCustomersPreferences": {"IsTrackingReimbursedExpensesAsIncome": "false", "IsAutoApplyingPayments": "true"},
        "TimeTrackingPreferences": {"FirstDayOfWeek": "Monday"},
        "CurrentAppAccessRights": {"IsAutomaticLoginAllowed": "true", "IsPersonalDataAccessAllowed": "false"},
    }
    tax = find_by_name(ctx.company, ("SalesTaxCode",), "Tax")
    non = find_by_name(ctx.company, ("SalesTaxCode",), "Non")
    if tax and non:
        # DefaultItemSalesTaxRef is required; the fake models no sales tax items, so it names
        # a placeholder.
        prefs["SalesTaxPreferences"] = {
            "DefaultItemSalesTaxRef": {"FullName": "Sales Tax"},
            "PaySalesTax": "Monthly",
            "DefaultTaxableSalesTaxCodeRef": ref_to(ctx.company, "SalesTaxCode", tax[1]),
            "DefaultNonTaxableSalesTaxCodeRef": ref_to(ctx.company, "SalesTaxCode", non[1]),
        }
    return prefs
