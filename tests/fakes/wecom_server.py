"""A fake of WeCom's server API (qyapi.weixin.qq.com/cgi-bin) on 127.0.0.1, for tests.

Implements gettoken (tokens that expire after `token_lifetime` seconds of the fake's clock, or
at once with expire_tokens()), idconvert/unionid_to_external_userid, externalcontact/mark_tag,
add_msg_template, get_groupmsg_task and get_groupmsg_send_result, answering like WeCom: always
HTTP 200 with an errcode (41001 no token, 40014 unknown token, 42001 expired token, 40001 wrong
secret, 40013 wrong corpid, 40003 unknown staff member, 40068 unknown tag, 84061 not a contact,
45009 / -1 when told to throttle or fail). Customers are registered with add_customer(one_id,
unionid, userid): the fake hands out its own external_userid for each and reports what it did
under the one_id (the FakeService protocol of tests/conformance.py).

Group messages: add_msg_template creates a task (status 0 for every customer) and puts in
fail_list the customers that are no contact of the sender or that already got
`monthly_cap` messages in the calendar month of the fake's clock (China time); the test plays
the staff member with staff_sends(). Attachments are checked for their shape. Not modelled: the
sender's confirmation UI, media uploads,
chat_type group, rate limits other than injected ones.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import uuid
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback import LoopbackHttpServer

CHINA = dt.timezone(dt.timedelta(hours=8))
MAX_RECIPIENTS = 10_000
MAX_PAGE = 1000
BUSY = {"throttle": (45009, "api freq out of limit"), "server_error": (-1, "system busy")}


class FakeWecom(LoopbackHttpServer):
    def __init__(
        self,
        corp_id: str = "ww_test_corp",
        corp_secret: str = "test-corp-secret",
        staff: tuple[str, ...] = ("staff_zhang",),
        tags: tuple[str, ...] = ("et_vip",),
    ) -> None:
        self.corp_id = corp_id
        self.corp_secret = corp_secret
        self.staff = set(staff)
        self.tags = set(tags)
        self.token_lifetime = 7200
        self.monthly_cap = 4
        # Caps get_groupmsg_* pages below WeCom's 1000, to exercise the cursor.
        self.page_size = MAX_PAGE
        self.now = lambda: dt.datetime.now(CHINA)
        # (operation, one_id) -> times done; operation add / update / remove.
        self.received: Counter[tuple[str, str]] = Counter()
        self.calls: Counter[str] = Counter()
        self.token_errors = 0
        self.requests: list[tuple[str, dict]] = []
        # (api, the body exactly as it arrived) of every POST.
        self.raw: list[tuple[str, bytes]] = []
        self.script: deque[str] = deque()
        self.rejected: dict[str, str] = {}
        # Every call but gettoken answers this errcode while set (permission problems).
        self.forbidden: tuple[int, str] | None = None
        self._tokens: dict[str, dt.datetime] = {}
        # unionid -> one_id, one_id -> external_userid, external_userid -> one_id.
        self._one_id_by_unionid: dict[str, str] = {}
        self._external_userid: dict[str, str] = {}
        self._one_id: dict[str, str] = {}
        # external_userid -> staff members who have the customer as a contact.
        self._owners: dict[str, set[str]] = {}
        # (userid, external_userid) -> tag ids.
        self.marked: dict[tuple[str, str], set[str]] = {}
        self.messages: dict[str, dict] = {}
        self._lock = threading.Lock()
        super().__init__(_handler_for(self))

    # --- test set-up -------------------------------------------------------------------------

    def add_customer(self, one_id: str, unionid: str, userid: str = "staff_zhang") -> str:
        """Make a WeChat user a customer (external contact) of a staff member."""
        with self._lock:
            external_userid = self._external_userid.setdefault(one_id, f"wm{uuid.uuid4().hex[:16]}")
            self._one_id_by_unionid[unionid] = one_id
            self._one_id[external_userid] = one_id
            self._owners.setdefault(external_userid, set()).add(userid)
            return external_userid

    def external_userid(self, one_id: str) -> str:
        return self._external_userid[one_id]

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on (answers 42001)."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, self.now() - dt.timedelta(seconds=1))

    def staff_sends(
        self, msgid: str | None = None, *, not_friend: tuple[str, ...] = (),
        over_limit: tuple[str, ...] = (), unsent: tuple[str, ...] = (),
        at: dt.datetime | None = None,
    ) -> None:
        """The sender confirms a task (default: the latest): each customer's status becomes 1
        (sent), or 2 / 3 / 0 for the one_ids listed."""
        with self._lock:
            message = self.messages[msgid] if msgid else list(self.messages.values())[-1]
            send_time = int((at or self.now()).timestamp())
            message["task_status"], message["send_time"] = 2, send_time
            for external_userid in message["statuses"]:
                one_id = self._one_id[external_userid]
                status = 2 if one_id in not_friend else 3 if one_id in over_limit else 0 if one_id in unsent else 1
                message["statuses"][external_userid] = status

    # --- FakeService protocol ----------------------------------------------------------------

    def delivered(self, operation: str) -> Counter[str]:
        with self._lock:
            return Counter({one_id: n for (op, one_id), n in self.received.items() if op == operation})

    def inject(self, *answers: str) -> None:
        self.script.extend(answers)

    def reject(self, external_id: str, message: str) -> None:
        """The customer's unionid conversion answers errcode 84061 with this message."""
        self.rejected[external_id] = message

    # --- the API -----------------------------------------------------------------------------

    def _next_action(self) -> str | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    def gettoken(self, query: dict) -> dict:
        if query.get("corpid") != self.corp_id:
            return _error(40013, "invalid corpid")
        if query.get("corpsecret") != self.corp_secret:
            return _error(40001, "invalid credential")
        with self._lock:
            self.calls["gettoken"] += 1
            token = f"token-{uuid.uuid4().hex}"
            self._tokens[token] = self.now() + dt.timedelta(seconds=self.token_lifetime)
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_lifetime}

    def call(self, api: str, token: str | None, body: dict) -> dict:
        with self._lock:
            if not token:
                return _error(41001, "access_token missing")
            if token not in self._tokens:
                self.token_errors += 1
                return _error(40014, "invalid access_token")
            if self._tokens[token] <= self.now():
                self.token_errors += 1
                return _error(42001, "access_token expired")
            if self.forbidden:
                return _error(*self.forbidden)
            self.calls[api] += 1
            self.requests.append((api, body))
            handler = getattr(self, "_" + api.rpartition("/")[2], None)
            return handler(body) if handler else _error(404, f"unknown api {api}")

    def _unionid_to_external_userid(self, body: dict) -> dict:
        one_id = self._one_id_by_unionid.get(body.get("unionid"))
        if one_id in self.rejected:
            return _error(84061, self.rejected[one_id])
        if one_id is None:
            # WeCom's answer for a WeChat user who is not (yet) a customer of the corp.
            return {"errcode": 0, "errmsg": "ok", "pending_id": f"p{uuid.uuid4().hex[:12]}"}
        return {"errcode": 0, "errmsg": "ok", "external_userid": self._external_userid[one_id]}

    def _mark_tag(self, body: dict) -> dict:
        userid, external_userid = body.get("userid"), body.get("external_userid")
        add, remove = body.get("add_tag") or [], body.get("remove_tag") or []
        if userid not in self.staff:
            return _error(40003, "invalid userid")
        if not add and not remove:
            return _error(40058, "add_tag and remove_tag are both empty")
        if not set(add + remove) <= self.tags:
            return _error(40068, "invalid tagid")
        if userid not in self._owners.get(external_userid, ()):
            return _error(84061, "not external contact")
        held = self.marked.setdefault((userid, external_userid), set())
        one_id = self._one_id[external_userid]
        for tag in add:
            self.received[("update" if tag in held else "add", one_id)] += 1
            held.add(tag)
        for tag in remove:
            self.received[("remove", one_id)] += 1
            held.discard(tag)
        return {"errcode": 0, "errmsg": "ok"}

    def _add_msg_template(self, body: dict) -> dict:
        sender, recipients = body.get("sender"), body.get("external_userid") or []
        if body.get("chat_type", "single") != "single":
            return _error(40058, "only chat_type single is faked")
        if sender not in self.staff:
            return _error(40003, "invalid userid")
        if len(recipients) > MAX_RECIPIENTS:
            return _error(40058, f"external_userid exceeds {MAX_RECIPIENTS}")
        if len((body.get("text") or {}).get("content", "").encode()) > 4000:
            return _error(41048, "text content exceeds 4000 bytes")
        attachments = body.get("attachments") or []
        if not body.get("text") and not attachments:
            return _error(41063, "text and attachments can not both be empty")
        if len(attachments) > 9 or any(not _attachment_ok(item) for item in attachments):
            return _error(40058, "invalid attachments")
        month = self.now().strftime("%Y-%m")
        taken, fail_list = [], []
        for external_userid in recipients:
            received = sum(
                1 for message in self.messages.values()
                if message["month"] == month and external_userid in message["statuses"]
            )
            if sender not in self._owners.get(external_userid, ()) or received >= self.monthly_cap:
                fail_list.append(external_userid)
            else:
                taken.append(external_userid)
        msgid = f"msg{uuid.uuid4().hex[:20]}"
        self.messages[msgid] = {
            "sender": sender, "text": body.get("text"), "month": month, "task_status": 0,
            "send_time": None, "statuses": dict.fromkeys(taken, 0),
        }
        for external_userid in taken:
            self.received[("add", self._one_id[external_userid])] += 1
        return {"errcode": 0, "errmsg": "ok", "fail_list": fail_list, "msgid": msgid}

    def _get_groupmsg_task(self, body: dict) -> dict:
        message = self.messages.get(body.get("msgid"))
        if message is None:
            return _error(41063, "invalid msgid")
        task = {"userid": message["sender"], "status": message["task_status"]}
        if message["send_time"]:
            task["send_time"] = message["send_time"]
        return {"errcode": 0, "errmsg": "ok", "next_cursor": "", "task_list": [task]}

    def _get_groupmsg_send_result(self, body: dict) -> dict:
        message = self.messages.get(body.get("msgid"))
        if message is None:
            return _error(41063, "invalid msgid")
        if body.get("userid") != message["sender"]:
            return {"errcode": 0, "errmsg": "ok", "next_cursor": "", "send_list": []}
        rows = []
        for external_userid, status in message["statuses"].items():
            row = {"external_userid": external_userid, "userid": message["sender"], "status": status}
            if status == 1:
                row["send_time"] = message["send_time"]
            rows.append(row)
        limit = min(int(body.get("limit") or 500), MAX_PAGE, self.page_size)
        start = int(body.get("cursor") or 0)
        page = rows[start:start + limit]
        next_cursor = str(start + limit) if start + limit < len(rows) else ""
        return {"errcode": 0, "errmsg": "ok", "next_cursor": next_cursor, "send_list": page}


