"""One conformance suite every destination type passes, then type-specific behaviour."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections import Counter
from pathlib import Path

import pytest

from activation.destinations import RunInfo, build_destination, load_destination_configs
from activation.errors import ActivationError, DestinationError

RUN = RunInfo(run_id="run-1", audience_name="test_audience", destination_name="x", campaign_id="c1")
RECORDS = [
    {"external_id": "p00001", "phone": "13800000001", "member_level": "gold"},
    {"external_id": "p00002", "phone": "13800000002", "member_level": None},
    {"external_id": "p00003", "phone": "13800000003", "member_level": "silver"},
]


class DestinationConformance:
    """Subclasses provide a `destination` fixture and `delivered(operation)`."""

    def delivered(self, destination, operation: str) -> Counter[str]:
        raise NotImplementedError

    def test_declares_what_it_needs(self, destination):
        assert destination.channel == "sms"
        assert "phone" in destination.payload_fields
        assert destination.batch_size is None or destination.batch_size > 0
        assert destination.rate_limit is None or destination.rate_limit > 0
        assert destination.hashed_fields <= set(destination.payload_fields)

    def test_check_passes_when_configured(self, destination):
        destination.check()

    @pytest.mark.parametrize("operation", ["add", "update", "remove"])
    def test_write_batch_answers_for_every_record(self, destination, operation):
        records = RECORDS if operation != "remove" else [{"external_id": r["external_id"]} for r in RECORDS]
        destination.start_run(RUN)

        result = destination.write_batch(records, operation, "key-1")
        destination.close()

        assert [outcome.external_id for outcome in result.results] == ["p00001", "p00002", "p00003"]
        assert all(outcome.ok for outcome in result.results)
        assert self.delivered(destination, operation) == Counter(["p00001", "p00002", "p00003"])


class TestWebhookConformance(DestinationConformance):
    @pytest.fixture
    def destination(self, settings, receiver):
        self.receiver = receiver
        return build_destination(load_destination_configs(settings.destinations_file)["test_webhook"])

    def delivered(self, destination, operation):
        return self.receiver.ids(operation)


class TestFileConformance(DestinationConformance):
    @pytest.fixture
    def destination(self, settings):
        return build_destination(load_destination_configs(settings.destinations_file)["test_files"])

    def delivered(self, destination, operation):
        path = Path(destination.options.path) / RUN.audience_name / f"{RUN.run_id}-{operation}.csv"
        with path.open(newline="") as handle:
            return Counter(row["external_id"] for row in csv.DictReader(handle))


@pytest.fixture
def webhook(settings, receiver):
    destination = build_destination(load_destination_configs(settings.destinations_file)["test_webhook"])
    destination.start_run(RUN)
    yield destination
    destination.close()


def test_webhook_signs_the_exact_body_and_sends_the_contract(webhook, receiver):
    webhook.write_batch(RECORDS, "add", "key-1")

    [headers] = receiver.headers
    [batch] = receiver.batches
    assert headers["Idempotency-Key"] == "key-1"
    assert headers["X-Onedata-Signature"].startswith("sha256=")
    assert batch == {
        "batch_id": "run-1-0001",
        "idempotency_key": "key-1",
        "operation": "add",
        "audience": "test_audience",
        "campaign_id": "c1",
        "records": RECORDS,
    }
    tampered = json.dumps({**batch, "operation": "remove"}).encode()
    assert not receiver.signature_ok(tampered, headers)


def test_webhook_reports_per_record_rejections(webhook, receiver):
    receiver.reject = {"p00002": "unknown member"}

    result = webhook.write_batch(RECORDS, "add", "key-1")

    assert {o.external_id: o.error for o in result.results} == {
        "p00001": None, "p00002": "unknown member", "p00003": None,
    }


def test_webhook_treats_other_4xx_as_a_rejected_batch_with_pii_masked(webhook, receiver):
    receiver.script.append(422)
    receiver.error_message = "phone 13800000001 is invalid"

    result = webhook.write_batch(RECORDS, "add", "key-1")

    assert [o.error for o in result.results] == ["HTTP 422: phone 138****0001 is invalid"] * 3
    assert receiver.requests == 1


def test_webhook_refused_credentials_raise(webhook, receiver):
    receiver.secret = "another secret"

    with pytest.raises(DestinationError, match="HTTP 401: invalid signature"):
        webhook.write_batch(RECORDS, "add", "key-1")


def test_webhook_check_names_the_missing_secret(settings, monkeypatch):
    monkeypatch.delenv("ACTIVATE__TEST_WEBHOOK__SECRET")
    destination = build_destination(load_destination_configs(settings.destinations_file)["test_webhook"])

    with pytest.raises(ActivationError, match="ACTIVATE__TEST_WEBHOOK__SECRET"):
        destination.check()


def test_file_destination_leaves_no_partial_files(settings, tmp_path):
    destination = build_destination(load_destination_configs(settings.destinations_file)["test_files"])
    destination.start_run(RUN)

    destination.write_batch(RECORDS, "add", "key-1")

    folder = tmp_path / "outbox" / "test_audience"
    assert [path.name for path in folder.iterdir()] == ["run-1-add.csv"]
