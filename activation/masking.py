"""Masks PII for display and scrubs it from free text (destination error messages)."""

from __future__ import annotations

import re

_PHONE_IN_TEXT = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


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


def scrub_pii(text: str) -> str:
    """Mask phone numbers and e-mail addresses a destination may echo in an error message."""
    text = _PHONE_IN_TEXT.sub(lambda match: mask_phone(match.group()), text)
    return _EMAIL_IN_TEXT.sub(lambda match: mask_email(match.group()), text)


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
