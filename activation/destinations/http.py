"""One HTTP session per destination run, with timeouts and retries every HTTP destination shares.

Transient failures (connection errors, timeouts, 429, 5xx, and whatever a service signals as
"busy" in its own error body) are retried with exponential backoff, honouring Retry-After up to
max_retry_after_seconds (a service asking for a longer wait stops the sync, to be rerun later).
Each retry is reported to `on_retry` (the destination counts and logs it). Any other answer is
returned to the destination, which decides what it means for its records.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3

from activation.config import NonNegativeWholeNumber, PositiveNumber, Strict
from activation.errors import DestinationError
from activation.masking import scrub_pii

USER_AGENT = "onedata-activate/0.1"
MAX_ERROR_MESSAGE_CHARS = 300

# A service's own throttling or busy signal inside an answer that is not 429/5xx (WeCom's
# errcode 45009, Meta's error code 17 on HTTP 400): None when the answer is final, else the
# seconds to wait (0.0 = use the backoff).
TransientCheck = Callable[[requests.Response], "float | None"]
# Told of each retry before its wait: (what failed, the attempt that failed, attempts allowed,
# seconds it waits).
RetryReport = Callable[[str, int, int, float], None]


class HttpOptions(Strict):
    """The YAML options every HTTP destination shares: pace, timeouts and retries. A
    destination's Options derive from it."""

    # Calls per second; none: as fast as the service answers.
    rate_limit: PositiveNumber | None = None
    connect_timeout_seconds: PositiveNumber = 5.0
    read_timeout_seconds: PositiveNumber = 30.0
    max_retries: NonNegativeWholeNumber = 5
    backoff_base_seconds: PositiveNumber = 1.0
    backoff_max_seconds: PositiveNumber = 30.0
    # The longest Retry-After honoured; a longer one stops the sync (rerun it later).
    max_retry_after_seconds: PositiveNumber = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 5
    backoff_base_seconds: float = 1.0
    # The ceiling of the exponential backoff (not of a service's Retry-After).
    backoff_max_seconds: float = 30.0
    max_retry_after_seconds: float = 300.0
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 30.0

    @classmethod
    def from_options(cls, options) -> RetryPolicy:
        """Read the fields of the same names from a destination's Options, where present."""
        return cls(
            **{
                name: getattr(options, name)
                for name in cls.__dataclass_fields__
                if hasattr(options, name)
            }
        )

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when it gave one (0 = at once), else exponential backoff."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2**attempt)
        # Half fixed, half random: spreads retries of parallel clients without losing the backoff.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class HttpClient:
    def __init__(
        self,
        destination_name: str,
        policy: RetryPolicy,
        headers: dict | None = None,
        *,
        on_retry: RetryReport | None = None,
    ):
        self.destination_name = destination_name
        self.policy = policy
        self.on_retry = on_retry
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._session: requests.Session | None = None

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
            self._session.headers.update(self._headers)
        return self._session

    def request(
        self,
        method: str,
        url: str,
        *,
        transient: TransientCheck | None = None,
        prepare: Callable[[], dict] | None = None,
        resend_safe: bool = True,
        **kwargs,
    ) -> requests.Response:
        """Send with retries; `prepare` is called before each attempt for fresh keyword
        arguments (a new signature timestamp, a refreshed token).

        resend_safe=False is for a request the service would carry out twice if it came twice
        (an SMS send without a request id): it is retried only when it surely never arrived
        (the connection was refused) or the service answered that it did not take it (429,
        5xx, busy); a lost answer raises at once, so nothing is sent twice."""
        attempts = self.policy.max_retries + 1
        failure = "no attempt"
        for attempt in range(attempts):
            retry_after = None
            try:
                response = self.session.request(
                    method,
                    url,
                    timeout=(self.policy.connect_timeout_seconds, self.policy.read_timeout_seconds),
                    allow_redirects=False,
                    **{**kwargs, **(prepare() if prepare else {})},
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                failure = type(error).__name__
                if not resend_safe and not _never_arrived(error):
                    raise DestinationError(
                        f"Destination {self.destination_name} at {display_url(url)}: the answer "
                        f"was lost ({failure}) and the request may have been carried out; not "
                        "resent, since the service cannot recognise a resent request."
                    ) from error
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    failure = f"HTTP {response.status_code}"
                    retry_after = retry_after_seconds(response)
                else:
                    wait = transient(response) if transient else None
                    if wait is None:
                        return response
                    failure = f"HTTP {response.status_code}: {error_message(response)}"
                    retry_after = wait or None  # 0.0 from the hook: use the backoff
            if retry_after is not None and retry_after > self.policy.max_retry_after_seconds:
                raise DestinationError(
                    f"Destination {self.destination_name} at {display_url(url)} asked to wait "
                    f"{retry_after:,.0f} s before the next request ({failure}), more than "
                    f"max_retry_after_seconds ({self.policy.max_retry_after_seconds:,.0f} s). "
                    "Batches acknowledged so far are recorded; rerun the sync after that wait to resume."
                )
            if attempt + 1 < attempts:
                delay = self.policy.delay(attempt, retry_after)
                if self.on_retry:
                    self.on_retry(failure, attempt + 1, attempts, delay)
                time.sleep(delay)
        raise DestinationError(
            f"Destination {self.destination_name} at {display_url(url)} did not acknowledge a "
            f"batch after {attempts} attempts (last: {failure}). Batches acknowledged so far are "
            "recorded; rerun the sync to resume."
        )

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def _never_arrived(error: Exception) -> bool:
    """The connection was never made: the request cannot have been carried out."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def retry_after_seconds(response: requests.Response) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP-date (RFC 9110); None when absent or
    unreadable (the exponential backoff then applies)."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0.0, (moment - dt.datetime.now(dt.UTC)).total_seconds())


def error_message(response: requests.Response, *keys: str) -> str:
    """The service's message, PII scrubbed and shortened; `keys` name where the JSON body
    keeps it (default: "error", then the raw text)."""
    try:
        body = response.json()
        message = next((str(body[key]) for key in (*keys, "error") if body.get(key)), response.text)
    except (ValueError, AttributeError, TypeError):
        message = response.text or response.reason or ""
    return scrub_pii(str(message).strip())[:MAX_ERROR_MESSAGE_CHARS]


def display_url(url: str) -> str:
    """The url without credentials or query string (tokens travel there), safe to print."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
