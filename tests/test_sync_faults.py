"""The fault test: 100,000 members synced as a real `activate sync` process through a webhook
that throttles (429, Retry-After: 0), fails (500), drops connections, loses answers (the batch
is processed, the acknowledgement never arrives) and answers slowly, with the process killed
(SIGKILL) half-way while the service holds a batch it has processed but not yet acknowledged.
Reruns must converge: every treated member processed by the service exactly once, recorded
once in the ledger, and nobody else ever received.

The service side is tests/webhook_server.py's WebhookReceiver: it dedupes on the
Idempotency-Key header the way an idempotent API does (the answer to a processed key is
replayed, the batch is not processed again), which is what makes a resent batch harmless.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import yaml

from activation.state import unpack_records
from activation.sync import holdout_score
from tests.conftest import AS_OF_DATE, AUDIENCE, AUDIENCE_DDL, PROJECT_DIR, SECRET, WarehouseFile
from tests.webhook_server import WebhookReceiver

DESTINATION = "fault_webhook"
CAMPAIGN = f"{AUDIENCE}__{DESTINATION}"
MEMBERS = 100_000
BATCH_SIZE = 1_000
HOLDOUT_SHARE = 0.1
# At most this many runs after the killed one; each run survives ~25 faults in a row per batch.
MAX_RERUNS = 3
RUN_TIMEOUT_SECONDS = 180
FAULT_KINDS = ("throttle", "server_error", "drop", "lost_answer", "slow")

# One statement builds the whole audience. Known ineligible shares, checked in this order by
# the sync plan: no phone (every 40th from 7) or a blank one (every 40th from 9) -> no_address;
# SMS consent null (every 25th from 3) or false (every 10th) -> no_consent.
AUDIENCE_SQL = f"""
insert into segments.seg_{AUDIENCE} (
    one_id, audience_name, display_name, phone, email, wechat_unionid, wechat_openid,
    app_device_id, member_level, lifecycle_stage, rfm_group, is_sms_consented,
    is_email_consented, is_wecom_consented, is_wechat_consented, is_app_push_consented,
    is_ad_platform_consented, as_of_date
)
select
    'p' || lpad(n::varchar, 6, '0'),
    '{AUDIENCE}',
    '会员' || n::varchar,
    case n % 40 when 7 then null when 9 then '  ' else '138' || lpad(n::varchar, 8, '0') end,
    'user' || n::varchar || '@example.com',
    'union' || n::varchar,
    'wx_app:open' || n::varchar,
    'device' || n::varchar,
    ['normal', 'silver', 'gold', 'platinum'][n % 4 + 1],
    ['new', 'growth', 'mature', 'dormant'][n % 4 + 1],
    ['important_value', 'general_keep'][n % 2 + 1],
    case when n % 25 = 3 then null else n % 10 <> 0 end,
    true, true, true, true, true,
    date '{AS_OF_DATE.isoformat()}'
