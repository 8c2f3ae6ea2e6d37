"""The durable buffer of `activate feedback serve`: what it answered 200 for and has not landed.

A callback is answered 200 only once its events are committed here (SQLite, WAL, synchronous
FULL: on disk before the answer), so a receiver killed with SIGKILL or by a power cut loses
nothing it acknowledged: the next start lands what is left. The same file keeps the replay
guard: the signature of every signed request accepted in the last five minutes, so a request
replayed within its timestamp's window is refused even after a restart.

Nothing here holds a phone or an e-mail in clear: events are validated rows (ids that look like
personal data are refused), rejected rows are scrubbed before they are stored, and an SMS
receipt keeps its phone only as a keyed hash (HMAC with the receiver's secret) to match the
members it was sent to, and masked for the rejects file.

The file lives beside the landing directory (`<raw dir>/../feedback_serve/buffer.sqlite3`), and
one receiver at a time may use it: a second one on the same landing directory is refused.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activation.errors import ActivationError
from activation.settings import Settings

_SCHEMA = (
    "create table if not exists events (feedback_event_id text primary key, event text not null)",
    "create table if not exists receipts (receipt_id integer primary key, receipt text not null)",
    "create table if not exists rejects (reject_id integer primary key, reject text not null)",
    "create table if not exists seen_requests (signature text primary key, expires_at real not null)",
)


def buffer_path(settings: Settings) -> Path:
    return settings.raw_dir.resolve().parent / "feedback_serve" / "buffer.sqlite3"


@dataclass(frozen=True)
class Accepted:
    """What one request added: `status` is "ok", "replayed" or "full" (nothing added then)."""

    status: str
    events: int = 0
    duplicates: int = 0


class FeedbackBuffer:
    """Rows waiting to land (events, SMS receipts, rejects) and the replay guard, in one file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock_file = path.with_suffix(".lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            self._lock_file.close()
            raise ActivationError(
                f"Another `activate feedback serve` uses {path.parent}: one receiver per landing directory."
            ) from error
        # One connection shared by the request threads and the flush, behind self._lock.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma synchronous = full")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._lock = threading.Lock()
        self._waiting = sum(self._db.execute(f"select count(*) from {table}").fetchone()[0]
                            for table in ("events", "receipts", "rejects"))

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._lock_file.close()

    @property
    def waiting(self) -> int:
        """Rows not landed yet: events, receipts and rejects alike count toward the cap."""
        return self._waiting

    def was_seen(self, signature: str) -> bool:
        with self._lock:
            return self._seen(signature)

    def accept(
        self,
        *,
        events: dict[str, dict],
        receipts: list[dict],
        rejects: list[dict],
        max_waiting: int,
        signature: str | None = None,
        signature_expires_at: float = 0.0,
        already_landed=lambda event_id: False,
    ) -> Accepted:
        """Store one request's rows in one transaction, committed to disk before returning."""
        with self._lock:
            if signature is not None and self._seen(signature):
                return Accepted("replayed")
            incoming = len(events) + len(receipts) + len(rejects)
            if self._waiting + incoming > max_waiting:
                return Accepted("full")
            with self._transaction():
                added = 0
                for event_id, event in events.items():
                    if already_landed(event_id):
                        continue
                    added += self._db.execute(
                        "insert or ignore into events values (?, ?)", (event_id, _dumps(event))
                    ).rowcount
                self._db.executemany("insert into receipts (receipt) values (?)",
                                     [(_dumps(receipt),) for receipt in receipts])
                self._db.executemany("insert into rejects (reject) values (?)",
                                     [(_dumps(reject),) for reject in rejects])
                if signature is not None:
                    self._db.execute("insert into seen_requests values (?, ?)",
                                     (signature, signature_expires_at))
            self._waiting += added + len(receipts) + len(rejects)
            return Accepted("ok", len(events), len(events) - added)

    def take(self, table: str, limit: int) -> list[tuple[Any, dict]]:
        """The oldest `limit` rows of events, receipts or rejects as (key, row); they stay
        stored until `settle` removes them."""
        key, column = {"events": ("feedback_event_id", "event"), "receipts": ("receipt_id", "receipt"),
                       "rejects": ("reject_id", "reject")}[table]
        with self._lock:
            rows = self._db.execute(
                f"select {key}, {column} from {table} order by rowid limit ?", (limit,)).fetchall()
        return [(row_key, json.loads(text)) for row_key, text in rows]

    def settle(self, *, event_ids=(), receipt_ids=(), reject_ids=(), new_rejects=()) -> None:
        """Forget what was landed or written aside, and store the rows set aside meanwhile."""
        with self._lock, self._transaction():
            removed = 0
            for table, key, ids in (("events", "feedback_event_id", event_ids),
                                    ("receipts", "receipt_id", receipt_ids),
                                    ("rejects", "reject_id", reject_ids)):
                for row_key in ids:
                    removed += self._db.execute(f"delete from {table} where {key} = ?", (row_key,)).rowcount
            self._db.executemany("insert into rejects (reject) values (?)",
                                 [(_dumps(reject),) for reject in new_rejects])
            self._waiting += len(new_rejects) - removed

    def forget_seen_before(self, now: float) -> None:
        with self._lock, self._transaction():
            self._db.execute("delete from seen_requests where expires_at < ?", (now,))

    def _seen(self, signature: str) -> bool:
        return self._db.execute("select 1 from seen_requests where signature = ?", (signature,)).fetchone() is not None

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("begin immediate")

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            try:
                self._db.execute("commit")
                return
            except sqlite3.Error:
                self._db.execute("rollback")
                raise
        self._db.execute("rollback")


def _dumps(row: dict) -> str:
    # Rows are validated or scrubbed before they get here; default=str writes datetimes and
    # decimals as text, which the flush reads back (activation.feedback_server).
    return json.dumps(row, ensure_ascii=False, default=str, sort_keys=True)
