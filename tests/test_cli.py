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
    assert "read 2  loaded 1  rejected 1" in result.output


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
