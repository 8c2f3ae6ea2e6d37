"""File destination: CSV drops a partner picks up, one file per operation per sync run.

Each run writes <path>/<audience>/<run_id>-<operation>.csv (external_id + payload fields;
removals carry external_id only). A file appears complete or not at all: it is written under
a temporary name, flushed to disk and renamed.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from activation.destinations.base import BatchResult, Destination, Operation, Record
from activation.errors import ActivationError


@dataclass(frozen=True)
class FileOptions:
    path: Path


class FileDestination(Destination):
    type_name = "file"
    Options = FileOptions

    @property
    def batch_size(self) -> int | None:
        # The whole operation goes into one file, so there is no batch size to configure.
        return None

    def check(self) -> None:
        existing = self.options.path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise ActivationError(
                f"Destination {self.name}: cannot write under {self.options.path} "
                f"({existing} is not a writable directory)."
            )

    def write_batch(
        self, records: Sequence[Record], operation: Operation, idempotency_key: str
    ) -> BatchResult:
        columns = ["external_id"] if operation == "remove" else ["external_id", *self.payload_fields]
        folder = self.options.path / self.run.audience_name
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{self.run.run_id}-{operation}.csv"
        temporary = folder / f".{target.name}.{os.getpid()}.tmp"
        with temporary.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        return BatchResult.all_accepted(records)
