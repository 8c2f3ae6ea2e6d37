"""Identifier normalisation and hashing the way ad platforms match them.

A platform matches on the hash of a value normalised by its own rules, so the rules are data a
destination declares (`field_normalisers`, `hash_algorithm`), not code in the sync. A normaliser
returns None when the value cannot be matched (the record is then rejected with a reason, never
sent half-empty).

Every value is first put in Unicode NFKC form, so full-width digits and signs (１３８, ＋,
＠), which Chinese input methods produce, read as the ASCII a platform hashes. Phone numbers are
parsed with Google's libphonenumber rules (the `phonenumbers` package): a number written with
its country code (+1 ..., 0044 ...) keeps it; a bare national number (13812345678, 010-88888888)
gets the destination's default country (`default_country`, CN unless configured), its trunk
prefix dropped; a number that is not a valid one of its country is refused.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable

import phonenumbers

# A normaliser takes the value and the default country (ISO 3166 alpha-2) for national numbers.
Normaliser = Callable[[str, str], "str | None"]
DEFAULT_COUNTRY = "CN"


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip()


def trimmed_lower(value: str, default_country: str = DEFAULT_COUNTRY) -> str | None:
    """Text identifiers: NFKC, trimmed, lower-cased (Meta, Google, TikTok)."""
    return _nfkc(value).lower() or None


def email_address(value: str, default_country: str = DEFAULT_COUNTRY) -> str | None:
    """An e-mail address as Meta and TikTok hash it: trimmed and lower-cased (after NFKC);
    None for a value that is no address (no @ with text on both sides)."""
    text = _nfkc(value).lower()
    local, at, domain = text.rpartition("@")
    return text if at and local and "." in domain.strip(".") and " " not in text else None


def phone_number(value: str, default_country: str = DEFAULT_COUNTRY) -> phonenumbers.PhoneNumber | None:
    """The number parsed, or None when it is not a valid number."""
    try:
        number = phonenumbers.parse(_nfkc(value), default_country)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def phone_digits_with_country_code(value: str, default_country: str = DEFAULT_COUNTRY) -> str | None:
    """Digits only, country code first, no `+` and no trunk prefix: 8613812345678 (Meta's and
    TikTok's rule; E.164 without its `+`)."""
    number = phone_number(value, default_country)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).removeprefix("+")


def cn_mobile_11_digits(value: str, default_country: str = "CN") -> str | None:
    """An 11-digit mainland mobile number without country code (Tencent Ads crowd packs,
    Alibaba Cloud SMS). A number written with another country's code is not one, whatever its
    digits look like."""
    number = phone_number(value, "CN")
    if number is None or number.country_code != 86:
        return None
    national = str(number.national_number)
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ) or len(national) != 11:
        return None
    return national


NORMALISERS: dict[str, Normaliser] = {
    "trimmed_lower": trimmed_lower,
    "email_address": email_address,
    "cn_mobile_11_digits": cn_mobile_11_digits,
    "phone_digits_with_country_code": phone_digits_with_country_code,
}

HASHES: dict[str, Callable[[bytes], "hashlib._Hash"]] = {
    "sha256": hashlib.sha256,
    "md5": hashlib.md5,
}


def hash_hex(value: str, algorithm: str) -> str:
    return HASHES[algorithm](value.encode("utf-8")).hexdigest()
