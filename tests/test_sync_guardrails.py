"""Sync guardrails: a mirror sync that would remove too much sends nothing, exits with its own
code and records the refusal; `--allow-removals` or the destination's setting lets it go on;
modes that never remove are never refused. Real webhook receiver on loopback; activation tables
made by dbt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from activation.cli import EXIT_REFUSED, main
from activation.errors import ActivationError, DestinationError
from activation.sync import SyncOptions, plan_audience, sync_audience
from tests.conftest import AUDIENCE, PROJECT_DIR, make_member
from tests.test_incremental_plan import rebuild

ACTIVATE = str(Path(sys.executable).with_name("activate"))
# The fixture's audience is p00001 .. p00060.
EVERYONE = range(1, 61)


def held_ids(warehouse) -> set[str]:
    return {one_id for (one_id,) in warehouse.rows("select one_id from activation.sync_state")}


def runs(warehouse) -> list[tuple]:
    return warehouse.rows(
        "select run_status, is_dry_run, audience_count, added_count, removed_count, guardrail_message "
        "from activation.sync_runs order by started_at"
    )


def without(warehouse, one_ids: set[str]) -> None:
    """Rebuild the audience without these members."""
    warehouse.write_audience([make_member(n) for n in EVERYONE if make_member(n)["one_id"] not in one_ids])


def configure(destinations_file: Path, *, top_level: dict | None = None, **destination) -> None:
    """Change the fixture's test_webhook (a mirror destination) and the file's sync_guardrails."""
    config = yaml.safe_load(destinations_file.read_text())
    config["destinations"]["test_webhook"].update(destination)
    if top_level is not None:
        config["sync_guardrails"] = top_level
    destinations_file.write_text(yaml.safe_dump(config))


@pytest.fixture
def synced(settings, warehouse, receiver) -> set[str]:
    """A first mirror sync of the whole audience: what the destination holds after it."""
    summary = sync_audience(settings, AUDIENCE, "test_webhook")
    assert summary.status == "succeeded" and summary.added > 20
    receiver.received.clear()
    receiver.batches.clear()
    receiver.requests = 0
    return held_ids(warehouse)


def test_a_mirror_sync_over_the_removal_share_sends_nothing_and_is_recorded_refused(
    settings, warehouse, receiver, synced
):
    leavers = set(sorted(synced)[:10])
    without(warehouse, leavers)
    ledger_before = warehouse.scalar("select count(*) from activation.sync_ledger")
    assignments_before = warehouse.scalar("select count(*) from activation.campaign_assignments")

    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    share = 10 / len(synced)
    assert share > 0.10
    assert summary.status == "refused" and summary.guardrails.refused
    assert (summary.added, summary.updated, summary.removed, summary.batches) == (0, 0, 0, 0)
    assert [tripped.rule for tripped in summary.guardrails.tripped] == ["removal_share"]
    assert (summary.guardrails.held, summary.guardrails.removes) == (len(synced), 10)
    message = (
        f"removal_share: would remove 10 of the {len(synced)} members the destination holds "
        f"({share:.1%}); the limit is 10.0% (max_removal_share)"
    )
    assert summary.guardrails.message() == message
    assert receiver.requests == 0
    # Nothing but the run changed: what the destination holds, the ledger, the assignments.
    assert held_ids(warehouse) == synced
    assert warehouse.scalar("select count(*) from activation.sync_ledger") == ledger_before
    assert warehouse.scalar("select count(*) from activation.campaign_assignments") == assignments_before
    assert runs(warehouse)[-1] == ("refused", False, 50, 0, 0, message)
    assert warehouse.scalar(
        "select finished_at is not null from activation.sync_runs where sync_run_id = ?", [summary.run_id]
    )


def test_allow_removals_lets_the_same_sync_go_on_and_records_what_it_went_past(
    settings, warehouse, receiver, synced
):
    leavers = set(sorted(synced)[:10])
    without(warehouse, leavers)

    summary = sync_audience(settings, AUDIENCE, "test_webhook", SyncOptions(allow_removals=True))

    assert summary.status == "succeeded" and not summary.guardrails.refused
    assert summary.removed == 10 and set(receiver.ids("remove")) == leavers
    assert held_ids(warehouse) == synced - leavers
    status, _, audience_count, _, removed, message = runs(warehouse)[-1]
    assert (status, audience_count, removed) == ("succeeded", 50, 10)
    assert message.startswith("allowed by --allow-removals: removal_share: would remove 10 of the ")

    # Removals up to the limit (10% of what is held now) go on, and record nothing.
    at_limit = set(sorted(held_ids(warehouse))[: len(held_ids(warehouse)) // 10])
    without(warehouse, leavers | at_limit)
    assert len(at_limit) / len(synced - leavers) <= 0.10
    receiver.received.clear()
    quiet = sync_audience(settings, AUDIENCE, "test_webhook")
    assert quiet.status == "succeeded" and not quiet.guardrails.tripped
    assert set(receiver.ids("remove")) == at_limit
    assert runs(warehouse)[-1][-1] is None


def test_the_cli_exits_with_its_own_code_and_says_what_tripped_and_what_to_do(
    cli_env, warehouse, receiver, synced
):
    without(warehouse, set(sorted(synced)[:10]))
    runner = CliRunner()

    refused = runner.invoke(main, ["sync", AUDIENCE, "--to", "test_webhook"], env=cli_env)
    as_json = runner.invoke(main, ["sync", AUDIENCE, "--to", "test_webhook", "--json"], env=cli_env)

    assert refused.exit_code == EXIT_REFUSED == 4
    assert refused.output.startswith(f"REFUSED by the sync guardrails: {AUDIENCE} -> test_webhook")
    sizes = f"the destination holds {len(synced)} members; the plan removes 10; the audience has 50 (60 at"
    assert sizes in refused.output
    assert f"removal_share  would remove 10 of the {len(synced)} members" in refused.output
    assert "Check the audience build first" in refused.output and "--allow-removals" in refused.output
    assert as_json.exit_code == 4
    summary = json.loads(as_json.output)
    assert summary["status"] == "refused" and summary["guardrails"]["refused"] is True
    assert summary["guardrails"]["removes"] == 10 and summary["guardrails"]["held"] == len(synced)
    assert receiver.requests == 0
    assert [run[0] for run in runs(warehouse)] == ["succeeded", "refused", "refused"]

    allowed = runner.invoke(main, ["sync", AUDIENCE, "--to", "test_webhook", "--allow-removals"], env=cli_env)
    assert allowed.exit_code == 0, allowed.output
    assert "went on past them (--allow-removals)" in allowed.output
    assert len(receiver.ids("remove")) == 10


def test_a_refused_sync_process_exits_with_its_code_and_sends_nothing(cli_env, warehouse, receiver, synced):
    warehouse.write_audience([])

    completed = subprocess.run(
        [ACTIVATE, "sync", AUDIENCE, "--to", "test_webhook"],
        env={**os.environ, **cli_env}, capture_output=True, text=True, timeout=120,
    )

    assert completed.returncode == 4, completed.stdout + completed.stderr
    assert "empty_audience" in completed.stdout and "nothing sent" in completed.stdout
    assert receiver.requests == 0
    assert held_ids(warehouse) == synced
    assert runs(warehouse)[-1][0] == "refused"


def test_an_empty_audience_is_refused_while_the_destination_holds_members(
    settings, warehouse, receiver, destinations_file, synced
):
    # Shares of 1: only the empty audience itself can trip.
    configure(destinations_file, top_level={"max_removal_share": 1, "max_shrink_share": 1})
    warehouse.write_audience([])

    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    assert summary.status == "refused"
    assert [(t.rule, t.message) for t in summary.guardrails.tripped] == [
        ("empty_audience", f"the audience is empty while the destination holds {len(synced)} members")
    ]
    assert receiver.requests == 0 and held_ids(warehouse) == synced


def test_an_audience_shrunk_over_the_limit_is_refused(
    settings, warehouse, receiver, destinations_file, synced
):
    # Removals may go up to everything held: only the shrink can trip.
    configure(destinations_file, sync_guardrails={"max_removal_share": 1.0})

    warehouse.write_audience([make_member(n) for n in range(1, 21)])
    shrunk = sync_audience(settings, AUDIENCE, "test_webhook")

    assert shrunk.status == "refused" and receiver.requests == 0
    first_run = warehouse.scalar("select sync_run_id from activation.sync_runs order by started_at limit 1")
    assert [(t.rule, t.message) for t in shrunk.guardrails.tripped] == [(
        "audience_shrink",
        f"the audience has 20 members, 66.7% fewer than the 60 at the last completed sync (run {first_run}); "
        "the limit is 50.0% (max_shrink_share)",
    )]

    # Half is not more than half; the refused run is not the size compared with.
    warehouse.write_audience([make_member(n) for n in range(1, 31)])
    halved = sync_audience(settings, AUDIENCE, "test_webhook")
    assert halved.status == "succeeded" and not halved.guardrails.tripped
    assert halved.guardrails.last_audience_size == 60 and halved.removed > 0


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_modes_that_never_remove_are_never_refused(settings, warehouse, receiver, destinations_file, mode):
    """A journey's daily append sync often finds nobody in its window: it must go on."""
    configure(destinations_file, mode=mode)
    first = sync_audience(settings, AUDIENCE, "test_webhook")
    assert first.added > 20
    requests = receiver.requests

    warehouse.write_audience([])
    emptied = sync_audience(settings, AUDIENCE, "test_webhook")

    assert emptied.status == "succeeded"
    assert not emptied.guardrails.applies and not emptied.guardrails.tripped
    assert (emptied.sent, receiver.requests) == (0, requests)
    assert runs(warehouse)[-1][:3] == ("succeeded", False, 0)


