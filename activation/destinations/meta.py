"""Meta Custom Audience destination: members added to and removed from a customer-file audience.

Marketing API, Custom Audience Users edge, as Meta's own SDK (facebook-business,
CustomAudience.add_users / remove_users with is_raw and pre_hashed rows) sends it:
    POST   https://graph.facebook.com/<version>/<audience_id>/users   adds members
    DELETE https://graph.facebook.com/<version>/<audience_id>/users   removes members
with the query string access_token (and appsecret_proof = HMAC-SHA256(app secret, token) when
the app secret is set, for apps that require it) and the form fields payload =
{"data": [[<sha256>, <sha256>, <one_id>], ...], "is_raw": true, "schema": ["EMAIL", "PHONE",
"EXTERN_ID"]} and session = {"batch_seq", "estimated_num_total", "last_batch_flag",
"session_id"}, each JSON with sorted keys. One difference from the SDK: a removal's fields go in
the body, as for an add; the SDK puts them in the query string, where 10,000 rows do not fit.
At most 10,000 rows per request. tests/test_channel_clients.py checks the requests against the
SDK's own.

Sessions: a run's batches of one operation are one session, numbered by batch_seq; the last
batch the sync planned for the operation carries last_batch_flag, and estimated_num_total is the
number of records planned (RunInfo.planned). A batch shortened by records refused before sending
keeps the session; a batch after a last one opens a new session.

E-mail and phone are normalised (activation/destinations/normalise.py: NFKC; e-mail trimmed and
lower-cased; phone digits with country code, bare national numbers in `default_country`) and
sent as SHA-256 hex. EXTERN_ID carries the one_id (an opaque pseudonym, not PII): removals only
know the one_id, and Meta can remove by EXTERN_ID what was added with it. How Meta's answer maps
to records is in activation/destinations/meta_api.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from activation.config import PositiveNumber, PositiveWholeNumber, Text
from activation.destinations.base import BatchResult, Destination, Operation, Record
from activation.destinations.http import HttpClient, HttpOptions, RetryPolicy, display_url
from activation.destinations.meta_api import json_body, per_record_results, refused_batch, throttled
from activation.errors import ActivationError

MAX_ROWS_PER_REQUEST = 10_000
# Payload field -> Meta schema key, in the order the schema lists them.
MATCH_KEYS = {"email": "EMAIL", "phone": "PHONE"}
EXTERN_ID = "EXTERN_ID"
_API_VERSION = re.compile(r"^v\d+\.\d+$")


class MetaCustomAudienceOptions(HttpOptions):
    audience_id: Text
    api_version: Text = "v21.0"
    base_url: Text = "https://graph.facebook.com"
    batch_size: PositiveWholeNumber = MAX_ROWS_PER_REQUEST
    # The country (ISO 3166 alpha-2) of phone numbers written without a country code.
    default_country: Text = "CN"
    # 10,000 rows of hashes are about 1.5 MB: give the upload time.
    read_timeout_seconds: PositiveNumber = 60.0
    backoff_max_seconds: PositiveNumber = 60.0


@dataclass
class _Session:
    number: int = 1
    batches: int = 0


class MetaCustomAudienceDestination(Destination):
    type_name = "meta_custom_audience"
    Options = MetaCustomAudienceOptions
    secret_names = ("access_token",)
    optional_secret_names = ("app_secret",)
    supported_modes = ("mirror", "upsert")
    max_batch_size = MAX_ROWS_PER_REQUEST
    field_normalisers = {"email": "email_address", "phone": "phone_digits_with_country_code"}
    hash_algorithm = "sha256"
    is_ad_platform = True

    def __init__(self, config) -> None:
        super().__init__(config)
        self._http = HttpClient(self.name, RetryPolicy.from_options(self.options), on_retry=self.note_retry)
        self._sessions: dict[str, _Session] = {}

    @property
    def users_url(self) -> str:
        base = self.options.base_url.rstrip("/")
        return f"{base}/{self.options.api_version}/{self.options.audience_id}/users"

    def start_run(self, run) -> None:
        super().start_run(run)
        self._sessions = {}

    def check(self) -> None:
        problems = []
        if not str(self.options.audience_id).isdigit():
            problems.append("audience_id must be the numeric id of a customer-file custom audience")
        if not _API_VERSION.match(self.options.api_version):
            problems.append(f"api_version must look like v21.0, got {self.options.api_version!r}")
        url = urlsplit(self.options.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(f"base_url must be an http(s) URL, got {display_url(self.options.base_url)!r}")
        if missing := self.missing_secrets():
            problems.append(
                f"needs the secret {', '.join(missing)} (a Marketing API access token with "
                "ads_management; an environment variable, see .env.example)"
            )
        if problems:
            raise ActivationError(f"Destination {self.name}: {'; '.join(problems)}.")

    def write_batch(self, records: Sequence[Record], operation: Operation, idempotency_key: str) -> BatchResult:
        # Re-adding a member Meta already holds changes nothing, so a resent batch is harmless
        # and the idempotency key has no place in this API.
        if not records:
            return BatchResult(())
        fields = [f for f in MATCH_KEYS if f in self.payload_fields and any(f in r for r in records)]
        rows = [[record.get(f) or "" for f in fields] + [record["external_id"]] for record in records]
        payload = {"schema": [MATCH_KEYS[f] for f in fields] + [EXTERN_ID], "is_raw": True, "data": rows}
        response = self._http.request(
            "DELETE" if operation == "remove" else "POST",
            self.users_url,
            params=self.auth_params(),
            data={"payload": _sdk_json(payload), "session": _sdk_json(self.session(operation, len(rows)))},
            transient=throttled,
        )
        body = json_body(response)
        if not 200 <= response.status_code < 300 or "error" in body:
            return refused_batch(self, records, response, body)
        return per_record_results(records, rows, body)

    def close(self) -> None:
        self._http.close()

    def auth_params(self) -> dict[str, str]:
        """access_token, and appsecret_proof when the app secret is set (as the SDK's session)."""
        token, app_secret = self.secret("access_token"), self.secret("app_secret")
        params = {"access_token": token}
        if app_secret:
            params["appsecret_proof"] = hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        return params

    def session(self, operation: str, row_count: int) -> dict[str, Any]:
        """The upload session of this batch: one per run and operation, numbered by batch."""
        current = self._sessions.setdefault(operation, _Session())
        current.batches += 1
        batches, records = (self.run.planned if self.run else {}).get(operation, (None, None))
        # Without a plan (a destination driven by hand), every batch is a session of its own.
        is_last = batches is None or current.batches >= batches
        seed = f"{self.run.run_id if self.run else ''}:{self.name}:{operation}:{current.number}"
        session = {
            # A positive int64, the same for every batch (and retry) of the session.
            "session_id": int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") >> 1,
            "batch_seq": current.batches,
            "last_batch_flag": is_last,
            "estimated_num_total": records if records is not None else row_count,
        }
        if is_last:
            self._sessions[operation] = _Session(number=current.number + 1)
        return session


def _sdk_json(value: Any) -> str:
    # The SDK's encoding of a top-level parameter (facebook_business.api._top_level_param_json_encode).
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
