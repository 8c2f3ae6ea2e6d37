"""The shared conformance suite for the webhook and file destinations, the webhook's own
contract, and the webhook fake's idempotency and fault mode (tests rely on them)."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import zipfile
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests
import yaml

from activation.destinations import build_destination, load_destination_configs
from activation.errors import ActivationError, DestinationError
from tests.conformance import RECORDS as CONFORMANCE_RECORDS
from tests.conformance import RUN, DestinationConformance
from tests.conftest import SECRET

RECORDS = [
    {"external_id": "p00001", "phone": "13800000001", "member_level": "gold"},
    {"external_id": "p00002", "phone": "13800000002", "member_level": None},
    {"external_id": "p00003", "phone": "13800000003", "member_level": "silver"},
]
PART_NUMBER = "[0-9]" * 5


def make_destination(tmp_path: Path, name: str, entry: dict):
    """A destination built the way the sync builds it: from a destinations.yml entry."""
    path = tmp_path / f"{name}.destinations.yml"
    path.write_text(yaml.safe_dump({"destinations": {name: entry}}), encoding="utf-8")
    return build_destination(load_destination_configs(path)[name])


def webhook_entry(receiver, **overrides) -> dict:
    return {
        "type": "webhook",
        "channel": "sms",
        "fields": ["member_level"],
        "url": receiver.url,
        "batch_size": 100,
        "max_retries": 3,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
        "read_timeout_seconds": 5,
        **overrides,
    }


def read_part(path: Path) -> list[dict]:
    """The rows of one part file, whatever its format."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            [entry] = archive.namelist()
            lines = archive.read(entry).decode("ascii").splitlines()
        return [{"id": line} for line in lines]
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class FilePartsService:
    """The file destination's FakeService: reads its part files back.

    A crowd pack holds hashes, not external ids: they are mapped back through the hashes of
    the conformance records. A file system has no throttle, 5xx or per-record refusal, so
    inject() and reject() do nothing (the suite's tests for them are skipped)."""

    def __init__(self, destination) -> None:
        self.folder = destination.options.path / RUN.audience_name
        self.owner: dict[str, str] = {}
        if destination.crowd_pack is not None:
            for record in CONFORMANCE_RECORDS:
                encoded, _ = destination.encode(record)
                for field_name in destination.crowd_pack.fields:
                    if encoded and encoded.get(field_name):
                        self.owner[encoded[field_name]] = record["external_id"]

    def parts(self, operation: str) -> list[Path]:
        return sorted(self.folder.glob(f"*-{operation}-{PART_NUMBER}.*"))

    def delivered(self, operation: str) -> Counter[str]:
        delivered: Counter[str] = Counter()
        for path in self.parts(operation):
            for row in read_part(path):
                if "external_id" in row:
                    delivered[row["external_id"]] += 1
                else:
                    # One member per row: count it once whichever of its hashes names it.
                    owners = {self.owner[value] for value in row.values() if value}
                    assert len(owners) == 1, row
                    delivered[owners.pop()] += 1
        return delivered

    def inject(self, *answers: str) -> None:
        pass

    def reject(self, external_id: str, message: str) -> None:
        pass


class TestWebhookConformance(DestinationConformance):
    @pytest.fixture
    def service(self, receiver):
        return receiver

    @pytest.fixture
    def destination(self, tmp_path, receiver, monkeypatch):
        monkeypatch.setenv("ACTIVATE__CONFORMANCE_WEBHOOK__SECRET", SECRET)
        destination = make_destination(
            tmp_path, "conformance_webhook", webhook_entry(receiver, fields="generic")
        )
        destination.start_run(RUN)
        yield destination
        destination.close()


FILE_VARIANTS = {
    "csv": {"channel": "sms", "fields": ["member_level"]},
    "jsonl": {"channel": "email", "fields": ["phone", "display_name", "member_level"], "format": "jsonl",
              "hashed_fields": ["phone"]},
    "parquet": {"channel": "app_push", "fields": ["rfm_group"], "format": "parquet", "mode": "upsert"},
    "tencent_ads": {"channel": "ad_platform", "crowd_pack": "tencent_ads"},
    "sha256": {"channel": "ad_platform", "crowd_pack": "sha256", "mode": "append"},
}


