"""One ID keeps its ids: a small demo brand built twice gives every record the same one_id;
an edge added to seeds/identity_edge_exclusions.csv splits a person on the next build (the
largest part keeps the id, the history names the removed edge); taking the exclusion out
merges the parts again under the oldest id, and the history names the edge that joined them.

The project is copied to a temporary directory so that editing the seed touches nobody else."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from activation.demo_data import generate
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

COPIED = ("models", "macros", "seeds", "dbt_project.yml", "profiles.yml")
EXCLUSIONS = Path("seeds/identity_edge_exclusions.csv")


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stable")
    project = workdir / "project"
    project.mkdir()
    for name in COPIED:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, project / name)
        else:
            shutil.copy(source, project / name)
    shutil.copytree(PROJECT_DIR / "tests" / "dbt", project / "tests" / "dbt")
    raw_dir, database = workdir / "raw", workdir / "onedata.duckdb"
    generate(raw_dir=raw_dir, truth_dir=workdir / "truth", people=600, seed=5)
    env = {**os.environ, "ONEDATA_RAW_DIR": str(raw_dir), "ONEDATA_DUCKDB_PATH": str(database),
           "ONEDATA_RAW_FORMAT": "parquet"}
    header = (project / EXCLUSIONS).read_text().splitlines()[0]
    (project / EXCLUSIONS).write_text(header + "\n")

    def build() -> dict[str, str]:
        _dbt_build(env, project, workdir)
        return dict(_rows(database, "select source_record_key, one_id from marts.dim_source_records"))

    first = build()
    second = build()
    bridge = _find_bridge(database)
    record_system, record_id = bridge["record"].removeprefix("r|").split("|", 1)
    id_type, id_value = bridge["identifier"].removeprefix("i|").split("|", 1)
    (project / EXCLUSIONS).write_text(
        f"{header}\n{record_system},{record_id},{id_type},{id_value},test: undo a bad merge\n")
    split = build()
    split_history = _history(database)
    (project / EXCLUSIONS).write_text(header + "\n")
    merged = build()
    return {"first": first, "second": second, "split": split, "merged": merged,
            "bridge": bridge, "split_history": split_history, "history": _history(database)}


def _dbt_build(env: dict[str, str], project: Path, workdir: Path) -> None:
    dbt = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [str(dbt), "build", "--profiles-dir", str(project), "--project-dir", str(project),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-2000:]
    assert "ERROR=0" in completed.stdout


def _rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def _history(database: Path) -> list[dict]:
    with duckdb.connect(str(database), read_only=True) as connection:
        cursor = connection.execute("select * from marts.identity_one_id_history order by event_at")
        columns = [column[0] for column in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _find_bridge(database: Path) -> dict[str, str]:
    """A person of exactly two records joined by one identifier and nothing else: excluding
    the second record's edge to it splits the person in two."""
    rows = _rows(database, """
        with components as (
            select node_id, component_id from intermediate.int_identity_components
        ),
        edges as (
            select edges.node_id, edges.linked_node_id, components.component_id
            from intermediate.int_identity_graph_edges as edges
            inner join components on edges.node_id = components.node_id
            where edges.node_id <> edges.linked_node_id
        ),
        candidates as (
            select component_id
            from edges
            group by component_id
            having count(distinct case when node_id like 'r|%' then node_id end) = 2
                and count(case when node_id like 'i|%' then 1 end) = 0
        ),
        shared as (
            select edges.component_id, edges.linked_node_id, min(edges.node_id) as first_record,
                max(edges.node_id) as second_record
            from edges inner join candidates using (component_id)
            group by edges.component_id, edges.linked_node_id
            having count(*) = 2
        ),
        single_bridges as (
            select component_id from shared group by component_id having count(*) = 1
        )
        select shared.first_record, shared.second_record, shared.linked_node_id
        from shared inner join single_bridges using (component_id)
        order by shared.component_id
        limit 1
    """)
    assert rows, "the demo brand has no two-record person joined by a single identifier"
    first_record, second_record, identifier = rows[0]
    return {"kept_record": first_record, "record": second_record, "identifier": identifier}


def test_a_rebuild_of_the_same_data_keeps_every_one_id(builds):
    assert len(builds["first"]) > 500
    assert builds["second"] == builds["first"]


def test_an_excluded_edge_splits_the_person_and_the_history_says_why(builds):
    bridge, before, after = builds["bridge"], builds["second"], builds["split"]
    kept_key, moved_key = bridge["kept_record"][2:], bridge["record"][2:]
    old_id = before[moved_key]
    assert before[kept_key] == old_id
    # Two parts of one record each: the tie goes to the smaller component, one keeps the id.
    assert {after[kept_key], after[moved_key]} >= {old_id}
    assert after[kept_key] != after[moved_key]
    new_id = after[moved_key] if after[kept_key] == old_id else after[kept_key]
    assert new_id.startswith("od_") and len(new_id) == 23 and new_id not in before.values()
    # Nobody else changed.
    assert {k: v for k, v in after.items() if k not in (kept_key, moved_key)} == \
        {k: v for k, v in before.items() if k not in (kept_key, moved_key)}
    [event] = builds["split_history"]
    assert event["event_type"] == "split"
    assert (event["one_id_before"], event["one_id_after"]) == (old_id, new_id)
    assert event["records_moved"] == 1
    assert event["cause_edge_change"] == "removed"
    assert event["cause_source_record_key"] == moved_key
    assert f"i|{event['cause_id_type']}|{event['cause_id_value']}" == bridge["identifier"]


def test_removing_the_exclusion_merges_them_again_under_the_oldest_id(builds):
    bridge, split, merged = builds["bridge"], builds["split"], builds["merged"]
    kept_key, moved_key = bridge["kept_record"][2:], bridge["record"][2:]
    old_id = builds["second"][kept_key]
    assert merged[kept_key] == merged[moved_key] == old_id
    assert merged == builds["second"]
    merge_events = [event for event in builds["history"] if event["event_type"] == "merge"]
    assert len(merge_events) == 1
    [event] = merge_events
    fresh_id = split[moved_key] if split[kept_key] == old_id else split[kept_key]
    assert (event["one_id_before"], event["one_id_after"]) == (fresh_id, old_id)
    assert event["cause_edge_change"] == "added"
    assert event["cause_source_record_key"] == moved_key
    assert f"i|{event['cause_id_type']}|{event['cause_id_value']}" == bridge["identifier"]
