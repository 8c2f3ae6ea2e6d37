"""`activate explain`: the shortest chain of identifiers between two records of one person,
each identifier masked, and what keeps two persons apart (the links One ID refused), on a tiny
hand-made warehouse shaped like the dbt One ID tables."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from click.testing import CliRunner

from activation.cli import main
from activation.explain import path_apart, shortest_path
from activation.masking import mask_identifier

# Person A: crm:M1 -phone- pos:P1 -email- app:U1, and app:U1 also has a device; a link ties
# the device to an openid nobody else carries. Person B: crm:M2 alone.
PHONE, EMAIL = "13812345678", "alice@example.com"
EDGES = [
    ("r|crm|M1", "i|phone|" + PHONE),
    ("r|pos|P1", "i|phone|" + PHONE),
    ("r|pos|P1", "i|email|" + EMAIL),
    ("r|app|U1", "i|email|" + EMAIL),
    ("r|app|U1", "i|device_id|abcdef123456"),
    ("i|device_id|abcdef123456", "i|wechat_openid|wxapp:o123456789"),
    ("r|crm|M2", "i|phone|13900001111"),
    ("r|crm|M1", "r|crm|M1"), ("r|pos|P1", "r|pos|P1"), ("r|app|U1", "r|app|U1"),
    ("r|crm|M2", "r|crm|M2"),
]
PERSON_A, PERSON_B = "od_aaaaaaaaaaaaaaaaaaaa", "od_bbbbbbbbbbbbbbbbbbbb"
# crm:M2 once held Alice's phone: One ID refused that edge (the number was reassigned).
REASSIGNED = ("last seen with this holder on 2019-05-01, with the next from 2025-01-10 (2081 days later, more"
              " than 120), on crm:M1; birth_date differ")
REFUSED = [("r|crm|M2", "i|phone|" + PHONE, "reassigned", REASSIGNED)]


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "onedata.duckdb"
    nodes = {node for edge in EDGES for node in edge}
    person_b_nodes = {"r|crm|M2", "i|phone|13900001111"}
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema marts; create schema intermediate")
        connection.execute("create table intermediate.int_identity_graph_edges (node_id varchar, "
                           "linked_node_id varchar)")
        connection.executemany("insert into intermediate.int_identity_graph_edges values (?, ?)", EDGES)
        connection.execute("create table intermediate.int_identity_components (node_id varchar, "
                           "component_id varchar)")
        connection.executemany(
            "insert into intermediate.int_identity_components values (?, ?)",
            [(node, "i|phone|13900001111" if node in person_b_nodes else "i|device_id|abcdef123456")
             for node in sorted(nodes)],
        )
        connection.execute("create table marts.dim_source_records (source_system varchar, "
                           "source_record_id varchar, one_id varchar)")
        connection.executemany(
            "insert into marts.dim_source_records values (?, ?, ?)",
            [("crm", "M1", PERSON_A), ("pos", "P1", PERSON_A), ("app", "U1", PERSON_A),
             ("crm", "M2", PERSON_B)],
        )
        connection.execute("""create table marts.identity_one_id_history (event_id varchar,
            event_type varchar, one_id_before varchar, one_id_after varchar,
            cause_source_record_key varchar, cause_id_type varchar, cause_id_value varchar,
            cause_edge_change varchar, event_at timestamp)""")
        connection.execute(
            "insert into marts.identity_one_id_history values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ["e1", "merge", "od_cccccccccccccccccccc", PERSON_A, "pos|P1", "email", EMAIL, "added",
             dt.datetime(2026, 11, 1, 8, 0)],
        )
        connection.execute("create table intermediate.int_identity_edges_refused (node_id varchar, "
                           "linked_node_id varchar, refusal_kind varchar, refusal_reason varchar)")
        connection.executemany("insert into intermediate.int_identity_edges_refused values (?, ?, ?, ?)", REFUSED)
    return path


def _explain(warehouse, *args):
    return CliRunner().invoke(main, ["--duckdb-path", str(warehouse), "explain", *args])


def test_two_records_of_one_person_show_the_shortest_chain(warehouse):
    result = _explain(warehouse, "crm:M1", "app:U1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"crm:M1 and app:U1 share one_id {PERSON_A}."
    assert [line.split(None, 1) for line in lines[2:]] == [
        ["record", "crm:M1"],
        ["identifier", "phone 138****5678"],
        ["record", "pos:P1"],
        ["identifier", "email a***@example.com"],
        ["record", "app:U1"],
    ]


def test_no_phone_or_email_is_ever_printed_in_full(warehouse):
    outputs = [_explain(warehouse, "crm:M1", "app:U1").output, _explain(warehouse, PERSON_A).output,
               _explain(warehouse, "crm:M2").output]
    for output in outputs:
        assert PHONE not in output and EMAIL not in output and "13900001111" not in output
        assert "o123456789" not in output


def test_records_of_different_persons_are_told_apart_with_what_keeps_them_apart(warehouse):
    result = _explain(warehouse, "app:U1", "crm:M2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "app:U1 and crm:M2 are different persons:"
    assert PERSON_A in lines[1] and PERSON_B in lines[2]
    assert lines[3].startswith("What keeps them apart")
    steps = [line.split(None, 1) for line in lines[4:] if not line.startswith("      ")]
    assert steps == [["record", "app:U1"], ["identifier", "email a***@example.com"], ["record", "pos:P1"],
                     ["identifier", "phone 138****5678"], ["record", "crm:M2"]]
    # Only the last step was refused, and it says why.
    assert lines[-1] == f"      refused as reassigned: {REASSIGNED}"
    assert sum(line.startswith("      refused") for line in lines) == 1


def test_a_warehouse_without_refused_edges_says_to_build(warehouse):
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("drop table intermediate.int_identity_edges_refused")
    result = _explain(warehouse, "crm:M1", "crm:M2")
    assert result.exit_code == 0, result.output
    assert "different persons" in result.output and "run dbt build" in result.output


def test_a_person_lists_the_links_refused_at_it(warehouse):
    result = _explain(warehouse, "crm:M2")
    assert result.exit_code == 0, result.output
    assert "Links One ID refused here" in result.output
    assert f"crm:M2 ~ phone 138****5678\n      reassigned: {REASSIGNED}" in result.output


def test_the_chain_apart_is_the_shortest_and_stops_when_nothing_connects():
    first, second, third, phone, email = "r|crm|A", "r|crm|B", "r|crm|C", "i|phone|13800000001", "i|email|x@y.cn"
    edges = {first: [(first, phone, "over_limit: joins 2 phone values"), (first, email, None)],
             phone: [(phone, second, None)], email: [(email, phone, None)], second: [], third: []}

    def neighbours(nodes):
        rows = [row for node in nodes for row in edges.get(node, [])]
        return sorted(rows, key=lambda row: (row[2] is not None, row))

    chain = path_apart(neighbours, first, second)
    # One refused step (A - phone - B) is shorter than the kept way round through the e-mail.
    assert [(step.label, step.refused) for step in chain] == [
        ("crm:A", None), ("phone 138****0001", "over_limit: joins 2 phone values"), ("crm:B", None)]
    assert path_apart(neighbours, first, third) == []


@pytest.mark.parametrize(("id_type", "value", "masked"), [
    ("phone", "13812345678", "138****5678"),
    ("email", "bob@qq.com", "b***@qq.com"),
    ("wechat_openid", "wxapp:oABCDEFGH", "wxapp:oA***GH"),
    ("member_card", "VIP123", "***"),
])
def test_identifiers_are_masked_by_type(id_type, value, masked):
    assert mask_identifier(id_type, value) == masked
