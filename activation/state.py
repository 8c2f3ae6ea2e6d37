"""Reads and writes the activation tables (DDL owned by dbt: macros/activation/).

Every write that belongs to one acknowledged batch happens in one transaction, so the tables
never show a batch half recorded.
"""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb
import orjson
import pyarrow as pa

from activation.destinations import Operation, Record, RunInfo
from activation.settings import ACTIVATION_SCHEMA

SYNC_RUNS = f"{ACTIVATION_SCHEMA}.sync_runs"
SYNC_STATE = f"{ACTIVATION_SCHEMA}.sync_state"
CAMPAIGN_ASSIGNMENTS = f"{ACTIVATION_SCHEMA}.campaign_assignments"
SYNC_LEDGER = f"{ACTIVATION_SCHEMA}.sync_ledger"
SYNC_PENDING_BATCHES = f"{ACTIVATION_SCHEMA}.sync_pending_batches"
SYNC_BASELINES = f"{ACTIVATION_SCHEMA}.sync_baselines"
SYNC_OUTCOMES = f"{ACTIVATION_SCHEMA}.sync_outcomes"
AUDIENCE_CAPTURES = f"{ACTIVATION_SCHEMA}.audience_captures"
AUDIENCE_CHANGES = f"{ACTIVATION_SCHEMA}.audience_changes"
# A run's status when it finished: every record taken, or some refused by the destination.
COMPLETED_STATUSES = ("succeeded", "completed_with_rejections")
# A run the sync guardrails stopped before it sent anything (activation/guardrails.py).
REFUSED = "refused"
# The temp table of the members of pending batches the plan counts as held (create_pending_members).
PENDING_MEMBERS = "_sync_pending_members"
# Columns the sync writes that a warehouse built before them lacks (dbt's on-run-start adds them).
ADDED_COLUMNS = {
    SYNC_RUNS: ("audience_count", "guardrail_message"),
    SYNC_PENDING_BATCHES: ("variant", "record_fingerprints", "records"),
}
# The ledger's error_message of a send whose answer was lost (status `unknown`).
LOST_ANSWER = "the answer was lost: may have been sent, not resent"
# The name under which an answered batch's rows are handed to DuckDB (see commit_batch).
ANSWERED = "_answered_batch"


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
class AnsweredBatch:
    """What became of each member of one batch, one list per column, in the batch's order.
    errors[i] is None when the destination took member i's record; errors, references and
    unknowns are None when it took them all and said nothing more."""

    operation: Operation
    batch_number: int
    idempotency_key: str
    variant: str | None
    one_ids: Sequence[str]
    record_fingerprints: Sequence[str]
    errors: Sequence[str | None] | None = None
    # The service's own id for what it did with each record (a BizId, a msgid, a Message-ID).
    references: Sequence[str | None] | None = None
    # unknowns[i]: the destination may have carried record i out but its answer was lost: not
    # resent (counted as taken), recorded `unknown`.
    unknowns: Sequence[bool] | None = None

    def table(self) -> pa.Table:
        """The batch as rows with named columns, for DuckDB to read in one statement."""
        size = len(self.one_ids)

        def column(values, kind: pa.DataType) -> pa.Array:
            return pa.nulls(size, kind) if values is None else pa.array(values, kind)

        return pa.table({
            "one_id": column(self.one_ids, pa.string()),
            "record_fingerprint": column(self.record_fingerprints, pa.string()),
            "error_message": column(self.errors, pa.string()),
            "destination_reference": column(self.references, pa.string()),
            "is_unknown": column(self.unknowns, pa.bool_()),
        })


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
    audience_count: int,
    guardrail_message: str | None = None,
) -> None:
    """audience_count: the audience's size as the run read it (the next sync's guardrails compare
    with it); guardrail_message: what tripped the sync guardrails, if anything did."""
    connection.execute(
        f"""
        insert into {SYNC_RUNS} (
            sync_run_id, audience_name, destination_name, campaign_id, sync_mode,
            audience_version, is_dry_run, run_status, audience_count, added_count, removed_count,
            unchanged_count, held_out_count, suppressed_count, rejected_count, capped_count,
            guardrail_message, started_at, finished_at
        ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)
        """,
        [
            run.run_id, run.audience_name, run.destination_name, run.campaign_id, sync_mode,
            audience_version, is_dry_run, status, audience_count, counts.added, counts.removed,
            counts.unchanged, counts.held_out, counts.suppressed, counts.rejected,
            counts.capped, guardrail_message, started_at,
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


def held_count(connection: duckdb.DuckDBPyConnection, audience_name: str, destination_name: str) -> int:
    """How many members the destination holds for this audience (its sync state), the batches
    pending for the sync being planned counted as sent (PENDING_MEMBERS, made by the plan)."""
    return connection.execute(
        f"""
        select
            (
                select count(*) from {SYNC_STATE}
                where audience_name = ? and destination_name = ?
                    and one_id not in (select one_id from {PENDING_MEMBERS})
            )
            + (select count(*) from {PENDING_MEMBERS} where operation <> 'remove')
        """,
        [audience_name, destination_name],
    ).fetchone()[0]


@dataclass(frozen=True)
class CompletedRun:
    run_id: str
    # None for a run recorded before sync_runs kept the audience's size.
    audience_count: int | None


def last_completed_run(
    connection: duckdb.DuckDBPyConnection, audience_name: str, destination_name: str,
    *, has_audience_count: bool = True,
) -> CompletedRun | None:
    """The last run of this audience to this destination that completed (not a dry run).
    has_audience_count=False: the warehouse's sync_runs predates the column."""
    audience_count = "audience_count" if has_audience_count else "null"
    statuses = ", ".join(f"'{status}'" for status in COMPLETED_STATUSES)
    row = connection.execute(
        f"""
        select sync_run_id, {audience_count}
        from {SYNC_RUNS}
        where audience_name = ? and destination_name = ? and not coalesce(is_dry_run, false)
            and run_status in ({statuses})
        order by started_at desc
        limit 1
        """,
        [audience_name, destination_name],
    ).fetchone()
    return CompletedRun(*row) if row else None


@dataclass(frozen=True)
class PendingBatch:
    """A batch as it leaves: recorded before it is sent, deleted once its answer is recorded. A
    run killed in between leaves it here; the next run plans with its members as held by the
    destination and resends `records` as they were, under the same key, so that the service
    sees the same request again."""

    operation: Operation
    idempotency_key: str
    variant: str | None
    one_ids: Sequence[str]
    record_fingerprints: Sequence[str]
    # The records exactly as they were handed to the destination (stored packed: pack_records).
    # None for a batch recorded by an earlier version, which kept only its members: it cannot be
    # resent as it was.
    records: Sequence[Record] | None


def record_pending(connection: duckdb.DuckDBPyConnection, run: RunInfo, batch: PendingBatch) -> None:
    """One row per batch, written inside the caller's transaction before the batch leaves."""
    connection.execute(
        f"""
        insert into {SYNC_PENDING_BATCHES} (
            audience_name, destination_name, campaign_id, operation, idempotency_key, variant,
            one_ids, record_fingerprints, records, sync_run_id, recorded_at
        ) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            run.audience_name, run.destination_name, run.campaign_id, batch.operation,
            batch.idempotency_key, batch.variant, _json(batch.one_ids),
            _json(batch.record_fingerprints), pack_records(batch.records), run.run_id, utc_now(),
        ],
    )


def read_pending(connection: duckdb.DuckDBPyConnection, run: RunInfo) -> list[PendingBatch]:
    """The batches earlier runs of this audience, destination and campaign sent without
    recording the answer, which can be resent as they were, in the order they were sent."""
    rows = connection.execute(
        f"""
        select operation, idempotency_key, variant, one_ids, record_fingerprints, records
        from {SYNC_PENDING_BATCHES}
        where {_PENDING_SCOPE} and records is not null
        order by recorded_at, idempotency_key
        """,
        _pending_scope(run),
    ).fetchall()
    return [
        PendingBatch(
            operation=operation,
            idempotency_key=key,
            variant=variant,
            one_ids=orjson.loads(one_ids),
            record_fingerprints=orjson.loads(fingerprints),
            records=unpack_records(records),
        )
        for operation, key, variant, one_ids, fingerprints, records in rows
    ]


def create_pending_members(
    connection: duckdb.DuckDBPyConnection, audience_name: str, destination_name: str,
    campaign_id: str, *, resendable: bool,
) -> None:
    """The temp table PENDING_MEMBERS: each member of a pending batch of this audience,
    destination and campaign that the sync will resend as it was, with the operation and record
    fingerprint of the last batch that carried it. The plan counts these as what the
    destination holds. resendable=False (a service that cannot recognise a resent batch, whose
    pending batches are settled instead): none."""
    connection.execute(
        f"""
        create or replace temp table {PENDING_MEMBERS} as
        select one_id, record_fingerprint, operation
        from (
            -- Two lists of the same length unnested side by side: member i with its fingerprint.
            select
                unnest(from_json(one_ids, '["VARCHAR"]')) as one_id,
                unnest(from_json(record_fingerprints, '["VARCHAR"]')) as record_fingerprint,
                operation,
                recorded_at
            from {SYNC_PENDING_BATCHES}
            where {_PENDING_SCOPE} and records is not null and ?
        )
        qualify row_number() over (partition by one_id order by recorded_at desc) = 1
        """,
        [audience_name, destination_name, campaign_id, resendable],
    )


def settle_pending_as_unknown(
    connection: duckdb.DuckDBPyConnection, run: RunInfo, *, channel: str, sync_mode: str,
    audience_version: str, every_batch: bool,
) -> int:
    """Batches that will not be resent: every pending batch of a service that cannot recognise a
    resent batch (every_batch), else those recorded without their records by an earlier version.
    They may have been carried out, so they are not sent again (at most once): their members go
    into the ledger as `unknown` (counted as held by append mode and by the frequency caps), and
    the batches are no longer pending. Returns how many members."""
    which = "" if every_batch else "and records is null"
    settled = connection.execute(
        f"""
        insert into {SYNC_LEDGER} (
            sync_run_id, campaign_id, audience_name, destination_name, channel, sync_mode,
            audience_version, operation, batch_number, idempotency_key, recorded_at, one_id,
            variant, send_status, error_message, unit_cost
        )
        select
            sync_run_id, campaign_id, audience_name, destination_name, ?, ?, ?, operation, null,
            idempotency_key, ?, unnest(from_json(one_ids, '["VARCHAR"]')), variant, 'unknown', ?, 0
        from {SYNC_PENDING_BATCHES}
        where {_PENDING_SCOPE} {which}
        """,
        [channel, sync_mode, audience_version, utc_now(), LOST_ANSWER, *_pending_scope(run)],
    ).fetchone()[0]
    connection.execute(
        f"delete from {SYNC_PENDING_BATCHES} where {_PENDING_SCOPE} {which}", _pending_scope(run)
    )
    return settled


def abandon_running_runs(connection: duckdb.DuckDBPyConnection, run: RunInfo) -> None:
    connection.execute(
        f"""
        update {SYNC_RUNS} set run_status = 'abandoned', finished_at = ?
        where run_status = 'running' and audience_name = ? and destination_name = ?
        """,
        [utc_now(), run.audience_name, run.destination_name],
    )


def commit_batch(
    connection: duckdb.DuckDBPyConnection,
    run: RunInfo,
    batch: AnsweredBatch,
    *,
    channel: str,
    sync_mode: str,
    audience_version: str,
    unit_cost: float,
) -> None:
    """Record an answered batch in one transaction: a ledger row for every member, sync_state
    for the records taken, and the batch no longer pending.

    A rejected record leaves sync_state as it was, so the next run sends it again.
    """
    recorded_at = utc_now()
    scope = [run.audience_name, run.destination_name]
    connection.register(ANSWERED, batch.table())
    try:
        with transaction(connection):
            connection.execute(
                f"delete from {SYNC_PENDING_BATCHES} where idempotency_key = ? and {_PENDING_SCOPE}",
                [batch.idempotency_key, *_pending_scope(run)],
            )
            # An added record is not held yet, except in append mode (adds are per campaign).
            if batch.operation != "add" or sync_mode == "append":
                connection.execute(
                    f"""
                    delete from {SYNC_STATE}
                    where audience_name = ? and destination_name = ?
                        and one_id in (select one_id from {ANSWERED} where error_message is null)
                    """,
                    scope,
                )
            if batch.operation != "remove":
                connection.execute(
                    f"""
                    insert into {SYNC_STATE} (
                        audience_name, destination_name, one_id, record_fingerprint, sync_run_id,
                        synced_at
                    )
                    select ?, ?, one_id, record_fingerprint, ?, ?
                    from {ANSWERED}
                    where error_message is null
                    """,
                    [*scope, run.run_id, recorded_at],
                )
            connection.execute(
                f"""
                insert into {SYNC_LEDGER} (
                    sync_run_id, campaign_id, audience_name, destination_name, channel, sync_mode,
                    audience_version, operation, batch_number, idempotency_key, recorded_at,
                    one_id, variant, payload_fingerprint, send_status, error_message,
                    destination_reference, unit_cost
                )
                select
                    ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                    one_id,
                    ?,
                    record_fingerprint,
                    case
                        when error_message is not null then 'rejected'
                        when is_unknown then 'unknown'
                        else 'sent'
                    end,
                    case when is_unknown then ? else error_message end,
                    destination_reference,
                    -- Only what was sent costs; a refused record is free.
                    case when error_message is null then ? else 0 end
                from {ANSWERED}
                """,
                [
                    run.run_id, run.campaign_id, *scope, channel, sync_mode, audience_version,
                    batch.operation, batch.batch_number, batch.idempotency_key, recorded_at,
                    batch.variant, LOST_ANSWER, unit_cost,
                ],
            )
    finally:
        connection.unregister(ANSWERED)


_PENDING_SCOPE = "audience_name = ? and destination_name = ? and campaign_id = ?"


def _pending_scope(run: RunInfo) -> list[str]:
    return [run.audience_name, run.destination_name, run.campaign_id]


def pack_records(records: Sequence[Record]) -> str:
    """A batch's records as stored with it: JSON (key order kept, so that they are sent again
    byte for byte), zlib-compressed and base64-encoded. Compressed, a 10,000-record batch is a
    sixth of its JSON: less to write, durably, before every batch leaves."""
    return base64.b64encode(zlib.compress(orjson.dumps(list(records)), 1)).decode("ascii")


def unpack_records(packed: str) -> list[Record]:
    return orjson.loads(zlib.decompress(base64.b64decode(packed)))


def _json(values) -> str | None:
    # one_id is free text: a JSON array keeps every id whole, whatever characters it holds.
    return None if values is None else orjson.dumps(list(values)).decode()
