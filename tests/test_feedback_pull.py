"""`activate feedback pull`: ledger rows become SentRecords, the destination's answer is landed.

The destination here is a small Destination subclass defined in this module (the real SMS and
WeCom pulls are tested beside them), registered through DESTINATION_TYPE_PATHS.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import yaml
from click.testing import CliRunner

from activation.cli import main
from activation.config import Strict
from activation.destinations import BatchResult, Destination, SentRecord
from activation.destinations import config as destination_config
from activation.errors import ActivationError
from activation.feedback_pull import pull_feedback
from tests.test_feedback_serve import insert_ledger, landed_rows, reject_rows, write_members

DESTINATION = "sms_vendor"


class PullOptions(Strict):
    batch_size: int = 100


class PullableDestination(Destination):
    """Answers a status query from memory: delivered for every record asked about, a
    conversion for p00001 and one report it cannot make sense of."""

    type_name = "pull_test"
    Options = PullOptions
    supports_feedback_pull = True
    asked: list[list[SentRecord]] = []

    def check(self) -> None:
        pass

    def write_batch(self, records, operation, idempotency_key) -> BatchResult:
        return BatchResult.all_accepted(records)

    def pull_feedback(self, sent):
        PullableDestination.asked.append(list(sent))
        for record in sent:
            yield {"campaign_id": record.campaign_id, "external_id": record.one_id,
                   "event_type": "delivered", "destination_name": "someone_else",
                   "occurred_at": (record.sent_at + dt.timedelta(minutes=1)).isoformat()}
        yield {"campaign_id": "c-sms", "one_id": "p00001", "event_type": "converted",
               "order_id": "o-1", "revenue_amount": "88", "occurred_at": "2026-10-21T10:00:00+08:00"}
        yield {"campaign_id": "c-sms", "one_id": "p00002", "event_type": "exploded",
               "occurred_at": "2026-10-21T10:00:00"}


@pytest.fixture
def pull_settings(settings, warehouse, tmp_path, monkeypatch):
    monkeypatch.setitem(destination_config.DESTINATION_TYPE_PATHS, "pull_test",
                        f"{__name__}:PullableDestination")
    monkeypatch.setattr(PullableDestination, "asked", [])
    destinations = tmp_path / "pull_destinations.yml"
    destinations.write_text(yaml.safe_dump({"destinations": {
        DESTINATION: {"type": "pull_test", "channel": "sms"},
        "crm_files": {"type": "file", "channel": "email", "path": str(tmp_path / "outbox")},
    }}))
    write_members(warehouse, {"p00001": "13800000001", "p00002": "13800000002", "p00003": None})
    sent_at = dt.datetime(2026, 10, 20, 1, 0)
    insert_ledger(warehouse, [
        {"campaign_id": "c-sms", "destination_name": DESTINATION, "one_id": "p00001",
         "destination_reference": "biz-1", "recorded_at": sent_at},
        {"campaign_id": "c-sms", "destination_name": DESTINATION, "one_id": "p00002",
         "destination_reference": "biz-1", "recorded_at": sent_at},
        # Taken by the service, but no longer in dim_members' phone: asked about, no address.
        {"campaign_id": "c-sms", "destination_name": DESTINATION, "one_id": "p00003",
         "destination_reference": "biz-2", "recorded_at": sent_at + dt.timedelta(hours=1)},
        # Not asked about: refused by the service, a removal, sent before --since, elsewhere.
        {"campaign_id": "c-sms", "destination_name": DESTINATION, "one_id": "p00004",
         "send_status": "rejected", "recorded_at": sent_at},
        {"campaign_id": "c-sms", "destination_name": DESTINATION, "one_id": "p00005",
         "operation": "remove", "recorded_at": sent_at},
        {"campaign_id": "c-old", "destination_name": DESTINATION, "one_id": "p00006",
         "destination_reference": "biz-0", "recorded_at": dt.datetime(2026, 9, 1)},
        {"campaign_id": "c-mail", "destination_name": "crm_files", "one_id": "p00001",
         "recorded_at": sent_at},
    ])
    return dataclasses.replace(settings, destinations_file=destinations)


def test_pull_asks_about_the_ledger_rows_and_lands_the_answer(pull_settings):
    result = pull_feedback(pull_settings, DESTINATION, dt.date(2026, 10, 1))

    (asked,) = PullableDestination.asked
    assert asked == [
        SentRecord("p00001", "c-sms", "13800000001", "biz-1", dt.datetime(2026, 10, 20, 1, 0)),
        SentRecord("p00002", "c-sms", "13800000002", "biz-1", dt.datetime(2026, 10, 20, 1, 0)),
        SentRecord("p00003", "c-sms", None, "biz-2", dt.datetime(2026, 10, 20, 2, 0)),
    ]
    assert (result.sent_records, result.landing.rows_read) == (3, 5)
    assert (result.landing.rows_loaded, result.landing.rows_rejected) == (4, 1)
    landed = landed_rows(pull_settings)
    assert [(row["one_id"], row["event_type"]) for row in landed] == [
        ("p00001", "converted"), ("p00001", "delivered"), ("p00002", "delivered"), ("p00003", "delivered")]
    # Rows are this destination's reports, whatever destination_name they carry.
    assert {row["destination_name"] for row in landed} == {DESTINATION}
    assert str(landed[0]["revenue_amount"]) == "88.00"
    assert landed[0]["occurred_at"] == dt.datetime(2026, 10, 21, 2, 0)
    (reject,) = reject_rows(pull_settings)
    assert "event_type 'exploded'" in reject["rejection_reason"]
    assert result.landing.rejects_file.name.startswith(f"pull-{DESTINATION}-")


def test_pulling_the_same_period_twice_does_not_double_count(pull_settings):
    first = pull_feedback(pull_settings, DESTINATION, dt.date(2026, 10, 1))
    second = pull_feedback(pull_settings, DESTINATION, dt.date(2026, 10, 1))

    assert (second.landing.rows_loaded, second.landing.rows_already_landed) == (0, first.landing.rows_loaded)
    assert second.landing.landing_file is None
    assert first.landing.rejects_file == second.landing.rejects_file
    assert len(landed_rows(pull_settings)) == 4


def test_since_defaults_to_seven_days_ago(pull_settings, warehouse):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    insert_ledger(warehouse, [
        {"campaign_id": "c-now", "destination_name": DESTINATION, "one_id": "p00007",
         "destination_reference": "biz-7", "recorded_at": now - dt.timedelta(days=1)},
        {"campaign_id": "c-now", "destination_name": DESTINATION, "one_id": "p00008",
         "destination_reference": "biz-8", "recorded_at": now - dt.timedelta(days=9)},
    ])

    result = pull_feedback(pull_settings, DESTINATION)

    assert [record.one_id for record in PullableDestination.asked[0]] == ["p00007"]
    assert result.since == now.date() - dt.timedelta(days=7)


def test_a_destination_that_cannot_pull_is_a_clear_error(pull_settings):
    with pytest.raises(ActivationError, match="crm_files .type file. offers no status query"):
        pull_feedback(pull_settings, "crm_files")
    with pytest.raises(ActivationError, match="Unknown destination 'nope'.*sms_vendor"):
        pull_feedback(pull_settings, "nope")
    assert landed_rows(pull_settings) == []


def test_the_command_prints_one_line_or_json_and_exits_1_on_errors(pull_settings):
    env = {"ONEDATA_DUCKDB_PATH": str(pull_settings.duckdb_path),
           "ONEDATA_RAW_DIR": str(pull_settings.raw_dir),
           "ONEDATA_DESTINATIONS": str(pull_settings.destinations_file)}
    runner = CliRunner()

    text = runner.invoke(main, ["feedback", "pull", "--from", DESTINATION, "--since", "2026-10-01"], env=env)
    as_json = runner.invoke(main, ["feedback", "pull", "--from", DESTINATION, "--since", "2026-10-01",
                                   "--json"], env=env)
    refused = runner.invoke(main, ["feedback", "pull", "--from", "crm_files"], env=env)

    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[0] == (
        "asked about 3 sent since 2026-10-01  read 5  loaded 4  already landed 0  rejected 1")
    assert as_json.exit_code == 0
    # The same period pulled again: what it reports has landed already.
    summary = json.loads(as_json.output)
    assert (summary["destination"], summary["rows_loaded"], summary["rows_already_landed"],
            summary["rows_rejected"]) == (DESTINATION, 0, 4, 1)
    assert refused.exit_code == 1 and "offers no status query" in refused.output
