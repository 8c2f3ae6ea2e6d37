"""The report's message catalogue (messages.yml): every label in every language, in one file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from activation.errors import ActivationError

MESSAGES_FILE = Path(__file__).with_name("messages.yml")
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


@cache
def load_messages(path: Path = MESSAGES_FILE) -> dict[str, dict[str, str]]:
    """Dotted key -> {language: text}. A leaf is a mapping with a text for every language."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    messages: dict[str, dict[str, str]] = {}

    def walk(node: dict, prefix: str) -> None:
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if isinstance(value, dict) and set(value) == set(LANGUAGES):
                messages[dotted] = {language: str(value[language]) for language in LANGUAGES}
            elif isinstance(value, dict):
                walk(value, f"{dotted}.")
            else:
                raise ActivationError(f"{path}: {dotted} needs a text for each of {', '.join(LANGUAGES)}.")

    walk(document, "")
    return messages


class Catalogue:
    """Texts in one language: `text("section.value")`, `code("rfm_group", "important_value")`."""

    def __init__(self, language: str = DEFAULT_LANGUAGE) -> None:
        if language not in LANGUAGES:
            raise ActivationError(f"The report speaks {', '.join(LANGUAGES)}; got {language!r}.")
        self.language = language
        self._messages = load_messages()

    def text(self, key: str, **values: object) -> str:
        try:
            template = self._messages[key][self.language]
        except KeyError:
            raise ActivationError(f"The report's message catalogue has no {key!r}.") from None
        return template.format(**values) if values else template

    def code(self, kind: str, value: object) -> str:
        """A warehouse code in words (its kind's entry, else the shared `code.value` one); a code
        the catalogue does not know is shown as it is."""
        if value is None:
            value = "(none)"
        key = str(value).lower() if isinstance(value, bool) else str(value)
        entry = self._messages.get(f"code.{kind}.{key}") or self._messages.get(f"code.value.{key}")
        return entry[self.language] if entry else key
