"""A fake of Alibaba Cloud SMS (dysmsapi 2017-05-25, RPC style) on 127.0.0.1, for tests.

It takes form POSTs (or GET queries) with the common RPC parameters, recomputes the HMAC-SHA1
signature with its own code (SignatureDoesNotMatch, quoting the string to sign like the real
service; InvalidAccessKeyId.NotFound; SignatureNonceUsed; InvalidTimeStamp.Expired) and answers:

- SendBatchSms: refuses the whole request for more than 100 numbers, an illegal or refused
  number, sign names or template values not aligned with the numbers, or a template variable
  missing for one recipient; else records one message per recipient (number, sign name,
  template code, its template values, BizId, OutId, send time, delivery outcome) and answers
  {"Code": "OK", "Message": "OK", "BizId", "RequestId"}. A request whose OutId was already
  taken is acknowledged again with the same BizId and delivers nothing (`dedupe_out_id`; note
  that Alibaba documents SendBatchSms as not idempotent, so the real service would send twice).
- QuerySendDetails: the messages it delivered to PhoneNumber on SendDate (Beijing time),
  optionally one BizId, paged by PageSize/CurrentPage, with SendStatus 1/2/3 per `outcomes`.

`push_reports(url)` POSTs delivery receipts to a callback URL in the SmsReport shape. Implements
the conformance FakeService protocol (messages are counted under their phone number).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
import threading
import uuid
from collections import Counter, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, quote, urlsplit

import requests

from tests.fakes.loopback import LoopbackHttpServer

MAX_RECIPIENTS = 100
BEIJING = dt.timezone(dt.timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_MOBILE = re.compile(r"^(?:\+?86|0086)?(1[3-9]\d{9})$")
SUCCESS = (3, "DELIVERED")


class FakeAliyunSms(LoopbackHttpServer):
    def __init__(
        self,
        access_key_id: str,
        access_key_secret: str,
        *,
        phones_by_external_id: dict[str, str] | None = None,
        templates: dict[str, set[str]] | None = None,
        dedupe_out_id: bool = True,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        # The fake sees numbers, not one_ids: reject() looks the number up here.
        self.phones_by_external_id = phones_by_external_id or {}
        # Template code -> its variables; a template not listed takes any values.
        self.templates = templates or {}
        self.dedupe_out_id = dedupe_out_id
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.received: Counter[tuple[str, str]] = Counter()
        self.messages: list[dict] = []
        self.requests: list[dict[str, str]] = []
        self.biz_ids_by_out_id: dict[str, str] = {}
        # Phone -> (SendStatus, ErrCode) the carrier reports; default delivered.
        self.outcomes: dict[str, tuple[int, str]] = {}
        self.refused_phones: dict[str, str] = {}
        self.script: deque[str] = deque()
        self._nonces: set[str] = set()
        self._biz_numbers = itertools.count(900_619_746_936_498_440)
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/"

    # FakeService protocol.
    def delivered(self, operation: str) -> Counter[str]:
        return Counter({phone: n for (op, phone), n in self.received.items() if op == operation})

    def inject(self, *answers: str) -> None:
        self.script.extend(answers)

    def reject(self, external_id: str, message: str) -> None:
        self.refused_phones[self.phones_by_external_id[external_id]] = message

    def push_reports(self, url: str, messages: list[dict] | None = None) -> requests.Response:
        """POST delivery receipts (SmsReport) for messages with a final status to `url`."""
        reports = [
            {
                "phone_number": message["phone"],
                "send_time": _beijing(message["send_time"]),
                "report_time": _beijing(message["report_time"]),
                "success": message["status"] == 3,
                "err_code": message["err_code"],
                "err_msg": "用户接收成功" if message["status"] == 3 else "用户接收失败",
                "sms_size": "1",
                "biz_id": message["biz_id"],
                "out_id": message["out_id"],
            }
            for message in (self.messages if messages is None else messages)
            if message["status"] != 1
        ]
        return requests.post(url, json=reports, timeout=5)

    def _next_action(self) -> str | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    def handle(self, method: str, params: dict[str, str]) -> tuple[int, dict]:
        with self._lock:
            self.requests.append(params)
            refusal = self._authenticate(method, params)
            if refusal:
                return refusal
            action = params.get("Action")
            if params.get("Version") != "2017-05-25":
                return _answer(400, "InvalidVersion", "Specified parameter Version is not valid.")
            if action == "SendBatchSms":
                return self._send_batch(params)
            if action == "QuerySendDetails":
                return self._query_details(params)
            return _answer(
                404, "InvalidAction.NotFound",
                "Specified api is not found, please check your url and method.",
            )

    def _authenticate(self, method: str, params: dict[str, str]) -> tuple[int, dict] | None:
        required = ("AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "Timestamp")
        if any(not params.get(key) for key in required):
            return _answer(
                400, "IncompleteSignature",
                "The request signature does not conform to Aliyun standards.",
            )
        if params["AccessKeyId"] != self.access_key_id:
            return _answer(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        string_to_sign = _string_to_sign(method, params)
        key = f"{self.access_key_secret}&".encode()
        expected = base64.b64encode(
            hmac.new(key, string_to_sign.encode(), hashlib.sha1).digest()
        ).decode()
        if not hmac.compare_digest(expected, params["Signature"]):
            return _answer(
                400, "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation. server string to sign "
                f"is:{string_to_sign}",
            )
        if params["SignatureNonce"] in self._nonces:
            return _answer(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces.add(params["SignatureNonce"])
        try:
            sent_at = dt.datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
            sent_at = sent_at.replace(tzinfo=dt.UTC)
        except ValueError:
            return _answer(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.")
        if abs((dt.datetime.now(dt.UTC) - sent_at).total_seconds()) > 15 * 60:
            return _answer(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        return None

    def _send_batch(self, params: dict[str, str]) -> tuple[int, dict]:
        try:
            phones = json.loads(params["PhoneNumberJson"])
            signs = json.loads(params["SignNameJson"])
            values = json.loads(params.get("TemplateParamJson") or "null")
            template = params["TemplateCode"]
        except (KeyError, ValueError):
            return _answer(
                400, "MissingParameter",
                "PhoneNumberJson, SignNameJson and TemplateCode are required.",
            )
        if len(phones) > MAX_RECIPIENTS:
            return _answer(200, "isv.MOBILE_COUNT_OVER_LIMIT", "手机号码数量超过限制")
        if len(signs) != len(phones) or (values is not None and len(values) != len(phones)):
            return _answer(
                200, "isv.INVALID_JSON_PARAM", "JSON参数不合法: 签名和模板参数须与号码一一对应"
            )
        numbers = []
        for phone in phones:
            match = _MOBILE.match(str(phone))
            if not match:
                return _answer(200, "isv.MOBILE_NUMBER_ILLEGAL", f"非法手机号 {phone}")
            if match.group(1) in self.refused_phones:
                return _answer(200, "isv.MOBILE_NUMBER_ILLEGAL", self.refused_phones[match.group(1)])
            numbers.append(match.group(1))
        needed = self.templates.get(template, set())
        for position in range(len(numbers)):
            given = (values or [{}] * len(numbers))[position] or {}
            if needed - {key for key, value in given.items() if str(value)}:
                return _answer(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量")
        out_id = params.get("OutId")
        if self.dedupe_out_id and out_id in self.biz_ids_by_out_id:
            return _answer(200, "OK", "OK", BizId=self.biz_ids_by_out_id[out_id])
        biz_id = f"{next(self._biz_numbers)}^0"
        if out_id:
            self.biz_ids_by_out_id[out_id] = biz_id
        now = self.clock()
        for position, phone in enumerate(numbers):
            status, err_code = self.outcomes.get(phone, SUCCESS)
            self.messages.append(
                {
                    "phone": phone,
                    "sign_name": signs[position],
                    "template_code": template,
                    "params": (values or [{}] * len(numbers))[position],
                    "biz_id": biz_id,
                    "out_id": out_id,
                    "send_time": now,
                    "report_time": now + dt.timedelta(seconds=3),
                    "status": status,
                    "err_code": err_code,
                }
            )
            self.received[("add", phone)] += 1
        return _answer(200, "OK", "OK", BizId=biz_id)

    def _query_details(self, params: dict[str, str]) -> tuple[int, dict]:
        phone = params.get("PhoneNumber")
        send_date = params.get("SendDate")
        try:
            page_size = int(params["PageSize"])
            page = int(params.get("CurrentPage") or 1)
        except (KeyError, ValueError):
            return _answer(400, "MissingParameter", "PageSize is mandatory for this action.")
        if not phone or not send_date or not 1 <= page_size <= 50 or page < 1:
            return _answer(
                400, "isv.InvalidParameters",
                "PhoneNumber, SendDate and PageSize 1-50 are required.",
            )
        found = [
            message for message in self.messages
            if message["phone"] == phone
            and message["send_time"].astimezone(BEIJING).strftime("%Y%m%d") == send_date
            and params.get("BizId") in (None, "", message["biz_id"])
        ]
        shown = found[(page - 1) * page_size: page * page_size]
        return _answer(
            200, "OK", "OK",
            TotalCount=str(len(found)),
            SmsSendDetailDTOs={
                "SmsSendDetailDTO": [
                    {
                        "PhoneNum": message["phone"],
                        "SendStatus": message["status"],
                        "ErrCode": message["err_code"],
                        "TemplateCode": message["template_code"],
                        "Content": _content(message),
                        "SendDate": _beijing(message["send_time"]),
                        "ReceiveDate": "" if message["status"] == 1 else _beijing(message["report_time"]),
                        "OutId": message["out_id"],
                    }
                    for message in shown
                ]
            },
        )


def _content(message: dict) -> str:
    values = json.dumps(message["params"], ensure_ascii=False)
    return f"【{message['sign_name']}】{values}"


def _string_to_sign(method: str, params: dict[str, str]) -> str:
    def encode(value: str) -> str:
        return quote(value, safe="~")

    pairs = sorted((encode(k), encode(v)) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join([method, encode("/"), encode(canonical)])


def _beijing(moment: dt.datetime) -> str:
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def _answer(status: int, code: str, message: str, **fields) -> tuple[int, dict]:
    request_id = str(uuid.uuid4()).upper()
    if code == "OK":
        return status, {"Code": code, "Message": message, "RequestId": request_id, **fields}
    return status, {
        "Code": code, "Message": message, "RequestId": request_id, "HostId": "dysmsapi.aliyuncs.com",
        "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}", **fields,
    }


def _handler_for(fake: FakeAliyunSms) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8") if length else ""
            action = fake._next_action()
            if action == "drop":
                self.close_connection = True
                return
            if action == "throttle":
                status, answer = _answer(200, "isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
            elif action == "server_error":
                status, answer = _answer(
                    503, "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                )
            else:
                params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
                params.update(parse_qsl(body, keep_blank_values=True))
                status, answer = fake.handle(method, params)
                if action == "lost_answer":
                    # Carried out, but the answer never reaches the client.
                    self.close_connection = True
                    return
            data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return Handler
