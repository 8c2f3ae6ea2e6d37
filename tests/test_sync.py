"""Sync behaviour end to end: service function -> real HTTP receiver -> activation tables."""

from __future__ import annotations

import json
import os
from collections import Counter
from contextlib import contextmanager
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import yaml

from activation import warehouse as warehouse_module
from activation.destinations.webhook import WebhookDestination
from activation.errors import ActivationError, DestinationError
from activation.settings import Settings
from activation.assignment import AssignmentPlan
from activation.sync import SyncOptions, holdout_score, sync_audience
from tests.conftest import AUDIENCE, WarehouseFile, make_member, sms_reachable

CAMPAIGN = f"{AUDIENCE}__test_webhook"


def eligible_ids(numbers) -> set[str]:
    return {make_member(n)["one_id"] for n in numbers if sms_reachable(make_member(n))}


def treated_ids(numbers, campaign=CAMPAIGN, share=0.1) -> set[str]:
    return {one_id for one_id in eligible_ids(numbers) if holdout_score(campaign, one_id) >= share}


def state_ids(warehouse, destination="test_webhook") -> set[str]:
    rows = warehouse.rows(
        "select one_id from activation.sync_state where destination_name = ?", [destination]
    )
    return {one_id for (one_id,) in rows}


def test_first_sync_sends_each_consented_treated_member_once(settings, warehouse, receiver):
    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    treated = treated_ids(range(1, 61))
    held_out = eligible_ids(range(1, 61)) - treated
    assert receiver.ids("add") == {one_id: 1 for one_id in treated}
    assert (summary.added, summary.held_out, summary.suppressed, summary.rejected) == (
        len(treated), len(held_out), 60 - len(eligible_ids(range(1, 61))), 0,
    )
    assert summary.status == "succeeded"
    assert state_ids(warehouse) == treated
    assert warehouse.scalar(
        "select count(*) from activation.sync_ledger where send_status = 'sent' and operation = 'add'"
    ) == len(treated)
    assert warehouse.rows(
        "select run_status, added_count, held_out_count, is_dry_run from activation.sync_runs"
    ) == [("succeeded", len(treated), len(held_out), False)]
    # Payload = external_id + the channel address + the fields asked for, nothing else.
    records = [record for batch in receiver.batches for record in batch["records"]]
    assert {tuple(sorted(record)) for record in records} == {("external_id", "member_level", "phone")}
    assert all(len(batch["records"]) <= 10 for batch in receiver.batches)
    assert {batch["campaign_id"] for batch in receiver.batches} == {CAMPAIGN}


def test_members_without_consent_or_address_are_never_sent(settings, warehouse, receiver):
    sync_audience(settings, AUDIENCE, "test_webhook", SyncOptions(holdout_share=0))

    not_contactable = {make_member(n)["one_id"] for n in range(1, 61)} - eligible_ids(range(1, 61))
    assert not_contactable, "the fixture must contain members without consent"
    sent = {record["external_id"] for batch in receiver.batches for record in batch["records"]}
    assert sent == eligible_ids(range(1, 61))
    assert not sent & not_contactable


def test_second_sync_of_an_unchanged_audience_sends_nothing(settings, receiver):
    first = sync_audience(settings, AUDIENCE, "test_webhook")
    requests_after_first = receiver.requests

    second = sync_audience(settings, AUDIENCE, "test_webhook")

    assert receiver.requests == requests_after_first
    assert (second.added, second.updated, second.removed) == (0, 0, 0)
    assert second.unchanged == first.added


