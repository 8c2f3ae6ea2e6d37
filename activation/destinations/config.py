"""destinations.yml, read once per command through activation.config's typed loader.

    destinations:
      <name>:
        type: webhook | file | sms_gateway | wecom | meta_custom_audience | smtp
        channel: sms | email | wecom | wechat | app_push | ad_platform
        fields: generic | [field, ...]       # optional; the channel's address is always sent
        hashed_fields: [field, ...]          # optional; sent as sha256 hex
        holdout_share: 0.10                  # optional
        mode: mirror | upsert | append       # optional; the type's first mode by default
        cost_per_record: 0.045               # optional
        sync_guardrails: {max_removal_share: 0.10, max_shrink_share: 0.50, allow_removals: false}
                                             # optional, each key too (activation/guardrails.py)
        <the type's own options (its Options model): url, path, batch_size, rate_limit, ...>
    frequency_caps: [{channel, max_sends, window_days}, ...]   # optional
    global_holdout_share: 0.0                                  # optional
    sync_guardrails: {max_removal_share: 0.10, max_shrink_share: 0.50}
                                             # optional: every destination's defaults

String values may reference environment variables as ${VAR} or ${VAR:-default}. Secrets never
appear in the file: they come from ACTIVATE__<NAME>__<KEY> environment variables.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from activation.config import (
    Channel,
    ConfigError,
    HoldoutShare,
    Name,
    Number,
    PositiveWholeNumber,
    Share,
    Strict,
    problem,
    read_yaml,
    validate,
)
from activation.destinations.base import (
    CHANNEL_ADDRESS_FIELDS,
    GENERIC_FIELDS,
    PAYLOAD_FIELD_CHOICES,
    Destination,
    DestinationConfig,
    Mode,
    SyncGuardrails,
    secret_env_var,
)
from activation.errors import ActivationError

# type name -> "module:class"; a module is imported only when a destination of its type is used.
DESTINATION_TYPE_PATHS: dict[str, str] = {
    "webhook": "activation.destinations.webhook:WebhookDestination",
    "file": "activation.destinations.file:FileDestination",
    "sms_gateway": "activation.destinations.sms:SmsGatewayDestination",
    "wecom": "activation.destinations.wecom:WecomDestination",
    "meta_custom_audience": "activation.destinations.meta:MetaCustomAudienceDestination",
    "smtp": "activation.destinations.smtp:SmtpDestination",
}
DEFAULT_HOLDOUT_SHARE = 0.10

PayloadField = Literal[PAYLOAD_FIELD_CHOICES]  # type: ignore[valid-type]


def _known_type(value: Any) -> Any:
    # Read when a file is loaded, not when this module is: a type registered since counts.
    if value not in DESTINATION_TYPE_PATHS:
        raise ValueError(f"must be one of {', '.join(DESTINATION_TYPE_PATHS)}")
    return value


TypeName = Annotated[str, AfterValidator(_known_type)]


def _generic_fields(value: Any) -> Any:
    return list(GENERIC_FIELDS) if value == "generic" else value


class GuardrailLimits(Strict):
    """The top-level `sync_guardrails`: the thresholds every destination starts from."""

    max_removal_share: Share | None = None
    max_shrink_share: Share | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_blanket_permission(cls, value: Any) -> Any:
        if isinstance(value, dict) and "allow_removals" in value:
            raise ValueError(
                "allow_removals is set per destination (under its own sync_guardrails), not for all of them"
            )
        return value


class DestinationGuardrailLimits(Strict):
    """A destination's own `sync_guardrails`: only the keys given change the defaults."""

    max_removal_share: Share | None = None
    max_shrink_share: Share | None = None
    allow_removals: bool | None = None


