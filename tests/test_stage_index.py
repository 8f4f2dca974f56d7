"""`qbsync stage`'s file-wide checks over the temporary index (staging.check_indexed, which reads
back only the lines a check may refuse) find exactly what they find over every line in memory
(staging.check_call): the same lines, fields and messages, whatever the file."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qbsync.store import connections, open_store
from qbsync.store.stage_index import StageIndex
from qbsync.sync import catalogue, staging

IDS = [f"C{i}" for i in range(8)]
NAMES = ["Acme", "acme ", "Bolt", "Crane", "Dune", "Echo"]


@st.composite
def lines(draw):
    out = []
    for _ in range(draw(st.integers(1, 12))):
        record = {"id": draw(st.sampled_from(IDS))}
        if draw(st.integers(0, 9)) > 0:  # a Customer needs a Name: mostly given
            record["Name"] = draw(st.sampled_from(NAMES))
        if draw(st.integers(0, 3)) == 0:
            record["ParentRef"] = {"local_id": draw(st.sampled_from(IDS + ["X9"]))}
        elif draw(st.integers(0, 5)) == 0:
            record["ParentRef"] = {"FullName": draw(st.sampled_from(NAMES))}
        if draw(st.integers(0, 6)) == 0:
            record["ListID"] = draw(st.sampled_from(["80000001-1", "80000002-1"]))
        if draw(st.integers(0, 4)) == 0:
            record["SalesRepRef"] = {"local_id": draw(st.sampled_from(IDS + ["R404"]))}
        out.append(json.dumps(record))
    return out


HELD = [json.dumps({"id": "C1", "Name": "Bolt"}), json.dumps({"id": "C6", "Name": "Echo"}),
        json.dumps({"id": "C7", "Name": "Sub", "ParentRef": {"local_id": "C6"}})]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(file=lines(), held=st.booleans())
def test_the_indexed_checks_find_what_the_checks_over_every_line_find(tmp_path_factory, file, held):
    et = catalogue.entity_type("Customer")
    with open_store(tmp_path_factory.mktemp("s") / "s.db", create=True) as store:
        conn = connections.add_connection(store, name="main", username="u", password_hash="h")
        if held:
            staging.stage_lines(store, conn, "Customer", HELD)
        items, problems = staging.parse_lines("Customer", file)
        refused_ids = {p.local_id for p in problems if p.local_id}
        _, expected = staging.check_call(store, conn["id"], et, items, refused_ids)
        index = StageIndex()
        try:
            for item in items:
                staging._index(index, et, item)
            found = staging.check_indexed(store, conn["id"], et, index, refused_ids)
        finally:
            index.close()

    def key(p):
        return (p.line, p.field, p.message)

    assert sorted(map(key, found)) == sorted(map(key, expected))