def test_only_the_difference_is_sent_after_the_audience_changes(settings, warehouse, receiver):
    sync_audience(settings, AUDIENCE, "test_webhook")
    treated = sorted(treated_ids(range(1, 61)))
    changed, dropped, revoked = treated[0], treated[1], treated[2]
    newcomers = sorted(treated_ids(range(61, 80)))[:2]
    members = [
        make_member(n)
        for n in [*range(1, 61), *(int(one_id[1:]) for one_id in newcomers)]
        if make_member(n)["one_id"] != dropped
    ]
    for member in members:
        if member["one_id"] == changed:
            member["phone"] = "13999999999"
        if member["one_id"] == revoked:
            member["is_sms_consented"] = False
    warehouse.write_audience(members)
    receiver.received.clear()

    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    assert set(receiver.ids("add")) == set(newcomers)
    assert set(receiver.ids("update")) == {changed}
    assert set(receiver.ids("remove")) == {dropped, revoked}
    assert (summary.added, summary.updated, summary.removed) == (2, 1, 2)
    assert summary.unchanged == len(treated) - 3
    assert state_ids(warehouse) == (set(treated) - {dropped, revoked}) | set(newcomers)
    removal = next(batch for batch in receiver.batches if batch["operation"] == "remove")
    assert all(set(record) == {"external_id"} for record in removal["records"])


def test_ids_holding_the_list_separator_are_recorded_as_they_are(settings, warehouse, receiver):
    """A batch's ids reach the warehouse as one string split on a control character; an id
    that holds it (one_id is free text in the audience contract) must still be recorded whole."""
    members = [make_member(n) for n in range(1, 61)]
    odd = []
    for member in members:
        odd_id = member["one_id"] + "\x1fx"
        if sms_reachable(member) and holdout_score(CAMPAIGN, odd_id) >= 0.1 and len(odd) < 2:
            member["one_id"] = odd_id
            odd.append(odd_id)
    warehouse.write_audience(members)
    sync_audience(settings, AUDIENCE, "test_webhook")
    held = state_ids(warehouse)
    assert set(odd) <= held and set(receiver.ids("add")) == held

    for member in members:
        if member["one_id"] in odd:
            member["phone"] = "13999999999"
    warehouse.write_audience(members)
    receiver.received.clear()
    summary = sync_audience(settings, AUDIENCE, "test_webhook")
    assert (summary.added, summary.updated, summary.removed) == (0, 2, 0)
    assert set(receiver.ids("update")) == set(odd)
    assert state_ids(warehouse) == held
    assert warehouse.rows(
        "select one_id, count(*) from activation.sync_state group by 1 having count(*) > 1"
    ) == []


def test_a_pending_batch_of_ids_holding_commas_is_resent_whole_under_its_key(
    settings, warehouse, receiver
):
    """A batch whose answer was never recorded is resent whole under its key, before anything
    else; its members are kept as one text value. one_id is free text: an id holding a comma
    must come back whole, or its member would be cut into a new batch under a new key (here the
    audience gained a member in between, so the batches fall differently) and carried out twice."""
    members = [make_member(n) for n in range(1, 61)]
    for member in members:
        member["one_id"] += ",x"
    warehouse.write_audience(members)
    # Batch 2 is carried out, and its answer is lost on every attempt.
    receiver.script.extend([None, "lost_answer", "lost_answer", "lost_answer"])
    with pytest.raises(DestinationError, match="answer was lost|did not acknowledge"):
        sync_audience(settings, AUDIENCE, "test_webhook")
    assert warehouse.scalar("select count(*) from activation.sync_pending_batches") == 1
    second_batch = sorted(record["external_id"] for record in receiver.batches[1]["records"])

    # A newcomer whose id sorts inside the pending batch.
    newcomer = next(
        member for member in (make_member(n) for n in range(61, 200))
        if sms_reachable(member)
        and holdout_score(CAMPAIGN, second_batch[0] + "a") >= 0.1
    )
    newcomer["one_id"] = second_batch[0] + "a"
    members.append(newcomer)
    warehouse.write_audience(members)
    replays = receiver.replays
    rerun = sync_audience(settings, AUDIENCE, "test_webhook")

    assert receiver.replays == replays + 1  # the pending batch, answered from the stored answer
    treated = {
        member["one_id"] for member in members
        if sms_reachable(member) and holdout_score(CAMPAIGN, member["one_id"]) >= 0.1
    }
    assert rerun.status == "succeeded"
    assert receiver.ids("add") == {one_id: 1 for one_id in treated}
    assert state_ids(warehouse) == treated


