"""Vectorised helpers: unique ids, messy identifier formats, time and Arrow conversions.

Everything here works on whole numpy arrays so that a million people cost seconds, not minutes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_PER_SECOND = 1_000_000
US_PER_DAY = 86_400 * US_PER_SECOND
# Stores and apps record local (Asia/Shanghai, UTC+8, no daylight saving) times; the contract wants UTC.
SHANGHAI_OFFSET_US = 8 * 3600 * US_PER_SECOND

_U64 = np.uint64


# --- unique ids ---------------------------------------------------------------------------------

def mix64(values: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 finaliser of (values xor salt). It is a bijection on uint64, so distinct inputs
    always give distinct outputs: ids derived from it are unique without any lookup."""
    z = np.asarray(values).astype(np.uint64) ^ _U64(salt & 0xFFFFFFFFFFFFFFFF)
    z = z + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    return z ^ (z >> _U64(31))


def salt_for(seed: int, name: str) -> int:
    """A stable 64-bit salt per (seed, id kind); Python's hash() is randomised, so do it by hand."""
    acc = np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
    for char in name:
        acc = mix64(acc, ord(char))
    return int(acc[0])


def affine_permutation(values: np.ndarray, modulus: int, salt: int) -> np.ndarray:
    """(a * v + b) mod m with gcd(a, m) = 1: distinct v < m give distinct results, and the
    results do not reveal the order of v."""
    multiplier = 2_654_435_761  # a prime that divides none of the moduli used here
    assert modulus % multiplier != 0 and int(np.max(values, initial=0)) * multiplier < 2**63
    return (np.asarray(values, dtype=np.int64) * multiplier + salt % modulus) % modulus


def digit_matrix(values: np.ndarray, width: int, alphabet: bytes = b"0123456789") -> np.ndarray:
    """uint8 matrix (n, width) of the values written in base len(alphabet), most significant
    first. The caller makes sure the values fit in `width` digits (or accepts the truncation)."""
    codes = np.frombuffer(alphabet, dtype=np.uint8)
    base = _U64(len(alphabet))
    remaining = np.asarray(values).astype(np.uint64)
    out = np.empty((remaining.size, width), dtype=np.uint8)
    for position in range(width - 1, -1, -1):
        out[:, position] = codes[(remaining % base).astype(np.intp)]
        remaining = remaining // base
    return out


def prefixed(prefix: str, matrix: np.ndarray) -> np.ndarray:
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    return np.hstack([np.broadcast_to(head, (matrix.shape[0], head.size)), matrix])


def matrix_to_arrow(matrix: np.ndarray) -> pa.Array:
    """An ASCII uint8 matrix (n, width) as an Arrow string array, built straight from the bytes."""
    rows, width = matrix.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.LargeStringArray.from_buffers(
        rows, pa.py_buffer(offsets), pa.py_buffer(data)
    ).cast(pa.string())


def matrix_to_numpy(matrix: np.ndarray) -> np.ndarray:
    """An ASCII uint8 matrix (n, width) as a numpy unicode array (for the small customer tables)."""
    width = matrix.shape[1]
    return np.ascontiguousarray(matrix).view(f"S{width}").ravel().astype(f"U{width}")


def sequence_ids(prefix: str, start: int, count: int, width: int = 12) -> pa.Array:
    """prefix + zero-padded running number: the keys of the big tables (events, orders, ...)."""
    return matrix_to_arrow(prefixed(prefix, digit_matrix(np.arange(start, start + count), width)))


# --- messy identifier formats --------------------------------------------------------------------

_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")

# How cashiers, forms and imports write an 11-digit mobile number; staging must accept them all.
PHONE_FORMAT_WEIGHTS = {
    "plain": 0.52,
    "+86": 0.08,
    "+86 spaced": 0.06,
    "0086": 0.05,
    "86": 0.05,
    "dashed": 0.08,
    "spaced": 0.07,
    "full-width": 0.04,
    "padded": 0.03,
    "0086 dashed": 0.02,
}


def messy_phones(rng: np.random.Generator, phones: np.ndarray) -> np.ndarray:
    """Raw phone strings for 11-digit numbers, in the formats real systems land."""
    phones = np.asarray(phones, dtype="U11")
    head = np.strings.slice(phones, 0, 3)
    middle = np.strings.slice(phones, 3, 7)
    tail = np.strings.slice(phones, 7, 11)
    add = np.strings.add

    def joined(separator: str) -> np.ndarray:
        return add(add(add(add(head, separator), middle), separator), tail)

    variants = {
        "plain": phones,
        "+86": add("+86", phones),
        "+86 spaced": add("+86 ", joined(" ")),
        "0086": add("0086", phones),
        "86": add("86", phones),
        "dashed": joined("-"),
        "spaced": joined(" "),
        "full-width": np.strings.translate(phones, _FULL_WIDTH),
        "padded": add(add(" ", phones), " "),
        "0086 dashed": add("0086-", joined("-")),
    }
    weights = np.array(list(PHONE_FORMAT_WEIGHTS.values()))
    choice = rng.choice(len(weights), size=phones.size, p=weights / weights.sum())
    out = np.empty(phones.size, dtype="U20")
    for index, variant in enumerate(variants.values()):
        selected = choice == index
        out[selected] = variant[selected]
    return out


