"""`activate feedback serve`: an HTTP receiver for delivery, click and conversion callbacks.

The API it offers:

- Every request is signed the way the webhook destination signs (activation/destinations/
  webhook.py): header X-Onedata-Timestamp (unix seconds) and X-Onedata-Signature:
  sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>, the secret from
  ACTIVATE__FEEDBACK__SECRET. A missing or bad signature, or a timestamp more than 5 minutes
  from the server's clock (a replay), is answered 401 and nothing is kept.
- POST /feedback: one feedback event or a JSON list of them, fields as the landing contract
  (campaign_id, one_id or external_id, event_type, occurred_at, order_id, revenue_amount,
  destination_name). Answer 200 {"accepted", "duplicates", "rejected", "rejections":
  [{"index", "reason"}]}; duplicates are accepted events already received.
- POST /feedback/sms_gateway/<destination_name>: Alibaba Cloud SMS delivery receipts
  (SmsReport, HTTP batch push): a JSON list of {phone_number, send_time, report_time,
  success, err_code, err_msg, sms_size, biz_id, out_id}, times in Beijing time. Answer 200
  {"code": 0, "msg": ..., "accepted", "rejected"}: Alibaba Cloud checks only that `code` is a
  number and pushes again (after 1, 5 and 10 minutes) on any other HTTP status. Alibaba Cloud
  cannot sign its pushes our way: when ACTIVATE__FEEDBACK__SMS_PUSH_TOKEN is set (32
  characters or more), a push to this route whose URL carries ?token=<that token> is taken
  unsigned, so the push URL configured in the console needs no relay. A wrong token is 401;
  the token opens this route only, and a re-pushed receipt lands once (its id is its content).
- GET /health: 200, unsigned. 400 when the body is not JSON, 404 for other paths, 411 without
  Content-Length, 413 above 10 MiB, 503 while the buffer is full or the server is stopping
  (the sender retries).

Valid events are buffered and flushed to the landing zone (activation.feedback's writer) every
--flush-every-seconds, as soon as --flush-every-events are waiting, and on shutdown (SIGTERM,
SIGINT), so a stop loses nothing that was answered 200 (a SIGKILL loses the buffer). Events
without an id of their own get one from their content, so a retried callback lands under the
same feedback_event_id and the staging model counts it once.

An SMS receipt carries a phone number, never a one_id. It is mapped at flush time: the
ledger rows of that destination whose destination_reference is the receipt's biz_id (else whose
idempotency_key is its out_id) are the batch it belongs to, and marts.dim_members' phone picks
the member among them (a batch of one needs no phone). Only the one_id is landed. The warehouse
is opened read-only and only while mapping, because DuckDB lets a single writer (a sync, dbt)
hold the file: while it is busy, receipts wait in memory for the next flush. A receipt that
cannot be mapped goes to the rejects folder with its reason and the phone masked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import re
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from activation.destinations.normalise import cn_mobile_11_digits
from activation.engine import duckdb
from activation.errors import ActivationError
from activation.feedback import validate_row, write_landing_file, write_rejects
from activation.masking import mask_phone, scrub_pii
from activation.settings import ACTIVATION_SCHEMA, Settings

logger = logging.getLogger(__name__)

SECRET_ENV = "ACTIVATE__FEEDBACK__SECRET"
SMS_PUSH_TOKEN_ENV = "ACTIVATE__FEEDBACK__SMS_PUSH_TOKEN"
MIN_PUSH_TOKEN_CHARS = 32
MAX_CLOCK_SKEW_SECONDS = 300
MAX_BODY_BYTES = 10 * 1024 * 1024
# Alibaba Cloud reports times as Beijing time without an offset; China has no daylight saving.
BEIJING = dt.timezone(dt.timedelta(hours=8))
MEMBERS_TABLE = "marts.dim_members"
LEDGER_TABLE = f"{ACTIVATION_SCHEMA}.sync_ledger"
# Ids landed by this process, remembered to answer `duplicates` and to skip re-landing a retried
# callback; the staging model's de-duplication on feedback_event_id is the real guarantee.
RECENT_IDS_KEPT = 200_000
_DESTINATION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_SMS_ROUTE = re.compile(r"^/feedback/sms_gateway/([^/]+)/?$")


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
    # Rows that could not be written at shutdown (disk full, ...); non-zero fails the command.
    unwritten: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _SmsReceipt:
    """An SMS receipt waiting to be mapped; held in memory only, since it carries a phone."""

    destination_name: str
    report: dict[str, Any]
    received_at: dt.datetime


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
        self.flush_every_seconds = flush_every_seconds
        self.flush_every_events = flush_every_events
        # Past this many waiting events, callbacks get 503 and are retried by their sender.
        self.max_buffered = max_buffered or max(100_000, 10 * flush_every_events)
        self.shutdown_wait_seconds = shutdown_wait_seconds
        self.stats = ServeStats()

        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._events: dict[str, dict] = {}
        self._rejects: list[dict] = []
        self._receipts: list[_SmsReceipt] = []
        self._recent_ids: OrderedDict[str, None] = OrderedDict()
        self._closed = False
        self._wake = threading.Event()
        self._stopping = threading.Event()

        try:
            self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        except OSError as error:
            raise ActivationError(f"Cannot listen on {host}:{port}: {error.strerror}.") from error
        # Request threads need not be joined at stop: once stopping, they answer 503.
        self._httpd.daemon_threads = True
        self._started = False
        self._threads = [
            threading.Thread(target=self._httpd.serve_forever, name="feedback-http", daemon=True),
            threading.Thread(target=self._flush_loop, name="feedback-flush", daemon=True),
        ]

    @property
    def port(self) -> int:
        """The port listened on (the one the OS picked when started with port 0)."""
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> FeedbackServer:
        for thread in self._threads:
            thread.start()
        self._started = True
        return self

    def stop(self) -> ServeStats:
        """Stop accepting, flush everything buffered, and release the port."""
        self._stopping.set()
        self._wake.set()
        if self._started:
            # shutdown() waits for serve_forever to return: only call it when it runs.
            self._httpd.shutdown()
            self._threads[1].join()
        try:
            self.flush(final=True)
        except Exception:  # noqa: BLE001 - counted in stats.unwritten, which fails the command
            logger.exception("the final flush failed")
        finally:
            self._httpd.server_close()
        return self.stats

    # Accepting callbacks (request threads) ----------------------------------------------

    def verify(self, headers, body: bytes) -> str | None:
        """None when the request is signed with our secret and recent; else why not."""
        timestamp = headers.get("X-Onedata-Timestamp", "")
        given = headers.get("X-Onedata-Signature", "")
        if not timestamp.isdigit() or not given:
            return "missing signature"
        expected = hmac.new(
            self._secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(f"sha256={expected}".encode(), given.encode("utf-8", "replace")):
            return "invalid signature"
        if abs(self._clock() - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
            return "timestamp outside 5 minutes (replayed or clock skew)"
        return None

    def verify_push_token(self, given: str) -> str | None:
        """None when an unsigned SMS receipt push carries our push token; else why not."""
        if self._sms_push_token is None:
            return f"push tokens are not enabled (set {SMS_PUSH_TOKEN_ENV})"
        if not hmac.compare_digest(self._sms_push_token, given.encode("utf-8", "replace")):
            return "invalid push token"
        return None

    def accept_events(self, items: list[Any]) -> tuple[int, dict[str, Any]]:
        accepted = duplicates = 0
        rejections, rejects, fresh = [], [], {}
        received_at = _utc_now()
        for index, item in enumerate(items):
            row = item if isinstance(item, dict) else {"raw_value": json.dumps(item)[:1000]}
            event, reason = validate_row(row, None) if isinstance(item, dict) else (None, "not a JSON object")
            if reason:
                reason = scrub_pii(reason)
                rejections.append({"index": index, "reason": reason})
                rejects.append({"received_at": received_at, "route": "/feedback", "index": index,
                                **_scrubbed(row), "rejection_reason": reason})
            else:
                fresh[event["feedback_event_id"]] = event
        with self._lock:
            if self._refuses(len(fresh)):
                return 503, {"error": "busy: retry later"}
            for event_id, event in fresh.items():
                accepted += 1
                if event_id in self._events or event_id in self._recent_ids:
                    duplicates += 1
                    continue
                self._events[event_id] = event
            self._rejects.extend(rejects)
            self.stats.received += len(items)
            self.stats.accepted += accepted
            self.stats.duplicates += duplicates
            self.stats.rejected += len(rejections)
            self._wake_if_full()
        return 200, {"accepted": accepted, "duplicates": duplicates,
                     "rejected": len(rejections), "rejections": rejections}

    def accept_sms_receipts(self, destination_name: str, items: list[Any]) -> tuple[int, dict[str, Any]]:
        receipts, rejects = [], []
        received_at = _utc_now()
        for item in items:
            problem = _receipt_problem(item)
            if problem:
                rejects.append(_receipt_reject(destination_name, item, received_at, problem))
            else:
                receipts.append(_SmsReceipt(destination_name, item, received_at))
        with self._lock:
            if self._refuses(len(receipts)):
                return 503, {"code": 1, "msg": "busy: retry later"}
            self._receipts.extend(receipts)
            self._rejects.extend(rejects)
            self.stats.received += len(items)
            self.stats.accepted += len(receipts)
            self.stats.rejected += len(rejects)
            self._wake_if_full()
        return 200, {"code": 0, "msg": "接收成功", "accepted": len(receipts), "rejected": len(rejects)}

    def _refuses(self, incoming: int) -> bool:
        # Called with the lock held. Once the final flush has taken the buffer, nothing more
        # may be added to it: the sender gets 503 and retries elsewhere or later.
        waiting = len(self._events) + len(self._receipts)
        return self._closed or (incoming and waiting + incoming > self.max_buffered)

    def _wake_if_full(self) -> None:
        if len(self._events) + len(self._receipts) >= self.flush_every_events:
            self._wake.set()

    # Flushing ---------------------------------------------------------------------------

    def _flush_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_every_seconds)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the buffer was restored; try again next time
                logger.exception("feedback flush failed; the events stay buffered for the next flush")

    def flush(self, *, final: bool = False) -> None:
        """Land what is buffered. On failure what was taken goes back to the buffer (at the
        final flush it is counted as unwritten) and the error is raised."""
        with self._flush_lock:
            with self._lock:
                self._closed = self._closed or final
                taken_events = list(self._events.values())
                taken_rejects, receipts = self._rejects, self._receipts
                self._events, self._rejects, self._receipts = {}, [], []
            events, unmapped, waiting, duplicates = taken_events, [], [], 0
            try:
                if receipts:
                    mapped, unmapped, waiting = self._map_receipts(receipts, final)
                    fresh, duplicates = self._new_events(taken_events, mapped)
                    events = taken_events + fresh
                landing_file = write_landing_file(self.settings, events) if events else None
            except Exception:
                self._give_back(final, taken_events, taken_rejects, receipts)
                raise
            with self._lock:
                self._receipts.extend(waiting)
                self._remember(event["feedback_event_id"] for event in events)
                self.stats.landed += len(events)
                self.stats.duplicates += duplicates
                # Accepted when answered, set aside now: counted in both.
                self.stats.rejected += len(unmapped)
                if landing_file:
                    self.stats.landing_files.append(str(landing_file))
            rejects = taken_rejects + unmapped
            try:
                rejects_file = write_rejects(self.settings, _rejects_name(rejects), rejects) if rejects else None
            except Exception:
                self._give_back(final, [], rejects, [])
                raise
            if rejects_file:
                with self._lock:
                    self.stats.rejects_files.append(str(rejects_file))
        if events or rejects:
            logger.info("flushed: landed %d events%s, %d rejects%s", len(events),
                        f" in {landing_file.name}" if landing_file else "", len(rejects),
                        f" in {rejects_file.name}" if rejects_file else "")

    def _give_back(
        self, final: bool, events: list[dict], rejects: list[dict], receipts: list[_SmsReceipt]
    ) -> None:
        if final:
            # Nothing will flush again: the command reports these and exits 1.
            self.stats.unwritten += len(events) + len(rejects) + len(receipts)
            return
        with self._lock:
            for event in events:
                self._events.setdefault(event["feedback_event_id"], event)
            self._rejects[:0] = rejects
            self._receipts[:0] = receipts

    def _new_events(self, events: list[dict], mapped: list[dict]) -> tuple[list[dict], int]:
        """Mapped receipts not already landed or in this flush (a receipt pushed twice), and
        how many were such duplicates."""
        seen = {event["feedback_event_id"] for event in events}
        fresh = []
        with self._lock:
            for event in mapped:
                event_id = event["feedback_event_id"]
                if event_id in seen or event_id in self._recent_ids:
                    continue
                seen.add(event_id)
                fresh.append(event)
        return fresh, len(mapped) - len(fresh)

    def _remember(self, event_ids) -> None:
        for event_id in event_ids:
            self._recent_ids[event_id] = None
        while len(self._recent_ids) > RECENT_IDS_KEPT:
            self._recent_ids.popitem(last=False)

    def _map_receipts(
        self, receipts: list[_SmsReceipt], final: bool
    ) -> tuple[list[dict], list[dict], list[_SmsReceipt]]:
        """(events, rejects, still waiting) for SMS receipts; see the module docstring."""
        deadline = time.monotonic() + (self.shutdown_wait_seconds if final else 0)
        while True:
            try:
                lookup = _ReceiptLookup.read(self.settings, receipts)
                break
            except _WarehouseBusy:
                if time.monotonic() >= deadline:
                    if not final:
                        logger.info("warehouse busy: %d SMS receipts wait for the next flush", len(receipts))
                        return [], [], receipts
                    reason = "warehouse busy at shutdown: not mapped to a member"
                    return [], [_receipt_reject(r.destination_name, r.report, r.received_at, reason)
                                for r in receipts], []
                time.sleep(0.5)
            except ActivationError as error:
                return [], [_receipt_reject(r.destination_name, r.report, r.received_at, str(error))
                            for r in receipts], []
        events, rejects = [], []
        for receipt in receipts:
            row, reason = lookup.event(receipt)
            event = None
            if row is not None:
                event, reason = validate_row(row, receipt.destination_name)
            if event is None:
                rejects.append(_receipt_reject(
                    receipt.destination_name, receipt.report, receipt.received_at, reason))
            else:
                events.append(event)
        return events, rejects, []


class _WarehouseBusy(Exception):
    """Another process holds the DuckDB file for writing."""


@dataclass
class _ReceiptLookup:
    """What the warehouse says about the receipts of one flush: their ledger batches and the
    phones of the members in them."""

    # (destination_name, biz_id or out_id) -> [(one_id, campaign_id)]
    by_reference: dict[tuple[str, str], list[tuple[str, str]]]
    by_idempotency_key: dict[tuple[str, str], list[tuple[str, str]]]
    phones: dict[str, str | None]

    @classmethod
    def read(cls, settings: Settings, receipts: list[_SmsReceipt]) -> _ReceiptLookup:
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
            return cls._read(connection, receipts)
        except duckdb.CatalogException as error:
            raise ActivationError(
                f"cannot map SMS receipts ({LEDGER_TABLE} or {MEMBERS_TABLE} missing): run dbt build"
            ) from error
        except duckdb.Error as error:
            # Not a busy file but a warehouse that does not fit (a column missing, ...): waiting
            # would not help, so the receipts are set aside with the reason.
            raise ActivationError(f"cannot map SMS receipts: {scrub_pii(str(error))[:300]}") from error
        finally:
            connection.close()

    @classmethod
    def _read(cls, connection, receipts: list[_SmsReceipt]) -> _ReceiptLookup:
        by_reference: dict[tuple[str, str], list] = {}
        by_key: dict[tuple[str, str], list] = {}
        for destination_name in sorted({receipt.destination_name for receipt in receipts}):
            mine = [receipt.report for receipt in receipts if receipt.destination_name == destination_name]
            biz_ids = sorted({str(report["biz_id"]) for report in mine})
            out_ids = sorted({str(report["out_id"]) for report in mine if report.get("out_id")})
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
        phones = dict(
            connection.execute(
                f"select one_id, phone from {MEMBERS_TABLE} where list_contains(?::varchar[], one_id)",
                [one_ids],
            ).fetchall()
        ) if one_ids else {}
        return cls(by_reference, by_key, phones)

    def event(self, receipt: _SmsReceipt) -> tuple[dict | None, str | None]:
        """The receipt as a feedback row, or why it cannot be tied to one member."""
        report, destination_name = receipt.report, receipt.destination_name
        biz_id = str(report["biz_id"])
        batch = self.by_reference.get((destination_name, biz_id)) or self.by_idempotency_key.get(
            (destination_name, str(report.get("out_id") or "")))
        if not batch:
            return None, f"no ledger row of {destination_name} has destination_reference {biz_id}"
        recipients = dict(batch)  # one_id -> campaign_id
        if len(recipients) == 1:
            # A batch of one: the receipt is about that member whatever the phone looks like.
            (one_id,) = recipients
        else:
            phone = cn_mobile_11_digits(str(report.get("phone_number") or ""))
            if phone is None:
                return None, (f"phone is masked or not a mainland mobile; batch {biz_id} has "
                              f"{len(recipients)} recipients")
            matches = [one_id for one_id in recipients
                       if cn_mobile_11_digits(self.phones.get(one_id) or "") == phone]
            if len(matches) != 1:
                found = "no recipient" if not matches else f"{len(matches)} recipients"
                return None, f"phone matches {found} of batch {biz_id} in {MEMBERS_TABLE}"
            (one_id,) = matches
        succeeded = report["success"] in (True, "true", "True")
        return {
            "campaign_id": recipients[one_id],
            "destination_name": destination_name,
            "one_id": one_id,
            "event_type": "delivered" if succeeded else "failed",
            "occurred_at": _beijing_time(report.get("report_time") or report.get("send_time")),
        }, None


def _receipt_problem(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "not a JSON object"
    if not str(item.get("biz_id") or "").strip():
        return "biz_id is empty"
    if item.get("success") not in (True, False, "true", "false", "True", "False"):
        return "success is not true or false"
    if not (item.get("report_time") or item.get("send_time")):
        return "report_time and send_time are empty"
    return None


def _receipt_reject(destination_name: str, item: Any, received_at: dt.datetime, reason: str) -> dict:
    """A receipt fit to keep on disk: the phone masked, free text scrubbed."""
    report = item if isinstance(item, dict) else {"raw_value": json.dumps(item)[:1000]}
    kept = {key: scrub_pii(str(value)) for key, value in report.items()
            if key != "phone_number" and value is not None}
    return {
        "received_at": received_at,
        "route": f"/feedback/sms_gateway/{destination_name}",
        "destination_name": destination_name,
        "phone_number": mask_phone(str(report.get("phone_number") or "")) or None,
        **kept,
        "rejection_reason": scrub_pii(reason),
    }


def _scrubbed(row: dict[str, Any]) -> dict[str, Any]:
    """A rejected callback row fit to keep on disk: phones and e-mails masked at any depth."""
    kept = {}
    for key, value in row.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False, default=str)
        kept[key] = scrub_pii(value) if isinstance(value, str) else value
    return kept


def _beijing_time(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return value  # validate_row rejects it with the value in the reason
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BEIJING)
    return parsed.isoformat()


def _rejects_name(rejects: list[dict]) -> str:
    digest = hashlib.sha256(
        "\n".join(json.dumps(row, sort_keys=True, default=str) for row in rejects).encode("utf-8")
    ).hexdigest()
    return f"serve-{digest[:16]}"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _handler_for(server: FeedbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "onedata-feedback"
        sys_version = ""
        # An idle keep-alive connection is closed after this long.
        timeout = 60

        def do_GET(self) -> None:
            if urlsplit(self.path).path == "/health":
                self._answer(200, {"status": "ok"})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            with server._lock:
                server.stats.requests += 1
            url = urlsplit(self.path)
            path = url.path
            sms_route = _SMS_ROUTE.match(path)
            if path.rstrip("/") != "/feedback" and not sms_route:
                self._discard_body()
                self._answer(404, {"error": "not found"})
                return
            body = self._read_body()
            if body is None:
                return
            push_token = parse_qs(url.query).get("token")
            if push_token and sms_route:
                problem = server.verify_push_token(push_token[-1])
            else:
                problem = server.verify(self.headers, body)
            if problem:
                with server._lock:
                    server.stats.unauthorised += 1
                logger.warning("refused a callback from %s: %s", self.client_address[0], problem)
                self._answer(401, {"error": problem})
                return
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                self._answer(400, {"error": "body is not JSON"})
                return
            items = payload if isinstance(payload, list) else [payload]
            if sms_route:
                destination_name = sms_route.group(1)
                if not _DESTINATION_NAME.match(destination_name):
                    self._answer(404, {"error": "destination names are lower-case letters, digits and underscores"})
                    return
                status, answer = server.accept_sms_receipts(destination_name, items)
            else:
                status, answer = server.accept_events(items)
            extra = {"Retry-After": str(max(1, int(server.flush_every_seconds)))} if status == 503 else {}
            self._answer(status, answer, extra)

        def _read_body(self) -> bytes | None:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit() or self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                self._answer(411, {"error": "Content-Length required"})
                return None
            if int(length) > MAX_BODY_BYTES:
                self.close_connection = True
                self._answer(413, {"error": f"body above {MAX_BODY_BYTES} bytes"})
                return None
            return self.rfile.read(int(length))

        def _discard_body(self) -> None:
            length = self.headers.get("Content-Length", "")
            if length.isdigit() and int(length) <= MAX_BODY_BYTES:
                self.rfile.read(int(length))
            else:
                self.close_connection = True

        def _answer(self, status: int, payload: dict, extra_headers: dict | None = None) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            if self.close_connection or server._stopping.is_set():
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            # The default logs every request line to stderr; we log counts, never bodies.
            pass

    return Handler


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