class DestinationEntry(BaseModel):
    """The settings every destination has; the other keys are its type's Options."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: TypeName
    channel: Channel
    # `generic` stands for GENERIC_FIELDS.
    fields: Annotated[list[PayloadField], BeforeValidator(_generic_fields)] = []
    hashed_fields: list[PayloadField] = []
    holdout_share: HoldoutShare = DEFAULT_HOLDOUT_SHARE
    mode: Mode | None = None
    cost_per_record: Annotated[Number, Field(ge=0)] = 0.0
    sync_guardrails: DestinationGuardrailLimits | None = None


class FrequencyCap(Strict):
    """At most max_sends records sent to one member on a channel in any window_days days,
    counted across every campaign and destination of that channel."""

    channel: Channel
    max_sends: PositiveWholeNumber
    window_days: PositiveWholeNumber


class DestinationsDocument(Strict):
    destinations: dict[Name, DestinationEntry]
    frequency_caps: list[FrequencyCap] = []
    # The brand's long-run control group, contacted by no campaign (0: none).
    global_holdout_share: HoldoutShare = 0.0
    sync_guardrails: GuardrailLimits = GuardrailLimits()


@dataclass(frozen=True)
class Destinations:
    """destinations.yml, read and checked once: every destination's configuration and the
    settings all of them share."""

    path: Path
    configs: Mapping[str, DestinationConfig]
    frequency_caps: tuple[FrequencyCap, ...] = ()
    global_holdout_share: float = 0.0

    def config(self, name: str) -> DestinationConfig:
        if name not in self.configs:
            raise ActivationError(
                f"Unknown destination {name!r}. Configured in {self.path}: "
                f"{', '.join(self.configs) or 'none'}."
            )
        return self.configs[name]

    def build(self, name: str) -> Destination:
        return build_destination(self.config(name))

    def described(self) -> list[dict[str, Any]]:
        """What `activate destinations` shows: each destination's settings and whether each of
        its secrets is set (never a value)."""
        described = []
        for name, config in self.configs.items():
            destination = self.build(name)
            described.append({
                "name": name,
                "type": config.type,
                "channel": config.channel,
                "mode": config.mode,
                "batch_size": destination.batch_size,
                "holdout_share": config.holdout_share,
                "fields": list(config.payload_fields),
                "secrets": {
                    config.secret_env_var(key): bool(destination.secret(key))
                    for key in (*destination.secret_names, *destination.optional_secret_names)
                },
            })
        return described


def load_destinations(path: Path) -> Destinations:
    if not path.exists():
        raise ActivationError(f"No destinations file at {path} (set ONEDATA_DESTINATIONS).")
    document = validate(DestinationsDocument, read_yaml(path, expand_env=True), path)
    defaults = dataclasses.replace(SyncGuardrails(), **_given(document.sync_guardrails))
    configs, problems = {}, []
    for name, entry in document.destinations.items():
        try:
            configs[name] = _destination_config(name, entry, defaults, path, problems)
        except ConfigError as error:
            problems += error.problems
    if problems:
        raise ConfigError(path, problems)
    return Destinations(
        path=path,
        configs=configs,
        frequency_caps=tuple(document.frequency_caps),
        global_holdout_share=document.global_holdout_share,
    )


def load_destination_configs(path: Path) -> dict[str, DestinationConfig]:
    return dict(load_destinations(path).configs)


def destination_type(type_name: str) -> type[Destination]:
    module_name, class_name = DESTINATION_TYPE_PATHS[type_name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_destination(config: DestinationConfig) -> Destination:
    return destination_type(config.type)(config)


def _destination_config(
    name: str, entry: DestinationEntry, defaults: SyncGuardrails, path: Path, problems: list[str]
) -> DestinationConfig:
    """The entry with its type's options; the rules that span several keys add to problems."""
    destination_class = destination_type(entry.type)
    where = ("destinations", name)
    own_options = dict(entry.model_extra or {})
    for key in (*destination_class.secret_names, *destination_class.optional_secret_names):
        if own_options.pop(key, None) is not None:
            problems.append(problem(
                (*where, key), f"secrets do not belong in the file; set {secret_env_var(name, key)} instead"
            ))
    options = validate(destination_class.Options, own_options, path, where)
    # The channel's address fields first, then the extra fields asked for, without repeats.
    payload_fields = tuple(dict.fromkeys([*CHANNEL_ADDRESS_FIELDS[entry.channel], *entry.fields]))
    if not set(entry.hashed_fields) <= set(payload_fields):
        problems.append(problem(
            (*where, "hashed_fields"), f"must be among the fields sent: {', '.join(payload_fields)}"
        ))
    if destination_class.is_ad_platform and entry.channel != "ad_platform":
        # The consent checked must be PIPL's separate consent to share with an ad platform.
        problems.append(problem(
            (*where, "channel"),
            f"a {entry.type} destination is an ad platform: channel must be ad_platform, got {entry.channel!r}",
        ))
    mode = entry.mode or destination_class.supported_modes[0]
    if mode not in destination_class.supported_modes:
        problems.append(problem(
            (*where, "mode"),
            f"a {entry.type} destination supports mode {' or '.join(destination_class.supported_modes)}, "
            f"got {mode!r}",
        ))
    batch_size, limit = getattr(options, "batch_size", None), destination_class.max_batch_size
    if limit is not None and batch_size is not None and batch_size > limit:
        problems.append(problem(
            (*where, "batch_size"),
            f"{batch_size} is above the service's limit of {limit} records per call",
        ))
    guardrails = defaults
    if entry.sync_guardrails is not None:
        guardrails = dataclasses.replace(defaults, **_given(entry.sync_guardrails))
    return DestinationConfig(
        name=name,
        type=entry.type,
        channel=entry.channel,
        payload_fields=payload_fields,
        hashed_fields=frozenset(entry.hashed_fields),
        holdout_share=entry.holdout_share,
        options=options,
        secrets={
            key: os.environ.get(secret_env_var(name, key))
            for key in (*destination_class.secret_names, *destination_class.optional_secret_names)
        },
        mode=mode,
        cost_per_record=entry.cost_per_record,
        guardrails=guardrails,
    )


def _given(limits: BaseModel) -> dict[str, Any]:
    """The keys a sync_guardrails mapping sets."""
    return {key: value for key, value in limits.model_dump().items() if value is not None}
