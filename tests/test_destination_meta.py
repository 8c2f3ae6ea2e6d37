"""Meta Custom Audience destination: the shared conformance suite, then Meta's own rules
(normalisation and hashing, the request shape, sessions, DELETE for removals, the 10,000-row cap,
throttling codes, token errors and invalid-entry samples) against a fake on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
import requests
import yaml

from activation.destinations import build_destination, load_destination_configs
from activation.errors import ActivationError, DestinationError
from tests.conformance import RUN, DestinationConformance
from tests.fakes.meta_server import FakeMetaAudience

TOKEN = "EAAB-test-token-not-real-0123456789"
AUDIENCE_ID = "23850000000000001"
NAME = "meta_ads"
ENV_VAR = "ACTIVATE__META_ADS__ACCESS_TOKEN"
FAST_RETRIES = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "max_retries": 3}

ALICE_SHA256 = "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"  # alice@example.com
PHONE_SHA256 = "bf08aacce7f9b2452863cf99373043c3333f0e3127f1f787c4abb46ab6cf2b83"  # 8613800138000


def write_config(tmp_path: Path, settings: dict) -> Path:
    path = tmp_path / "destinations.yml"
    path.write_text(yaml.safe_dump({"destinations": {NAME: settings}}), encoding="utf-8")
    return path


def meta_settings(base_url: str, **overrides) -> dict:
    return {
        "type": "meta_custom_audience",
        "channel": "ad_platform",
        "audience_id": AUDIENCE_ID,
        "base_url": base_url,
        **FAST_RETRIES,
        **overrides,
    }


def build(tmp_path, monkeypatch, base_url: str, token: str = TOKEN, **overrides):
    monkeypatch.setenv(ENV_VAR, token)
    config = load_destination_configs(write_config(tmp_path, meta_settings(base_url, **overrides)))
    destination = build_destination(config[NAME])
    destination.start_run(RUN)
    return destination


def row_key(record: dict) -> str:
    """The row Meta sees: the hashes in schema order (EMAIL, PHONE), then EXTERN_ID."""
    return "|".join(
        [record.get(field) or "" for field in ("email", "phone") if field in record]
        + [record["external_id"]]
    )


@pytest.fixture
def fake():
    service = FakeMetaAudience(TOKEN, AUDIENCE_ID).start()
    yield service
    service.stop()


@pytest.fixture
def meta(fake, tmp_path, monkeypatch):
    destination = build(tmp_path, monkeypatch, fake.base_url)
    yield destination
    destination.close()


def member(n: int, **fields) -> dict:
    return {"external_id": f"p{n:05d}", "phone": f"138{n:08d}", "email": f"u{n}@example.com", **fields}


def encoded(destination, records):
    out = []
    for record in records:
        record, reason = destination.encode(record)
        assert reason is None, reason
        out.append(record)
    return out


class TestMetaConformance(DestinationConformance):
    @pytest.fixture
    def service(self):
        service = FakeMetaAudience(TOKEN, AUDIENCE_ID).start()
        yield service
        service.stop()

    @pytest.fixture
    def destination(self, service, tmp_path, monkeypatch):
        destination = build(tmp_path, monkeypatch, service.base_url)
        yield destination
        destination.close()

    def expected_key(self, destination, record):
        return row_key(record)


# Normalisation and hashing (Meta's SDK rules).

def test_email_is_trimmed_and_lower_cased_before_hashing(meta):
    record, reason = meta.encode({"external_id": "p1", "email": " Alice@Example.COM ", "phone": None})

    assert reason is None
    assert record["email"] == ALICE_SHA256
    assert record["phone"] is None


@pytest.mark.parametrize("phone", ["+86 138-0013-8000", "008613800138000", "13800138000"])
def test_phone_becomes_digits_with_country_code_and_no_leading_zeros(meta, phone):
    record, reason = meta.encode({"external_id": "p1", "email": None, "phone": phone})

    assert reason is None
    assert record["phone"] == PHONE_SHA256 == hashlib.sha256(b"8613800138000").hexdigest()


def test_a_member_without_a_usable_identifier_is_not_sent(meta):
    record, reason = meta.encode({"external_id": "p1", "email": "  ", "phone": "12-34"})

    assert record is None
    assert "invalid" in reason and "12-34" not in reason


# The request.

def test_add_posts_hashed_rows_with_extern_id_and_the_token_in_the_body(meta, fake):
    records = encoded(meta, [member(1), member(2, email=None)])

    result = meta.write_batch(records, "add", "key-1")

    assert all(outcome.ok for outcome in result.results)
    [request] = fake.requests
    assert request["method"] == "POST"
    assert request["path"] == f"/v21.0/{AUDIENCE_ID}/users"
    assert request["schema"] == ["EMAIL", "PHONE", "EXTERN_ID"]
    assert request["rows"] == [
        [records[0]["email"], records[0]["phone"], "p00001"],
        ["", records[1]["phone"], "p00002"],
    ]
    assert "access_token" in request["form_keys"]
    assert all(len(value) == 64 for row in request["rows"] for value in row[:2] if value)
    # The record results carry Meta's session id, for matching later reports.
    assert {outcome.reference for outcome in result.results} == {str(request["session"]["session_id"])}


def test_the_token_goes_in_the_query_string_and_never_into_a_message(meta, fake, monkeypatch):
    """As Meta's SDK sends it (FacebookSession puts access_token in every request's params); an
    error message echoing it shows *** instead (test_a_service_message_echoing_the_token...)."""
    meta.write_batch(encoded(meta, [member(1)]), "add", "key-1")

    [request] = fake.requests
    assert request["query"] == {"access_token": TOKEN}
    assert "access_token" not in request["body_keys"]


def test_remove_uses_delete_by_extern_id(meta, fake):
    meta.write_batch(encoded(meta, [member(1), member(2)]), "add", "key-1")

    result = meta.write_batch([{"external_id": "p00001"}], "remove", "key-2")

    assert all(outcome.ok for outcome in result.results)
    assert fake.requests[-1]["method"] == "DELETE"
    assert fake.requests[-1]["schema"] == ["EXTERN_ID"]
    assert fake.requests[-1]["rows"] == [["p00001"]]
    assert set(fake.members) == {"p00002"}


def test_a_run_s_batches_of_one_operation_share_one_session_the_last_planned_one_flagged(
    fake, tmp_path, monkeypatch
):
    destination = build(tmp_path, monkeypatch, fake.base_url, batch_size=2)
    # The sync planned 3 add batches (5 records) and 1 removal batch.
    destination.start_run(dataclasses.replace(RUN, planned={"add": (3, 5), "remove": (1, 1)}))
    records = encoded(destination, [member(n) for n in range(1, 6)])

    # The middle batch is short: one of its records was refused before sending.
    for batch in (records[0:2], records[2:3], records[4:5]):
        destination.write_batch(batch, "add", f"key-{batch[0]['external_id']}")
    destination.write_batch([{"external_id": "p00001"}], "remove", "key-r")
    # A batch after the last planned one (a destination driven by hand) opens a new session.
    destination.write_batch(records[0:1], "add", "key-again")
    destination.close()

    sessions = [request["session"] for request in fake.requests]
    adds, removes, again = sessions[:3], sessions[3:4], sessions[4]
    assert len({s["session_id"] for s in adds}) == 1
    assert [s["batch_seq"] for s in adds] == [1, 2, 3]
    assert [s["last_batch_flag"] for s in adds] == [False, False, True]
    assert [s["estimated_num_total"] for s in adds] == [5, 5, 5]
    # Removals are a session of their own.
    assert removes[0]["session_id"] != adds[0]["session_id"]
    assert (removes[0]["batch_seq"], removes[0]["last_batch_flag"]) == (1, True)
    assert again["session_id"] != adds[0]["session_id"] and again["batch_seq"] == 1


def test_a_run_whose_rows_are_a_multiple_of_the_batch_size_flags_its_last_batch(fake, tmp_path, monkeypatch):
    destination = build(tmp_path, monkeypatch, fake.base_url, batch_size=2)
    destination.start_run(dataclasses.replace(RUN, planned={"add": (2, 4)}))
    records = encoded(destination, [member(n) for n in range(1, 5)])

    destination.write_batch(records[:2], "add", "key-1")
    destination.write_batch(records[2:], "add", "key-2")

    assert [request["session"]["last_batch_flag"] for request in fake.requests] == [False, True]


# Limits.

def test_a_batch_size_above_10000_is_refused_by_the_config(fake, tmp_path, monkeypatch):
    with pytest.raises(ActivationError, match="limit of 10000 records per call"):
        build(tmp_path, monkeypatch, fake.base_url, batch_size=10_001)


def test_the_fake_refuses_more_than_10000_rows_like_meta(meta, fake):
    records = [{"external_id": f"p{n:05d}", "email": f"{n:064x}", "phone": None} for n in range(10_001)]

    result = meta.write_batch(records, "add", "key-1")

    assert len(result.results) == 10_001
    assert {outcome.error for outcome in result.results} == {result.results[0].error}
    assert "Meta error 100/1870106" in result.results[0].error and "10000" in result.results[0].error
    assert sum(fake.received.values()) == 0


# Errors.

def test_an_invalid_token_stops_the_sync_naming_the_variable_not_the_token(fake, tmp_path, monkeypatch):
    wrong = "EAAB-wrong-token-also-not-real-9876"
    destination = build(tmp_path, monkeypatch, fake.base_url, token=wrong)

    with pytest.raises(DestinationError) as raised:
        destination.write_batch(encoded(destination, [member(1)]), "add", "key-1")

    message = str(raised.value)
    assert ENV_VAR in message and "190" in message
    assert wrong not in message and TOKEN not in message
    assert len(fake.requests) == 0 and sum(fake.received.values()) == 0


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80003])
def test_throttling_codes_on_http_400_are_retried(meta, fake, monkeypatch, code):
    original = fake.handle
    calls = []

    def throttle_once(*args):
        calls.append(1)
        if len(calls) == 1:
            return 400, {"error": {"message": "(#%d) Too many calls" % code, "type": "OAuthException",
                                   "code": code, "fbtrace_id": "Abc"}}
        return original(*args)

    monkeypatch.setattr(fake, "handle", throttle_once)

    result = meta.write_batch(encoded(meta, [member(1)]), "add", "key-1")

    assert len(calls) == 2
    assert all(outcome.ok for outcome in result.results)
    assert sum(fake.delivered("add").values()) == 1


def test_another_client_error_rejects_the_batch_once_with_the_message(fake, tmp_path, monkeypatch):
    fake.audience_id = "999"  # the configured audience no longer exists
    destination = build(tmp_path, monkeypatch, fake.base_url)

    result = destination.write_batch(encoded(destination, [member(1), member(2)]), "add", "key-1")
    destination.close()

    errors = [outcome.error for outcome in result.results]
    assert len(set(errors)) == 1 and errors[0].startswith("Meta error 100/33:")
    assert "does not exist" in errors[0] and "fbtrace_id" in errors[0]
    assert len(fake.requests) == 0


def test_a_service_message_echoing_the_token_is_redacted(meta, fake, monkeypatch):
    monkeypatch.setattr(
        fake, "handle",
        lambda *args: (400, {"error": {"message": f"Malformed access token {TOKEN} for u1@example.com",
                                       "type": "OAuthException", "code": 100}}),
    )

    result = meta.write_batch(encoded(meta, [member(1)]), "add", "key-1")

    assert result.results[0].error == "Meta error 100: Malformed access token *** for u***@example.com"


def test_invalid_entries_beyond_the_samples_cannot_be_attributed(meta, fake):
    # Meta reports the count of invalid entries and only a few samples: those records are
    # rejected; the rest cannot be told apart and count as taken (documented limit).
    records = encoded(meta, [member(n) for n in range(1, 9)])
    for record in records[:7]:
        fake.reject(record["external_id"], "unusable entry")

    result = meta.write_batch(records, "add", "key-1")

    rejected = [outcome.external_id for outcome in result.results if not outcome.ok]
    assert rejected == [f"p{n:05d}" for n in range(1, 6)]
    assert all(o.error == "Meta reported an invalid entry: unusable entry" for o in result.results if not o.ok)
    assert sum(fake.delivered("add").values()) == 1


def test_check_names_bad_options(fake, tmp_path, monkeypatch):
    destination = build(tmp_path, monkeypatch, fake.base_url, audience_id="my audience", api_version="21")

    with pytest.raises(ActivationError) as raised:
        destination.check()

    assert "audience_id" in str(raised.value) and "api_version" in str(raised.value)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"channel": "sms"}, "channel must be ad_platform"),
        ({"mode": "append"}, "supports mode mirror or upsert"),
        ({"access_token": "in-the-file"}, "secrets do not belong in the file"),
    ],
)
def test_config_refuses_what_meta_cannot_take(fake, tmp_path, monkeypatch, overrides, problem):
    monkeypatch.setenv(ENV_VAR, TOKEN)
    path = write_config(tmp_path, meta_settings(fake.base_url, **overrides))

    with pytest.raises(ActivationError, match=problem):
        load_destination_configs(path)


def test_the_session_id_is_a_positive_int64_stable_across_destinations_of_a_run(
    meta, fake, tmp_path, monkeypatch
):
    meta.write_batch(encoded(meta, [member(1)]), "add", "key-1")
    # A second process resuming the same run keeps writing into the same session.
    resumed = build(tmp_path, monkeypatch, fake.base_url)
    resumed.write_batch(encoded(resumed, [member(2)]), "add", "key-2")
    resumed.close()

    first, second = (request["session"]["session_id"] for request in fake.requests)
    assert isinstance(first, int) and 0 < first < 2**63
    assert first == second
