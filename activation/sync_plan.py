"""What a sync will send, decided in the warehouse: eligibility, assignment, caps and the diff.

Everything here is SQL over the audience table, so a million members never pass through Python
to find the 1% that changed. build_plan makes the temp table _sync_members (the stages of
activation/plan_members.py) and the view _sync_diff (one row per record to send, with its
payload), and counts everyone not sent and why. A full comparison costs one scan of the
audience and one join with what the destination holds; only the rows that change go further.
When dbt captured which members each audience build changed, a re-sync compares only those and
reuses the last sync's outcome for the others (activation/plan_changes.py). plan_batches and
send_query then hand the diff over in batches.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import duckdb
import pyarrow as pa

from activation import state
from activation.assignment import AssignmentPlan
from activation.destinations import Destination, FrequencyCap
from activation.destinations.base import CHANNEL_ADDRESS_FIELDS
from activation.errors import ActivationError
from activation.plan_changes import changed_members, plan_key, record_baseline
from activation.plan_members import MEMBERS, audience_from, create_members, payload_column
from activation.warehouse import Audience, Catalog

# The order operations are sent in: removals first, so a destination with a size cap never holds
# stale members and new ones at once.
OPERATION_ORDER = ("remove", "add", "update")
# Rows DuckDB hands over at a time while a sync streams the diff (a batch may span several).
SEND_CHUNK_ROWS = 10_000


@dataclass
class PlanCounts:
    """Everyone in the audience who is not sent, by reason; and the operations to send."""

    audience_size: int = 0
    ineligible: Counter[str] = field(default_factory=Counter)
    held_out: int = 0
    unchanged: int = 0
    capped: int = 0
    new_assignments: int = 0
    operations: Counter[str] = field(default_factory=Counter)
    # Which members were compared: only those changed since the last completed sync
    # ("changed", see plan_changes.changed_members), or everyone ("all", with the reason).
    compared: str = "all"
    full_diff_reason: str | None = None
    plan_key: str = ""
    capture_id: str | None = None

    @property
    def suppressed(self) -> int:
        return sum(self.ineligible.values())


@dataclass(frozen=True)
class SyncRequest:
    audience: Audience
    destination: Destination
    assignment: AssignmentPlan
    # The warehouse's relations when the sync started (which optional ones exist).
    catalog: Catalog
    frequency_caps: tuple[FrequencyCap, ...] = ()
    # Journeys: only members registered between these many days ago (inclusive).
    registered_days: tuple[int, int] | None = None
    # The change capture the audience build carries (its table comment), if any.
    capture_id: str | None = None
    now: dt.datetime = field(default_factory=state.utc_now)

    @property
    def campaign_id(self) -> str:
        return self.assignment.campaign_id


def build_plan(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, *, full_diff: bool = False
) -> PlanCounts:
    """Create the temp table _sync_members (every member a sync must act on or count, and
    every held record gone from the audience) and the view _sync_diff (the records to send);
    return the counts.

    When the audience build carries a change capture that links back to the build the last
    completed sync read, only the members changed since are compared
    (plan_changes.changed_members); the others keep the outcome that sync recorded. Anything
    else, or full_diff, compares all."""
    counts = PlanCounts()
    counts.audience_size, null_ids = connection.execute(
        "select count(*), count(*) - count(audience.one_id) "
        + audience_from(request)
    ).fetchone()
    if null_ids or _has_duplicate_ids(connection, request):
        raise ActivationError(
            f"{request.audience.table} breaks the audience contract: one_id must be unique and not null."
        )
    state.create_pending_members(
        connection, request.audience.name, request.destination.name, request.campaign_id,
        resendable=request.destination.deduplicates_resends,
    )
    counts.plan_key = plan_key(connection, request)
    counts.capture_id = request.capture_id
    counts.full_diff_reason = (
        "--full-diff" if full_diff else changed_members(connection, request, counts)
    )
    incremental = counts.full_diff_reason is None
    counts.compared = "changed" if incremental else "all"
    create_members(connection, request, incremental=incremental)
    outcomes = (
        "select outcome, ineligible_reason, count(*), count(case when is_new_assignment then 1 end) "
        "from _sync_members where outcome is not null group by all"
    )
    parameters = []
    if incremental:
        # The members not compared keep the outcome the last completed sync recorded.
        outcomes += f"""
            union all
            select outcomes.outcome, outcomes.ineligible_reason, count(*), 0
            from {state.SYNC_OUTCOMES} as outcomes
            -- An anti join, not `not exists`: DuckDB turns that into a grouping of every
            -- stored outcome by one_id, twice the time.
            anti join _sync_dirty on outcomes.one_id = _sync_dirty.one_id
            where outcomes.audience_name = ? and outcomes.destination_name = ?
            group by all
        """
        parameters = [request.audience.name, request.destination.name]
    compared = 0
    for outcome, reason, count, new_assignments in connection.execute(outcomes, parameters).fetchall():
        compared += count
        counts.new_assignments += new_assignments
        if outcome == "ineligible":
            counts.ineligible[reason] += count
        elif outcome == "held_out":
            counts.held_out += count
        elif outcome == "unchanged":
            counts.unchanged += count
        elif outcome == "capped":
            counts.capped += count
    # The members create_members left out are held for this campaign, eligible and unchanged.
    counts.unchanged += counts.audience_size - compared
    payload = "".join(f", {payload_column(f)}" for f in request.destination.payload_fields)
    connection.execute(
        f"""
        create or replace temp view _sync_diff as
        select operation, one_id, variant, record_fingerprint{payload}
        from _sync_members
        where operation is not null
        """
    )
    for operation, count in connection.execute(
        "select operation, count(*) from _sync_diff group by 1"
    ).fetchall():
        counts.operations[operation] = count
    return counts


def _has_duplicate_ids(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> bool:
    """Whether two audience rows share a one_id. A primary key or unique constraint on one_id
    (the generated audiences declare one) means the warehouse already refused duplicates."""
    if request.audience.table in request.catalog.keyed_by_one_id:
        return False
    size, distinct_ids = connection.execute(
        f"select count(one_id), count(distinct one_id) from {request.audience.table}"
    ).fetchone()
    return size != distinct_ids


def record_new_assignments(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, run_id: str
) -> None:
    connection.execute(
        f"""
        insert into {state.CAMPAIGN_ASSIGNMENTS} (
            campaign_id, one_id, audience_name, destination_name, assignment_group, variant,
            holdout_scope, sync_run_id, assigned_at
        )
        select ?, one_id, ?, ?, assignment_group, variant, holdout_scope, ?, ?
        from _sync_members
        where is_new_assignment
        """,
        [request.campaign_id, request.audience.name, request.destination.name, run_id, request.now],
    )


class BatchPlan(NamedTuple):
    size: int
    operation: str
    variant: str | None


def plan_batches(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, batch_size: int
) -> list[BatchPlan]:
    """Cut the diff into batches and return them in send order (the order of send_query). A
    batch holds one operation and one variant (a service sends one content per call). Only the
    groups are counted in SQL: the rows are not numbered, so a first sync does not sort a
    million records twice."""
    order = " ".join(f"when '{op}' then {rank}" for rank, op in enumerate(OPERATION_ORDER))
    groups = connection.execute(
        f"""
        select case operation {order} end as operation_rank, operation, variant, count(*)
        from _sync_diff
        group by all
        order by operation_rank, variant nulls last
        """
    ).fetchall()
    return [
        BatchPlan(min(batch_size, count - start), operation, variant)
        for _, operation, variant, count in groups
        for start in range(0, count, batch_size)
    ]


def send_query(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> pa.RecordBatchReader:
    """The records of plan_batches' batches in send order, streamed: columns external_id (the
    one_id), the destination's payload fields, record_fingerprint. What is the same for a whole
    batch (operation, variant) comes with plan_batches.

    The payload was read from the audience by the plan. A removal carries the member's channel
    address where the members mart still has it: some services remove by address (a WeCom
    tag), not by our id."""
    destination = request.destination
    address_fields = set(CHANNEL_ADDRESS_FIELDS[destination.channel])
    [(has_removals,)] = connection.execute(
        "select count(*) > 0 from _sync_diff where operation = 'remove'"
    ).fetchall()
    members_join = has_removals and request.catalog.has(MEMBERS)
    columns = []
    for f in destination.payload_fields:
        if f in address_fields and members_join:
            columns.append(
                f"case when diff.operation = 'remove' then members.{f} "
                f"else diff.{payload_column(f)} end as {f}"
            )
        else:
            columns.append(f"diff.{payload_column(f)} as {f}")
    join = (
        f"left join {MEMBERS} as members "
        "on diff.operation = 'remove' and diff.one_id = members.one_id"
        if members_join
        else ""
    )
    order = " ".join(f"when '{op}' then {rank}" for rank, op in enumerate(OPERATION_ORDER))
    return connection.sql(
        f"""
        select diff.one_id as external_id, {", ".join(columns)}, diff.record_fingerprint
        from _sync_diff as diff
        {join}
        order by case diff.operation {order} end, diff.variant nulls last, diff.one_id
        """
    ).to_arrow_reader(SEND_CHUNK_ROWS)
