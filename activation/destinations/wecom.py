"""WeCom (企业微信) customer contact: tag external contacts or create group messages to them.

Service API (qyapi.weixin.qq.com/cgi-bin, JSON over HTTPS; every answer is HTTP 200 with an
`errcode`, 0 = ok; sources: developer.work.weixin.qq.com document paths 91039 gettoken, 95900
idconvert, 92697 mark_tag, 92135 add_msg_template, 93338 get_groupmsg_task and
get_groupmsg_send_result):

- GET  /cgi-bin/gettoken?corpid=&corpsecret= -> {access_token, expires_in: 7200}. Kept in
  memory until TOKEN_REFRESH_MARGIN_SECONDS before it expires. Every other call carries it as
  ?access_token=; an answer with errcode 40014 (invalid), 42001 (expired) or 40001 (invalid
  credential) fetches a new token once and repeats the call.
- POST /cgi-bin/idconvert/unionid_to_external_userid {unionid, openid} -> {external_userid,
  pending_id}. WeCom names customers by external_userid, the warehouse by wechat_unionid: each
  record's unionid is converted once per run. WeCom documents openid (of the same mini program
  or official account as the unionid) as part of the request: it is sent when the destination's
  fields include wechat_openid (its app namespace, `wx_app:`, stripped). A unionid that is no
  customer of the corp yet comes back with a pending_id only and no external_userid: that
  record is rejected.
- action `tag` (modes mirror, upsert): POST /cgi-bin/externalcontact/mark_tag {userid,
  external_userid, add_tag: [tag_id]} for add and update, remove_tag for remove. WeCom tags one
  contact per call, so a batch is a sequence of calls (set batch_size and rate_limit with the
  corp's call quota in mind); marking a tag twice changes nothing, so a resent batch is safe.
  A removal needs the member's wechat_unionid in the record.
- action `group_send` (mode append): POST /cgi-bin/externalcontact/add_msg_template
  {chat_type: "single", external_userid: [... at most 10,000], sender, text: {content <= 4000
  bytes}} -> {msgid, fail_list}. This creates a task that the staff member (`sender`) confirms
  in the WeCom app before anything reaches a customer; the same text goes to every customer of
  the batch. Customers in fail_list are rejected. The API takes no client request id, so the
  sync's idempotency key has no place to go: a batch whose answer was lost and is resent makes a
  second task (the ledger prevents resending acknowledged batches).
  WeCom caps how many group messages one customer receives: 4 per calendar month in the rule
  this destination declares (platform_frequency_cap; newer WeCom documentation lets a corp allow
  up to the month's number of days); over the cap a customer lands in fail_list.
  Feedback: the record's reference is the task's msgid; pull_feedback reads
  POST externalcontact/get_groupmsg_task {msgid} (the staff members of the task) and
  get_groupmsg_send_result {msgid, userid} (send_list: external_userid, status 0 not sent,
  1 sent, 2 not a friend, 3 over the customer's limit, send_time), paginated by cursor.

errcode mapping (the mapping this module applies):
- 0 ok; -1 (system busy), 45009 (call frequency), 45033 (concurrency): transient, retried with
  backoff by the shared HttpClient;
- 40014, 42001, 40001 on a call: token, refreshed once (40001 on gettoken: wrong corp_secret);
- CONFIG_ERRCODES (wrong corp_id, secret, userid/sender, tag_id, missing API permission, server
  IP not trusted): every record would fail alike, so DestinationError stops the sync;
- any other errcode of a call about one contact (idconvert, mark_tag), e.g. 84061 (not an
  external contact of the staff member) or 40096 (invalid external_userid): that record is
  rejected with WeCom's message; from add_msg_template, 40096/84061 reject the batch's
  records and any other errcode stops the sync.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any, Literal
from urllib.parse import urlsplit


from activation.config import PositiveWholeNumber, Text
from activation.destinations.base import (
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
from activation.errors import ActivationError, DestinationError
from activation.masking import scrub_pii

import requests

ACTIONS = ("tag", "group_send")
MAX_RECIPIENTS_PER_TASK = 10_000
MAX_TEXT_BYTES = 4000
TOKEN_REFRESH_MARGIN_SECONDS = 300
# get_groupmsg_task / get_groupmsg_send_result take at most 1000 rows a page.
PAGE_LIMIT = 1000

TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
BUSY_ERRCODES = frozenset({-1, 45009, 45033})
# Problems of the configuration or the app's permissions, the same for every record.
CONFIG_ERRCODES: dict[int, str] = {
    40001: "the corp_secret is not valid",
    40003: "the userid/sender is not a member of the corp",
    40013: "the corp_id is not valid",
    40068: "the tag_id is not a tag of the corp",
    41001: "the call carried no access_token",
    48002: "the app may not call this API (add it to 客户联系 > 可调用接口的应用)",
    60011: "the staff member is outside the app's visible range",
    60020: "this server's IP is not among the app's trusted IPs",
}
# Answers about the contacts of an add_msg_template call rather than about its configuration.
CONTACT_ERRCODES = frozenset({40096, 84061})
# get_groupmsg_send_result status -> feedback event (0, not sent yet, reports nothing).
SEND_STATUS_EVENTS = {1: "delivered", 2: "failed", 3: "failed"}
FAIL_LIST_ERROR = (
    "WeCom left this customer out of the group message (add_msg_template fail_list: not a "
    "contact of the sender, or over WeCom's monthly group-message limit for the customer)"
)


class WecomOptions(HttpOptions):
    corp_id: Text
    action: Literal["tag", "group_send"]
    base_url: Text = "https://qyapi.weixin.qq.com"
    # tag: the tag to mark and the staff member whose contact list holds the customers.
    tag_id: str | None = None
    userid: str | None = None
    # group_send: the staff member asked to send, and the text every customer of a batch gets.
    sender: str | None = None
    message_text: str | None = None
    batch_size: PositiveWholeNumber = 1000


class WecomDestination(Destination):
    type_name = "wecom"
    Options = WecomOptions
    secret_names = ("corp_secret",)
    # Union of both actions (the YAML is checked before the options are read); check() holds
    # each action to its own: tag mirror or upsert, group_send append.
    supported_modes = ("mirror", "upsert", "append")
    max_batch_size = MAX_RECIPIENTS_PER_TASK
    platform_frequency_cap = (4, "calendar_month")
    supports_feedback_pull = True
    # add_msg_template takes no request id: a resent group-send task is a second task.
    deduplicates_resends = False

    def __init__(self, config) -> None:
        super().__init__(config)
        if self.options.action != "group_send":
            # The cap and the feedback concern group messages: a tagging destination has neither.
            self.platform_frequency_cap = None
            self.supports_feedback_pull = False
            self.deduplicates_resends = True  # tagging twice changes nothing
        self._http = HttpClient(
            self.name,
            RetryPolicy.from_options(self.options),
            {"Content-Type": "application/json; charset=utf-8"},
            on_retry=self.note_retry,
        )
        self._base = self.options.base_url.rstrip("/") + "/cgi-bin/"
        self._token: str | None = None
        self._token_valid_until = 0.0
        # unionid -> (external_userid, None) or (None, why not): converted once per run.
        self._contacts: dict[str, tuple[str | None, str | None]] = {}
        # Monotonic clock; tests move it to expire the cached token.
        self._clock = time.monotonic

    def start_run(self, run) -> None:
        super().start_run(run)
        self._contacts = {}

    def check(self) -> None:
        options = self.options
        problems = []
        url = urlsplit(options.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(f"base_url must be an http(s) URL, got {display_url(options.base_url)!r}")
        if not options.corp_id.strip():
            problems.append("corp_id is empty")
        if options.action not in ACTIONS:
            problems.append(f"action must be one of {', '.join(ACTIONS)}, got {options.action!r}")
        elif options.action == "tag":
            if not options.tag_id or not options.userid:
                problems.append("action tag needs tag_id and userid (the staff member who owns the contacts)")
            if options.sender or options.message_text:
                problems.append("sender and message_text belong to action group_send, not tag")
            if self.mode not in ("mirror", "upsert"):
                problems.append(f"action tag supports mode mirror or upsert, not {self.mode}")
        else:
            if not options.sender or not options.message_text:
                problems.append("action group_send needs sender (the staff member who sends) and message_text")
            elif len(options.message_text.encode("utf-8")) > MAX_TEXT_BYTES:
                problems.append(f"message_text is longer than WeCom's {MAX_TEXT_BYTES} bytes")
            if options.tag_id or options.userid:
                problems.append("tag_id and userid belong to action tag, not group_send")
            if self.mode != "append":
                problems.append(f"action group_send sends messages: set mode: append, not {self.mode}")
        if "wechat_unionid" in self.hashed_fields:
            problems.append("wechat_unionid cannot be hashed: WeCom converts the unionid itself")
        if problems:
            raise ActivationError(f"Destination {self.name}: {'; '.join(problems)}.")
        if missing := self.missing_secrets():
            raise ActivationError(
                f"Destination {self.name} needs the secret {', '.join(missing)} "
                "(the app's Secret; an environment variable, see .env.example)."
            )

    def write_batch(
        self, records: Sequence[Record], operation: Operation, idempotency_key: str
    ) -> BatchResult:
        if self.options.action == "group_send":
            if operation != "add":
                raise ActivationError(
                    f"Destination {self.name} sends group messages (mode append): it takes adds, not {operation}."
                )
            return self._send_group_message(records)
        return BatchResult(tuple(self._mark_tag(record, operation) for record in records))

    def close(self) -> None:
        self._http.close()

    # --- actions ---------------------------------------------------------------------------

    def _mark_tag(self, record: Record, operation: Operation) -> RecordResult:
        external_id = record["external_id"]
        if operation == "remove" and not record.get("wechat_unionid"):
            return RecordResult(
                external_id,
                "WeCom needs the member's wechat_unionid to remove a tag; the removal carried "
                "only the one_id (not removed)",
            )
        external_userid, problem = self._external_userid(record)
        if problem:
            return RecordResult(external_id, problem)
        change = "remove_tag" if operation == "remove" else "add_tag"
        body = self._call(
            "externalcontact/mark_tag",
            {
                "userid": self.options.userid,
                "external_userid": external_userid,
                change: [self.options.tag_id],
            },
        )
        return RecordResult(external_id, None if body["errcode"] == 0 else _service_message(body))

    def _send_group_message(self, records: Sequence[Record]) -> BatchResult:
        errors: dict[str, str] = {}
        # external_userid -> the records that resolve to it (two one_ids may share a unionid).
        recipients: dict[str, list[str]] = {}
        for record in records:
            external_userid, problem = self._external_userid(record)
            if problem:
                errors[record["external_id"]] = problem
            else:
                recipients.setdefault(external_userid, []).append(record["external_id"])
        msgid = None
        if recipients:
            body = self._call(
                "externalcontact/add_msg_template",
                {
                    "chat_type": "single",
                    "external_userid": list(recipients),
                    "sender": self.options.sender,
                    "text": {"content": self.options.message_text},
                },
            )
            if body["errcode"] in CONTACT_ERRCODES:
                for external_ids in recipients.values():
                    errors.update(dict.fromkeys(external_ids, _service_message(body)))
            elif body["errcode"] != 0:
                raise self._refusal("add_msg_template", body)
            else:
                msgid = body.get("msgid")
                for failed in body.get("fail_list") or ():
                    errors.update(dict.fromkeys(recipients.get(failed, ()), FAIL_LIST_ERROR))
        return BatchResult(
            tuple(
                RecordResult(record["external_id"], errors[record["external_id"]])
                if record["external_id"] in errors
                else RecordResult(record["external_id"], reference=msgid)
                for record in records
            )
        )

    def pull_feedback(self, sent: Sequence[SentRecord]) -> Iterator[dict[str, Any]]:
        """Delivery statuses of the group messages these records were part of."""
        if self.options.action != "group_send":
            raise ActivationError(
                f"Destination {self.name} tags contacts: only action group_send has statuses to pull."
            )
        # msgid -> external_userid -> the sent records it stands for.
        by_message: dict[str, dict[str, list[SentRecord]]] = {}
        for item in sent:
            if not item.reference or not item.address:
                continue
            external_userid, _ = self._convert(item.address, None)
            if external_userid:
                by_message.setdefault(item.reference, {}).setdefault(external_userid, []).append(item)
        for msgid, members in by_message.items():
            for task in self._pages("externalcontact/get_groupmsg_task", {"msgid": msgid}, "task_list"):
                for entry in self._pages(
                    "externalcontact/get_groupmsg_send_result",
                    {"msgid": msgid, "userid": task.get("userid")},
                    "send_list",
                ):
                    event_type = SEND_STATUS_EVENTS.get(entry.get("status"))
                    if event_type is None:
                        continue
                    for item in members.get(entry.get("external_userid"), ()):
                        # Only a sent entry has a send_time; a failure is dated by the staff
                        # member's send, else by our own send.
                        timestamp = entry.get("send_time") or task.get("send_time")
                        yield {
                            "campaign_id": item.campaign_id,
                            "one_id": item.one_id,
                            "destination_name": self.name,
                            "event_type": event_type,
                            "occurred_at": _utc(timestamp) if timestamp else item.sent_at,
                        }

    # --- contacts --------------------------------------------------------------------------

    def _external_userid(self, record: Record) -> tuple[str | None, str | None]:
        unionid = record.get("wechat_unionid")
        if not unionid:
            return None, "no wechat_unionid (not sent)"
        openid = record.get("wechat_openid")
        # The warehouse namespaces openids by app (wx_app:open1); WeCom wants the bare id.
        return self._convert(unionid, openid.rpartition(":")[2] if openid else None)

    def _convert(self, unionid: str, openid: str | None) -> tuple[str | None, str | None]:
        if unionid not in self._contacts:
            payload = {"unionid": unionid, **({"openid": openid} if openid else {})}
            body = self._call("idconvert/unionid_to_external_userid", payload)
            if body["errcode"] != 0:
                self._contacts[unionid] = None, _service_message(body)
            elif body.get("external_userid"):
                self._contacts[unionid] = body["external_userid"], None
            else:
                self._contacts[unionid] = None, (
                    "this WeChat user is not a WeCom customer of the corp yet "
                    "(idconvert returned only a pending_id)"
                )
        return self._contacts[unionid]

    # --- calls -----------------------------------------------------------------------------

    def _call(self, api: str, payload: dict) -> dict:
        """POST to an API; returns the body when errcode is 0 or about the records. Busy
        answers are retried by the HttpClient, a token error once with a new token."""
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        for attempt in range(2):
            body = self._json(
                api,
                self._http.request(
                    "POST",
                    self._base + api,
                    data=data,
                    transient=_busy,
                    prepare=lambda: {"params": {"access_token": self._access_token()}},
                    # A group-send task has no request id: one whose answer was lost is not
                    # created again.
                    resend_safe=not api.endswith("add_msg_template"),
                ),
            )
            if body["errcode"] in TOKEN_ERRCODES and attempt == 0:
                self._token = None
                continue
            break
        if body["errcode"] in TOKEN_ERRCODES or body["errcode"] in CONFIG_ERRCODES:
            raise self._refusal(api, body)
        return body

    def _pages(self, api: str, payload: dict, key: str) -> Iterator[dict]:
        cursor = ""
        while True:
            body = self._call(api, {**payload, "limit": PAGE_LIMIT, "cursor": cursor})
            if body["errcode"] != 0:
                raise DestinationError(
                    f"Destination {self.name}: WeCom {api} for msgid {payload['msgid']} answered "
                    f"{_service_message(body)}."
                )
            yield from body.get(key) or ()
            cursor = body.get("next_cursor") or ""
            if not cursor:
                return

    def _access_token(self) -> str:
        if self._token and self._clock() < self._token_valid_until:
            return self._token
        response = self._http.request(
            "GET",
            self._base + "gettoken",
            params={"corpid": self.options.corp_id, "corpsecret": self.secret("corp_secret")},
            transient=_busy,
        )
        body = self._json("gettoken", response)
        if body["errcode"] != 0 or not body.get("access_token"):
            raise self._refusal("gettoken", body)
        expires_in = float(body.get("expires_in") or 7200)
        # Renew a little early so no call leaves with a token that expires on the way.
        margin = min(TOKEN_REFRESH_MARGIN_SECONDS, expires_in / 2)
        self._token = body["access_token"]
        self._token_valid_until = self._clock() + expires_in - margin
        return self._token

    def _json(self, api: str, response: requests.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise DestinationError(
                f"Destination {self.name}: WeCom {api} at {display_url(response.url)} answered "
                f"HTTP {response.status_code} without a WeCom result; check base_url."
            )
        body["errcode"] = int(body.get("errcode") or 0)
        return body

    def _refusal(self, api: str, body: dict) -> DestinationError:
        code = body["errcode"]
        if code in TOKEN_ERRCODES and api != "gettoken":
            hint = "a freshly fetched access token was refused too"
        else:
            hint = CONFIG_ERRCODES.get(code, "the call was refused")
        return DestinationError(
            f"Destination {self.name}: WeCom {api} refused the request ({_service_message(body)}): "
            f"{hint}. Check corp_id, userid/sender, tag_id and "
            f"{self.config.secret_env_var('corp_secret')}, and the app's permissions."
        )


def _busy(response: requests.Response) -> float | None:
    """WeCom's busy and frequency errcodes: retry after the backoff."""
    try:
        code = response.json().get("errcode")
    except (ValueError, AttributeError):
        return None
    return 0.0 if code in BUSY_ERRCODES else None


def _service_message(body: dict) -> str:
    # errmsg ends with ", hint: [...], from ip: ..., more info at ...": noise for the ledger.
    message = str(body.get("errmsg") or "").split(", hint:")[0].strip()
    return scrub_pii(f"WeCom errcode {body['errcode']}: {message}")[:MAX_ERROR_MESSAGE_CHARS]


def _utc(epoch_seconds: int | float) -> dt.datetime:
    """Naive UTC, as the feedback landing contract takes timestamps."""
    return dt.datetime.fromtimestamp(float(epoch_seconds), dt.UTC).replace(tzinfo=None)
