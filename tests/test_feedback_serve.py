"""`activate feedback serve`: real HTTP requests on 127.0.0.1 against the callback receiver.

Signed callbacks are buffered and landed on flush, on --flush-every-events and at shutdown;
unsigned, stale and malformed ones are refused with nothing kept; SMS delivery receipts
(Alibaba Cloud SmsReport) are mapped to one_id through the ledger and the members mart, and
no phone number reaches the landing zone or the log.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import hmac
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import duckdb
import jinja2
import pyarrow.parquet as pq
import pytest
import requests
from click.testing import CliRunner

from activation.cli import main
from activation.errors import ActivationError
from activation.feedback_server import SECRET_ENV, FeedbackServer, ServeLimits
from activation.settings import Settings
from tests.conftest import PROJECT_DIR

FEEDBACK_SECRET = "feedback-secret-not-real"
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
SMS_DESTINATION = "aliyun_sms"
STAGING_MODEL = PROJECT_DIR / "models/staging/marketing/stg_marketing__feedback_events.sql"

EVENT = {"campaign_id": "c1", "one_id": "p00001", "event_type": "clicked",
         "occurred_at": "2026-10-01T08:00:00Z", "destination_name": "crm_webhook"}
CONVERSION = {"campaign_id": "c1", "external_id": "p00002", "event_type": "converted",
              "order_id": "o-9", "revenue_amount": 199.5,
              "occurred_at": "2026-10-01T16:30:00+08:00", "destination_name": "crm_webhook"}


# Warehouse helpers (also used by tests/test_feedback_pull.py) -----------------------------

def write_members(warehouse, phones: dict[str, str | None]) -> None:
    """A tiny marts.dim_members: one_id -> phone (the mart's phone is 11 digits)."""
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("create schema if not exists marts")
        connection.execute(
            "create or replace table marts.dim_members (one_id varchar, phone varchar, email varchar, "
            "wechat_unionid varchar, wechat_openid varchar, app_device_id varchar)"
        )
        connection.executemany(
            "insert into marts.dim_members values (?, ?, ?, ?, ?, ?)",
            [[one_id, phone, f"{one_id}@example.com", f"union-{one_id}", None, None]
             for one_id, phone in phones.items()],
        )


def insert_ledger(warehouse, rows: list[dict]) -> None:
    defaults = {"sync_run_id": "run-1", "audience_name": "test_audience", "channel": "sms",
                "operation": "add", "send_status": "sent", "batch_number": 1,
                "idempotency_key": "key-1", "payload_fingerprint": "fp",
                "recorded_at": dt.datetime(2026, 10, 1, 1, 59)}
    with duckdb.connect(str(warehouse.path)) as connection:
        for row in rows:
            row = {**defaults, **row}
            connection.execute(
                f"insert into activation.sync_ledger ({', '.join(row)}) "
                f"values ({', '.join('?' for _ in row)})",
                list(row.values()),
            )


# HTTP helpers -----------------------------------------------------------------------------

def signed_headers(body: bytes, *, secret: str = FEEDBACK_SECRET, timestamp: int | None = None) -> dict:
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-Onedata-Timestamp": timestamp, "X-Onedata-Signature": f"sha256={signature}",
            "Content-Type": "application/json"}


def post(url: str, payload, *, raw: bytes | None = None, headers: dict | None = None, **signing):
    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    return requests.post(url, data=body, headers=headers if headers is not None else signed_headers(body, **signing),
                         timeout=10)


def landed_rows(settings: Settings) -> list[dict]:
    folder = settings.raw_dir / "feedback_events"
    files = sorted(folder.glob("*.parquet")) if folder.exists() else []
    return sorted((row for path in files for row in pq.read_table(path).to_pylist()),
                  key=lambda row: (row["one_id"], row["event_type"]))


def reject_rows(settings: Settings) -> list[dict]:
    folder = settings.raw_dir.resolve().parent / "rejects" / "feedback_events"
    rows = []
    for path in sorted(folder.glob("*.csv")) if folder.exists() else []:
        with path.open(newline="", encoding="utf-8") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def rejects_text(settings: Settings) -> str:
    folder = settings.raw_dir.resolve().parent / "rejects" / "feedback_events"
    return "".join(path.read_text(encoding="utf-8") for path in folder.glob("*.csv"))