def masked_phones(phones: np.ndarray) -> np.ndarray:
    """Marketplaces hide the middle digits: '138****1234' (not an identifier)."""
    phones = np.asarray(phones, dtype="U11")
    return np.strings.add(np.strings.add(np.strings.slice(phones, 0, 3), "****"),
                          np.strings.slice(phones, 7, 11))


def messy_emails(rng: np.random.Generator, emails: np.ndarray) -> np.ndarray:
    """Upper-case, capitalised and space-padded variants of lower-case e-mails."""
    emails = np.asarray(emails)
    draw = rng.random(emails.size)
    out = emails.astype(f"U{max(emails.dtype.itemsize // 4, 1) + 4}")
    upper = draw < 0.10
    out[upper] = np.strings.upper(emails[upper])
    capitalised = (draw >= 0.10) & (draw < 0.15)
    out[capitalised] = np.strings.capitalize(emails[capitalised])
    padded = (draw >= 0.15) & (draw < 0.25)
    out[padded] = np.strings.add(np.strings.add("  ", emails[padded]), " ")
    return out


def messy_cards(rng: np.random.Generator, cards: np.ndarray) -> np.ndarray:
    """Card numbers as scanned or typed: mostly as printed, sometimes lower-case or spaced."""
    cards = np.asarray(cards)
    draw = rng.random(cards.size)
    out = cards.astype(f"U{max(cards.dtype.itemsize // 4, 1) + 4}")
    lower = draw < 0.08
    out[lower] = np.strings.lower(cards[lower])
    spaced = (draw >= 0.08) & (draw < 0.14)
    out[spaced] = np.strings.add(
        np.strings.add(np.strings.slice(cards[spaced], 0, 3), " "), np.strings.slice(cards[spaced], 3, None)
    )
    return out


# --- time --------------------------------------------------------------------------------------

def local_to_utc_us(day: np.ndarray, second_of_day: np.ndarray) -> np.ndarray:
    """UTC microseconds of a local Shanghai (day number since 1970-01-01, second of that day)."""
    return (np.asarray(day, dtype=np.int64) * US_PER_DAY
            + np.asarray(second_of_day, dtype=np.int64) * US_PER_SECOND - SHANGHAI_OFFSET_US)


def utc_us_to_local_day(utc_us: np.ndarray) -> np.ndarray:
    return (np.asarray(utc_us, dtype=np.int64) + SHANGHAI_OFFSET_US) // US_PER_DAY


# --- small vector utilities ----------------------------------------------------------------------

def rank_within_groups(counts: np.ndarray) -> np.ndarray:
    """For groups laid out one after another with these sizes: 0, 1, ... inside each group."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(starts, counts)


def weighted_choice(rng: np.random.Generator, weights, size: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(size), side="right")


def quota(total: int, start: int, size: int, people: int) -> int:
    """This chunk's share of a dataset-wide count, so that the shares add up to exactly `total`."""
    return total * (start + size) // people - total * start // people


# --- Arrow conversion ----------------------------------------------------------------------------

def arrow_strings(values, valid: np.ndarray | None = None) -> pa.Array:
    if isinstance(values, pa.Array):
        return values if valid is None else pc.if_else(pa.array(valid), values, None)
    return pa.array(np.asarray(values), type=pa.string(),
                    mask=None if valid is None else ~np.asarray(valid, dtype=bool))


def arrow_timestamps(utc_us: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Whole seconds (what source systems keep, and what the CSV format can carry)."""
    utc_us = np.asarray(utc_us, dtype=np.int64)
    return pa.array(utc_us - utc_us % US_PER_SECOND, type=pa.timestamp("us"),
                    mask=None if valid is None else ~np.asarray(valid, dtype=bool))


def arrow_dates(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.date32(),
                    mask=None if valid is None else ~np.asarray(valid, dtype=bool))


def arrow_money(cents: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """decimal128(18, 2) from integer cents, exactly: the decimal's unscaled value *is* the cents,
    stored as 128-bit little-endian two's complement."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty(cents.size * 2, dtype=np.int64)
    words[0::2] = cents
    words[1::2] = np.where(cents < 0, -1, 0)
    validity = None
    null_count = 0
    if valid is not None:
        valid = np.asarray(valid, dtype=bool)
        null_count = int((~valid).sum())
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(pa.decimal128(18, 2), cents.size,
                                 [validity, pa.py_buffer(words)], null_count=null_count)


def arrow_take(values: list[str] | np.ndarray, codes: np.ndarray,
               valid: np.ndarray | None = None) -> pa.Array:
    """Look codes up in a small list of strings (channel names, event types, ...)."""
    dictionary = pa.array(np.asarray(values), type=pa.string())
    out = dictionary.take(pa.array(np.asarray(codes, dtype=np.int64)))
    if valid is not None:
        out = pc.if_else(pa.array(np.asarray(valid, dtype=bool)), out, None)
    return out
