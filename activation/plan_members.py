"""The stages of a sync plan: who, of the audience and of what the destination holds, is sent
what, as one SQL query over the warehouse (activation.sync_plan.build_plan runs it).

Each stage is a named CTE made by a function below that says what it decides: candidates
(eligibility, fingerprint, payload) -> held (what the destination holds) -> compared (the two
side by side, the unchanged left out) -> recorded and recent (assignments and sends looked up)
-> looked_up -> scored -> assigned (holdout and variant) -> decided (the outcome). The result is
the temp table _sync_members.

Eligibility is checked here as well as in the audience SQL: a member is sent only with an
address on the destination's channel, the channel's consent, PIPL's separate consent when the
destination is an ad platform, and no active suppression (marts.dim_member_suppressions).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from activation import state
from activation.assignment import HOLDOUT
from activation.destinations import Destination
from activation.destinations.base import CHANNEL_ADDRESS_FIELDS, CONTACT_KEY_CHANNELS
from activation.errors import ActivationError
from activation.warehouse import consent_column

if TYPE_CHECKING:
    from activation.sync_plan import SyncRequest

SUPPRESSIONS = "marts.dim_member_suppressions"
MEMBERS = "marts.dim_members"
# Platforms count months and days in their own time zone (China Standard Time).
PLATFORM_UTC_OFFSET = dt.timedelta(hours=8)


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


@dataclass(frozen=True)
class Stage:
    """One named step of a plan query (a CTE) and the parameters its SQL binds, in order."""

    name: str
    sql: str
    parameters: tuple = ()


def with_stages(stages: list[Stage], final: str) -> tuple[str, list]:
    """`with <stage> as (...), ... <final>` and its parameters, in the stages' order."""
    ctes = ",\n".join(f"{stage.name} as ({stage.sql})" for stage in stages)
    return f"with {ctes}\n{final}", [value for stage in stages for value in stage.parameters]


def create_members(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, *, incremental: bool = False
) -> None:
    """The temp table _sync_members: one row per member the sync acts on or counts, with its
    outcome, its operation (add, update, remove, or none) and, for the records to send, their
    fingerprint and payload. One pass over the audience, full-joined with what the destination
    holds; a member held for this campaign, still eligible and unchanged needs nothing (no
    assignment lookup, no cap) and is left out, so a re-sync keeps only the few rows that
    change. `incremental`: the same, for the members of _sync_dirty only.

    Each stage below is a function that says what it decides."""
    stages = [
        _candidates(request, incremental),
        Stage("held", *_held(request, incremental=incremental)),
        _compared(request),
        _recorded(request),
        _recent(request),
        _looked_up(request),
        _scored(request),
        _assigned(request),
        _decided(request),
    ]
    payload = [payload_column(f) for f in request.destination.payload_fields]
    is_sent = "outcome in ('add', 'update')"
    is_mirror = "true" if request.destination.mode == "mirror" else "false"
    sql, parameters = with_stages(stages, f"""
        select
            one_id,
            outcome,
            ineligible_reason,
            is_new_assignment,
            assignment_group,
            variant,
            holdout_scope,
            case
                when {is_sent} then outcome
                -- Held but no longer treated and eligible (left the audience, withdrew consent, ...).
                when {is_mirror} and is_held
                    and coalesce(outcome, 'gone') in ('gone', 'ineligible', 'held_out') then 'remove'
            end as operation,
            case when {is_sent} then record_fingerprint else held_fingerprint end as record_fingerprint,
            {", ".join(f"case when {is_sent} then {column} end as {column}" for column in payload)}
        from decided
        where outcome is not null or ({is_mirror} and is_held)
    """)
    connection.execute(f"create or replace temp table _sync_members as {sql}", parameters)


def _candidates(request: SyncRequest, incremental: bool) -> Stage:
    """Every member of the audience (or of _sync_dirty): why it may not be contacted on the
    destination's channel, if it may not (no address, no consent, no ad-platform consent, an
    active suppression), the fingerprint of the record it would be sent, and its payload."""
    destination = request.destination
    address_fields = CHANNEL_ADDRESS_FIELDS[destination.channel]
    has_address = " or ".join(f"nullif(trim(audience.{f}), '') is not null" for f in address_fields)
    suppression_join, is_suppressed = "", "false"
    if request.catalog.has(SUPPRESSIONS):
        suppression_join = f"""
            left join (
                select distinct one_id from {SUPPRESSIONS}
                where channel in ('all', '{destination.channel}')
            ) as suppressions on audience.one_id = suppressions.one_id"""
        is_suppressed = "suppressions.one_id is not null"
    ad_platform_rule = (
        "when audience.is_ad_platform_consented is not true then 'no_ad_platform_consent'"
        if destination.is_ad_platform or destination.channel == "ad_platform"
        else ""
    )
    # DuckDB's 64-bit hash of the configuration and each payload value (null and '' differ):
    # a third of md5's cost over a million members. (A DuckDB upgrade that changed it would
    # resend every held record once, as an update.)
    fingerprint_input = ", ".join(
        [repr(config_fingerprint(destination))] + [sent_value(f, destination) for f in destination.payload_fields]
    )
    payload = ", ".join(f"{sent_value(f, destination)} as {payload_column(f)}" for f in destination.payload_fields)
    return Stage("candidates", f"""
        select
            audience.one_id,
            true as is_in_audience,
            case
                when not ({has_address}) then 'no_address'
                when audience.{consent_column(destination.channel)} is not true then 'no_consent'
                {ad_platform_rule}
                when {is_suppressed} then 'suppressed'
            end as ineligible_reason,
            cast(hash({fingerprint_input}) as varchar) as record_fingerprint,
            {payload}
        {audience_from(request, suppression_join, incremental=incremental)}
    """)