@pytest.fixture
def start_server(settings):
    servers = []

    def start(**options) -> FeedbackServer:
        options = {"port": 0, "flush_every_seconds": 60, "shutdown_wait_seconds": 0.2, **options}
        server = FeedbackServer(settings, FEEDBACK_SECRET, **options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        if not server._stopping.is_set():
            server.stop()


@pytest.fixture
def server(start_server) -> FeedbackServer:
    return start_server()


# Events (POST /feedback) ------------------------------------------------------------------

def test_signed_events_are_buffered_then_landed_and_bad_ones_kept_aside(server, settings):
    bad = {**EVENT, "one_id": "p00003", "event_type": "teleported"}

    answer = post(f"{server.url}/feedback", [EVENT, CONVERSION, bad, "not an object"])

    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 2)
    assert [r["index"] for r in body["rejections"]] == [2, 3]
    assert "teleported" in body["rejections"][0]["reason"]
    assert landed_rows(settings) == []  # buffered until the flush

    server.flush()

    clicked, converted = landed_rows(settings)
    assert (clicked["one_id"], clicked["event_type"]) == ("p00001", "clicked")
    assert clicked["occurred_at"] == dt.datetime(2026, 10, 1, 8, 0)
    assert clicked["feedback_event_id"].startswith("fb_")
    assert (converted["one_id"], converted["order_id"], str(converted["revenue_amount"])) == ("p00002", "o-9", "199.50")
    assert converted["occurred_at"] == dt.datetime(2026, 10, 1, 8, 30)  # +08:00 to UTC
    rejects = reject_rows(settings)
    assert [row["rejection_reason"] for row in rejects][1] == "not a JSON object"
    assert "event_type 'teleported'" in rejects[0]["rejection_reason"]
    assert (server.stats.received, server.stats.landed, server.stats.rejected) == (4, 2, 2)


def test_a_single_event_object_is_accepted(server, settings):
    answer = post(f"{server.url}/feedback", EVENT)
    server.flush()

    assert answer.status_code == 200 and answer.json()["accepted"] == 1
    assert [row["one_id"] for row in landed_rows(settings)] == ["p00001"]


@pytest.mark.parametrize(
    ("case", "headers_for"),
    [
        ("no signature", lambda body: {"Content-Type": "application/json"}),
        ("wrong secret", lambda body: signed_headers(body, secret="guessed")),
        ("body changed after signing", lambda body: signed_headers(body.replace(b"p00001", b"p00009"))),
        ("replayed timestamp", lambda body: signed_headers(body, timestamp=int(time.time()) - 301)),
        ("timestamp from the future", lambda body: signed_headers(body, timestamp=int(time.time()) + 301)),
    ],
)
def test_unsigned_tampered_and_replayed_callbacks_are_refused(server, settings, case, headers_for):
    body = json.dumps(EVENT).encode()

    answer = post(f"{server.url}/feedback", None, raw=body, headers=headers_for(body))
    server.flush()

    assert answer.status_code == 401, case
    assert FEEDBACK_SECRET not in answer.text
    assert landed_rows(settings) == [] and reject_rows(settings) == []
    assert server.stats.unauthorised == 1 and server.stats.accepted == 0


def test_a_timestamp_within_five_minutes_is_accepted(server):
    answer = post(f"{server.url}/feedback", EVENT, timestamp=int(time.time()) - 290)

    assert answer.status_code == 200 and answer.json()["accepted"] == 1


def test_a_body_that_is_not_json_is_400_and_nothing_is_kept(server, settings):
    answer = post(f"{server.url}/feedback", None, raw=b'{"campaign_id": "c1", ')
    server.flush()

    assert answer.status_code == 400 and "not JSON" in answer.json()["error"]
    assert landed_rows(settings) == [] and reject_rows(settings) == []


def test_unknown_paths_and_the_health_check(server):
    assert post(f"{server.url}/elsewhere", EVENT).status_code == 404
    assert post(f"{server.url}/feedback/sms_gateway/Bad-Name", [EVENT]).status_code == 404
    assert requests.get(f"{server.url}/health", timeout=5).json() == {"status": "ok"}


def test_the_same_event_across_flushes_and_restarts_counts_once_in_staging(start_server, settings):
    first = start_server()
    post(f"{first.url}/feedback", EVENT)
    first.flush()
    again = post(f"{first.url}/feedback", [EVENT, CONVERSION])
    first.flush()
    first.stop()
    # A new process has forgotten what it landed: the event lands a second time ...
    second = start_server()
    post(f"{second.url}/feedback", [EVENT, {**EVENT, "event_type": "opened"}])
    second.stop()

    assert again.json()["duplicates"] == 1
    rows = landed_rows(settings)
    assert len(rows) == 4 and len({row["feedback_event_id"] for row in rows}) == 3
    # ... and the staging model keeps it once, by its content-derived feedback_event_id.
    assert staged_event_count(settings) == 3


def staged_event_count(settings: Settings) -> int:
    """Run stg_marketing__feedback_events' own SQL over the landed files."""
    glob = settings.raw_dir / "feedback_events" / "*.parquet"
    sql = jinja2.Template(STAGING_MODEL.read_text()).render(
        # The staging model reads its base_ model's good rows: here every landed row is good.
        ref=lambda *_: f"(select *, null as rejection_reason from read_parquet('{glob}'))",
        dbt=SimpleNamespace(type_string=lambda: "varchar", type_timestamp=lambda: "timestamp"),
    )
    return duckdb.sql(f"select count(*) from ({sql})").fetchall()[0][0]


