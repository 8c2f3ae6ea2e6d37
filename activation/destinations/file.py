"""File destination: data files a partner picks up, or crowd packs an ad platform takes.

Layout. Each write_batch call (one batch of the sync) writes one part file

    <path>/<audience>/<run_id>-<operation>-<NNNNN>.<ext>

numbered by write_batch call within the run (00001, 00002, ...), so a sync of a million
records streams out in files of `batch_size` records (default 100,000). A part file appears
complete or not at all: it is written under a hidden temporary name (`.<name>.<pid>.tmp`) in the
same folder, fsynced and renamed; pickup scripts should skip dot-files. Bookkeeping lives apart,
under <path>/.onedata/<destination>/<audience>/ (below: <state>), so the audience folder holds
only files to pick up.

Idempotency. The batch's idempotency key (derived from its content by the sync) names a marker
in <state>/keys/. Before any part file of the batch is renamed into place, the marker records
the batch as `writing` with its file names and per-record outcome; once the files (and a crowd
pack's index) are written it says `done`. A batch whose marker says `done` is not written again
(a rerun after a lost acknowledgement, even under a new run id) and gets the recorded outcome
back; one left `writing` by a crash is finished under its recorded names: the files already in
place are kept, only the missing ones are written. So no crash makes a batch appear twice.

Plain data files (`format`): csv (UTF-8, header), jsonl (one JSON object per line, UTF-8) or
parquet (every column a string). Columns: external_id then the payload fields; removals carry
external_id only.

Crowd packs (`crowd_pack`): the file an ad platform takes as an audience upload, hashed
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
import io
import json
import os
import re
import sqlite3
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from activation.config import PositiveWholeNumber, Strict
from activation.destinations.base import (
    CHANNEL_ADDRESS_FIELDS,
    BatchResult,
    Destination,
    Operation,
    Record,
    RecordResult,
)
from activation.errors import ActivationError, DestinationError

FORMATS = ("csv", "jsonl", "parquet")
DEFAULT_FORMAT = "csv"
STATE_FOLDER = ".onedata"
# A fixed zip timestamp: the same batch gives the same bytes on every rerun.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


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


class FileOptions(Strict):
    path: Path
    # csv (default), jsonl or parquet; a crowd pack has its platform's own format instead.
    format: str | None = None
    crowd_pack: str = NO_CROWD_PACK
    batch_size: PositiveWholeNumber = 100_000


class FileDestination(Destination):
    type_name = "file"
    Options = FileOptions

    def __init__(self, config) -> None:
        super().__init__(config)
        self.crowd_pack: CrowdPack | None = CROWD_PACKS.get(self.options.crowd_pack)
        if self.crowd_pack is not None:
            # Instance attributes read by Destination.encode: the pack's own normalisation.
            self.field_normalisers = self.crowd_pack.field_normalisers
            self.hash_algorithm = self.crowd_pack.hash_algorithm
            self.is_ad_platform = True
        self._batches_written = 0

    @property
    def format(self) -> str:
        return self.options.format or DEFAULT_FORMAT

    def start_run(self, run) -> None:
        super().start_run(run)
        self._batches_written = 0

    def check(self) -> None:
        options = self.options
        if options.crowd_pack != NO_CROWD_PACK and self.crowd_pack is None:
            self._fail(
                f"crowd_pack must be {NO_CROWD_PACK} or one of {', '.join(CROWD_PACKS)}, "
                f"got {options.crowd_pack!r}"
            )
        if self.crowd_pack is None:
            if self.format not in FORMATS:
                self._fail(f"format must be one of {', '.join(FORMATS)}, got {options.format!r}")
        else:
            pack = self.crowd_pack.name
            if options.format is not None:
                self._fail(
                    f"a {pack} crowd pack is written in its platform's own format; remove `format`"
                )
            if self.channel != "ad_platform":
                # Sharing with an ad platform needs PIPL's separate consent, read from the
                # ad_platform channel's consent flag.
                self._fail(
                    f"a {pack} crowd pack goes to an ad platform: channel must be ad_platform, "
                    f"not {self.channel}"
                )
            extra = [f for f in self.payload_fields if f not in CHANNEL_ADDRESS_FIELDS["ad_platform"]]
            if extra:
                self._fail(
                    f"a crowd pack holds hashed identifiers only; remove {', '.join(extra)} "
                    "from `fields`"
                )
        existing = options.path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            self._fail(
                f"cannot write under {options.path} ({existing} is not a writable directory)"
            )

    def encode(self, record: Record) -> tuple[Record | None, str | None]:
        encoded, reason = super().encode(record)
        if encoded is None or self.crowd_pack is None:
            return encoded, reason
        # Only the pack's identifiers travel on: the base keeps an e-mail as an address even
        # where the pack cannot take it (tencent_ads), and other fields never go in a pack.
        identifiers = {f: encoded.get(f) for f in self.crowd_pack.fields if f in self.payload_fields}
        if not any(identifiers.values()):
            problem = "invalid" if any(record.get(f) for f in identifiers) else "no"
            return None, (
                f"{problem} {' or '.join(identifiers)} for the {self.crowd_pack.name} crowd pack "
                f"of {self.type_name} (not sent)"
            )
        return {"external_id": record["external_id"], **identifiers}, None

    def write_batch(
        self, records: Sequence[Record], operation: Operation, idempotency_key: str
    ) -> BatchResult:
        self._batches_written += 1
        stem = f"{self.run.run_id}-{operation}-{self._batches_written:05d}"
        folder = self.options.path / self.run.audience_name
        # Per destination: two destinations sharing a path never share keys or a pack index.
        state = self.options.path / STATE_FOLDER / self.name / self.run.audience_name
        marker = state / "keys" / f"{_safe_key(idempotency_key)}.json"
        try:
            recorded = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None
            # Markers written before the `writing` state existed are finished batches.
            if recorded is not None and recorded.get("status", "done") == "done":
                return _result(records, recorded["errors"])
            if recorded is not None:
                stem = recorded["stem"]  # an earlier run stopped half-way: finish its batch
            folder.mkdir(parents=True, exist_ok=True)
            marker.parent.mkdir(parents=True, exist_ok=True)
            if self.crowd_pack is None:
                files, errors, record_index = self._data_file(stem, records, operation), {}, None
            else:
                files, errors, record_index = self._crowd_pack(state, stem, records, operation)
            names = [name for name, _ in files]
            if recorded is None:
                _write_marker(marker, "writing", stem, names, errors)
            else:
                # The same content gives the same files; what the first attempt announced wins.
                names, errors = recorded["files"], recorded["errors"]
                files = [(name, write) for name, write in files if name in names]
            for name, write in files:
                if not (folder / name).exists():
                    _write_atomically(folder / name, write)
            if record_index is not None:
                record_index()
            _write_marker(marker, "done", stem, names, errors)
        except (OSError, sqlite3.Error) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise DestinationError(
                f"Destination {self.name} could not write batch {stem} under {folder}: {reason}. "
                "Batches written so far are recorded; rerun the sync to resume."
            ) from error
        return _result(records, errors)

    # Plain data files -------------------------------------------------------------------

    def _data_file(
        self, stem: str, records: Sequence[Record], operation: Operation
    ) -> list[tuple[str, Callable[[BinaryIO], object]]]:
        """The batch's one part file: (name, writer)."""
        columns = ["external_id"] if operation == "remove" else ["external_id", *self.payload_fields]
        writer = {"csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet}[self.format]
        return [(f"{stem}.{self.format}", lambda handle: writer(handle, columns, records))]

    # Crowd packs ------------------------------------------------------------------------

    def _crowd_pack(
        self, state: Path, stem: str, records: Sequence[Record], operation: Operation
    ) -> tuple[list[tuple[str, Callable[[BinaryIO], object]]], dict[str, str], Callable[[], None]]:
        """The batch's pack files (name, writer), the refused records, and the update of the
        pack index (which hashes this destination holds) to run once the files are written."""
        pack = self.crowd_pack
        fields = [f for f in pack.fields if f in self.payload_fields]
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
                        f"not in the {pack.name} pack index ({STATE_FOLDER}/): this "
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
            files.append(self._pack_file(stem, fields, rows))
        if stale:
            files.append(self._pack_file(f"{stem}-reduce", fields, stale))

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
        self, stem: str, fields: list[str], rows: list[dict]
    ) -> tuple[str, Callable[[BinaryIO], object]]:
        pack = self.crowd_pack
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
                with _text(handle) as text_handle:
                    writer = csv.writer(text_handle, lineterminator="\n")
                    writer.writerow(header)
                    writer.writerows([row.get(f) or "" for f in header.values()] for row in rows)

        return f"{stem}.{pack.extension}", write

    def _fail(self, problem: str) -> None:
        raise ActivationError(f"Destination {self.name}: {problem}.")


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