def test_holdout_is_deterministic_share_sized_and_per_campaign():
    one_ids = [f"m{n}" for n in range(10_000)]

    def holdout_of(campaign_id: str) -> set[str]:
        plan = AssignmentPlan(campaign_id, holdout_share=0.1)
        return {one_id for one_id in one_ids if plan.assign(one_id)[0] == "holdout"}

    spring = holdout_of("spring")
    assert spring == holdout_of("spring")
    assert 880 <= len(spring) <= 1120  # 10 % of 10,000 within four standard deviations
    assert spring != holdout_of("autumn")


def test_sql_assignment_agrees_with_python_for_holdouts_and_variants():
    plan = AssignmentPlan("spring's", 0.2, global_holdout_share=0.05,
                          variants=(("a", 1.0), ("b", 1.0), ("c", 2.0)))
    group, variant, scope = plan.sql_columns()
    with duckdb.connect() as connection:
        rows = connection.execute(
            f"select one_id, {group}, {variant}, {scope} "
            "from (select 'm' || range::varchar as one_id from range(20000))"
        ).fetchall()

    assert [tuple(row[1:]) for row in rows] == [plan.assign(row[0]) for row in rows]
    shares = Counter(row[2] or row[3] for row in rows)
    # global 5% = 1,000; campaign 20% of the rest = 3,800; a:b:c = 1:1:2 of the 15,200 treated.
    assert 800 <= shares["global"] <= 1200
    assert 3500 <= shares["campaign"] <= 4100
    assert 3500 <= shares["a"] <= 4100 and 3500 <= shares["b"] <= 4100
    assert 7200 <= shares["c"] <= 8000


def test_holdout_is_recorded_never_sent_and_never_reassigned(settings, warehouse, receiver):
    sync_audience(settings, AUDIENCE, "test_webhook", SyncOptions(holdout_share=0.3))
    first = dict(warehouse.rows(
        "select one_id, assignment_group from activation.campaign_assignments"
    ))
    held_out = {one_id for one_id, group in first.items() if group == "holdout"}
    assert set(first) == eligible_ids(range(1, 61))
    assert held_out and not held_out & set(receiver.ids("add"))

    warehouse.write_audience([make_member(n) for n in range(1, 81)])
    summary = sync_audience(settings, AUDIENCE, "test_webhook", SyncOptions(holdout_share=0.9))

    second = dict(warehouse.rows(
        "select one_id, assignment_group from activation.campaign_assignments"
    ))
    assert len(second) == warehouse.scalar(
        "select count(distinct one_id) from activation.campaign_assignments"
    )
    assert {one_id: second[one_id] for one_id in first} == first
    newcomers = eligible_ids(range(61, 81))
    assert {second[one_id] for one_id in newcomers} <= {"holdout", "treated"}
    assert summary.held_out == sum(group == "holdout" for group in second.values())
    assert not {o for o, g in second.items() if g == "holdout"} & set(receiver.ids("add"))


def test_a_new_campaign_re_decides_who_the_destination_keeps(settings, warehouse, receiver):
    # Members held for one campaign are known treated for it alone: under another campaign its
    # own holdout is drawn, and a mirror destination drops the members that fall in it. Half of
    # them here: over the removal guardrail, so the operator goes on on purpose.
    sync_audience(settings, AUDIENCE, "test_webhook", SyncOptions(campaign_id="spring", holdout_share=0.1))
    held = state_ids(warehouse)
    receiver.received.clear()

    summary = sync_audience(
        settings, AUDIENCE, "test_webhook",
        SyncOptions(campaign_id="autumn", holdout_share=0.5, allow_removals=True),
    )

    autumn_treated = treated_ids(range(1, 61), campaign="autumn", share=0.5)
    assert set(receiver.ids("remove")) == held - autumn_treated
    assert set(receiver.ids("add")) == autumn_treated - held
    assert not receiver.ids("update")
    assert summary.unchanged == len(held & autumn_treated)
    assert state_ids(warehouse) == autumn_treated
    recorded = dict(warehouse.rows(
        "select one_id, assignment_group from activation.campaign_assignments where campaign_id = 'autumn'"
    ))
    assert set(recorded) == eligible_ids(range(1, 61))


