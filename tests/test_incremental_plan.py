"""Re-syncs that compare only the members an audience build changed (change capture) must decide
exactly what comparing every member decides. Random sequences of audience builds, rejections,
frequency caps and suppressions; after each build both plans run on the same warehouse state and
are compared record by record, then the sync runs. Real HTTP receiver on loopback."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from activation import sync as sync_module
from activation import warehouse as warehouse_module
from activation.cli import main
from activation.errors import DestinationError
from activation.settings import Settings
from activation.destinations import load_destinations
from activation.sync import SyncOptions, plan_audience, sync_audience
from activation.sync_plan import build_plan
from tests.conftest import AS_OF_DATE, AUDIENCE, AUDIENCE_DDL, PROJECT_DIR, SECRET, make_member

TABLE = f"segments.seg_{AUDIENCE}"


def rebuild(warehouse, members: list[dict], capture_id: str, *, link: bool = True) -> None:
    """Build the audience the way dbt's table materialization does and record the change capture
    as macros/activation/capture_audience_changes.sql does (that macro is run for real by
    test_the_dbt_macro_records_what_a_rebuild_changed). link=False: a build without capture."""
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(AUDIENCE_DDL.replace(f"seg_{AUDIENCE}", f"seg_{AUDIENCE}__dbt_tmp"))
        columns = list(members[0])
        connection.executemany(
            f"insert into {TABLE}__dbt_tmp ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
            [[member[column] for column in columns] for member in members],
        )
        connection.execute(f"alter table {TABLE} rename to seg_{AUDIENCE}__dbt_backup")
        connection.execute(f"alter table {TABLE}__dbt_tmp rename to seg_{AUDIENCE}")
        if link:
            compared = ", ".join(column for column in columns if column != "as_of_date")
            connection.execute(
                f"""
                insert into activation.audience_changes
                select
                    ?, ?, coalesce(built.one_id, previous.one_id),
                    case
                        when previous.one_id is null then 'added'
                        when built.one_id is null then 'removed'
                        else 'changed'
                    end,
                    built.row_id
                from (select one_id, rowid as row_id, hash({compared}) as row_hash from {TABLE}) as built
                full join (
                    select one_id, hash({compared}) as row_hash from {TABLE}__dbt_backup
                ) as previous on built.one_id = previous.one_id
                where built.row_hash is distinct from previous.row_hash
                """,
                [TABLE, capture_id],
            )
            previous = connection.execute(
                "select regexp_extract(comment, '^onedata capture (.+)$', 1) from duckdb_tables() "
                "where table_name = ?", [f"seg_{AUDIENCE}__dbt_backup"],
            ).fetchone()[0] or None
            connection.execute(
                "insert into activation.audience_captures values (?, ?, ?, 0, 0, now()::timestamp)",
                [TABLE, capture_id, previous],
            )
            connection.execute(f"comment on table {TABLE} is 'onedata capture {capture_id}'")
        connection.execute(f"drop table {TABLE}__dbt_backup")


def both_plans(settings: Settings, destination: str, campaign_id: str | None = None):
    """(compared, counts, records) of the change-capture plan and of the full comparison."""
    results = []
    for full_diff in (False, True):
        with warehouse_module.connect(settings.duckdb_path, read_only=True) as connection:
            destinations = load_destinations(settings.destinations_file)
            request, _ = sync_module._request(
                connection, destinations, destinations.build(destination), AUDIENCE,
                SyncOptions(campaign_id=campaign_id),
            )
            counts = build_plan(connection, request, full_diff=full_diff)
            records = connection.execute("select * from _sync_diff order by one_id").fetchall()
            members = connection.execute(
                "select one_id, outcome, assignment_group, variant from _sync_members "
                "where outcome not in ('ineligible', 'held_out', 'unchanged') order by one_id"
            ).fetchall()
        summary = (
            counts.audience_size, dict(counts.ineligible), counts.held_out, counts.unchanged,
            counts.capped, dict(counts.operations),
        )
        results.append((counts.compared, counts.full_diff_reason, summary, records, members))
    return results


@pytest.fixture
def configured(settings, receiver, tmp_path, monkeypatch):
    def make(mode: str, caps: list | None = None) -> Settings:
        base = {
            "type": "webhook", "channel": "sms", "url": receiver.url, "batch_size": 9,
            "holdout_share": 0.2, "max_retries": 1, "backoff_base_seconds": 0.01,
            "fields": ["member_level", "lifecycle_stage"],
        }
        path = tmp_path / "incremental.yml"
        path.write_text(yaml.safe_dump({
            "destinations": {"main": {**base, "mode": mode}, "other": {**base, "mode": "append"}},
            "frequency_caps": caps or [],
        }))
        for name in ("main", "other"):
            monkeypatch.setenv(f"ACTIVATE__{name.upper()}__SECRET", SECRET)
        return Settings(duckdb_path=settings.duckdb_path, raw_dir=settings.raw_dir, destinations_file=path)
    return make


# What happens between two builds besides the members changing; after each, both plans are compared.
EVENTS = (
    "none", "other_campaign", "none", "reject", "none", "time_passes", "reject", "suppress",
    "none", "uncaptured", "none", "other_campaign", "none", "time_passes", "none",
)


def mutate(rng: random.Random, members: dict[int, dict], next_number: list[int]) -> None:
    for number in rng.sample(sorted(members), k=min(len(members), rng.randint(0, 8))):
        change = rng.choice(["level", "stage", "consent", "phone", "leave", "unchanged"])
        member = members[number]
        if change == "level":
            member["member_level"] = rng.choice(["normal", "silver", "gold", "platinum", None])
        elif change == "stage":
            member["lifecycle_stage"] = rng.choice(["new", "growth", "dormant"])
        elif change == "consent":
            member["is_sms_consented"] = rng.choice([True, False, None])
        elif change == "phone":
            member["phone"] = rng.choice([None, "", f"139{number:08d}"])
        elif change == "leave":
            del members[number]
    for _ in range(rng.randint(0, 6)):
        members[next_number[0]] = make_member(next_number[0])
        next_number[0] += 1


@pytest.mark.parametrize("mode", ["upsert", "mirror"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_comparing_only_the_changed_members_decides_what_comparing_all_decides(
    warehouse, receiver, configured, mode, seed
):
    rng = random.Random(seed)
    settings = configured(mode, caps=[{"channel": "sms", "max_sends": 1, "window_days": 30}])
    members = {number: make_member(number) for number in range(1, 61)}
    next_number = [61]
    rebuild(warehouse, list(members.values()), "build-0")
    first = sync_audience(settings, AUDIENCE, "main")
    assert first.compared == "all" and first.full_diff_reason == "no completed sync to compare with"

    used_changed, previous_event, capped, rejected = 0, None, 0, 0
    for step, event in enumerate(EVENTS, start=1):
        mutate(rng, members, next_number)
        if event == "suppress":
            with duckdb.connect(str(warehouse.path)) as connection:
                connection.execute("create schema if not exists marts")
                connection.execute(
                    "create or replace table marts.dim_member_suppressions "
                    "(one_id varchar, channel varchar, suppression_reason varchar)"
                )
                connection.execute(
                    "insert into marts.dim_member_suppressions values (?, 'sms', 'complaint')",
                    [f"p{rng.choice(sorted(members)):05d}"],
                )
        if event == "time_passes":
            # The cap's window moves on: the other campaigns' sends fall out of it.
            with duckdb.connect(str(warehouse.path)) as connection:
                connection.execute(
                    "update activation.sync_ledger set recorded_at = recorded_at - interval 40 day "
                    "where campaign_id like 'other%'"
                )
        rebuild(warehouse, list(members.values()), f"build-{step}", link=event != "uncaptured")
        if event == "other_campaign":
            # Sends on the same channel count against the cap: members new to `main` are capped.
            sync_audience(settings, AUDIENCE, "other", SyncOptions(campaign_id=f"other_{step}"))

        changed, full = both_plans(settings, "main")
        assert full[0] == "all"
        assert changed[2:] == full[2:], f"step {step} ({event}): {changed[1]}"
        if changed[0] == "changed":
            used_changed += 1
        if event in ("uncaptured", "suppress") or previous_event == "uncaptured":
            # Unknown changes (this build or the one before has no capture), other suppressions.
            assert changed[0] == "all", changed[1]
        previous_event = event
        capped += full[2][4]

        to_send = [record[1] for record in full[3] if record[0] in ("add", "update")]
        receiver.reject = (
            {one_id: "invalid mobile" for one_id in rng.sample(to_send, k=min(3, len(to_send)))}
            if event == "reject" else {}
        )
        rejected += sync_audience(settings, AUDIENCE, "main").rejected
        receiver.reject = {}
    # The script reached what it is meant to exercise.
    assert used_changed >= 6 and capped > 0 and rejected > 0


def test_a_baseline_is_not_reused_after_another_run_or_a_configuration_change(
    warehouse, receiver, configured
):
    settings = configured("upsert")
    members = [make_member(number) for number in range(1, 61)]
    rebuild(warehouse, members, "build-0")
    sync_audience(settings, AUDIENCE, "main")
    rebuild(warehouse, members[:-3], "build-1")
    assert plan_audience(settings, AUDIENCE, "main").counts.compared == "changed"

    # A run of another campaign on the same audience and destination.
    sync_audience(settings, AUDIENCE, "main", SyncOptions(campaign_id="spring"))
    report = plan_audience(settings, AUDIENCE, "main")
    assert (report.counts.compared, report.counts.full_diff_reason) == (
        "all", "the configuration, campaign or suppressions changed"
    )
    sync_audience(settings, AUDIENCE, "main")
    assert plan_audience(settings, AUDIENCE, "main").counts.compared == "changed"

    # A run that failed half-way: what the destination holds may have changed.
    rebuild(warehouse, members + [make_member(number) for number in range(61, 71)], "build-2")
    receiver.inject(500, 500)
    with pytest.raises(DestinationError):
        sync_audience(settings, AUDIENCE, "main")
    report = plan_audience(settings, AUDIENCE, "main")
    assert (report.counts.compared, report.counts.full_diff_reason) == (
        "all", "another sync ran since the last completed one"
    )
    sync_audience(settings, AUDIENCE, "main")
    assert plan_audience(settings, AUDIENCE, "main").counts.compared == "changed"
    other_holdout = plan_audience(settings, AUDIENCE, "main", SyncOptions(holdout_share=0.3)).counts
    assert other_holdout.full_diff_reason == "the configuration, campaign or suppressions changed"
    forced = plan_audience(settings, AUDIENCE, "main", SyncOptions(full_diff=True)).counts
    assert (forced.compared, forced.full_diff_reason) == ("all", "--full-diff")


def test_a_run_whose_last_answer_is_not_recorded_keeps_the_last_completed_baseline(
    warehouse, receiver, configured, monkeypatch
):
    """The outcomes a run keeps for the next sync are written while the writer commits the last
    answers; if that commit fails, none of them may stay, and the next sync compares everyone."""
    settings = configured("mirror")
    members = [make_member(number) for number in range(1, 61)]
    rebuild(warehouse, members, "build-0")
    completed = sync_audience(settings, AUDIENCE, "main")

    def kept() -> tuple:
        with duckdb.connect(str(warehouse.path)) as connection:
            return (
                connection.execute("select sync_run_id, capture_id from activation.sync_baselines").fetchall(),
                connection.execute(
                    "select one_id, outcome from activation.sync_outcomes order by one_id"
                ).fetchall(),
            )

    before = kept()
    assert before[0] == [(completed.run_id, "build-0")] and before[1]
    for number in (3, 5, 7, 11, 13, 17):
        members[number]["member_level"] = "platinum"
    members[1]["is_sms_consented"] = False  # now ineligible: a kept outcome that would change
    rebuild(warehouse, members[:-4], "build-1")
    operations = plan_audience(settings, AUDIENCE, "main").counts.operations
    last_batch = sum(-(-count // 9) for count in operations.values())  # batches of 9
    real_commit = sync_module.state.commit_batch

    def last_answer_lost(connection, run, batch, **recording):
        if batch.batch_number == last_batch:
            raise duckdb.IOException("disk full")
        return real_commit(connection, run, batch, **recording)

    monkeypatch.setattr(sync_module.state, "commit_batch", last_answer_lost)
    # Five of the thirty-odd members held are removed: over the removal guardrail, on purpose.
    with pytest.raises(duckdb.IOException):
        sync_audience(settings, AUDIENCE, "main", SyncOptions(allow_removals=True))
    monkeypatch.setattr(sync_module.state, "commit_batch", real_commit)

    assert kept() == before
    with duckdb.connect(str(warehouse.path)) as connection:
        assert connection.execute(
            "select run_status from activation.sync_runs order by started_at desc limit 1"
        ).fetchone() == ("failed",)
    report = plan_audience(settings, AUDIENCE, "main")
    assert (report.counts.compared, report.counts.full_diff_reason) == (
        "all", "another sync ran since the last completed one"
    )
    changed, full = both_plans(settings, "main")
    assert changed[2:] == full[2:]
    resumed = sync_audience(settings, AUDIENCE, "main", SyncOptions(allow_removals=True))
    assert resumed.status == "succeeded"
    assert kept()[0] == [(resumed.run_id, "build-1")]


def test_captured_rows_gone_or_moved_mean_comparing_everyone(warehouse, receiver, configured):
    """A sync reads the captured members' rows by their place in the build. When an audience
    table changed outside dbt after its capture no longer has a captured member's row where the
    capture found it (deleted; or moved, when DuckDB compacts deleted rows), the sync must not
    hand over another row or none: it notices and compares everyone."""
    settings = configured("mirror")
    members = [make_member(number) for number in range(1, 61)]
    rebuild(warehouse, members, "build-0")
    sync_audience(settings, AUDIENCE, "main")
    members[9]["member_level"] = "platinum"
    members[49]["member_level"] = "platinum"
    rebuild(warehouse, members, "build-1")
    assert plan_audience(settings, AUDIENCE, "main").counts.compared == "changed"

    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"delete from {TABLE} where one_id = 'p00010'")
    changed, full = both_plans(settings, "main")
    assert changed[:2] == ("all", "the audience table was changed after its build was captured")
    assert changed[2:] == full[2:]


def test_captures_from_before_row_locations_are_still_used_on_one_id(warehouse, receiver, configured):
    """Changes captured before audience_changes located rows (change_type and row_id null) are
    looked up on one_id; a warehouse whose table lacks those columns (dbt build not yet run
    since the upgrade) compares everyone."""
    settings = configured("mirror")
    members = [make_member(number) for number in range(1, 61)]
    rebuild(warehouse, members, "build-0")
    sync_audience(settings, AUDIENCE, "main")
    members[9]["member_level"] = "platinum"
    rebuild(warehouse, members[:-2] + [make_member(61)], "build-1")
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("update activation.audience_changes set change_type = null, row_id = null")
    changed, full = both_plans(settings, "main")
    assert changed[:2] == ("changed", None) and changed[2:] == full[2:]
    assert sum(full[2][5].values()) > 0  # something to send: the comparison was not empty

    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("alter table activation.audience_changes drop column row_id")
    changed, full = both_plans(settings, "main")
    assert changed[:2] == (
        "all", "the warehouse's change capture predates row locations (run dbt build)"
    )
    assert changed[2:] == full[2:]


def test_the_dbt_macro_records_what_a_rebuild_changed(warehouse, receiver, configured, tmp_path):
    """The audience models' post-hook macro, run through dbt, on a rebuild: the members added,
    removed and changed are captured, the build is linked to the one before, and the next sync
    compares only those members and sends only what changed."""
    settings = configured("mirror")

    def build(members: list[dict] | None, capture_id: str, dbt_vars: dict | None = None) -> None:
        """Build the audience as the table materialization does (members None: the first
        build, already there), with the macro as its post-hook, then the backup dropped."""
        args = {"audience_table": TABLE, "capture_id": capture_id}
        if members is not None:
            with duckdb.connect(str(warehouse.path)) as connection:
                connection.execute(f"alter table {TABLE} rename to seg_{AUDIENCE}__dbt_backup")
            warehouse.write_audience(members)
            args["previous_table"] = f"{TABLE}__dbt_backup"
        completed = subprocess.run(
            [
                str(Path(sys.executable).with_name("dbt")),
                "run-operation", "record_audience_changes", "--args", yaml.safe_dump(args),
                "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
                "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
                "--vars", yaml.safe_dump(dbt_vars or {}),
            ],
            env={**os.environ, "ONEDATA_DUCKDB_PATH": str(warehouse.path)},
            capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        with duckdb.connect(str(warehouse.path)) as connection:
            connection.execute(f"drop table if exists {TABLE}__dbt_backup")

    build(None, "first")
    sync_audience(settings, AUDIENCE, "main")
    # The next day's build: as_of_date moves on every row, which is not a change to send.
    next_day = AS_OF_DATE + dt.timedelta(days=1)
    members = {number: make_member(number, as_of_date=next_day) for number in range(1, 61)}
    members[4]["member_level"] = "platinum"
    del members[8]
    members[61] = make_member(61, as_of_date=next_day)
    build(list(members.values()), "second")

    # Each change says what happened, and where the member's row is in the new build.
    assert warehouse.rows(
        f"""
        select changes.one_id, changes.change_type, built.one_id
        from activation.audience_changes as changes
        left join (select rowid as row_id, one_id from {TABLE}) as built
            on changes.row_id = built.row_id
        where changes.capture_id = 'second'
        order by 1
        """
    ) == [("p00004", "changed", "p00004"), ("p00008", "removed", None), ("p00061", "added", "p00061")]
    assert warehouse.rows(
        "select previous_capture_id, changed_count from activation.audience_captures "
        "where capture_id = 'second'"
    ) == [("first", 3)]
    changed, full = both_plans(settings, "main")
    assert changed[0] == "changed" and changed[2:] == full[2:]
    summary = sync_audience(settings, AUDIENCE, "main")
    assert summary.compared == "changed"
    assert summary.sent == sum(full[2][5].values()) > 0

    # Once every sync has read the second build, its changes are no longer needed.
    build(list(members.values()), "third")
    assert warehouse.rows(
        "select capture_id, count(*) from activation.audience_changes group by 1"
    ) == []
    assert warehouse.rows(
        "select capture_id, previous_capture_id from activation.audience_captures order by capture_number"
    ) == [("second", "first"), ("third", "second")]
    assert plan_audience(settings, AUDIENCE, "main").counts.compared == "changed"

    # Another build before the next sync: that sync still finds its chain (fourth, third, second).
    members[5]["member_level"] = "platinum"
    build(list(members.values()), "fourth")
    assert warehouse.rows("select capture_id, one_id from activation.audience_changes") == [
        ("fourth", "p00005")
    ]
    changed, full = both_plans(settings, "main")
    assert changed[0] == "changed" and changed[2:] == full[2:]

    # Keeping the last two builds only drops the third's changes, which that sync still needs.
    members[6]["member_level"] = "platinum"
    build(list(members.values()), "fifth", {"onedata__audience_captures_kept": 2})
    changed, full = both_plans(settings, "main")
    assert changed[:2] == ("all", "the changes of an audience build since the last sync were dropped")
    assert changed[2:] == full[2:]


def test_the_cli_says_what_it_compared_and_full_diff_forces_everyone(
    warehouse, receiver, configured, cli_env
):
    settings = configured("upsert")
    env = {**cli_env, "ONEDATA_DESTINATIONS": str(settings.destinations_file)}
    members = [make_member(number) for number in range(1, 61)]
    rebuild(warehouse, members, "build-0")
    runner = CliRunner()
    first = runner.invoke(main, ["sync", AUDIENCE, "--to", "main"], env=env)
    assert first.exit_code == 0, first.output
    assert "compared: every member (no completed sync to compare with)" in first.output
    rebuild(warehouse, members + [make_member(61)], "build-1")

    planned = runner.invoke(main, ["plan", AUDIENCE, "--to", "main"], env=env)
    assert "compared: only the members changed since the last sync" in planned.output
    forced = json.loads(
        runner.invoke(main, ["plan", AUDIENCE, "--to", "main", "--full-diff", "--json"], env=env).output
    )
    assert (forced["compared"], forced["full_diff_reason"]) == ("all", "--full-diff")
    synced = json.loads(runner.invoke(main, ["sync", AUDIENCE, "--to", "main", "--json"], env=env).output)
    assert synced["compared"] == "changed"
    assert synced["audience_size"] == 61
    assert (synced["added"], synced["unchanged"], synced["held_out"], synced["suppressed"]) == (
        forced["adds"], forced["unchanged"], forced["held_out"], forced["suppressed"]
    )
