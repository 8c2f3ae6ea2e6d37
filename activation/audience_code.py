"""Audiences as code: each audience is a YAML file under audiences/ (name, description, owner,
channel, destination and a rule on catalogued tags combined with all/any/not). `generate` turns
them into dbt segment models with the enforced audience contract and an exposure each; `plan`
shows who each audience would add and remove against the version last built in the warehouse.

A rule is a tree:
    all: [rule, ...]          every one holds
    any: [rule, ...]          at least one holds
    not: rule                 it does not hold (a tag without a value does not hold)
    tag: NAME, OPERATOR: V    a test on one tag of member_profiles, the operators being
        is (true | false | null | not_null), equals, not_equals, in, not_in,
        at_least, at_most, greater_than, less_than, between: [low, high]
Tags, their types and allowed values come from the tag catalogue's YAML
(models/tags/_tags__member_profiles.yml), so a typo or a value a tag never takes fails early.

A value in an audience file is data, never code: the generated models and YAML are rendered by
dbt's Jinja, so a key or value holding `{{`, `{%` or `{#` (which would run there, e.g.
`env_var(...)` printing a secret into the log) is refused with the place it stands.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from activation.config import Channel, ConfigError, Name, Owner, Strict, Text, problem, read_yaml, validate
from activation.errors import ActivationError

PROJECT_DIR = Path(__file__).resolve().parent.parent
AUDIENCES_DIR = PROJECT_DIR / "audiences"
TAGS_YAML = PROJECT_DIR / "models" / "tags" / "_tags__member_profiles.yml"
CONTRACT_YAML = PROJECT_DIR / "models" / "segments" / "_segments__models.yml"
GENERATED_DIR = PROJECT_DIR / "models" / "segments" / "audiences"
GENERATED_YAML = "_audiences__models.yml"

_NUMERIC_TYPES = {"integer", "decimal"}
_COMPARISONS = {"at_least": ">=", "at_most": "<=", "greater_than": ">", "less_than": "<"}
_OPERATORS = {"is", "equals", "not_equals", "in", "not_in", "between", *_COMPARISONS}
# What opens a Jinja expression, statement or comment.
_JINJA_OPENERS = ("{{", "{%", "{#")


@dataclass(frozen=True)
class TagSpec:
    name: str
    value_type: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class AudienceSpec:
    name: str
    label: str
    description: str
    owner: dict[str, str]
    channel: str
    destination: str | None
    rule: Any
    condition: str
    path: Path


def load_tag_specs(tags_yaml: Path = TAGS_YAML) -> dict[str, TagSpec]:
    document = yaml.safe_load(tags_yaml.read_text(encoding="utf-8"))
    specs = {}
    for model in document.get("models", []):
        for column in model.get("columns", []):
            tag = (column.get("meta") or {}).get("tag")
            if tag:
                specs[column["name"]] = TagSpec(column["name"], tag["type"], tuple(tag.get("values", ())))
    return specs


def _literal(value: Any, tag: TagSpec, where: str) -> str:
    if isinstance(value, bool) or value is None:
        raise ActivationError(f"{where}: use `is: true|false|null` for {value!r}, not a value")
    if tag.value_type in _NUMERIC_TYPES:
        if not isinstance(value, (int, float)):
            raise ActivationError(f"{where}: tag {tag.name} is {tag.value_type}; {value!r} is not a number")
        return repr(value)
    if tag.values and value not in tag.values:
        raise ActivationError(
            f"{where}: {value!r} is not a value of tag {tag.name} (values: {', '.join(map(str, tag.values))})")
    text = str(value)
    if "\\" in text:
        raise ActivationError(f"{where}: backslashes are not allowed in values")
    return "'" + text.replace("'", "''") + "'"


def rule_to_sql(rule: Any, tags: dict[str, TagSpec], where: str = "rule", depth: int = 1) -> str:
    """A portable SQL predicate over member_profiles' columns; a tag without a value never
    satisfies a test, so `not` includes the people without one."""
    if not isinstance(rule, dict) or not rule:
        raise ActivationError(f"{where}: a rule is a mapping (all, any, not or tag), got {rule!r}")
    if "all" in rule or "any" in rule:
        key = "all" if "all" in rule else "any"
        parts = rule[key]
        if len(rule) != 1 or not isinstance(parts, list) or not parts:
            raise ActivationError(f"{where}.{key}: a non-empty list of rules, and nothing beside it")
        # One condition a line, indented by depth, so that the generated model reads like the YAML.
        separator = "\n" + "    " * (depth + 1) + ("and " if key == "all" else "or ")
        joined = separator.join(
            rule_to_sql(part, tags, f"{where}.{key}[{index}]", depth + 1) for index, part in enumerate(parts))
        return "(\n" + "    " * (depth + 1) + joined + "\n" + "    " * depth + ")"
    if "not" in rule:
        if len(rule) != 1:
            raise ActivationError(f"{where}.not: nothing may stand beside `not`")
        return f"(not {rule_to_sql(rule['not'], tags, where + '.not', depth)})"
    if "tag" not in rule:
        raise ActivationError(f"{where}: expected one of all, any, not, tag; got {', '.join(map(str, rule))}")
    name = rule["tag"]
    if name not in tags:
        close = difflib.get_close_matches(str(name), tags, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else " See `activate tags`."
        raise ActivationError(f"{where}: no tag named {name!r}.{hint}")
    tag = tags[name]
    operators = [key for key in rule if key != "tag"]
    if len(operators) != 1 or operators[0] not in _OPERATORS:
        raise ActivationError(
            f"{where}: tag {name} needs exactly one operator of {', '.join(sorted(_OPERATORS))}; got {operators}")
    operator, value = operators[0], rule[operators[0]]
    where = f"{where} ({name} {operator})"
    if operator == "is":
        if value is None or value == "null":
            return f"({name} is null)"
        if value == "not_null":
            return f"({name} is not null)"
        if not isinstance(value, bool) or tag.value_type != "boolean":
            raise ActivationError(f"{where}: `is` takes true or false on a boolean tag, or null / not_null")
        return f"coalesce({name} = {'true' if value else 'false'}, false)"
    if operator in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise ActivationError(f"{where}: a non-empty list of values")
        listed = ", ".join(_literal(item, tag, where) for item in value)
        return f"coalesce({name} {'in' if operator == 'in' else 'not in'} ({listed}), false)"
    if operator == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise ActivationError(f"{where}: [low, high]")
        if tag.value_type not in _NUMERIC_TYPES:
            raise ActivationError(f"{where}: tag {name} is {tag.value_type}, not a number")
        low, high = (_literal(item, tag, where) for item in value)
        return f"coalesce({name} between {low} and {high}, false)"
    if operator in _COMPARISONS and tag.value_type not in _NUMERIC_TYPES:
        raise ActivationError(f"{where}: tag {name} is {tag.value_type}, not a number")
    sql_operator = {"equals": "=", "not_equals": "<>", **_COMPARISONS}[operator]
    return f"coalesce({name} {sql_operator} {_literal(value, tag, where)}, false)"


class AudienceDocument(Strict):
    """An audience file's shape (activation/config.py's typed loader)."""

    name: Name
    label: Text | None = None
    description: Text
    owner: Owner
    channel: Channel
    # The destination `activate sync AUDIENCE` sends to when --to is not given.
    destination: Name | None = None
    rule: dict[str, Any]


def load_audience_file(path: Path) -> AudienceDocument:
    """One audience file, its shape checked (the rule is checked against the tags by
    rule_to_sql); Jinja delimiters anywhere are refused first."""
    document = read_yaml(path)
    _refuse_jinja(document, path.name)
    audience = validate(AudienceDocument, document, path)
    if audience.name != path.stem:
        raise ConfigError(path, [problem(["name"], f"must match the file name ({path.stem}), got {audience.name!r}")])
    return audience


def declared_destination(audience_name: str, audiences_dir: Path | None = None) -> str:
    """The destination audiences/<name>.yml names: where `activate sync` sends the audience
    when --to is not given."""
    name = audience_name.strip().lower().removeprefix("seg_")
    path = (audiences_dir or AUDIENCES_DIR) / f"{name}.yml"
    if not path.is_file():
        raise ActivationError(
            f"No --to given, and {audience_name!r} has no audience file ({path}) naming its destination."
        )
    destination = load_audience_file(path).destination
    if destination is None:
        raise ActivationError(f"No --to given, and {path} names no destination: add `destination:` or pass --to.")
    return destination


def load_audiences(audiences_dir: Path = AUDIENCES_DIR, tags: dict[str, TagSpec] | None = None) -> list[AudienceSpec]:
    tags = tags if tags is not None else load_tag_specs()
    specs = []
    for path in sorted(audiences_dir.glob("*.yml")):
        audience = load_audience_file(path)
        specs.append(AudienceSpec(
            name=audience.name, label=audience.label or audience.name.replace("_", " "),
            description=" ".join(audience.description.split()), owner=audience.owner.model_dump(),
            channel=audience.channel, destination=audience.destination, rule=audience.rule,
            condition=rule_to_sql(audience.rule, tags, f"{path.name}: rule"), path=path,
        ))
    return specs


def _refuse_jinja(value: Any, where: str) -> None:
    """Refuse Jinja delimiters in any key or text value of an audience file (module docstring)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_jinja(key, f"{where}: a key")
            _refuse_jinja(item, f"{where}.{key}" if ":" in where else f"{where}: {key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_jinja(item, f"{where}[{index}]")
    elif isinstance(value, str) and any(opener in value for opener in _JINJA_OPENERS):
        # The value itself is not repeated: it may be an attempt to print a secret.
        raise ActivationError(
            f"{where} holds {{{{, {{% or {{#: audience files are data, not dbt Jinja; remove them")


def _model_sql(spec: AudienceSpec) -> str:
    return (
        f"{{#- Generated from audiences/{spec.path.name} by `activate audiences generate`:\n"
        f"    edit the YAML, not this file. -#}}\n"
        "{% set condition %}\n"
        f"    {spec.condition}\n"
        "{% endset %}\n"
        f"{{{{ select_audience('{spec.name}', condition) }}}}\n"
    )


def _models_yaml(specs: list[AudienceSpec], contract_yaml: Path) -> str:
    contract = yaml.safe_load(contract_yaml.read_text(encoding="utf-8"))
    columns = contract["x-audience-columns"]
    document = {
        "version": 2,
        "models": [
            {
                "name": f"seg_{spec.name}",
                "description": spec.description,
                "config": {
                    "contract": {"enforced": True},
                    "meta": {"audience": {
                        "owner": spec.owner, "channel": spec.channel, "destination": spec.destination,
                        "source": f"audiences/{spec.path.name}", "rule": spec.rule,
                    }},
                },
                "columns": columns,
            }
            for spec in specs
        ],
        "exposures": [
            {
                "name": f"audience_{spec.name}",
                "label": spec.label,
                "type": "application",
                "maturity": "medium",
                "description": (
                    f"{spec.description} Sent with `activate sync {spec.name} --to "
                    f"{spec.destination or '<destination>'}` on the {spec.channel} channel; members "
                    f"without {spec.channel} consent and the holdout are never sent."
                ),
                "owner": spec.owner,
                "depends_on": [f"ref('seg_{spec.name}')"],
                "meta": {"channel": spec.channel, "destination": spec.destination},
            }
            for spec in specs
        ],
    }
    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    header = "# Generated from audiences/*.yml by `activate audiences generate`: edit those, not this file.\n"
    return header + yaml.dump(document, Dumper=NoAliases, sort_keys=False, allow_unicode=True, width=100)


def generated_files(specs: list[AudienceSpec], contract_yaml: Path = CONTRACT_YAML) -> dict[str, str]:
    files = {f"seg_{spec.name}.sql": _model_sql(spec) for spec in specs}
    files[GENERATED_YAML] = _models_yaml(specs, contract_yaml)
    return files


def generate(audiences_dir: Path = AUDIENCES_DIR, out_dir: Path = GENERATED_DIR, *, check: bool = False) -> list[str]:
    """Write (or, with check, only compare) the generated models; returns the files that
    changed, were added or were removed."""
    wanted = generated_files(load_audiences(audiences_dir))
    existing = {path.name: path for path in out_dir.glob("*")} if out_dir.exists() else {}
    changed = [name for name, text in wanted.items()
               if name not in existing or existing[name].read_text(encoding="utf-8") != text]
    stale = [name for name in existing if name not in wanted]
    if not check:
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in changed:
            (out_dir / name).write_text(wanted[name], encoding="utf-8")
        for name in stale:
            existing[name].unlink()
    return sorted(changed + stale)
