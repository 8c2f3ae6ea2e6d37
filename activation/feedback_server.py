"""`activate feedback serve`: an HTTP receiver for delivery, click and conversion callbacks.

The API it offers:

- Every request is signed the way the webhook destination signs (activation/destinations/
  webhook.py): header X-Onedata-Timestamp (unix seconds) and X-Onedata-Signature:
  sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>, the secret from
  ACTIVATE__FEEDBACK__SECRET. A missing or bad signature, a timestamp more than 5 minutes from
  the server's clock, or a request already accepted with the same signature (a replay: the
  signatures of the last 5 minutes are kept on disk, so a restart does not forget them) is
  answered 401 and nothing is kept. A timestamp that is not ASCII digits is 400. Requests signed
  the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature: v1,<base64>;
  ACTIVATE__FEEDBACK__SECRET then a whsec_ secret) are taken the same way
  (activation/signing.py verifies both).
- POST /feedback: one feedback event or a JSON list of them, fields as the landing contract
  (campaign_id, one_id or external_id, event_type, occurred_at, order_id, revenue_amount,
  destination_name); {"events": [...]} is a list of events too. Answer 200 {"accepted",
  "duplicates", "rejected", "rejections":
  [{"index", "reason"}]}; duplicates are accepted events already received. Each event is
  validated whole against the landing types (activation.feedback.validate_row) and accepted or
  rejected on its own: a bad event never stops a good one.
- POST /feedback/sms_gateway/<destination_name>: Alibaba Cloud SMS delivery receipts
  (SmsReport, HTTP batch push): a JSON list of {phone_number, send_time, report_time,
  success, err_code, err_msg, sms_size, biz_id, out_id}, times in Beijing time. Answer 200
  {"code": 0, "msg": ..., "accepted", "rejected"}: Alibaba Cloud checks only that `code` is a
  number and pushes again (after 1, 5 and 10 minutes) on any other HTTP status. Alibaba Cloud
  cannot sign its pushes our way: when ACTIVATE__FEEDBACK__SMS_PUSH_TOKEN is set (32
  characters or more), a push to this route whose URL carries ?token=<that token> is taken
  unsigned, so the push URL configured in the console needs no relay. A wrong token is 401;
  the token opens this route only, and a re-pushed receipt lands once (its id is its content).
- POST /feedback/unsubscribe?token=<token>: RFC 8058 one-click unsubscribe from the links the
  smtp destination puts in List-Unsubscribe. The token (campaign, one_id, destination, signed
  with ACTIVATE__FEEDBACK__SECRET) is the authentication; an `unsubscribed` event is landed
  (once per link), which revokes the member's e-mail consent on the next dbt build. A GET
  changes nothing (405), so a link scanner cannot unsubscribe anyone.
- GET /health: 200, unsigned, answered on the event loop itself: never queued behind callbacks.

Limits (ServeLimits), each checked before the work it guards: 411 without Content-Length, 413
for a body above 1 MiB (from the header, before reading it) or more than 1,000 items, 429 when
16 requests are already being read or processed, 503 beyond 256 connections (uvicorn), while
the buffer holds max_buffered rows or while stopping; 429 and 503 carry Retry-After. The body
is read only after the signature headers look right and the timestamp is fresh (then at most
1 MiB, discarded when refused); a request head must arrive within 10 s and its body within
20 s (408). Every answer closes the connection. Served by uvicorn: docs/feedback-receiver.md
says why, and how to deploy it behind a TLS reverse proxy.

An accepted callback is answered 200 only once its rows are committed to the durable buffer
(activation/feedback_buffer.py, SQLite beside the landing directory), so nothing answered 200
is lost, not even to SIGKILL. The buffer is landed (activation.feedback's writer) every
--flush-every-seconds, as soon as --flush-every-events are waiting, and on shutdown (SIGTERM,
SIGINT); what a failed flush could not write stays in the buffer for the next one, and a row
that does not fit the landing types is set aside alone. Events without an id of their own get
one from their content, so a retried callback lands under the same feedback_event_id and the
staging model counts it once.

An SMS receipt carries a phone number, never a one_id. It is mapped at flush time: the
ledger rows of that destination whose destination_reference is the receipt's biz_id (else whose
idempotency_key is its out_id) are the batch it belongs to, and marts.dim_members' phone picks
the member among them (a batch of one needs no phone). Only the one_id is landed; the buffer
keeps the phone as a keyed hash only. The warehouse is opened read-only and only while
mapping, because DuckDB lets a single writer (a sync, dbt) hold the file: while it is busy,
receipts wait for the next flush. A receipt that cannot be mapped goes to the rejects folder
with its reason and the phone masked.
"""

from __future__ import annotations

import asyncio
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
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

import duckdb
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from activation.destinations.normalise import cn_mobile_11_digits
from activation.errors import ActivationError
from activation.feedback import (
    id_text,
    parse_timestamp,
    reject_record,
    validate_row,
    write_landing_rows,
    write_rejects,
)
from activation.feedback_buffer import Accepted, FeedbackBuffer, buffer_path
from activation.masking import mask_phone, scrub_pii, scrub_value
from activation.settings import ACTIVATION_SCHEMA, Settings
from activation.signing import STANDARD_SECRET_PREFIX, read_unsubscribe_token
from activation.signing import verify as verify_signature