def _safe_key(idempotency_key: str) -> str:
    # The sync's keys are hex; anything else is hashed rather than trusted as a file name.
    if _SAFE_KEY.match(idempotency_key):
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()


def _write_marker(marker: Path, status: str, stem: str, files: list[str], errors: dict) -> None:
    content = json.dumps({"status": status, "stem": stem, "files": files, "errors": errors})
    _write_atomically(marker, lambda handle: handle.write(content.encode()))


def _result(records: Sequence[Record], errors: dict[str, str]) -> BatchResult:
    return BatchResult(
        tuple(RecordResult(r["external_id"], errors.get(r["external_id"])) for r in records)
    )


@contextlib.contextmanager
def _text(handle: BinaryIO):
    wrapper = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()  # leave the binary handle open for the fsync


def _write_csv(handle: BinaryIO, columns: list[str], records: Sequence[Record]) -> None:
    with _text(handle) as text_handle:
        writer = csv.DictWriter(text_handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def _write_jsonl(handle: BinaryIO, columns: list[str], records: Sequence[Record]) -> None:
    for record in records:
        line = json.dumps({c: record.get(c) for c in columns}, ensure_ascii=False, default=str)
        handle.write(line.encode("utf-8") + b"\n")


def _write_parquet(handle: BinaryIO, columns: list[str], records: Sequence[Record]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Every audience payload field is text in the contract; a fixed schema keeps an all-null
    # column typed the same in every part file.
    table = pa.table(
        {
            column: pa.array(
                [None if r.get(column) is None else str(r.get(column)) for r in records],
                pa.string(),
            )
            for column in columns
        }
    )
    pq.write_table(table, handle)


def _write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write under a temporary name, fsync, rename: readers see the whole file or none."""
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    # The rename itself is durable only once the folder is synced.
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