def test_flush_every_events_lands_without_waiting_for_the_timer(start_server, settings):
    server = start_server(flush_every_events=2)

    post(f"{server.url}/feedback", [EVENT, CONVERSION])

    deadline = time.monotonic() + 10
    while not landed_rows(settings) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(landed_rows(settings)) == 2


def test_a_full_buffer_answers_503_so_the_sender_retries(start_server, settings):
    server = start_server(max_buffered=1)

    full = post(f"{server.url}/feedback", [EVENT, CONVERSION])
    server.stop()

    assert full.status_code == 503 and full.headers["Retry-After"]
    assert landed_rows(settings) == []


def test_stop_flushes_the_buffer_and_then_refuses(start_server, settings):
    server = start_server()
    post(f"{server.url}/feedback", [EVENT, CONVERSION])
    url = server.url

    stats = server.stop()

    assert stats.landed == 2 and len(stats.landing_files) == 1
    assert len(landed_rows(settings)) == 2
    with pytest.raises(requests.ConnectionError):
        post(f"{url}/feedback", EVENT)


def test_a_failed_write_keeps_the_events_for_the_next_flush(server, settings, monkeypatch):
    from activation import feedback_server

    post(f"{server.url}/feedback", [EVENT, {**EVENT, "event_type": "nope"}])
    real_writer = feedback_server.write_landing_rows

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feedback_server, "write_landing_rows", disk_full)
    with pytest.raises(OSError):
        server.flush()
    assert landed_rows(settings) == [] and reject_rows(settings) == []
    monkeypatch.setattr(feedback_server, "write_landing_rows", real_writer)
    server.flush()

    assert [row["one_id"] for row in landed_rows(settings)] == ["p00001"]
    assert len(reject_rows(settings)) == 1


# SMS delivery receipts (POST /feedback/sms_gateway/<destination>) ---------------------------

def sms_report(phone: str, biz_id: str, *, success: bool = True, report_time="2026-10-01 10:00:05", **extra):
    """One receipt in Alibaba Cloud's SmsReport shape."""
    return {"phone_number": phone, "send_time": "2026-10-01 10:00:00", "report_time": report_time,
            "success": success, "err_code": "DELIVERED" if success else "MOBILE_NOT_ON_SERVICE",
            "err_msg": "用户接收成功" if success else "停机", "sms_size": "1", "biz_id": biz_id,
            "out_id": extra.pop("out_id", ""), **extra}


@pytest.fixture
def sms_ledger(warehouse):
    """Batch biz-A went to three members of campaign c-sms, batch biz-B to one; the ledger
    lacks the reference of a third batch (key-9), known only by its idempotency key."""
    write_members(warehouse, {"p00001": "13800000001", "p00002": "13800000002",
                              "p00003": "13800000003", "p00004": "13800000004"})
    insert_ledger(warehouse, [
        *({"campaign_id": "c-sms", "destination_name": SMS_DESTINATION, "one_id": one_id,
           "destination_reference": "biz-A"} for one_id in ("p00001", "p00002", "p00003")),
        {"campaign_id": "c-sms", "destination_name": SMS_DESTINATION, "one_id": "p00004",
         "destination_reference": "biz-B", "batch_number": 2, "idempotency_key": "key-2"},
        {"campaign_id": "c-sms", "destination_name": SMS_DESTINATION, "one_id": "p00006",
         "destination_reference": None, "batch_number": 3, "idempotency_key": "key-9"},
        # The same reference at another destination must not be matched.
        {"campaign_id": "c-other", "destination_name": "other_sms", "one_id": "p00005",
         "destination_reference": "biz-C"},
    ])
    return warehouse


