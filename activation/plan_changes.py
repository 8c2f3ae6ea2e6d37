"""Compare only what changed: a re-sync plans the members the audience builds changed since the
last completed sync, and reuses that sync's outcome for everyone else.

dbt records which members each audience build added, removed or changed, and where their rows
are (macros/activation/capture_audience_changes.sql); a completed sync keeps its outcomes for the
members it did not send and the key of what it planned with (record_baseline). The next sync
compares only the changed members (changed_members) when it can be sure nothing else moved, and
says why not otherwise.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, NamedTuple

import duckdb

from activation import state
from activation.plan_members import SUPPRESSIONS, config_fingerprint

if TYPE_CHECKING:
    from activation.sync_plan import PlanCounts, SyncRequest

# Outcomes a later sync reuses for the members it does not compare; a capped member is compared
# again every time (the window moves), and one sent is held with its fingerprint.
KEPT_OUTCOMES = ("ineligible", "held_out", "capped")


def plan_key(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> str:
    """Everything besides the audience and the held records that decides a member's outcome.
    A sync reuses the outcomes of the last one only when this is the same."""
    destination = request.destination
    suppressions = None
    if request.catalog.has(SUPPRESSIONS):
        # The set of members suppressed on this channel, as the plan reads it.
        suppressions = connection.execute(
            f"select count(*), bit_xor(hash(one_id)) from (select distinct one_id from {SUPPRESSIONS} "
            "where channel in ('all', ?))",
            [destination.channel],
        ).fetchone()
    described = [
        request.audience.table,
        config_fingerprint(destination),
        destination.mode,
        destination.channel,
        destination.is_ad_platform,
        destination.platform_frequency_cap,
        repr(request.assignment),
        repr(request.frequency_caps),
        request.registered_days,
        suppressions,
    ]
    return hashlib.sha256(json.dumps(described, default=str).encode()).hexdigest()[:16]


def changed_members(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, counts: PlanCounts
) -> str | None:
    """Create the temp table _sync_dirty: the members whose outcome may differ from the one the
    last completed sync of this audience to this destination recorded. Return why everyone must
    be compared instead, or None.

    A member's outcome depends on its audience row, what the destination holds for it, its
    recorded assignment, its recent sends and the suppressions. Every other member keeps its
    outcome when: the audience builds since that sync are all captured, in one unbroken chain
    (each capture names the one before it); that sync was the last one to run here (a run the
    guardrails refused sent nothing and does not count), so what the destination holds changed
    only by what it sent; no batch is pending; and the plan key (configuration, campaign,
    assignment, caps, suppressions) is the same. Members whose records it could not deliver, and
    the capped (their windows move), are compared again."""
    if request.registered_days is not None:
        return "a journey's registration window moves every day"
    if counts.capture_id is None:
        return "the audience build carries no change capture"
    if not request.catalog.has(state.SYNC_BASELINES):
        return "the warehouse has no sync baselines (run dbt build)"
    # Columns added later: dbt's on-run-start adds them to an older warehouse.
    if not request.catalog.has_columns(state.AUDIENCE_CHANGES, "change_type", "row_id"):
        return "the warehouse's change capture predates row locations (run dbt build)"
    baseline = _last_baseline(connection, request)
    if baseline is None:
        return "no completed sync to compare with"
    if baseline.run_id != baseline.latest_run_id:
        return "another sync ran since the last completed one"
    if baseline.plan_key != counts.plan_key:
        return "the configuration, campaign or suppressions changed"
    if _has_pending_batches(connection, request):
        return "batches are pending"
    chain = _captures_since(connection, request, counts.capture_id, baseline.capture_id)
    if isinstance(chain, str):
        return chain
    _create_dirty(connection, request, chain, baseline.run_id)
    if not _dirty_rows_in_place(connection, request):
        return "the audience table was changed after its build was captured"
    return None


class _Baseline(NamedTuple):
    # The last completed sync, what it planned with and the audience build it read.
    run_id: str
    plan_key: str
    capture_id: str
    # The last sync that ran (refused runs aside), completed or not.
    latest_run_id: str | None


def _last_baseline(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> _Baseline | None:
    audience, destination = request.audience.name, request.destination.name
    rows = connection.execute(
        f"""
        select baselines.sync_run_id, baselines.plan_key, baselines.capture_id, latest.sync_run_id
        from {state.SYNC_BASELINES} as baselines
        left join (
            -- A refused run sent nothing and changed no state: it does not count.
            select sync_run_id from {state.SYNC_RUNS}
            where audience_name = ? and destination_name = ? and not coalesce(is_dry_run, false)
                and run_status is distinct from '{state.REFUSED}'
            order by started_at desc
            limit 1
        ) as latest on true
        where baselines.audience_name = ? and baselines.destination_name = ?
        """,
        [audience, destination, audience, destination],
    ).fetchall()
    return _Baseline(*rows[0]) if rows else None


def _has_pending_batches(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> bool:
    [(pending,)] = connection.execute(
        f"select count(*) > 0 from {state.SYNC_PENDING_BATCHES} "
        "where audience_name = ? and destination_name = ?",
        [request.audience.name, request.destination.name],
    ).fetchall()
    return pending


def _captures_since(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, latest: str, baseline: str
) -> list[str] | str:
    """The captures of the audience builds since the one the last sync read, newest first, each
    naming the one before it; or why there is no such unbroken chain."""
    # capture_id -> (the capture before it, how many members it changed: null once dropped).
    captures = {
        capture_id: (previous, changed_count)
        for capture_id, previous, changed_count in connection.execute(
            f"select capture_id, previous_capture_id, changed_count from {state.AUDIENCE_CAPTURES} "
            "where audience_table = ?",
            [request.audience.table],
        ).fetchall()
    }
    chain, capture = [], latest
    while capture != baseline:
        if capture is None or capture in chain or capture not in captures:
            return "an audience build since the last sync was not captured"
        previous, changed_count = captures[capture]
        if changed_count is None:
            return "the changes of an audience build since the last sync were dropped"
        chain.append(capture)
        capture = previous
    return chain


def _create_dirty(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, chain: list[str], baseline_run_id: str
) -> None:
    """_sync_dirty: the members the chain of captures changed, those the last sync could not
    deliver, and the capped. row_id: where the member's row is in the build read now, when its
    capture says so; is_located: whether that capture tells (added or changed: row_id; removed:
    not there). The others are looked up on one_id."""
    audience, destination = request.audience.name, request.destination.name
    connection.execute(
        f"""
        create or replace temp table _sync_dirty as
        select
            one_id,
            max(case when is_latest and change_type in ('added', 'changed') then row_id end) as row_id,
            coalesce(bool_or(is_latest and change_type is not null), false) as is_located
        from (
            select one_id, capture_id = ? as is_latest, change_type, row_id
            from {state.AUDIENCE_CHANGES}
            where audience_table = ? and list_contains(?::varchar[], capture_id)
            union all
            select one_id, false, null, null from {state.SYNC_LEDGER}
            where sync_run_id = ? and send_status <> 'sent'
            union all
            select one_id, false, null, null from {state.SYNC_OUTCOMES}
            where audience_name = ? and destination_name = ? and outcome = 'capped'
        )
        where one_id is not null
        group by one_id
        """,
        [chain[0] if chain else None, request.audience.table, chain, baseline_run_id, audience, destination],
    )


def _dirty_rows_in_place(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> bool:
    """Whether every row the captures located still holds its member: a table changed outside
    dbt since (rows deleted, then compacted) would hand over other members."""
    [(expected, found)] = connection.execute(
        f"""
        -- Materialized: otherwise DuckDB joins on one_id too while scanning, reading that column
        -- in full instead of the few rows.
        with rows_read as materialized (
            select rowid as row_id, one_id from {request.audience.table}
            where rowid in (select row_id from _sync_dirty)
        )
        select
            (select count(row_id) from _sync_dirty),
            (
                select count(*)
                from rows_read
                inner join _sync_dirty
                    on rows_read.row_id = _sync_dirty.row_id and rows_read.one_id = _sync_dirty.one_id
            )
        """
    ).fetchall()
    return found == expected


def record_baseline(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, counts: PlanCounts, run_id: str
) -> None:
    """For a completed sync: keep its outcomes for the members it did not send, and what it
    read, for the next sync to compare only what changed. Nothing is kept for an audience
    without change capture or for a journey step (every sync of those compares everyone).
    Written inside the caller's transaction, which commits it only once the run completed."""
    if (
        counts.capture_id is None
        or request.registered_days is not None
        or not request.catalog.has(state.SYNC_BASELINES)
    ):
        return
    audience, destination = request.audience.name, request.destination.name
    compared = (
        "and one_id in (select one_id from _sync_dirty)" if counts.compared == "changed" else ""
    )
    kept = ", ".join(f"'{outcome}'" for outcome in KEPT_OUTCOMES)
    connection.execute(
        f"delete from {state.SYNC_OUTCOMES} where audience_name = ? and destination_name = ? {compared}",
        [audience, destination],
    )
    connection.execute(
        f"""
        insert into {state.SYNC_OUTCOMES}
        select ?, ?, one_id, outcome, ineligible_reason
        from _sync_members
        where outcome in ({kept})
        """,
        [audience, destination],
    )
    connection.execute(
        f"delete from {state.SYNC_BASELINES} where audience_name = ? and destination_name = ?",
        [audience, destination],
    )
    connection.execute(
        f"insert into {state.SYNC_BASELINES} values (?, ?, ?, ?, ?, ?)",
        [audience, destination, run_id, counts.plan_key, counts.capture_id, state.utc_now()],
    )


