"""Sync semantics beyond the diff: modes, eligibility at the sync step, frequency caps, A/B and
global holdouts, plan and dry run. Real HTTP receiver on loopback; warehouse tables made by dbt."""

from __future__ import annotations

import json
import re
from collections import Counter

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from activation.assignment import AssignmentPlan
from activation.cli import main
from activation.errors import ActivationError, DestinationError
from activation.settings import Settings
from activation.state import LOST_ANSWER
from activation.sync import SyncOptions, plan_audience, sync_audience
from tests.conftest import AUDIENCE, SECRET, make_member
from tests.fakes.smtp_server import FakeSmtpServer

EVERYONE = range(1, 61)


def configure(settings: Settings, receiver, tmp_path, *, caps=None, global_holdout=0.0, **destinations):
    """A destinations.yml with the given webhook destinations (name -> overrides)."""
    base = {
        "type": "webhook", "channel": "sms", "url": receiver.url, "batch_size": 7,
        "holdout_share": 0.0, "max_retries": 2, "backoff_base_seconds": 0.01,
    }
    document = {
        "destinations": {name: {**base, **overrides} for name, overrides in destinations.items()},
        "frequency_caps": caps or [],
        "global_holdout_share": global_holdout,
    }
    path = tmp_path / "semantics.yml"
    path.write_text(yaml.safe_dump(document))
    return Settings(duckdb_path=settings.duckdb_path, raw_dir=settings.raw_dir, destinations_file=path)


@pytest.fixture
def env(monkeypatch):
    for name in ("sms_list", "sms_blast", "other_blast", "ads", "crm"):
        monkeypatch.setenv(f"ACTIVATE__{name.upper()}__SECRET", SECRET)


def sent_ids(receiver, operation="add") -> Counter[str]:
    return receiver.ids(operation)


def add_suppressions(warehouse, rows: list[tuple[str, str]]) -> None:
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("create schema if not exists marts")
        connection.execute(
            "create or replace table marts.dim_member_suppressions "
            "(one_id varchar, channel varchar, suppression_reason varchar)"
        )
        connection.executemany(
            "insert into marts.dim_member_suppressions values (?, ?, 'complaint')", rows
        )


def test_no_ineligible_member_reaches_any_payload_on_any_channel(
    settings, warehouse, receiver, tmp_path, env
):
    # Members 1-10 complained (every channel); 11-15 only on e-mail; ad consent off for 3n.
    add_suppressions(
        warehouse,
        [(make_member(n)["one_id"], "all") for n in range(1, 11)]
        + [(make_member(n)["one_id"], "email") for n in range(11, 16)],
    )
    members = [make_member(n) for n in EVERYONE]
    for member in members:
        member["is_ad_platform_consented"] = int(member["one_id"][1:]) % 3 != 0
        member["is_email_consented"] = int(member["one_id"][1:]) % 4 != 0
    warehouse.write_audience(members)
    configured = configure(
        settings, receiver, tmp_path,
        sms_list={"channel": "sms"},
        crm={"channel": "email"},
        ads={"channel": "ad_platform", "hashed_fields": ["phone", "email"], "fields": ["email"]},
    )

    for destination in ("sms_list", "crm", "ads"):
        sync_audience(configured, AUDIENCE, destination)

    sent = {}
    for destination, channel in (("sms_list", "sms"), ("crm", "email"), ("ads", "ad_platform")):
        sent[channel] = {
            one_id
            for (one_id,) in warehouse.rows(
                "select one_id from activation.sync_ledger where destination_name = ? "
                "and send_status = 'sent'", [destination],
            )
        }
    payload_ids = {record["external_id"] for batch in receiver.batches for record in batch["records"]}
    assert payload_ids == set().union(*sent.values())
    address = {"sms": "phone", "email": "email", "ad_platform": "phone"}
    for member in members:
        one_id = member["one_id"]
        number = int(one_id[1:])
        for channel, ids in sent.items():
            eligible = (
                member[f"is_{channel}_consented"] is True
                and bool(member[address[channel]] or (channel == "ad_platform" and member["email"]))
                and number > 10
                and not (channel == "email" and number <= 15)
            )
            assert (one_id in ids) == eligible, (one_id, channel)
    # Hashed for the ad platform: no raw phone or e-mail in its payloads.
    ads_records = [
        record for batch in receiver.batches for record in batch["records"]
        if batch["idempotency_key"] in {
            key for (key,) in warehouse.rows(
                "select distinct idempotency_key from activation.sync_ledger where destination_name = 'ads'"
            )
        }
    ]
    assert ads_records and all(len(record["phone"] or "0" * 64) == 64 for record in ads_records)
    assert not any("@" in (record["email"] or "") for record in ads_records)


