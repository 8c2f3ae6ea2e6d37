"""The one interface every destination implements, and the types it exchanges with a sync.

A destination declares what it needs (its options and secrets, the batch size and rate limit
it can take, which payload fields must be hashed) and does one thing: write a batch of records
in one call and say, per record, whether it was taken.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

from pydantic import BaseModel

from activation.destinations.normalise import DEFAULT_COUNTRY, NORMALISERS, hash_hex
from activation.errors import ActivationError
from activation.warehouse import AUDIENCE_COLUMNS, CONSENT_CHANNELS

logger = logging.getLogger("activation.destinations")

Operation = Literal["add", "remove", "update"]
OPERATIONS: tuple[Operation, ...] = ("remove", "add", "update")

# upsert: add and update, never remove; mirror: add, update and remove (the destination holds
# exactly the audience); append: add each member once per campaign, never update or remove
# (messages: a member who was sent is not sent again).
Mode = Literal["upsert", "mirror", "append"]
MODES: tuple[Mode, ...] = ("mirror", "upsert", "append")

# The address a channel needs: a member without any of these cannot be reached on it.
CHANNEL_ADDRESS_FIELDS: dict[str, tuple[str, ...]] = {
    "sms": ("phone",),
    "email": ("email",),
    "wecom": ("wechat_unionid",),
    "wechat": ("wechat_openid",),
    "app_push": ("app_device_id",),
    "ad_platform": ("phone", "email"),
}
assert tuple(CHANNEL_ADDRESS_FIELDS) == CONSENT_CHANNELS, "one address rule per consent channel"
# The channel a contact key reaches a member on. A destination always sends its own channel's
# address; another channel's contact key only when its `fields` name it, and then only for the
# members who consented to that channel (PIPL's data minimisation): null for the others.
CONTACT_KEY_CHANNELS: dict[str, str] = {
    "phone": "sms",
    "email": "email",
    "wechat_unionid": "wecom",
    "wechat_openid": "wechat",
    "app_device_id": "app_push",
}
# `fields: generic`: the channel's address (always sent) and the profile fields; no other
# channel's contact key.
GENERIC_FIELDS = ("display_name", "member_level", "lifecycle_stage", "rfm_group")
# Audience columns a destination may ask for: the contract minus ids, consent flags and dates.
PAYLOAD_FIELD_CHOICES = tuple(
    column for column in AUDIENCE_COLUMNS
    if column not in ("one_id", "audience_name", "as_of_date") and not column.startswith("is_")
)

Record = dict[str, Any]
"""One record as sent: {"external_id": one_id, **payload fields}, plus "variant" when the
campaign is A/B split (every record of a batch has the same variant)."""


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    audience_name: str
    destination_name: str
    campaign_id: str
    # What the run will send, per operation: (batches, records), as the sync planned it before
    # the first batch (pending batches of earlier runs included). Services that number a run's
    # uploads in sessions (Meta) read it; empty when a destination is driven by hand.
    planned: Mapping[str, tuple[int, int]] = dataclasses.field(default_factory=dict)


class RecordResult(NamedTuple):
    # A named tuple, not a dataclass: a million are made per large sync.
    external_id: str
    error: str | None = None
    # The service's own id for what it did with the record (a BizId, a msgid, a session id):
    # kept in the ledger so feedback can be pulled or matched later.
    reference: str | None = None
    # The answer was lost after the service may have carried the record out (an SMTP server
    # that dropped the connection after the message's end): recorded `unknown`, never resent.
    unknown: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SentRecord:
    """One record a destination took, as `activate feedback pull` hands it back to it."""

    one_id: str
    campaign_id: str
    # The member's address on the destination's channel (read from the warehouse at pull time,
    # for services that are queried by it) and the service's reference from the ledger.
    address: str | None
    reference: str | None
    sent_at: dt.datetime


class BatchResult:
    """Per-record outcome of one acknowledged batch: `results`, one per record sent."""

    __slots__ = ("_results", "_accepted")

    def __init__(self, results: Sequence[RecordResult]) -> None:
        self._results: tuple[RecordResult, ...] | None = tuple(results)
        self._accepted: Sequence[Record] | None = None

    @classmethod
    def all_accepted(cls, records: Sequence[Record]) -> BatchResult:
        """Every record taken, nothing more said: the per-record results are made only when
        asked for (a large sync asks only `accepted_everything`)."""
        result = cls(())
        result._results, result._accepted = None, records
        return result

    @property
    def accepted_everything(self) -> bool:
        return self._results is None

    @property
    def results(self) -> tuple[RecordResult, ...]:
        if self._results is None:
            self._results = tuple(RecordResult(record["external_id"]) for record in self._accepted)
        return self._results

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BatchResult) and self.results == other.results

    def __repr__(self) -> str:
        return f"BatchResult({self.results!r})"

    @classmethod
    def all_rejected(cls, records: Sequence[Record], error: str) -> BatchResult:
        return cls(tuple(RecordResult(record["external_id"], error) for record in records))


@dataclass(frozen=True)
class SyncGuardrails:
    """When a sync in a mode that removes members (mirror) stops before sending anything
    (activation/guardrails.py). Set for every destination by the top-level `sync_guardrails` of
    destinations.yml, and per destination under its own `sync_guardrails`."""

    # Refuse to remove more than this share of the members the destination holds.
    max_removal_share: float = 0.10
    # Refuse when the audience has lost more than this share of its members since the last
    # completed sync. Half: an audience's ordinary day-to-day churn is a few percent, and even a
    # rule that swings with the calendar (bought in the last 30 days, after a big sale) rarely
    # loses half its members from one sync to the next; a broken build (an export cut short, an
    # as-of date run ahead) usually loses far more. The removal share catches most such builds
    # already; this catches the rest, where the destination holds few of the members lost.
    max_shrink_share: float = 0.50
    # Go on whatever the plan removes (per destination only; `--allow-removals` for one run).
    allow_removals: bool = False


@dataclass(frozen=True)
class DestinationConfig:
    """One entry of destinations.yml, validated; `options` is the type's own Options."""

    name: str
    type: str
    channel: str
    payload_fields: tuple[str, ...]
    hashed_fields: frozenset[str]
    holdout_share: float
    options: Any
    secrets: Mapping[str, str | None]
    mode: Mode = "mirror"
    # What one record sent costs (currency of the brand's GMV); the review's cost and ROI.
    cost_per_record: float = 0.0
    guardrails: SyncGuardrails = SyncGuardrails()

    def secret_env_var(self, key: str) -> str:
        return secret_env_var(self.name, key)


