"""One SMTP session of the smtp destination (RFC 5321 via smtplib) and how its replies are sorted.

connect (SMTP, or SMTP over TLS with `use_ssl`), EHLO, STARTTLS when `starttls`, AUTH when both
login secrets are set; then per message MAIL FROM, RCPT TO, DATA; QUIT at the end.

Replies, as send() raises them:
- 5xx to RCPT or DATA: Rejected (that message only, with the server's reply, PII scrubbed);
- 4xx anywhere (421 closing, 450 mailbox busy, 451 local error), dropped connections and timeouts:
  Transient (the destination reconnects after a backoff and resends from that message);
- a connection lost after the message's end of data left: AnswerLost (the server may have
  queued it; it is not resent);
- 535/530 (authentication), any other 5xx to the greeting, EHLO or MAIL FROM, no STARTTLS when
  asked, a certificate that does not verify: DestinationError, the same for every message.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage

from activation.destinations.http import MAX_ERROR_MESSAGE_CHARS
from activation.errors import DestinationError
from activation.masking import scrub_pii


class Transient(Exception):
    """A reply or failure worth reconnecting for."""


class Rejected(Exception):
    """The server refused this message for good."""


class AnswerLost(Exception):
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


class SmtpSession:
    """A connection opened on first use and kept for the batch's messages."""

    def __init__(self, destination) -> None:
        self.destination = destination
        self._smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        smtp.end_of_data_sent = False
        options = []
        if _is_8bit(message):
            # RFC 6152: an 8-bit body is announced with BODY=8BITMIME; a server without the
            # extension gets it quoted-printable instead.
            if smtp.has_extn("8bitmime"):
                options.append("BODY=8BITMIME")
            else:
                message.set_content(message.get_content(), cte="quoted-printable")
        try:
            smtp.send_message(message, mail_options=options)
        except smtplib.SMTPRecipientsRefused as error:
            [(code, reply)] = error.recipients.values()
            text = _reply_text(code, reply)
            raise (Transient(text) if _temporary(code) else Rejected(text)) from error
        except smtplib.SMTPDataError as error:
            raise (Transient if _temporary(error.smtp_code) else Rejected)(_reply(error)) from error
        except smtplib.SMTPSenderRefused as error:
            # MAIL FROM is the same for every record: a permanent refusal is the session's.
            if _temporary(error.smtp_code):
                raise Transient(_reply(error)) from error
            raise self._refused(error) from error
        except smtplib.SMTPNotSupportedError as error:
            # A non-ASCII address the server cannot take (no SMTPUTF8): this record only.
            raise Rejected(f"the server cannot take this address ({error})") from error
        except smtplib.SMTPResponseException as error:
            if _temporary(error.smtp_code):
                raise Transient(_reply(error)) from error
            raise Rejected(_reply(error)) from error
        except (smtplib.SMTPServerDisconnected, socket.timeout, OSError) as error:
            if smtp.end_of_data_sent:
                raise AnswerLost from error
            raise Transient(f"connection lost ({type(error).__name__})") from error

    def close(self, polite: bool = True) -> None:
        """QUIT (polite) and close; without QUIT when the connection is broken."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if polite:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        _quietly_close(smtp)

    def _connect(self) -> smtplib.SMTP:
        destination, options = self.destination, self.destination.options
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
            username, password = destination.secret("username"), destination.secret("password")
            if username and password:
                smtp.login(username, password)
            return smtp
        except smtplib.SMTPAuthenticationError as error:
            _quietly_close(smtp)
            raise DestinationError(
                f"Destination {destination.name}: {options.host} refused the login ({_reply(error)}). "
                f"Check {destination.config.secret_env_var('username')} and "
                f"{destination.config.secret_env_var('password')}."
            ) from error
        except smtplib.SMTPNotSupportedError as error:
            _quietly_close(smtp)
            raise DestinationError(
                f"Destination {destination.name}: {options.host} does not offer what the settings "
                f"ask for ({error}); check starttls, use_ssl and the login secrets."
            ) from error
        except ssl.SSLError as error:
            _quietly_close(smtp)
            raise DestinationError(
                f"Destination {destination.name}: TLS with {options.host}:{options.port} failed "
                f"({type(error).__name__}); check the port, starttls/use_ssl and the server's certificate."
            ) from error
        except smtplib.SMTPResponseException as error:
            _quietly_close(smtp)
            if _temporary(error.smtp_code):
                raise Transient(_reply(error)) from error
            raise self._refused(error) from error
        except (smtplib.SMTPException, OSError) as error:
            _quietly_close(smtp)
            raise Transient(f"cannot talk to {options.host}:{options.port} ({type(error).__name__})") from error

    def _refused(self, error: smtplib.SMTPResponseException) -> DestinationError:
        destination = self.destination
        return DestinationError(
            f"Destination {destination.name}: {destination.options.host} refused the session "
            f"({_reply(error)}). Check from_address, the login secrets and whether the server "
            "relays for this host."
        )


def _is_8bit(message: EmailMessage) -> bool:
    return message.get("Content-Transfer-Encoding", "").lower() == "8bit"


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