from range(1, {MEMBERS + 1}) as numbers(n)
"""


def one_id(number: int) -> str:
    return f"p{number:06d}"


def ineligible_reason(number: int) -> str | None:
    """What the sync plan must decide for member `number`, mirrored from AUDIENCE_SQL."""
    if number % 40 in (7, 9):
        return "no_address"
    if number % 25 == 3 or number % 10 == 0:
        return "no_consent"
    return None


class AnswerHeldAtBatch(WebhookReceiver):
    """Holds the answer to the `hold_at`-th processed batch until `release` is set: the service
    has taken the batch, the sync is still waiting for the acknowledgement. The test kills the
    sync at that moment, so the batch is processed but never committed to the ledger."""

    def __init__(self, secret: str, hold_at: int) -> None:
        super().__init__(secret)
        self.hold_at = hold_at
        self.holding = threading.Event()
        self.held_key: str | None = None

    def _process(self, body, headers, key):
        status, answer, replayed = super()._process(body, headers, key)
        # The client sends one request at a time (slow answers come before its read timeout),
        # so the batch count cannot move between processing and this check.
        if not replayed and len(self.batches) == self.hold_at and not self.holding.is_set():
            self.held_key = key
            self.holding.set()
            self.release.wait(timeout=RUN_TIMEOUT_SECONDS)
        return status, answer, replayed


def write_destinations(path: Path, url: str) -> None:
    path.write_text(
        yaml.safe_dump(
            {
                "destinations": {
                    DESTINATION: {
                        "type": "webhook",
                        "channel": "sms",
                        "fields": ["member_level"],
                        "url": url,
                        "batch_size": BATCH_SIZE,
                        "holdout_share": HOLDOUT_SHARE,
                        # Tiny backoff so hundreds of faults cost milliseconds; enough retries
                        # that a run only fails if ~26 answers in a row are faults.
                        "max_retries": 25,
                        "backoff_base_seconds": 0.001,
                        "backoff_max_seconds": 0.01,
                        "connect_timeout_seconds": 2,
                        "read_timeout_seconds": 5,
                    }
                }
            }
        )
    )


def start_sync(env: dict[str, str], log: Path) -> subprocess.Popen:
    """`activate sync --json`: the summary to `log`, anything on stderr to `log`.err."""
    with log.open("w") as output, log.with_suffix(".err").open("w") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "activation", "sync", AUDIENCE, "--to", DESTINATION, "--json"],
            env=env,
            cwd=PROJECT_DIR,
            stdout=output,
            stderr=errors,
        )


def test_killed_sync_through_a_faulty_service_converges_with_nothing_lost_or_doubled(
    activation_tables_template, tmp_path
):
    started = time.monotonic()
    database = tmp_path / "onedata.duckdb"
    shutil.copy(activation_tables_template, database)
    with duckdb.connect(str(database)) as connection:
        connection.execute(AUDIENCE_DDL)
        connection.execute(AUDIENCE_SQL)
    warehouse = WarehouseFile(database)
    assert warehouse.scalar(f"select count(*) from segments.seg_{AUDIENCE}") == MEMBERS

    reasons = {one_id(n): ineligible_reason(n) for n in range(1, MEMBERS + 1)}
    eligible = {member for member, reason in reasons.items() if reason is None}
    treated = {member for member in eligible if holdout_score(CAMPAIGN, member) >= HOLDOUT_SHARE}
    never_sent = set(reasons) - treated
    batches = math.ceil(len(treated) / BATCH_SIZE)
    hold_at = batches // 2
    assert batches >= 60 and hold_at >= 30, "the audience must make a long sync"

    receiver = AnswerHeldAtBatch(SECRET, hold_at).start()
    receiver.fault_mode(
        seed=8, throttle=0.06, server_error=0.06, drop=0.05, lost_answer=0.05, slow=0.04,
        slow_seconds=0.05,  # well inside the 5 s read timeout: slow, not timed out
    )
    receiver.retry_after = "0"
    destinations = tmp_path / "destinations.yml"
    write_destinations(destinations, receiver.url)
    env = {
        **os.environ,
        "ONEDATA_DUCKDB_PATH": str(database),
        "ONEDATA_RAW_DIR": str(tmp_path / "raw"),
        "ONEDATA_DESTINATIONS": str(destinations),
        f"ACTIVATE__{DESTINATION.upper()}__SECRET": SECRET,
    }
    try:
        # Run 1: killed while the service holds the half-way batch it has already processed.
        killed_log = tmp_path / "killed.log"
        process = start_sync(env, killed_log)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
            while not receiver.holding.wait(timeout=0.1):
                assert process.poll() is None, (
                    "sync ended before half-way:\n" + killed_log.with_suffix(".err").read_text()
                )
                assert time.monotonic() < deadline, "sync never reached half-way"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            receiver.release.set()
        assert process.returncode == -signal.SIGKILL
        assert len(receiver.batches) == hold_at
        [(killed_run, killed_status)] = warehouse.rows(
            "select sync_run_id, run_status from activation.sync_runs"
        )
        assert killed_status in ("running", "failed")
        # Everything before the held batch was committed, the batch just before it too unless its
        # answer was still on the writer thread when the kill landed (a batch leaves once the one
        # two before it is committed); the held batch was not. What was not committed is pending.
        committed = warehouse.scalar(
            "select count(*) from activation.sync_ledger where send_status = 'sent'"
        )
        assert committed in ((hold_at - 2) * BATCH_SIZE, (hold_at - 1) * BATCH_SIZE)
        assert warehouse.scalar(
            "select count(*) from activation.sync_pending_batches"
        ) == hold_at - committed // BATCH_SIZE
        # The held batch is not in the ledger but pending under its key, with its members: the
        # rerun resends it as it was.
        assert warehouse.scalar(
            "select count(*) from activation.sync_ledger where idempotency_key = ?",
            [receiver.held_key],
        ) == 0
        [(held_ids, held_records)] = warehouse.rows(
            "select json_array_length(one_ids), records from activation.sync_pending_batches "
            "where idempotency_key = ?",
            [receiver.held_key],
        )
        assert held_ids == BATCH_SIZE and len(unpack_records(held_records)) == BATCH_SIZE

        # Reruns until one succeeds; a run may fail only by exhausting its retries.
        summary, failures = None, []
        for attempt in range(1, MAX_RERUNS + 1):
            log = tmp_path / f"rerun{attempt}.log"
            rerun = start_sync(env, log)
            rerun.wait(timeout=RUN_TIMEOUT_SECONDS)
            if rerun.returncode == 0:
                summary = json.loads(log.read_text())
                break
            failures.append(
                f"exit {rerun.returncode}: {log.with_suffix('.err').read_text()[-1500:]}"
                f"{log.read_text()[-1500:]}"
            )
        assert summary is not None, f"no success in {MAX_RERUNS} reruns:\n" + "\n".join(failures)
    finally:
        receiver.stop()

    # The faults really happened, and lost answers and the resend were answered by replay.
    assert all(receiver.faults[kind] > 0 for kind in FAULT_KINDS), receiver.faults
    assert receiver.replays > 0

    # The service: every treated member processed exactly once, nobody else ever arrived.
    assert receiver.duplicates("add") == {}
    assert receiver.processed_once("add") == treated
    assert set(receiver.arrived("add")) == treated
    assert not set(receiver.arrived("add")) & never_sent
    assert {operation for operation, _ in receiver.arrivals} == {"add"}

    # The warehouse: one 'sent' ledger row per treated member, state = the treated set.
    ledger = dict(warehouse.rows(
        "select one_id, count(*) from activation.sync_ledger "
        "where operation = 'add' and send_status = 'sent' group by one_id"
    ))
    assert ledger == dict.fromkeys(treated, 1)
    assert warehouse.scalar(
        "select count(*) from activation.sync_ledger where send_status <> 'sent' or operation <> 'add'"
    ) == 0
    state = {member for (member,) in warehouse.rows(
        "select one_id from activation.sync_state where destination_name = ?", [DESTINATION]
    )}
    assert state == treated
    # The held batch was resent by a rerun with the same key and recorded once, by the rerun.
    assert warehouse.rows(
        "select sync_run_id = ?, count(*) from activation.sync_ledger "
        "where idempotency_key = ? group by 1",
        [killed_run, receiver.held_key],
    ) == [(False, BATCH_SIZE)]

    # Runs: the killed one abandoned, the last one succeeded; its plan saw
    # everyone, the ineligible by their reasons.
    runs = dict(warehouse.rows("select sync_run_id, run_status from activation.sync_runs"))
    # The rerun found the killed run still marked running and said what it was.
    assert runs[killed_run] == "abandoned"
    assert runs[summary["run_id"]] == "succeeded" and summary["status"] == "succeeded"
    assert summary["added"] + summary["unchanged"] == len(treated)
    assert summary["held_out"] == len(eligible) - len(treated)
    expected_reasons = {
        reason: sum(1 for r in reasons.values() if r == reason) for reason in ("no_address", "no_consent")
    }
    assert summary["suppression_reasons"] == expected_reasons
    print(f"\nfault test: {len(treated):,} treated in {batches} batches, {receiver.requests} "
          f"requests, faults {dict(receiver.faults)}, {receiver.replays} replays, "
          f"{len(failures) + 1} rerun(s), {time.monotonic() - started:.1f} s")
