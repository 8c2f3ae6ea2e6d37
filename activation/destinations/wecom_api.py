"""WeCom's (企业微信) server API as the wecom destination and its feedback pull call it: the access
token, calls and their errcodes, paging, and unionid -> external_userid conversion.

(qyapi.weixin.qq.com/cgi-bin, JSON over HTTPS; every answer is HTTP 200 with an `errcode`, 0 =
ok; sources: developer.work.weixin.qq.com document paths 91039 gettoken, 95900 idconvert.)

- GET /cgi-bin/gettoken?corpid=&corpsecret= -> {access_token, expires_in: 7200}. Kept in memory
  until TOKEN_REFRESH_MARGIN_SECONDS before it expires. Every other call carries it as
  ?access_token=; an answer with errcode 40014 (invalid), 42001 (expired) or 40001 (invalid
  credential) fetches a new token once and repeats the call.
- POST /cgi-bin/idconvert/unionid_to_external_userid {unionid, openid} -> {external_userid,
  pending_id}. A unionid that is no customer of the corp yet comes back with a pending_id only.

errcodes: -1 (system busy), 45009 (call frequency), 45033 (concurrency) are transient, retried
with backoff by the shared HttpClient; CONFIG_ERRCODES (wrong corp_id, secret, userid/sender,
tag_id, missing API permission, server IP not trusted) stop the sync with DestinationError.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import requests

from activation.destinations.http import MAX_ERROR_MESSAGE_CHARS, HttpClient, display_url
from activation.errors import DestinationError
from activation.masking import scrub_pii

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
# Calls that create something WeCom cannot recognise when it comes again (a group-send task):
# one whose answer was lost is not created again.
NOT_RESEND_SAFE = ("externalcontact/add_msg_template",)


class WecomClient:
    def __init__(self, destination, http: HttpClient) -> None:
        self.destination = destination
        self.http = http
        self.base = destination.options.base_url.rstrip("/") + "/cgi-bin/"
        self._token: str | None = None
        self._token_valid_until = 0.0
        # unionid -> (external_userid, None) or (None, why not): converted once per run.
        self.contacts: dict[str, tuple[str | None, str | None]] = {}
        # Monotonic clock; tests move it to expire the cached token.
        self.clock = time.monotonic

    def call(self, api: str, payload: dict) -> dict:
        """POST to an API; returns the body when errcode is 0 or about the records. Busy
        answers are retried by the HttpClient, a token error once with a new token."""
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        for attempt in range(2):
            body = self._json(api, self.http.request(
                "POST",
                self.base + api,
                data=data,
                transient=_busy,
                prepare=lambda: {"params": {"access_token": self._access_token()}},
                resend_safe=api not in NOT_RESEND_SAFE,
            ))
            if body["errcode"] in TOKEN_ERRCODES and attempt == 0:
                self._token = None
                continue
            break
        if body["errcode"] in TOKEN_ERRCODES or body["errcode"] in CONFIG_ERRCODES:
            raise self.refusal(api, body)
        return body

    def pages(self, api: str, payload: dict, key: str) -> Iterator[dict]:
        """Every row of a cursor-paged answer's `key` list."""
        cursor = ""
        while True:
            body = self.call(api, {**payload, "limit": PAGE_LIMIT, "cursor": cursor})
            if body["errcode"] != 0:
                raise DestinationError(
                    f"Destination {self.destination.name}: WeCom {api} for msgid {payload['msgid']} "
                    f"answered {service_message(body)}."
                )
            yield from body.get(key) or ()
            cursor = body.get("next_cursor") or ""
            if not cursor:
                return

    def external_userid(self, unionid: str, openid: str | None) -> tuple[str | None, str | None]:
        """(external_userid, None), or (None, why the unionid is no customer of the corp)."""
        if unionid not in self.contacts:
            payload = {"unionid": unionid, **({"openid": openid} if openid else {})}
            body = self.call("idconvert/unionid_to_external_userid", payload)
            if body["errcode"] != 0:
                self.contacts[unionid] = None, service_message(body)
            elif body.get("external_userid"):
                self.contacts[unionid] = body["external_userid"], None
            else:
                self.contacts[unionid] = None, (
                    "this WeChat user is not a WeCom customer of the corp yet "
                    "(idconvert returned only a pending_id)"
                )
        return self.contacts[unionid]

    def refusal(self, api: str, body: dict) -> DestinationError:
        code = body["errcode"]
        if code in TOKEN_ERRCODES and api != "gettoken":
            hint = "a freshly fetched access token was refused too"
        else:
            hint = CONFIG_ERRCODES.get(code, "the call was refused")
        destination = self.destination
        return DestinationError(
            f"Destination {destination.name}: WeCom {api} refused the request "
            f"({service_message(body)}): {hint}. Check corp_id, userid/sender, tag_id and "
            f"{destination.config.secret_env_var('corp_secret')}, and the app's permissions."
        )

    def _access_token(self) -> str:
        if self._token and self.clock() < self._token_valid_until:
            return self._token
        options = self.destination.options
        response = self.http.request(
            "GET",
            self.base + "gettoken",
            params={"corpid": options.corp_id, "corpsecret": self.destination.secret("corp_secret")},
            transient=_busy,
        )
        body = self._json("gettoken", response)
        if body["errcode"] != 0 or not body.get("access_token"):
            raise self.refusal("gettoken", body)
        expires_in = float(body.get("expires_in") or 7200)
        # Renew a little early so no call leaves with a token that expires on the way.
        margin = min(TOKEN_REFRESH_MARGIN_SECONDS, expires_in / 2)
        self._token = body["access_token"]
        self._token_valid_until = self.clock() + expires_in - margin
        return self._token

    def _json(self, api: str, response: requests.Response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict):
            raise DestinationError(
                f"Destination {self.destination.name}: WeCom {api} at {display_url(response.url)} "
                f"answered HTTP {response.status_code} without a WeCom result; check base_url."
            )
        body["errcode"] = int(body.get("errcode") or 0)
        return body


def service_message(body: dict) -> str:
    # errmsg ends with ", hint: [...], from ip: ..., more info at ...": noise for the ledger.
    text = str(body.get("errmsg") or "").split(", hint:")[0].strip()
    return scrub_pii(f"WeCom errcode {body['errcode']}: {text}")[:MAX_ERROR_MESSAGE_CHARS]


def _busy(response: requests.Response) -> float | None:
    """WeCom's busy and frequency errcodes: retry after the backoff."""
    try:
        code = response.json().get("errcode")
    except (ValueError, AttributeError):
        return None
    return 0.0 if code in BUSY_ERRCODES else None
