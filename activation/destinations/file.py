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

Crowd packs (`crowd_pack: tencent_ads | sha256`): the file an ad platform takes as an audience
upload, hashed identifiers only (activation/destinations/crowd_packs.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from activation.config import PositiveWholeNumber, Strict
from activation.destinations.base import (
    CHANNEL_ADDRESS_FIELDS,
    BatchResult,
    Destination,
    Operation,
    Record,
    RecordResult,
)
from activation.destinations.crowd_packs import CROWD_PACKS, NO_CROWD_PACK, CrowdPack, pack_files
from activation.destinations.file_writes import (
    PartFile,
    safe_key,
    write_atomically,
    write_csv,
    write_jsonl,
    write_marker,
    write_parquet,
)
from activation.errors import ActivationError, DestinationError

FORMATS = ("csv", "jsonl", "parquet")
DEFAULT_FORMAT = "csv"
STATE_FOLDER = ".onedata"


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
        marker = state / "keys" / f"{safe_key(idempotency_key)}.json"
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
                write_marker(marker, "writing", stem, names, errors)
            else:
                # The same content gives the same files; what the first attempt announced wins.
                names, errors = recorded["files"], recorded["errors"]
                files = [(name, write) for name, write in files if name in names]
            for name, write in files:
                if not (folder / name).exists():
                    write_atomically(folder / name, write)
            if record_index is not None:
                record_index()
            write_marker(marker, "done", stem, names, errors)
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
    ) -> list[PartFile]:
        """The batch's one part file: (name, writer)."""
        columns = ["external_id"] if operation == "remove" else ["external_id", *self.payload_fields]
        writer = {"csv": write_csv, "jsonl": write_jsonl, "parquet": write_parquet}[self.format]
        return [(f"{stem}.{self.format}", lambda handle: writer(handle, columns, records))]

    # Crowd packs ------------------------------------------------------------------------

    def _crowd_pack(
        self, state: Path, stem: str, records: Sequence[Record], operation: Operation
    ) -> tuple[list[PartFile], dict[str, str], Callable[[], None]]:
        fields = [f for f in self.crowd_pack.fields if f in self.payload_fields]
        return pack_files(self.crowd_pack, fields, state, stem, list(records), operation)

    def _fail(self, problem: str) -> None:
        raise ActivationError(f"Destination {self.name}: {problem}.")


def _result(records: Sequence[Record], errors: dict[str, str]) -> BatchResult:
    return BatchResult(
        tuple(RecordResult(r["external_id"], errors.get(r["external_id"])) for r in records)
    )


