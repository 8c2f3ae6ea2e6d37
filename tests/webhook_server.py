"""A webhook receiver on 127.0.0.1 shaped like the onedata webhook contract, for tests.

It checks the HMAC signature (401 on a bad one) and processes each batch once per
Idempotency-Key, the way an idempotent API does it (Stripe's model): the answer to a processed
batch is stored under its key; a request with that key again gets the stored answer back, with
`Idempotent-Replayed: true`, and is not processed twice; the same key with a different body (byte
for byte) is refused with 422 (the IETF Idempotency-Key draft's answer for a reused key) and
counted in `conflicts`. Answers that processed nothing (injected faults, a bad signature) are not
stored.

It counts raw receipts (`requests`, `arrivals`, `replays`) apart from processed records
(`received`, `ids()`), so a test can tell "the client sent it three times" from "the service took
it three times". It implements the FakeService protocol of tests/conformance.py (`delivered`,
`inject`, `reject`) and can be told to misbehave: a script of answers (429, 500, "drop", "hang",
"lost_answer", "slow", "processed_then_hang"), dropping every request after N batches, or a seeded fault mode that
answers each request at random with 429, 500, a dropped connection, a lost answer or a slow one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from tests.fakes.loopback import LoopbackHttpServer

# The FakeService protocol's answer names -> the script's actions.
INJECTED_ANSWERS = {"throttle": 429, "server_error": 500, "drop": "drop"}


class Rejections(dict):
    """external_id -> message of records the receiver refuses.

    A dict (tests assign `receiver.reject = {...}`) that is also callable as
    `receiver.reject(external_id, message)`, the FakeService protocol's form.
    """

    def __call__(self, external_id: str, message: str) -> None:
        self[external_id] = message


@dataclass(frozen=True)
class FaultMode:
    """Per-request probabilities of each misbehaviour; at most one applies to a request.

    drop: the connection closes before processing (the batch never arrived);
    lost_answer: the batch is processed, then the connection closes (the client must retry and
    be deduplicated); slow: processed, answered after `slow_seconds` (past a short read timeout,
    the client retries while the answer is on its way).
    """

    throttle: float = 0.0
    server_error: float = 0.0
    drop: float = 0.0
    lost_answer: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 0.5

    def __post_init__(self) -> None:
        if sum(self.probabilities().values()) > 1:
            raise ValueError("fault probabilities add up to more than 1")

    def probabilities(self) -> dict[str, float]:
        return {
            "throttle": self.throttle,
            "server_error": self.server_error,
            "drop": self.drop,
            "lost_answer": self.lost_answer,
            "slow": self.slow,
        }


class WebhookReceiver(LoopbackHttpServer):
    def __init__(self, secret: str) -> None:
        self.secret = secret
        # Processed records by (operation, external_id): what the service took.
        self.received: Counter[tuple[str, str]] = Counter()
        # Every record of every request that arrived, processed or not (raw receipts).
        self.arrivals: Counter[tuple[str, str]] = Counter()
        self.batches: list[dict] = []
        self.headers: list[dict[str, str]] = []
        # The raw body of each processed batch, as it arrived.
        self.bodies_raw: list[bytes] = []
        self.requests = 0
        # Requests answered from the idempotency store instead of being processed.
        self.replays = 0
        # Requests that reused a key with another body (answered 422).
        self.conflicts = 0
        # Idempotency-Key -> the sha256 of every body that arrived under it, processed or not.
        self.bodies: dict[str, list[str]] = {}
        # False: ignore Idempotency-Key, like a service that cannot recognise a resent request.
        self.dedupe = True
        # Answers for the next requests, in order: an HTTP status (with `error_message`;
        # 429 and 503 also with Retry-After), "drop", "hang", "lost_answer", "slow",
        # "processed_then_hang" (the batch is processed, then the answer waits for `release`
        # and is never sent: a sync killed meanwhile leaves it processed but unacknowledged),
        # or None for a normal answer.
        self.script: deque[int | str | None] = deque()
        self.retry_after = "0"
        self.error_message = "unavailable"
        # How long a "slow" answer waits after processing.
        self.slow_seconds = 0.5
        # Drop every request once this many batches have been processed (None: never).
        self.drop_after_batches: int | None = None
        self.hung = threading.Event()
        self.release = threading.Event()
        # Misbehaviours the fault mode chose, by name, so a test can prove they happened.
        self.faults: Counter[str] = Counter()
        self._fault_mode: FaultMode | None = None
        self._random = random.Random(0)
        self._reject = Rejections()
        # Idempotency-Key -> (batch fingerprint, status, answer) of processed batches.
        self._answers: dict[str, tuple[str, int, dict]] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    @property
    def url(self) -> str:
        return f"{self.base_url}/onedata"

    def stop(self) -> None:
        self._stopping.set()
        self.release.set()
        super().stop()

    # The FakeService protocol ------------------------------------------------------------

    def delivered(self, operation: str) -> Counter[str]:
        return self.ids(operation)

    def inject(self, *answers: str) -> None:
        for answer in answers:
            self.script.append(INJECTED_ANSWERS.get(answer, answer))

    @property
    def reject(self) -> Rejections:
        return self._reject

    @reject.setter
    def reject(self, rejections: dict[str, str]) -> None:
        self._reject = Rejections(rejections)

    # Counting ----------------------------------------------------------------------------

    def ids(self, operation: str) -> Counter[str]:
        """How many times each external_id was processed with this operation."""
        return Counter({key[1]: count for key, count in self.received.items() if key[0] == operation})

    def arrived(self, operation: str) -> Counter[str]:
        """How many times each external_id reached the receiver, processed or not."""
        return Counter({key[1]: count for key, count in self.arrivals.items() if key[0] == operation})

    def processed_once(self, operation: str) -> set[str]:
        """The external_ids processed exactly once with this operation."""
        return {external_id for external_id, count in self.ids(operation).items() if count == 1}

    def duplicates(self, operation: str) -> Counter[str]:
        """The external_ids processed more than once with this operation, with their counts."""
        return Counter({external_id: n for external_id, n in self.ids(operation).items() if n > 1})

    # Faults ------------------------------------------------------------------------------

    def fault_mode(self, seed: int = 0, **probabilities: float) -> FaultMode:
        """Answer each request at random: fault_mode(seed=7, throttle=0.1, server_error=0.1,
        drop=0.05, lost_answer=0.05, slow=0.05, slow_seconds=0.5). The same seed gives the same
        faults for the same sequence of requests. fault_mode() with no probability turns it off."""
        mode = FaultMode(**probabilities)
        with self._lock:
            self._random = random.Random(seed)
            self._fault_mode = mode if any(mode.probabilities().values()) else None
            self.slow_seconds = mode.slow_seconds
        return mode

    # Handling ----------------------------------------------------------------------------

    def _next_action(self, body: bytes, key: str | None = None) -> int | str | None:
        with self._lock:
            self.requests += 1
            self._count_arrival(body)
            if key is not None:
                self.bodies.setdefault(key, []).append(hashlib.sha256(body).hexdigest())
            if self.script:
                return self.script.popleft()
            if self.drop_after_batches is not None and len(self.batches) >= self.drop_after_batches:
                return "drop"
            if self._fault_mode is not None:
                return self._draw_fault()
            return None

    def _count_arrival(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
            for record in payload["records"]:
                self.arrivals[(payload["operation"], record["external_id"])] += 1
        except (ValueError, KeyError, TypeError):
            pass

    def _draw_fault(self) -> int | str | None:
        draw = self._random.random()
        for name, probability in self._fault_mode.probabilities().items():
            if draw < probability:
                self.faults[name] += 1
                return INJECTED_ANSWERS.get(name, name)
            draw -= probability
        return None

    def _process(
        self, body: bytes, headers: dict[str, str], key: str | None
    ) -> tuple[int, dict, bool]:
        """(status, answer, replayed): process a batch, or replay the answer stored for its key."""
        payload = json.loads(body)
        fingerprint = hashlib.sha256(body).hexdigest()
        # Lookup, processing and storing under one lock: a retry racing its original (a slow
        # answer) waits for it and is then replayed, never processed a second time.
        with self._lock:
            if self.dedupe and key is not None and key in self._answers:
                self.replays += 1
                stored_fingerprint, status, answer = self._answers[key]
                if stored_fingerprint != fingerprint:
                    self.conflicts += 1
                    refusal = {"error": "Idempotency-Key was already used for a different batch"}
                    return 422, refusal, False
                return status, answer, True
            self.batches.append(payload)
            self.headers.append(headers)
            self.bodies_raw.append(body)
            results = []
            for record in payload["records"]:
                self.received[(payload["operation"], record["external_id"])] += 1
                if record["external_id"] in self.reject:
                    results.append(
                        {
                            "external_id": record["external_id"],
                            "status": "rejected",
                            "error": self.reject[record["external_id"]],
                        }
                    )
            answer = {"results": results}
            if key is not None:
                self._answers[key] = (fingerprint, 200, answer)
            return 200, answer, False

    def signature_ok(self, body: bytes, headers: dict[str, str]) -> bool:
        if "webhook-signature" in {name.lower() for name in headers}:
            # Standard Webhooks, verified by the standard's own package.
            from standardwebhooks import Webhook, WebhookVerificationError

            try:
                Webhook(self.secret).verify(body, headers, json_parse=False)
            except (WebhookVerificationError, ValueError):
                return False
            return True
        timestamp = headers.get("X-Onedata-Timestamp", "")
        expected = hmac.new(
            self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return hmac.compare_digest(f"sha256={expected}", headers.get("X-Onedata-Signature", ""))


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = dict(self.headers.items())
            action = receiver._next_action(body, self.headers.get("Idempotency-Key"))
            if action == "hang":
                receiver.hung.set()
                receiver.release.wait(timeout=60)
                action = "drop"
            if action == "drop":
                # Close without an answer, before processing: the batch never arrived.
                self.close_connection = True
                return
            if isinstance(action, int):
                retry_after = {"Retry-After": receiver.retry_after} if action in (429, 503) else {}
                self._answer(action, {"error": receiver.error_message}, retry_after)
                return
            if not receiver.signature_ok(body, headers):
                self._answer(401, {"error": "invalid signature"})
                return
            status, answer, replayed = receiver._process(
                body, headers, self.headers.get("Idempotency-Key")
            )
            if action == "processed_then_hang":
                receiver.hung.set()
                receiver.release.wait(timeout=60)
                action = "lost_answer"
            if action == "lost_answer":
                # Processed, but the acknowledgement never reaches the client.
                self.close_connection = True
                return
            if action == "slow":
                receiver._stopping.wait(receiver.slow_seconds)
            self._answer(status, answer, {"Idempotent-Replayed": "true"} if replayed else None)

        def _answer(self, status: int, payload: dict, extra_headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (extra_headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up waiting (a slow answer past its read timeout).
                self.close_connection = True

        def log_message(self, *args) -> None:
            pass

    return Handler
