"""Signed HTTP bodies, both ways: the webhook destination signs what it sends, `activate feedback
serve` verifies what it receives. Two schemes:

- `onedata`: X-Onedata-Timestamp: <unix seconds>, X-Onedata-Signature: sha256=<hex
  HMAC-SHA256(secret, "<timestamp>.<body>")>.
- `standard_webhooks` (https://www.standardwebhooks.com, as the `standardwebhooks` package
  signs and verifies): webhook-id: <message id>, webhook-timestamp: <unix seconds>,
  webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>, where the secret is
  written `whsec_<base64 of the key>`.

A receiver takes a timestamp within TOLERANCE_SECONDS of its clock, so a captured request cannot
be replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping

SCHEMES = ("onedata", "standard_webhooks")
# The secret `activate feedback serve` verifies callbacks with; it also signs unsubscribe links.
FEEDBACK_SECRET_ENV = "ACTIVATE__FEEDBACK__SECRET"
TOLERANCE_SECONDS = 300
STANDARD_SECRET_PREFIX = "whsec_"


def sign(scheme: str, secret: str, body: bytes, message_id: str, now: float | None = None) -> dict[str, str]:
    """The headers that sign `body` under `scheme`; message_id names the message (the batch's
    idempotency key: a resent batch is the same message)."""
    timestamp = str(int(time.time() if now is None else now))
    if scheme == "standard_webhooks":
        signature = hmac.new(standard_key(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(signature.digest()).decode("ascii"),
        }
    signature = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return {"X-Onedata-Timestamp": timestamp, "X-Onedata-Signature": f"sha256={signature.hexdigest()}"}


def verify(secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None) -> bool:
    """Whether the headers sign the body with the secret, under either scheme (the one whose
    headers are present), within the timestamp tolerance."""
    headers = {name.lower(): value for name, value in headers.items()}
    now = time.time() if now is None else now
    if "webhook-signature" in headers:
        message_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not (message_id and _fresh(timestamp, now)):
            return False
        try:
            key = standard_key(secret)
        except ValueError:
            return False
        expected = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
        expected_text = "v1," + base64.b64encode(expected).decode("ascii")
        # Several signatures may be sent, space-separated (a secret being rotated).
        return any(hmac.compare_digest(expected_text, given) for given in headers["webhook-signature"].split())
    timestamp = headers.get("x-onedata-timestamp", "")
    if not _fresh(timestamp, now):
        return False
    expected = sign("onedata", secret, body, "", now=int(timestamp))["X-Onedata-Signature"]
    return hmac.compare_digest(expected, headers.get("x-onedata-signature", ""))


def standard_key(secret: str) -> bytes:
    """The key of a Standard Webhooks secret (`whsec_<base64>`); ValueError for another form."""
    if not secret.startswith(STANDARD_SECRET_PREFIX):
        raise ValueError(f"a Standard Webhooks secret starts with {STANDARD_SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret.removeprefix(STANDARD_SECRET_PREFIX) + "==", validate=False)
    except (binascii.Error, ValueError) as error:
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from error
    if not key:
        raise ValueError("a Standard Webhooks secret may not be empty")
    return key


def _fresh(timestamp: str, now: float) -> bool:
    return timestamp.isascii() and timestamp.isdigit() and abs(now - int(timestamp)) <= TOLERANCE_SECONDS


def unsubscribe_token(secret: str, campaign_id: str, one_id: str, destination_name: str) -> str:
    """What an unsubscribe link carries: who (one_id, a pseudonym, never an address), which
    campaign and destination, and an HMAC so that nobody can unsubscribe someone else."""
    claims = base64.urlsafe_b64encode(
        json.dumps([campaign_id, one_id, destination_name], separators=(",", ":")).encode()
    ).decode("ascii").rstrip("=")
    return f"{claims}.{_token_mac(secret, claims)}"


def read_unsubscribe_token(secret: str, token: str) -> dict[str, str] | None:
    """{campaign_id, one_id, destination_name} of a token signed with the secret, else None."""
    claims, _, mac = token.partition(".")
    if not claims or not hmac.compare_digest(mac, _token_mac(secret, claims)):
        return None
    try:
        campaign_id, one_id, destination_name = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    except (ValueError, TypeError, binascii.Error):
        return None
    return {"campaign_id": campaign_id, "one_id": one_id, "destination_name": destination_name}


def _token_mac(secret: str, claims: str) -> str:
    return hmac.new(secret.encode(), b"unsubscribe." + claims.encode("ascii"), hashlib.sha256).hexdigest()[:32]
