"""The export step builds each message once: the batch is validated as the message it becomes,
and `build_message` hands back that text; only a message that breaks the schema is chosen again
with each request checked alone. Plain data, the real qbXML layer."""

from __future__ import annotations

from test_engine_exports import change, customer

from qbsync.engine import exports
from qbsync.engine.model import ExportChange, Mirror
from qbsync.qbxml import parse_request


def test_the_message_built_while_planning_is_the_one_sent():
    plan = exports.plan_exports([customer(1, "C1"), customer(2, "C2")], Mirror(), message_set_id="q1-1-ab")
    assert plan.built is not None
    xml = exports.build_message(plan, version="13.0", message_set_id="q1-1-ab")
    assert xml is plan.built[2]
    assert xml == exports._build(plan, "13.0", "q1-1-ab")  # the same text a fresh build gives
    assert 'newMessageSetID="q1-1-ab"' in xml
    assert [r.request_id for r in parse_request(xml).requests] == ["c1", "c2"]


def test_another_message_set_id_or_version_builds_the_message_again():
    plan = exports.plan_exports([customer(1, "C1")], Mirror(), message_set_id="q1-1-ab")
    other = exports.build_message(plan, version="13.0", message_set_id="q1-1-cd")
    assert 'newMessageSetID="q1-1-cd"' in other and other != plan.built[2]


def test_a_batch_that_breaks_the_schema_is_chosen_again_request_by_request():
    changes = [customer(1, "C1"), change(2, "Customer", "C2", {"Name": "x" * 60}), customer(3, "C3"),
               customer(4, "C4")]
    plan = exports.plan_exports(changes, Mirror(), batch_size=3, message_set_id="m")
    assert plan.change_ids() == [1, 3, 4]  # the batch filled up past the bad change, as before
    assert [f.change_id for f in plan.invalid] == [2]
    assert plan.built is None  # built when it is sent, from the requests that passed
    xml = exports.build_message(plan, version="13.0", message_set_id="m")
    assert [r.request_id for r in parse_request(xml).requests] == ["c1", "c3", "c4"]


def test_an_unvalidated_plan_carries_no_message():
    plan = exports.plan_exports([customer(1, "C1")], Mirror(), validate=False, message_set_id="m")
    assert plan.built is None and plan.change_ids() == [1]


def test_an_export_change_takes_its_payload_as_the_stores_json_text():
    lazy = ExportChange(1, "Customer", "add", "C1", payload='{"Name": "Acme", "Phone": "1"}', before="{}")
    assert lazy == ExportChange(1, "Customer", "add", "C1", payload={"Name": "Acme", "Phone": "1"})
    assert lazy.payload["Name"] == "Acme" and lazy.before == {}
    assert ExportChange(2, "Customer", "add", "C2").payload == {}
    assert ExportChange(3, "Customer", "add", "C3", payload="null").payload == {}
