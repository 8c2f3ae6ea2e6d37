"""A loopback batch API for the sync benchmark, run as its own process so it does not share the
sync's interpreter: the onedata webhook contract (HMAC-signed JSON batches), deduplicated on
Idempotency-Key like a real idempotent API, counting each record it processed.

    python bench/batch_api.py PORT_FILE SECRET   # writes the port it listens on to PORT_FILE

GET /stats answers {"requests", "batches", "records", "duplicates", "distinct": {operation: n}}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


def serve(port_file: str, secret: str) -> None:
    lock = threading.Lock()
    seen_keys: set[str] = set()
    counts: dict[str, Counter[str]] = {}
    totals = Counter()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes: without this, Nagle's algorithm holds the
            # body until the client's delayed ACK (40 ms per batch).
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            timestamp = self.headers.get("X-Onedata-Timestamp", "")
            expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
            if not hmac.compare_digest(
                f"sha256={expected.hexdigest()}", self.headers.get("X-Onedata-Signature", "")
            ):
                self._answer(401, {"error": "invalid signature"})
                return
            key = self.headers.get("Idempotency-Key", "")
            payload = orjson.loads(body)
            with lock:
                totals["requests"] += 1
                if key in seen_keys:
                    totals["replayed"] += 1
                else:
                    seen_keys.add(key)
                    totals["batches"] += 1
                    operation = counts.setdefault(payload["operation"], Counter())
                    operation.update(record["external_id"] for record in payload["records"])
                    totals["records"] += len(payload["records"])
            self._answer(200, {"results": []})

        def do_GET(self) -> None:
            with lock:
                stats = {
                    **totals,
                    "duplicates": sum(c - 1 for ops in counts.values() for c in ops.values() if c > 1),
                    "distinct": {operation: len(ids) for operation, ids in counts.items()},
                }
            self._answer(200, stats)

        def _answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file, "w") as handle:
        handle.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