logger = logging.getLogger(__name__)

SECRET_ENV = "ACTIVATE__FEEDBACK__SECRET"
SMS_PUSH_TOKEN_ENV = "ACTIVATE__FEEDBACK__SMS_PUSH_TOKEN"
MIN_PUSH_TOKEN_CHARS = 32
MAX_CLOCK_SKEW_SECONDS = 300
# Alibaba Cloud reports times as Beijing time without an offset; China has no daylight saving.
BEIJING = dt.timezone(dt.timedelta(hours=8))
MEMBERS_TABLE = "marts.dim_members"
LEDGER_TABLE = f"{ACTIVATION_SCHEMA}.sync_ledger"
# Ids landed by this process, remembered to answer `duplicates` and to skip re-landing a retried
# callback; the staging model's de-duplication on feedback_event_id is the real guarantee.
RECENT_IDS_KEPT = 200_000
# Rows per landing file and per step of a flush: bounds the flush's memory.
FLUSH_CHUNK = 20_000
# The fields of Alibaba Cloud's SmsReport, kept as columns of a rejected receipt.
SMS_REPORT_FIELDS = ("phone_number", "send_time", "report_time", "success", "err_code", "err_msg",
                     "sms_size", "biz_id", "out_id")
MAX_PHONE_CHARS = 64
# Bounds on the JSON of one request, counted before it is parsed (see _items).
MAX_VALUES_PER_ITEM = 30
MAX_CONTAINERS_PER_ITEM = 5
MAX_REASON_CHARS_IN_ANSWER = 300
_DESTINATION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,199}$")
_SMS_ROUTE = re.compile(r"^/feedback/sms_gateway/([^/]+)/?$")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}")
# Standard Webhooks: one or more "v1,<base64 of 32 bytes>", space-separated.
_STANDARD_SIGNATURE = re.compile(r"v1,[A-Za-z0-9+/]{43}=( v1,[A-Za-z0-9+/]{43}=){0,4}")
UNSUBSCRIBE_PATH = "/feedback/unsubscribe"
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_SUCCESS = {True: True, False: False, "true": True, "false": False, "True": True, "False": False}


@dataclass(frozen=True)
class ServeLimits:
    """What one receiver takes at most (see the module docstring and docs/feedback-receiver.md)."""

    max_body_bytes: int = 1024 * 1024
    max_items_per_request: int = 1000
    # Open connections; uvicorn answers 503 beyond (its limit_concurrency).
    max_connections: int = 256
    # Requests whose body is being read or that are being processed; 429 beyond.
    max_requests_in_flight: int = 16
    # Threads that verify, parse, validate and store callbacks. Python runs one thread at a
    # time, and every thread doing Python work delays the event loop's answers (/health):
    # a second worker added latency without adding throughput (tests/test_feedback_fuzz.py).
    worker_threads: int = 1
    head_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 20.0
    max_header_bytes: int = 16 * 1024


