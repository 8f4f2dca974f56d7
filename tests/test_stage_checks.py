"""`qbsync stage` refuses what QuickBooks would refuse or could never resolve (issue 12 §1),
through the real CLI: exit 3 naming the line and the field, nothing staged; `--skip-invalid`
stages the rest, says how many lines it skipped and exits 5."""

from __future__ import annotations

import json

import pytest
from wizard_support import jsonl, quickbooks_id, run_cli, simulate_web_connector_run

from qbsync.store import connections, open_store
from qbsync.sync import catalogue, stage_checks, staging

ITEM = {"SalesOrPurchase": {"Price": 5, "AccountRef": {"FullName": "Sales"}}}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "qbsync.db"
    run_cli("init", db=path, check=True)
    run_cli("connection", "add", "main", "--username", "qbwc", "--import", "Customer", "--password-stdin", db=path, input="s3cret\n", check=True)
    return path


def stage(db, type_name, *records, args=()):
    return run_cli("stage", type_name, *args, db=db, input=jsonl(*records))


def pending(db):
    return json.loads(run_cli("pending", "--format", "json", db=db, check=True).stdout)


def refused(proc, line, field, *words):
    """Exit 3, one error line naming line and field, no traceback."""
    assert proc.returncode == 3, (proc.returncode, proc.stderr)
    assert proc.stderr.startswith(f"qbsync: error: line {line}: {field}: "), proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    assert proc.stdout == ""


# -- references by the app's id ------------------------------------------------------------------


def test_a_reference_to_an_unknown_record_is_refused_and_nothing_is_staged(db):
    proc = stage(db, "Invoice",
                 {"id": "I1", "CustomerRef": {"FullName": "Walk-in"}},
                 {"id": "I2", "CustomerRef": {"local_id": "C-404"}})
    refused(proc, 2, "CustomerRef", "'C-404'")
    assert pending(db) == []


def test_a_reference_inside_a_line_names_the_line_from_one(db):
    stage(db, "Customer", {"id": "C1", "Name": "Acme"})
    proc = stage(db, "Invoice", {"id": "I1", "CustomerRef": {"local_id": "C1"}, "InvoiceLine": [
        {"ItemRef": {"FullName": "Mowing"}, "Amount": 5}, {"ItemRef": {"local_id": "I-404"}, "Amount": 5}]})
    refused(proc, 1, "InvoiceLine[2]/ItemRef", "'I-404'")


def test_references_to_records_in_the_wizard_the_mirror_or_the_same_file_are_accepted(db):
    assert stage(db, "Customer", {"id": "C1", "Name": "Acme"}).returncode == 0  # awaiting
    assert stage(db, "Customer", {"id": "C2", "Name": "Bolt"}).returncode == 0
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db)  # C1 and C2 now in the mirror, no change left
    assert stage(db, "Customer", {"id": "C3", "Name": "Cedar"}).returncode == 0
    proc = stage(db, "Customer",
                 {"id": "J1", "Name": "Job", "ParentRef": {"local_id": "C1"}},  # the mirror
                 {"id": "J2", "Name": "Job", "ParentRef": {"local_id": "C3"}},  # the wizard
                 {"id": "C4", "Name": "Dune"},
                 {"id": "J3", "Name": "Job", "ParentRef": {"local_id": "C4"}},  # an earlier line
                 {"id": "J4", "Name": "Job", "ParentRef": {"local_id": "C5"}},  # a later line
                 {"id": "C5", "Name": "Elm"})
    assert proc.returncode == 0, proc.stderr
    assert {r["local_id"] for r in pending(db)} == {"C3", "J1", "J2", "C4", "J3", "J4", "C5"}


def test_a_reference_by_id_as_a_number_matches_the_string_id(db):
    stage(db, "ItemService", {"id": 42, "Name": "Mowing", **ITEM})
    proc = stage(db, "Invoice", {"id": "I1", "CustomerRef": {"FullName": "Walk-in"},
                                 "InvoiceLine": [{"ItemRef": {"local_id": "42"}, "Amount": 5}]})
    assert proc.returncode == 0, proc.stderr


def test_skip_invalid_also_skips_the_lines_that_refer_to_a_skipped_line(db):
    proc = stage(db, "Customer",
                 {"id": "C1", "Name": ""},  # refused: blank name
                 {"id": "J1", "Name": "Job", "ParentRef": {"local_id": "C1"}},  # its parent is refused
                 {"id": "J2", "Name": "Sub", "ParentRef": {"local_id": "J1"}},  # and so is this one's
                 {"id": "C2", "Name": "Bolt"},
                 args=("--skip-invalid", "--format", "json"))
    assert proc.returncode == 5, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert [(p["line"], p["field"]) for p in row["skipped"]] == [(1, "Name"), (2, "ParentRef"), (3, "ParentRef")]
    assert "refused" in row["skipped"][1]["message"]
    assert row["skipped_lines"] == 3 and row["added"] == 1
    assert [r["local_id"] for r in pending(db)] == ["C2"]