def test_a_change_to_a_field_the_destination_is_not_sent_sends_nothing(settings, warehouse, receiver):
    sync_audience(settings, AUDIENCE, "test_webhook")
    requests_after_first = receiver.requests
    # test_webhook sends phone and member_level: rfm_group and e-mail are not in its records.
    warehouse.write_audience(
        [make_member(n, rfm_group="changed", email=f"new{n}@example.com") for n in range(1, 61)]
    )

    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    assert receiver.requests == requests_after_first
    assert (summary.added, summary.updated, summary.removed) == (0, 0, 0)


def test_an_audience_repeating_a_one_id_is_refused_unless_a_primary_key_guards_it(
    settings, warehouse, receiver
):
    members = [make_member(n) for n in range(1, 11)]
    warehouse.write_audience([*members, members[0]])

    with pytest.raises(ActivationError, match="one_id must be unique"):
        sync_audience(settings, AUDIENCE, "test_webhook")
    assert receiver.requests == 0

    # dbt gives every audience a primary key on one_id (DuckDB enforces it while building), so
    # the sync trusts the key instead of counting the ids again.
    warehouse.write_audience(members)
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute(f"alter table segments.seg_{AUDIENCE} add primary key (one_id)")
        with pytest.raises(duckdb.ConstraintException):
            connection.execute(
                f"insert into segments.seg_{AUDIENCE} (one_id) values (?)", [members[0]["one_id"]]
            )
    summary = sync_audience(settings, AUDIENCE, "test_webhook")
    assert summary.added == len(treated_ids(range(1, 11)))


def test_rejected_records_are_recorded_and_retried_next_run(settings, warehouse, receiver):
    rejected_id = sorted(treated_ids(range(1, 61)))[0]
    phone = make_member(int(rejected_id[1:]))["phone"]
    receiver.reject = {rejected_id: f"invalid number {phone}"}

    first = sync_audience(settings, AUDIENCE, "test_webhook")

    assert first.rejected == 1 and first.status == "completed_with_rejections"
    assert rejected_id not in state_ids(warehouse)
    [(status, message)] = warehouse.rows(
        "select send_status, error_message from activation.sync_ledger where one_id = ?", [rejected_id]
    )
    assert status == "rejected"
    assert phone not in message and f"{phone[:3]}****{phone[-4:]}" in message

    receiver.reject = {}
    second = sync_audience(settings, AUDIENCE, "test_webhook")

    assert (second.added, second.rejected) == (1, 0)
    assert receiver.ids("add")[rejected_id] == 2
    assert set(receiver.ids("add").values()) == {1, 2}
    assert rejected_id in state_ids(warehouse)


def assert_everyone_delivered_exactly_once(receiver, warehouse):
    treated = treated_ids(range(1, 61))
    assert receiver.ids("add") == {one_id: 1 for one_id in treated}
    assert state_ids(warehouse) == treated
    assert warehouse.scalar(
        "select count(*) from activation.sync_ledger where send_status = 'sent'"
    ) == len(treated)


def test_sync_cut_off_by_a_dead_connection_resumes_without_loss_or_duplicates(
    settings, warehouse, receiver
):
    receiver.drop_after_batches = 1

    with pytest.raises(DestinationError, match="rerun the sync to resume"):
        sync_audience(settings, AUDIENCE, "test_webhook")

    assert len(state_ids(warehouse)) == 10
    assert warehouse.scalar("select run_status from activation.sync_runs") == "failed"

    receiver.drop_after_batches = None
    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    # The batch that never got through was pending: resent first as it was, its members
    # counted as held by the plan (unchanged) like those of the acknowledged batch.
    assert (summary.unchanged, summary.resent) == (20, 10)
    assert_everyone_delivered_exactly_once(receiver, warehouse)


