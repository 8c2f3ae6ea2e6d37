"""Journeys (`activate journey list | plan | run`): touch points timed from registration, each
step an append-mode sync. Real webhook receiver on loopback; activation tables made by dbt;
a small marts.dim_members made here with registered_at."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from activation.assignment import AssignmentPlan
from activation.cli import main
from activation.errors import ActivationError
from activation.destinations import load_destinations
from activation.journeys import JOURNEYS_DIR, check_journey, find_journey, load_journey
from activation.settings import Settings
from tests.conftest import AS_OF_DATE, SECRET, make_member, sms_reachable

PEOPLE = range(1, 201)
JOURNEY = "welcome"
# (step, day, variants, holdout): a/b with a control group first, then plain steps.
STEPS = (
    ("day_2", 2, {"a": 0.5, "b": 0.5}, 0.2),
    ("day_3", 3, {"a": 0.7, "b": 0.3}, 0.0),
    ("day_7", 7, None, 0.0),
    ("day_30", 30, {"a": 1, "b": 1}, 0.1),
)


def days_registered(number: int) -> int:
    """Member pNNNNN registered number % 50 days before the as-of date: four members per day."""
    return number % 50


def campaign(step: str) -> str:
    return f"journey__{JOURNEY}__{step}"


ADDRESS_COLUMNS = ("phone", "email", "wechat_unionid", "wechat_openid", "app_device_id")


def write_members(warehouse, days_ago: dict[str, int | None]) -> None:
    """A small marts.dim_members: one_id, the channel addresses (as the real mart has them),
    registered_at `days` days before the as-of date (mid-morning UTC: the window counts calendar
    days, not 24-hour periods) and registered_date, its day on the brand's clock (UTC+8 here)."""
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("create schema if not exists marts")
        connection.execute(
            "create or replace table marts.dim_members (one_id varchar, "
            + "".join(f"{column} varchar, " for column in ADDRESS_COLUMNS)
            + "registered_at timestamp, registered_date date)"
        )
        rows = []
        for one_id, days in days_ago.items():
            member = make_member(int(one_id[1:]))
            registered_at = (
                None if days is None else dt.datetime.combine(AS_OF_DATE, dt.time(10)) - dt.timedelta(days=days)
            )
            registered_date = None if registered_at is None else (registered_at + dt.timedelta(hours=8)).date()
            rows.append([one_id, *(member[column] for column in ADDRESS_COLUMNS), registered_at, registered_date])
        connection.executemany(
            f"insert into marts.dim_members values ({', '.join('?' for _ in range(len(ADDRESS_COLUMNS) + 3))})", rows
        )


def journey_document(**overrides) -> dict:
    steps = []
    for name, day, variants, holdout in STEPS:
        step = {"name": name, "day": day, "audience": "test_audience", "to": "welcome_sms", "holdout": holdout}
        if variants:
            step["variants"] = variants
        steps.append(step)
    return {"name": JOURNEY, "description": "Welcome touch points.", "owner": "crm-team", "steps": steps,
            **overrides}


def write_journey(directory: Path, document: dict, name: str = JOURNEY) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def members(warehouse) -> dict[str, int | None]:
    """200 audience members (the fixture's 60 are too few for four windows) and their
    registration days; p00200 never registered (null registered_at)."""
    warehouse.write_audience([make_member(number) for number in PEOPLE])
    days = {f"p{number:05d}": days_registered(number) for number in PEOPLE}
    days["p00200"] = None
    write_members(warehouse, days)
    return days


@pytest.fixture
def journey_settings(settings, receiver, tmp_path, monkeypatch, members) -> Settings:
    base = {"type": "webhook", "channel": "sms", "url": receiver.url, "batch_size": 5, "holdout_share": 0.0,
            "max_retries": 2, "backoff_base_seconds": 0.01, "read_timeout_seconds": 5}
    document = {"destinations": {
        "welcome_sms": {**base, "mode": "append", "fields": ["member_level"]},
        "welcome_list": {**base, "mode": "mirror"},
    }}
    path = tmp_path / "journey_destinations.yml"
    path.write_text(yaml.safe_dump(document))
    for name in document["destinations"]:
        monkeypatch.setenv(f"ACTIVATE__{name.upper()}__SECRET", SECRET)
    write_journey(tmp_path / "journeys", journey_document())
    return Settings(duckdb_path=settings.duckdb_path, raw_dir=settings.raw_dir, destinations_file=path)