# -- names QuickBooks refuses --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", "\t"])
def test_a_blank_name_is_refused(db, name):
    proc = stage(db, "Customer", {"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": name})
    refused(proc, 2, "Name", "3210")
    assert pending(db) == []


def test_a_transaction_needs_no_name(db):
    proc = stage(db, "Invoice", {"id": "I1", "CustomerRef": {"FullName": "Walk-in"}, "RefNumber": ""})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("type_name, extra", [("Customer", {}), ("Vendor", {}), ("ItemService", ITEM)])
def test_a_colon_in_a_list_name_is_refused(db, type_name, extra):
    proc = stage(db, type_name, {"id": "X1", "Name": "Acme:Main St", **extra})
    refused(proc, 1, "Name", "':'", "ParentRef")
    assert pending(db) == []


def test_two_lines_with_one_name_are_refused_case_insensitively(db):
    proc = stage(db, "Customer", {"id": "C1", "Name": "Acme Ltd"}, {"id": "C2", "Name": "Bolt"},
                 {"id": "C3", "Name": "ACME LTD "})
    refused(proc, 3, "Name", "line 1", "3100")
    assert pending(db) == []


def test_customers_vendors_and_employees_share_one_name_space(db):
    assert stage(db, "Customer", {"id": "C1", "Name": "Acme"}).returncode == 0  # awaiting approval
    refused(stage(db, "Vendor", {"id": "V1", "Name": "acme"}), 1, "Name", "Customer 'C1'", "3100")
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db)  # now in the mirror
    refused(stage(db, "Employee", {"id": "E1", "Name": "Acme"}), 1, "Name", "Customer 'C1'")
    # Other lists have names of their own; the record itself keeps its name.
    assert stage(db, "Class", {"id": "K1", "Name": "Acme"}).returncode == 0
    assert stage(db, "Customer", {"id": "C1", "Name": "Acme", "Phone": "1"}).returncode == 0


def test_other_lists_keep_names_unique_within_themselves(db):
    proc = stage(db, "Class", {"id": "K1", "Name": "North"}, {"id": "K2", "Name": "north"})
    refused(proc, 2, "Name", "in the Class list", "3100")


def test_linking_an_imported_record_to_the_app_id_is_no_clash(db):
    simulate_web_connector_run(db, imports=[("Customer", {"ListID": "80-1", "Name": "Acme", "FullName": "Acme",
                                                          "EditSequence": "1"})])
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db)  # the import is in the mirror, keyed by its ListID
    proc = stage(db, "Customer", {"id": "C1", "ListID": quickbooks_id(db, "80-1"), "Name": "Acme"})
    assert proc.returncode == 0, proc.stderr
    refused(stage(db, "Customer", {"id": "C2", "Name": "ACME"}), 1, "Name", "Customer 'C1'")


def test_item_types_share_one_name_space(db):
    assert stage(db, "ItemService", {"id": "S1", "Name": "Mowing", **ITEM}).returncode == 0
    proc = stage(db, "ItemNonInventory", {"id": "N1", "Name": "MOWING", **ITEM})
    refused(proc, 1, "Name", "ItemService 'S1'")


def test_jobs_of_different_customers_may_share_a_name_but_not_of_one(db):
    proc = stage(db, "Customer", {"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt"},
                 {"id": "J1", "Name": "Kitchen", "ParentRef": {"local_id": "C1"}},
                 {"id": "J2", "Name": "Kitchen", "ParentRef": {"local_id": "C2"}},
                 {"id": "J3", "Name": "Kitchen"})  # a customer named like the jobs: another FullName
    assert proc.returncode == 0, proc.stderr
    proc = stage(db, "Customer", {"id": "J4", "Name": "kitchen", "ParentRef": {"FullName": "Acme"}})
    refused(proc, 1, "Name", "'Acme:kitchen'", "Customer 'J1'")


def test_a_record_deleted_in_the_wizard_frees_its_name(db):
    stage(db, "Customer", {"id": "C1", "Name": "Acme"})
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db)
    run_cli("stage", "Customer", "--delete", "C1", db=db, check=True)
    assert stage(db, "Customer", {"id": "C9", "Name": "Acme"}).returncode == 0


