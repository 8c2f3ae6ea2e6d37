"""How the Meta Custom Audience destination reads the Marketing API's answers.

Answer: {"audience_id", "session_id", "num_received", "num_invalid_entries",
"invalid_entry_samples": {<entry>: <reason>}}; errors: {"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}, throttling as codes 4, 17, 32, 613 and 80003 on HTTP 400.

Limits of the mapping to per-record outcomes: Meta reports invalid entries as a count plus a few
samples, not per row. A sample equal to one of a record's sent values (or its whole row) rejects
that record; invalid entries beyond the samples cannot be attributed and their records count as
taken. An update is a POST of the member's current hashes: Meta has no update, and the
identifiers sent before are not known here, so an old e-mail stays matched until the member is
removed.
"""

from __future__ import annotations

from collections.abc import Sequence

import requests

from activation.destinations.base import BatchResult, Record, RecordResult
from activation.destinations.http import MAX_ERROR_MESSAGE_CHARS
from activation.errors import DestinationError
from activation.masking import scrub_pii

# Rate limiting (app, user, page, custom, ad-account audience calls): wait and resend.
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80003})
# The token is wrong, expired or lacks ads_management: every batch would fail alike.
TOKEN_CODES = frozenset({102, 190})
PERMISSION_CODES = frozenset({10, 200, 294})


def throttled(response: requests.Response) -> float | None:
    """Meta's rate-limit answers come as HTTP 400 with a throttling code: wait and resend."""
    if response.status_code not in (400, 403):
        return None
    error = json_body(response).get("error")
    if isinstance(error, dict) and error.get("code") in THROTTLE_CODES:
        return 0.0
    return None


def refused_batch(destination, records: Sequence[Record], response: requests.Response, body: dict) -> BatchResult:
    """Every record rejected with Meta's message; a token Meta refuses stops the sync instead."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = error.get("code")
    message = _describe(destination, response, error)
    if code in TOKEN_CODES or code in PERMISSION_CODES or response.status_code == 401:
        # Stop: the same token would fail every batch, and the records are not at fault.
        raise DestinationError(
            f"Destination {destination.name}: Meta refused the access token ({message}). Set a "
            f"valid token with ads_management on the audience's ad account in "
            f"{destination.config.secret_env_var('access_token')}."
        )
    return BatchResult.all_rejected(records, message)


def per_record_results(records: Sequence[Record], rows: list[list[str]], body: dict) -> BatchResult:
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


def json_body(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _describe(destination, response: requests.Response, error: dict) -> str:
    """The service's error as one line: code/subcode, message, fbtrace_id; never the token."""
    if not error:
        text = f"HTTP {response.status_code}: {response.text or response.reason or ''}"
    else:
        code = f"{error.get('code')}" + (f"/{error['error_subcode']}" if error.get("error_subcode") else "")
        text = " ".join(
            part for part in (
                f"Meta error {code}:",
                str(error.get("error_user_msg") or error.get("message") or ""),
                f"(fbtrace_id {error['fbtrace_id']})" if error.get("fbtrace_id") else "",
            ) if part
        )
    for secret in (destination.secret("access_token"), destination.secret("app_secret")):
        if secret:
            text = text.replace(secret, "***")
    return scrub_pii(text.strip())[:MAX_ERROR_MESSAGE_CHARS]