# The fields WeCom requires per attachment type (document 92135).
ATTACHMENT_FIELDS = {"image": (), "link": ("title", "url"), "miniprogram": ("title", "appid", "page", "pic_media_id")}


def _attachment_ok(item: dict) -> bool:
    kind = item.get("msgtype")
    content = item.get(kind) if kind in ATTACHMENT_FIELDS else None
    if not isinstance(content, dict) or set(item) != {"msgtype", kind}:
        return False
    if kind == "image" and not (content.get("media_id") or content.get("pic_url")):
        return False
    return all(content.get(field) for field in ATTACHMENT_FIELDS[kind])


def _error(code: int, message: str) -> dict:
    # WeCom appends a hint and where the call came from to every error message.
    return {
        "errcode": code,
        "errmsg": f"{message}, hint: [{uuid.uuid4().hex[:20]}], from ip: 127.0.0.1, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={code}",
    }


def _handler_for(fake: FakeWecom) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK add ~40 ms to every call.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if self._misbehave():
                return
            if url.path == "/cgi-bin/gettoken":
                self._answer(fake.gettoken(dict(parse_qsl(url.query))))
            else:
                self._answer(_error(404, "not found"), status=404)

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self._misbehave():
                return
            if not url.path.startswith("/cgi-bin/"):
                self._answer(_error(404, "not found"), status=404)
                return
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                self._answer(_error(47001, "data format error"))
                return
            token = dict(parse_qsl(url.query)).get("access_token")
            with fake._lock:
                fake.raw.append((url.path.removeprefix("/cgi-bin/"), body))
            self._answer(fake.call(url.path.removeprefix("/cgi-bin/"), token, payload))

        def _misbehave(self) -> bool:
            action = fake._next_action()
            if action == "drop":
                # Close without an answer, before processing: the call never arrived.
                self.close_connection = True
                return True
            if action in BUSY:
                self._answer(_error(*BUSY[action]))
                return True
            return False

        def _answer(self, payload: dict, status: int = 200) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:
            pass

    return Handler