def test_plan_shows_the_same_warning_and_fails_nothing(cli_env, warehouse, receiver, synced):
    without(warehouse, set(sorted(synced)[:10]))
    runner = CliRunner()

    text = runner.invoke(main, ["plan", AUDIENCE, "--to", "test_webhook"], env=cli_env)
    as_json = runner.invoke(main, ["plan", AUDIENCE, "--to", "test_webhook", "--json"], env=cli_env)

    assert text.exit_code == 0 and as_json.exit_code == 0
    assert "WARNING: `activate sync` would be refused now, and send nothing:" in text.output
    assert f"removal_share  would remove 10 of the {len(synced)} members" in text.output
    assert "--allow-removals" in text.output
    guardrails = json.loads(as_json.output)["guardrails"]
    assert guardrails["refused"] is True and guardrails["allowed_by"] is None
    assert [tripped["rule"] for tripped in guardrails["tripped"]] == ["removal_share"]
    assert (guardrails["removes"], guardrails["held"]) == (10, len(synced))
    assert guardrails["max_removal_share"] == 0.1
    assert len(runs(warehouse)) == 1 and receiver.requests == 0


def test_a_dry_run_reports_that_the_sync_would_be_refused(cli_env, warehouse, receiver, synced):
    warehouse.write_audience([])

    dry = CliRunner().invoke(main, ["sync", AUDIENCE, "--to", "test_webhook", "--dry-run"], env=cli_env)

    assert dry.exit_code == 4
    assert dry.output.startswith("DRY RUN: the sync would be REFUSED by the sync guardrails")
    assert "empty_audience" in dry.output and "removal_share" in dry.output
    assert receiver.requests == 0 and held_ids(warehouse) == synced
    assert runs(warehouse)[-1][:2] == ("refused", True)


