"""E-mail over SMTP: one plain-text message per record, one SMTP session per batch.

Service protocol (RFC 5321 via smtplib): connect (SMTP, or SMTP over TLS with `use_ssl`),
EHLO, STARTTLS when `starttls`, AUTH LOGIN/PLAIN when both secrets are set, then per record
MAIL FROM:<from_address>, RCPT TO:<email>, DATA, and QUIT at the end of the batch.

Each message: From from_address, To the member's e-mail, Subject `subject` and body
`body_template`, both str.format templates over the payload fields ("Hi {display_name}"; a
missing value is empty), a Message-ID derived from the batch's idempotency key and the record's
external_id (a resent batch carries the same Message-IDs, so the receiving side can drop the
copies), and X-Onedata-External-Id / X-Onedata-Campaign-Id headers. The Message-ID is the
record's reference in the ledger.

Replies:
- 2xx: taken.
- 5xx to RCPT or DATA (SMTPRecipientsRefused, SMTPDataError): that record is rejected with the
  server's reply, PII scrubbed; the session goes on with the next record.
- 4xx anywhere (421 closing, 450 mailbox busy, 451 local error) and dropped connections or
  timeouts: transient. The connection is dropped, the destination waits (exponential backoff,
  RetryPolicy) and reconnects, resending from the record that failed; max_retries failures in a
  row end the batch: if nothing of it was taken that raises DestinationError, else the records
  not yet sent are rejected (the sync retries them next run) and the others are kept.
- A connection lost after the message's end of data left (the server may have queued it and
  its 250 was lost): that message is not resent, since most servers would deliver it twice; it
  comes back `unknown` (the ledger says so) and the session goes on with the next record.
- 535 (authentication failed), 530 (authentication required), any other 5xx to the greeting,
  EHLO or MAIL FROM, a server without STARTTLS when asked for it, a TLS certificate that does not
  verify: DestinationError, the same for every record.

Secrets username and password (ACTIVATE__<NAME>__USERNAME / __PASSWORD) are optional: a relay
that needs no login gets neither and the session never sends AUTH; with both set it logs in;
one without the other is a configuration error check() names. rate_limit paces batches, that is
SMTP sessions, per second (the sync's pace); batch_size is the number of messages per session.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import socket
import ssl
import string
import time
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate

from activation.config import NonNegativeWholeNumber, PositiveNumber, PositiveWholeNumber, Strict
from activation.destinations.base import BatchResult, Destination, Operation, Record, RecordResult
from activation.destinations.http import MAX_ERROR_MESSAGE_CHARS, RetryPolicy
from activation.errors import ActivationError, DestinationError
from activation.masking import scrub_pii

# A pragmatic shape check, not RFC 5322: one @, a dot in the domain, no spaces or line breaks.
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
EXTERNAL_ID_HEADER = "X-Onedata-External-Id"
CAMPAIGN_HEADER = "X-Onedata-Campaign-Id"


class SmtpOptions(Strict):
    host: str
    from_address: str
    subject: str
    body_template: str
    port: PositiveWholeNumber = 25
    # STARTTLS on a plain connection (port 587), or TLS from the start (port 465).
    starttls: bool = False
    use_ssl: bool = False
    batch_size: PositiveWholeNumber = 100
    rate_limit: PositiveNumber | None = None
    timeout_seconds: PositiveNumber = 30.0
    max_retries: NonNegativeWholeNumber = 5
    backoff_base_seconds: PositiveNumber = 1.0
    backoff_max_seconds: PositiveNumber = 30.0


class _Transient(Exception):
    """A reply or failure worth reconnecting for."""


class _Rejected(Exception):
    """The server refused this message for good."""


class _AnswerLost(Exception):
    """The connection broke after the whole message had left: it may have been queued."""


class _EndOfDataTracking:
    """Notes when a message's end of data (CRLF.CRLF, the last thing DATA sends) has left."""

    end_of_data_sent = False

    def send(self, s):
        super().send(s)
        sent = s.encode("ascii", "replace") if isinstance(s, str) else s
        if sent.endswith(b"\r\n.\r\n"):
            self.end_of_data_sent = True


class _SMTP(_EndOfDataTracking, smtplib.SMTP):
    pass


class _SMTP_SSL(_EndOfDataTracking, smtplib.SMTP_SSL):
    pass