@dataclass
class ServeStats:
    """What the server did since it started; the CLI prints it when it stops."""

    requests: int = 0
    unauthorised: int = 0
    # Items of signed requests; each is accepted (buffered) or rejected on arrival.
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    # Rows written to the rejects folder: on arrival, or SMS receipts that could not be mapped.
    rejected: int = 0
    landed: int = 0
    landing_files: list[str] = field(default_factory=list)
    rejects_files: list[str] = field(default_factory=list)
    # Rows still in the durable buffer at shutdown (disk full, ...); they land at the next
    # start. Non-zero fails the command.
    unwritten: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _HeadDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline and a size cap for the request head. uvicorn
    has no deadline (only an idle timeout between requests), so a client sending its headers a
    byte at a time would hold a connection for ever; and h11 caps only a head that arrives in
    pieces. Every answer closes the connection: one head per connection."""

    head_timeout_seconds = 10.0
    max_header_bytes = 16 * 1024

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._head_transport = transport
        self._head_tail = b""
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            self.head_timeout_seconds, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        if self._head_timer is not None:
            seen = self._head_tail + data
            end = _END_OF_HEAD.search(seen)
            self._head_bytes += (end.end() - len(self._head_tail)) if end else len(data)
            if self._head_bytes > self.max_header_bytes:
                self._cancel_head_timer()
                logger.info("refused a request head over %d bytes", self.max_header_bytes)
                # Answered before h11 has parsed anything, so written as bytes; then closed.
                self._head_transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                           b"content-length: 0\r\nconnection: close\r\n\r\n")
                self._head_transport.close()
                return
            if end:
                self._cancel_head_timer()
            else:
                self._head_tail = seen[-3:]
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        logger.info("closed a connection whose request head took over %ss", self.head_timeout_seconds)
        self._head_transport.close()


class FeedbackServer:
    """The receiver; `start()` serves in background threads, `stop()` flushes and returns stats."""

    def __init__(
        self,
        settings: Settings,
        secret: str | None,
        *,
        host: str = "127.0.0.1",
        port: int = 8766,
        flush_every_seconds: float = 5.0,
        flush_every_events: int = 1000,
        max_buffered: int | None = None,
        shutdown_wait_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
        sms_push_token: str | None = None,
        limits: ServeLimits = ServeLimits(),
    ) -> None:
        if not secret:
            raise ActivationError(
                f"Set {SECRET_ENV} to the secret that signs feedback callbacks "
                "(HMAC-SHA256, as the webhook destination signs)."
            )
        self.settings = settings
        self._secret = secret.encode("utf-8")
        if sms_push_token is not None and len(sms_push_token) < MIN_PUSH_TOKEN_CHARS:
            # It travels in a URL and guards the route alone: it must not be guessable.
            raise ActivationError(
                f"{SMS_PUSH_TOKEN_ENV} must be at least {MIN_PUSH_TOKEN_CHARS} characters, for "
                "example from: python -c 'import secrets; print(secrets.token_urlsafe(32))'."
            )
        self._sms_push_token = sms_push_token.encode("utf-8") if sms_push_token else None
        self._clock = clock
        self.limits = limits
        self.flush_every_seconds = flush_every_seconds
        self.flush_every_events = flush_every_events
        # Past this many waiting rows (events, receipts and rejects), callbacks get 503 and are
        # retried by their sender.
        self.max_buffered = max_buffered or max(100_000, 10 * flush_every_events)
        self.shutdown_wait_seconds = shutdown_wait_seconds
        self.stats = ServeStats()

        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._recent_ids: OrderedDict[str, None] = OrderedDict()
        self._closed = False
        self._in_flight = 0  # touched by the event loop's thread only
        self._wake = threading.Event()
        self._stopping = threading.Event()

        try:
            self._socket = socket.create_server((host, port))
        except OSError as error:
            raise ActivationError(f"Cannot listen on {host}:{port}: {error.strerror}.") from error
        try:
            self._buffer = FeedbackBuffer(buffer_path(settings))
        except BaseException:
            self._socket.close()
            raise
        protocol = type("FeedbackHttpProtocol", (_HeadDeadlineProtocol,),
                        {"head_timeout_seconds": limits.head_timeout_seconds,
                         "max_header_bytes": limits.max_header_bytes})
        self._uvicorn = uvicorn.Server(uvicorn.Config(
            self._asgi, interface="asgi3", lifespan="off", loop="asyncio", http=protocol, ws="none",
            limit_concurrency=limits.max_connections,
            h11_max_incomplete_event_size=limits.max_header_bytes,
            timeout_graceful_shutdown=max(1, int(shutdown_wait_seconds)),
            # No access log: a push URL carries the SMS push token. Our own log says what matters.
            access_log=False, log_config=None, log_level="warning", server_header=False,
        ))
        self._executor = ThreadPoolExecutor(limits.worker_threads, thread_name_prefix="feedback-worker")
        self._started = False
        self._threads = [
            threading.Thread(target=self._serve, name="feedback-http", daemon=True),
            threading.Thread(target=self._flush_loop, name="feedback-flush", daemon=True),
        ]

    @property
    def port(self) -> int:
        """The port listened on (the one the OS picked when started with port 0)."""
        return self._socket.getsockname()[1]

    @property
    def url(self) -> str:
        host = self._socket.getsockname()[0]
        return f"http://{host}:{self.port}"

    def start(self) -> FeedbackServer:
        for thread in self._threads:
            thread.start()
        self._started = True
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            if not self._threads[0].is_alive() or time.monotonic() > deadline:
                raise ActivationError("the feedback receiver did not start (see the log)")
            time.sleep(0.01)
        return self

    def stop(self) -> ServeStats:
        """Stop accepting, finish the requests in flight, flush everything buffered."""
        self._stopping.set()
        self._wake.set()
        if self._started:
            self._uvicorn.should_exit = True
            self._threads[0].join()
            self._threads[1].join()
        self._executor.shutdown(wait=True)
        self._socket.close()
        try:
            self.flush(final=True)
        except Exception:  # noqa: BLE001 - the rows stay in the buffer, counted in stats.unwritten
            logger.exception("the final flush failed; the rows stay in %s", self._buffer.path)
        finally:
            self.stats.unwritten = self._buffer.waiting
            self._buffer.close()
        return self.stats

    def _serve(self) -> None:
        self._uvicorn.run(sockets=[self._socket])

    # Authentication ---------------------------------------------------------------------

    def check_signature_headers(self, headers: dict[str, str]) -> tuple[int, str] | None:
        """None when the signature headers of either scheme (activation/signing.py) are well
        formed and the timestamp is fresh; else the status and why. Checked before the body is
        read."""
        if "webhook-signature" in headers:
            timestamp, given = headers.get("webhook-timestamp"), headers["webhook-signature"]
            if not headers.get("webhook-id") or not timestamp:
                return 401, "missing webhook-id or webhook-timestamp"
            name, pattern = "webhook-timestamp", _STANDARD_SIGNATURE
        else:
            timestamp, given = headers.get("x-onedata-timestamp"), headers.get("x-onedata-signature")
            if not timestamp or not given:
                return 401, "missing signature"
            name, pattern = "X-Onedata-Timestamp", _SIGNATURE
        if not _TIMESTAMP.fullmatch(timestamp):
            return 400, f"{name} is not unix seconds in ASCII digits"
        if abs(self._clock() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
            return 401, "timestamp outside 5 minutes (replayed or clock skew)"
        if not pattern.fullmatch(given):
            return 401, "invalid signature"
        return None

    def verify(self, headers: dict[str, str], body: bytes) -> str | None:
        """None when the request is signed with our secret (headers already checked)."""
        secret = self._secret.decode("utf-8")
        if "webhook-signature" in headers and not secret.startswith(STANDARD_SECRET_PREFIX):
            return f"a Standard Webhooks signature needs a {STANDARD_SECRET_PREFIX} secret"
        if not verify_signature(secret, body, headers, now=self._clock()):
            return "invalid signature"
        return None

    def verify_push_token(self, given: str) -> str | None:
        """None when an unsigned SMS receipt push carries our push token; else why not."""
        if self._sms_push_token is None:
            return f"push tokens are not enabled (set {SMS_PUSH_TOKEN_ENV})"
        if not hmac.compare_digest(self._sms_push_token, given.encode("utf-8", "replace")):
            return "invalid push token"
        return None

    # HTTP (the event loop's thread) ----------------------------------------------------

    async def _asgi(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        self.stats.requests += 1
        request = _Request(scope)
        answer = await self._answer(request, receive)
        if answer is None:
            return  # the client went away
        status, payload, extra = answer
        if request.body_waits and request.content_length <= self.limits.max_body_bytes:
            # Read (and drop) a refused request's body, so that a client still sending it gets
            # our answer rather than a reset connection. Bounded by the body limits; a client
            # that asked `Expect: 100-continue` has sent nothing and is answered at once.
            await _discard_body(receive, min(self.limits.body_timeout_seconds, 5.0))
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = [(b"content-type", b"application/json; charset=utf-8"),
                   (b"content-length", str(len(data)).encode()), (b"connection", b"close"),
                   *((name.encode(), value.encode()) for name, value in extra.items())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else data})

    async def _answer(self, request: _Request, receive) -> tuple[int, dict, dict] | None:
        if request.path == "/health":
            if request.method not in ("GET", "HEAD"):
                return 405, {"error": "GET /health"}, {"Allow": "GET, HEAD"}
            return 200, {"status": "ok"}, {}
        if request.path.rstrip("/") == UNSUBSCRIBE_PATH:
            return await self._answer_unsubscribe(request)
        sms_route = _SMS_ROUTE.match(request.path)
        if request.path.rstrip("/") != "/feedback" and not sms_route:
            return 404, {"error": "not found"}, {}
        if request.method != "POST":
            return 405, {"error": "POST only"}, {"Allow": "POST"}
        destination_name = sms_route.group(1) if sms_route else None
        if destination_name is not None and not _DESTINATION_NAME.match(destination_name):
            return 404, {"error": "destination names are lower-case letters, digits and underscores"}, {}
        if self._stopping.is_set():
            return 503, {"error": "stopping: retry later"}, self._retry_after()
        if request.content_length is None:
            return 411, {"error": "Content-Length required"}, {}
        if request.content_length > self.limits.max_body_bytes:
            return 413, {"error": f"body above {self.limits.max_body_bytes} bytes"}, {}
        push_token = request.query_value("token") if destination_name else None
        if push_token is not None:
            problem = self.verify_push_token(push_token)
            refusal = (401, problem) if problem else None
        else:
            refusal = self.check_signature_headers(request.headers)
        if refusal:
            return self._refused(request, *refusal)
        if self._in_flight >= self.limits.max_requests_in_flight:
            return 429, {"error": "too many requests in flight: retry later"}, {"Retry-After": "1"}
        self._in_flight += 1
        try:
            try:
                async with asyncio.timeout(self.limits.body_timeout_seconds):
                    body = await _read_body(receive)
            except TimeoutError:
                request.body_read = True  # given up on: not waited for again
                return 408, {"error": f"body not received within {self.limits.body_timeout_seconds}s"}, {}
            request.body_read = True
            if body is None:
                return None
            status, payload = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._process, request, destination_name, body, push_token is not None)
        finally:
            self._in_flight -= 1
        if status == 401:
            return self._refused(request, status, payload["error"])
        return status, payload, (self._retry_after() if status == 503 else {})

    async def _answer_unsubscribe(self, request: _Request) -> tuple[int, dict, dict]:
        """RFC 8058 one-click: the mail client POSTs List-Unsubscribe=One-Click to the link an
        e-mail carried (activation/destinations/smtp.py). The link's token is the authentication:
        it names the campaign, the member and the destination, signed with our secret. A GET
        (a link scanner, a preview) changes nothing."""
        if request.method != "POST":
            return 405, {"error": "POST List-Unsubscribe=One-Click to unsubscribe"}, {"Allow": "POST"}
        if self._stopping.is_set():
            return 503, {"error": "stopping: retry later"}, self._retry_after()
        token = request.query_value("token") or ""
        claims = read_unsubscribe_token(self._secret.decode("utf-8"), token)
        if claims is None:
            return self._refused(request, 401, "invalid unsubscribe link")
        status, payload = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._unsubscribe, claims, token)
        return status, payload, (self._retry_after() if status == 503 else {})

    def _unsubscribe(self, claims: dict[str, str], token: str) -> tuple[int, dict]:
        event = {
            **claims,
            "event_type": "unsubscribed",
            "occurred_at": dt.datetime.fromtimestamp(self._clock(), dt.UTC).isoformat(),
            # One link, one event: a second click is a duplicate, not a second unsubscribe.
            "feedback_event_id": "unsub_" + hashlib.sha256(token.encode()).hexdigest()[:32],
        }
        return self.accept_events([event])

    def _refused(self, request: _Request, status: int, problem: str) -> tuple[int, dict, dict]:
        if status == 401:
            with self._lock:
                self.stats.unauthorised += 1
        logger.warning("refused a callback from %s: %s", request.client, problem)
        return status, {"error": problem}, {}

    def _retry_after(self) -> dict[str, str]:
        return {"Retry-After": str(max(1, int(self.flush_every_seconds)))}

    # Accepting callbacks (worker threads) ----------------------------------------------

    def _process(self, request: _Request, destination_name: str | None, body: bytes,
                 by_token: bool) -> tuple[int, dict]:
        try:
            signature = None
            if not by_token:
                problem = self.verify(request.headers, body)
                if problem:
                    return 401, {"error": problem}
                signature, timestamp = _signature_of(request.headers)
                if self._buffer.was_seen(signature):
                    return 401, {"error": "replayed: a request with this signature was already accepted"}
            items, refusal = _items(body, self.limits.max_items_per_request)
            if refusal:
                return refusal
            expires_at = int(timestamp) + MAX_CLOCK_SKEW_SECONDS + 1 if signature else 0.0
            if destination_name is not None:
                return self.accept_sms_receipts(destination_name, items, signature, expires_at)
            return self.accept_events(items, signature, expires_at)
        except Exception as error:  # noqa: BLE001 - never 200, never a traceback with request data
            logger.error("could not take a callback (%s); answered 503", type(error).__name__)
            return 503, {"error": "could not store the callback: retry later"}

    def accept_events(self, items: list[Any], signature: str | None = None,
                      signature_expires_at: float = 0.0) -> tuple[int, dict[str, Any]]:
        rejections, rejects, fresh = [], [], {}
        received_at = _utc_now()
        for index, item in enumerate(items):
            event, reason = validate_row(item, None) if isinstance(item, dict) else (None, "not a JSON object")
            if reason:
                record = reject_record(item, reason, received_at=received_at, route="/feedback", index=index)
                rejections.append({"index": index,
                                   "reason": record["rejection_reason"][:MAX_REASON_CHARS_IN_ANSWER]})
                rejects.append(record)
            else:
                fresh.setdefault(event["feedback_event_id"], event)
        refusal, stored = self._store(events=fresh, receipts=[], rejects=rejects, signature=signature,
                                      signature_expires_at=signature_expires_at)
        if refusal:
            return refusal
        # Counted only once stored: a refused request changes nothing.
        with self._lock:
            self.stats.received += len(items)
            self.stats.accepted += stored.events
            self.stats.duplicates += stored.duplicates
            self.stats.rejected += len(rejects)
        return 200, {"accepted": len(fresh), "duplicates": stored.duplicates,
                     "rejected": len(rejections), "rejections": rejections}

    def accept_sms_receipts(self, destination_name: str, items: list[Any], signature: str | None = None,
                            signature_expires_at: float = 0.0) -> tuple[int, dict[str, Any]]:
        receipts, rejects = [], []
        received_at = _utc_now()
        for item in items:
            receipt, problem = self._receipt(destination_name, item, received_at)
            if problem:
                rejects.append(_receipt_reject(destination_name, item, received_at, problem))
            else:
                receipts.append(receipt)
        refusal, _ = self._store(events={}, receipts=receipts, rejects=rejects, signature=signature,
                                 signature_expires_at=signature_expires_at)
        if refusal:
            return refusal[0], {"code": 1, "msg": refusal[1]["error"]}
        with self._lock:
            self.stats.received += len(items)
            self.stats.accepted += len(receipts)
            self.stats.rejected += len(rejects)
        return 200, {"code": 0, "msg": "接收成功", "accepted": len(receipts), "rejected": len(rejects)}

    def _store(self, **rows) -> tuple[tuple[int, dict] | None, Accepted | None]:
        """Commit one request's rows to the durable buffer: (None, what was added), or the
        refusal when nothing was."""
        if self._closed:
            return (503, {"error": "stopping: retry later"}), None
        accepted = self._buffer.accept(**rows, max_waiting=self.max_buffered,
                                       already_landed=self._recent_ids.__contains__)
        if accepted.status == "replayed":
            return (401, {"error": "replayed: a request with this signature was already accepted"}), None
        if accepted.status == "full":
            return (503, {"error": "busy: retry later"}), None
        if self._buffer.waiting >= self.flush_every_events:
            self._wake.set()
        return None, accepted

    def _receipt(self, destination_name: str, item: Any, received_at: dt.datetime) -> tuple[dict | None, str | None]:
        """An SMS receipt as stored until it is mapped (no phone in clear), or why it is refused."""
        if not isinstance(item, dict):
            return None, "not a JSON object"
        problems: list[str] = []
        biz_id = id_text(item.get("biz_id"), "biz_id", problems)
        out_id = id_text(item.get("out_id"), "out_id", problems)
        if problems:
            return None, "; ".join(problems)
        if not biz_id:
            return None, "biz_id is empty"
        success = item.get("success")
        if not isinstance(success, (bool, str)) or success not in _SUCCESS:
            return None, "success is not true or false"
        when = item.get("report_time") or item.get("send_time")
        if not when:
            return None, "report_time and send_time are empty"
        occurred_at = parse_timestamp(_beijing_time(when), problems)
        if problems:
            return None, "; ".join(problems).replace("occurred_at", "report_time")
        return {
            "destination_name": destination_name, "biz_id": biz_id, "out_id": out_id,
            "phone_key": self._phone_key(item.get("phone_number")),
            "success": _SUCCESS[success], "occurred_at": occurred_at.isoformat(),
            # The receipt as it would be kept aside, should it not be mapped.
            "reject": _receipt_reject(destination_name, item, received_at, ""),
        }, None

    def _phone_key(self, phone: Any) -> str | None:
        """A keyed hash of the 11-digit mobile: matches the members' phones without storing it."""
        if isinstance(phone, bool) or not isinstance(phone, (str, int, decimal.Decimal)):
            return None
        text = str(phone)
        digits = cn_mobile_11_digits(text) if len(text) <= MAX_PHONE_CHARS else None
        return hmac.new(self._secret, digits.encode(), hashlib.sha256).hexdigest() if digits else None

    # Flushing ---------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_every_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the rows stay in the buffer; try again next time
                logger.exception("feedback flush failed; the rows stay buffered for the next flush")

    def flush(self, *, final: bool = False) -> None:
        """Land what is buffered, FLUSH_CHUNK rows at a time. A disk error is raised and leaves
        the rows not yet written in the durable buffer, for the next flush."""
        with self._flush_lock:
            if final:
                self._closed = True
            while self._flush_chunk(final):
                pass
            self._buffer.forget_seen_before(self._clock())

    def _flush_chunk(self, final: bool) -> bool:
        """Land one chunk of events and receipts and write one of rejects; True when more wait."""
        taken_events = self._buffer.take("events", FLUSH_CHUNK)
        taken_receipts = self._buffer.take("receipts", FLUSH_CHUNK)
        events = [_stored_event(row) for _, row in taken_events]
        mapped, unmapped, handled = self._map_receipts(taken_receipts, final) if taken_receipts else ([], [], [])
        fresh, duplicates = self._new_events(events, mapped)
        to_land = events + fresh
        landing_file, unwritable = write_landing_rows(self.settings, to_land)
        set_aside = unmapped + [reject_record(event, reason, route="flush") for event, reason in unwritable]
        self._buffer.settle(event_ids=[key for key, _ in taken_events], receipt_ids=handled,
                            new_rejects=set_aside)
        self._remember(event["feedback_event_id"] for event in to_land)
        with self._lock:
            self.stats.landed += len(to_land) - len(unwritable)
            self.stats.duplicates += duplicates
            # Accepted when answered, set aside now: counted in both.
            self.stats.rejected += len(set_aside)
            if landing_file:
                self.stats.landing_files.append(str(landing_file))

        taken_rejects = self._buffer.take("rejects", FLUSH_CHUNK)
        rejects_file = None
        if taken_rejects:
            rejects = [row for _, row in taken_rejects]
            rejects_file = write_rejects(self.settings, _rejects_name(rejects), rejects)
            self._buffer.settle(reject_ids=[key for key, _ in taken_rejects])
            with self._lock:
                self.stats.rejects_files.append(str(rejects_file))
        if to_land or taken_rejects:
            logger.info("flushed: landed %d events%s, %d rejects%s", len(to_land) - len(unwritable),
                        f" in {landing_file.name}" if landing_file else "", len(taken_rejects),
                        f" in {rejects_file.name}" if rejects_file else "")
        return (len(taken_events) == FLUSH_CHUNK or len(taken_rejects) == FLUSH_CHUNK
                or (len(taken_receipts) == FLUSH_CHUNK and bool(handled)))

    def _new_events(self, events: list[dict], mapped: list[dict]) -> tuple[list[dict], int]:
        """Mapped receipts not already landed or in this flush (a receipt pushed twice), and
        how many were such duplicates."""
        seen = {event["feedback_event_id"] for event in events}
        fresh = []
        for event in mapped:
            event_id = event["feedback_event_id"]
            if event_id in seen or event_id in self._recent_ids:
                continue
            seen.add(event_id)
            fresh.append(event)
        return fresh, len(mapped) - len(fresh)

    def _remember(self, event_ids) -> None:
        with self._lock:
            for event_id in event_ids:
                self._recent_ids[event_id] = None
            while len(self._recent_ids) > RECENT_IDS_KEPT:
                self._recent_ids.popitem(last=False)

    def _map_receipts(
        self, receipts: list[tuple[int, dict]], final: bool
    ) -> tuple[list[dict], list[dict], list[int]]:
        """(events, rejects, ids of the receipts handled) for stored SMS receipts; those not
        handled wait in the buffer for the next flush. See the module docstring."""
        deadline = time.monotonic() + (self.shutdown_wait_seconds if final else 0)
        every_id = [receipt_id for receipt_id, _ in receipts]
        while True:
            try:
                lookup = _ReceiptLookup.read(self.settings, [receipt for _, receipt in receipts], self._phone_key)
                break
            except _WarehouseBusy:
                if time.monotonic() >= deadline:
                    if not final:
                        logger.info("warehouse busy: %d SMS receipts wait for the next flush", len(receipts))
                        return [], [], []
                    reason = "warehouse busy at shutdown: not mapped to a member"
                    return [], [_with_reason(receipt["reject"], reason) for _, receipt in receipts], every_id
                time.sleep(0.5)
            except ActivationError as error:
                return [], [_with_reason(receipt["reject"], str(error)) for _, receipt in receipts], every_id
        events, rejects = [], []
        for _, receipt in receipts:
            row, reason = lookup.event(receipt)
            event = None
            if row is not None:
                event, reason = validate_row(row, receipt["destination_name"])
            if event is None:
                rejects.append(_with_reason(receipt["reject"], reason))
            else:
                events.append(event)
        return events, rejects, every_id