def expected(step: str, days: dict[str, int | None], catch_up: int = 3) -> set[str]:
    """Who the step sends to: registered day..day+catch_up days ago, reachable by SMS, treated."""
    name, day, variants, holdout = next(entry for entry in STEPS if entry[0] == step)
    plan = AssignmentPlan(campaign(step), holdout, variants=tuple((variants or {"default": 1}).items()))
    return {
        f"p{number:05d}" for number in PEOPLE
        if days.get(f"p{number:05d}") is not None and day <= days[f"p{number:05d}"] <= day + catch_up
        and sms_reachable(make_member(number)) and plan.assign(f"p{number:05d}")[0] == "treated"
    }


def sent_by_campaign(receiver) -> dict[str, Counter[str]]:
    """campaign_id -> how many times the receiver took each member for it."""
    sent: dict[str, Counter[str]] = defaultdict(Counter)
    for batch in receiver.batches:
        if batch["operation"] == "add":
            sent[batch["campaign_id"]].update(record["external_id"] for record in batch["records"])
    return sent


def run(journey_settings, tmp_path, *arguments) -> tuple[int, dict | str]:
    result = CliRunner().invoke(
        main,
        ["--duckdb-path", str(journey_settings.duckdb_path),
         "--destinations-file", str(journey_settings.destinations_file),
         "journey", *arguments, "--journeys-dir", str(tmp_path / "journeys")],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    output = result.output
    # stdout alone holds the JSON; retries are said on stderr.
    if "--json" in arguments and result.exit_code in (0, 1, 3) and result.stdout.lstrip().startswith("{"):
        output = json.loads(result.stdout)
    return result.exit_code, output


def steps_of(report: dict) -> dict[str, dict]:
    return {step["step"]: step for step in report["steps"]}


# Running -----------------------------------------------------------------------------------


def test_each_step_reaches_its_window_with_recorded_variants_and_a_rerun_sends_nothing(
    journey_settings, receiver, warehouse, members, tmp_path
):
    code, report = run(journey_settings, tmp_path, "run", JOURNEY, "--json")
    assert code == 0, report
    sent = sent_by_campaign(receiver)
    for name, day, variants, holdout in STEPS:
        want = expected(name, members)
        assert want, f"the test data leaves step {name} nobody to send"
        assert set(sent[campaign(name)]) == want
        assert all(day <= (members[one_id] or -1) <= day + 3 for one_id in sent[campaign(name)])
        step = steps_of(report)[name]
        assert step["status"] == "succeeded"
        assert step["registered_days"] == [day, day + 3]
        assert step["summary"]["sent"] == len(want)
    # Member p00200 (null registered_at) and anyone outside every window got nothing.
    everyone_sent = set().union(*sent.values())
    assert "p00200" not in everyone_sent
    assert all(any(d <= (members[one_id] or -1) <= d + 3 for _, d, _, _ in STEPS) for one_id in everyone_sent)

    # Variants: recorded per step as the deterministic assignment says, and both arms used.
    for name, _, variants, holdout in STEPS:
        plan = AssignmentPlan(campaign(name), holdout, variants=tuple((variants or {"default": 1}).items()))
        recorded = warehouse.rows(
            "select one_id, assignment_group, variant from activation.campaign_assignments where campaign_id = ?",
            [campaign(name)],
        )
        assert recorded and all((group, variant) == plan.assign(one_id)[:2] for one_id, group, variant in recorded)
        treated_variants = {variant for _, group, variant in recorded if group == "treated"}
        assert treated_variants == set(variants or {"default": 1})
    ledger = dict(warehouse.rows(
        "select one_id, variant from activation.sync_ledger where campaign_id = ?", [campaign("day_2")]
    ))
    assert ledger == {one_id: AssignmentPlan(campaign("day_2"), 0.2, variants=(("a", 0.5), ("b", 0.5)))
                      .assign(one_id)[1] for one_id in sent[campaign("day_2")]}
    held_out = steps_of(report)["day_2"]["summary"]["held_out"]
    assert held_out > 0

    # Run it again: nobody gets a step twice, every step skips what it sent.
    batches_before = len(receiver.batches)
    code, again = run(journey_settings, tmp_path, "run", JOURNEY, "--json")
    assert code == 0
    assert len(receiver.batches) == batches_before
    for name, *_ in STEPS:
        summary = steps_of(again)[name]["summary"]
        assert summary["sent"] == 0
        assert summary["unchanged"] == len(sent[campaign(name)])
    assert steps_of(again)["day_2"]["summary"]["held_out"] == held_out


def test_a_member_entering_a_later_window_gets_that_step_on_a_later_run(
    journey_settings, receiver, warehouse, members, tmp_path
):
    assert run(journey_settings, tmp_path, "run", JOURNEY)[0] == 0
    first = sent_by_campaign(receiver)
    # Five days pass: everyone registered five days longer ago.
    later = {one_id: None if days is None else days + 5 for one_id, days in members.items()}
    write_members(warehouse, later)
    code, text = run(journey_settings, tmp_path, "run", JOURNEY)
    assert code == 0, text
    total = sent_by_campaign(receiver)
    for name, *_ in STEPS:
        # Whoever sits in the window now and was not sent before; never anyone twice.
        assert set(total[campaign(name)]) - set(first[campaign(name)]) == expected(name, later) - set(first[campaign(name)])
        assert max(total[campaign(name)].values()) == 1
    # Members sent day 2 on the first run (2-5 days then, 7-10 now) get day 7 now.
    moved_on = set(first[campaign("day_2")]) & expected("day_7", later)
    assert moved_on and moved_on <= set(total[campaign("day_7")]) - set(first[campaign("day_7")])
    # Day 7's first-run members are past every window now: nothing new for them.
    assert not set(first[campaign("day_7")]) & (set(total[campaign("day_30")]) | set(total[campaign("day_2")]))
    assert "Journey welcome" in text and "day_7" in text


def test_dry_run_sends_and_records_nothing(journey_settings, receiver, warehouse, members, tmp_path):
    code, text = run(journey_settings, tmp_path, "run", JOURNEY, "--dry-run")
    assert code == 0, text
    assert text.startswith("DRY RUN")
    assert receiver.requests == 0
    assert warehouse.scalar("select count(*) from activation.campaign_assignments") == 0
    assert warehouse.scalar("select count(*) from activation.sync_ledger") == 0
    line = next(line for line in text.splitlines() if line.strip().startswith("day_7 "))
    # step, days, status, then sent: what would be sent, counted though nothing went out.
    assert line.split()[3] == str(len(expected("day_7", members)))


def test_rejected_records_exit_3_and_are_retried_on_the_next_run(
    journey_settings, receiver, members, tmp_path
):
    # Registered 6 days ago: in day 3's window (3-6), not day 2's (2-5), so refused by one step only.
    refused = sorted(one_id for one_id in expected("day_3", members) if members[one_id] == 6)[0]
    phone = make_member(int(refused[1:]))["phone"]
    receiver.reject(refused, f"number {phone} is on the carrier blacklist")
    code, text = run(journey_settings, tmp_path, "run", JOURNEY)
    assert code == 3, text
    assert phone not in text
    line = next(line for line in text.splitlines() if line.strip().startswith("day_3 "))
    assert line.split()[-1] == "1" and "completed_with_rejections" in line
    receiver.reject = {}
    code, report = run(journey_settings, tmp_path, "run", JOURNEY, "--json")
    assert code == 0
    assert steps_of(report)["day_3"]["summary"]["sent"] == 1
    assert sum(steps_of(report)[name]["summary"]["sent"] for name, *_ in STEPS) == 1
    assert sent_by_campaign(receiver)[campaign("day_3")][refused] == 2


def test_a_step_the_destination_cannot_take_stops_the_journey_and_says_which_steps_ran(
    journey_settings, receiver, members, tmp_path
):
    first_step_batches = -(-len(expected("day_2", members)) // 5)
    receiver.drop_after_batches = first_step_batches
    code, report = run(journey_settings, tmp_path, "run", JOURNEY, "--json")
    assert code == 1
    steps = steps_of(report)
    assert steps["day_2"]["status"] == "succeeded"
    assert steps["day_3"]["status"] == "failed" and "did not acknowledge" in steps["day_3"]["error"]
    assert [steps[name]["status"] for name in ("day_7", "day_30")] == ["not_run", "not_run"]
    assert report["failed_step"] == "day_3"
    assert set(sent_by_campaign(receiver)) == {campaign("day_2")}

    code, text = run(journey_settings, tmp_path, "run", JOURNEY)
    assert code == 1
    assert "Step day_3 failed" in text and "Steps that ran: day_2." in text

    # The service is back: the rerun finishes the journey, and day 2 sends nobody again.
    receiver.drop_after_batches = None
    code, report = run(journey_settings, tmp_path, "run", JOURNEY, "--json")
    assert code == 0
    sent = sent_by_campaign(receiver)
    assert steps_of(report)["day_2"]["summary"]["sent"] == 0
    for name, *_ in STEPS:
        assert set(sent[campaign(name)]) == expected(name, members)
        assert max(sent[campaign(name)].values()) == 1


# Planning ----------------------------------------------------------------------------------


def test_plan_shows_what_a_run_would_send_and_writes_nothing(
    journey_settings, receiver, warehouse, members, tmp_path
):
    code, plan = run(journey_settings, tmp_path, "plan", JOURNEY, "--json")
    assert code == 0, plan
    for name, day, *_ in STEPS:
        step = steps_of(plan)[name]
        assert step["adds"] == len(expected(name, members))
        assert step["campaign_id"] == campaign(name)
        assert step["audience_size"] == sum(1 for days in members.values() if days is not None and day <= days <= day + 3)
    assert warehouse.scalar("select count(*) from activation.campaign_assignments") == 0
    assert receiver.requests == 0

    code, narrow = run(journey_settings, tmp_path, "plan", JOURNEY, "--json", "--catch-up-days", "0")
    assert steps_of(narrow)["day_7"]["audience_size"] == sum(1 for days in members.values() if days == 7)
    assert steps_of(narrow)["day_7"]["adds"] == len(expected("day_7", members, catch_up=0))

    run(journey_settings, tmp_path, "run", JOURNEY)
    code, text = run(journey_settings, tmp_path, "plan", JOURNEY)
    assert code == 0 and text.startswith("Plan: journey welcome")
    line = next(line for line in text.splitlines() if line.strip().startswith("day_30 "))
    # in window, to send (0 now), sent before, ...
    values = line.split()[3:]
    assert values[1] == "0" and values[2] == str(len(expected("day_30", members)))


# Validation --------------------------------------------------------------------------------


def _steps_with(position: int, **changes) -> list[dict]:
    steps = journey_document()["steps"]
    steps[position] = {key: value for key, value in {**steps[position], **changes}.items() if value is not None}
    return steps


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (journey_document(schedule="daily"), "schedule: unknown key"),
        (journey_document(steps=_steps_with(1, template="t1")), "steps[1] (day_3).template: unknown key"),
        (journey_document(steps=_steps_with(1, audience=None)), "steps[1] (day_3).audience: missing (required)"),
        (journey_document(steps=_steps_with(0, to=None)), "steps[0] (day_2).to: missing (required)"),
        (journey_document(steps=_steps_with(2, day=3)), "steps[2] (day_7).day: must come after day 3 of step 'day_3'"),
        (journey_document(steps=_steps_with(2, day=1)), "steps[2] (day_7).day: must come after day 3 of step 'day_3' (days increase from step to step), got 1"),
        (journey_document(steps=_steps_with(2, day="7")), "steps[2] (day_7).day: must be a valid integer, got '7'"),
        (journey_document(steps=_steps_with(0, variants={"a": 1, "b": 0})), "steps[0] (day_2).variants.b: must be greater than 0, got 0"),
        (journey_document(steps=_steps_with(0, variants={"a": 1, "b": -0.5})), "variants.b: must be greater than 0, got -0.5"),
        (journey_document(steps=_steps_with(0, variants={"A/B": 1})), "steps[0] (day_2).variants.A/B: must be at most 32 lower-case letters"),
        (journey_document(steps=_steps_with(3, name="day_3")), "steps[3] (day_3).name: is used by an earlier step"),
        (journey_document(steps=_steps_with(1, holdout=1)), "steps[1] (day_3).holdout: must be less than 1, got 1"),
        (journey_document(steps=_steps_with(1, name="Day 3")), "steps[1] (Day 3).name: must be lower-case letters"),
        (journey_document(steps=[]), "steps: must have at least 1 item"),
        (journey_document(name="other"), "name: must match the file name (welcome), got 'other'"),
        (journey_document(owner=None), "owner: missing (required)"),
    ],
)
def test_a_bad_journey_file_names_the_file_and_the_step(tmp_path, document, message):
    path = write_journey(tmp_path, document)
    with pytest.raises(ActivationError) as raised:
        load_journey(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("name: broken\nsteps: [\n")
    with pytest.raises(ActivationError, match="broken.yml is not valid YAML"):
        load_journey(path)


@pytest.mark.parametrize(
    ("step_changes", "message"),
    [
        ({"to": "nowhere"}, "destination 'nowhere' is not in"),
        ({"to": "welcome_list"}, "destination 'welcome_list' is in mirror mode; a journey step needs `mode: append`"),
        ({"audience": "never_built"}, "audience 'never_built' is not built"),
    ],
)
def test_a_journey_that_cannot_run_fails_before_any_step_sends(
    journey_settings, receiver, tmp_path, step_changes, message
):
    # The last step is the broken one: a check made step by step would have sent the first three.
    write_journey(tmp_path / "journeys", journey_document(steps=_steps_with(3, **step_changes)))
    code, text = run(journey_settings, tmp_path, "run", JOURNEY)
    assert code == 1
    assert message in text and "step 'day_30'" in text and "welcome.yml" in text
    assert receiver.requests == 0


def test_a_missing_secret_or_members_mart_fails_before_sending(journey_settings, warehouse, monkeypatch, tmp_path):
    journey = find_journey(JOURNEY, tmp_path / "journeys")
    monkeypatch.delenv("ACTIVATE__WELCOME_SMS__SECRET")
    with pytest.raises(ActivationError, match="step 'day_2': Destination welcome_sms needs the secret"):
        check_journey(journey_settings, journey, load_destinations(journey_settings.destinations_file))
    monkeypatch.setenv("ACTIVATE__WELCOME_SMS__SECRET", SECRET)
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("drop table marts.dim_members")
    with pytest.raises(ActivationError, match="marts.dim_members is missing"):
        check_journey(journey_settings, journey, load_destinations(journey_settings.destinations_file))


def test_unknown_journey_lists_the_known_ones(journey_settings, tmp_path):
    code, text = run(journey_settings, tmp_path, "run", "welcom")
    assert code == 1 and "Unknown journey 'welcom'" in text and "welcome" in text


def test_the_shipped_example_is_valid():
    journey = load_journey(JOURNEYS_DIR / "new_member_welcome.yml")
    assert [step.day for step in journey.steps] == [2, 3, 7, 30]
    assert all(len(step.variants) >= 2 for step in journey.steps)
    assert all(step.campaign_id(journey.name).startswith("journey__new_member_welcome__") for step in journey.steps)


# Listing, as a real process ----------------------------------------------------------------


def test_journey_list_in_a_real_process_shows_steps_and_flags_a_broken_file(tmp_path):
    directory = tmp_path / "journeys"
    write_journey(directory, journey_document())
    write_journey(directory, journey_document(name="broken", steps=_steps_with(2, day=2)), name="broken")
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("activate")), "journey", "list"],
        env={**os.environ, "ONEDATA_JOURNEYS_DIR": str(directory)},
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 1, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("welcome  (owner crm-team, 4 steps)")
    assert any("day   7  day_7" in line and "test_audience -> welcome_sms" in line for line in lines)
    assert any(line.startswith("INVALID") and "broken.yml" in line and "(day_7)" in line for line in lines)