@pytest.mark.parametrize("fields", ["generic", ["email", "wechat_openid", "display_name"]])
def test_another_channel_s_contact_key_leaves_only_when_named_and_consented(
    settings, warehouse, receiver, tmp_path, env, fields
):
    """PIPL's data minimisation: an SMS destination sends phones; an e-mail address or an
    openid only when its `fields` name it, and only for members who consented to e-mail or to
    WeChat. Every payload that arrived is searched for the others' addresses."""
    members = [make_member(n) for n in EVERYONE]
    for member in members:
        number = int(member["one_id"][1:])
        member["is_email_consented"] = number % 4 != 0
        member["is_wechat_consented"] = number % 5 != 0
    warehouse.write_audience(members)
    configured = configure(settings, receiver, tmp_path, sms_list={"channel": "sms", "fields": fields})

    summary = sync_audience(configured, AUDIENCE, "sms_list")

    assert summary.added > 20
    bodies = b"".join(receiver.bodies_raw).decode()
    records = {record["external_id"]: record for batch in receiver.batches for record in batch["records"]}
    for member in members:
        record = records.get(member["one_id"])
        email_allowed = fields != "generic" and member["is_email_consented"]
        openid_allowed = fields != "generic" and member["is_wechat_consented"]
        # Nobody's address leaves where it may not, whether the member was sent or not.
        assert (f'"{member["email"]}"' in bodies) == bool(record and email_allowed), member["one_id"]
        assert (f'"{member["wechat_openid"]}"' in bodies) == bool(record and openid_allowed), member["one_id"]
        if record:
            assert record["phone"] == member["phone"]
            assert record.get("email") == (member["email"] if email_allowed else None)
    # Withdrawing e-mail consent changes what is held: the next sync updates the record.
    withdrawn = next(m for m in members if m["one_id"] in records and m["is_email_consented"])
    withdrawn["is_email_consented"] = False
    warehouse.write_audience(members)
    again = sync_audience(configured, AUDIENCE, "sms_list")
    assert (again.updated, again.added) == ((1, 0) if fields != "generic" else (0, 0))


def test_upsert_never_removes_and_append_sends_each_member_once_per_campaign(
    settings, warehouse, receiver, tmp_path, env
):
    configured = configure(
        settings, receiver, tmp_path,
        sms_list={"mode": "upsert", "fields": ["member_level"]},
        sms_blast={"mode": "append", "fields": ["member_level"]},
    )
    sync_audience(configured, AUDIENCE, "sms_list")
    receiver.received.clear()
    sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="blast-1"))
    first_blast = sent_ids(receiver)
    # Half the audience leaves, the rest change level.
    members = [make_member(n, member_level="platinum") for n in range(1, 31)]
    warehouse.write_audience(members)
    receiver.received.clear()

    upsert = sync_audience(configured, AUDIENCE, "sms_list")
    append = sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="blast-1"))
    next_campaign = sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="blast-2"))

    assert upsert.removed == 0 and not sent_ids(receiver, "remove")
    assert upsert.updated > 0
    assert append.sent == 0 and append.unchanged > 0
    assert next_campaign.added == append.unchanged  # a new campaign is a new message
    assert max(first_blast.values()) == 1