class _Request:
    """What the app reads of an ASGI request before its body."""

    def __init__(self, scope: dict) -> None:
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.client = (scope.get("client") or ("?", 0))[0]
        self._query: bytes = scope.get("query_string", b"")
        # Header names are lower-case in ASGI; values are bytes, read as Latin-1 (never fails).
        self.headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        length = self.headers.get("content-length")
        # h11 has checked Content-Length is digits (at most 20) and refused a chunked body with it.
        self.content_length = int(length) if length is not None and length.isdigit() else None
        self.body_read = False

    @property
    def body_waits(self) -> bool:
        """Whether a body was announced, is being sent and has not been read."""
        return (not self.body_read and bool(self.content_length)
                and self.headers.get("expect", "").lower() != "100-continue")

    def query_value(self, name: str) -> str | None:
        try:
            values = parse_qs(self._query.decode("latin-1"), max_num_fields=20).get(name)
        except ValueError:
            return None
        return values[-1] if values else None


async def _read_body(receive) -> bytes | None:
    """The whole body (h11 stops it at Content-Length), or None when the client went away."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


async def _discard_body(receive, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    return
    except TimeoutError:
        return


def _signature_of(headers: dict[str, str]) -> tuple[str, str]:
    """(the signature a replay would repeat, its timestamp), under either scheme."""
    if "webhook-signature" in headers:
        return headers["webhook-signature"], headers["webhook-timestamp"]
    return headers["x-onedata-signature"], headers["x-onedata-timestamp"]


def _items(body: bytes, max_items: int) -> tuple[list[Any], tuple[int, dict] | None]:
    """The JSON items of a body, or the answer refusing it."""
    # Counted before parsing: json.loads holds the GIL for the whole document, and a megabyte
    # of `{},` is 350,000 objects (about 50 ms during which /health could not be answered).
    # A callback event is flat: about ten values and one object each, so the bounds are wide.
    values, containers = body.count(b","), body.count(b"{") + body.count(b"[")
    if values > MAX_VALUES_PER_ITEM * max_items or containers > MAX_CONTAINERS_PER_ITEM * max_items:
        return [], (413, {"error": f"too many JSON values: at most {max_items} items a request, "
                                   f"{MAX_VALUES_PER_ITEM} values and {MAX_CONTAINERS_PER_ITEM} "
                                   "objects or arrays an item"})
    try:
        # Numbers as Decimal: amounts stay exact, and a 5000-digit number is not an error of
        # int() (which refuses more than 4300 digits) but a value validation rejects.
        payload = json.loads(body.decode("utf-8"), parse_float=decimal.Decimal, parse_int=decimal.Decimal)
    except UnicodeDecodeError:
        return [], (400, {"error": "body is not JSON (not UTF-8)"})
    except (ValueError, RecursionError):
        return [], (400, {"error": "body is not JSON (or nested too deeply)"})
    if isinstance(payload, dict) and set(payload) == {"events"} and isinstance(payload["events"], list):
        payload = payload["events"]  # {"events": [...]}: the events, not one event
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > max_items:
        return [], (413, {"error": f"{len(items)} items: at most {max_items} a request"})
    return items, None


class _WarehouseBusy(Exception):
    """Another process holds the DuckDB file for writing."""


@dataclass
class _ReceiptLookup:
    """What the warehouse says about the receipts of one flush: their ledger batches and the
    phone keys of the members in them."""

    # (destination_name, biz_id or out_id) -> [(one_id, campaign_id)]
    by_reference: dict[tuple[str, str], list[tuple[str, str]]]
    by_idempotency_key: dict[tuple[str, str], list[tuple[str, str]]]
    phone_keys: dict[str, str | None]

    @classmethod
    def read(cls, settings: Settings, receipts: list[dict], phone_key) -> _ReceiptLookup:
        path = settings.duckdb_path
        if not path.exists():
            raise ActivationError(f"no warehouse at {path}: run dbt build first")
        try:
            connection = duckdb.connect(str(path), read_only=True)
        except (duckdb.IOException, duckdb.ConnectionException) as error:
            # IOException: another process holds the file; ConnectionException: this process
            # holds it open read-write.
            raise _WarehouseBusy() from error
        try:
            return cls._read(connection, receipts, phone_key)
        except duckdb.CatalogException as error:
            raise ActivationError(
                f"cannot map SMS receipts ({LEDGER_TABLE} or {MEMBERS_TABLE} missing): run dbt build"
            ) from error
        except duckdb.Error as error:
            # Not a busy file but a warehouse that does not fit (a column missing, ...): waiting
            # would not help, so the receipts are set aside with the reason.
            raise ActivationError(f"cannot map SMS receipts: {scrub_pii(str(error), 300)}") from error
        finally:
            connection.close()

    @classmethod
    def _read(cls, connection, receipts: list[dict], phone_key) -> _ReceiptLookup:
        by_reference: dict[tuple[str, str], list] = {}
        by_key: dict[tuple[str, str], list] = {}
        for destination_name in sorted({receipt["destination_name"] for receipt in receipts}):
            mine = [receipt for receipt in receipts if receipt["destination_name"] == destination_name]
            biz_ids = sorted({receipt["biz_id"] for receipt in mine})
            out_ids = sorted({receipt["out_id"] for receipt in mine if receipt["out_id"]})
            rows = connection.execute(
                f"""
                select destination_reference, idempotency_key, one_id, campaign_id
                from {LEDGER_TABLE}
                where destination_name = ?
                    and send_status = 'sent'
                    and operation <> 'remove'
                    and (
                        list_contains(?::varchar[], destination_reference)
                        or list_contains(?::varchar[], idempotency_key)
                    )
                order by recorded_at, one_id
                """,
                [destination_name, biz_ids, out_ids],
            ).fetchall()
            for reference, idempotency_key, one_id, campaign_id in rows:
                if reference in biz_ids:
                    by_reference.setdefault((destination_name, reference), []).append((one_id, campaign_id))
                if idempotency_key in out_ids:
                    by_key.setdefault((destination_name, idempotency_key), []).append((one_id, campaign_id))
        one_ids = sorted({one_id for batch in (*by_reference.values(), *by_key.values())
                          for one_id, _ in batch})
        phones = connection.execute(
            f"select one_id, phone from {MEMBERS_TABLE} where list_contains(?::varchar[], one_id)",
            [one_ids],
        ).fetchall() if one_ids else []
        return cls(by_reference, by_key, {one_id: phone_key(phone) for one_id, phone in phones})

    def event(self, receipt: dict) -> tuple[dict | None, str | None]:
        """The receipt as a feedback row, or why it cannot be tied to one member."""
        destination_name, biz_id = receipt["destination_name"], receipt["biz_id"]
        batch = self.by_reference.get((destination_name, biz_id)) or self.by_idempotency_key.get(
            (destination_name, receipt["out_id"] or ""))
        if not batch:
            return None, f"no ledger row of {destination_name} has destination_reference {biz_id}"
        recipients = dict(batch)  # one_id -> campaign_id
        if len(recipients) == 1:
            # A batch of one: the receipt is about that member whatever the phone looks like.
            (one_id,) = recipients
        else:
            if receipt["phone_key"] is None:
                return None, (f"phone is masked or not a mainland mobile; batch {biz_id} has "
                              f"{len(recipients)} recipients")
            matches = [one_id for one_id in recipients if self.phone_keys.get(one_id) == receipt["phone_key"]]
            if len(matches) != 1:
                found = "no recipient" if not matches else f"{len(matches)} recipients"
                return None, f"phone matches {found} of batch {biz_id} in {MEMBERS_TABLE}"
            (one_id,) = matches
        return {
            "campaign_id": recipients[one_id],
            "destination_name": destination_name,
            "one_id": one_id,
            "event_type": "delivered" if receipt["success"] else "failed",
            "occurred_at": receipt["occurred_at"],
        }, None


def _receipt_reject(destination_name: str, item: Any, received_at: dt.datetime, reason: str) -> dict:
    """A receipt fit to keep on disk: the phone masked, every value scrubbed and cut short."""
    if isinstance(item, dict):
        phone = item.get("phone_number")
        item = {**item, "phone_number": mask_phone(str(phone)[:MAX_PHONE_CHARS]) if phone is not None else None}
    return reject_record(item, reason, columns=SMS_REPORT_FIELDS, received_at=received_at,
                         route=f"/feedback/sms_gateway/{destination_name}", destination_name=destination_name)


def _with_reason(reject: dict, reason: str | None) -> dict:
    return {**reject, "rejection_reason": scrub_value(reason or "rejected", 1000)}


def _stored_event(row: dict) -> dict:
    """An event read back from the buffer, in the landing types again."""
    revenue = row.get("revenue_amount")
    return {**row, "revenue_amount": decimal.Decimal(revenue) if revenue is not None else None,
            "occurred_at": dt.datetime.fromisoformat(row["occurred_at"])}


def _beijing_time(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        return value  # parse_timestamp rejects it with the value in the reason
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BEIJING)
    return parsed.isoformat()


def _rejects_name(rejects: list[dict]) -> str:
    digest = hashlib.sha256(
        "\n".join(json.dumps(row, sort_keys=True, default=str) for row in rejects).encode("utf-8", "replace")
    ).hexdigest()
    return f"serve-{digest[:16]}"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def serve_feedback(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8766,
    flush_every_seconds: float = 5.0,
    flush_every_events: int = 1000,
    on_listening: Callable[[str], None] = lambda url: None,
) -> ServeStats:
    """Serve until SIGTERM or SIGINT, then flush the buffer and return what was done."""
    server = FeedbackServer(
        settings, os.environ.get(SECRET_ENV), host=host, port=port,
        flush_every_seconds=flush_every_seconds, flush_every_events=flush_every_events,
        sms_push_token=os.environ.get(SMS_PUSH_TOKEN_ENV) or None,
    )
    stop = threading.Event()
    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in handled}
    try:
        server.start()
        on_listening(server.url)
        # A timed wait keeps the main thread returning to Python, where signal handlers run.
        while not stop.wait(0.5):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        stats = server.stop()
    return stats
