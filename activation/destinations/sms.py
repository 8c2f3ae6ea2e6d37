"""SMS gateway destination: one templated text message per member, through Alibaba Cloud SMS.

SendBatchSms (dysmsapi 2017-05-25, signed RPC calls: activation/destinations/aliyun_rpc.py):
PhoneNumberJson ["138...", ...], SignNameJson (one sign name per number), TemplateCode,
TemplateParamJson (one {variable: value} object per number, in the same order) and OutId (a free
reference under 256 characters: the batch's idempotency key). At most 100 numbers per call.
Answer {"Code": "OK", "Message", "BizId", "RequestId"}; any other Code refuses the whole request
(one illegal number refuses all 100), so numbers (mainland mobiles, sent as 11 digits) and the
template values each member needs are checked first: a record that would make the gateway
refuse its batch is rejected alone, with the reason. Alibaba documents SendBatchSms as not
idempotent: the OutId is a reference for reports, not a guarantee against a duplicate when a
send is retried after a timeout, so a send whose answer was lost is never resent.

Delivery reports: pulled with QuerySendDetails (activation/feedback_pulls.py), or pushed by
Alibaba Cloud to `activate feedback serve`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from activation.config import PositiveWholeNumber, Text
from activation.destinations.aliyun_rpc import AliyunRpcClient, message
from activation.destinations.base import (
    PAYLOAD_FIELD_CHOICES,
    BatchResult,
    Destination,
    Operation,
    Record,
    RecordResult,
)
from activation.destinations.http import HttpClient, HttpOptions, RetryPolicy, display_url
from activation.destinations.normalise import cn_mobile_11_digits
from activation.errors import ActivationError, DestinationError
from activation.feedback_pulls import sms_delivery_reports

MAX_RECIPIENTS = 100


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
    pull_feedback = sms_delivery_reports

    def __init__(self, config) -> None:
        super().__init__(config)
        self._http = HttpClient(self.name, RetryPolicy.from_options(self.options), on_retry=self.note_retry)
        self.rpc = AliyunRpcClient(self, self._http)

    @property
    def template_params(self) -> Mapping[str, str]:
        return self.options.template_params or {}

    def check(self) -> None:
        problems = []
        url = urlsplit(self.options.endpoint)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(f"endpoint must be an http(s) URL, got {display_url(self.options.endpoint)!r}")
        if self.channel != "sms":
            problems.append(f"an sms_gateway sends text messages: channel must be sms, not {self.channel}")
        if "phone" in self.config.hashed_fields:
            problems.append("the gateway needs the plain number: remove phone from hashed_fields")
        for variable, field_name in self.template_params.items():
            if field_name not in PAYLOAD_FIELD_CHOICES:
                problems.append(
                    f"template variable {variable} reads {field_name!r}, which is not one of "
                    f"{', '.join(PAYLOAD_FIELD_CHOICES)}"
                )
            elif field_name not in self.payload_fields:
                problems.append(f"template variable {variable} reads {field_name}: add it to `fields`")
            elif field_name in self.hashed_fields:
                problems.append(f"template variable {variable} reads {field_name}, which is hashed")
        if missing := self.missing_secrets():
            problems.append(
                f"needs the secrets {', '.join(missing)} (a RAM user's AccessKey pair; "
                "environment variables, see .env.example)"
            )
        if problems:
            raise ActivationError(f"Destination {self.name}: {'; '.join(problems)}.")

    def write_batch(self, records: Sequence[Record], operation: Operation, idempotency_key: str) -> BatchResult:
        if operation != "add":
            raise DestinationError(
                f"Destination {self.name} sends text messages: it cannot {operation} them (mode append)."
            )
        outcomes: dict[str, RecordResult] = {}
        sendable: list[tuple[str, str, dict[str, str]]] = []
        for record in records:
            phone, params, reason = self._recipient(record)
            if reason:
                outcomes[record["external_id"]] = RecordResult(record["external_id"], reason)
            else:
                sendable.append((record["external_id"], phone, params))
        if sendable:
            outcomes.update(self._send(sendable, records[0].get("variant"), idempotency_key))
        return BatchResult(tuple(outcomes[record["external_id"]] for record in records))

    def close(self) -> None:
        self._http.close()

    def _recipient(self, record: Record) -> tuple[str | None, dict[str, str], str | None]:
        """(11-digit number, template values, None), or a reason the record cannot be sent."""
        if not record.get("phone"):
            return None, {}, "no phone (not sent)"
        phone = cn_mobile_11_digits(record["phone"])
        if phone is None:
            return None, {}, "phone is not a mainland China mobile number (not sent)"
        params = {}
        for variable, field_name in self.template_params.items():
            value = record.get(field_name)
            if value is None or not str(value).strip():
                # The gateway would refuse the whole batch (isv.TEMPLATE_MISSING_PARAMETERS).
                return None, {}, f"{field_name} is empty; template variable {variable} needs it (not sent)"
            params[variable] = str(value)
        return phone, params, None

    def _send(
        self, sendable: list[tuple[str, str, dict[str, str]]], variant: str | None, out_id: str
    ) -> dict[str, RecordResult]:
        """SendBatchSms for the sendable records (external_id, number, template values)."""
        phones = [phone for _, phone, _ in sendable]
        params = {
            "PhoneNumberJson": _compact(phones),
            "SignNameJson": _compact([self.options.sign_name] * len(phones)),
            "TemplateCode": (self.options.variant_template_codes or {}).get(variant, self.options.template_code),
            "OutId": out_id,
        }
        if self.template_params:
            params["TemplateParamJson"] = _compact([values for _, _, values in sendable])
        body = self.rpc.call("SendBatchSms", params)
        if body.get("Code") == "OK":
            return {external_id: RecordResult(external_id, reference=body.get("BizId")) for external_id, _, _ in sendable}
        error = f"{body.get('Code')}: {message(body)}"
        return {external_id: RecordResult(external_id, error) for external_id, _, _ in sendable}


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