def test_a_destination_setting_lets_its_syncs_go_on(
    cli_env, settings, warehouse, receiver, destinations_file, synced
):
    configure(destinations_file, sync_guardrails={"allow_removals": True})
    warehouse.write_audience([])

    plan = CliRunner().invoke(main, ["plan", AUDIENCE, "--to", "test_webhook"], env=cli_env)
    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    assert plan.exit_code == 0
    went_on = "the sync guardrails trip; the destination's allow_removals setting lets the sync go on"
    assert went_on in plan.output
    assert "would be refused" not in plan.output
    assert summary.status == "succeeded" and summary.removed == len(synced)
    assert set(receiver.ids("remove")) == synced and held_ids(warehouse) == set()
    assert runs(warehouse)[-1][-1].startswith("allowed by the destination's allow_removals setting: ")


def test_a_refused_sync_leaves_pending_batches_as_they_were(
    settings, warehouse, receiver, destinations_file, synced
):
    """For a service that cannot recognise a resent batch, a sync first settles the batches
    earlier runs left pending (as `unknown`). A refused sync must not: it changes nothing but
    the run it records."""
    configure(destinations_file, deduplicates_resends=False)
    warehouse.write_audience([make_member(n, member_level="platinum") for n in EVERYONE])
    receiver.script.extend([500, 500, 500])
    with pytest.raises(DestinationError):
        sync_audience(settings, AUDIENCE, "test_webhook")
    assert warehouse.scalar("select count(*) from activation.sync_pending_batches") == 1

    warehouse.write_audience([])
    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    assert summary.status == "refused"
    assert warehouse.scalar("select count(*) from activation.sync_pending_batches") == 1
    assert warehouse.scalar("select count(*) from activation.sync_ledger where send_status = 'unknown'") == 0
    assert held_ids(warehouse) == synced