class SmtpDestination(Destination):
    type_name = "smtp"
    Options = SmtpOptions
    secret_names = ("username", "password")
    supported_modes = ("append",)
    # The service keeps no idempotency key: a resent batch is sent again.
    deduplicates_resends = False

    def __init__(self, config) -> None:
        super().__init__(config)
        self._policy = RetryPolicy.from_options(self.options)
        self._smtp: smtplib.SMTP | None = None

    def check(self) -> None:
        options = self.options
        problems = []
        if not options.host.strip():
            problems.append("host is empty")
        if not 0 < options.port < 65536:
            problems.append(f"port must be 1-65535, got {options.port}")
        if options.starttls and options.use_ssl:
            problems.append("starttls and use_ssl exclude each other (use_ssl is TLS from the start)")
        if not _ADDRESS.match(options.from_address):
            problems.append(f"from_address {scrub_pii(options.from_address)!r} is not an e-mail address")
        for name in ("subject", "body_template"):
            problem = _template_problem(getattr(options, name), self.payload_fields)
            if problem:
                problems.append(f"{name}: {problem}")
        if "email" in self.hashed_fields:
            problems.append("email cannot be hashed: mail goes to the address itself")
        if problems:
            raise ActivationError(f"Destination {self.name}: {'; '.join(problems)}.")
        # Login is optional, but half a login is a mistake.
        missing = self.missing_secrets()
        if len(missing) == 1:
            raise ActivationError(
                f"Destination {self.name} has one of its two login secrets: set {missing[0]} too, "
                "or neither for a server that needs no login."
            )

    def write_batch(
        self, records: Sequence[Record], operation: Operation, idempotency_key: str
    ) -> BatchResult:
        if operation != "add":
            raise ActivationError(
                f"Destination {self.name} sends e-mail (mode append): it takes adds, not {operation}."
            )
        outcomes: dict[str, RecordResult] = {}
        pending: list[tuple[str, EmailMessage]] = []
        for record in records:
            message, problem = self._message(record, idempotency_key)
            if problem:
                outcomes[record["external_id"]] = RecordResult(record["external_id"], problem)
            else:
                pending.append((record["external_id"], message))

        failures, last_failure, position = 0, "", 0
        while position < len(pending):
            external_id, message = pending[position]
            try:
                self._session().send_message(message)
            except _Transient as error:
                # No QUIT: the connection is broken or the server closes it (421).
                self._disconnect(polite=False)
                failures, last_failure = failures + 1, str(error)
                if failures > self._policy.max_retries:
                    break
                delay = self._policy.delay(failures - 1, None)
                self.note_retry(last_failure, failures, self._policy.max_retries + 1, delay)
                time.sleep(delay)
                continue
            except _Rejected as error:
                outcomes[external_id] = RecordResult(external_id, str(error))
            except _AnswerLost:
                self._disconnect(polite=False)
                outcomes[external_id] = RecordResult(
                    external_id, reference=message["Message-ID"], unknown=True
                )
            else:
                outcomes[external_id] = RecordResult(external_id, reference=message["Message-ID"])
            failures, position = 0, position + 1
        self._disconnect()

        if position < len(pending):
            if position == 0:
                raise DestinationError(
                    f"Destination {self.name} ({self.options.host}:{self.options.port}) took no "
                    f"message of the batch after {failures} attempts (last: {last_failure}). "
                    "Batches acknowledged so far are recorded; rerun the sync to resume."
                )
            for external_id, _ in pending[position:]:
                outcomes[external_id] = RecordResult(
                    external_id, f"not sent: the server kept failing (last: {last_failure})"
                )
        return BatchResult(tuple(outcomes[record["external_id"]] for record in records))

    def close(self) -> None:
        self._disconnect()

    # --- messages ----------------------------------------------------------------------------

    def _message(self, record: Record, idempotency_key: str) -> tuple[EmailMessage | None, str | None]:
        address = (record.get("email") or "").strip()
        if not _ADDRESS.match(address):
            return None, "no valid email address (not sent)"
        values = {field: "" if record.get(field) is None else record[field] for field in self.payload_fields}
        message = EmailMessage()
        try:
            message["From"] = self.options.from_address
            message["To"] = address
            message["Subject"] = self.options.subject.format_map(values)
        except ValueError:
            # A line break in a value would let a payload field write its own headers.
            return None, "a field in the subject or address holds a line break (not sent)"
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id(idempotency_key, record["external_id"], self.options.from_address)
        message[EXTERNAL_ID_HEADER] = record["external_id"]
        if self.run is not None:
            message[CAMPAIGN_HEADER] = self.run.campaign_id
        message.set_content(self.options.body_template.format_map(values))
        return message, None

    # --- the session ---------------------------------------------------------------------------

    def _session(self) -> _Session:
        if self._smtp is None:
            self._smtp = self._connect()
        return _Session(self._smtp, self)

    def _connect(self) -> smtplib.SMTP:
        options = self.options
        smtp = None
        try:
            if options.use_ssl:
                smtp = _SMTP_SSL(
                    options.host, options.port, timeout=options.timeout_seconds,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = _SMTP(options.host, options.port, timeout=options.timeout_seconds)
            smtp.ehlo()
            if options.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            username, password = self.secret("username"), self.secret("password")
            if username and password:
                smtp.login(username, password)
            return smtp
        except smtplib.SMTPAuthenticationError as error:
            _quietly_close(smtp)
            raise DestinationError(
                f"Destination {self.name}: {options.host} refused the login ({_reply(error)}). "
                f"Check {self.config.secret_env_var('username')} and "
                f"{self.config.secret_env_var('password')}."
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            _quietly_close(smtp)
            raise DestinationError(
                f"Destination {self.name}: {options.host} does not offer what the settings ask "
                f"for ({error}); check starttls, use_ssl and the login secrets."
            ) from error
        except ssl.SSLError as error:
            _quietly_close(smtp)
            raise DestinationError(
                f"Destination {self.name}: TLS with {options.host}:{options.port} failed "
                f"({type(error).__name__}); check the port, starttls/use_ssl and the server's certificate."
            ) from error
        except smtplib.SMTPResponseException as error:
            _quietly_close(smtp)
            if _temporary(error.smtp_code):
                raise _Transient(_reply(error)) from error
            raise self._refused(error) from error
        except (smtplib.SMTPException, OSError) as error:
            _quietly_close(smtp)
            raise _Transient(
                f"cannot talk to {options.host}:{options.port} ({type(error).__name__})"
            ) from error

    def _disconnect(self, polite: bool = True) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if polite:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        _quietly_close(smtp)

    def _refused(self, error: smtplib.SMTPResponseException) -> DestinationError:
        return DestinationError(
            f"Destination {self.name}: {self.options.host} refused the session ({_reply(error)}). "
            "Check from_address, the login secrets and whether the server relays for this host."
        )


class _Session:
    """Sends one message on an open connection and sorts the server's answer."""

    def __init__(self, smtp: smtplib.SMTP, destination: SmtpDestination) -> None:
        self.smtp = smtp
        self.destination = destination

    def send_message(self, message: EmailMessage) -> None:
        self.smtp.end_of_data_sent = False
        try:
            self.smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            [(code, reply)] = error.recipients.values()
            text = _reply_text(code, reply)
            raise (_Transient(text) if _temporary(code) else _Rejected(text)) from error
        except smtplib.SMTPDataError as error:
            raise (_Transient if _temporary(error.smtp_code) else _Rejected)(_reply(error)) from error
        except smtplib.SMTPSenderRefused as error:
            # MAIL FROM is the same for every record: a permanent refusal is the session's.
            if _temporary(error.smtp_code):
                raise _Transient(_reply(error)) from error
            raise self.destination._refused(error) from error
        except smtplib.SMTPNotSupportedError as error:
            # A non-ASCII address the server cannot take (no SMTPUTF8): this record only.
            raise _Rejected(f"the server cannot take this address ({error})") from error
        except smtplib.SMTPResponseException as error:
            if _temporary(error.smtp_code):
                raise _Transient(_reply(error)) from error
            raise _Rejected(_reply(error)) from error
        except (smtplib.SMTPServerDisconnected, socket.timeout, OSError) as error:
            if self.smtp.end_of_data_sent:
                raise _AnswerLost from error
            raise _Transient(f"connection lost ({type(error).__name__})") from error


def message_id(idempotency_key: str, external_id: str, from_address: str) -> str:
    """The same for the same record in the same batch, on every attempt and every rerun."""
    digest = hashlib.sha256(f"{idempotency_key}\0{external_id}".encode()).hexdigest()[:40]
    return f"<{digest}@{from_address.rpartition('@')[2]}>"


def _template_problem(template: str, payload_fields: Sequence[str]) -> str | None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        return f"not a valid template ({error})"
    for name in names:
        # Plain field names only: attribute or index lookups would reach beyond the value.
        if name not in payload_fields:
            return (
                f"{{{name}}} is not a field sent to this destination "
                f"(fields: {', '.join(payload_fields)}; add it under `fields:`)"
            )
    return None


def _temporary(code: int) -> bool:
    return 400 <= code < 500


def _reply(error: smtplib.SMTPResponseException) -> str:
    return _reply_text(error.smtp_code, error.smtp_error)


def _reply_text(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return scrub_pii(f"{code} {' '.join(text.split())}")[:MAX_ERROR_MESSAGE_CHARS]


def _quietly_close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass
