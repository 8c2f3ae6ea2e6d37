"""Meta Custom Audience destination: members added to and removed from a customer-file audience.

Service API (Marketing API, Custom Audience Users edge):
    POST   https://graph.facebook.com/<version>/<audience_id>/users   adds members
    DELETE https://graph.facebook.com/<version>/<audience_id>/users   removes members
Form body: payload={"schema": ["EMAIL", "PHONE", "EXTERN_ID"], "data": [[<sha256>, <sha256>,
<one_id>], ...]}, session={"session_id", "batch_seq", "last_batch_flag", "estimated_num_total"}
and access_token (sent in the body, never in the URL). At most 10,000 rows per request.
Answer: {"audience_id", "session_id", "num_received", "num_invalid_entries",
"invalid_entry_samples": {<entry>: <reason>}}; errors: {"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}, throttling as codes 4, 17, 32, 613 and 80003 on HTTP 400.

E-mail and phone are normalised the way Meta's SDK does (e-mail trimmed and lower-cased; phone
digits only with country code, no `+`, no leading zeros) and sent as SHA-256 hex. EXTERN_ID
carries the one_id (an opaque pseudonym, not PII): removals only know the one_id, and Meta can
remove by EXTERN_ID what was added with it.

Limits of the mapping to per-record outcomes:
- Meta reports invalid entries as a count plus a few samples, not per row. A sample equal to one
  of a record's sent values (or its whole row) rejects that record; invalid entries beyond the
  samples cannot be attributed and their records count as taken.
- An update is a POST of the member's current hashes: Meta has no update, and the identifiers
  sent before are not known here, so an old e-mail stays matched until the member is removed.
- write_batch does not know how many batches follow: the session's last_batch_flag is set on a
  batch shorter than batch_size and estimated_num_total is the rows sent so far in the session.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit


from activation.config import PositiveNumber, PositiveWholeNumber, Text
from activation.destinations.base import (
    BatchResult,
    Destination,
    Operation,
    Record,
    RecordResult,
)
from activation.destinations.http import (
    MAX_ERROR_MESSAGE_CHARS,
    HttpClient,
    HttpOptions,
    RetryPolicy,
    display_url,
)
from activation.errors import ActivationError, DestinationError
from activation.masking import scrub_pii

import requests

MAX_ROWS_PER_REQUEST = 10_000
# Payload field -> Meta schema key, in the order the schema lists them.
MATCH_KEYS = {"email": "EMAIL", "phone": "PHONE"}
EXTERN_ID = "EXTERN_ID"
# Rate limiting (app, user, page, custom, ad-account audience calls): wait and resend.
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80003})
# The token is wrong, expired or lacks ads_management: every batch would fail alike.
TOKEN_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({10, 200, 294})
_API_VERSION = re.compile(r"^v\d+\.\d+$")


class MetaCustomAudienceOptions(HttpOptions):
    audience_id: Text
    api_version: Text = "v21.0"
    base_url: Text = "https://graph.facebook.com"
    batch_size: PositiveWholeNumber = MAX_ROWS_PER_REQUEST
    # 10,000 rows of hashes are about 1.5 MB: give the upload time.
    read_timeout_seconds: PositiveNumber = 60.0
    backoff_max_seconds: PositiveNumber = 60.0


class MetaCustomAudienceDestination(Destination):
    type_name = "meta_custom_audience"
    Options = MetaCustomAudienceOptions
    secret_names = ("access_token",)
    supported_modes = ("mirror", "upsert")
    max_batch_size = MAX_ROWS_PER_REQUEST
    field_normalisers = {"email": "trimmed_lower", "phone": "phone_digits_with_country_code"}
    hash_algorithm = "sha256"
    is_ad_platform = True

    def __init__(self, config) -> None:
        super().__init__(config)
        self._http = HttpClient(
            self.name, RetryPolicy.from_options(self.options), on_retry=self.note_retry
        )
        # Per operation: the batches and rows sent so far in this run's session.
        self._batches: dict[str, int] = {}
        self._rows: dict[str, int] = {}

    @property
    def users_url(self) -> str:
        base = self.options.base_url.rstrip("/")
        return f"{base}/{self.options.api_version}/{self.options.audience_id}/users"

    def check(self) -> None:
        problems = []
        if not str(self.options.audience_id).isdigit():
            problems.append("audience_id must be the numeric id of a customer-file custom audience")
        if not _API_VERSION.match(self.options.api_version):
            problems.append(f"api_version must look like v21.0, got {self.options.api_version!r}")
        url = urlsplit(self.options.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(
                f"base_url must be an http(s) URL, got {display_url(self.options.base_url)!r}"
            )
        if missing := self.missing_secrets():
            problems.append(
                f"needs the secret {', '.join(missing)} (a Marketing API access token with "
                "ads_management; an environment variable, see .env.example)"
            )
        if problems:
            raise ActivationError(f"Destination {self.name}: {'; '.join(problems)}.")

    def write_batch(
        self, records: Sequence[Record], operation: Operation, idempotency_key: str
    ) -> BatchResult:
        # Re-adding a member Meta already holds changes nothing, so a resent batch is harmless
        # and the idempotency key has no place in this API.
        if not records:
            return BatchResult(())
        fields = [
            field_name for field_name in MATCH_KEYS
            if field_name in self.payload_fields and any(field_name in r for r in records)
        ]
        rows = [[record.get(field_name) or "" for field_name in fields] + [record["external_id"]]
                for record in records]
        payload = {"schema": [MATCH_KEYS[f] for f in fields] + [EXTERN_ID], "data": rows}
        response = self._http.request(
            "DELETE" if operation == "remove" else "POST",
            self.users_url,
            data={
                "payload": json.dumps(payload, separators=(",", ":")),
                "session": json.dumps(self._session(operation, len(rows)), separators=(",", ":")),
                "access_token": self.secret("access_token"),
            },
            transient=_throttled,
        )
        body = _json(response)
        if not 200 <= response.status_code < 300 or "error" in body:
            return self._refused(records, response, body)
        return _per_record_results(records, rows, body)

    def close(self) -> None:
        self._http.close()

    def _session(self, operation: str, row_count: int) -> dict[str, Any]:
        """One upload session per run and operation: batches of a sync are numbered in it."""
        self._batches[operation] = self._batches.get(operation, 0) + 1
        self._rows[operation] = self._rows.get(operation, 0) + row_count
        seed = f"{self.run.run_id if self.run else ''}:{self.name}:{operation}"
        # A positive int64, the same for every batch (and retry) of the run's operation.
        session_id = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") >> 1
        return {
            "session_id": session_id,
            "batch_seq": self._batches[operation],
            "last_batch_flag": row_count < (self.batch_size or MAX_ROWS_PER_REQUEST),
            "estimated_num_total": self._rows[operation],
        }

    def _refused(
        self, records: Sequence[Record], response: requests.Response, body: dict
    ) -> BatchResult:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = error.get("code")
        message = self._describe(response, error)
        if code in TOKEN_CODES or code in PERMISSION_CODES or response.status_code == 401:
            # Stop: the same token would fail every batch, and the records are not at fault.
            raise DestinationError(
                f"Destination {self.name}: Meta refused the access token ({message}). Set a "
                f"valid token with ads_management on the audience's ad account in "
                f"{self.config.secret_env_var('access_token')}."
            )
        return BatchResult.all_rejected(records, message)

    def _describe(self, response: requests.Response, error: dict) -> str:
        """The service's error as one line: code/subcode, message, fbtrace_id; never the token."""
        if not error:
            text = f"HTTP {response.status_code}: {response.text or response.reason or ''}"
        else:
            code = f"{error.get('code')}" + (
                f"/{error['error_subcode']}" if error.get("error_subcode") else ""
            )
            text = " ".join(
                part for part in (
                    f"Meta error {code}:",
                    str(error.get("error_user_msg") or error.get("message") or ""),
                    f"(fbtrace_id {error['fbtrace_id']})" if error.get("fbtrace_id") else "",
                ) if part
            )
        token = self.secret("access_token")
        if token:
            text = text.replace(token, "***")
        return scrub_pii(text.strip())[:MAX_ERROR_MESSAGE_CHARS]


def _throttled(response: requests.Response) -> float | None:
    """Meta's rate-limit answers come as HTTP 400 with a throttling code: wait and resend."""
    if response.status_code not in (400, 403):
        return None
    error = _json(response).get("error")
    if isinstance(error, dict) and error.get("code") in THROTTLE_CODES:
        return 0.0
    return None


def _per_record_results(
    records: Sequence[Record], rows: list[list[str]], body: dict
) -> BatchResult:
    samples = body.get("invalid_entry_samples") or {}
    if not isinstance(samples, dict):
        samples = {}
    reference = str(body["session_id"]) if body.get("session_id") is not None else None
    results = []
    for record, row in zip(records, rows, strict=True):
        # Samples name an entry, not a record: match any value the record sent, or its row.
        candidates = [value for value in row if value] + ["|".join(row), ",".join(row)]
        reason = next((samples[value] for value in candidates if value in samples), None)
        if reason is None:
            results.append(RecordResult(record["external_id"], reference=reference))
        else:
            error = scrub_pii(f"Meta reported an invalid entry: {reason}")
            results.append(RecordResult(record["external_id"], error[:MAX_ERROR_MESSAGE_CHARS]))
    return BatchResult(tuple(results))


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
