"""Alibaba Cloud's RPC-style API (dysmsapi 2017-05-25), as the SMS destination and its feedback
pull call it.

Every call is a form POST carrying the common parameters (AccessKeyId, Action, Format,
RegionId, SignatureMethod HMAC-SHA1, SignatureNonce, SignatureVersion 1.0, Timestamp, Version)
and a Signature: base64 HMAC-SHA1, keyed "<AccessKeySecret>&", over
"POST&%2F&" + the percent-encoded canonical query (parameters sorted by name, RFC 3986). This is
what aliyun-python-sdk-core signs (tests/test_channel_clients.py checks it against the SDK). A
POSTed form keeps phone numbers out of URLs and access logs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests

from activation.destinations.http import MAX_ERROR_MESSAGE_CHARS, HttpClient
from activation.errors import DestinationError
from activation.masking import scrub_pii

API_VERSION = "2017-05-25"
# Flow control (per number, per account) and API throttling: wait and resend.
THROTTLE_CODES = frozenset({
    "isv.BUSINESS_LIMIT_CONTROL", "Throttling", "Throttling.User", "Throttling.Api",
    "ServiceUnavailable",
})
# The key pair is wrong: every call would fail alike, so the sync stops.
CREDENTIAL_CODES = frozenset({
    "SignatureDoesNotMatch", "IncompleteSignature", "InvalidAccessKeyId",
    "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive",
})
# The account, sign name or template cannot send at all: stop rather than refuse every batch.
ACCOUNT_CODES = frozenset({
    "isp.RAM_PERMISSION_DENY", "isv.ACCOUNT_ABNORMAL", "isv.ACCOUNT_NOT_EXISTS",
    "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL", "isv.OUT_OF_SERVICE",
    "isv.PRODUCT_UN_SUBSCRIPT", "isv.PRODUCT_UNSUBSCRIBE", "isv.SIGN_STATE_ILLEGAL",
    "isv.SMS_SIGN_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
    "isv.SMS_TEMPLATE_ILLEGAL",
})


class AliyunRpcClient:
    """Signed calls to one endpoint with one AccessKey pair, over the destination's HttpClient."""

    def __init__(self, destination, http: HttpClient) -> None:
        self.destination = destination
        self.http = http

    def call(self, action: str, params: dict[str, str]) -> dict:
        """One call, signed afresh per attempt (new nonce and timestamp); the JSON answer.

        Raises DestinationError for answers that would be the same for every call."""
        destination = self.destination
        response = self.http.request(
            "POST",
            destination.options.endpoint,
            prepare=lambda: {"data": self.signed(action, params)},
            transient=_throttled,
            # SendBatchSms has no request id: a send whose answer was lost is not sent again.
            resend_safe=action != "SendBatchSms",
        )
        body = _json(response)
        code = body.get("Code")
        refused = response.status_code in (401, 403) and code not in ACCOUNT_CODES
        if code in CREDENTIAL_CODES or refused:
            # Only the code: the message of a signature mismatch quotes the signed query,
            # phone numbers included.
            raise DestinationError(
                f"Destination {destination.name}: Alibaba Cloud refused the AccessKey "
                f"({code or response.status_code}, RequestId {body.get('RequestId')}). Check "
                f"{destination.config.secret_env_var('access_key_id')} and "
                f"{destination.config.secret_env_var('access_key_secret')}."
            )
        if code in ACCOUNT_CODES:
            raise DestinationError(
                f"Destination {destination.name}: Alibaba Cloud SMS cannot send for this account, "
                f"sign name or template ({code}: {message(body)}). Fix it in the SMS console, then "
                "rerun the sync."
            )
        if not code:
            return {"Code": f"HTTP {response.status_code}", "Message": response.text or response.reason}
        return body

    def signed(self, action: str, params: dict[str, str]) -> dict[str, str]:
        destination = self.destination
        signed = {
            "AccessKeyId": destination.secret("access_key_id"),
            "Action": action,
            "Format": "JSON",
            "RegionId": destination.options.region_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
            **params,
        }
        signed["Signature"] = rpc_signature("POST", signed, destination.secret("access_key_secret"))
        return signed


def rpc_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    """Alibaba Cloud RPC signature (SignatureVersion 1.0) over every parameter but Signature."""
    canonical = "&".join(
        f"{percent_encode(key)}={percent_encode(value)}"
        for key, value in sorted(params.items())
        if key != "Signature"
    )
    string_to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def percent_encode(value: Any) -> str:
    """RFC 3986: only A-Z a-z 0-9 - _ . ~ stay; space is %20, * is %2A (UTF-8 bytes)."""
    return quote(str(value), safe="~")


def message(body: dict) -> str:
    """The service's message, PII scrubbed and shortened."""
    text = str(body.get("Message") or "")
    # A signature mismatch quotes the string to sign, parameters and numbers included.
    text = text.split("server string to sign", 1)[0].strip(" :;,")
    return scrub_pii(text)[:MAX_ERROR_MESSAGE_CHARS]


def _throttled(response: requests.Response) -> float | None:
    return 0.0 if _json(response).get("Code") in THROTTLE_CODES else None


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
