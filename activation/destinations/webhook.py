"""Webhook destination: signed JSON batches over HTTP(S).

Request: POST {"batch_id", "idempotency_key", "operation", "audience", "campaign_id",
"records": [{"external_id": one_id, ...payload fields}]} with headers
X-Onedata-Timestamp, X-Onedata-Signature (sha256=<hmac-sha256 of "<timestamp>.<body>">) and
Idempotency-Key. A 2xx answer acknowledges the batch and may carry per-record outcomes:
{"results": [{"external_id": ..., "status": "ok" | "rejected", "error": "..."}]}.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from activation.destinations.base import (
    BatchResult,
    Destination,
    Operation,
    Record,
    RecordResult,
)
from activation.errors import ActivationError, DestinationError
from activation.masking import scrub_pii

USER_AGENT = "onedata-activate/0.1"
MAX_ERROR_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class WebhookOptions:
    url: str
    batch_size: int = 500
    rate_limit: float | None = None
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0
    max_retries: int = 5
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 30.0


class WebhookDestination(Destination):
    type_name = "webhook"
    Options = WebhookOptions
    secret_names = ("secret",)

    def __init__(self, config) -> None:
        super().__init__(config)
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json"})
        self._batches_sent = 0

    def check(self) -> None:
        url = urlsplit(self.options.url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ActivationError(
                f"Destination {self.name}: url must be an http(s) URL, got {self._display_url()!r}."
            )
        if missing := self.missing_secrets():
            raise ActivationError(
                f"Destination {self.name} needs the secret {', '.join(missing)} "
                "(an environment variable; see .env.example)."
            )

    def write_batch(
        self, records: Sequence[Record], operation: Operation, idempotency_key: str
    ) -> BatchResult:
        # Numbered like the ledger's batch_number: one write_batch call is one batch.
        self._batches_sent += 1
        body = json.dumps(
            {
                "batch_id": f"{self.run.run_id}-{self._batches_sent:04d}",
                "idempotency_key": idempotency_key,
                "operation": operation,
                "audience": self.run.audience_name,
                "campaign_id": self.run.campaign_id,
                "records": list(records),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        response = self._post(body, idempotency_key)
        if response.status_code in (401, 403):
            # Credentials are wrong for every batch alike: stop instead of rejecting them all.
            raise DestinationError(
                f"Destination {self.name} refused the request (HTTP {response.status_code}: "
                f"{_error_message(response)}). Check {self.config.secret_env_var('secret')} "
                "and the url."
            )
        if not 200 <= response.status_code < 300:
            return BatchResult.all_rejected(
                records, f"HTTP {response.status_code}: {_error_message(response)}"
            )
        return _per_record_results(records, response)

    def close(self) -> None:
        self._session.close()

    def _post(self, body: bytes, idempotency_key: str) -> requests.Response:
        """POST with retries on 429, 5xx and connection errors; other answers are returned."""
        attempts = self.options.max_retries + 1
        for attempt in range(attempts):
            retry_after = None
            try:
                response = self._session.post(
                    self.options.url,
                    data=body,
                    headers=self._signed_headers(body, idempotency_key),
                    timeout=(
                        self.options.connect_timeout_seconds,
                        self.options.read_timeout_seconds,
                    ),
                    allow_redirects=False,
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                failure = type(error).__name__
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                failure = f"HTTP {response.status_code}"
                retry_after = _retry_after_seconds(response)
            if attempt + 1 < attempts:
                time.sleep(self._retry_delay(attempt, retry_after))
        raise DestinationError(
            f"Destination {self.name} at {self._display_url()} did not acknowledge a batch after "
            f"{attempts} attempts (last: {failure}). Batches acknowledged so far are recorded; "
            "rerun the sync to resume."
        )

    def _signed_headers(self, body: bytes, idempotency_key: str) -> dict[str, str]:
        timestamp = str(int(time.time()))
        signature = hmac.new(
            self.secret("secret").encode("utf-8"),
            timestamp.encode("ascii") + b"." + body,
            hashlib.sha256,
        ).hexdigest()
        return {
            "X-Onedata-Timestamp": timestamp,
            "X-Onedata-Signature": f"sha256={signature}",
            "Idempotency-Key": idempotency_key,
        }

    def _retry_delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.options.backoff_max_seconds)
        ceiling = min(self.options.backoff_max_seconds, self.options.backoff_base_seconds * 2**attempt)
        # Half fixed, half random: spreads retries of parallel clients without losing the backoff.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _display_url(self) -> str:
        """The url without credentials or query string, safe to print."""
        url = urlsplit(self.options.url)
        host = url.hostname or ""
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{host}{port}{url.path}"


def _retry_after_seconds(response: requests.Response) -> float | None:
    # Only the delta-seconds form; an HTTP-date falls back to the exponential backoff.
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def _error_message(response: requests.Response) -> str:
    try:
        message = str(response.json().get("error") or response.text)
    except (ValueError, AttributeError):
        message = response.text or response.reason or ""
    return scrub_pii(message.strip())[:MAX_ERROR_MESSAGE_CHARS]


def _per_record_results(records: Sequence[Record], response: requests.Response) -> BatchResult:
    """Read per-record outcomes; a record the answer does not mention was taken with the batch."""
    try:
        reported = response.json().get("results") or []
    except (ValueError, AttributeError):
        reported = []
    errors = {}
    for outcome in reported:
        if not isinstance(outcome, dict) or outcome.get("status") == "ok":
            continue
        error = outcome.get("error") or f"status {outcome.get('status')!r}"
        errors[str(outcome.get("external_id"))] = scrub_pii(str(error))[:MAX_ERROR_MESSAGE_CHARS]
    return BatchResult(
        tuple(
            RecordResult(record["external_id"], errors.get(record["external_id"]))
            for record in records
        )
    )
