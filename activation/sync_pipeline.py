"""The moving parts of a sync's send loop: the diff handed out batch by batch, the writer thread
that commits answered batches while the next one is on the network, and the pace."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import duckdb
import pyarrow as pa


class BatchRows:
    """The diff as it streams from DuckDB, handed out in tables of exactly the sizes asked for
    (a batch of plan_batches), with named columns."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self._reader = reader
        self._rest = None

    def take(self, size: int) -> pa.Table:
        parts, taken = [], 0
        while taken < size:
            if self._rest is None or self._rest.num_rows == 0:
                self._rest = self._reader.read_next_batch()
            part = self._rest.slice(0, size - taken)
            self._rest = self._rest.slice(part.num_rows)
            parts.append(part)
            taken += part.num_rows
        return pa.Table.from_batches(parts, schema=self._reader.schema)

    def close(self) -> None:
        """Release the result, so that the connection can run other statements."""
        self._reader.close()


class BatchWriter:
    """Commits answered batches in order on its own connection and thread, so the warehouse
    writes of one batch overlap the network time of the next. A failed write stops the sync
    at the next batch; the batches not yet committed stay pending and are resent by the rerun."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection
        self._work: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._committed = 0
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="sync-writer", daemon=True)
        self._thread.start()

    def submit(self, batch_number: int, commit: Callable[..., None]) -> None:
        self.raise_error()
        self._work.put((batch_number, commit))

    def wait_committed(self, batch_number: int) -> None:
        """Until every batch up to this number is committed (or the writer failed)."""
        with self._progress:
            self._progress.wait_for(lambda: self._committed >= batch_number or self._error)
        self.raise_error()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self, raise_error: bool = True) -> None:
        self._work.put(None)
        self._thread.join()
        self._connection.close()
        if raise_error:
            self.raise_error()

    def _run(self) -> None:
        while (item := self._work.get()) is not None:
            batch_number, commit = item
            if self._error is None:
                try:
                    commit(self._connection)
                except BaseException as error:  # handed to the sending thread
                    self._error = error
            with self._progress:
                self._committed = batch_number
                self._progress.notify_all()


class Throttle:
    """Spaces calls to at most `rate` per second."""

    def __init__(self, rate: float | None) -> None:
        self._interval = 1 / rate if rate else 0.0
        self._next_call_at = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next_call_at:
            time.sleep(self._next_call_at - now)
        self._next_call_at = max(now, self._next_call_at) + self._interval
