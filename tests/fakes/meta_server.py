"""A fake of Meta's Custom Audience Users edge on 127.0.0.1, for tests.

POST/DELETE /<version>/<audience_id>/users with a form body (payload, session, access_token),
answered like the Marketing API: the token is checked (error 190), more than 10,000 rows are
refused (error 100), rows must have one value per schema key and hashed keys must be SHA-256
hex (else they count as invalid entries, with samples), and every accepted row is counted
under its row ("|"-joined values). A POST of a member already in the audience (same EXTERN_ID,
or the same row without one) counts as an update. Implements the conformance FakeService
protocol: delivered(), inject() and reject().
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback import LoopbackHttpServer

MAX_ROWS = 10_000
# Meta returns a handful of samples of the invalid entries, never all of them.
MAX_SAMPLES = 5
HASHED_KEYS = {"EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "GEN", "DOBY"}
KNOWN_KEYS = HASHED_KEYS | {"EXTERN_ID", "MADID"}
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_PATH = re.compile(r"^/(v\d+\.\d+)/(\d+)/users$")


class FakeMetaAudience(LoopbackHttpServer):
    def __init__(self, access_token: str, audience_id: str = "23850000000000001") -> None:
        self.access_token = access_token
        self.audience_id = audience_id
        self.received: Counter[tuple[str, str]] = Counter()
        # Who the audience holds now: EXTERN_ID (or row key) -> row.
        self.members: dict[str, list[str]] = {}
        self.requests: list[dict] = []
        self.sessions: dict[int, list[dict]] = {}
        self.rejected: dict[str, str] = {}
        self.script: deque[str] = deque()
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    # FakeService protocol.
    def delivered(self, operation: str) -> Counter[str]:
        return Counter({key: n for (op, key), n in self.received.items() if op == operation})

    def inject(self, *answers: str) -> None:
        self.script.extend(answers)

    def reject(self, external_id: str, message: str) -> None:
        self.rejected[external_id] = message

    def _next_action(self) -> str | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    def handle(self, method: str, path: str, form: dict[str, str], headers) -> tuple[int, dict]:
        match = _PATH.match(path)
        if not match:
            return _error(400, 2500, "Unknown path components", "OAuthException")
        token = form.get("access_token") or _bearer(headers.get("Authorization", ""))
        if token != self.access_token:
            return _error(
                400, 190, "Invalid OAuth access token - Cannot parse access token", "OAuthException",
            )
        if match.group(2) != self.audience_id:
            return _error(
                400, 100,
                f"Unsupported {method.lower()} request. Object with ID '{match.group(2)}' does "
                "not exist, cannot be loaded due to missing permissions, or does not support "
                "this operation.",
                "GraphMethodException", subcode=33,
            )
        try:
            payload = json.loads(form["payload"])
            schema, data = payload["schema"], payload["data"]
            session = json.loads(form["session"]) if "session" in form else None
        except (KeyError, TypeError, ValueError):
            return _error(400, 100, "(#100) The parameter payload is required", "OAuthException")
        if isinstance(schema, str):
            schema = [schema]
        if not schema or not set(schema) <= KNOWN_KEYS:
            return _error(400, 100, f"(#100) Invalid schema: {schema}", "OAuthException",
                          subcode=1870053)
        if len(data) > MAX_ROWS:
            return _error(
                400, 100,
                f"(#100) Too many users in one request: {len(data)} rows, the limit is "
                f"{MAX_ROWS}. Split them into batches with a session.",
                "OAuthException", subcode=1870106,
            )
        if any(not isinstance(row, list) or len(row) != len(schema) for row in data):
            return _error(400, 100, "(#100) Each data row must have one value per schema key",
                          "OAuthException", subcode=1870054)

        operation_of = "remove" if method == "DELETE" else None
        invalid: dict[str, str] = {}
        invalid_count = 0
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "schema": schema, "rows": data,
                 "session": session, "form_keys": sorted(form)}
            )
            if session is not None:
                self.sessions.setdefault(int(session["session_id"]), []).append(session)
            for row in data:
                values = dict(zip(schema, row))
                problem = self._problem(values)
                if problem:
                    # Meta samples the offending entry: the first hashed value, else the row.
                    sample = next((values[k] for k in schema if k in HASHED_KEYS and values[k]),
                                  "|".join(row))
                    if len(invalid) < MAX_SAMPLES:
                        invalid[sample] = problem
                    invalid_count += 1
                    continue
                key = "|".join(row)
                member = values.get("EXTERN_ID") or key
                if operation_of == "remove":
                    self.members.pop(member, None)
                    operation = "remove"
                else:
                    operation = "update" if member in self.members else "add"
                    self.members[member] = row
                self.received[(operation, key)] += 1
        return 200, {
            "audience_id": self.audience_id,
            "session_id": str(session["session_id"]) if session else "0",
            "num_received": len(data),
            "num_invalid_entries": invalid_count,
            "invalid_entry_samples": invalid,
        }

    def _problem(self, values: dict[str, str]) -> str | None:
        extern_id = values.get("EXTERN_ID")
        if extern_id and extern_id in self.rejected:
            return self.rejected[extern_id]
        for key, value in values.items():
            if key in HASHED_KEYS and value and not _SHA256_HEX.match(str(value)):
                return f"Invalid {key} hash: not SHA-256 hex"
        if not any(values.values()):
            return "Empty row"
        return None


def _bearer(authorization: str) -> str | None:
    scheme, _, value = authorization.partition(" ")
    return value if scheme.lower() in ("bearer", "oauth") else None


def _error(status: int, code: int, message: str, kind: str, subcode: int | None = None,
           transient: bool = False) -> tuple[int, dict]:
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": uuid.uuid4().hex[:11]}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return status, {"error": error}


def _handler_for(fake: FakeMetaAudience) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            action = fake._next_action()
            if action == "drop":
                self.close_connection = True
                return
            if action == "throttle":
                status, answer = _error(
                    400, 80003,
                    "(#80003) There have been too many calls to this ad-account. Wait a bit "
                    "and try again.",
                    "OAuthException", subcode=2446079, transient=True,
                )
            elif action == "server_error":
                status, answer = _error(
                    500, 2, "An unexpected error has occurred. Please retry your request later.",
                    "OAuthException", transient=True,
                )
            else:
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query, keep_blank_values=True))
                fields = dict(parse_qsl(body, keep_blank_values=True))
                status, answer = fake.handle(method, url.path, {**query, **fields}, self.headers)
                with fake._lock:
                    if fake.requests and "query" not in fake.requests[-1]:
                        # What arrived where, as sent: the query string and the form body.
                        fake.requests[-1].update(query=query, body=fields, body_keys=sorted(fields))
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return Handler
