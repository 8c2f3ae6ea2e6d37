"""Reads destinations.yml into typed DestinationConfig objects.

    destinations:
      <name>:
        type: webhook | file
        channel: sms | email | wecom | wechat | app_push | ad_platform
        fields: generic | [field, ...]       # optional; the channel's address is always sent
        hashed_fields: [field, ...]          # optional; sent as sha256 hex
        holdout_share: 0.10                  # optional
        sync_guardrails: {max_removal_share: 0.10, max_shrink_share: 0.50, allow_removals: false}
                                             # optional, each key too (activation/guardrails.py)
        <the type's own options: url, path, batch_size, rate_limit, ...>
    sync_guardrails: {max_removal_share: 0.10, max_shrink_share: 0.50}
                                             # optional: every destination's defaults

String values may reference environment variables as ${VAR} or ${VAR:-default}. Secrets never
appear in the file: they come from ACTIVATE__<NAME>__<KEY> environment variables.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from activation.destinations.base import (
    CHANNEL_ADDRESS_FIELDS,
    GENERIC_FIELDS,
    MODES,
    PAYLOAD_FIELD_CHOICES,
    Destination,
    DestinationConfig,
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
COMMON_KEYS = (
    "type", "channel", "fields", "hashed_fields", "holdout_share", "mode", "cost_per_record",
    "sync_guardrails",
)
FREQUENCY_CAP_KEYS = ("channel", "max_sends", "window_days")
GUARDRAIL_SHARE_KEYS = ("max_removal_share", "max_shrink_share")


@dataclass(frozen=True)
class FrequencyCap:
    """At most max_sends records sent to one member on a channel in any window_days days,
    counted across every campaign and destination of that channel."""

    channel: str
    max_sends: int
    window_days: int


def destination_type(type_name: str) -> type[Destination] | None:
    path = DESTINATION_TYPE_PATHS.get(type_name)
    if path is None:
        return None
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


class _DestinationTypes(Mapping):
    """type name -> Destination class, importing each module on first use."""

    def __getitem__(self, type_name: str) -> type[Destination]:
        found = destination_type(type_name)
        if found is None:
            raise KeyError(type_name)
        return found

    def __iter__(self):
        return iter(DESTINATION_TYPE_PATHS)

    def __len__(self) -> int:
        return len(DESTINATION_TYPE_PATHS)


DESTINATION_TYPES: Mapping[str, type[Destination]] = _DestinationTypes()

# libyaml's safe loader where PyYAML was built with it: a sync reads this file three times,
# and the pure-Python loader parses about seven times slower.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_DESTINATION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def load_destination_configs(path: Path) -> dict[str, DestinationConfig]:
    document = _read_document(path)
    entries = document.get("destinations")
    if not isinstance(entries, dict):
        raise ActivationError(f"{path} must have a `destinations:` mapping of name -> settings.")
    guardrails = _top_level_guardrails(document, path)
    return {
        name: _parse_destination(str(name), entry, path, guardrails) for name, entry in entries.items()
    }


def _top_level_guardrails(document: dict, path: Path) -> SyncGuardrails:
    """The optional top-level `sync_guardrails`: the thresholds every destination starts from.
    `allow_removals` is not taken here: turning the guardrails off is decided per destination."""

    def fail(problem: str) -> typing.NoReturn:
        raise ActivationError(f"{path}: sync_guardrails: {problem}")

    try:
        entry = _expand_env(document.get("sync_guardrails"))
    except KeyError as error:
        fail(f"environment variable {error.args[0]} is not set and has no default")
    if isinstance(entry, dict) and "allow_removals" in entry:
        fail("allow_removals is set per destination (under its own sync_guardrails), not for all of them")
    return _parse_guardrails(entry, SyncGuardrails(), fail, GUARDRAIL_SHARE_KEYS)


def load_frequency_caps(path: Path) -> list[FrequencyCap]:
    """The optional `frequency_caps:` list: [{channel, max_sends, window_days}, ...]."""
    entries = _read_document(path).get("frequency_caps") or []
    if not isinstance(entries, list):
        raise ActivationError(f"{path}: `frequency_caps` must be a list.")
    caps = []
    for position, entry in enumerate(entries, start=1):
        def fail(problem: str, position=position) -> typing.NoReturn:
            raise ActivationError(f"{path}: frequency cap {position}: {problem}")

        if not isinstance(entry, dict) or set(entry) != set(FREQUENCY_CAP_KEYS):
            fail(f"needs exactly {', '.join(FREQUENCY_CAP_KEYS)}")
        if entry["channel"] not in CHANNEL_ADDRESS_FIELDS:
            fail(f"channel must be one of {', '.join(CHANNEL_ADDRESS_FIELDS)}")
        max_sends = _number(entry["max_sends"], int, fail, "max_sends")
        window_days = _number(entry["window_days"], int, fail, "window_days")
        if max_sends < 1 or window_days < 1:
            fail("max_sends and window_days must be at least 1")
        caps.append(FrequencyCap(entry["channel"], max_sends, window_days))
    return caps


def load_global_holdout_share(path: Path) -> float:
    """The optional top-level `global_holdout_share`: the brand-wide control group's share,
    contacted by no campaign (default 0: none)."""
    value = _read_document(path).get("global_holdout_share", 0)

    def fail(problem: str) -> typing.NoReturn:
        raise ActivationError(f"{path}: global_holdout_share: {problem}")

    share = _number(value, float, fail, "global_holdout_share")
    if not 0 <= share < 1:
        fail("must be at least 0 and below 1")
    return share


def _read_document(path: Path) -> dict:
    if not path.exists():
        raise ActivationError(f"No destinations file at {path} (set ONEDATA_DESTINATIONS).")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}
    except yaml.YAMLError as error:
        raise ActivationError(f"{path} is not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise ActivationError(f"{path} must be a mapping with a `destinations:` key.")
    return document


def build_destination(config: DestinationConfig) -> Destination:
    return DESTINATION_TYPES[config.type](config)


def _parse_destination(name: str, entry: Any, path: Path, guardrails: SyncGuardrails) -> DestinationConfig:
    def fail(problem: str) -> typing.NoReturn:
        raise ActivationError(f"{path}: destination {name!r}: {problem}")

    if not _DESTINATION_NAME.match(name):
        fail("names are lower-case letters, digits and underscores")
    if not isinstance(entry, dict):
        fail("settings must be a mapping")
    try:
        entry = {key: _expand_env(value) for key, value in entry.items()}
    except KeyError as error:
        fail(f"environment variable {error.args[0]} is not set and has no default")

    destination_class = destination_type(str(entry.get("type")))
    if destination_class is None:
        fail(f"type must be one of {', '.join(DESTINATION_TYPE_PATHS)}")
    for key in destination_class.secret_names:
        if key in entry:
            fail(f"secrets do not belong in the file; set {secret_env_var(name, key)} instead")
    unknown = set(entry) - set(COMMON_KEYS) - set(destination_class.option_names())
    if unknown:
        fail(f"unknown settings {', '.join(sorted(unknown))}")

    channel = entry.get("channel")
    if channel not in CHANNEL_ADDRESS_FIELDS:
        fail(f"channel must be one of {', '.join(CHANNEL_ADDRESS_FIELDS)}")
    payload_fields = _payload_fields(channel, entry.get("fields", ()), fail)
    hashed_fields = frozenset(entry.get("hashed_fields") or ())
    if not hashed_fields <= set(payload_fields):
        fail(f"hashed_fields must be among the fields sent: {', '.join(payload_fields)}")
    holdout_share = _number(entry.get("holdout_share", DEFAULT_HOLDOUT_SHARE), float, fail, "holdout_share")
    if not 0 <= holdout_share < 1:
        fail("holdout_share must be at least 0 and below 1")
    if destination_class.is_ad_platform and channel != "ad_platform":
        # The consent checked must be PIPL's separate consent to share with an ad platform.
        fail(f"a {destination_class.type_name} destination is an ad platform: channel must be ad_platform")
    mode = entry.get("mode", destination_class.supported_modes[0])
    if mode not in MODES:
        fail(f"mode must be one of {', '.join(MODES)}")
    if mode not in destination_class.supported_modes:
        fail(f"a {destination_class.type_name} destination supports mode {' or '.join(destination_class.supported_modes)}, not {mode}")
    cost_per_record = _number(entry.get("cost_per_record", 0), float, fail, "cost_per_record")
    if cost_per_record < 0:
        fail("cost_per_record must not be negative")
    guardrails = _parse_guardrails(
        entry.get("sync_guardrails"), guardrails, lambda problem: fail(f"sync_guardrails: {problem}"),
        (*GUARDRAIL_SHARE_KEYS, "allow_removals"),
    )
    options = _parse_options(destination_class.Options, entry, fail)
    batch_size = getattr(options, "batch_size", None)
    limit = destination_class.max_batch_size
    if limit is not None and batch_size is not None and batch_size > limit:
        fail(f"batch_size {batch_size} is above the service's limit of {limit} records per call")

    return DestinationConfig(
        name=name,
        type=destination_class.type_name,
        channel=channel,
        payload_fields=payload_fields,
        hashed_fields=hashed_fields,
        holdout_share=holdout_share,
        options=options,
        secrets={key: os.environ.get(secret_env_var(name, key)) for key in destination_class.secret_names},
        mode=mode,
        cost_per_record=cost_per_record,
        guardrails=guardrails,
    )


def _parse_guardrails(
    entry: Any, defaults: SyncGuardrails, fail, keys: tuple[str, ...]
) -> SyncGuardrails:
    """A `sync_guardrails` mapping over the defaults: only the keys given change."""
    if entry is None:
        return defaults
    if not isinstance(entry, dict):
        fail(f"must be a mapping of {', '.join(keys)}")
    unknown = sorted(set(map(str, entry)) - set(keys))
    if unknown:
        fail(f"unknown settings {', '.join(unknown)} (known: {', '.join(keys)})")
    values = {}
    for key in GUARDRAIL_SHARE_KEYS:
        if key not in entry:
            continue
        value = entry[key]
        # YAML reads `yes` as true, which float() would take as 1.
        if isinstance(value, bool):
            fail(f"`{key}` must be a share from 0 to 1 (0.1 = 10%), got {value!r}")
        share = _number(value, float, fail, key)
        if not 0 <= share <= 1:
            fail(f"`{key}` must be a share from 0 to 1 (0.1 = 10%), got {value!r}")
        values[key] = share
    if "allow_removals" in entry:
        values["allow_removals"] = _boolean(entry["allow_removals"], fail, "allow_removals")
    return dataclasses.replace(defaults, **values)


def _payload_fields(channel: str, fields: Any, fail) -> tuple[str, ...]:
    """The channel's address fields first, then the extra fields asked for, without repeats."""
    extra = GENERIC_FIELDS if fields == "generic" else fields
    if not isinstance(extra, (list, tuple)) or not set(extra) <= set(PAYLOAD_FIELD_CHOICES):
        fail(f"fields must be `generic` or a list of: {', '.join(PAYLOAD_FIELD_CHOICES)}")
    return tuple(dict.fromkeys([*CHANNEL_ADDRESS_FIELDS[channel], *extra]))


