"""The click layer, through CliRunner and as a real `activate` subprocess."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from activation.cli import main
from tests.conftest import AUDIENCE, SECRET, make_member

ACTIVATE = str(Path(sys.executable).with_name("activate"))


@pytest.fixture
def run(cli_env):
    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), env=cli_env, catch_exceptions=False)

    return invoke


def test_audiences_lists_sizes(run):
    result = run("audiences")

    assert result.exit_code == 0
    assert AUDIENCE in result.output and " 60 " in result.output


def test_preview_never_prints_raw_pii(run):
    result = run("preview", AUDIENCE, "--limit", "5")

    assert result.exit_code == 0
    assert "138****0001" in result.output and "lifecycle_stage:" in result.output
    for number in range(1, 61):
        member = make_member(number)
        assert member["email"] not in result.output
        assert not member["phone"] or member["phone"] not in result.output


def test_sync_prints_a_summary_and_json(run, receiver):
    dry = run("sync", AUDIENCE, "--to", "test_webhook", "--dry-run")
    assert dry.exit_code == 0 and dry.output.startswith("DRY RUN (nothing sent")
    assert re.search(r"time: plan \d+\.\d\d s, send \d+\.\d\d s, close \d+\.\d\d s", dry.output)
    assert receiver.requests == 0

    real = run("sync", AUDIENCE, "--to", "test_webhook", "--json", "--campaign", "autumn")
    summary = json.loads(real.output)
    assert real.exit_code == 0
    assert summary["campaign_id"] == "autumn" and summary["dry_run"] is False
    assert summary["added"] == len(receiver.ids("add")) > 0
    assert set(summary["phase_seconds"]) == {"plan", "send", "close"}


def test_sync_with_rejections_exits_non_zero(run, receiver):
    receiver.reject = {"p00001": "blocked"}

    result = run("sync", AUDIENCE, "--to", "test_webhook", "--holdout", "0")

    assert result.exit_code == 3
    assert re.search(r"rejected +1 ", result.output) and "1 x blocked" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "nope", "--to", "test_webhook"], "Unknown audience 'nope'"),
        (["sync", AUDIENCE, "--to", "nope"], "Unknown destination 'nope'"),
        (["preview", "nope"], "Available audiences: test_audience"),
        (["--duckdb-path", "/nonexistent/x.duckdb", "audiences"], "run dbt build first"),
    ],
)
def test_mistakes_exit_non_zero_with_a_clear_message(cli_env, args, message):
    result = CliRunner().invoke(main, args, env=cli_env)

    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("variants", "message"), [
    ("a=nan", "must be above 0 and at most 1; got nan"),
    ("a=inf", "must be above 0 and at most 1; got inf"),
    ("a=-0.5,b=1.5", "must be above 0 and at most 1; got -0.5"),
    ("a=0.5,b=0.6", "add up to 1.1, not 1"),
    ("a=0.3,b=0.3", "add up to 0.6, not 1"),
    ("a=0.5,a=0.5", "variant a is named twice"),
    ("a=half,b=0.5", "is not a number: 'half'"),
    ("A=0.5,b=0.5", "variant name 'A' must be"),
    ("a=0.5,", "variant name '' must be"),
])
@pytest.mark.parametrize("command", ["plan", "sync"])
def test_bad_variants_are_a_usage_error_not_a_traceback(cli_env, receiver, command, variants, message):
    result = CliRunner().invoke(main, [command, AUDIENCE, "--to", "test_webhook", "--variants", variants],
                                env=cli_env)

    assert result.exit_code == 2, result.output
    assert "Invalid value for '--variants'" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert receiver.requests == 0


def test_good_variants_are_taken(run):
    result = run("plan", AUDIENCE, "--to", "test_webhook", "--variants", "a=0.25, b=0.75", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["adds"] > 0


def test_destinations_shows_secret_status_never_the_value(run):
    result = run("destinations")

    assert "test_webhook  type=webhook  channel=sms" in result.output
    assert "ACTIVATE__TEST_WEBHOOK__SECRET: set" in result.output
    assert SECRET not in result.output


def test_feedback_load_prints_counts(run, tmp_path):
    source = tmp_path / "report.csv"
    source.write_text(
        "campaign_id,one_id,event_type,occurred_at\n"
        "c1,p00001,clicked,2026-10-01 08:00:00\n"
        "c1,p00002,exploded,2026-10-01 08:00:00\n"
    )

    result = run("feedback", "load", str(source), "--destination", "test_webhook")

    assert result.exit_code == 0
    assert "read 2  loaded 1  already landed 0  rejected 1" in result.output


def test_demo_data_calls_the_generator(run, monkeypatch, tmp_path):
    calls = []

    def generate(raw_dir, truth_dir, people, seed, end_date, file_format, progress):
        calls.append((raw_dir, truth_dir, people, seed, end_date.isoformat(), file_format))
        progress(3)
        return {"orders": 12, "crm_members": 3}

    monkeypatch.setitem(sys.modules, "activation.demo_data", types.SimpleNamespace(generate=generate))

    result = run("demo-data", "--people", "3", "--seed", "1", "--out", str(tmp_path / "raw"),
                 "--format", "csv")

    assert result.exit_code == 0
    assert calls == [(tmp_path / "raw", Path("data/truth"), 3, 1, "2026-10-31", "csv")]
    assert "orders" in result.output and "12" in result.output
    assert "3 people written" in result.output


def test_real_subprocess(cli_env, receiver):
    env = {**os.environ, **cli_env}

    listed = subprocess.run([ACTIVATE, "audiences"], env=env, capture_output=True, text=True)
    synced = subprocess.run([ACTIVATE, "sync", AUDIENCE, "--to", "test_webhook", "--json"],
                            env=env, capture_output=True, text=True)
    unknown = subprocess.run([sys.executable, "-m", "activation", "sync", "nope", "--to", "test_webhook"],
                             env=env, capture_output=True, text=True)

    assert listed.returncode == 0 and AUDIENCE in listed.stdout
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["added"] == sum(receiver.ids("add").values()) > 0
    assert unknown.returncode == 1 and "Unknown audience 'nope'" in unknown.stderr


# Small things a user hit (issue 23, part A 7) -----------------------------------------------


def test_audiences_preview_explain_and_destinations_print_json(run, warehouse):
    audiences = json.loads(run("audiences", "--json").output)
    preview = json.loads(run("preview", AUDIENCE, "--limit", "3", "--json").output)
    destinations = json.loads(run("destinations", "--json").output)

    assert [entry["name"] for entry in audiences] == [AUDIENCE] and audiences[0]["size"] == 60
    assert preview["size"] == 60 and len(preview["sample"]) == 3
    assert "138****0001" in json.dumps(preview) and make_member(1)["phone"] not in json.dumps(preview)
    secrets = {entry["name"]: entry["secrets"] for entry in destinations}
    assert secrets == {"test_webhook": {"ACTIVATE__TEST_WEBHOOK__SECRET": True}, "test_files": {}}


def test_explain_prints_json(run, warehouse, monkeypatch):
    from activation import explain as explain_module

    person = explain_module.Person(one_id="od_1", records=["crm:m1"], shared_identifiers={}, links=[], history=[])
    monkeypatch.setattr(explain_module, "explain_person", lambda settings, first: person)

    result = run("explain", "od_1", "--json")

    assert result.exit_code == 0 and json.loads(result.output)["one_id"] == "od_1"


def test_a_dot_env_file_in_the_working_directory_is_read(tmp_path, cli_env, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {key: value for key, value in cli_env.items() if key != "ACTIVATE__TEST_WEBHOOK__SECRET"}
    monkeypatch.delenv("ACTIVATE__TEST_WEBHOOK__SECRET", raising=False)
    (tmp_path / ".env").write_text("ACTIVATE__TEST_WEBHOOK__SECRET=from-dot-env\n")

    listed = CliRunner().invoke(main, ["destinations"], env=env)

    assert "ACTIVATE__TEST_WEBHOOK__SECRET: set" in listed.output
    assert "from-dot-env" not in listed.output


def test_each_retry_is_said_on_stderr_as_it_happens(run, receiver):
    receiver.script.extend([503, 503])

    result = run("sync", AUDIENCE, "--to", "test_webhook", "--json")

    assert result.exit_code == 0
    assert "Destination test_webhook: attempt 1 of 3 failed (HTTP 503); retrying in" in result.stderr
    assert "attempt 2 of 3 failed (HTTP 503)" in result.stderr
    summary = json.loads(result.stdout)
    assert summary["retries"] == 2 and summary["batch_retries"] == {"1": 2}


def test_sync_and_plan_default_to_the_destination_the_audience_file_names(run, receiver, tmp_path, monkeypatch):
    from activation import audience_code

    monkeypatch.setattr(audience_code, "AUDIENCES_DIR", tmp_path)
    (tmp_path / f"{AUDIENCE}.yml").write_text(
        f"name: {AUDIENCE}\ndescription: tests\nowner: tests\nchannel: sms\ndestination: test_webhook\n"
        "rule: {tag: is_loyalty_member, is: true}\n"
    )

    planned = run("plan", AUDIENCE, "--json")
    synced = run("sync", AUDIENCE, "--json")

    assert planned.exit_code == 0 and json.loads(planned.output)["destination"] == "test_webhook"
    assert synced.exit_code == 0 and json.loads(synced.stdout)["destination"] == "test_webhook"
    (tmp_path / f"{AUDIENCE}.yml").write_text(
        f"name: {AUDIENCE}\ndescription: tests\nowner: tests\nchannel: sms\nrule: {{tag: x, is: true}}\n"
    )
    undeclared = CliRunner().invoke(main, ["plan", AUDIENCE], env={})
    assert undeclared.exit_code == 1 and "names no destination: add `destination:` or pass --to" in undeclared.output


def test_tag_coverage_counts_a_boolean_tag_only_where_it_is_true(tmp_path):
    import duckdb

    from activation.settings import Settings
    from activation.tags import list_tags

    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema tags")
        connection.execute(
            "create table tags.tag_catalogue as select * from (values "
            "('is_loyalty_member', 'membership', 'boolean', null, 'member', 'crm', 'daily', 1), "
            "('lifecycle_stage', 'lifecycle', 'category', 'new,growth', 'stage', 'crm', 'daily', 2)) "
            "as t(tag_name, tag_family, value_type, allowed_values, tag_description, tag_owner, "
            "refresh_cadence, catalogue_order)"
        )
        connection.execute(
            "create table tags.member_tags as select * from (values "
            "('p1', 'is_loyalty_member', 'true', date '2026-10-31'), "
            "('p2', 'is_loyalty_member', 'false', date '2026-10-31'), "
            "('p3', 'is_loyalty_member', 'false', date '2026-10-31'), "
            "('p1', 'lifecycle_stage', 'new', date '2026-10-31'), "
            "('p2', 'lifecycle_stage', 'growth', date '2026-10-31')) "
            "as t(one_id, tag_name, tag_value, as_of_date)"
        )

    counts = {tag.name: tag.member_count for tag in list_tags(Settings(duckdb_path=path))}

    assert counts == {"is_loyalty_member": 1, "lifecycle_stage": 2}
