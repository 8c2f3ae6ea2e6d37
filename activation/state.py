"""Reads and writes the activation tables (DDL owned by dbt: macros/activation/).

Every write that belongs to one acknowledged batch happens in one transaction, so the tables
never show a batch half recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from activation.destinations import Operation, RunInfo
from activation.settings import ACTIVATION_SCHEMA

SYNC_RUNS = f"{ACTIVATION_SCHEMA}.sync_runs"
SYNC_STATE = f"{ACTIVATION_SCHEMA}.sync_state"
CAMPAIGN_ASSIGNMENTS = f"{ACTIVATION_SCHEMA}.campaign_assignments"
SYNC_LEDGER = f"{ACTIVATION_SCHEMA}.sync_ledger"


@dataclass(frozen=True)
class RunCounts:
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    held_out: int = 0
    suppressed: int = 0
    rejected: int = 0


@dataclass(frozen=True)
class RecordOutcome:
    """What happened to one record of a batch; error is None when the destination took it."""

    one_id: str
    payload_fingerprint: str
    error: str | None


def utc_now() -> dt.datetime:
    # The warehouse stores naive UTC timestamps (landing contract).
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection):
    connection.begin()
    try:
        yield
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


def load_sync_state(
    connection: duckdb.DuckDBPyConnection, audience_name: str, destination_name: str
) -> dict[str, str]:
    """one_id -> record_fingerprint of what the destination holds now."""
    rows = connection.execute(
        f"select one_id, record_fingerprint from {SYNC_STATE} "
        "where audience_name = ? and destination_name = ?",
        [audience_name, destination_name],
    ).fetchall()
    return dict(rows)


def load_assignments(connection: duckdb.DuckDBPyConnection, campaign_id: str) -> dict[str, str]:
    """one_id -> assignment_group ('treated' or 'holdout') already recorded for the campaign."""
    rows = connection.execute(
        f"select one_id, assignment_group from {CAMPAIGN_ASSIGNMENTS} where campaign_id = ?",
        [campaign_id],
    ).fetchall()
    return dict(rows)


def insert_run(
    connection: duckdb.DuckDBPyConnection,
    run: RunInfo,
    *,
    is_dry_run: bool,
    status: str,
    counts: RunCounts,
    started_at: dt.datetime,
    finished_at: dt.datetime | None = None,
) -> None:
    connection.execute(
        f"""
        insert into {SYNC_RUNS} (
            sync_run_id, audience_name, destination_name, campaign_id, is_dry_run, run_status,
            added_count, removed_count, unchanged_count, held_out_count, suppressed_count,
            rejected_count, started_at, finished_at
        ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            run.run_id, run.audience_name, run.destination_name, run.campaign_id, is_dry_run,
            status, counts.added, counts.removed, counts.unchanged, counts.held_out,
            counts.suppressed, counts.rejected, started_at, finished_at,
        ],
    )


def finish_run(
    connection: duckdb.DuckDBPyConnection, run: RunInfo, *, status: str, counts: RunCounts
) -> None:
    connection.execute(
        f"""
        update {SYNC_RUNS}
        set run_status = ?, added_count = ?, removed_count = ?, unchanged_count = ?,
            held_out_count = ?, suppressed_count = ?, rejected_count = ?, finished_at = ?
        where sync_run_id = ?
        """,
        [
            status, counts.added, counts.removed, counts.unchanged, counts.held_out,
            counts.suppressed, counts.rejected, utc_now(), run.run_id,
        ],
    )


def insert_assignments(
    connection: duckdb.DuckDBPyConnection, run: RunInfo, groups: dict[str, str]
) -> None:
    assigned_at = utc_now()
    _insert_rows(
        connection,
        CAMPAIGN_ASSIGNMENTS,
        (
            {
                "campaign_id": run.campaign_id,
                "one_id": one_id,
                "audience_name": run.audience_name,
                "destination_name": run.destination_name,
                "assignment_group": group,
                "sync_run_id": run.run_id,
                "assigned_at": assigned_at,
            }
            for one_id, group in groups.items()
        ),
    )


def commit_batch(
    connection: duckdb.DuckDBPyConnection,
    run: RunInfo,
    *,
    operation: Operation,
    batch_number: int,
    idempotency_key: str,
    outcomes: Sequence[RecordOutcome],
) -> None:
    """Record an acknowledged batch: ledger rows for every record, sync_state for those taken.

    A rejected record leaves sync_state as it was, so the next run sends it again.
    """
    recorded_at = utc_now()
    accepted = [outcome for outcome in outcomes if outcome.error is None]
    with transaction(connection):
        _delete_state(connection, run, [outcome.one_id for outcome in accepted])
        if operation != "remove":
            _insert_rows(
                connection,
                SYNC_STATE,
                (
                    {
                        "audience_name": run.audience_name,
                        "destination_name": run.destination_name,
                        "one_id": outcome.one_id,
                        "record_fingerprint": outcome.payload_fingerprint,
                        "sync_run_id": run.run_id,
                        "synced_at": recorded_at,
                    }
                    for outcome in accepted
                ),
            )
        _insert_rows(
            connection,
            SYNC_LEDGER,
            (
                {
                    "sync_run_id": run.run_id,
                    "campaign_id": run.campaign_id,
                    "audience_name": run.audience_name,
                    "destination_name": run.destination_name,
                    "one_id": outcome.one_id,
                    "operation": operation,
                    "send_status": "sent" if outcome.error is None else "rejected",
                    "batch_number": batch_number,
                    "idempotency_key": idempotency_key,
                    "payload_fingerprint": outcome.payload_fingerprint,
                    "error_message": outcome.error,
                    "recorded_at": recorded_at,
                }
                for outcome in outcomes
            ),
        )


def _delete_state(connection: duckdb.DuckDBPyConnection, run: RunInfo, one_ids: list[str]) -> None:
    if not one_ids:
        return
    connection.register("_state_keys", pa.table({"one_id": pa.array(one_ids, pa.string())}))
    try:
        connection.execute(
            f"""
            delete from {SYNC_STATE}
            where audience_name = ? and destination_name = ?
                and one_id in (select one_id from _state_keys)
            """,
            [run.audience_name, run.destination_name],
        )
    finally:
        connection.unregister("_state_keys")


def _insert_rows(connection: duckdb.DuckDBPyConnection, table: str, rows: Iterable[dict]) -> None:
    """Bulk insert through Arrow: one statement instead of one per row."""
    rows = list(rows)
    if not rows:
        return
    columns = list(rows[0])
    connection.register("_incoming_rows", pa.Table.from_pylist(rows))
    try:
        column_list = ", ".join(columns)
        connection.execute(
            f"insert into {table} ({column_list}) select {column_list} from _incoming_rows"
        )
    finally:
        connection.unregister("_incoming_rows")
