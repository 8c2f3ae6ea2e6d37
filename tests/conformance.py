"""The one conformance suite every destination type passes.

A destination's test module subclasses DestinationConformance and provides two fixtures:

- `destination`: a configured Destination (built from a destinations.yml entry, secrets set
  with monkeypatch) pointed at a fake of its service on 127.0.0.1, `start_run(RUN)` already
  called;
- `service`: that fake, implementing the FakeService protocol below.

and may override `records` (the records written, by default RECORDS for the destination's
channel). Type-specific behaviour (the service's own payload shape, token refresh, ...) is tested
beside the subclass.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Protocol

import pytest

from activation.destinations import MODES, Destination, RunInfo
from activation.destinations.base import CHANNEL_ADDRESS_FIELDS, PAYLOAD_FIELD_CHOICES
from activation.errors import ActivationError, DestinationError

PHONE_PATTERN = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")

RUN = RunInfo(run_id="run-1", audience_name="test_audience", destination_name="x", campaign_id="c1")

# Three reachable members on every channel; the phone numbers must never leave raw where hashed.
RECORDS = [
    {
        "external_id": f"p0000{n}",
        "phone": f"1380000000{n}",
        "email": f" User{n}@Example.com ",
        "wechat_unionid": f"union{n}",
        "wechat_openid": f"wx_app:open{n}",
        "app_device_id": f"device{n}",
        "display_name": f"张{n}",
        "member_level": ("gold", None, "silver")[n - 1],
        "lifecycle_stage": "growth",
        "rfm_group": "important_value",
    }
    for n in (1, 2, 3)
]


class FakeService(Protocol):
    """What every fake service on loopback offers the conformance suite."""

    def delivered(self, operation: str) -> Counter[str]:
        """How many times the service took each record with this operation (add, update,
        remove), keyed by `expected_key(record)` of the test class."""

    def inject(self, *answers: str) -> None:
        """Answer the next requests, in order, with: "throttle" (the service's own rate-limit
        answer, with its retry hint if it has one), "server_error" (a transient 5xx or the
        service's equivalent) or "drop" (close the connection without answering): nothing is
        processed for these; "lost_answer": processed, then the connection is closed without
        the answer (needed by fakes of services that cannot recognise a resent request)."""

    def reject(self, external_id: str, message: str) -> None:
        """From now on, refuse this record with the service's own error for one record,
        carrying `message` (the fake may add its own code)."""


class DestinationConformance:
    """Subclass with `destination` and `service` fixtures; see the module docstring."""

    # "record": the service refuses one record and takes the others (most APIs); "batch": one
    # refused record refuses the whole request (Alibaba Cloud SendBatchSms).
    refusal_scope = "record"

    @pytest.fixture
    def records(self, destination) -> list[dict]:
        fields = ("external_id", *destination.payload_fields)
        return [{key: record[key] for key in fields} for record in RECORDS]

    def expected_key(self, destination: Destination, record: dict) -> str:
        """The key the fake counts a record under; by default its external_id."""
        return record["external_id"]

    def operations(self, destination: Destination) -> tuple[str, ...]:
        return {"mirror": ("add", "update", "remove"), "upsert": ("add", "update")}.get(
            destination.mode, ("add",)
        )

    def write(self, destination, records, operation="add", key="key-1"):
        encoded = []
        for record in records:
            if operation == "remove":
                record = {"external_id": record["external_id"]}
            else:
                record, reason = destination.encode(record)
                assert reason is None, reason
            encoded.append(record)
        return encoded, destination.write_batch(encoded, operation, key)

    def test_declares_what_it_needs(self, destination):
        cls = type(destination)
        assert cls.type_name and cls.Options is not None
        assert cls.supported_modes and set(cls.supported_modes) <= set(MODES)
        assert destination.mode in cls.supported_modes
        assert destination.channel in CHANNEL_ADDRESS_FIELDS
        assert set(destination.payload_fields) <= set(PAYLOAD_FIELD_CHOICES)
        assert destination.batch_size is None or destination.batch_size > 0
        if cls.max_batch_size is not None:
            assert destination.batch_size is not None
            assert destination.batch_size <= cls.max_batch_size
        assert destination.rate_limit is None or destination.rate_limit > 0
        assert destination.hashed_fields <= set(destination.payload_fields)
        assert set(cls.field_normalisers) <= set(PAYLOAD_FIELD_CHOICES)

    def test_check_passes_when_configured(self, destination):
        destination.check()

    def test_check_names_each_missing_secret(self, destination, monkeypatch):
        cls = type(destination)
        if not cls.secret_names:
            pytest.skip(f"{cls.type_name} needs no secret")
        config = destination.config
        for key in cls.secret_names:
            stripped = type(config)(**{**config.__dict__, "secrets": {**config.secrets, key: None}})
            with pytest.raises(ActivationError, match=config.secret_env_var(key)):
                cls(stripped).check()

    def test_write_batch_answers_for_every_record(self, destination, service, records):
        for number, operation in enumerate(self.operations(destination)):
            encoded, result = self.write(destination, records, operation, key=f"key-{number}")

            assert [outcome.external_id for outcome in result.results] == [
                record["external_id"] for record in records
            ]
            assert all(outcome.ok for outcome in result.results), result
            assert service.delivered(operation) == Counter(
                self.expected_key(destination, record) for record in encoded
            )

    def test_hashed_fields_never_leave_in_the_clear(self, destination, records):
        for record in records:
            encoded, reason = destination.encode(record)
            assert reason is None
            for field_name in destination.hashed_fields:
                if record.get(field_name) is not None:
                    assert encoded[field_name] != record[field_name]
                    assert len(encoded[field_name]) in (32, 64)  # md5 or sha256 hex

    def test_transient_failures_are_retried_until_taken(self, destination, service, records):
        # A dropped answer may hide a request that was carried out: only a destination whose
        # service recognises a resent request may retry it.
        dropped = ("drop",) if destination.deduplicates_resends else ()
        service.inject("throttle", "server_error", *dropped)

        _, result = self.write(destination, records)

        assert all(outcome.ok for outcome in result.results), result
        assert sum(service.delivered("add").values()) == len(records)

    def test_a_lost_answer_is_never_resent_where_a_resend_would_send_twice(
        self, destination, service, records
    ):
        if destination.deduplicates_resends:
            pytest.skip(f"{destination.type_name} recognises a resent batch")
        service.inject("lost_answer")

        try:
            self.write(destination, records)
        except DestinationError:
            pass  # the batch stays pending; the sync does not resend it either

        assert max(service.delivered("add").values(), default=0) <= 1

    def test_a_refused_record_carries_the_service_message_without_pii(
        self, destination, service, records
    ):
        refused = records[1]["external_id"]
        service.reject(refused, "number 13800000002 is on the blacklist")

        _, result = self.write(destination, records)

        errors = {outcome.external_id: outcome.error for outcome in result.results}
        assert errors[refused] and "blacklist" in errors[refused]
        assert not PHONE_PATTERN.search(errors[refused]), errors[refused]
        others = [errors[r["external_id"]] for r in records if r["external_id"] != refused]
        if self.refusal_scope == "batch":
            # Every record carries the service's message (retried by the next sync), none taken.
            assert all(error and "blacklist" in error for error in others), others
            assert not any(PHONE_PATTERN.search(error) for error in others), others
            assert sum(service.delivered("add").values()) == 0
        else:
            assert others == [None, None]