def sent_value(field_name: str, destination: Destination) -> str:
    """The SQL of what is sent for a payload field: the audience's value, except for another
    channel's contact key, sent only for the members who consented to that channel (PIPL)."""
    channel = CONTACT_KEY_CHANNELS.get(field_name)
    if channel is None or field_name in CHANNEL_ADDRESS_FIELDS[destination.channel]:
        return f"audience.{field_name}"
    return f"case when audience.{consent_column(channel)} then audience.{field_name} end"


def _compared(request: SyncRequest) -> Stage:
    """Candidates side by side with what the destination holds (a member may be on one side
    only). Left out: members held for this campaign, still eligible, whose record is unchanged
    (in append mode, whatever changed): nothing is sent to them and nothing is looked up."""
    is_append = "true" if request.destination.mode == "append" else "false"
    payload = ", ".join(f"candidates.{payload_column(f)}" for f in request.destination.payload_fields)
    return Stage("compared", f"""
        select
            coalesce(candidates.one_id, held.one_id) as one_id,
            coalesce(candidates.is_in_audience, false) as is_in_audience,
            candidates.ineligible_reason,
            candidates.record_fingerprint,
            held.one_id is not null as is_held,
            held.record_fingerprint as held_fingerprint,
            {payload}
        from candidates
        full join held on candidates.one_id = held.one_id
        where not coalesce(
            candidates.is_in_audience
            and candidates.ineligible_reason is null
            and held.is_held_by_campaign
            and ({is_append} or held.record_fingerprint = candidates.record_fingerprint),
            false
        )
    """)


def _recorded(request: SyncRequest) -> Stage:
    """The assignments (holdout or treated, variant) this campaign recorded for the eligible
    members left: a member keeps the group it was first given. Only the eligible need one, so
    the lookup builds on the few rows left, not on every assignment of the campaign."""
    return Stage("recorded", f"""
        select one_id, assignment_group, variant, holdout_scope
        from {state.CAMPAIGN_ASSIGNMENTS}
        where campaign_id = ?
            and one_id in (
                select one_id from compared
                where is_in_audience and ineligible_reason is null
            )
    """, (request.campaign_id,))


def _recent(request: SyncRequest) -> Stage:
    """Each member's recent sends on the channel, counted per frequency-cap window."""
    recent = _recent_sends_sql(request)
    return Stage("recent", recent["sql"], tuple(recent["parameters"]))


def _looked_up(request: SyncRequest) -> Stage:
    """Each compared member with its recorded assignment and whether a frequency cap (or the
    platform's own cap) stops a new send now."""
    return Stage("looked_up", f"""
        select
            compared.*,
            compared.is_in_audience and compared.ineligible_reason is null as is_eligible,
            recorded.one_id is not null as is_recorded,
            recorded.assignment_group as recorded_group,
            recorded.variant as recorded_variant,
            recorded.holdout_scope as recorded_scope,
            {_recent_sends_sql(request)["capped"]} as is_capped
        from compared
        left join recorded on compared.one_id = recorded.one_id
        left join recent on compared.one_id = recent.one_id
    """)


def _scored(request: SyncRequest) -> Stage:
    """The holdout scores (activation/assignment.py) of the eligible members without a recorded
    assignment: hashed once per person, and only for them."""
    campaign_score, global_score = request.assignment.sql_scores("one_id")
    return Stage("scored", f"""
        select
            *,
            case when is_eligible and not is_recorded then {campaign_score} end as campaign_score,
            case when is_eligible and not is_recorded then {global_score} end as global_score
        from looked_up
    """)


def _assigned(request: SyncRequest) -> Stage:
    """Group (treated or holdout), variant and holdout scope of each eligible member: the
    recorded ones, else the ones its scores give (recorded by the sync as new assignments)."""
    group, variant, scope = request.assignment.sql_columns(scores=("campaign_score", "global_score"))
    return Stage("assigned", f"""
        select
            *,
            is_eligible and not is_recorded as is_new_assignment,
            case when not is_eligible then null when is_recorded then recorded_group else {group} end
                as assignment_group,
            case when not is_eligible then null when is_recorded then recorded_variant else {variant} end
                as variant,
            case when not is_eligible then null when is_recorded then recorded_scope else {scope} end
                as holdout_scope
        from scored
    """)


