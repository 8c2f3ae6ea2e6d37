"""A build between a killed sync and its rerun (issue 23, part 0).

As an operator meets it: a sync is killed (SIGKILL, a real `activate sync` process) while the
service holds a batch it has processed but not acknowledged; the nightly build then suppresses
some members of that batch (an SMS complaint) and renames others; the sync is rerun. The service
is strict: it deduplicates on Idempotency-Key and answers 422 to a key that comes back with
another body (tests/webhook_server.py). The pending batch must go out again byte for byte, and
its members then count as held by the destination for the plan that follows: a mirror sync
removes the suppressed ones and updates the renamed ones, an upsert updates them, an append sync
sends nobody twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from activation.sync import holdout_score, sync_audience
from tests.conftest import AUDIENCE, make_member, sms_reachable

DESTINATION = "test_webhook"
CAMPAIGN = f"{AUDIENCE}__{DESTINATION}"
MEMBERS = range(1, 61)


def configure(destinations_file: Path, mode: str) -> None:
    config = yaml.safe_load(destinations_file.read_text())
    config["destinations"][DESTINATION].update(mode=mode, fields=["display_name"])
    destinations_file.write_text(yaml.safe_dump(config, allow_unicode=True))


def suppress(warehouse, one_ids: list[str]) -> None:
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("create schema if not exists marts")
        connection.execute(
            "create or replace table marts.dim_member_suppressions "
            "(one_id varchar, channel varchar, suppression_reason varchar)"
        )
        connection.executemany(
            "insert into marts.dim_member_suppressions values (?, 'sms', 'complaint')",
            [(one_id,) for one_id in one_ids],
        )


def holdings(receiver) -> dict[str, str]:
    """What the service holds after processing every batch in order: external_id -> name."""
    held: dict[str, str] = {}
    for batch in receiver.batches:
        for record in batch["records"]:
            if batch["operation"] == "remove":
                held.pop(record["external_id"], None)
            else:
                held[record["external_id"]] = record["display_name"]
    return held


def kill_during_second_batch(cli_env: dict, receiver) -> dict:
    """Run `activate sync` until the service has processed its second batch, then SIGKILL it
    before the answer arrives. Returns that batch as the service took it."""
    receiver.script.extend([None, "processed_then_hang"])
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("activate")), "sync", AUDIENCE, "--to", DESTINATION],
        env={**os.environ, **cli_env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert receiver.hung.wait(timeout=60), process.communicate(timeout=10)[1]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    receiver.release.set()
    assert len(receiver.batches) == 2
    return receiver.batches[1]


@pytest.mark.parametrize("mode", ["mirror", "upsert", "append"])
def test_a_rebuild_between_a_kill_and_the_rerun_resends_the_pending_batch_as_it_was(
    settings, warehouse, receiver, destinations_file, cli_env, mode
):
    configure(destinations_file, mode)
    held_batch = kill_during_second_batch(cli_env, receiver)
    held_key = receiver.headers[1]["Idempotency-Key"]
    in_batch = [record["external_id"] for record in held_batch["records"]]
    assert len(in_batch) == 10
    assert warehouse.scalar("select count(*) from activation.sync_pending_batches") >= 1

    # The nightly build: two members of the unacknowledged batch complained, two were renamed.
    suppressed, renamed = in_batch[:2], in_batch[2:4]
    suppress(warehouse, suppressed)
    members = [make_member(n) for n in MEMBERS]
    for member in members:
        if member["one_id"] in renamed:
            member["display_name"] += " (renamed)"
    warehouse.write_audience(members)

    rerun = sync_audience(settings, AUDIENCE, DESTINATION)

    # No key ever came back with another body; the held batch came back byte for byte.
    assert receiver.conflicts == 0
    assert all(len(set(digests)) == 1 for digests in receiver.bodies.values()), receiver.bodies
    assert len(receiver.bodies[held_key]) == 2
    assert rerun.status == "succeeded" and rerun.rejected == 0
    assert rerun.resent >= len(in_batch)

    treated = {
        member["one_id"] for member in members
        if sms_reachable(member) and holdout_score(CAMPAIGN, member["one_id"]) >= 0.1
    }
    eligible_now = treated - set(suppressed)
    held = holdings(receiver)
    state = {
        one_id for (one_id,) in warehouse.rows(
            "select one_id from activation.sync_state where destination_name = ?", [DESTINATION]
        )
    }
    assert warehouse.scalar("select count(*) from activation.sync_pending_batches") == 0
    if mode == "mirror":
        # Nothing ineligible is left at the destination; the renamed carry their new name.
        assert set(held) == eligible_now == state
        assert set(receiver.ids("remove")) == set(suppressed)
        assert all(held[one_id].endswith("(renamed)") for one_id in renamed)
        assert set(receiver.ids("update")) == set(renamed)
    elif mode == "upsert":
        # Upsert never removes; what it holds is up to date.
        assert set(held) == treated == state
        assert not receiver.ids("remove")
        assert all(held[one_id].endswith("(renamed)") for one_id in renamed)
        assert set(receiver.ids("update")) == set(renamed)
    else:
        # Append: each member processed once, the suppressed and renamed members of the held
        # batch included (they were sent before the build); nobody sent twice.
        assert receiver.duplicates("add") == {}
        assert set(receiver.ids("add")) == treated
        assert not receiver.ids("update") and not receiver.ids("remove")
    # Every member processed is recorded once as sent for its operation.
    ledger = warehouse.rows(
        "select one_id, operation, count(*) from activation.sync_ledger "
        "where send_status = 'sent' group by all having count(*) > 1"
    )
    assert ledger == []


def test_the_summary_says_how_many_retries_each_batch_needed(settings, warehouse, receiver, caplog):
    from activation.cli import _sync_text

    receiver.script.extend([None, 429, 500])  # batch 2 is taken at its third attempt

    with caplog.at_level("WARNING", logger="activation.destinations"):
        summary = sync_audience(settings, AUDIENCE, DESTINATION)

    assert (summary.retries, summary.batch_retries) == (2, {2: 2})
    assert summary.as_dict()["batch_retries"] == {2: 2}
    assert "retries              2  transient failures retried (batch 2: 2)" in _sync_text(summary)
    # Each retry is said as it happens, with what failed.
    said = [record.getMessage() for record in caplog.records]
    assert any("attempt 1 of 3 failed (HTTP 429)" in line for line in said), said
    assert any("attempt 2 of 3 failed (HTTP 500)" in line for line in said), said
