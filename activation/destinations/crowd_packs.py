"""Crowd packs (`crowd_pack`): the file an ad platform takes as an audience upload, hashed
identifiers only, nothing else (no external_id). The destination is then an ad platform: its
channel must be ad_platform (PIPL's separate consent), and its fields only phone and email.

- tencent_ads. Tencent Ads (腾讯广告 / 广点通) DMP customer-file audiences (客户文件人群) are
  uploaded with Marketing API `custom_audience_files/add` (multipart form: account_id,
  audience_id, user_id_type, file, operation_type APPEND (default) or REDUCE). The documented
  file is txt or csv with one id per line and no header, sent as a zip of at most 100 MB; one
  file holds one user_id_type. HASH_MOBILE_PHONE is the MD5 of the 11-digit mobile number
  (no +86; 32 hex characters, case-insensitive: written lower-case here). There is no e-mail id
  type, so e-mail is not written. A part is <name>.zip holding <name>.HASH_MOBILE_PHONE.txt
  (the inner name tells the uploader which user_id_type to pass); add and update parts are
  APPEND uploads, remove parts REDUCE uploads. Sources: developers.e.qq.com "客户文件人群" and
  "custom_audience_files/add"; datanexus.qq.com custom_audience_files_add (v1.3).
- sha256: customer files of the other platforms: a CSV with the header Phone_SHA256,Email_SHA256
  (the header TikTok requires for hashed ids; Meta maps columns on upload), one member per row,
  SHA-256 of the phone as digits with country code and no `+` (Meta's and TikTok's rule) and of
  the e-mail trimmed and lower-cased; an empty cell where a member has no such id.

A removal arrives with external_id only, but a platform can only reduce by the hashes it was
given: the hashes written for each external_id are kept in <state>/crowd-<pack>.sqlite3, and a
remove part lists them. An update whose hashes changed (a new phone number) also writes
<name>-reduce.<ext> with the stale hashes, so a recycled number stops being targeted.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from activation.destinations.base import Operation, Record
from activation.destinations.file_writes import PartFile, text_stream

# A fixed zip timestamp: the same batch gives the same bytes on every rerun.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class CrowdPack:
    """How one platform takes an audience file."""

    name: str
    # Which identifiers go in the file: field -> normaliser; their hash algorithm.
    field_normalisers: dict[str, str]
    hash_algorithm: str
    extension: str
    # The header naming each identifier column; None for one bare id per line.
    header: dict[str, str] | None
    # tencent_ads: the platform's user_id_type, named in the text file inside the zip.
    user_id_type: str | None = None

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.field_normalisers)

    @property
    def hash_length(self) -> int:
        return hashlib.new(self.hash_algorithm).digest_size * 2


CROWD_PACKS: dict[str, CrowdPack] = {
    "tencent_ads": CrowdPack(
        name="tencent_ads",
        field_normalisers={"phone": "cn_mobile_11_digits"},
        hash_algorithm="md5",
        extension="zip",
        header=None,
        user_id_type="HASH_MOBILE_PHONE",
    ),
    "sha256": CrowdPack(
        name="sha256",
        field_normalisers={"phone": "phone_digits_with_country_code", "email": "trimmed_lower"},
        hash_algorithm="sha256",
        extension="csv",
        header={"phone": "Phone_SHA256", "email": "Email_SHA256"},
    ),
}
NO_CROWD_PACK = "none"


def pack_files(
    pack: CrowdPack, fields: list[str], state: Path, stem: str, records: list[Record], operation: Operation
) -> tuple[list[PartFile], dict[str, str], Callable[[], None]]:
    """The batch's pack files, the records refused (external_id -> why), and the update of the
    pack index (which hashes this destination holds, under `state`) to run once the files are
    written."""
    errors: dict[str, str] = {}
    index_path = state / f"crowd-{pack.name}.sqlite3"
    with contextlib.closing(sqlite3.connect(index_path)) as index:
        index.execute(
            "create table if not exists written (external_id text primary key, ids text not null)"
        )
        held = _held_ids(index, [record["external_id"] for record in records])
    rows, stale, taken = [], [], {}
    for record in records:
        external_id = record["external_id"]
        if operation == "remove":
            ids = held.get(external_id)
            if ids is None:
                errors[external_id] = (
                    f"not in the {pack.name} pack index (the destination's state folder): this "
                    "destination never wrote its hashes, so it has nothing to reduce"
                )
                continue
        else:
            ids, problem = _pack_ids(record, fields, pack)
            if problem:
                errors[external_id] = problem
                continue
            old = held.get(external_id) or {}
            gone = {f: v for f, v in old.items() if v and v != ids.get(f)}
            if gone:
                stale.append(gone)
            taken[external_id] = ids
        rows.append(ids)

    files = []
    if rows:
        files.append(_pack_file(pack, stem, fields, rows))
    if stale:
        files.append(_pack_file(pack, f"{stem}-reduce", fields, stale))

    def record_index() -> None:
        with contextlib.closing(sqlite3.connect(index_path)) as index, index:
            if operation == "remove":
                index.executemany(
                    "delete from written where external_id = ?",
                    [(external_id,) for external_id in held if external_id not in errors],
                )
            else:
                index.executemany(
                    "insert or replace into written values (?, ?)",
                    [(external_id, json.dumps(ids)) for external_id, ids in taken.items()],
                )

    return files, errors, record_index


def _pack_file(
    pack: CrowdPack, stem: str, fields: list[str], rows: list[dict]
) -> tuple[str, Callable[[BinaryIO], object]]:
    if pack.header is None:
        # One bare id per line (tencent_ads takes one id type per file), zipped.
        [field_name] = fields
        text = "".join(f"{row[field_name]}\n" for row in rows if row.get(field_name))
        inner = zipfile.ZipInfo(f"{stem}.{pack.user_id_type}.txt", date_time=_ZIP_DATE)
        inner.compress_type = zipfile.ZIP_DEFLATED

        def write(handle: BinaryIO) -> None:
            with zipfile.ZipFile(handle, "w") as archive:
                archive.writestr(inner, text.encode("ascii"))
    else:
        header = {pack.header[f]: f for f in fields}

        def write(handle: BinaryIO) -> None:
            with text_stream(handle) as text_handle:
                writer = csv.writer(text_handle, lineterminator="\n")
                writer.writerow(header)
                writer.writerows([row.get(f) or "" for f in header.values()] for row in rows)

    return f"{stem}.{pack.extension}", write


def _pack_ids(record: Record, fields: list[str], pack: CrowdPack) -> tuple[dict, str | None]:
    """The record's hashes for the pack, or a reason it cannot go in (never the value)."""
    ids = {}
    for field_name in fields:
        value = record.get(field_name)
        if value is None:
            continue
        value = str(value).lower()
        if len(value) != pack.hash_length or not _is_hex(value):
            # A raw phone or e-mail must never reach a pack: the sync encodes records first.
            return {}, f"{field_name} is not a {pack.hash_algorithm} hash (not written)"
        ids[field_name] = value
    if not ids:
        return {}, f"no {' or '.join(fields)} for the {pack.name} crowd pack (not written)"
    return ids, None


def _held_ids(index: sqlite3.Connection, external_ids: list[str]) -> dict[str, dict]:
    held = {}
    # SQLite limits the number of parameters in one statement.
    for start in range(0, len(external_ids), 500):
        chunk = external_ids[start : start + 500]
        placeholders = ",".join("?" * len(chunk))
        cursor = index.execute(
            f"select external_id, ids from written where external_id in ({placeholders})", chunk
        )
        held.update((external_id, json.loads(ids)) for external_id, ids in cursor)
    return held


def _is_hex(value: str) -> bool:
    return all(character in "0123456789abcdef" for character in value)