def test_sms_receipts_are_mapped_to_one_id_and_no_phone_is_kept(server, settings, sms_ledger, caplog):
    caplog.set_level(logging.DEBUG)
    reports = [
        sms_report("+86 138 0000 0002", "biz-A"),                   # normalised like the mart
        sms_report("13800000003", "biz-A", success=False),
        sms_report("1380000****", "biz-B"),                         # masked, but a batch of one
        sms_report("13800000006", "biz-X", out_id="key-9"),         # found by its out_id
        sms_report("13999999999", "biz-A"),                         # not a recipient of biz-A
        sms_report("13800000005", "biz-C"),                         # another destination's batch
        sms_report("13800000001", "", report_time="2026-10-01 10:00:09"),  # no biz_id at all
    ]

    answer = post(f"{server.url}/feedback/sms_gateway/{SMS_DESTINATION}", reports)
    server.flush()

    assert answer.status_code == 200
    assert answer.json() == {"code": 0, "msg": "接收成功", "accepted": 6, "rejected": 1}
    landed = landed_rows(settings)
    assert [(row["one_id"], row["event_type"], row["campaign_id"]) for row in landed] == [
        ("p00002", "delivered", "c-sms"), ("p00003", "failed", "c-sms"), ("p00004", "delivered", "c-sms"),
        ("p00006", "delivered", "c-sms")]
    assert {row["destination_name"] for row in landed} == {SMS_DESTINATION}
    assert landed[0]["occurred_at"] == dt.datetime(2026, 10, 1, 2, 0, 5)  # Beijing time to UTC

    rejects = reject_rows(settings)
    reasons = sorted(row["rejection_reason"] for row in rejects)
    assert reasons[0] == "biz_id is empty"
    assert "no ledger row of aliyun_sms has destination_reference biz-C" in reasons[1]
    assert "phone matches no recipient of batch biz-A" in reasons[2]
    assert {row["phone_number"] for row in rejects} == {"139****9999", "138****0005", "138****0001"}
    assert all(row["err_code"] for row in rejects)
    # No phone number anywhere: not in the landing zone, the rejects or the log.
    assert not PHONE.search(json.dumps(landed, default=str))
    assert not PHONE.search(rejects_text(settings))
    assert not PHONE.search(caplog.text) and FEEDBACK_SECRET not in caplog.text
    assert (server.stats.received, server.stats.landed, server.stats.rejected) == (7, 4, 3)


def test_a_receipt_pushed_twice_lands_once(server, settings, sms_ledger):
    url = f"{server.url}/feedback/sms_gateway/{SMS_DESTINATION}"

    post(url, [sms_report("13800000002", "biz-A")])
    server.flush()
    # Alibaba Cloud re-pushes on a timeout: a new request (signed anew: the same signature
    # again would be a replay, refused).
    again = post(url, [sms_report("13800000002", "biz-A")], timestamp=int(time.time()) + 1)
    server.flush()

    assert again.status_code == 200

    assert len(landed_rows(settings)) == 1
    assert server.stats.duplicates == 1


def test_receipts_wait_while_the_warehouse_is_busy(server, settings, sms_ledger):
    url = f"{server.url}/feedback/sms_gateway/{SMS_DESTINATION}"
    post(url, [sms_report("13800000002", "biz-A")])

    # A sync holds the warehouse for writing: the receipt cannot be mapped yet, and waits.
    with duckdb.connect(str(settings.duckdb_path)):
        server.flush()
        assert landed_rows(settings) == [] and reject_rows(settings) == []
    server.flush()

    assert [row["one_id"] for row in landed_rows(settings)] == ["p00002"]


def test_receipts_still_unmapped_at_shutdown_are_kept_aside_masked(server, settings, sms_ledger):
    post(f"{server.url}/feedback/sms_gateway/{SMS_DESTINATION}", [sms_report("13800000002", "biz-A")])

    with duckdb.connect(str(settings.duckdb_path)):
        stats = server.stop()

    (reject,) = reject_rows(settings)
    assert "warehouse busy at shutdown" in reject["rejection_reason"]
    assert reject["phone_number"] == "138****0002" and reject["biz_id"] == "biz-A"
    assert stats.rejected == 1 and stats.unwritten == 0


PUSH_TOKEN = "push-token-not-real-0123456789abcdef"


def test_an_unsigned_receipt_push_with_the_push_token_is_taken(start_server, settings, sms_ledger, caplog):
    # Alibaba Cloud pushes plain JSON to the URL set in its console: no signature headers.
    caplog.set_level(logging.DEBUG)
    server = start_server(sms_push_token=PUSH_TOKEN)
    url = f"{server.url}/feedback/sms_gateway/{SMS_DESTINATION}"
    unsigned = {"Content-Type": "application/json"}

    taken = post(f"{url}?token={PUSH_TOKEN}", [sms_report("13800000002", "biz-A")], headers=unsigned)
    wrong = post(f"{url}?token={PUSH_TOKEN[:-1]}x", [sms_report("13800000003", "biz-A")], headers=unsigned)
    no_token = post(url, [sms_report("13800000003", "biz-A")], headers=unsigned)
    # The token opens the SMS route only: onedata events stay signed.
    on_events = post(f"{server.url}/feedback?token={PUSH_TOKEN}", [EVENT], headers=unsigned)
    server.flush()

    assert taken.status_code == 200 and taken.json()["accepted"] == 1
    assert (wrong.status_code, wrong.json()) == (401, {"error": "invalid push token"})
    assert no_token.status_code == 401 and on_events.status_code == 401
    assert [row["one_id"] for row in landed_rows(settings)] == ["p00002"]
    assert server.stats.unauthorised == 3 and reject_rows(settings) == []
    # The server's log (the test's own HTTP client logs its URLs too).
    assert not any(PUSH_TOKEN in r.getMessage() for r in caplog.records if r.name.startswith("activation"))
    assert any(r.name.startswith("activation") for r in caplog.records)


