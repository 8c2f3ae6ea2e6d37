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
    """Create the temp tables _sync_candidates and _sync_diff; return the counts."""
    counts = PlanCounts()
    _create_candidates(connection, request)
    counts.audience_size, distinct_ids, null_ids = connection.execute(
        "select count(*), count(distinct one_id), count(*) - count(one_id) from _sync_candidates"
    ).fetchone()
    if null_ids or distinct_ids != counts.audience_size:
        raise ActivationError(
            f"{request.audience.table} breaks the audience contract: one_id must be unique and not null."
        )
    for reason, count in connection.execute(
        "select ineligible_reason, count(*) from _sync_candidates "
        "where ineligible_reason is not null group by 1"
    ).fetchall():
        counts.ineligible[reason] = count
    _create_assigned(connection, request)
    counts.new_assignments, counts.held_out = connection.execute(
        f"select count(case when is_new_assignment then 1 end), "
        f"count(case when assignment_group = '{HOLDOUT}' then 1 end) from _sync_assigned"
    ).fetchone()
    _create_diff(connection, request)
    counts.unchanged, counts.capped = connection.execute(
        "select count(case when outcome = 'unchanged' then 1 end), "
        "count(case when outcome = 'capped' then 1 end) from _sync_outcomes"
    ).fetchone()
    for operation, count in connection.execute(
        "select operation, count(*) from _sync_diff group by 1"
    ).fetchall():
        counts.operations[operation] = count
    return counts


def _create_candidates(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> None:
    destination = request.destination
    fields = destination.payload_fields
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
        + [f"coalesce(cast(audience.{f} as varchar), chr(0))" for f in fields]
    )
    ad_platform_rule = (
        "when audience.is_ad_platform_consented is not true then 'no_ad_platform_consent'"
        if destination.is_ad_platform or destination.channel == "ad_platform"
        else ""
    )
    connection.execute(
        f"""
        create or replace temp table _sync_candidates as
        select
            audience.one_id,
            {", ".join(f"audience.{f}" for f in fields)},
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
        """
    )


def _create_assigned(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> None:
    """Eligible members with their group: the recorded one, else a new deterministic one."""
    group, variant, scope = request.assignment.sql_columns("eligible.one_id")
    connection.execute(
        f"""
        create or replace temp table _sync_assigned as
        with eligible as (
            select one_id from _sync_candidates where ineligible_reason is null
        ),
        recorded as (
            select one_id, assignment_group, variant, holdout_scope
            from {state.CAMPAIGN_ASSIGNMENTS}
            where campaign_id = ?
        )
        select
            eligible.one_id,
            recorded.one_id is null as is_new_assignment,
            coalesce(recorded.assignment_group, {group}) as assignment_group,
            case when recorded.one_id is null then {variant} else recorded.variant end as variant,
            case when recorded.one_id is null then {scope} else recorded.holdout_scope end
                as holdout_scope
        from eligible
        left join recorded on eligible.one_id = recorded.one_id
        """,
        [request.campaign_id],
    )


def _create_diff(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> None:
    destination = request.destination
    mode = destination.mode
    if mode == "append":
        # Appended messages are never updated or removed; what was sent for this campaign on
        # this destination is not sent again, whatever the audience does afterwards.
        held = f"""
            select distinct one_id, payload_fingerprint as record_fingerprint
            from {state.SYNC_LEDGER}
            where campaign_id = ? and destination_name = ?
                and operation = 'add' and send_status = 'sent'
        """
        held_parameters = [request.campaign_id, destination.name]
    else:
        held = f"""
            select one_id, record_fingerprint from {state.SYNC_STATE}
            where audience_name = ? and destination_name = ?
        """
        held_parameters = [request.audience.name, destination.name]
    recent_sends = _recent_sends_sql(request)
    connection.execute(
        f"""
        create or replace temp table _sync_outcomes as
        with held as ({held}),
        treated as (
            select candidates.*, assigned.variant
            from _sync_candidates as candidates
            inner join _sync_assigned as assigned on candidates.one_id = assigned.one_id
            where assigned.assignment_group = 'treated'
        ),
        recent as ({recent_sends["sql"]}),
        compared as (
            select
                treated.*,
                case
                    when held.one_id is null then 'add'
                    when '{mode}' = 'append' then 'unchanged'
                    when held.record_fingerprint = treated.record_fingerprint then 'unchanged'
                    else 'update'
                end as change
            from treated
            left join held on treated.one_id = held.one_id
        )
        select
            compared.*,
            case
                when compared.change = 'add' and {recent_sends["capped"]} then 'capped'
                else compared.change
            end as outcome
        from compared
        left join recent on compared.one_id = recent.one_id
        """,
        held_parameters + recent_sends["parameters"],
    )
    fields = ", ".join(destination.payload_fields)
    removals = ""
    if mode == "mirror":
        # A removal carries the member's channel address where the members mart still has it:
        # some services remove by address (a WeCom tag), not by our id.
        address_fields = set(CHANNEL_ADDRESS_FIELDS[destination.channel])
        members_known = relation_exists(connection, MEMBERS)
        removal_fields = ", ".join(
            f"members.{f}" if f in address_fields and members_known else f"null as {f}"
            for f in destination.payload_fields
        )
        members_join = (
            f"left join {MEMBERS} as members on held.one_id = members.one_id" if members_known else ""
        )
        removals = f"""
            union all
            select 'remove' as operation, held.one_id, null as variant, held.record_fingerprint,
                {removal_fields}
            from ({held}) as held
            {members_join}
            where held.one_id not in (select one_id from _sync_outcomes)
        """
    order = " ".join(f"when '{op}' then {rank}" for rank, op in enumerate(OPERATION_ORDER))
    # Stored in send order, so reading a batch by send_order range skips the rest of the table.
    connection.execute(
        f"""
        create or replace temp table _sync_diff as
        with diff as (
            select outcome as operation, one_id, variant, record_fingerprint, {fields}
            from _sync_outcomes
            where outcome in ('add', 'update')
            {removals}
        ),
        numbered as (
            select
                row_number() over (order by case operation {order} end, one_id) as send_order,
                diff.*
            from diff
        )
        select * from numbered order by send_order
        """,
        held_parameters if mode == "mirror" else [],
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
        if period == "calendar_month":
            since = request.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        elif period == "day":
            since = request.now.replace(hour=0, minute=0, second=0, microsecond=0)
        else:
            raise ActivationError(f"Unknown platform cap period {period!r}.")
        windows.append((since, max_sends))
    if not windows:
        return {"sql": "select null as one_id where false", "capped": "false", "parameters": []}
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
        where channel = ? and operation = 'add' and send_status = 'sent' and recorded_at >= ?
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
        from _sync_assigned
        where is_new_assignment
        """,
        [request.campaign_id, request.audience.name, request.destination.name, run_id, request.now],
    )


def read_batch(
    connection: duckdb.DuckDBPyConnection, fields: tuple[str, ...], first: int, last: int
) -> list[tuple]:
    """Rows send_order first..last of the diff: (operation, one_id, variant, fingerprint, *fields)."""
    return connection.execute(
        f"""
        select operation, one_id, variant, record_fingerprint, {", ".join(fields)}
        from _sync_diff
        where send_order between ? and ?
        order by send_order
        """,
        [first, last],
    ).fetchall()


def operation_ranges(connection: duckdb.DuckDBPyConnection) -> list[tuple[str, int, int]]:
    """(operation, first send_order, last send_order), in send order."""
    return connection.execute(
        "select operation, min(send_order), max(send_order) from _sync_diff "
        "group by operation order by min(send_order)"
    ).fetchall()
