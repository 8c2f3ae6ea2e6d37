"""Identifier normalisation and hashing the way ad platforms match them.

A platform matches on the hash of a value normalised by its own rules, so the rules are data a
destination declares (`field_normalisers`, `hash_algorithm`), not code in the sync. A normaliser
returns None when the value cannot be matched (the record is then rejected with a reason, never
sent half-empty).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

Normaliser = Callable[[str], "str | None"]

_NON_DIGITS = re.compile(r"\D")
_CN_MOBILE = re.compile(r"^1[3-9]\d{9}$")
DEFAULT_COUNTRY_CODE = "86"


def trimmed_lower(value: str) -> str | None:
    """E-mail and most text identifiers: trim, lower-case (Meta, Google, TikTok)."""
    value = str(value).strip().lower()
    return value or None


def cn_mobile_11_digits(value: str) -> str | None:
    """An 11-digit mainland mobile number without country code (Tencent Ads crowd packs)."""
    text = str(value).strip()
    if (text.startswith("+") and not text.startswith("+86")) or (
        text.startswith("00") and not text.startswith("0086")
    ):
        return None  # another country's number, whatever its digits look like
    digits = _NON_DIGITS.sub("", text)
    for prefix in ("0086", "86"):
        if len(digits) == 11 + len(prefix) and digits.startswith(prefix):
            digits = digits[len(prefix):]
    return digits if _CN_MOBILE.match(digits) else None


def phone_digits_with_country_code(value: str) -> str | None:
    """Digits only, country code first, no `+` and no leading zeros (Meta's SDK rule).

    A bare 11-digit mainland mobile gets 86 in front; anything else must already carry its
    country code.
    """
    digits = _NON_DIGITS.sub("", str(value)).lstrip("0")
    if _CN_MOBILE.match(digits):
        digits = DEFAULT_COUNTRY_CODE + digits
    return digits if 8 <= len(digits) <= 15 else None


NORMALISERS: dict[str, Normaliser] = {
    "trimmed_lower": trimmed_lower,
    "cn_mobile_11_digits": cn_mobile_11_digits,
    "phone_digits_with_country_code": phone_digits_with_country_code,
}

HASHES: dict[str, Callable[[bytes], "hashlib._Hash"]] = {
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}


def hash_hex(value: str, algorithm: str) -> str:
    return HASHES[algorithm](value.encode("utf-8")).hexdigest()