def test_a_push_token_is_refused_when_none_is_configured(server, sms_ledger):
    answer = post(f"{server.url}/feedback/sms_gateway/{SMS_DESTINATION}?token={PUSH_TOKEN}",
                  [sms_report("13800000002", "biz-A")], headers={"Content-Type": "application/json"})

    assert answer.status_code == 401 and "not enabled" in answer.json()["error"]


def test_a_guessable_push_token_is_refused_at_start(settings):
    with pytest.raises(ActivationError, match="at least 32 characters"):
        FeedbackServer(settings, FEEDBACK_SECRET, port=0, sms_push_token="short-token")


# The command ------------------------------------------------------------------------------

def test_serve_refuses_to_start_without_the_secret(settings, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)

    result = CliRunner().invoke(
        main, ["--raw-dir", str(settings.raw_dir), "feedback", "serve", "--port", "0"])

    assert result.exit_code == 1
    assert SECRET_ENV in result.output


def test_serve_as_a_subprocess_flushes_on_sigterm(cli_env, settings):
    env = {**os.environ, **cli_env, SECRET_ENV: FEEDBACK_SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "activation", "feedback", "serve", "--port", "0",
         "--flush-every-seconds", "60"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        listening = ""
        while "Listening on" not in listening and process.poll() is None:
            listening = process.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", listening).group()
        answer = post(f"{url}/feedback", [EVENT, CONVERSION])
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    assert answer.status_code == 200
    assert process.returncode == 0, stderr
    assert stdout.startswith("received 2  landed 2  duplicates 0  rejected 0  unauthorised 0")
    assert len(landed_rows(settings)) == 2
    assert FEEDBACK_SECRET not in stdout + stderr + listening


# Hostile and broken input -----------------------------------------------------------------

def raw_request(url: str, head: bytes, body: bytes = b"", *, timeout: float = 10) -> tuple[int | None, bytes]:
    """Send bytes as they are (no client library tidying them up) and read until the server
    closes; the status, or None when it closed without answering."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(head + body)
        data = b""
        try:
            while chunk := connection.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return (int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else None), data


def signed_head(body: bytes, *, path: str = "/feedback", extra: bytes = b"", **signing) -> bytes:
    headers = signed_headers(body, **signing)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}",
             *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n").encode() + extra + b"\r\n"


@pytest.mark.parametrize(("field", "poison"), [
    # Passes a `< 1e16` check but rounds to 1e16, which decimal(18,2) cannot hold.
    ("revenue_amount", "9999999999999999.995"),
    ("revenue_amount", 1e300),
    ("revenue_amount", "1e999999"),
    ("revenue_amount", "NaN"),
    ("campaign_id", "c\ud800"),          # a lone surrogate: not valid Unicode, not writable
    ("order_id", "o\ud800"),
    ("occurred_at", "0001-01-01T00:00:00+08:00"),  # overflows converting to UTC
    ("occurred_at", "9999-12-31T23:59:59"),
    ("one_id", {"nested": ["p00001"]}),
    ("one_id", "p" * 5000),
    ("event_type", "x" * 1_000_000),
])
def test_a_poison_event_is_rejected_alone_and_everything_after_it_lands(server, settings, field, poison):
    poisoned = {**EVENT, "one_id": "p00009", field: poison}

    # ensure_ascii: a lone surrogate travels as the JSON escape "\ud800".
    first = post(f"{server.url}/feedback", None, raw=json.dumps([poisoned, CONVERSION]).encode())
    server.flush()
    later = post(f"{server.url}/feedback", {**EVENT, "event_type": "opened"})
    server.flush()

    assert first.status_code == 200 and later.status_code == 200
    assert (first.json()["accepted"], first.json()["rejected"]) == (1, 1)
    assert field in first.json()["rejections"][0]["reason"]
    assert sorted(row["event_type"] for row in landed_rows(settings)) == ["converted", "opened"]
    (reject,) = reject_rows(settings)
    assert field in reject["rejection_reason"] and len(reject[field]) <= 201
    assert server.stats.landed == 2 and server.stats.unwritten == 0


def test_a_receipt_dated_year_one_is_refused_alone(server, settings, sms_ledger):
    url = f"{server.url}/feedback/sms_gateway/{SMS_DESTINATION}"

    answer = post(url, [sms_report("13800000002", "biz-A", report_time="0001-01-01 00:00:00"),
                        sms_report("13800000003", "biz-A")])
    server.flush()

    assert answer.json() == {"code": 0, "msg": "接收成功", "accepted": 1, "rejected": 1}
    assert [row["one_id"] for row in landed_rows(settings)] == ["p00003"]
    (reject,) = reject_rows(settings)
    assert "report_time" in reject["rejection_reason"] and reject["phone_number"] == "138****0002"


def test_a_row_that_cannot_be_written_is_set_aside_and_the_others_land(settings):
    from activation.feedback import validate_row, write_landing_rows

    good, _ = validate_row(EVENT, None)
    # Bypasses validation, as a bug would: more digits than decimal(18,2) holds.
    bad = {**good, "feedback_event_id": "fb-bad", "revenue_amount": decimal.Decimal("1e20")}

    landing_file, unwritable = write_landing_rows(settings, [bad, good])

    assert [row["feedback_event_id"] for row in pq.read_table(landing_file).to_pylist()] == [
        good["feedback_event_id"]]
    assert [(event["feedback_event_id"], "does not fit the landing types" in reason)
            for event, reason in unwritable] == [("fb-bad", True)]


PII_FORMS = [13812345678, "+86 138 1234 5678", "8613812345678", "0086-138-1234-5678",
             "１３８１２３４５６７８", "138 1234 5678", "alice.smith@example.com", "ａｌｉｃｅ＠ｅｘａｍｐｌｅ．ｃｏｍ"]


def test_no_phone_or_email_reaches_a_rejects_file_in_any_form(server, settings, sms_ledger):
    events = [{"campaign_id": "c1", "event_type": "teleported", "note": value, str(value): "as a key",
               "deep": {"list": [value]}} for value in PII_FORMS]
    receipts = [{**sms_report("13800000002", ""), "err_msg": value, str(value): 1} for value in PII_FORMS]

    post(f"{server.url}/feedback", events + [13812345678, "call 138-1234-5678"])
    post(f"{server.url}/feedback/sms_gateway/{SMS_DESTINATION}", receipts)
    server.flush()

    text = rejects_text(settings)
    assert len(reject_rows(settings)) == 2 * len(PII_FORMS) + 2
    digits = re.sub(r"(?<=\d)[ -](?=\d)", "", text.translate({0xFF10 + d: 0x30 + d for d in range(10)}))
    assert "13812345678" not in digits and "13800000002" not in digits
    assert "alice.smith@" not in text and "ａｌｉｃｅ＠" not in text and "alice@" not in text.lower()
    assert "138****5678" in text


def test_a_failed_rejects_write_leaves_no_temporary_file(settings, monkeypatch):
    from activation import feedback
    from activation.feedback import rejects_folder, write_rejects

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feedback.csv, "DictWriter", disk_full)
    with pytest.raises(OSError):
        write_rejects(settings, "failing", [{"index": 1, "rejection_reason": "bad"}])

    assert list(rejects_folder(settings).iterdir()) == []


def test_a_body_above_the_limit_is_413_before_it_is_read(server, settings):
    head = signed_head(b"", extra=b"Expect: 100-continue\r\n").replace(
        b"Content-Length: 0", f"Content-Length: {10 * 1024 * 1024}".encode())

    status, answer = raw_request(server.url, head)

    assert status == 413 and b"body above 1048576 bytes" in answer


def test_an_unsigned_request_is_refused_before_its_body_is_read(server):
    head = (b"POST /feedback HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            b"Expect: 100-continue\r\n\r\n")

    started = time.monotonic()
    status, answer = raw_request(server.url, head)  # the body is never sent

    assert status == 401 and b"missing signature" in answer
    assert b"100 Continue" not in answer and time.monotonic() - started < 2


def test_an_unsigned_body_already_sent_is_discarded_and_answered(server, settings):
    body = json.dumps([EVENT] * 2000).encode()  # about 300 KB, never authenticated
    head = f"POST /feedback HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()

    status, _ = raw_request(server.url, head, body)
    server.flush()

    assert status == 401 and landed_rows(settings) == []


def test_more_items_than_the_cap_is_413_and_nothing_is_kept(server, settings):
    answer = post(f"{server.url}/feedback", [{}] * 1001)
    server.flush()

    assert answer.status_code == 413 and "at most 1000" in answer.json()["error"]
    assert landed_rows(settings) == [] and reject_rows(settings) == []


@pytest.mark.parametrize(("case", "head", "expected"), [
    ("non-ASCII timestamp", "X-Onedata-Timestamp: \u0661\u0662\u0663\r\nX-Onedata-Signature: sha256=00\r\n"
     "Content-Length: 2\r\n", 400),
    ("5000-digit Content-Length", "Content-Length: " + "9" * 5000 + "\r\n", 400),
    ("two Content-Lengths", "Content-Length: 2\r\nContent-Length: 3\r\n", 400),
    ("a 20 KB header", "X-Padding: " + "a" * 20_000 + "\r\nContent-Length: 2\r\n", 431),
    ("chunked, no length", "Transfer-Encoding: chunked\r\n", 411),
])
def test_odd_headers_are_answered_400_not_a_traceback(server, case, head, expected, caplog):
    request = ("POST /feedback HTTP/1.1\r\nHost: x\r\n" + head + "\r\n").encode("utf-8")
    body = b"0\r\n\r\n" if "chunked" in head else b"{}"

    status, _ = raw_request(server.url, request, body)

    assert status == expected, case
    assert "Traceback" not in caplog.text
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200


def test_json_that_is_not_utf8_nested_too_deeply_or_has_huge_numbers(server, settings):
    huge_number = json.dumps([{**EVENT, "revenue_amount": 1}]).encode().replace(b": 1}", b": " + b"9" * 5000 + b"}")

    not_utf8 = post(f"{server.url}/feedback", None, raw=b'{"campaign_id": "\xff"}')
    too_deep = post(f"{server.url}/feedback", None, raw=b"[" * 3000 + b"]" * 3000)
    # Counted before parsing: a megabyte of objects or of nesting is not parsed at all.
    too_many_objects = post(f"{server.url}/feedback", None, raw=b"[" + b"{}," * 300_000 + b"{}]")
    too_many_arrays = post(f"{server.url}/feedback", None, raw=b"[" * 100_000 + b"]" * 100_000)
    big = post(f"{server.url}/feedback", None, raw=huge_number)

    assert (not_utf8.status_code, too_deep.status_code) == (400, 400)
    assert too_many_objects.status_code == too_many_arrays.status_code == 413
    assert "too many JSON values" in too_many_objects.json()["error"]
    assert big.status_code == 200 and big.json()["rejected"] == 1
    assert "revenue_amount" in big.json()["rejections"][0]["reason"]


def test_a_slow_request_head_is_cut_at_the_deadline(start_server):
    server = start_server(limits=ServeLimits(head_timeout_seconds=0.5))
    host, port = server.url.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port)), timeout=5) as slow:
        slow.sendall(b"POST /feedback HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        started = time.monotonic()
        closed = slow.recv(1) == b""

    assert closed and 0.4 < time.monotonic() - started < 3
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200


def test_a_slow_body_is_408(start_server):
    server = start_server(limits=ServeLimits(body_timeout_seconds=0.5))
    body = json.dumps(EVENT).encode()

    status, answer = raw_request(server.url, signed_head(body), body[:10])

    assert status == 408


def test_connections_in_flight_and_the_buffer_are_capped_with_429_and_503(start_server, settings):
    server = start_server(limits=ServeLimits(max_requests_in_flight=1, max_connections=4),
                          max_buffered=3)
    body = json.dumps(EVENT).encode()
    host, port = server.url.removeprefix("http://").split(":")

    with socket.create_connection((host, int(port))) as holding:
        holding.sendall(signed_head(body))  # its body never comes: it holds the one slot
        time.sleep(0.3)
        too_many = post(f"{server.url}/feedback", [CONVERSION])
        others = [socket.create_connection((host, int(port))) for _ in range(4)]
        time.sleep(0.3)
        over_the_cap = requests.get(f"{server.url}/health", timeout=5)
        for connection in others:
            connection.close()
    time.sleep(0.3)
    full = post(f"{server.url}/feedback", [EVENT, CONVERSION, {**EVENT, "event_type": "opened"}, {}])

    assert too_many.status_code == 429 and too_many.headers["Retry-After"] == "1"
    assert over_the_cap.status_code == 503
    # The rejected row counts toward the buffer too: four rows do not fit in three.
    assert full.status_code == 503 and full.headers["Retry-After"]
    server.flush()
    assert landed_rows(settings) == [] and reject_rows(settings) == []


def test_a_replay_is_refused_even_after_a_restart(start_server, settings):
    body = json.dumps(EVENT).encode()
    headers = signed_headers(body)
    first = start_server()
    accepted = post(f"{first.url}/feedback", None, raw=body, headers=headers)
    replayed = post(f"{first.url}/feedback", None, raw=body, headers=headers)
    first.stop()

    second = start_server()
    after_restart = post(f"{second.url}/feedback", None, raw=body, headers=headers)
    second.stop()

    assert accepted.status_code == 200
    assert replayed.status_code == after_restart.status_code == 401
    assert "replayed" in after_restart.json()["error"]
    assert len(landed_rows(settings)) == 1


def test_a_second_receiver_on_the_same_landing_directory_is_refused(server, settings):
    with pytest.raises(ActivationError, match="one receiver per landing directory"):
        FeedbackServer(settings, FEEDBACK_SECRET, port=0)


def test_what_was_answered_200_survives_sigkill(cli_env, settings):
    env = {**os.environ, **cli_env, SECRET_ENV: FEEDBACK_SECRET}
    command = [sys.executable, "-m", "activation", "feedback", "serve", "--port", "0",
               "--flush-every-seconds", "600"]

    def started() -> tuple[subprocess.Popen, str]:
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = ""
        while "Listening on" not in line and process.poll() is None:
            line = process.stderr.readline()
        return process, re.search(r"http://127\.0\.0\.1:\d+", line).group()

    process, url = started()
    try:
        answer = post(f"{url}/feedback", [EVENT, CONVERSION])
        process.kill()  # no flush, no goodbye
        process.communicate(timeout=30)
        assert answer.status_code == 200 and landed_rows(settings) == []

        process, url = started()  # the next start lands what the killed one had accepted
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0
    assert stdout.startswith("received 0  landed 2")
    assert sorted(row["one_id"] for row in landed_rows(settings)) == ["p00001", "p00002"]


# Standard Webhooks, {"events": [...]} and one-click unsubscribe (issue 23) ----------------------

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def standard_headers(body: bytes, message_id: str = "msg_1", secret: str = STANDARD_SECRET) -> dict:
    """Signed by the standardwebhooks package itself, as a Standard Webhooks sender signs."""
    import datetime as dt

    from standardwebhooks import Webhook

    now = dt.datetime.now(dt.UTC)
    return {"webhook-id": message_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(message_id, now, body), "Content-Type": "application/json"}


def test_callbacks_signed_the_standard_webhooks_way_are_taken_and_replays_refused(settings):
    server = FeedbackServer(settings, STANDARD_SECRET, port=0, flush_every_seconds=60,
                            shutdown_wait_seconds=0.2).start()
    try:
        body = json.dumps([EVENT]).encode()
        headers = standard_headers(body)
        taken = post(f"{server.url}/feedback", None, raw=body, headers=headers)
        replayed = post(f"{server.url}/feedback", None, raw=body, headers=headers)
        tampered = post(f"{server.url}/feedback", None, raw=body.replace(b"p00001", b"p00009"),
                        headers=standard_headers(body, "msg_2"))
        other_key = post(f"{server.url}/feedback", None, raw=body,
                         headers=standard_headers(body, "msg_3", secret="whsec_" + "A" * 32))
        server.flush()
    finally:
        server.stop()

    assert taken.status_code == 200 and taken.json()["accepted"] == 1
    assert [answer.status_code for answer in (replayed, tampered, other_key)] == [401, 401, 401]
    assert [row["one_id"] for row in landed_rows(settings)] == ["p00001"]


def test_a_standard_webhooks_signature_needs_a_whsec_secret(server):
    body = json.dumps(EVENT).encode()
    answer = post(f"{server.url}/feedback", None, raw=body, headers=standard_headers(body))

    assert answer.status_code == 401 and "whsec_" in answer.json()["error"]


def test_an_events_envelope_is_a_list_of_events_not_one_event(server, settings):
    answer = post(f"{server.url}/feedback", {"events": [EVENT, CONVERSION]})
    server.flush()

    assert answer.status_code == 200 and answer.json()["accepted"] == 2
    assert [row["one_id"] for row in landed_rows(settings)] == ["p00001", "p00002"]


def test_one_click_unsubscribe_lands_one_unsubscribed_event_per_link(server, settings):
    from activation.signing import unsubscribe_token

    token = unsubscribe_token(FEEDBACK_SECRET, "newsletter-nov", "p00007", "newsletter_email")
    url = f"{server.url}/feedback/unsubscribe?token={token}"
    one_click = {"Content-Type": "application/x-www-form-urlencoded"}

    looked_at = requests.get(url, timeout=10)
    clicked = requests.post(url, data=b"List-Unsubscribe=One-Click", headers=one_click, timeout=10)
    clicked_again = requests.post(url, data=b"List-Unsubscribe=One-Click", headers=one_click, timeout=10)
    forged = requests.post(
        f"{server.url}/feedback/unsubscribe?token={unsubscribe_token('guessed', 'c', 'p00001', 'x')}",
        data=b"List-Unsubscribe=One-Click", headers=one_click, timeout=10,
    )
    server.flush()

    assert looked_at.status_code == 405  # a link scanner changes nothing
    assert clicked.status_code == 200 and clicked.json()["accepted"] == 1
    assert clicked_again.status_code == 200
    assert forged.status_code == 401
    [row] = landed_rows(settings)
    assert (row["one_id"], row["campaign_id"], row["destination_name"], row["event_type"]) == (
        "p00007", "newsletter-nov", "newsletter_email", "unsubscribed",
    )
