"""Masks PII for display and scrubs it from free text (destination error messages, rejected rows).

Every pattern here runs in linear time: quantifiers are bounded or possessive and each match
can start only at the beginning of a run (a look-behind), so a megabyte of hostile text costs a
single pass, never a quadratic scan that holds the GIL. Callers that keep text (rejects files,
error messages) pass `limit`, which bounds the work before any pattern runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A mainland mobile as people write it: an optional +86 / 0086 / 86 prefix, 11 digits 1[3-9]...,
# a space or a dash between any two of them, and no digit on either side. Full-width digits and
# signs are matched through _ASCII_TWINS below.
_PHONE_IN_TEXT = re.compile(r"(?<![0-9])(?:(?:\+|00)?86[ -]?)?1[ -]?[3-9](?:[ -]?[0-9]){9}(?![0-9])")
_EMAIL_IN_TEXT = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)++")
# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space, one character for one, so that a
# match found in the translated text is at the same place in the original.
_ASCII_TWINS = {0xFF01 + offset: 0x21 + offset for offset in range(0x5E)} | {0x3000: 0x20}
# Scrubbing looks this far past `limit`, so that a phone cut by the truncation is still masked.
_LOOK_PAST_LIMIT = 64


def mask_phone(phone: str | None) -> str | None:
    """13812345678 -> 138****5678."""
    if not phone:
        return phone
    if len(phone) < 8:
        return "****"
    return f"{phone[:3]}****{phone[-4:]}"


def mask_email(email: str | None) -> str | None:
    """alice@example.com -> a***@example.com."""
    if not email:
        return email
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_name(name: str | None) -> str | None:
    """张三丰 -> 张**; keeps only the first character."""
    if not name:
        return name
    return f"{name[:1]}**"


def scrub_pii(text: str, limit: int | None = None) -> str:
    """Mask the phone numbers and e-mail addresses in free text; with `limit`, the result is cut
    to that many characters (and only that much text, give or take, is scanned)."""
    if limit is not None and len(text) > limit:
        text = text[: limit + _LOOK_PAST_LIMIT]
    probe = text.translate(_ASCII_TWINS)
    if _may_hold_phone(probe):
        text = _mask_matches(text, _PHONE_IN_TEXT, mask_phone)
    if "@" in probe:
        text = _mask_matches(text, _EMAIL_IN_TEXT, mask_email)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "…"
    return text


def contains_pii(text: str) -> bool:
    """Whether text holds something scrub_pii would mask (a phone number or an e-mail address)."""
    probe = text.translate(_ASCII_TWINS)
    return bool((_may_hold_phone(probe) and _PHONE_IN_TEXT.search(probe))
                or ("@" in probe and _EMAIL_IN_TEXT.search(probe)))


def scrub_value(value: Any, limit: int = 200) -> str | None:
    """Any value from a request or a report as text fit to keep: numbers and nested JSON are
    written out first (a phone sent as a JSON number or as a key is still a phone), lone
    surrogates are shown escaped, and the result is scrubbed and cut to `limit` characters."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, (dict, list)):
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, RecursionError):
            text = "<not serialisable>"
    else:
        text = str(value)
    # A lone surrogate (JSON "\ud800") cannot be written as UTF-8: keep it visible, escaped.
    text = text[: limit + _LOOK_PAST_LIMIT].encode("utf-8", "backslashreplace").decode("utf-8")
    return scrub_pii(text, limit)


def _may_hold_phone(probe: str) -> bool:
    # Eleven digits at least; counted in C, it spares most text the pattern.
    return sum(map(probe.count, "0123456789")) >= 11


def _mask_matches(text: str, pattern: re.Pattern[str], mask) -> str:
    probe = text.translate(_ASCII_TWINS)
    parts, end = [], 0
    for match in pattern.finditer(probe):
        parts += [text[end:match.start()], mask(match.group())]
        end = match.end()
    if not parts:
        return text
    parts.append(text[end:])
    return "".join(parts)


def mask_identifier(id_type: str, value: str | None) -> str | None:
    """An identifier value fit to print: phones and e-mails as above; a namespaced id
    (openid, buyer id) keeps its namespace; any other keeps its first and last two characters."""
    if not value:
        return value
    if id_type == "phone":
        return mask_phone(value)
    if id_type == "email":
        return mask_email(value)
    namespace, colon, local = value.rpartition(":")
    masked = f"{local[:2]}***{local[-2:]}" if len(local) > 6 else "***"
    return f"{namespace}{colon}{masked}"