def _parse_options(options_class: type, entry: dict[str, Any], fail) -> Any:
    """Build the type's Options dataclass, casting each value to its annotated type."""
    hints = typing.get_type_hints(options_class)
    values = {}
    for option in dataclasses.fields(options_class):
        if option.name not in entry:
            if option.default is dataclasses.MISSING:
                fail(f"missing required setting `{option.name}`")
            continue
        value = entry[option.name]
        target = hints[option.name]
        optional = type(None) in typing.get_args(target)
        if value is None and optional:
            values[option.name] = None
            continue
        base = next((arg for arg in typing.get_args(target) if arg is not type(None)), target)
        if base in (int, float):
            value = _number(value, base, fail, option.name)
            # Zero retries is a valid choice; zero batch size, rate or timeout is not.
            if value < 0 or (value == 0 and option.name != "max_retries"):
                fail(f"`{option.name}` must be positive")
        elif base is bool:
            value = _boolean(value, fail, option.name)
        elif typing.get_origin(base) in (dict, list) or base in (dict, list):
            kind = typing.get_origin(base) or base
            if not isinstance(value, kind):
                fail(f"`{option.name}` must be a {'mapping' if kind is dict else 'list'}")
        else:
            value = base(value)
        values[option.name] = value
    return options_class(**values)


_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _boolean(value: Any, fail, key: str) -> bool:
    # A ${VAR:-false} reference arrives as the string "false", which bool() would call true.
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    fail(f"`{key}` must be true or false, got {value!r}")


def _number(value: Any, kind: type, fail, key: str) -> int | float:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        fail(f"`{key}` must be a number, got {value!r}")
    if kind is int and number != float(value):
        fail(f"`{key}` must be a whole number, got {value!r}")
    return number


def _expand_env(value: Any) -> Any:
    if isinstance(value, str):
        return _ENV_REFERENCE.sub(_env_value, value)
    if isinstance(value, list):
        return [_expand_env(item) for item in value]
    if isinstance(value, dict):
        return {key: _expand_env(item) for key, item in value.items()}
    return value


def _env_value(match: re.Match) -> str:
    # Shell semantics: ${VAR:-default} also replaces an empty value.
    variable, default = match.group(1), match.group(2)
    value = os.environ.get(variable)
    if default is None:
        if value is None:
            raise KeyError(variable)
        return value
    return value or default