class TestFileConformance(DestinationConformance):
    @pytest.fixture(params=list(FILE_VARIANTS))
    def destination(self, request, tmp_path):
        entry = {"type": "file", "path": str(tmp_path / "outbox"), **FILE_VARIANTS[request.param]}
        destination = make_destination(tmp_path, "conformance_files", entry)
        destination.start_run(RUN)
        yield destination
        destination.close()

    @pytest.fixture
    def service(self, destination):
        return FilePartsService(destination)

    def test_transient_failures_are_retried_until_taken(self):
        pytest.skip("a file system has no 429 or 5xx; a failed write raises (test_destination_file)")

    def test_a_refused_record_carries_the_service_message_without_pii(self):
        pytest.skip("a file system takes every record it is given; nothing refuses one")


# The webhook's own contract --------------------------------------------------------------


@pytest.fixture
def webhook(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("ACTIVATE__TEST_WEBHOOK__SECRET", SECRET)
    destination = make_destination(tmp_path, "test_webhook", webhook_entry(receiver))
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
        "batch_id": "key-1",
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


def test_webhook_check_names_the_missing_secret(tmp_path, receiver, monkeypatch):
    monkeypatch.delenv("ACTIVATE__TEST_WEBHOOK__SECRET", raising=False)
    destination = make_destination(tmp_path, "test_webhook", webhook_entry(receiver))

    with pytest.raises(ActivationError, match="ACTIVATE__TEST_WEBHOOK__SECRET"):
        destination.check()


def test_file_destination_leaves_no_partial_files(tmp_path):
    destination = make_destination(
        tmp_path, "test_files", {"type": "file", "channel": "sms", "path": str(tmp_path / "outbox")}
    )
    destination.start_run(RUN)

    destination.write_batch(RECORDS, "add", "key-1")

    folder = tmp_path / "outbox" / "test_audience"
    assert [path.name for path in folder.iterdir()] == ["run-1-add-00001.csv"]


# The webhook fake behaves like an idempotent API -----------------------------------------


def test_a_resent_key_gets_the_stored_answer_and_is_not_processed_twice(webhook, receiver):
    receiver.reject("p00002", "unknown member")
    first = webhook.write_batch(RECORDS, "add", "key-1")
    receiver.reject = {}

    again = webhook.write_batch(RECORDS, "add", "key-1")

    assert again == first  # the stored answer, rejection included
    assert receiver.ids("add") == Counter(["p00001", "p00002", "p00003"])
    assert receiver.arrived("add") == Counter(["p00001", "p00002", "p00003"] * 2)
    assert (receiver.requests, receiver.replays, len(receiver.batches)) == (2, 1, 1)


def test_a_lost_acknowledgement_is_retried_and_deduplicated(webhook, receiver):
    receiver.inject("lost_answer")

    result = webhook.write_batch(RECORDS, "add", "key-1")

    assert all(outcome.ok for outcome in result.results)
    assert receiver.processed_once("add") == {"p00001", "p00002", "p00003"}
    assert not receiver.duplicates("add")
    assert (receiver.requests, receiver.replays) == (2, 1)


def test_a_key_reused_for_another_batch_is_refused(webhook, receiver):
    webhook.write_batch(RECORDS[:1], "add", "key-1")

    result = webhook.write_batch(RECORDS[1:], "add", "key-1")

    assert {outcome.error for outcome in result.results} == {
        "HTTP 422: Idempotency-Key was already used for a different batch"
    }
    assert set(receiver.ids("add")) == {"p00001"}


def test_the_same_batch_under_two_keys_is_processed_twice(receiver):
    # What the counters are for: without a shared key the service cannot tell a resend.
    body = json.dumps({"operation": "add", "records": RECORDS[:1]}).encode()
    signature = hmac.new(SECRET.encode(), b"1." + body, hashlib.sha256).hexdigest()
    for key in ("a", "b"):
        headers = {
            "X-Onedata-Timestamp": "1",
            "X-Onedata-Signature": f"sha256={signature}",
            "Idempotency-Key": key,
        }
        assert requests.post(receiver.url, data=body, headers=headers, timeout=5).ok

    assert receiver.duplicates("add") == {"p00001": 2}
    assert receiver.processed_once("add") == set()


def test_seeded_fault_mode_still_delivers_every_record_exactly_once(tmp_path, receiver, monkeypatch):
    monkeypatch.setenv("ACTIVATE__FAULTY_WEBHOOK__SECRET", SECRET)
    destination = make_destination(
        tmp_path,
        "faulty_webhook",
        webhook_entry(receiver, max_retries=10, read_timeout_seconds=0.2, backoff_max_seconds=0.02),
    )
    destination.start_run(RUN)
    receiver.fault_mode(
        seed=11, throttle=0.1, server_error=0.1, drop=0.1, lost_answer=0.1, slow=0.05,
        slow_seconds=0.4,
    )
    members = [
        {"external_id": f"m{n:03d}", "phone": f"139{n:08d}", "member_level": None} for n in range(60)
    ]

    for start in range(0, len(members), 3):
        batch = members[start : start + 3]
        result = destination.write_batch(batch, "add", f"batch-{start}")
        assert all(outcome.ok for outcome in result.results), result
    destination.close()

    assert receiver.processed_once("add") == {member["external_id"] for member in members}
    assert not receiver.duplicates("add")
    assert set(receiver.faults) == {"throttle", "server_error", "drop", "lost_answer", "slow"}
    # Lost and slow answers were resent and answered from the store, not processed again.
    assert receiver.replays >= receiver.faults["lost_answer"] + receiver.faults["slow"] > 0
    assert sum(receiver.arrived("add").values()) > len(members)


def test_fault_mode_is_reproducible_from_its_seed(receiver):
    def draws(seed: int) -> list:
        receiver.fault_mode(seed=seed, throttle=0.3, drop=0.3)
        return [receiver._next_action(b"{}") for _ in range(30)]

    assert draws(5) == draws(5)
    assert draws(5) != draws(6)
    receiver.fault_mode()
    assert receiver._next_action(b"{}") is None


# Retry-After (issue 23, part A 7) --------------------------------------------------------


@pytest.fixture
def waits(monkeypatch):
    """The retry waits the HTTP client asked for, without waiting them."""
    from activation.destinations import http

    asked: list[float] = []
    monkeypatch.setattr(http.time, "sleep", asked.append)
    return asked


def test_a_retry_after_above_the_backoff_ceiling_is_honoured(tmp_path, receiver, monkeypatch, waits):
    import email.utils
    import time

    monkeypatch.setenv("ACTIVATE__HOOK__SECRET", SECRET)
    destination = make_destination(tmp_path, "hook", webhook_entry(receiver))
    destination.start_run(RUN)
    receiver.script.extend([429])
    receiver.retry_after = "45"
    destination.write_batch([{"external_id": "p1", "phone": "13800000001", "member_level": None}], "add", "k1")
    # The HTTP-date form: about 120 s from now.
    receiver.script.extend([429])
    receiver.retry_after = email.utils.formatdate(time.time() + 120, usegmt=True)
    destination.write_batch([{"external_id": "p2", "phone": "13800000002", "member_level": None}], "add", "k2")

    assert waits[0] == 45  # not cut to backoff_max_seconds (0.05) nor to 30
    assert 110 <= waits[1] <= 121
    assert destination.retries == 2


def test_a_retry_after_beyond_the_maximum_stops_the_sync_to_be_rerun_later(tmp_path, receiver, monkeypatch, waits):
    monkeypatch.setenv("ACTIVATE__HOOK__SECRET", SECRET)
    destination = make_destination(tmp_path, "hook", webhook_entry(receiver, max_retry_after_seconds=600))
    destination.start_run(RUN)
    receiver.script.extend([503])
    receiver.retry_after = "3600"  # a maintenance window

    with pytest.raises(DestinationError, match=r"asked to wait 3,600 s .* more than max_retry_after_seconds \(600 s\).*rerun the sync after that wait"):
        destination.write_batch([{"external_id": "p1", "phone": "13800000001", "member_level": None}], "add", "k1")
    assert waits == []
