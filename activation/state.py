"""Reads and writes the activation tables (DDL owned by dbt: macros/activation/).

Every write that belongs to one acknowledged batch happens in one transaction, so the tables
never show a batch half recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

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
    capped: int = 0


@dataclass(frozen=True)
class LedgerRow:
    """What happened to one record of a batch; error is None when the destination took it."""

    one_id: str
    variant: str | None
    payload_fingerprint: str
    error: str | None
    reference: str | None


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


def insert_run(
    connection: duckdb.DuckDBPyConnection,
    run: RunInfo,
    *,
    is_dry_run: bool,
    status: str,
    counts: RunCounts,
    started_at: dt.datetime,
    sync_mode: str,
    audience_version: str,
) -> None:
    connection.execute(
        f"""
        insert into {SYNC_RUNS} (
            sync_run_id, audience_name, destination_name, campaign_id, sync_mode,
            audience_version, is_dry_run, run_status, added_count, removed_count,
            unchanged_count, held_out_count, suppressed_count, rejected_count, capped_count,
            started_at, finished_at
        ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)
        """,
        [
            run.run_id, run.audience_name, run.destination_name, run.campaign_id, sync_mode,
            audience_version, is_dry_run, status, counts.added, counts.removed,
            counts.unchanged, counts.held_out, counts.suppressed, counts.rejected,
            counts.capped, started_at,
        ],
    )


def finish_run(
    connection: duckdb.DuckDBPyConnection, run: RunInfo, *, status: str, counts: RunCounts
) -> None:
    connection.execute(
        f"""
        update {SYNC_RUNS}
        set run_status = ?, added_count = ?, removed_count = ?, unchanged_count = ?,
            held_out_count = ?, suppressed_count = ?, rejected_count = ?, capped_count = ?,
            finished_at = ?
        where sync_run_id = ?
        """,
        [
            status, counts.added, counts.removed, counts.unchanged, counts.held_out,
            counts.suppressed, counts.rejected, counts.capped, utc_now(), run.run_id,
        ],
    )


def commit_batch(
    connection: duckdb.DuckDBPyConnection,
    run: RunInfo,
    *,
    operation: Operation,
    batch_number: int,
    idempotency_key: str,
    rows: Sequence[LedgerRow],
    channel: str,
    sync_mode: str,
    audience_version: str,
    unit_cost: float,
) -> None:
    """Record an acknowledged batch: a ledger row for every record, sync_state for those taken.

    A rejected record leaves sync_state as it was, so the next run sends it again.
    """
    recorded_at = utc_now()
    accepted = [row for row in rows if row.error is None]
    with transaction(connection):
        # An added record is not held yet, except in append mode where adds are per campaign.
        if operation != "add" or sync_mode == "append":
            _delete_state(connection, run, [row.one_id for row in accepted])
        if operation != "remove" and accepted:
            # Lists bound as parameters and unnested: one statement per batch, no per-row calls.
            connection.execute(
                f"""
                insert into {SYNC_STATE} (
                    audience_name, destination_name, one_id, record_fingerprint, sync_run_id,
                    synced_at
                )
                select ?, ?, unnest(?::varchar[]), unnest(?::varchar[]), ?, ?
                """,
                [
                    run.audience_name, run.destination_name,
                    [row.one_id for row in accepted],
                    [row.payload_fingerprint for row in accepted],
                    run.run_id, recorded_at,
                ],
            )
        if rows:
            connection.execute(
                f"""
                insert into {SYNC_LEDGER} (
                    sync_run_id, campaign_id, audience_name, destination_name, channel, sync_mode,
                    audience_version, operation, batch_number, idempotency_key, recorded_at,
                    variant, one_id, payload_fingerprint, error_message, destination_reference,
                    send_status, unit_cost
                )
                select ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                    unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]),
                    unnest(?::varchar[]), unnest(?::varchar[]), unnest(?::varchar[]),
                    unnest(?::double[])
                """,
                [
                    run.run_id, run.campaign_id, run.audience_name, run.destination_name, channel,
                    sync_mode, audience_version, operation, batch_number, idempotency_key,
                    recorded_at,
                    [row.variant for row in rows],
                    [row.one_id for row in rows],
                    [row.payload_fingerprint for row in rows],
                    [row.error for row in rows],
                    [row.reference for row in rows],
                    ["sent" if row.error is None else "rejected" for row in rows],
                    # Only what was sent costs; a refused record is free.
                    [unit_cost if row.error is None else 0.0 for row in rows],
                ],
            )


def _delete_state(connection: duckdb.DuckDBPyConnection, run: RunInfo, one_ids: list[str]) -> None:
    if not one_ids:
        return
    connection.execute(
        f"""
        delete from {SYNC_STATE}
        where audience_name = ? and destination_name = ?
            and one_id in (select unnest(?::varchar[]))
        """,
        [run.audience_name, run.destination_name, one_ids],
    )
