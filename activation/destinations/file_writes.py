"""How the file destination writes: part files that appear whole or not at all, the markers that
make a batch written once, and the plain formats (csv, jsonl, parquet)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

from activation.destinations.base import Record

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
# (file name, the function that writes it to an open binary file)
PartFile = tuple[str, Callable[[BinaryIO], object]]


def safe_key(idempotency_key: str) -> str:
    # The sync's keys are hex; anything else is hashed rather than trusted as a file name.
    if _SAFE_KEY.match(idempotency_key):
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()


def write_marker(marker: Path, status: str, stem: str, files: list[str], errors: dict) -> None:
    content = json.dumps({"status": status, "stem": stem, "files": files, "errors": errors})
    write_atomically(marker, lambda handle: handle.write(content.encode()))


@contextlib.contextmanager
def text_stream(handle: BinaryIO):
    wrapper = io.TextIOWrapper(handle, encoding="utf-8", newline="")
    try:
        yield wrapper
    finally:
        wrapper.flush()
        wrapper.detach()  # leave the binary handle open for the fsync


def write_csv(handle: BinaryIO, columns: list[str], records: Sequence[Record]) -> None:
    with text_stream(handle) as text_handle:
        writer = csv.DictWriter(text_handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)


def write_jsonl(handle: BinaryIO, columns: list[str], records: Sequence[Record]) -> None:
    for record in records:
        line = json.dumps({c: record.get(c) for c in columns}, ensure_ascii=False, default=str)
        handle.write(line.encode("utf-8") + b"\n")


def write_parquet(handle: BinaryIO, columns: list[str], records: Sequence[Record]) -> None:
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


def write_atomically(target: Path, write: Callable[[BinaryIO], object]) -> None:
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
