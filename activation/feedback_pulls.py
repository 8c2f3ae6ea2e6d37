"""What `activate feedback pull` asks each service with a status query (activation/feedback_pull.py
hands it the records the ledger says were sent). Each puller is the `pull_feedback` of its
destination type and yields feedback_events rows: campaign_id, one_id, event_type, occurred_at
(UTC), destination_name.

- sms_gateway: Alibaba Cloud QuerySendDetails {PhoneNumber, SendDate (yyyyMMdd, last 30 days),
  BizId, PageSize (1-50), CurrentPage} -> {"Code", "TotalCount", "SmsSendDetailDTOs":
  {"SmsSendDetailDTO": [{"PhoneNum", "SendStatus" (1 waiting, 2 failed, 3 delivered),
  "ErrCode", "SendDate", "ReceiveDate", ...}]}}; dates are Beijing time.
- wecom group_send: POST externalcontact/get_groupmsg_task {msgid} (the staff members of the
  task) and get_groupmsg_send_result {msgid, userid} (send_list: external_userid, status 0 not
  sent, 1 sent, 2 not a friend, 3 over the customer's limit, send_time), paged by cursor.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from typing import Any

from activation.destinations.aliyun_rpc import message
from activation.destinations.base import SentRecord
from activation.destinations.normalise import cn_mobile_11_digits
from activation.errors import ActivationError, DestinationError

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
SMS_QUERY_PAGE_SIZE = 50
SMS_QUERY_WINDOW_DAYS = 30
SMS_DELIVERY_EVENTS = {2: "failed", 3: "delivered"}
# get_groupmsg_send_result status -> feedback event (0, not sent yet, reports nothing).
WECOM_SEND_STATUS_EVENTS = {1: "delivered", 2: "failed", 3: "failed"}


def sms_delivery_reports(destination, sent: Sequence[SentRecord]) -> Iterator[dict[str, Any]]:
    """Delivery statuses by QuerySendDetails, one query per message (phone + BizId), paced to
    the destination's rate limit.

    Messages still waiting for the carrier's receipt yield nothing (ask again later); so do
    records without a BizId or a phone, messages older than the query's 30 days, and members
    whose phone changed since the send (the query is by the number the message went to)."""
    oldest = dt.datetime.now(BEIJING).date() - dt.timedelta(days=SMS_QUERY_WINDOW_DAYS - 1)
    pace = _Pace(destination.rate_limit)
    for record in sent:
        phone = cn_mobile_11_digits(record.address) if record.address else None
        if not phone or not record.reference:
            continue
        send_date = _in_beijing(record.sent_at).date()
        if send_date < oldest:
            continue
        detail = _send_detail(destination, pace, phone, record.reference, send_date)
        event_type = SMS_DELIVERY_EVENTS.get(_int(detail.get("SendStatus"))) if detail else None
        if event_type is None:
            continue
        # A failure may come without a receipt time: then the send time stands in.
        occurred_at = _beijing_time(detail.get("ReceiveDate")) or _beijing_time(detail.get("SendDate"))
        yield {
            "campaign_id": record.campaign_id,
            "one_id": record.one_id,
            "event_type": event_type,
            "occurred_at": occurred_at or _in_beijing(record.sent_at).astimezone(dt.UTC),
            "destination_name": destination.name,
        }


def _send_detail(destination, pace: _Pace, phone: str, biz_id: str, send_date: dt.date) -> dict | None:
    page = 1
    while True:
        pace.wait()
        body = destination.rpc.call("QuerySendDetails", {
            "PhoneNumber": phone,
            "SendDate": send_date.strftime("%Y%m%d"),
            "BizId": biz_id,
            "PageSize": str(SMS_QUERY_PAGE_SIZE),
            "CurrentPage": str(page),
        })
        if body.get("Code") != "OK":
            raise DestinationError(
                f"Destination {destination.name}: QuerySendDetails refused ({body.get('Code')}: "
                f"{message(body)})."
            )
        details = (body.get("SmsSendDetailDTOs") or {}).get("SmsSendDetailDTO") or []
        found = next((d for d in details if cn_mobile_11_digits(str(d.get("PhoneNum"))) == phone), None)
        if found or page * SMS_QUERY_PAGE_SIZE >= _int(body.get("TotalCount")) or not details:
            return found
        page += 1


def wecom_group_send_results(destination, sent: Sequence[SentRecord]) -> Iterator[dict[str, Any]]:
    """Delivery statuses of the group messages these records were part of (the record's
    reference is the task's msgid, its address the member's unionid)."""
    if destination.options.action != "group_send":
        raise ActivationError(
            f"Destination {destination.name} tags contacts: only action group_send has statuses to pull."
        )
    api = destination.api
    # msgid -> external_userid -> the sent records it stands for.
    by_message: dict[str, dict[str, list[SentRecord]]] = {}
    for item in sent:
        if not item.reference or not item.address:
            continue
        external_userid, _ = api.external_userid(item.address, None)
        if external_userid:
            by_message.setdefault(item.reference, {}).setdefault(external_userid, []).append(item)
    for msgid, members in by_message.items():
        for task in api.pages("externalcontact/get_groupmsg_task", {"msgid": msgid}, "task_list"):
            results = api.pages(
                "externalcontact/get_groupmsg_send_result",
                {"msgid": msgid, "userid": task.get("userid")},
                "send_list",
            )
            for entry in results:
                event_type = WECOM_SEND_STATUS_EVENTS.get(entry.get("status"))
                if event_type is None:
                    continue
                for item in members.get(entry.get("external_userid"), ()):
                    # Only a sent entry has a send_time; a failure is dated by the staff
                    # member's send, else by our own send.
                    timestamp = entry.get("send_time") or task.get("send_time")
                    yield {
                        "campaign_id": item.campaign_id,
                        "one_id": item.one_id,
                        "destination_name": destination.name,
                        "event_type": event_type,
                        "occurred_at": _utc(timestamp) if timestamp else item.sent_at,
                    }


class _Pace:
    """A pull makes one query per message: keep to the destination's rate limit."""

    def __init__(self, rate_limit: float | None) -> None:
        self._interval = 1 / rate_limit if rate_limit else 0.0
        self._last = 0.0

    def wait(self) -> None:
        pause = self._last + self._interval - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        self._last = time.monotonic()


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


def _utc(epoch_seconds: int | float) -> dt.datetime:
    """Naive UTC, as the feedback landing contract takes timestamps."""
    return dt.datetime.fromtimestamp(float(epoch_seconds), dt.UTC).replace(tzinfo=None)