def secret_env_var(destination_name: str, key: str) -> str:
    return f"ACTIVATE__{destination_name.upper()}__{key.upper()}"


class Destination(ABC):
    type_name: ClassVar[str]
    # The type's own options, a pydantic model (defaults = optional), read from its entry in
    # destinations.yml by activation.config's loader.
    Options: ClassVar[type[BaseModel]]
    # Secret keys, read only from ACTIVATE__<NAME>__<KEY>; check() names each one missing.
    secret_names: ClassVar[tuple[str, ...]] = ()
    # Secrets used when set (a Meta app secret, for apps that require appsecret_proof).
    optional_secret_names: ClassVar[tuple[str, ...]] = ()
    # Sync modes the service can honour; the first is the default when the YAML names none.
    supported_modes: ClassVar[tuple[Mode, ...]] = MODES
    # The service's own limit of records per call; a configured batch_size may not exceed it.
    max_batch_size: ClassVar[int | None] = None
    # Fields the service only takes normalised and hashed: field -> normaliser name
    # (activation.destinations.normalise.NORMALISERS). Fields listed in the YAML's
    # hashed_fields are normalised with `trimmed_lower`.
    field_normalisers: ClassVar[Mapping[str, str]] = {}
    hash_algorithm: ClassVar[str] = "sha256"
    # A third party that uses the data for its own advertising: PIPL asks for the member's
    # separate consent (is_ad_platform_consented) on top of the channel's consent.
    is_ad_platform: ClassVar[bool] = False
    # A cap the service itself enforces per member: (messages, "calendar_month" | "day").
    platform_frequency_cap: ClassVar[tuple[int, str] | None] = None
    # True when pull_feedback can query the service for delivery or conversion statuses.
    supports_feedback_pull: ClassVar[bool] = False
    # True when a batch resent under the same idempotency key is not delivered twice (the
    # service deduplicates on the key, or writing twice changes nothing). The sync then lets the
    # warehouse write of one batch overlap the sending of the next; otherwise it waits.
    deduplicates_resends: ClassVar[bool] = True

    def __init__(self, config: DestinationConfig) -> None:
        self.config = config
        self.options = config.options
        self.run: RunInfo | None = None
        # Requests sent again (or reconnections) after a transient failure, since the
        # destination was built: the sync reads it around each batch.
        self.retries = 0

    def note_retry(self, failure: str, attempt: int, attempts: int, delay: float) -> None:
        """Count a retry and say it on the log (stderr in the CLI): a service that does not
        answer is never waited on in silence. `failure` never holds PII (a status, an error
        class, the service's scrubbed message)."""
        self.retries += 1
        logger.warning(
            "Destination %s: attempt %d of %d failed (%s); retrying in %.1f s",
            self.name, attempt, attempts, failure, delay,
        )

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def channel(self) -> str:
        """The consent channel this destination touches."""
        return self.config.channel

    @property
    def payload_fields(self) -> tuple[str, ...]:
        return self.config.payload_fields

    @property
    def hashed_fields(self) -> frozenset[str]:
        """Fields sent as hashes: the service's own plus those the YAML asks for."""
        own = frozenset(self.field_normalisers) & set(self.payload_fields)
        return own | self.config.hashed_fields

    @property
    def mode(self) -> Mode:
        return self.config.mode

    def encode(self, record: Record) -> tuple[Record | None, str | None]:
        """The record as the service takes it: hashed fields normalised, then hashed.

        Returns (record, None), or (None, reason) when no address survives normalisation: the
        record is rejected before sending, and the reason never holds the value.
        """
        hashed = self.hashed_fields
        if not hashed:
            return record, None
        encoded = dict(record)
        unusable = []
        for field_name in hashed:
            value = record.get(field_name)
            if value is None:
                continue
            normaliser = NORMALISERS[self.field_normalisers.get(field_name, "trimmed_lower")]
            normalised = normaliser(value, self.default_country)
            if normalised is None:
                unusable.append(field_name)
            encoded[field_name] = None if normalised is None else hash_hex(normalised, self.hash_algorithm)
        address_fields = CHANNEL_ADDRESS_FIELDS[self.channel]
        if not any(encoded.get(field_name) for field_name in address_fields):
            problem = f"invalid {' and '.join(sorted(unusable))}" if unusable else "no address"
            return None, f"{problem} for {self.type_name} (not sent)"
        return encoded, None

    @property
    def default_country(self) -> str:
        """The country (ISO 3166 alpha-2) of a phone number written without its country code."""
        return getattr(self.options, "default_country", None) or DEFAULT_COUNTRY

    @property
    def batch_size(self) -> int | None:
        """Records per call; None sends each operation in one call."""
        return getattr(self.options, "batch_size", None)

    @property
    def rate_limit(self) -> float | None:
        """Calls per second; None means unlimited."""
        return getattr(self.options, "rate_limit", None)

    def secret(self, key: str) -> str | None:
        return self.config.secrets.get(key)

    def missing_secrets(self) -> list[str]:
        return [self.config.secret_env_var(key) for key in self.secret_names if not self.secret(key)]

    def start_run(self, run: RunInfo) -> None:
        """Called once before the first batch of a sync run."""
        self.run = run

    def prepare(self, connection, catalog) -> None:
        """Called by a sync after start_run, with the warehouse it planned from (read it only):
        what the warehouse knows about the service's own ids, if the destination uses any.
        Most destinations need nothing."""

    @abstractmethod
    def check(self) -> None:
        """Raise ActivationError if the destination is not usable; makes no network call."""

    @abstractmethod
    def write_batch(
        self, records: Sequence[Record], operation: Operation, idempotency_key: str
    ) -> BatchResult:
        """Send one batch in one call. Raise DestinationError if the batch was not acknowledged."""

    def close(self) -> None:
        """Release connections; called once at the end of a sync run."""

    def pull_feedback(self, sent: Sequence[SentRecord]) -> Iterator[dict[str, Any]]:
        """What the service reports about records it took, as feedback_events rows (landing
        contract: campaign_id, one_id, event_type, occurred_at, optionally order_id and
        revenue_amount); one_id and campaign_id come from the SentRecord asked about."""
        raise ActivationError(f"Destination type {self.type_name} offers no status query to pull.")

    @classmethod
    def option_names(cls) -> list[str]:
        return list(cls.Options.model_fields)
