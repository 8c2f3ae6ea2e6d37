"""SMS gateway destination: one templated text message per member, through Alibaba Cloud SMS.

Service API (dysmsapi 2017-05-25, RPC style, https://dysmsapi.aliyuncs.com):
- SendBatchSms: PhoneNumberJson ["138...", ...], SignNameJson (one sign name per number),
  TemplateCode, TemplateParamJson (one {variable: value} object per number, in the same order)
  and OutId (a free reference under 256 characters: the batch's idempotency key). At most 100
  numbers per call. Answer {"Code": "OK", "Message", "BizId", "RequestId"}; any other Code
  refuses the whole request (one illegal number refuses all 100).
- QuerySendDetails: PhoneNumber, SendDate (yyyyMMdd, last 30 days), BizId, PageSize (1-50),
  CurrentPage. Answer {"Code", "TotalCount", "SmsSendDetailDTOs": {"SmsSendDetailDTO": [
  {"PhoneNum", "SendStatus" (1 waiting, 2 failed, 3 delivered), "ErrCode", "SendDate",
  "ReceiveDate", "OutId", ...}]}}; dates are Beijing time.
Every call carries the common parameters (AccessKeyId, Action, Format, RegionId,
SignatureMethod HMAC-SHA1, SignatureNonce, SignatureVersion 1.0, Timestamp, Version) and a
Signature: base64 HMAC-SHA1, keyed "<AccessKeySecret>&", over
"POST&%2F&" + percent-encoded canonical query (parameters sorted by name, RFC 3986 encoding).
Calls are POSTed as forms so phone numbers stay out of URLs and access logs.

Numbers are checked before sending (mainland mobiles, sent as 11 digits) and so are the template
values each member needs: a record that would make the gateway refuse its whole batch is
rejected alone, with the reason. Alibaba documents SendBatchSms as not idempotent: the OutId is
a reference for reports, not a guarantee against a duplicate when a send is retried after a
timeout.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit


from activation.config import PositiveWholeNumber, Text
from activation.destinations.base import (
    PAYLOAD_FIELD_CHOICES,
    BatchResult,
    Destination,
    Operation,
    Record,
    RecordResult,
    SentRecord,
)
from activation.destinations.http import (
    MAX_ERROR_MESSAGE_CHARS,
    HttpClient,
    HttpOptions,
    RetryPolicy,
    display_url,
)
from activation.destinations.normalise import cn_mobile_11_digits
from activation.errors import ActivationError, DestinationError
from activation.masking import scrub_pii

import requests

API_VERSION = "2017-05-25"
MAX_RECIPIENTS = 100
QUERY_PAGE_SIZE = 50
QUERY_WINDOW_DAYS = 30
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
# Flow control (per number, per account) and API throttling: wait and resend.
THROTTLE_CODES = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "ServiceUnavailable",
    }
)
# The key pair is wrong: every call would fail alike, so the sync stops.
CREDENTIAL_CODES = frozenset(
    {
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
    }
)
# The account, sign name or template cannot send at all: stop rather than refuse every batch.
ACCOUNT_CODES = frozenset(
    {
        "isp.RAM_PERMISSION_DENY",
        "isv.ACCOUNT_ABNORMAL",
        "isv.ACCOUNT_NOT_EXISTS",
        "isv.DAY_LIMIT_CONTROL",
        "isv.MONTH_LIMIT_CONTROL",
        "isv.OUT_OF_SERVICE",
        "isv.PRODUCT_UN_SUBSCRIPT",
        "isv.PRODUCT_UNSUBSCRIBE",
        "isv.SIGN_STATE_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_SIGNATURE_SCENE_ILLEGAL",
        "isv.SMS_TEMPLATE_ILLEGAL",
    }
)
DELIVERY_EVENTS = {2: "failed", 3: "delivered"}


class SmsGatewayOptions(HttpOptions):
    sign_name: Text
    template_code: Text
    # A/B: variant -> template code; a variant not listed uses template_code.
    variant_template_codes: dict[str, Text] | None = None
    endpoint: Text = "https://dysmsapi.aliyuncs.com"
    region_id: Text = "cn-hangzhou"
    # Template variable -> payload field, e.g. {name: display_name, level: member_level}.
    template_params: dict[str, str] | None = None
    batch_size: PositiveWholeNumber = MAX_RECIPIENTS


class SmsGatewayDestination(Destination):
    type_name = "sms_gateway"
    Options = SmsGatewayOptions
    secret_names = ("access_key_id", "access_key_secret")
    # A message once sent cannot be updated or taken back.
    supported_modes = ("append",)
    # The service keeps no idempotency key: a resent batch is sent again.
    deduplicates_resends = False
    max_batch_size = MAX_RECIPIENTS
    supports_feedback_pull = True

    def __init__(self, config) -> None:
        super().__init__(config)
        self._http = HttpClient(
            self.name, RetryPolicy.from_options(self.options), on_retry=self.note_retry
        )
        self._last_query_at = 0.0

    @property
    def template_params(self) -> Mapping[str, str]:
        return self.options.template_params or {}

    def check(self) -> None:
        problems = []
        url = urlsplit(self.options.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(
                f"endpoint must be an http(s) URL, got {display_url(self.options.endpoint)!r}"
            )
        if self.channel != "sms":
            problems.append(
                f"an sms_gateway sends text messages: channel must be sms, not {self.channel}"
            )
        if "phone" in self.config.hashed_fields:
            problems.append("the gateway needs the plain number: remove phone from hashed_fields")
        for option in ("sign_name", "template_code"):
            if not str(getattr(self.options, option)).strip():
                problems.append(f"{option} must not be empty")
        if not isinstance(self.options.template_params or {}, Mapping):
            problems.append("template_params must map template variables to payload fields")
        else:
            for variable, field_name in self.template_params.items():
                if field_name not in PAYLOAD_FIELD_CHOICES:
                    problems.append(
                        f"template variable {variable} reads {field_name!r}, which is not one of "
                        f"{', '.join(PAYLOAD_FIELD_CHOICES)}"
                    )
                elif field_name not in self.payload_fields:
                    problems.append(
                        f"template variable {variable} reads {field_name}: add it to `fields`"
                    )
                elif field_name in self.hashed_fields:
                    problems.append(
                        f"template variable {variable} reads {field_name}, which is hashed"
                    )
        if missing := self.missing_secrets():
            problems.append(
                f"needs the secrets {', '.join(missing)} (a RAM user's AccessKey pair; "
                "environment variables, see .env.example)"
            )
        if problems:
            raise ActivationError(f"Destination {self.name}: {'; '.join(problems)}.")

    def write_batch(
        self, records: Sequence[Record], operation: Operation, idempotency_key: str
    ) -> BatchResult:
        if operation != "add":
            raise DestinationError(
                f"Destination {self.name} sends text messages: it cannot {operation} them "
                "(mode append)."
            )
        results: list[RecordResult | None] = []
        sendable: list[tuple[int, str, dict[str, str]]] = []
        for position, record in enumerate(records):
            phone, params, reason = self._recipient(record)
            if reason:
                results.append(RecordResult(record["external_id"], reason))
            else:
                results.append(None)
                sendable.append((position, phone, params))
        if sendable:
            for position, outcome in self._send(records, sendable, idempotency_key):
                results[position] = outcome
        return BatchResult(tuple(results))

    def pull_feedback(self, sent: Sequence[SentRecord]) -> Iterator[dict[str, Any]]:
        """Delivery statuses by QuerySendDetails, one query per message (phone + BizId).

        Messages still waiting for the carrier's receipt yield nothing (ask again later); so do
        records without a BizId or a phone, messages older than the query's 30 days, and members
        whose phone changed since the send (the query is by the number the message went to).
        """
        oldest = dt.datetime.now(BEIJING).date() - dt.timedelta(days=QUERY_WINDOW_DAYS - 1)
        for record in sent:
            phone = mainland_mobile(record.address) if record.address else None
            if not phone or not record.reference:
                continue
            send_date = _in_beijing(record.sent_at).date()
            if send_date < oldest:
                continue
            detail = self._send_detail(phone, record.reference, send_date)
            event_type = DELIVERY_EVENTS.get(_int(detail.get("SendStatus"))) if detail else None
            if event_type is None:
                continue
            # A failure may come without a receipt time: then the send time stands in.
            occurred_at = _beijing_time(detail.get("ReceiveDate")) or _beijing_time(
                detail.get("SendDate")
            )
            yield {
                "campaign_id": record.campaign_id,
                "one_id": record.one_id,
                "event_type": event_type,
                "occurred_at": occurred_at or _in_beijing(record.sent_at).astimezone(dt.UTC),
                "destination_name": self.name,
            }

    def close(self) -> None:
        self._http.close()

    def _recipient(self, record: Record) -> tuple[str | None, dict[str, str], str | None]:
        """(11-digit number, template values, None), or a reason the record cannot be sent."""
        if not record.get("phone"):
            return None, {}, "no phone (not sent)"
        phone = mainland_mobile(record["phone"])
        if phone is None:
            return None, {}, "phone is not a mainland China mobile number (not sent)"
        params = {}
        for variable, field_name in self.template_params.items():
            value = record.get(field_name)
            if value is None or not str(value).strip():
                # The gateway would refuse the whole batch (isv.TEMPLATE_MISSING_PARAMETERS).
                return None, {}, (
                    f"{field_name} is empty; template variable {variable} needs it (not sent)"
                )
            params[variable] = str(value)
        return phone, params, None

    def _send(
        self,
        records: Sequence[Record],
        sendable: list[tuple[int, str, dict[str, str]]],
        out_id: str,
    ) -> Iterator[tuple[int, RecordResult]]:
        """SendBatchSms for the sendable records; (position, outcome) for each of them."""
        phones = [phone for _, phone, _ in sendable]
        params = {
            "PhoneNumberJson": _compact(phones),
            "SignNameJson": _compact([self.options.sign_name] * len(phones)),
            "TemplateCode": (self.options.variant_template_codes or {}).get(
                records[0].get("variant") if records else None, self.options.template_code
            ),
            "OutId": out_id,
        }
        if self.template_params:
            params["TemplateParamJson"] = _compact([values for _, _, values in sendable])
        body = self._call("SendBatchSms", params)
        if body.get("Code") == "OK":
            for position, _, _ in sendable:
                external_id = records[position]["external_id"]
                yield position, RecordResult(external_id, reference=body.get("BizId"))
            return
        error = f"{body.get('Code')}: {_message(body)}"
        for position, _, _ in sendable:
            yield position, RecordResult(records[position]["external_id"], error)

    def _send_detail(self, phone: str, biz_id: str, send_date: dt.date) -> dict | None:
        page = 1
        while True:
            self._pace()
            body = self._call(
                "QuerySendDetails",
                {
                    "PhoneNumber": phone,
                    "SendDate": send_date.strftime("%Y%m%d"),
                    "BizId": biz_id,
                    "PageSize": str(QUERY_PAGE_SIZE),
                    "CurrentPage": str(page),
                },
            )
            if body.get("Code") != "OK":
                raise DestinationError(
                    f"Destination {self.name}: QuerySendDetails refused ({body.get('Code')}: "
                    f"{_message(body)})."
                )
            details = (body.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
            found = next(
                (d for d in details if cn_mobile_11_digits(str(d.get("PhoneNum"))) == phone), None
            )
            if found or page * QUERY_PAGE_SIZE >= _int(body.get("TotalCount")) or not details:
                return found
            page += 1

    def _call(self, action: str, params: dict[str, str]) -> dict:
        """One RPC call, signed afresh per attempt (new nonce and timestamp); the JSON answer.

        Raises DestinationError for answers that would be the same for every call."""
        response = self._http.request(
            "POST",
            self.options.endpoint,
            prepare=lambda: {"data": self._signed(action, params)},
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
                f"Destination {self.name}: Alibaba Cloud refused the AccessKey "
                f"({code or response.status_code}, RequestId {body.get('RequestId')}). Check "
                f"{self.config.secret_env_var('access_key_id')} and "
                f"{self.config.secret_env_var('access_key_secret')}."
            )
        if code in ACCOUNT_CODES:
            raise DestinationError(
                f"Destination {self.name}: Alibaba Cloud SMS cannot send for this account, sign "
                f"name or template ({code}: {_message(body)}). Fix it in the SMS console, then "
                "rerun the sync."
            )
        if not code:
            body = {
                "Code": f"HTTP {response.status_code}",
                "Message": response.text or response.reason,
            }
        return body

    def _signed(self, action: str, params: dict[str, str]) -> dict[str, str]:
        signed = {
            "AccessKeyId": self.secret("access_key_id"),
            "Action": action,
            "Format": "JSON",
            "RegionId": self.options.region_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": uuid.uuid4().hex,
            "SignatureVersion": "1.0",
            "Timestamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
            **params,
        }
        signed["Signature"] = rpc_signature("POST", signed, self.secret("access_key_secret"))
        return signed

    def _pace(self) -> None:
        # Feedback pulls make one query per message: keep to the destination's rate limit.
        if self.rate_limit:
            wait = self._last_query_at + 1 / self.rate_limit - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self._last_query_at = time.monotonic()


def mainland_mobile(value: Any) -> str | None:
    """The 11-digit mainland mobile number, or None. A number written with another country
    code (+1 ..., 001 ...) is foreign even when its digits would pass for a mainland mobile."""
    text = str(value).strip()
    if (text.startswith("+") and not text.startswith("+86")) or (
        text.startswith("00") and not text.startswith("0086")
    ):
        return None
    return cn_mobile_11_digits(text)


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


def _throttled(response: requests.Response) -> float | None:
    return 0.0 if _json(response).get("Code") in THROTTLE_CODES else None


def _message(body: dict) -> str:
    message = str(body.get("Message") or "")
    # A signature mismatch quotes the string to sign, parameters and numbers included.
    message = message.split("server string to sign", 1)[0].strip(" :;,")
    return scrub_pii(message)[:MAX_ERROR_MESSAGE_CHARS]


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _json(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _in_beijing(moment: dt.datetime) -> dt.datetime:
    # Ledger times without an offset are UTC (landing contract).
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(BEIJING)


def _beijing_time(value: Any) -> dt.datetime | None:
    """'2026-10-31 09:15:02' (Beijing time) as an aware UTC datetime."""
    try:
        local = dt.datetime.strptime(str(value).strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return local.replace(tzinfo=BEIJING).astimezone(dt.UTC)
