"""A webhook receiver on 127.0.0.1 shaped like the onedata webhook contract, for tests.

It checks the HMAC signature (401 on a bad one), counts the records of every batch it
processes by (operation, external_id), and can be told to misbehave: answer 429 or 500,
drop the connection, hang, or reject chosen records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: Counter[tuple[str, str]] = Counter()
        self.batches: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.requests = 0
        # Answers for the next requests, in order: an HTTP status (with `error_message`;
        # 429 also with Retry-After), "drop", "hang", or None for a normal answer.
        self.script: deque[int | str | None] = deque()
        self.retry_after = "0"
        self.error_message = "unavailable"
        # Drop every request once this many batches have been processed (None: never).
        self.drop_after_batches: int | None = None
        self.reject: dict[str, str] = {}
        self.hung = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/onedata"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    def ids(self, operation: str) -> Counter[str]:
        """How many times each external_id arrived with this operation."""
        return Counter({key[1]: count for key, count in self.received.items() if key[0] == operation})

    def _next_action(self) -> int | str | None:
        with self._lock:
            self.requests += 1
            if self.script:
                return self.script.popleft()
            if self.drop_after_batches is not None and len(self.batches) >= self.drop_after_batches:
                return "drop"
            return None

    def _process(self, body: bytes, headers: dict[str, str]) -> list[dict]:
        payload = json.loads(body)
        with self._lock:
            self.batches.append(payload)
            self.headers.append(headers)
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
            return results

    def signature_ok(self, body: bytes, headers: dict[str, str]) -> bool:
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
            action = receiver._next_action()
            if action == "hang":
                receiver.hung.set()
                receiver.release.wait(timeout=60)
                action = "drop"
            if action == "drop":
                # Close without an answer, before processing: the batch never arrived.
                self.close_connection = True
                return
            if isinstance(action, int):
                retry_after = {"Retry-After": receiver.retry_after} if action == 429 else {}
                self._answer(action, {"error": receiver.error_message}, retry_after)
            elif not receiver.signature_ok(body, headers):
                self._answer(401, {"error": "invalid signature"})
            else:
                self._answer(200, {"results": receiver._process(body, headers)})

        def _answer(self, status: int, payload: dict, extra_headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (extra_headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return Handler
