"""SMS gateway destination (Alibaba Cloud SendBatchSms): the shared conformance suite, then the
gateway's own rules (RPC signature, aligned per-recipient parameters, numbers and template values
checked before sending, batch-level refusals, credential errors, OutId, delivery statuses pulled
by QuerySendDetails, delivery-report callbacks) against a fake on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml

from activation.destinations import SentRecord, build_destination, load_destination_configs
from activation.destinations.aliyun_rpc import percent_encode, rpc_signature
from activation.errors import ActivationError, DestinationError
from tests.conformance import PHONE_PATTERN, RECORDS, RUN, DestinationConformance
from tests.fakes.sms_server import FakeAliyunSms, _answer

KEY_ID = "LTAI-test-key-id-not-real"
KEY_SECRET = "test-key-secret-not-real-0123456789"
NAME = "aliyun_sms"
ENV_ID = "ACTIVATE__ALIYUN_SMS__ACCESS_KEY_ID"
ENV_SECRET = "ACTIVATE__ALIYUN_SMS__ACCESS_KEY_SECRET"
TEMPLATE = "SMS_154950909"
FAST_RETRIES = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "max_retries": 3}
BEIJING = dt.timezone(dt.timedelta(hours=8))


def sms_settings(endpoint: str, **overrides) -> dict:
    return {
        "type": "sms_gateway",
        "channel": "sms",
        "fields": ["display_name", "member_level"],
        "endpoint": endpoint,
        "sign_name": "万象会员",
        "template_code": TEMPLATE,
        "template_params": {"name": "display_name"},
        **FAST_RETRIES,
        **overrides,
    }


def load(tmp_path, monkeypatch, endpoint, key_id=KEY_ID, key_secret=KEY_SECRET, **overrides):
    monkeypatch.setenv(ENV_ID, key_id)
    monkeypatch.setenv(ENV_SECRET, key_secret)
    path = tmp_path / "destinations.yml"
    path.write_text(
        yaml.safe_dump({"destinations": {NAME: sms_settings(endpoint, **overrides)}}, allow_unicode=True),
        encoding="utf-8",
    )
    return load_destination_configs(path)[NAME]


def build(tmp_path, monkeypatch, endpoint, **kwargs):
    destination = build_destination(load(tmp_path, monkeypatch, endpoint, **kwargs))
    destination.start_run(RUN)
    return destination


def new_fake(**kwargs) -> FakeAliyunSms:
    phones = {record["external_id"]: record["phone"] for record in RECORDS}
    return FakeAliyunSms(KEY_ID, KEY_SECRET, phones_by_external_id=phones, **kwargs).start()


@pytest.fixture
def fake():
    service = new_fake()
    yield service
    service.stop()


@pytest.fixture
def sms(fake, tmp_path, monkeypatch):
    destination = build(tmp_path, monkeypatch, fake.endpoint)
    yield destination
    destination.close()


def member(n: int, **fields) -> dict:
    return {"external_id": f"p{n:05d}", "phone": f"1390000{n:04d}", "display_name": f"王{n}",
            "member_level": "gold", **fields}


class TestSmsConformance(DestinationConformance):
    @pytest.fixture
    def service(self):
        # Like the real service: a resent request is sent again (OutId is not deduplicated).
        service = new_fake(dedupe_out_id=False)
        yield service
        service.stop()

    @pytest.fixture
    def destination(self, service, tmp_path, monkeypatch):
        destination = build(tmp_path, monkeypatch, service.endpoint)
        yield destination
        destination.close()

    def expected_key(self, destination, record):
        # The gateway sees the number, not the one_id.
        return record["phone"]

    # SendBatchSms has no per-number refusal: one refused number refuses the whole request.
    refusal_scope = "batch"

    def test_the_gateway_names_its_error_code_for_a_refused_batch(self, destination, service, records):
        service.reject(records[1]["external_id"], "number 13800000002 is on the blacklist")

        _, result = self.write(destination, records)

        assert all("isv.MOBILE_NUMBER_ILLEGAL" in outcome.error for outcome in result.results)


# The RPC signature, checked against Alibaba Cloud's documented example (GET DescribeRegions).

def test_rpc_signature_matches_the_documented_example():
    params = {
        "Timestamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }

    assert rpc_signature("GET", params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="
    assert rpc_signature("GET", {**params, "Signature": "ignored"}, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_percent_encoding_follows_rfc_3986():
    assert percent_encode("a b*c~d/+") == "a%20b%2Ac~d%2F%2B"
    assert percent_encode("万象") == "%E4%B8%87%E8%B1%A1"


# The request.

def test_one_call_sends_aligned_numbers_sign_names_and_template_values(sms, fake, monkeypatch):
    urls = []
    original = requests.Session.request

    def spy(self, method, url, **kwargs):
        urls.append((method, url))
        return original(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    records = [member(1), member(2, phone="+86 139-0000-0002"), member(3)]

    result = sms.write_batch(records, "add", "key-1")

    assert all(outcome.ok for outcome in result.results)
    [request] = fake.requests
    assert request["Action"] == "SendBatchSms" and request["Version"] == "2017-05-25"
    assert json.loads(request["PhoneNumberJson"]) == ["13900000001", "13900000002", "13900000003"]
    assert json.loads(request["SignNameJson"]) == ["万象会员"] * 3
    assert json.loads(request["TemplateParamJson"]) == [{"name": "王1"}, {"name": "王2"}, {"name": "王3"}]
    assert request["TemplateCode"] == TEMPLATE and request["OutId"] == "key-1"
    assert [(m["phone"], m["params"]) for m in fake.messages] == [
        ("13900000001", {"name": "王1"}), ("13900000002", {"name": "王2"}), ("13900000003", {"name": "王3"}),
    ]
    # POSTed as a form: no number and no key in the URL.
    assert [method for method, _ in urls] == ["POST"]
    assert all("139" not in url and KEY_ID not in url for _, url in urls)
    # Every record carries the BizId, for the delivery-status query.
    assert {outcome.reference for outcome in result.results} == {fake.messages[0]["biz_id"]}


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        (None, "no phone (not sent)"),
        ("12345", "phone is not a mainland China mobile number (not sent)"),
        ("021-6123-4567", "phone is not a mainland China mobile number (not sent)"),
        # Eleven digits that look like a mainland mobile once the foreign country code is dropped.
        ("+1 415 555 0100", "phone is not a mainland China mobile number (not sent)"),
        ("001 415 555 0100", "phone is not a mainland China mobile number (not sent)"),
    ],
)
def test_a_number_the_gateway_would_refuse_is_rejected_alone_before_sending(sms, fake, phone, reason):
    records = [member(1), member(2, phone=phone), member(3)]

    result = sms.write_batch(records, "add", "key-1")

    assert [outcome.error for outcome in result.results] == [None, reason, None]
    assert json.loads(fake.requests[0]["PhoneNumberJson"]) == ["13900000001", "13900000003"]
    assert json.loads(fake.requests[0]["TemplateParamJson"]) == [{"name": "王1"}, {"name": "王3"}]


def test_a_missing_template_value_is_rejected_alone_before_sending(fake, tmp_path, monkeypatch):
    fake.templates[TEMPLATE] = {"name", "level"}
    destination = build(
        tmp_path, monkeypatch, fake.endpoint,
        template_params={"name": "display_name", "level": "member_level"},
    )

    result = destination.write_batch(
        [member(1), member(2, member_level=None), member(3, member_level=" ")], "add", "key-1"
    )
    destination.close()

    assert [outcome.error for outcome in result.results] == [
        None,
        "member_level is empty; template variable level needs it (not sent)",
        "member_level is empty; template variable level needs it (not sent)",
    ]
    assert [m["params"] for m in fake.messages] == [{"name": "王1", "level": "gold"}]


def test_a_batch_level_refusal_rejects_every_record_with_the_service_code(fake, tmp_path, monkeypatch):
    # The template needs a variable the configuration does not fill: the gateway refuses all.
    fake.templates[TEMPLATE] = {"name", "coupon"}
    destination = build(tmp_path, monkeypatch, fake.endpoint)

    result = destination.write_batch([member(1), member(2)], "add", "key-1")
    destination.close()

    assert [outcome.error for outcome in result.results] == ["isv.TEMPLATE_MISSING_PARAMETERS: 模板缺少变量"] * 2
    assert fake.messages == []


def test_service_messages_are_scrubbed_of_numbers(sms, fake, monkeypatch):
    monkeypatch.setattr(
        fake, "handle", lambda method, params: _answer(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号 13900000001")
    )

    result = sms.write_batch([member(1)], "add", "key-1")

    assert result.results[0].error == "isv.MOBILE_NUMBER_ILLEGAL: 非法手机号 139****0001"


# Credentials and account-level refusals stop the sync.

@pytest.mark.parametrize(
    ("key_id", "key_secret", "code"),
    [
        (KEY_ID, "a-wrong-secret-not-real", "SignatureDoesNotMatch"),
        ("LTAI-unknown-key-id", KEY_SECRET, "InvalidAccessKeyId.NotFound"),
    ],
)
def test_bad_credentials_stop_naming_both_variables_and_nothing_secret(
    fake, tmp_path, monkeypatch, key_id, key_secret, code
):
    destination = build(tmp_path, monkeypatch, fake.endpoint, key_id=key_id, key_secret=key_secret)

    with pytest.raises(DestinationError) as raised:
        destination.write_batch([member(1), member(2)], "add", "key-1")

    message = str(raised.value)
    assert code in message and ENV_ID in message and ENV_SECRET in message
    assert key_secret not in message and KEY_SECRET not in message
    # The real service quotes the string to sign (numbers included) for a bad signature.
    assert "139" not in message and "string to sign" not in message
    assert fake.messages == []


def test_an_account_that_cannot_send_stops_the_sync(sms, fake, monkeypatch):
    monkeypatch.setattr(fake, "handle", lambda method, params: _answer(200, "isv.OUT_OF_SERVICE", "业务停机"))

    with pytest.raises(DestinationError, match="isv.OUT_OF_SERVICE"):
        sms.write_batch([member(1)], "add", "key-1")


def test_each_attempt_is_signed_afresh(sms, fake, monkeypatch):
    # The fake refuses a reused SignatureNonce: a retry must carry a new nonce and timestamp.
    original = fake.handle
    calls = []

    def throttle_first(method, params):
        calls.append(params["SignatureNonce"])
        if len(calls) == 1:
            assert fake._authenticate(method, params) is None
            return _answer(200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
        return original(method, params)

    monkeypatch.setattr(fake, "handle", throttle_first)

    result = sms.write_batch([member(1)], "add", "key-1")

    assert all(outcome.ok for outcome in result.results)
    assert len(calls) == 2 and calls[0] != calls[1]


# Idempotency: OutId.

def test_a_resent_batch_with_the_same_out_id_is_acknowledged_not_delivered_twice(sms, fake):
    first = sms.write_batch([member(1), member(2)], "add", "key-1")
    again = sms.write_batch([member(1), member(2)], "add", "key-1")
    other = sms.write_batch([member(1)], "add", "key-2")

    assert [o.reference for o in again.results] == [o.reference for o in first.results]
    assert all(outcome.ok for outcome in again.results)
    assert fake.delivered("add") == {"13900000001": 2, "13900000002": 1}
    assert other.results[0].reference != first.results[0].reference


# Configuration.

def test_a_message_cannot_be_updated_or_removed(sms):
    with pytest.raises(DestinationError, match="cannot remove"):
        sms.write_batch([{"external_id": "p00001"}], "remove", "key-1")


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"batch_size": 101}, "limit of 100 records per call"),
        ({"mode": "mirror"}, "mode: a sms_gateway destination supports mode append, got 'mirror'"),
        ({"access_key_secret": "in-the-file"}, "secrets do not belong in the file"),
        ({"sign_name": " "}, "sign_name: must have at least 1 character"),
    ],
)
def test_config_refuses_what_the_gateway_cannot_take(fake, tmp_path, monkeypatch, overrides, problem):
    with pytest.raises(ActivationError, match=problem):
        load(tmp_path, monkeypatch, fake.endpoint, **overrides)


def test_config_requires_a_sign_name_and_a_template(fake, tmp_path):
    settings = sms_settings(fake.endpoint)
    del settings["template_code"]
    path = tmp_path / "destinations.yml"
    path.write_text(yaml.safe_dump({"destinations": {NAME: settings}}), encoding="utf-8")

    with pytest.raises(ActivationError, match=r"template_code: missing \(required\)"):
        load_destination_configs(path)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"template_params": {"level": "member_level"}, "fields": ["display_name"]},
         "template variable level reads member_level: add it to `fields`"),
        ({"template_params": {"name": "nickname"}}, "template variable name reads 'nickname'"),
        ({"hashed_fields": ["phone"]}, "remove phone from hashed_fields"),
        ({"channel": "email"}, "channel must be sms"),
        ({"endpoint": "dysmsapi.aliyuncs.com"}, "endpoint must be an http(s) URL"),
    ],
)
def test_check_names_what_is_wrong(fake, tmp_path, monkeypatch, overrides, problem):
    overrides = dict(overrides)
    endpoint = overrides.pop("endpoint", fake.endpoint)
    destination = build_destination(load(tmp_path, monkeypatch, endpoint, **overrides))

    with pytest.raises(ActivationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        destination.check()


# Delivery statuses: QuerySendDetails.

def test_pull_feedback_yields_delivered_and_failed_and_waits_for_pending(tmp_path, monkeypatch):
    # Sent at 00:30 Beijing time, which is still the previous day in UTC: SendDate is Beijing's.
    today_beijing = dt.datetime.now(BEIJING).replace(hour=0, minute=30, second=0, microsecond=0)
    sent_at = today_beijing.astimezone(dt.UTC)
    fake = new_fake(clock=lambda: sent_at)
    fake.outcomes["13900000002"] = (2, "MK:0001")
    fake.outcomes["13900000003"] = (1, "")
    destination = build(tmp_path, monkeypatch, fake.endpoint)
    records = [member(1), member(2), member(3), member(4)]
    results = destination.write_batch(records, "add", "key-1").results
    sent = [
        SentRecord(r["external_id"], "c1", r["phone"], outcome.reference, sent_at.replace(tzinfo=None))
        for r, outcome in zip(records, results, strict=True)
    ]
    sent[3] = SentRecord("p00004", "c1", None, results[3].reference, sent_at)  # phone gone since
    sent.append(SentRecord("p00005", "c1", "13900000005", None, sent_at))  # no BizId in the ledger

    rows = list(destination.pull_feedback(sent))
    destination.close()
    fake.stop()

    report_at = sent_at + dt.timedelta(seconds=3)
    assert rows == [
        {"campaign_id": "c1", "one_id": "p00001", "event_type": "delivered", "occurred_at": report_at,
         "destination_name": NAME},
        {"campaign_id": "c1", "one_id": "p00002", "event_type": "failed", "occurred_at": report_at,
         "destination_name": NAME},
    ]
    queries = [request for request in fake.requests if request["Action"] == "QuerySendDetails"]
    assert [q["PhoneNumber"] for q in queries] == ["13900000001", "13900000002", "13900000003"]
    assert {q["SendDate"] for q in queries} == {today_beijing.strftime("%Y%m%d")}
    assert {q["BizId"] for q in queries} == {results[0].reference}
    assert {(q["PageSize"], q["CurrentPage"]) for q in queries} == {("50", "1")}


def test_pull_feedback_skips_messages_older_than_the_query_window(sms, fake):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)

    rows = list(sms.pull_feedback([SentRecord("p00001", "c1", "13900000001", "1^0", old)]))

    assert rows == [] and fake.requests == []


# Delivery-report callbacks (SmsReport), for `activate feedback serve`.

def test_the_fake_posts_delivery_reports_in_the_sms_report_shape(sms, fake):
    fake.outcomes["13900000002"] = (2, "MK:0001")
    fake.outcomes["13900000003"] = (1, "")
    sms.write_batch([member(1), member(2), member(3)], "add", "key-1")
    received = []

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            body = json.dumps({"code": 0, "msg": "成功"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        response = fake.push_reports(f"http://127.0.0.1:{server.server_address[1]}/sms/report")
    finally:
        server.shutdown()
        server.server_close()

    assert response.json() == {"code": 0, "msg": "成功"}
    [reports] = received
    biz_id = fake.messages[0]["biz_id"]
    assert [(r["phone_number"], r["success"], r["err_code"]) for r in reports] == [
        ("13900000001", True, "DELIVERED"), ("13900000002", False, "MK:0001"),
    ]
    assert all(set(r) == {"phone_number", "send_time", "report_time", "success", "err_code", "err_msg",
                          "sms_size", "biz_id", "out_id"} for r in reports)
    assert {(r["biz_id"], r["out_id"]) for r in reports} == {(biz_id, "key-1")}
    assert dt.datetime.strptime(reports[0]["report_time"], "%Y-%m-%d %H:%M:%S")