def test_a_rename_in_the_wizard_frees_the_old_name(db):
    stage(db, "Customer", {"id": "C1", "Name": "Acme"})
    run_cli("approve", "--yes", db=db, check=True)
    simulate_web_connector_run(db)
    assert stage(db, "Customer", {"id": "C1", "Name": "Acme Renamed"}).returncode == 0
    assert stage(db, "Customer", {"id": "C2", "Name": "Acme"}).returncode == 0
    refused(stage(db, "Vendor", {"id": "V1", "Name": "acme renamed"}), 1, "Name", "Customer 'C1'")


# -- ids and JSON ------------------------------------------------------------------------------


def test_the_same_id_twice_is_refused_on_every_line_it_is_on(db):
    proc = stage(db, "Customer", {"id": "C1", "Name": "Acme"}, {"id": "C2", "Name": "Bolt"}, {"id": "C1", "Name": "Cedar"})
    refused(proc, 1, "id", "lines 1, 3")
    assert pending(db) == []
    proc = stage(db, "Customer", {"id": 7, "Name": "Acme"}, {"id": "7", "Name": "Bolt"}, args=("--skip-invalid",))
    assert proc.returncode == 5 and pending(db) == []


def test_json_nested_too_deeply_is_invalid_input_not_a_crash(db):
    deep = "[" * 100_000 + "]" * 100_000
    proc = run_cli("stage", "Customer", db=db, input='{"id": "C1", "Name": "Acme"}\n' + deep + "\n")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.startswith("qbsync: error: line 2: JSON nested more than 64 levels deep")
    assert pending(db) == []


def test_the_depth_limit_is_64_levels():
    def nested(levels):
        value = {}
        for _ in range(levels - 1):
            value = {"x": value}
        return value

    assert not stage_checks.too_deep(nested(stage_checks.MAX_DEPTH))
    assert stage_checks.too_deep(nested(stage_checks.MAX_DEPTH + 1))
    assert stage_checks.too_deep([[{"a": nested(stage_checks.MAX_DEPTH - 2)}]])


# -- --skip-invalid ------------------------------------------------------------------------------


def test_skip_invalid_counts_the_skipped_lines_and_exits_5(db):
    lines = '{"id": "C1", "Name": "Acme"}\nnot json\n{"id": "C2", "Name": "acme"}\n{"id": "C3", "Name": "Bolt"}\n'
    proc = run_cli("stage", "Customer", "--skip-invalid", "--format", "json", db=db, input=lines)
    assert proc.returncode == 5, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["skipped_lines"] == 2 and [p["line"] for p in row["skipped"]] == [2, 3]
    assert row["added"] == 2 and row["read"] == 4
    assert "2 invalid lines skipped (exit code 5)" in proc.stderr
    assert "qbsync: error" not in proc.stderr


def test_skip_invalid_with_nothing_to_skip_exits_0(db):
    proc = stage(db, "Customer", {"id": "C1", "Name": "Acme"}, args=("--skip-invalid", "--format", "json"))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["skipped"] == [] and row["skipped_lines"] == 0


# -- cost ------------------------------------------------------------------------------------


def test_the_checks_read_the_store_in_a_few_batched_queries(tmp_path):
    """Not a benchmark: the number of statements the checks run grows with the file by chunks
    of 500 ids at most, never one per line, and none scans a table (so 100,000 lines against a
    large store stay linear)."""
    store = open_store(tmp_path / "s.db", create=True)
    conn = connections.add_connection(store, name="main", username="u", password_hash="h")

    def statements(n):
        lines = [json.dumps({"id": f"J{i}", "Name": f"Job {i}", "ParentRef": {"local_id": f"C{i % 400}"}}) for i in range(n)]
        lines += [json.dumps({"id": f"C{i}", "Name": f"Customer {i}"}) for i in range(400)]
        items, problems = staging.parse_lines("Customer", lines)
        assert problems == []
        seen: list[str] = []
        store.conn.set_trace_callback(seen.append)
        try:
            keep, found = staging.check_call(store, conn["id"], catalogue.entity_type("Customer"), items)
        finally:
            store.conn.set_trace_callback(None)
        assert found == [] and len(keep) == len(items)
        for sql in seen:  # and each one searches an index: no scan of a table per chunk of ids
            plan = " ".join(r["detail"] for r in store.query(f"EXPLAIN QUERY PLAN {sql}"))
            assert "SCAN" not in plan.replace("SCAN CONSTANT ROW", ""), (sql[:200], plan)
            assert "local_id IN" not in sql or "local_id=?" in plan, (sql[:200], plan)  # not every row of the connection
        return len(seen)

    assert statements(400) == statements(4000) <= 10
    store.close()
