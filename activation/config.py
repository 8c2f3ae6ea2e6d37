"""One typed loader for the YAML files a user writes: destinations.yml, journeys/*.yml and
audiences/*.yml.

Each file's shape is a pydantic model (below, and each destination type's Options); `load`
reads a file, optionally expands ${VAR} / ${VAR:-default} references from the environment, and
validates it. Every mistake in the file is reported at once, one per line, as

    <file>: <key path>: <what was expected>, got <value>

e.g. `destinations.yml: destinations.crm.batch_size: must be greater than 0, got 0`. Rules that
involve several keys (a field hashed but not sent, a journey's days out of order) are checked by
the code that reads the model and reported the same way, through `ConfigError`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from activation.errors import ActivationError

Model = TypeVar("Model", bound=BaseModel)

# libyaml's safe loader where PyYAML was built with it, else the pure-Python one.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ActivationError):
    """A file that does not have the shape its model asks for."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = list(problems)
        super().__init__("\n".join(f"{path}: {problem}" for problem in self.problems))


def problem(where: Sequence[str | int], text: str) -> str:
    """One problem as ConfigError words it: `<key path>: <text>`."""
    return f"{key_path(where)}: {text}" if where else text


def key_path(where: Sequence[str | int]) -> str:
    """('steps', 2, 'day') -> 'steps[2].day'."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


# Shared field types --------------------------------------------------------------------------


def _not_a_boolean(value: Any) -> Any:
    # YAML reads `yes`, `on` and `true` as booleans, which a number field would take as 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


Number = Annotated[float, BeforeValidator(_not_a_boolean)]
WholeNumber = Annotated[int, BeforeValidator(_not_a_boolean)]
# A share of members, 0.1 = 10%.
Share = Annotated[Number, Field(ge=0, le=1)]
# A holdout: at least 0, below 1 (a campaign that holds everyone out sends nothing).
HoldoutShare = Annotated[Number, Field(ge=0, lt=1)]
PositiveNumber = Annotated[Number, Field(gt=0)]
PositiveWholeNumber = Annotated[WholeNumber, Field(gt=0)]
NonNegativeWholeNumber = Annotated[WholeNumber, Field(ge=0)]
# Names that end up in SQL identifiers, campaign ids and file names.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Channel = Literal["sms", "email", "wecom", "wechat", "app_push", "ad_platform"]


class Strict(BaseModel):
    """A mapping of known keys only: a misspelt key is a mistake, not something to ignore."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Owner(BaseModel):
    """Who answers for an audience or journey: a name, and anything else worth knowing
    (e-mail, team). Written as a mapping, or as the name alone."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: Text

    @model_validator(mode="before")
    @classmethod
    def _name_alone(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


# Loading -----------------------------------------------------------------------------------


def read_yaml(path: Path, *, expand_env: bool = False) -> Any:
    """The file's YAML document; with expand_env, ${VAR} and ${VAR:-default} references in
    string values are replaced from the environment (shell semantics)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ActivationError(f"{path}: no such file.") from None
    except OSError as error:
        raise ActivationError(f"{path}: cannot read it: {error.strerror}.") from error
    try:
        document = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as error:
        raise ActivationError(f"{path} is not valid YAML: {error}") from error
    if expand_env:
        unset: list[str] = []
        document = _expand_env(document, (), unset)
        if unset:
            raise ConfigError(path, unset)
    return document


def validate(model: type[Model], document: Any, path: Path, where: Sequence[str | int] = ()) -> Model:
    """The document as the model, or ConfigError naming every problem (`where`: the key path
    the document sits at in its file)."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise ConfigError(path, [_describe(item, where) for item in error.errors()]) from None


def load(model: type[Model], path: Path, *, expand_env: bool = False) -> Model:
    return validate(model, read_yaml(path, expand_env=expand_env), path)


def _describe(error: dict, where: Sequence[str | int]) -> str:
    # pydantic adds "[key]" to the location of a mapping key that failed.
    location = [*where, *(part for part in error["loc"] if part != "[key]")]
    kind, value = error["type"], error.get("input")
    if kind == "missing" or (value is None and kind.endswith("_type")):
        return problem(location, "missing (required)")
    if kind == "extra_forbidden":
        return problem(location, "unknown key")
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern")
        text = f"must be {PATTERN_WORDS.get(pattern, f'text matching {pattern}')}"
    else:
        text = error["msg"].removeprefix("Value error, ")
        for said, meant in _WORDING:
            text = text.replace(said, meant)
        text = re.sub(r" or instance of \w+", "", text)
    if not isinstance(value, (dict, list)):
        text += f", got {value!r}"
    return problem(location, text)


# What a pattern of the models asks for, in words.
PATTERN_WORDS = {
    r"^[a-z][a-z0-9_]*$": "lower-case letters, digits and _, starting with a letter",
    r"^[a-z0-9_]+$": "lower-case letters, digits and _",
    r"^[a-z0-9_]{1,32}$": "at most 32 lower-case letters, digits and _",
}
_WORDING = (
    ("Input should be", "must be"),
    ("List should have", "must have"),
    ("Dictionary should have", "must have"),
    ("String should have", "must have"),
    (" after validation", ""),
    ("valid dictionary", "mapping"),
    ("a valid list", "a list"),
)


def _expand_env(value: Any, where: tuple, unset: list[str]) -> Any:
    if isinstance(value, str):
        def replace(match: re.Match) -> str:
            variable, default = match.group(1), match.group(2)
            found = os.environ.get(variable)
            if default is not None:
                return found or default  # ${VAR:-default} also replaces an empty value
            if found is None:
                unset.append(problem(where, f"environment variable {variable} is not set and has no default"))
                return ""
            return found

        return _ENV_REFERENCE.sub(replace, value)
    if isinstance(value, list):
        return [_expand_env(item, (*where, index), unset) for index, item in enumerate(value)]
    if isinstance(value, dict):
        return {key: _expand_env(item, (*where, key), unset) for key, item in value.items()}
    return value
