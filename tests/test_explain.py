"""`activate explain`: the shortest chain of identifiers between two records of one person,
each identifier masked, on a tiny hand-made warehouse shaped like the dbt One ID tables."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from click.testing import CliRunner

from activation.cli import main
from activation.explain import shortest_path
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


def test_records_of_different_persons_are_told_apart(warehouse):
    result = _explain(warehouse, "crm:M1", "crm:M2")
    assert result.exit_code == 0, result.output
    assert "different persons" in result.output
    assert PERSON_A in result.output and PERSON_B in result.output


def test_a_one_id_alone_lists_its_records_links_and_history(warehouse):
    result = _explain(warehouse, PERSON_A)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{PERSON_A}: 3 records")
    assert "phone 138****5678" in result.output and "crm:M1, pos:P1" in result.output
    assert "email a***@example.com" in result.output
    assert "device_id ab***56 ~ wechat_openid wxapp:o1***89" in result.output
    assert f"merge  od_cccccccccccccccccccc -> {PERSON_A}  cause: added pos:P1 email a***@example.com" \
        in result.output


def test_unknown_records_and_malformed_references_fail_cleanly(warehouse):
    unknown = _explain(warehouse, "crm:M404", "crm:M1")
    assert unknown.exit_code == 1 and "No source record 'crm:M404'" in unknown.output
    malformed = _explain(warehouse, "M1", "crm:M1")
    assert malformed.exit_code == 1 and "<source_system>:<source_record_id>" in malformed.output
    nobody = _explain(warehouse, "od_00000000000000000000")
    assert nobody.exit_code == 1 and "No records have one_id" in nobody.output


def test_shortest_path_is_breadth_first_and_stable():
    adjacency = {"a": {"x", "y"}, "x": {"a", "b"}, "y": {"a", "c"}, "c": {"y", "b"}, "b": {"x", "c"}}
    assert shortest_path(adjacency, "a", "b") == ["a", "x", "b"]
    assert shortest_path(adjacency, "a", "z") == []


@pytest.mark.parametrize(("id_type", "value", "masked"), [
    ("phone", "13812345678", "138****5678"),
    ("email", "bob@qq.com", "b***@qq.com"),
    ("wechat_openid", "wxapp:oABCDEFGH", "wxapp:oA***GH"),
    ("member_card", "VIP123", "***"),
])
def test_identifiers_are_masked_by_type(id_type, value, masked):
    assert mask_identifier(id_type, value) == masked