def test_a_refused_run_does_not_stop_the_next_sync_comparing_only_what_changed(settings, warehouse, receiver):
    """A refused run sent nothing: the last completed sync is still the one to compare with."""
    members = [make_member(n) for n in EVERYONE]
    rebuild(warehouse, members, "build-0")
    sync_audience(settings, AUDIENCE, "test_webhook")
    rebuild(warehouse, members[:30], "build-1")

    refused = sync_audience(settings, AUDIENCE, "test_webhook")
    report = plan_audience(settings, AUDIENCE, "test_webhook")
    allowed = sync_audience(settings, AUDIENCE, "test_webhook", SyncOptions(allow_removals=True))

    assert refused.status == "refused" and refused.compared == "changed"
    assert (report.counts.compared, report.counts.full_diff_reason) == ("changed", None)
    assert allowed.status == "succeeded" and allowed.compared == "changed" and allowed.removed > 0


def test_a_warehouse_from_before_the_guardrails_is_migrated_by_dbt(settings, warehouse, receiver, synced):
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("alter table activation.sync_runs drop column guardrail_message")
        connection.execute("alter table activation.sync_runs drop column audience_count")

    with pytest.raises(ActivationError, match="predate this version.*sync_runs.audience_count.*run dbt build"):
        sync_audience(settings, AUDIENCE, "test_webhook")
    # The plan reads on: without the size at the last sync, the shrink cannot be measured.
    warehouse.write_audience([])
    guardrails = plan_audience(settings, AUDIENCE, "test_webhook").guardrails
    assert guardrails.last_audience_size is None
    assert {tripped.rule for tripped in guardrails.tripped} == {"removal_share", "empty_audience"}

    completed = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "run-operation", "create_activation_tables",
         "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
         "--target-path", str(warehouse.path.parent / "target"),
         "--log-path", str(warehouse.path.parent / "logs")],
        env={**os.environ, "ONEDATA_DUCKDB_PATH": str(warehouse.path)},
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert runs(warehouse) == [("succeeded", False, None, len(synced), 0, None)]
    assert sync_audience(settings, AUDIENCE, "test_webhook").status == "refused"