def test_sync_stopped_by_an_exception_resumes_without_loss_or_duplicates(
    settings, warehouse, receiver, monkeypatch
):
    real_write_batch = WebhookDestination.write_batch
    calls = []

    def interrupted_on_third_batch(self, records, operation, idempotency_key):
        calls.append(operation)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_write_batch(self, records, operation, idempotency_key)

    monkeypatch.setattr(WebhookDestination, "write_batch", interrupted_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        sync_audience(settings, AUDIENCE, "test_webhook")
    assert len(state_ids(warehouse)) == 20
    monkeypatch.setattr(WebhookDestination, "write_batch", real_write_batch)

    sync_audience(settings, AUDIENCE, "test_webhook")

    assert_everyone_delivered_exactly_once(receiver, warehouse)


def test_killed_sync_process_resumes_without_loss_or_duplicates(
    settings, warehouse, receiver, cli_env
):
    receiver.script.extend([None, "hang"])
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("activate")), "sync", AUDIENCE, "--to", "test_webhook"],
        env={**os.environ, **cli_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert receiver.hung.wait(timeout=30), "the sync never reached its second batch"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    receiver.release.set()
    assert len(receiver.batches) == 1

    # The first batch is either committed (its answer was written while the second one left)
    # or still pending with its key; the hung second batch is pending.
    first_batch = {record["external_id"] for record in receiver.batches[0]["records"]}
    pending = {
        one_id
        for (one_ids,) in warehouse.rows("select one_ids from activation.sync_pending_batches")
        for one_id in json.loads(one_ids)
    }
    assert first_batch <= state_ids(warehouse) | pending
    assert len(pending - first_batch) == 10
    assert warehouse.scalar("select run_status from activation.sync_runs") == "running"
    sync_audience(settings, AUDIENCE, "test_webhook")

    assert_everyone_delivered_exactly_once(receiver, warehouse)


def test_dry_run_sends_nothing_and_writes_no_state(settings, warehouse, receiver):
    dry = sync_audience(settings, AUDIENCE, "test_webhook", SyncOptions(dry_run=True))

    assert receiver.requests == 0
    for table in ("sync_state", "sync_ledger", "campaign_assignments"):
        assert warehouse.scalar(f"select count(*) from activation.{table}") == 0, table
    assert warehouse.rows("select is_dry_run, added_count from activation.sync_runs") == [
        (True, dry.added)
    ]

    real = sync_audience(settings, AUDIENCE, "test_webhook")
    assert (real.added, real.held_out, real.suppressed) == (dry.added, dry.held_out, dry.suppressed)


def test_transient_429_and_500_are_retried_until_acknowledged(settings, warehouse, receiver):
    receiver.script.extend([429, 500])
    receiver.retry_after = "1"
    started = time.monotonic()

    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert summary.status == "succeeded"
    assert_everyone_delivered_exactly_once(receiver, warehouse)


def test_persistent_5xx_fails_the_run_after_the_retries(settings, warehouse, receiver):
    receiver.script.extend([500, 500, 500])

    with pytest.raises(DestinationError, match=r"3 attempts \(last: HTTP 500\)"):
        sync_audience(settings, AUDIENCE, "test_webhook")
    assert receiver.requests == 3
    assert state_ids(warehouse) == set()


def test_wrong_secret_stops_with_a_clear_error(settings, warehouse, receiver, monkeypatch):
    monkeypatch.setenv("ACTIVATE__TEST_WEBHOOK__SECRET", "not-the-secret")

    with pytest.raises(DestinationError, match="HTTP 401.*ACTIVATE__TEST_WEBHOOK__SECRET"):
        sync_audience(settings, AUDIENCE, "test_webhook")
    assert receiver.requests == 1
    # Nothing settled; the refused batch is pending (sent, answer not recorded).
    assert warehouse.scalar("select count(*) from activation.sync_ledger") == 0
    assert warehouse.scalar("select count(*) from activation.sync_pending_batches") == 1
    assert warehouse.scalar("select run_status from activation.sync_runs") == "failed"


def test_missing_secret_is_named_before_anything_happens(settings, warehouse, monkeypatch):
    monkeypatch.delenv("ACTIVATE__TEST_WEBHOOK__SECRET")

    with pytest.raises(ActivationError, match="ACTIVATE__TEST_WEBHOOK__SECRET"):
        sync_audience(settings, AUDIENCE, "test_webhook")
    assert warehouse.scalar("select count(*) from activation.sync_runs") == 0


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/onedata"


def test_unreachable_endpoint_fails_cleanly(settings, warehouse, destinations_file):
    config = yaml.safe_load(destinations_file.read_text())
    config["destinations"]["test_webhook"]["url"] = closed_port_url()
    destinations_file.write_text(yaml.safe_dump(config))

    with pytest.raises(DestinationError, match="did not acknowledge.*ConnectionError"):
        sync_audience(settings, AUDIENCE, "test_webhook")
    assert state_ids(warehouse) == set()
    assert warehouse.scalar("select count(*) from activation.sync_ledger") == 0

    # The same warehouse still works: a later dry run plans the full audience, the batch that
    # never got through to be resent first as it was.
    dry = sync_audience(settings, AUDIENCE, "test_webhook", SyncOptions(dry_run=True))
    assert (dry.added + dry.resent, dry.resent) == (len(treated_ids(range(1, 61))), 10)


def test_file_destination_drops_one_csv_per_operation(settings, warehouse, tmp_path):
    campaign = f"{AUDIENCE}__test_files"
    treated = sorted(treated_ids(range(1, 61), campaign))
    first = sync_audience(settings, AUDIENCE, "test_files")

    outbox = tmp_path / "outbox" / AUDIENCE
    [added_file] = outbox.iterdir()
    assert added_file.name == f"{first.run_id}-add-00001.csv"
    lines = added_file.read_text().splitlines()
    assert lines[0] == "external_id,phone"
    assert [line.split(",")[0] for line in lines[1:]] == treated

    leaver = treated[0]
    warehouse.write_audience(
        [make_member(n) for n in range(1, 61) if make_member(n)["one_id"] != leaver]
    )
    second = sync_audience(settings, AUDIENCE, "test_files")

    assert (second.added, second.removed) == (0, 1)
    assert sorted(path.name for path in outbox.iterdir()) == sorted(
        [added_file.name, f"{second.run_id}-remove-00001.csv"]
    )
    removal = (outbox / f"{second.run_id}-remove-00001.csv").read_text().splitlines()
    assert removal == ["external_id", leaver]


def test_the_sync_time_is_every_phase_the_checkpoint_at_close_included(
    settings, warehouse, receiver, monkeypatch
):
    """A checkpoint slow to close the warehouse is in `seconds` and in its own phase."""
    connect = warehouse_module.connect

    @contextmanager
    def slow_to_close(path, *, read_only):
        with connect(path, read_only=read_only) as connection:
            yield connection
            time.sleep(0.3)

    monkeypatch.setattr(warehouse_module, "connect", slow_to_close)
    summary = sync_audience(settings, AUDIENCE, "test_webhook")

    assert summary.added > 0
    assert list(summary.phase_seconds) == ["plan", "send", "close"]
    assert summary.phase_seconds["close"] >= 0.3
    assert min(summary.phase_seconds.values()) > 0
    assert summary.seconds == pytest.approx(sum(summary.phase_seconds.values()), abs=0.003)


def test_unknown_names_and_missing_tables_are_clear_errors(settings, warehouse, tmp_path):
    with pytest.raises(ActivationError, match="Unknown audience 'nope'.*test_audience"):
        sync_audience(settings, "nope", "test_webhook")
    with pytest.raises(ActivationError, match="Unknown destination 'nope'.*test_webhook"):
        sync_audience(settings, AUDIENCE, "nope")
    assert sync_audience(settings, f"seg_{AUDIENCE}", "test_files", SyncOptions(dry_run=True)).audience == AUDIENCE


    without_tables = WarehouseFile(tmp_path / "without_activation_tables.duckdb")
    without_tables.write_audience([make_member(1)])
    bare_settings = Settings(
        duckdb_path=without_tables.path, destinations_file=settings.destinations_file
    )
    with pytest.raises(ActivationError, match="run dbt build first"):
        sync_audience(bare_settings, AUDIENCE, "test_files")

    off_contract = tmp_path / "off_contract.duckdb"
    with duckdb.connect(str(off_contract)) as connection:
        connection.execute("create schema segments")
        connection.execute(f"create table segments.seg_{AUDIENCE} as select 'p1' as one_id")
    with pytest.raises(ActivationError, match="missing columns: audience_name"):
        sync_audience(
            Settings(duckdb_path=off_contract, destinations_file=settings.destinations_file),
            AUDIENCE,
            "test_files",
        )
