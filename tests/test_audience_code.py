"""Audiences as code: rules compile to SQL that selects exactly what they say, mistakes in the
YAML fail with a message naming the file and the rule, the generated models are up to date, and
`audiences plan` reports who an edited rule adds and removes."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from activation.audience_code import generate, load_audiences, load_tag_specs, rule_to_sql
from activation.audiences import plan_audiences
from activation.cli import main
from activation.errors import ActivationError
from activation.settings import Settings

TAGS = load_tag_specs()

PROFILES = [
    # one_id, lifecycle_stage, paid_order_count, is_loyalty_member, rfm_group
    ("new_one_order", "new", 1, True, "general_develop"),
    ("new_two_orders", "new", 2, True, "general_develop"),
    ("new_not_member", "new", 1, False, None),
    ("growth", "growth", 8, True, "important_value"),
    ("prospect", "prospect", 0, None, None),
]


def _select(rule) -> list[str]:
    condition = rule_to_sql(rule, TAGS)
    with duckdb.connect() as connection:
        connection.execute("create table member_profiles (one_id varchar, lifecycle_stage varchar,"
                           " paid_order_count integer, is_loyalty_member boolean, rfm_group varchar)")
        connection.executemany("insert into member_profiles values (?, ?, ?, ?, ?)", PROFILES)
        return [row[0] for row in connection.execute(
            f"select one_id from member_profiles where {condition} order by one_id").fetchall()]


def test_all_any_and_not_select_what_they_say():
    assert _select({"all": [{"tag": "lifecycle_stage", "in": ["new"]},
                            {"tag": "paid_order_count", "equals": 1},
                            {"tag": "is_loyalty_member", "is": True}]}) == ["new_one_order"]
    assert _select({"any": [{"tag": "paid_order_count", "at_least": 8},
                            {"tag": "is_loyalty_member", "is": False}]}) == ["growth", "new_not_member"]
    # `not` includes the people without a value: a prospect has no RFM group.
    assert _select({"not": {"tag": "rfm_group", "in": ["important_value"]}}) == [
        "new_not_member", "new_one_order", "new_two_orders", "prospect"]
    assert _select({"tag": "paid_order_count", "between": [1, 2]}) == [
        "new_not_member", "new_one_order", "new_two_orders"]
    assert _select({"tag": "rfm_group", "is": "null"}) == ["new_not_member", "prospect"]


@pytest.mark.parametrize(("rule", "message"), [
    ({"tag": "lifecycle_stag", "in": ["new"]}, "no tag named 'lifecycle_stag'. Did you mean lifecycle_stage"),
    ({"tag": "lifecycle_stage", "in": ["newbie"]}, "'newbie' is not a value of tag lifecycle_stage"),
    ({"tag": "lifecycle_stage", "at_least": 3}, "tag lifecycle_stage is category, not a number"),
    ({"tag": "paid_order_count", "is": True}, "`is` takes true or false on a boolean tag"),
    ({"tag": "paid_order_count", "equals": "one"}, "'one' is not a number"),
    ({"tag": "paid_order_count", "above": 3}, "needs exactly one operator"),
    ({"all": []}, "a non-empty list of rules"),
    ({"tag": "is_high_value", "equals": True}, "use `is: true|false|null`"),
])
def test_a_wrong_rule_names_the_mistake(rule, message):
    with pytest.raises(ActivationError, match=message.replace("(", r"\(").replace("`", ".")):
        rule_to_sql(rule, TAGS)


def _write(directory: Path, name: str, rule: str, **extra: str) -> None:
    fields = {"name": name, "description": "test audience", "owner": "{name: tests}", "channel": "sms",
              **extra}
    text = "".join(f"{key}: {value}\n" for key, value in fields.items())
    (directory / f"{name}.yml").write_text(text + "rule:\n" + textwrap.indent(rule, "  "))


def test_a_bad_file_is_named(tmp_path):
    _write(tmp_path, "churners", "tag: lifecycle_stage\nin: [gone]\n")
    with pytest.raises(ActivationError, match=r"churners.yml: rule \(lifecycle_stage in\)"):
        load_audiences(tmp_path)
    (tmp_path / "churners.yml").unlink()
    _write(tmp_path, "churners", "tag: lifecycle_stage\nin: [churned]\n", channel="fax")
    with pytest.raises(ActivationError, match="churners.yml: channel: must be 'sms', 'email'.*got 'fax'"):
        load_audiences(tmp_path)


def test_the_generated_models_match_the_yaml():
    assert generate(check=True) == [], "run `activate audiences generate` and commit the result"


def test_generate_writes_a_model_and_an_exposure_and_removes_stale_ones(tmp_path):
    audiences, out = tmp_path / "audiences", tmp_path / "out"
    audiences.mkdir()
    _write(audiences, "churners", "tag: lifecycle_stage\nin: [churned]\n", destination="csv_drop")
    (out).mkdir()
    (out / "seg_gone.sql").write_text("stale")

    assert generate(audiences, out) == ["_audiences__models.yml", "seg_churners.sql", "seg_gone.sql"]
    assert "coalesce(lifecycle_stage in ('churned'), false)" in (out / "seg_churners.sql").read_text()
    models = (out / "_audiences__models.yml").read_text()
    assert "name: seg_churners" in models and "enforced: true" in models
    assert "name: audience_churners" in models and "activate sync churners --to csv_drop" in models
    assert not (out / "seg_gone.sql").exists()
    assert generate(audiences, out, check=True) == []


@pytest.fixture
def built_warehouse(tmp_path) -> Settings:
    path = tmp_path / "onedata.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema tags")
        connection.execute("create schema segments")
        connection.execute("create table tags.member_profiles (one_id varchar, lifecycle_stage varchar,"
                           " paid_order_count integer, is_loyalty_member boolean, rfm_group varchar)")
        connection.executemany("insert into tags.member_profiles values (?, ?, ?, ?, ?)", PROFILES)
        # As last built: the new members with one order, and an audience whose YAML is gone.
        connection.execute("create table segments.seg_second_order as"
                           " select 'new_one_order' as one_id union all select 'new_not_member'")
        connection.execute("create table segments.seg_retired as select 'growth' as one_id")
    return Settings(duckdb_path=path, raw_dir=tmp_path, raw_format="parquet",
                    destinations_file=tmp_path / "destinations.yml")


def test_plan_shows_who_an_edited_rule_adds_and_removes(built_warehouse, tmp_path):
    audiences = tmp_path / "audiences"
    audiences.mkdir()
    # The edit under review: loyalty members only, and up to two orders.
    _write(audiences, "second_order", textwrap.dedent("""\
        all:
          - {tag: lifecycle_stage, in: [new]}
          - {tag: paid_order_count, at_most: 2}
          - {tag: is_loyalty_member, is: true}
        """))
    _write(audiences, "growth_only", "tag: lifecycle_stage\nin: [growth]\n")

    plans = {plan.name: plan for plan in plan_audiences(built_warehouse, audiences)}

    second = plans["second_order"]
    assert (second.status, second.built_size, second.planned_size) == ("changed", 2, 2)
    assert (second.added_sample, second.removed_sample) == (["new_two_orders"], ["new_not_member"])
    assert (plans["growth_only"].status, plans["growth_only"].added) == ("new", 1)
    assert (plans["retired"].status, plans["retired"].removed_sample) == ("removed", ["growth"])


def test_plan_from_the_command_line(built_warehouse, tmp_path):
    audiences = tmp_path / "audiences"
    audiences.mkdir()
    _write(audiences, "second_order", "tag: paid_order_count\nequals: 1\n")
    result = CliRunner().invoke(main, ["--duckdb-path", str(built_warehouse.duckdb_path), "audiences", "plan",
                                       "--audiences-dir", str(audiences)])

    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines()[1:] if line[:1] != " "}
    assert lines["second_order"][1:] == ["unchanged", "2", "2", "+0", "-0"]
    assert lines["retired"][1:] == ["removed", "1", "0", "+0", "-1"]


def test_plan_names_the_audience_whose_rule_the_warehouse_cannot_run(built_warehouse, tmp_path):
    audiences = tmp_path / "audiences"
    audiences.mkdir()
    # A catalogued tag the small warehouse of this test was not built with.
    _write(audiences, "lapsing", "tag: is_growth_lapse_warning\nis: true\n")
    with pytest.raises(ActivationError, match="audiences/lapsing.yml: its rule cannot run"):
        plan_audiences(built_warehouse, audiences)


SECRET_VALUE = "feedback-secret-must-never-be-printed"


@pytest.mark.parametrize(("field", "yaml_text", "where"), [
    ("description", "description: \"{{ env_var('ACTIVATE__FEEDBACK__SECRET') }}\"\n", "description"),
    ("label", "label: \"{% set x = env_var('ACTIVATE__FEEDBACK__SECRET') %}{{ x }}\"\n", "label"),
    ("owner", "owner: {name: tests, team: \"{# a comment #}\"}\n", "owner.team"),
    ("owner key", "owner: {name: tests, \"{{ env_var('ACTIVATE__FEEDBACK__SECRET') }}\": x}\n", "a key"),
])
def test_jinja_in_an_audience_value_is_refused_and_never_reaches_dbt(tmp_path, monkeypatch, field, yaml_text, where):
    monkeypatch.setenv("ACTIVATE__FEEDBACK__SECRET", SECRET_VALUE)
    audiences, out = tmp_path / "audiences", tmp_path / "out"
    audiences.mkdir()
    fields = {"description": "d", "owner": "{name: tests}"}
    key = field.split()[0]
    fields.pop(key, None)
    (audiences / "churners.yml").write_text(
        "name: churners\nchannel: sms\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + yaml_text
        + "rule: {tag: lifecycle_stage, in: [churned]}\n")

    with pytest.raises(ActivationError) as refused:
        generate(audiences, out)

    assert "churners.yml" in str(refused.value) and where in str(refused.value)
    assert "not dbt Jinja" in str(refused.value)
    assert "env_var" not in str(refused.value) and SECRET_VALUE not in str(refused.value)
    assert not out.exists()


def test_jinja_in_a_rule_value_is_refused(tmp_path):
    _write(tmp_path, "churners", "tag: lifecycle_stage\nin: [churned, \"{{ env_var('X') }}\"]\n")

    with pytest.raises(ActivationError, match=r"churners.yml: rule.in\[1\] holds"):
        load_audiences(tmp_path)


def test_braces_that_open_no_jinja_are_data_and_render_unchanged(tmp_path, monkeypatch):
    """What dbt does with the generated files: render them as Jinja, env_var included. A value
    with lone braces survives it literally, and the secret appears nowhere."""
    import jinja2

    monkeypatch.setenv("ACTIVATE__FEEDBACK__SECRET", SECRET_VALUE)
    audiences, out = tmp_path / "audiences", tmp_path / "out"
    audiences.mkdir()
    _write(audiences, "churners", "tag: lifecycle_stage\nin: [churned]\n",
           description="'Spend {more} in 50% {of} cases; } { #'")
    generate(audiences, out)

    environment = jinja2.Environment()
    context = {"env_var": lambda name, default=None: os.environ.get(name, default),
               "select_audience": lambda name, condition: f"select {condition}", "doc": str}

    def rendered(value):
        # dbt renders the .sql as a template, and each string of a .yml after parsing it.
        if isinstance(value, dict):
            return {key: rendered(item) for key, item in value.items()}
        if isinstance(value, list):
            return [rendered(item) for item in value]
        return environment.from_string(value).render(**context) if isinstance(value, str) else value

    sql = rendered((out / "seg_churners.sql").read_text())
    models = rendered(yaml.safe_load((out / "_audiences__models.yml").read_text()))
    assert SECRET_VALUE not in sql + json.dumps(models)
    assert models["models"][0]["description"] == "Spend {more} in 50% {of} cases; } { #"