def _decided(request: SyncRequest) -> Stage:
    """Each audience member's outcome: ineligible, held out, capped (a newcomer over a cap, sent
    when the window allows), add, update, or unchanged (append mode never updates); null for a
    held member gone from the audience."""
    is_append = "true" if request.destination.mode == "append" else "false"
    return Stage("decided", f"""
        select
            *,
            case
                when not is_in_audience then null
                when ineligible_reason is not null then 'ineligible'
                when assignment_group = '{HOLDOUT}' then 'held_out'
                when not is_held and is_capped then 'capped'
                when not is_held then 'add'
                when {is_append} then 'unchanged'
                when held_fingerprint = record_fingerprint then 'unchanged'
                else 'update'
            end as outcome
        from assigned
    """)


def _held(request: SyncRequest, *, incremental: bool = False) -> tuple[str, list]:
    """What the destination holds now: (one_id, record_fingerprint, is_held_by_campaign), with
    its parameters. is_held_by_campaign: sent by a run of this campaign, hence recorded treated.
    The members of batches an earlier run sent without recording the answer count as held with
    what those batches carried (state.PENDING_MEMBERS): the sync resends them as they were
    before anything else. `incremental`: for the members of _sync_dirty only."""
    destination = request.destination
    dirty = "in (select one_id from _sync_dirty)" if incremental else None
    pending = state.PENDING_MEMBERS
    if destination.mode == "append":
        # Appended messages are never updated or removed; what was sent for this campaign on
        # this destination is not sent again, whatever the audience does afterwards.
        return (
            f"""
            select one_id, any_value(record_fingerprint) as record_fingerprint, true as is_held_by_campaign
            from (
                select one_id, payload_fingerprint as record_fingerprint
                from {state.SYNC_LEDGER}
                where campaign_id = ? and destination_name = ?
                    and operation = 'add' and send_status in ('sent', 'unknown')
                    {f"and one_id {dirty}" if dirty else ""}
                union all
                select one_id, record_fingerprint from {pending} where operation = 'add'
            )
            group by one_id
            """,
            [request.campaign_id, destination.name],
        )
    # The members' rows are found on one_id alone (materialized, so DuckDB does not read the
    # other columns of every row meanwhile), then read by row.
    rows_held = (
        f"""
        with rows_held as materialized (
            select rowid as state_row_id from {state.SYNC_STATE} where one_id {dirty}
        )
        """
        if dirty else ""
    )
    return (
        f"""
        {rows_held}
        select
            sync_state.one_id,
            sync_state.record_fingerprint,
            coalesce(sync_runs.campaign_id = ?, false) as is_held_by_campaign
        from {state.SYNC_STATE} as sync_state
        left join {state.SYNC_RUNS} as sync_runs
            on sync_state.sync_run_id = sync_runs.sync_run_id
        where sync_state.audience_name = ? and sync_state.destination_name = ?
            {"and sync_state.rowid in (select state_row_id from rows_held)" if dirty else ""}
            -- A pending batch's record replaces what the sync state holds for its member.
            and sync_state.one_id not in (select one_id from {pending})
        union all
        select one_id, record_fingerprint, true
        from {pending}
        where operation <> 'remove'
        """,
        [request.campaign_id, request.audience.name, destination.name],
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


def audience_from(request: SyncRequest, joins: str = "", *, incremental: bool = False) -> str:
    """FROM the audience (alias `audience`), with the journey's registration window if any.
    `incremental`: the rows of the members in _sync_dirty only."""
    source = request.audience.table
    if incremental:
        # The rows the capture located are read by row id. The other members are found on
        # one_id, then read whole by row id: one column is scanned in full, not all of them;
        # when there are none, DuckDB skips that scan (the join's build side is empty).
        source = f"""(
            select * from {source}
            where rowid in (select row_id from _sync_dirty)
            union all
            select * from {source}
            where rowid in (
                select rowid from {source}
                where one_id in (select one_id from _sync_dirty where not is_located)
            )
        )"""
    registration_join, registration_filter = "", ""
    if request.registered_days is not None:
        if not request.catalog.has(MEMBERS):
            raise ActivationError(f"{MEMBERS} is missing: run dbt build first.")
        low, high = request.registered_days
        registration_join = f"inner join {MEMBERS} as members on audience.one_id = members.one_id"
        registration_filter = (
            "where date_diff('day', members.registered_date, audience.as_of_date) "
            f"between {int(low)} and {int(high)}"
        )
    return f"""
        from {source} as audience
        {registration_join}
        {joins}
        {registration_filter}
    """


def payload_column(field_name: str) -> str:
    # Prefixed: a payload field never collides with the plan's own columns.
    return f"payload__{field_name}"