def test_frequency_cap_counts_every_campaign_of_the_channel(
    settings, warehouse, receiver, tmp_path, env
):
    configured = configure(
        settings, receiver, tmp_path,
        caps=[{"channel": "sms", "max_sends": 2, "window_days": 7}],
        sms_blast={"mode": "append"}, other_blast={"mode": "append"},
    )
    first = sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="c1"))
    sync_audience(configured, AUDIENCE, "other_blast", SyncOptions(campaign_id="c2"))
    third = sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="c3"))

    assert first.added > 0
    assert third.added == 0 and third.capped == first.added
    per_member = Counter(one_id for (one_id,) in warehouse.rows(
        "select one_id from activation.sync_ledger where channel = 'sms' and send_status = 'sent'"
    ))
    assert max(per_member.values()) == 2


def test_ab_variants_and_global_holdout_are_recorded_and_stable(
    settings, warehouse, receiver, tmp_path, env
):
    warehouse.write_audience([make_member(n, is_sms_consented=True) for n in range(1, 401)])
    configured = configure(settings, receiver, tmp_path, global_holdout=0.1,
                           sms_blast={"mode": "append", "holdout_share": 0.2})
    variants = (("a", 1.0), ("b", 1.0))

    sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="ab", variants=variants))
    recorded = warehouse.rows(
        "select one_id, assignment_group, variant, holdout_scope from activation.campaign_assignments"
    )
    sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="ab", variants=(("a", 9.0), ("b", 1.0))))

    plan = AssignmentPlan("ab", 0.2, global_holdout_share=0.1, variants=variants)
    reachable = [m["one_id"] for m in map(make_member, range(1, 401)) if m["phone"]]
    assert sorted(recorded) == sorted((one_id, *plan.assign(one_id)) for one_id in reachable)
    assert warehouse.scalar("select count(*) from activation.campaign_assignments") == len(reachable)
    scopes = Counter(row[3] or row[2] for row in recorded)
    assert scopes["global"] > 0 and scopes["campaign"] > 0 and scopes["a"] > 0 and scopes["b"] > 0
    sent = dict(warehouse.rows("select one_id, variant from activation.sync_ledger"))
    assert all(sent[one_id] == variant for one_id, group, variant, _ in recorded if group == "treated")
    assert not {one_id for one_id, group, *_ in recorded if group == "holdout"} & set(sent)


def test_plan_and_dry_run_agree_with_the_sync_and_send_nothing(
    settings, warehouse, receiver, tmp_path, env
):
    configured = configure(settings, receiver, tmp_path, sms_list={"holdout_share": 0.1})
    sync_audience(configured, AUDIENCE, "sms_list")
    warehouse.write_audience([make_member(n) for n in range(5, 75)])
    receiver.received.clear()
    requests_before = receiver.requests

    report = plan_audience(configured, AUDIENCE, "sms_list", SyncOptions())
    dry = sync_audience(configured, AUDIENCE, "sms_list", SyncOptions(dry_run=True))
    assert receiver.requests == requests_before
    state_before = warehouse.scalar("select count(*) from activation.sync_state")
    real = sync_audience(configured, AUDIENCE, "sms_list")

    planned = report.as_dict()
    assert (planned["adds"], planned["updates"], planned["removes"]) == (
        real.added, real.updated, real.removed
    ) == (dry.added, dry.updated, dry.removed)
    assert planned["removes"] > 0 and planned["adds"] > 0
    assert state_before != warehouse.scalar("select count(*) from activation.sync_state")


