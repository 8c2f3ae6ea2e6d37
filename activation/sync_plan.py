"""What a sync will send, decided in the warehouse: eligibility, assignment, caps and the diff.

Everything here is SQL over the audience table, so a million members never pass through Python
to find the 1% that changed. The result is a temp table `_sync_diff` (one row per record to
send, numbered in send order) and the counts of everyone not sent and why.

Eligibility is checked here as well as in the audience SQL: a member is sent only with an
address on the destination's channel, the channel's consent, PIPL's separate consent when the
destination is an ad platform, and no active suppression (marts.dim_member_suppressions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import duckdb

from activation import state
from activation.assignment import HOLDOUT, AssignmentPlan
from activation.destinations import Destination, FrequencyCap
from activation.destinations.base import CHANNEL_ADDRESS_FIELDS
from activation.errors import ActivationError
from activation.warehouse import Audience, consent_column, relation_exists

SUPPRESSIONS = "marts.dim_member_suppressions"
MEMBERS = "marts.dim_members"
# The order operations are sent in: removals first, so a destination with a size cap never holds
# stale members and new ones at once.
OPERATION_ORDER = ("remove", "add", "update")
PLATFORM_UTC_OFFSET = dt.timedelta(hours=8)


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

    @property
    def suppressed(self) -> int:
        return sum(self.ineligible.values())


@dataclass(frozen=True)
class SyncRequest:
    audience: Audience
    destination: Destination
    assignment: AssignmentPlan
    frequency_caps: tuple[FrequencyCap, ...] = ()
    # Journeys: only members registered between these many days ago (inclusive).
    registered_days: tuple[int, int] | None = None
    now: dt.datetime = field(default_factory=state.utc_now)

    @property
    def campaign_id(self) -> str:
        return self.assignment.campaign_id


def config_fingerprint(destination: Destination) -> str:
    """What the destination is sent besides the values: fields, hashing and normalisation.
    Part of every record fingerprint, so changing the configuration resends the records."""
    described = [
        destination.type_name,
        list(destination.payload_fields),
        sorted(destination.hashed_fields),
        dict(destination.field_normalisers),
        destination.hash_algorithm,
    ]
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]


def build_plan(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> PlanCounts:
    """Create the temp tables _sync_members (every audience member and what happens to them)
    and _sync_diff (the records to send); return the counts."""
    _create_members(connection, request)
    counts = PlanCounts()
    counts.audience_size, distinct_ids, null_ids, counts.new_assignments = connection.execute(
        "select count(*), count(distinct one_id), count(*) - count(one_id), "
        "count(case when is_new_assignment then 1 end) from _sync_members"
    ).fetchone()
    if null_ids or distinct_ids != counts.audience_size:
        raise ActivationError(
            f"{request.audience.table} breaks the audience contract: one_id must be unique and not null."
        )
    for outcome, reason, count in connection.execute(
        "select outcome, ineligible_reason, count(*) from _sync_members group by all"
    ).fetchall():
        if outcome == "ineligible":
            counts.ineligible[reason] = count
        elif outcome == "held_out":
            counts.held_out = count
        elif outcome == "unchanged":
            counts.unchanged = count
        elif outcome == "capped":
            counts.capped = count
    _create_diff(connection, request)
    for operation, count in connection.execute(
        "select operation, count(*) from _sync_diff group by 1"
    ).fetchall():
        counts.operations[operation] = count
    return counts


def _held(request: SyncRequest) -> tuple[str, list]:
    """What the destination holds now: (one_id, record_fingerprint), with its parameters."""
    destination = request.destination
    if destination.mode == "append":
        # Appended messages are never updated or removed; what was sent for this campaign on
        # this destination is not sent again, whatever the audience does afterwards.
        return (
            f"""
            select one_id, any_value(payload_fingerprint) as record_fingerprint
            from {state.SYNC_LEDGER}
            where campaign_id = ? and destination_name = ?
                and operation = 'add' and send_status in ('sent', 'unknown')
            group by one_id
            """,
            [request.campaign_id, destination.name],
        )
    return (
        f"""
        select one_id, record_fingerprint from {state.SYNC_STATE}
        where audience_name = ? and destination_name = ?
        """,
        [request.audience.name, destination.name],
    )


def _create_members(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> None:
    """One row per audience member: eligibility, assignment (recorded, else hashed now: a
    re-sync hashes only newcomers), the fingerprint and the outcome, in one pass."""
    destination = request.destination
    address_fields = CHANNEL_ADDRESS_FIELDS[destination.channel]
    has_address = " or ".join(f"nullif(trim(audience.{f}), '') is not null" for f in address_fields)
    consent = consent_column(destination.channel)
    suppression_join, suppressed = "", "false"
    if relation_exists(connection, SUPPRESSIONS):
        suppression_join = f"""
            left join (
                select distinct one_id from {SUPPRESSIONS}
                where channel in ('all', '{destination.channel}')
            ) as suppressions on audience.one_id = suppressions.one_id"""
        suppressed = "suppressions.one_id is not null"
    registration_join, registration_filter = "", ""
    if request.registered_days is not None:
        if not relation_exists(connection, MEMBERS):
            raise ActivationError(f"{MEMBERS} is missing: run dbt build first.")
        low, high = request.registered_days
        registration_join = f"inner join {MEMBERS} as members on audience.one_id = members.one_id"
        registration_filter = (
            "where date_diff('day', cast(members.registered_at as date), audience.as_of_date) "
            f"between {int(low)} and {int(high)}"
        )
    # Null and '' must differ in the fingerprint: chr(0) stands for null.
    fingerprint_input = ", ".join(
        [repr(config_fingerprint(destination))]
        + [f"coalesce(cast(audience.{f} as varchar), chr(0))" for f in destination.payload_fields]
    )
    ad_platform_rule = (
        "when audience.is_ad_platform_consented is not true then 'no_ad_platform_consent'"
        if destination.is_ad_platform or destination.channel == "ad_platform"
        else ""
    )
    group, variant, scope = request.assignment.sql_columns("candidates.one_id")
    held_sql, held_parameters = _held(request)
    recent = _recent_sends_sql(request)
    connection.execute(
        f"""
        create or replace temp table _sync_members as
        with candidates as (
            select
                audience.one_id,
                case
                    when not ({has_address}) then 'no_address'
                    when audience.{consent} is not true then 'no_consent'
                    {ad_platform_rule}
                    when {suppressed} then 'suppressed'
                end as ineligible_reason,
                md5(concat_ws(chr(31), {fingerprint_input})) as record_fingerprint
            from {request.audience.table} as audience
            {suppression_join}
            {registration_join}
            {registration_filter}
        ),
        recorded as (
            select one_id, assignment_group, variant, holdout_scope
            from {state.CAMPAIGN_ASSIGNMENTS}
            where campaign_id = ?
        ),
        held as ({held_sql}),
        recent as ({recent["sql"]}),
        assigned as (
            select
                candidates.one_id,
                candidates.ineligible_reason,
                candidates.record_fingerprint,
                held.one_id is not null as is_held,
                held.record_fingerprint as held_fingerprint,
                {recent["capped"]} as is_capped,
                candidates.ineligible_reason is null and recorded.one_id is null as is_new_assignment,
                case
                    when candidates.ineligible_reason is not null then null
                    when recorded.one_id is not null then recorded.assignment_group
                    else {group}
                end as assignment_group,
                case
                    when candidates.ineligible_reason is not null then null
                    when recorded.one_id is not null then recorded.variant
                    else {variant}
                end as variant,
                case
                    when candidates.ineligible_reason is not null then null
                    when recorded.one_id is not null then recorded.holdout_scope
                    else {scope}
                end as holdout_scope
            from candidates
            left join recorded on candidates.one_id = recorded.one_id
            left join held on candidates.one_id = held.one_id
            left join recent on candidates.one_id = recent.one_id
        )
        select
            *,
            case
                when ineligible_reason is not null then 'ineligible'
                when assignment_group = '{HOLDOUT}' then 'held_out'
                when not is_held and is_capped then 'capped'
                when not is_held then 'add'
                when '{destination.mode}' = 'append' then 'unchanged'
                when held_fingerprint = record_fingerprint then 'unchanged'
                else 'update'
            end as outcome
        from assigned
        """,
        [request.campaign_id, *held_parameters, *recent["parameters"]],
    )


def _create_diff(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> None:
    removals, parameters = "", []
    if request.destination.mode == "mirror":
        held_sql, parameters = _held(request)
        # Held but no longer treated and eligible (left the audience, withdrew consent, ...).
        removals = f"""
            union all
            select 'remove' as operation, held.one_id, null as variant, held.record_fingerprint
            from ({held_sql}) as held
            anti join (
                select one_id from _sync_members where outcome in ('update', 'unchanged')
            ) as kept on held.one_id = kept.one_id
        """
    connection.execute(
        f"""
        create or replace temp table _sync_diff as
        select outcome as operation, one_id, variant, record_fingerprint
        from _sync_members
        where outcome in ('add', 'update')
        {removals}
        """,
        parameters,
    )


def _recent_sends_sql(request: SyncRequest) -> dict:
    """Sends counted against the frequency caps of the destination's channel (every campaign
    and destination of the channel), and the platform's own cap, as one relation."""
    channel = request.destination.channel
    windows = []
    for cap in request.frequency_caps:
        if cap.channel == channel:
            since = request.now - dt.timedelta(days=cap.window_days)
            windows.append((since, cap.max_sends))
    platform_cap = request.destination.platform_frequency_cap
    if platform_cap:
        max_sends, period = platform_cap
        # Platforms count months and days in their own time zone (China Standard Time).
        local = request.now + PLATFORM_UTC_OFFSET
        if period == "calendar_month":
            local_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        elif period == "day":
            local_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            raise ActivationError(f"Unknown platform cap period {period!r}.")
        since = local_start - PLATFORM_UTC_OFFSET
        windows.append((since, max_sends))
    if not windows:
        return {"sql": "select null::varchar as one_id where false", "capped": "false", "parameters": []}
    columns = ", ".join(
        f"count(case when recorded_at >= ? then 1 end) as sends_{number}"
        for number in range(len(windows))
    )
    capped = " or ".join(
        f"coalesce(recent.sends_{number}, 0) >= {max_sends}"
        for number, (_, max_sends) in enumerate(windows)
    )
    sql = f"""
        select one_id, {columns}
        from {state.SYNC_LEDGER}
        where channel = ? and operation = 'add' and send_status in ('sent', 'unknown')
            and recorded_at >= ?
        group by one_id
    """
    parameters = [since for since, _ in windows] + [channel, min(since for since, _ in windows)]
    return {"sql": sql, "capped": f"({capped})", "parameters": parameters}


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
    pending_key: str | None


