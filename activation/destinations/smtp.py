"""E-mail over SMTP: one plain-text message per record, one SMTP session per batch
(activation/destinations/smtp_session.py holds the session and sorts the server's replies).

Each message: From from_address (an address, or a display name and address: `品牌
<news@brand.cn>`), To the member's e-mail, Subject `subject` and body `body_template`, both
str.format templates over the payload fields ("Hi {display_name}"; a missing value is empty), a
Message-ID derived from the batch's idempotency key and the record's external_id (a resent batch
carries the same Message-IDs, so the receiving side can drop the copies; it is the record's
reference in the ledger), and X-Onedata-External-Id / X-Onedata-Campaign-Id headers. With
`unsubscribe_url`, List-Unsubscribe (a link carrying a signed token: campaign, one_id,
destination) and List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058): the receiver
lands an `unsubscribed` feedback event, which revokes the member's e-mail consent on the next
dbt build. An 8-bit body goes with BODY=8BITMIME (smtp_session.py).

A 4xx reply or a dropped connection: the destination waits (exponential backoff) and reconnects,
resending from the message that failed; max_retries failures in a row end the batch: if nothing
of it was taken that raises DestinationError, else the messages not yet sent are rejected (the
sync retries them next run). A message whose end of data left before the connection broke comes
back `unknown` and is never resent (most servers would deliver it twice).

Secrets username and password (ACTIVATE__<NAME>__USERNAME / __PASSWORD) are optional: a relay
that needs no login gets neither; with both set the session logs in; one without the other is a
configuration error check() names. rate_limit paces batches, that is SMTP sessions, per second;
batch_size is the number of messages per session.
"""

from __future__ import annotations

import hashlib
import os
import string
import time
from collections.abc import Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, parseaddr
from typing import Annotated

from pydantic import StringConstraints

from activation.config import NonNegativeWholeNumber, PositiveNumber, PositiveWholeNumber, Strict
from activation.destinations.base import BatchResult, Destination, Operation, Record, RecordResult
from activation.destinations.http import RetryPolicy
from activation.destinations.smtp_session import AnswerLost, Rejected, SmtpSession, Transient
from activation.errors import ActivationError, DestinationError
from activation.masking import scrub_pii
from activation.signing import FEEDBACK_SECRET_ENV, unsubscribe_token

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
    # Where a recipient unsubscribes in one click (RFC 8058): the public https address of
    # `activate feedback serve`'s /feedback/unsubscribe. Bulk senders to Gmail and Yahoo need it.
    unsubscribe_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None


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
        self._session = SmtpSession(self)

    def check(self) -> None:
        options = self.options
        problems = []
        if not options.host.strip():
            problems.append("host is empty")
        if not 0 < options.port < 65536:
            problems.append(f"port must be 1-65535, got {options.port}")
        if options.starttls and options.use_ssl:
            problems.append("starttls and use_ssl exclude each other (use_ssl is TLS from the start)")
        if mailbox(options.from_address) is None:
            problems.append(
                f"from_address {scrub_pii(options.from_address)!r} is not an e-mail address "
                "(news@brand.cn, or 品牌 <news@brand.cn>)"
            )
        for name in ("subject", "body_template"):
            problem = _template_problem(getattr(options, name), self.payload_fields)
            if problem:
                problems.append(f"{name}: {problem}")
        if "email" in self.hashed_fields:
            problems.append("email cannot be hashed: mail goes to the address itself")
        if options.unsubscribe_url and not os.environ.get(FEEDBACK_SECRET_ENV):
            problems.append(
                f"unsubscribe_url needs {FEEDBACK_SECRET_ENV}, the secret `activate feedback serve` "
                "checks the links with"
            )
        if problems:
            raise ActivationError(f"Destination {self.name}: {'; '.join(problems)}.")
        # Login is optional, but half a login is a mistake.
        missing = self.missing_secrets()
        if len(missing) == 1:
            raise ActivationError(
                f"Destination {self.name} has one of its two login secrets: set {missing[0]} too, "
                "or neither for a server that needs no login."
            )

    def write_batch(self, records: Sequence[Record], operation: Operation, idempotency_key: str) -> BatchResult:
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
                self._session.send(message)
            except Transient as error:
                # No QUIT: the connection is broken or the server closes it (421).
                self._session.close(polite=False)
                failures, last_failure = failures + 1, str(error)
                if failures > self._policy.max_retries:
                    break
                delay = self._policy.delay(failures - 1, None)
                self.note_retry(last_failure, failures, self._policy.max_retries + 1, delay)
                time.sleep(delay)
                continue
            except Rejected as error:
                outcomes[external_id] = RecordResult(external_id, str(error))
            except AnswerLost:
                self._session.close(polite=False)
                outcomes[external_id] = RecordResult(external_id, reference=message["Message-ID"], unknown=True)
            else:
                outcomes[external_id] = RecordResult(external_id, reference=message["Message-ID"])
            failures, position = 0, position + 1
        self._session.close()

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
        self._session.close()

    def _message(self, record: Record, idempotency_key: str) -> tuple[EmailMessage | None, str | None]:
        address = mailbox((record.get("email") or "").strip())
        if address is None or address.display_name:
            return None, "no valid email address (not sent)"
        values = {field: "" if record.get(field) is None else record[field] for field in self.payload_fields}
        message = EmailMessage()
        try:
            message["From"] = mailbox(self.options.from_address)
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
            if self.options.unsubscribe_url:
                # RFC 8058 one-click: the client POSTs List-Unsubscribe=One-Click to the link.
                token = unsubscribe_token(
                    os.environ[FEEDBACK_SECRET_ENV], self.run.campaign_id, record["external_id"], self.name
                )
                separator = "&" if "?" in self.options.unsubscribe_url else "?"
                message["List-Unsubscribe"] = f"<{self.options.unsubscribe_url}{separator}token={token}>"
                message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(self.options.body_template.format_map(values))
        return message, None


def mailbox(text: str) -> Address | None:
    """An address, optionally with a display name (`品牌 <news@brand.cn>`), or None: one @ with
    text on both sides and a dot in the domain, no spaces or line breaks in the address."""
    if len(getaddresses([text])) != 1:
        return None  # a list of addresses, not one
    display_name, address = parseaddr(text)
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in address):
        return None
    if any(c in "\r\n" for c in text):
        return None
    try:
        return Address(display_name=display_name, username=local, domain=domain)
    except (ValueError, IndexError):
        return None


def message_id(idempotency_key: str, external_id: str, from_address: str) -> str:
    """The same for the same record in the same batch, on every attempt and every rerun."""
    digest = hashlib.sha256(f"{idempotency_key}\0{external_id}".encode()).hexdigest()[:40]
    return f"<{digest}@{from_address.rpartition('@')[2].rstrip('>').strip()}>"


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
