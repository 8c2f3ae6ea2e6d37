"""WeCom (企业微信) customer contact: tag external contacts or create group messages to them.

The API plumbing (token, calls, errcodes, unionid -> external_userid) is in
activation/destinations/wecom_api.py; the group-send results pull in activation/feedback_pulls.py.
WeCom names customers by external_userid, the warehouse by wechat_unionid. The customers the
staff member follows that the warehouse already knows (the landing table wecom_external_contacts)
need no call; the others' unionid is converted once per run (with its openid, its app namespace `wx_app:` stripped, when the
destination's fields include wechat_openid); a unionid that is no customer of the corp yet is
rejected.

- action `tag` (modes mirror, upsert; document 92697): POST externalcontact/mark_tag {userid,
  external_userid, add_tag: [tag_id]} for add and update, remove_tag for remove. One contact per
  call, so a batch is a sequence of calls (set batch_size and rate_limit with the corp's call
  quota in mind); marking a tag twice changes nothing, so a resent batch is safe. A removal needs
  the member's wechat_unionid in the record. Any errcode about the contact (84061 not an external
  contact of the staff member, 40096 invalid external_userid) rejects that record.
- action `group_send` (mode append; document 92135): POST externalcontact/add_msg_template
  {chat_type: "single", external_userid: [... at most 10,000], sender, text: {content <= 4000
  bytes}, attachments: [{msgtype: image | link | miniprogram, <msgtype>: {...}}, ... at most 9]}
  -> {msgid, fail_list}. `attachments` in the YAML: a list of {image: {media_id | pic_url}},
  {link: {title, url, picurl, desc}}, {miniprogram: {title, appid, page, pic_media_id}}; a text,
  attachments or both. This creates a task that the staff member (`sender`) confirms in
  the WeCom app before anything reaches a customer; the same message goes to every customer of
  the batch. Customers in fail_list are rejected; 40096/84061 reject the batch's records and any
  other errcode stops the sync. The API takes no client request id, so a batch whose answer was
  lost is not sent again (at most once). WeCom caps how many group messages one customer
  receives: 4 per calendar month in the rule this destination declares (platform_frequency_cap;
  newer WeCom documentation lets a corp allow up to the month's number of days); over the cap a
  customer lands in fail_list. The record's reference is the task's msgid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field

from activation.config import PositiveWholeNumber, Text
from activation.destinations.base import BatchResult, Destination, Operation, Record, RecordResult
from activation.destinations.http import HttpClient, HttpOptions, RetryPolicy, display_url
from activation.destinations.wecom_api import WecomClient, service_message
from activation.destinations.wecom_messages import MAX_ATTACHMENTS, Attachment, group_message
from activation.errors import ActivationError
from activation.feedback_pulls import wecom_group_send_results

ACTIONS = ("tag", "group_send")
# The warehouse's WeCom external contacts (models/staging/wecom/).
EXTERNAL_CONTACTS = "staging.stg_wecom__external_contacts"
MAX_RECIPIENTS_PER_TASK = 10_000
MAX_TEXT_BYTES = 4000

# Answers about the contacts of an add_msg_template call rather than about its configuration.
CONTACT_ERRCODES = frozenset({40096, 84061})
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
    # group_send: the staff member asked to send, and what every customer of a batch gets: a
    # text and/or attachments (an image, a link card, a mini-program page; at most 9).
    sender: str | None = None
    message_text: str | None = None
    attachments: Annotated[list[Attachment], Field(max_length=MAX_ATTACHMENTS)] = []
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
    pull_feedback = wecom_group_send_results
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
        self.api = WecomClient(self, self._http)

    def start_run(self, run) -> None:
        super().start_run(run)
        self.api.contacts = {}

    def prepare(self, connection, catalog) -> None:
        """The external_userids the warehouse already knows (stg_wecom__external_contacts) of
        the customers the staff member follows: no unionid conversion call for them."""
        if not catalog.has(EXTERNAL_CONTACTS):
            return
        staff = self.options.sender if self.options.action == "group_send" else self.options.userid
        rows = connection.execute(
            f"""
            select wechat_unionid, min(external_userid)
            from {EXTERNAL_CONTACTS}
            where follow_userid = ? and wechat_unionid is not null
            group by wechat_unionid
            """,
            [staff],
        ).fetchall()
        self.api.contacts.update({unionid: (external_userid, None) for unionid, external_userid in rows})

    def check(self) -> None:
        options = self.options
        problems = []
        url = urlsplit(options.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            problems.append(f"base_url must be an http(s) URL, got {display_url(options.base_url)!r}")
        if not options.corp_id.strip():
            problems.append("corp_id is empty")
        if options.action == "tag":
            if not options.tag_id or not options.userid:
                problems.append("action tag needs tag_id and userid (the staff member who owns the contacts)")
            if options.sender or options.message_text or options.attachments:
                problems.append("sender, message_text and attachments belong to action group_send, not tag")
            if self.mode not in ("mirror", "upsert"):
                problems.append(f"action tag supports mode mirror or upsert, not {self.mode}")
        else:
            if not options.sender or not (options.message_text or options.attachments):
                problems.append(
                    "action group_send needs sender (the staff member who sends) and message_text "
                    "or attachments"
                )
            elif options.message_text and len(options.message_text.encode("utf-8")) > MAX_TEXT_BYTES:
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
        tags = [self.options.tag_id]
        # Both lists, the other one empty, as wechatpy's mark_tag sends them.
        body = self.api.call("externalcontact/mark_tag", {
            "userid": self.options.userid,
            "external_userid": external_userid,
            "add_tag": tags if operation != "remove" else [],
            "remove_tag": tags if operation == "remove" else [],
        })
        return RecordResult(external_id, None if body["errcode"] == 0 else service_message(body))

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
            body = self.api.call("externalcontact/add_msg_template", group_message(self.options, list(recipients)))
            if body["errcode"] in CONTACT_ERRCODES:
                for external_ids in recipients.values():
                    errors.update(dict.fromkeys(external_ids, service_message(body)))
            elif body["errcode"] != 0:
                raise self.api.refusal("add_msg_template", body)
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

    # --- contacts --------------------------------------------------------------------------

    def _external_userid(self, record: Record) -> tuple[str | None, str | None]:
        unionid = record.get("wechat_unionid")
        if not unionid:
            return None, "no wechat_unionid (not sent)"
        openid = record.get("wechat_openid")
        # The warehouse namespaces openids by app (wx_app:open1); WeCom wants the bare id.
        return self.api.external_userid(unionid, openid.rpartition(":")[2] if openid else None)