def plan_batches(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, batch_size: int
) -> list[BatchPlan]:
    """Cut the diff into batches in SQL (temp table _sync_batches) and return them in send
    order. A batch holds one operation and one variant (a service sends one content per
    call); a batch an earlier run sent without recording the answer (killed, or the answer
    lost) goes first and whole, under its recorded key."""
    order = " ".join(f"when '{op}' then {rank}" for rank, op in enumerate(OPERATION_ORDER))
    connection.execute(
        f"""
        create or replace temp table _sync_batches as
        with pending as (
            select distinct
                unnest(string_split(one_ids, ',')) as one_id,
                operation,
                idempotency_key
            from {state.SYNC_PENDING_BATCHES}
            where audience_name = ? and destination_name = ? and campaign_id = ?
        ),
        keyed as (
            select diff.*, pending.idempotency_key as pending_key
            from _sync_diff as diff
            left join pending on diff.one_id = pending.one_id and diff.operation = pending.operation
        )
        select
            keyed.*,
            dense_rank() over (
                order by pending_key nulls last, case operation {order} end, variant
            ) as batch_group,
            case
                when pending_key is null
                    then (row_number() over (
                        partition by pending_key, operation, variant order by one_id
                    ) - 1) // {int(batch_size)}
                else 0
            end as batch_part
        from keyed
        """,
        [request.audience.name, request.destination.name, request.campaign_id],
    )
    return [
        BatchPlan(*row)
        for row in connection.execute(
            "select count(*), any_value(operation), any_value(variant), any_value(pending_key) "
            "from _sync_batches group by batch_group, batch_part order by batch_group, batch_part"
        ).fetchall()
    ]


