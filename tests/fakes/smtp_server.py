"""A real SMTP server on 127.0.0.1 (aiosmtpd, in a thread) that keeps the mail it is given.

It stores every message; a Message-ID it has already taken is counted in `duplicates` and
not stored again (what a receiving side that deduplicates could drop), but it still counts as
delivered: most mail servers would deliver the copy. It can require a login (AUTH PLAIN/LOGIN over the
plain connection, loopback only), refuse chosen recipients at RCPT with 550, refuse a record at
DATA with 550 (reject(), by the X-Onedata-External-Id header), and misbehave on the next MAIL
commands, one answer each (inject()):

- "throttle": 421 4.7.0, then the server closes the connection;
- "server_error": 451 4.3.0 (the connection stays open);
- "drop": the connection is closed without an answer;
- "drop_after_data": the message is stored, then the connection is closed before the 250
  (the sender never learns it was taken).

Implements the FakeService protocol of tests/conformance.py, counting messages under their
X-Onedata-External-Id header (operation "add": mail has no update or remove).
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

EXTERNAL_ID_HEADER = "X-Onedata-External-Id"


class _LoopbackController(Controller):
    """aiosmtpd's Controller on a port the OS picks (port 0)."""

    def _trigger_server(self):
        # The server is bound by now: learn its port before the readiness probe connects.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class FakeSmtpServer:
    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.username, self.password = username, password
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.received: Counter[str] = Counter()
        self.duplicates = 0
        self.mail_commands = 0
        self.logins = 0
        self.script: deque[str] = deque()
        self.rejected: dict[str, str] = {}
        self.refused_recipients: dict[str, str] = {}
        self._seen_ids: set[str] = set()
        self._drop_after_data: set[int] = set()
        self._lock = threading.Lock()
        login = {} if username is None else {
            "auth_required": True,
            # Loopback only: lets the tests log in without TLS certificates.
            "auth_require_tls": False,
            "authenticator": self._authenticate,
        }
        self._controller = _LoopbackController(
            _Handler(self), hostname="127.0.0.1", port=0, server_hostname="fake-smtp.test", **login
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> FakeSmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    # --- FakeService protocol ----------------------------------------------------------------

    def delivered(self, operation: str) -> Counter[str]:
        with self._lock:
            return Counter(self.received) if operation == "add" else Counter()

    def inject(self, *answers: str) -> None:
        # "lost_answer" (carried out, answer lost) is a message stored before the 250 is lost.
        with self._lock:
            self.script.extend("drop_after_data" if a == "lost_answer" else a for a in answers)

    def reject(self, external_id: str, message: str) -> None:
        """Answer DATA for this record's messages with 550 and the message."""
        with self._lock:
            self.rejected[external_id] = message

    def refuse_recipient(self, address: str, message: str) -> None:
        """Answer RCPT TO this address with 550 and the message (the address is echoed)."""
        with self._lock:
            self.refused_recipients[address.lower()] = message

    # --- internals ---------------------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        if ok:
            with self._lock:
                self.logins += 1
        # handled=False: aiosmtpd answers the failure itself (535).
        return AuthResult(success=ok, handled=False)

    def _next_action(self) -> str | None:
        with self._lock:
            self.mail_commands += 1
            return self.script.popleft() if self.script else None

    def _take(self, content: bytes) -> str | None:
        """Store a message unless its Message-ID was taken; the 550 text if it is refused."""
        message = message_from_bytes(content, policy=policy.default)
        external_id = message.get(EXTERNAL_ID_HEADER, "")
        with self._lock:
            if external_id in self.rejected:
                return self.rejected[external_id]
            self.received[external_id] += 1
            message_id = message.get("Message-ID", "")
            if message_id and message_id in self._seen_ids:
                self.duplicates += 1
                return None
            self._seen_ids.add(message_id)
            self.messages.append(message)
            return None


class _Handler:
    def __init__(self, fake: FakeSmtpServer) -> None:
        self.fake = fake

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        action = self.fake._next_action()
        if action == "drop":
            server.transport.abort()
            return "250 OK"  # never sent: the connection is gone
        if action == "throttle":
            await server.push("421 4.7.0 Too many messages, slow down; closing connection")
            server.transport.close()
            return "421 4.7.0 closing"  # never sent
        if action == "server_error":
            return "451 4.3.0 Temporary local problem, try again later"
        if action == "drop_after_data":
            self.fake._drop_after_data.add(id(server))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.fake.refused_recipients.get(address.lower())
        if refusal:
            return f"550 5.1.1 <{address}>: Recipient address rejected: {refusal}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.fake._lock:
            # MAIL FROM and its parameters (BODY=8BITMIME, SMTPUTF8) as the client gave them.
            self.fake.envelopes.append((envelope.mail_from, list(envelope.mail_options)))
        refusal = self.fake._take(envelope.original_content or envelope.content)
        if refusal:
            return f"550 5.7.1 Message rejected: {refusal}"
        if id(server) in self.fake._drop_after_data:
            self.fake._drop_after_data.discard(id(server))
            server.transport.abort()
        return "250 2.0.0 Message accepted for delivery"
