"""Reads and writes the activation tables (DDL owned by dbt: macros/activation/).

Every write that belongs to one acknowledged batch happens in one transaction, so the tables
never show a batch half recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import orjson

from activation.destinations import Operation, RunInfo
from activation.engine import duckdb
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
# Columns of sync_runs the sync writes that a warehouse built before them lacks.
SYNC_RUNS_ADDED_COLUMNS = ("audience_count", "guardrail_message")
# The ledger's error_message of a send whose answer was lost (status `unknown`).
LOST_ANSWER = "the answer was lost: may have been sent, not resent"
# Lists of a batch's ids are bound as one string and split in the warehouse: converting a
# Python list element by element holds the GIL, which the thread sending the next batch needs.
_SEPARATOR = "\x1f"
# A pending batch's members, one row each: stored as a JSON array, as one_id is free text (an
# audience's ids may hold any separator). Rows stored before as comma-joined text read as such.
PENDING_ONE_IDS = (
    "unnest(case when json_valid(one_ids) and one_ids like '[%' "
    "then from_json(one_ids, '[\"VARCHAR\"]') else string_split(one_ids, ',') end)"
)


def _unnested(values: Sequence[str] | Sequence[int], sql_type: str = "varchar") -> tuple[str, object]:
    """(SQL expression unnesting one parameter into rows, the parameter) for a batch's values.
    One string when no value holds the separator (ids, fingerprints), else the list itself."""
    try:
        packed = _SEPARATOR.join(map(str, values)) if sql_type == "bigint" else _SEPARATOR.join(values)
    except TypeError:  # a None among them
        packed = None
    if values and packed is not None and packed.count(_SEPARATOR) == len(values) - 1:
        return f"unnest(cast(string_split(?, chr({ord(_SEPARATOR)})) as {sql_type}[]))", packed
    return f"unnest(?::{sql_type}[])", list(values)


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
class LedgerBatch:
    """What happened to the records of one batch, column by column (a million records make a
    million objects otherwise). errors[i] is None when the destination took record i; errors
    and references are None when it took them all and said nothing more."""

    one_ids: list[str]
    variants: list[str | None]
    fingerprints: list[str]
    errors: list[str | None] | None = None
    references: list[str | None] | None = None
    # unknowns[i]: the destination may have carried record i out but its answer was lost; not
    # resent (counted as taken), recorded `unknown`. None when no record is.
    unknowns: list[bool] | None = None
    # Where sync_state held each record when the sync planned (its rowid), None where it held
    # none or the plan did not say.
    state_row_ids: list[int | None] | None = None

    def accepted(self) -> tuple[list[str], list[str], list[int | None] | None]:
        """(one_ids, fingerprints, state row ids) of the records taken."""
        if self.errors is None:
            return self.one_ids, self.fingerprints, self.state_row_ids
        kept = [i for i, error in enumerate(self.errors) if error is None]
        return (
            [self.one_ids[i] for i in kept],
            [self.fingerprints[i] for i in kept],
            [self.state_row_ids[i] for i in kept] if self.state_row_ids is not None else None,
        )


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
    """How many members the destination holds for this audience (its sync state)."""
    return connection.execute(
        f"select count(*) from {SYNC_STATE} where audience_name = ? and destination_name = ?",
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
    """A batch about to leave: recorded before it is sent, settled when it is answered."""

    operation: str
    idempotency_key: str
    one_ids: Sequence[str]


def record_pending(connection: duckdb.DuckDBPyConnection, run: RunInfo, batch: PendingBatch) -> None:
    """One row per batch: a run killed before the answer is recorded lets the next run resend
    the same members under the same key. Written inside the caller's transaction."""
    # A batch resent under its key replaces its earlier pending row.
    connection.execute(
        f"delete from {SYNC_PENDING_BATCHES} where idempotency_key = ? and destination_name = ?",
        [batch.idempotency_key, run.destination_name],
    )
    connection.execute(
        f"""
        insert into {SYNC_PENDING_BATCHES} (
            audience_name, destination_name, campaign_id, operation, idempotency_key, one_ids,
            sync_run_id, recorded_at
        ) values (?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            run.audience_name, run.destination_name, run.campaign_id, batch.operation,
            batch.idempotency_key, orjson.dumps(list(batch.one_ids)).decode(), run.run_id,
            utc_now(),
        ],
    )


def settle_pending_as_unknown(
    connection: duckdb.DuckDBPyConnection, run: RunInfo, *, channel: str, sync_mode: str,
    audience_version: str,
) -> int:
    """For a service that cannot recognise a resent batch: the batches earlier runs sent without
    recording the answer may have been carried out, so they are not resent (at most once). Their
    members go into the ledger as `unknown` (counted as held by append mode and by the frequency
    caps); returns how many."""
    settled = connection.execute(
        f"""
        insert into {SYNC_LEDGER} (
            sync_run_id, campaign_id, audience_name, destination_name, channel, sync_mode,
            audience_version, operation, batch_number, idempotency_key, recorded_at, one_id,
            send_status, error_message, unit_cost
        )
        select
            sync_run_id, campaign_id, audience_name, destination_name, ?, ?, ?, operation, null,
            idempotency_key, ?, {PENDING_ONE_IDS}, 'unknown', ?, 0
        from {SYNC_PENDING_BATCHES}
        where audience_name = ? and destination_name = ? and campaign_id = ?
        """,
        [channel, sync_mode, audience_version, utc_now(), LOST_ANSWER, run.audience_name,
         run.destination_name, run.campaign_id],
    ).fetchone()[0]
    connection.execute(
        f"delete from {SYNC_PENDING_BATCHES} "
        "where audience_name = ? and destination_name = ? and campaign_id = ?",
        [run.audience_name, run.destination_name, run.campaign_id],
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


def resolve_stale_pending(connection: duckdb.DuckDBPyConnection, run: RunInfo) -> list[str]:
    """After a completed run: batches left pending by earlier runs whose members this run did
    not send (they left the audience meanwhile) have an unknown outcome; forget them and return
    their keys for the run's log."""
    keys = [
        key
        for (key,) in connection.execute(
            f"""
            delete from {SYNC_PENDING_BATCHES}
            where audience_name = ? and destination_name = ? and campaign_id = ?
            returning idempotency_key
            """,
            [run.audience_name, run.destination_name, run.campaign_id],
        ).fetchall()
    ]
    return keys


def commit_batch(
    connection: duckdb.DuckDBPyConnection,
    run: RunInfo,
    *,
    operation: Operation,
    batch_number: int,
    idempotency_key: str,
    rows: LedgerBatch,
    channel: str,
    sync_mode: str,
    audience_version: str,
    unit_cost: float,
) -> None:
    """Record an answered batch in one transaction: a ledger row for every record, sync_state
    for those taken, and the batch no longer pending.

    A rejected record leaves sync_state as it was, so the next run sends it again.
    """
    recorded_at = utc_now()
    accepted, accepted_fingerprints, accepted_row_ids = rows.accepted()
    # With the row ids the plan read, then, should those rows have moved since (the
    # transaction rolled back), again on one_id.
    for by_row_id in (True, False):
        try:
            with transaction(connection):
                connection.execute(
                    f"""
                    delete from {SYNC_PENDING_BATCHES}
                    where idempotency_key = ? and audience_name = ? and destination_name = ?
                        and campaign_id = ?
                    """,
                    [idempotency_key, run.audience_name, run.destination_name, run.campaign_id],
                )
                # An added record is not held yet, except in append mode (adds are per campaign).
                if operation != "add" or sync_mode == "append":
                    row_ids = accepted_row_ids if by_row_id else None
                    _delete_state(connection, run, accepted, row_ids)
                if operation != "remove" and accepted:
                    # Lists bound as parameters and unnested: one statement per batch.
                    one_ids, one_ids_parameter = _unnested(accepted)
                    fingerprints, fingerprints_parameter = _unnested(accepted_fingerprints)
                    connection.execute(
                        f"""
                        insert into {SYNC_STATE} (
                            audience_name, destination_name, one_id, record_fingerprint, sync_run_id,
                            synced_at
                        )
                        select ?, ?, {one_ids}, {fingerprints}, ?, ?
                        """,
                        [
                            run.audience_name, run.destination_name, one_ids_parameter,
                            fingerprints_parameter, run.run_id, recorded_at,
                        ],
                    )
                if rows.one_ids:
                    _insert_ledger(
                        connection, run, rows, operation=operation, batch_number=batch_number,
                        idempotency_key=idempotency_key, channel=channel, sync_mode=sync_mode,
                        audience_version=audience_version, unit_cost=unit_cost, recorded_at=recorded_at,
                    )
            return
        except _StateMoved:
            continue


class _StateMoved(Exception):
    """sync_state rows are no longer where the plan found them."""


def _insert_ledger(connection, run: RunInfo, rows: LedgerBatch, **batch) -> None:
    """Columns that vary by record are bound as lists and unnested; the others once. In the
    common batch (everything taken, one variant) only one_id and the fingerprint vary."""
    errors = rows.errors or [None]
    unknowns = rows.unknowns or [False] * len(errors)
    per_record = {
        "variant": rows.variants,
        "error_message": [LOST_ANSWER if unknown else error for error, unknown in zip(errors, unknowns)],
        "destination_reference": rows.references or [None],
        "send_status": [
            "rejected" if error is not None else "unknown" if unknown else "sent"
            for error, unknown in zip(errors, unknowns)
        ],
        # Only what was sent costs; a refused record is free.
        "unit_cost": [batch["unit_cost"] if error is None else 0.0 for error in errors],
    }
    columns = {
        "sync_run_id": run.run_id, "campaign_id": run.campaign_id,
        "audience_name": run.audience_name, "destination_name": run.destination_name,
        "channel": batch["channel"], "sync_mode": batch["sync_mode"],
        "audience_version": batch["audience_version"], "operation": batch["operation"],
        "batch_number": batch["batch_number"], "idempotency_key": batch["idempotency_key"],
        "recorded_at": batch["recorded_at"],
    }
    expressions, parameters = [], []
    for name, value in columns.items():
        expressions.append("?")
        parameters.append(value)
    for name, values in per_record.items():
        if len(set(values)) == 1:
            columns[name] = values[0]
            expressions.append("?")
            parameters.append(values[0])
        else:
            columns[name] = values
            expressions.append(f"unnest(?::{'double' if name == 'unit_cost' else 'varchar'}[])")
            parameters.append(values)
    for name, values in (("one_id", rows.one_ids), ("payload_fingerprint", rows.fingerprints)):
        columns[name] = values
        expression, parameter = _unnested(values)
        expressions.append(expression)
        parameters.append(parameter)
    connection.execute(
        f"insert into {SYNC_LEDGER} ({', '.join(columns)}) select {', '.join(expressions)}",
        parameters,
    )


def _delete_state(
    connection: duckdb.DuckDBPyConnection,
    run: RunInfo,
    one_ids: list[str],
    row_ids: list[int | None] | None = None,
) -> None:
    """Delete what sync_state holds for these members. With the row ids the plan read, only
    those rows are visited (on one_id, every row of the table is): a fifth of the time for a
    batch of a re-sync. A row can move in between (a checkpoint compacts deleted rows), so
    what was deleted is checked, and a mismatch raises _StateMoved for the caller to roll back."""
    if not one_ids:
        return
    if row_ids is not None and None not in row_ids:
        rows, parameter = _unnested(row_ids, "bigint")
        deleted = connection.execute(
            f"""
            delete from {SYNC_STATE}
            where rowid in (select {rows})
            returning audience_name, destination_name, one_id
            """,
            [parameter],
        ).fetchall()
        expected = {(run.audience_name, run.destination_name, one_id) for one_id in one_ids}
        if len(deleted) != len(one_ids) or set(deleted) != expected:
            raise _StateMoved
        return
    members, parameter = _unnested(one_ids)
    connection.execute(
        f"""
        delete from {SYNC_STATE}
        where audience_name = ? and destination_name = ?
            and one_id in (select {members})
        """,
        [run.audience_name, run.destination_name, parameter],
    )