def send_query(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest
) -> duckdb.DuckDBPyConnection:
    """The batches of plan_batches in send order with each record's payload fields, as a
    pending result to fetch batch by batch: (fingerprint, one_id, *fields); what is the same
    for a whole batch (operation, variant, pending key) comes with plan_batches.

    Payload fields are read from the audience only now, for the records sent. A removal carries
    the member's channel address where the members mart still has it: some services remove by
    address (a WeCom tag), not by our id."""
    destination = request.destination
    address_fields = set(CHANNEL_ADDRESS_FIELDS[destination.channel])
    members_known = relation_exists(connection, MEMBERS)
    columns = []
    for f in destination.payload_fields:
        if f in address_fields and members_known:
            columns.append(f"case when batches.operation = 'remove' then members.{f} else audience.{f} end")
        else:
            columns.append(f"audience.{f}")
    members_join = (
        f"left join {MEMBERS} as members "
        "on batches.operation = 'remove' and batches.one_id = members.one_id"
        if members_known
        else ""
    )
    return connection.execute(
        f"""
        select batches.record_fingerprint, batches.one_id, {", ".join(columns)}
        from _sync_batches as batches
        left join {request.audience.table} as audience
            on batches.operation <> 'remove' and batches.one_id = audience.one_id
        {members_join}
        order by batches.batch_group, batches.batch_part, batches.one_id
        """
    )