def test_cli_plan_sync_json_and_summary_table(cli_env, receiver):
    runner = CliRunner()
    planned = runner.invoke(main, ["plan", AUDIENCE, "--to", "test_webhook", "--json"], env=cli_env)
    assert planned.exit_code == 0, planned.output
    plan = json.loads(planned.output)

    synced = runner.invoke(main, ["sync", AUDIENCE, "--to", "test_webhook"], env=cli_env)

    assert synced.exit_code == 0, synced.output
    for label in ("sent", "added", "skipped", "held out", "suppressed", "capped", "rejected"):
        assert f"  {label}" in synced.output
    assert f"{plan['adds']:>10,}" in synced.output
    # no phone number or email in what is printed (the rate, e.g. "138 records/s", may hold 138)
    assert not re.search(r"1[3-9]\d{9}|@example\.com", synced.output), synced.output


def test_a_service_that_cannot_deduplicate_gets_each_message_at_most_once(
    settings, warehouse, receiver, tmp_path, env
):
    configured = configure(
        settings, receiver, tmp_path,
        sms_blast={"mode": "append", "deduplicates_resends": False, "max_retries": 3},
    )
    receiver.dedupe = False  # like a plain SMS gateway: a resent request is sent again
    receiver.script.extend([None, "lost_answer"])  # batch 2 is carried out, its answer lost

    with pytest.raises(DestinationError, match="answer was lost"):
        sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="blast"))
    rerun = sync_audience(configured, AUDIENCE, "sms_blast", SyncOptions(campaign_id="blast"))

    arrivals = Counter(
        record["external_id"] for batch in receiver.batches for record in batch["records"]
    )
    assert arrivals and max(arrivals.values()) == 1  # nothing sent twice, not even batch 2
    unknown = {one_id for (one_id,) in warehouse.rows(
        "select one_id from activation.sync_ledger where send_status = 'unknown'"
    )}
    second_batch = {record["external_id"] for record in receiver.batches[1]["records"]}
    assert unknown == second_batch and len(unknown) == 7
    assert rerun.added > 0
    assert warehouse.scalar("select count(*) from activation.sync_pending_batches") == 0


def test_an_email_whose_answer_was_lost_is_recorded_unknown_and_never_sent_again(
    settings, warehouse, tmp_path
):
    server = FakeSmtpServer().start()  # a real SMTP server on loopback, no login
    path = tmp_path / "mail.yml"
    path.write_text(yaml.safe_dump({"destinations": {"newsletter": {
        "type": "smtp", "channel": "email", "host": server.host, "port": server.port,
        "from_address": "news@brand.example", "subject": "Hi", "body_template": "Hi {display_name}",
        "fields": ["display_name"], "holdout_share": 0.0, "max_retries": 2,
        "backoff_base_seconds": 0.01, "timeout_seconds": 5,
    }}}))
    configured = Settings(duckdb_path=settings.duckdb_path, raw_dir=settings.raw_dir, destinations_file=path)
    server.inject("ok", "drop_after_data")  # the second message is queued, its 250 lost
    try:
        first = sync_audience(configured, AUDIENCE, "newsletter")
        second = sync_audience(configured, AUDIENCE, "newsletter")
    finally:
        server.stop()

    assert first.rejected == 0 and first.added == sum(server.delivered("add").values())
    assert max(server.delivered("add").values()) == 1 and server.duplicates == 0
    lost = server.messages[1]["X-Onedata-External-Id"]
    assert warehouse.rows(
        "select one_id, send_status, error_message from activation.sync_ledger where send_status <> 'sent'"
    ) == [(lost, "unknown", LOST_ANSWER)]
    assert (second.added, second.rejected) == (0, 0)
    assert first.unknown == 1


def test_a_malformed_memory_limit_is_a_clear_error(settings, monkeypatch):
    monkeypatch.setenv("ONEDATA_SYNC_MEMORY_LIMIT", "lots")

    with pytest.raises(ActivationError, match="ONEDATA_SYNC_MEMORY_LIMIT must be a size.*'lots'"):
        plan_audience(settings, AUDIENCE, "test_webhook", SyncOptions())
