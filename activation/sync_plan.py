"""What a sync will send, decided in the warehouse: eligibility, assignment, caps and the diff.

Everything here is SQL over the audience table, so a million members never pass through Python
to find the 1% that changed. The result is a view `_sync_diff` (one row per record to send,
with its payload) and the counts of everyone not sent and why. A full comparison costs one scan
of the audience and one join with what the destination holds; only the rows that change go
further. When dbt captured which members each audience build changed, a re-sync compares only
those and reuses the last sync's outcome for the others (_dirty_members).

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
import pyarrow as pa

from activation import state
from activation.assignment import HOLDOUT, AssignmentPlan
from activation.destinations import Destination, FrequencyCap
from activation.destinations.base import CHANNEL_ADDRESS_FIELDS
from activation.errors import ActivationError
from activation.warehouse import Audience, Catalog, consent_column

SUPPRESSIONS = "marts.dim_member_suppressions"
MEMBERS = "marts.dim_members"
# The order operations are sent in: removals first, so a destination with a size cap never holds
# stale members and new ones at once.
OPERATION_ORDER = ("remove", "add", "update")
PLATFORM_UTC_OFFSET = dt.timedelta(hours=8)
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
    # ("changed", see _dirty_members), or everyone ("all", with the reason).
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


def build_plan(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, *, full_diff: bool = False
) -> PlanCounts:
    """Create the temp table _sync_members (every member a sync must act on or count, and
    every held record gone from the audience) and the view _sync_diff (the records to send);
    return the counts.

    When the audience build carries a change capture that links back to the build the last
    completed sync read, only the members changed since are compared (_dirty_members); the
    others keep the outcome that sync recorded. Anything else, or full_diff, compares all."""
    counts = PlanCounts()
    counts.audience_size, null_ids = connection.execute(
        "select count(*), count(*) - count(audience.one_id) "
        + _audience_from(request)
    ).fetchone()
    if null_ids or _has_duplicate_ids(connection, request):
        raise ActivationError(
            f"{request.audience.table} breaks the audience contract: one_id must be unique and not null."
        )
    state.create_pending_members(
        connection, request.audience.name, request.destination.name, request.campaign_id,
        resendable=request.destination.deduplicates_resends,
    )
    counts.plan_key = _plan_key(connection, request)
    counts.capture_id = request.capture_id
    counts.full_diff_reason = (
        "--full-diff" if full_diff else _dirty_members(connection, request, counts)
    )
    incremental = counts.full_diff_reason is None
    counts.compared = "changed" if incremental else "all"
    _create_members(connection, request, incremental=incremental)
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
    # The members _create_members left out are held for this campaign, eligible and unchanged.
    counts.unchanged += counts.audience_size - compared
    payload = "".join(f", {_payload_column(f)}" for f in request.destination.payload_fields)
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


# Outcomes a later sync reuses for the members it does not compare; a capped member is compared
# again every time (the window moves), and one sent is held with its fingerprint.
KEPT_OUTCOMES = ("ineligible", "held_out", "capped")


def _plan_key(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> str:
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


def _dirty_members(
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
    only by what it sent; and the plan key (configuration, campaign, assignment, caps,
    suppressions) is the same. Members whose records it could not deliver, and the capped
    (their windows move), are compared again."""
    if request.registered_days is not None:
        return "a journey's registration window moves every day"
    if counts.capture_id is None:
        return "the audience build carries no change capture"
    if not request.catalog.has(state.SYNC_BASELINES):
        return "the warehouse has no sync baselines (run dbt build)"
    # Columns added later: dbt's on-run-start adds them to an older warehouse.
    if not request.catalog.has_columns(state.AUDIENCE_CHANGES, "change_type", "row_id"):
        return "the warehouse's change capture predates row locations (run dbt build)"
    audience, destination = request.audience.name, request.destination.name
    baseline = connection.execute(
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
    ).fetchone()
    if baseline is None:
        return "no completed sync to compare with"
    run_id, plan_key, baseline_capture, latest_run_id = baseline
    if run_id != latest_run_id:
        return "another sync ran since the last completed one"
    if plan_key != counts.plan_key:
        return "the configuration, campaign or suppressions changed"
    pending = connection.execute(
        f"select count(*) from {state.SYNC_PENDING_BATCHES} "
        "where audience_name = ? and destination_name = ?",
        [audience, destination],
    ).fetchone()[0]
    if pending:
        return "batches are pending"
    # capture_id -> (the capture before it, how many members it changed: null once dropped).
    captures = {
        capture_id: (previous, changed_count)
        for capture_id, previous, changed_count in connection.execute(
            f"select capture_id, previous_capture_id, changed_count from {state.AUDIENCE_CAPTURES} "
            "where audience_table = ?",
            [request.audience.table],
        ).fetchall()
    }
    chain, capture = [], counts.capture_id
    while capture != baseline_capture:
        if capture is None or capture in chain or capture not in captures:
            return "an audience build since the last sync was not captured"
        previous, changed_count = captures[capture]
        if changed_count is None:
            return "the changes of an audience build since the last sync were dropped"
        chain.append(capture)
        capture = previous
    # row_id: where the member's row is in the build read now, when its capture says so;
    # is_located: whether that capture tells (added or changed: row_id; removed: not there).
    # The others (captured by an earlier build, not delivered, capped) are looked up on one_id.
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
        [counts.capture_id, request.audience.table, chain, run_id, audience, destination],
    )
    # The rows must still be where the capture found them: a table changed outside dbt since
    # (rows deleted, then compacted) would hand over other members.
    expected, found = connection.execute(
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
    ).fetchone()
    if found != expected:
        return "the audience table was changed after its build was captured"
    return None


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


def _audience_from(request: SyncRequest, joins: str = "", *, incremental: bool = False) -> str:
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
            "where date_diff('day', cast(members.registered_at as date), audience.as_of_date) "
            f"between {int(low)} and {int(high)}"
        )
    return f"""
        from {source} as audience
        {registration_join}
        {joins}
        {registration_filter}
    """


def _has_duplicate_ids(connection: duckdb.DuckDBPyConnection, request: SyncRequest) -> bool:
    """Whether two audience rows share a one_id. A primary key or unique constraint on one_id
    (the generated audiences declare one) means the warehouse already refused duplicates."""
    if request.audience.table in request.catalog.keyed_by_one_id:
        return False
    size, distinct_ids = connection.execute(
        f"select count(one_id), count(distinct one_id) from {request.audience.table}"
    ).fetchone()
    return size != distinct_ids


def _payload_column(field_name: str) -> str:
    # Prefixed: a payload field never collides with the plan's own columns.
    return f"payload__{field_name}"


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


def _create_members(
    connection: duckdb.DuckDBPyConnection, request: SyncRequest, *, incremental: bool = False
) -> None:
    """One pass over the audience, full-joined with what the destination holds. A member held
    for this campaign, still eligible and unchanged needs nothing (no assignment lookup, no
    cap) and is left out: a re-sync keeps only the few rows that change, the ineligible and
    the held out (counted), and, in mirror mode, the held records to remove. `incremental`:
    the same, for the members of _sync_dirty only.

    Eligibility, assignment (recorded, else hashed now: a re-sync hashes only newcomers), the
    record fingerprint and the outcome; the payload is kept for the records to send."""
    destination = request.destination
    address_fields = CHANNEL_ADDRESS_FIELDS[destination.channel]
    has_address = " or ".join(f"nullif(trim(audience.{f}), '') is not null" for f in address_fields)
    consent = consent_column(destination.channel)
    suppression_join, suppressed = "", "false"
    if request.catalog.has(SUPPRESSIONS):
        suppression_join = f"""
            left join (
                select distinct one_id from {SUPPRESSIONS}
                where channel in ('all', '{destination.channel}')
            ) as suppressions on audience.one_id = suppressions.one_id"""
        suppressed = "suppressions.one_id is not null"
    # DuckDB's 64-bit hash of the configuration and each payload value (null and '' differ):
    # a third of md5's cost over a million members. (A DuckDB upgrade that changed it would
    # resend every held record once, as an update.)
    fingerprint_input = ", ".join(
        [repr(config_fingerprint(destination))]
        + [f"audience.{f}" for f in destination.payload_fields]
    )
    payload = [_payload_column(f) for f in destination.payload_fields]
    ad_platform_rule = (
        "when audience.is_ad_platform_consented is not true then 'no_ad_platform_consent'"
        if destination.is_ad_platform or destination.channel == "ad_platform"
        else ""
    )
    campaign_score, global_score = request.assignment.sql_scores("one_id")
    group, variant, scope = request.assignment.sql_columns(scores=("campaign_score", "global_score"))
    held_sql, held_parameters = _held(request, incremental=incremental)
    recent = _recent_sends_sql(request)
    is_append = "true" if destination.mode == "append" else "false"
    is_mirror = "true" if destination.mode == "mirror" else "false"
    is_sent = "outcome in ('add', 'update')"
    connection.execute(
        f"""
        create or replace temp table _sync_members as
        with candidates as (
            select
                audience.one_id,
                true as is_in_audience,
                case
                    when not ({has_address}) then 'no_address'
                    when audience.{consent} is not true then 'no_consent'
                    {ad_platform_rule}
                    when {suppressed} then 'suppressed'
                end as ineligible_reason,
                cast(hash({fingerprint_input}) as varchar) as record_fingerprint,
                {", ".join(f"audience.{f} as {_payload_column(f)}" for f in destination.payload_fields)}
            {_audience_from(request, suppression_join, incremental=incremental)}
        ),
        held as ({held_sql}),
        compared as (
            select
                coalesce(candidates.one_id, held.one_id) as one_id,
                coalesce(candidates.is_in_audience, false) as is_in_audience,
                candidates.ineligible_reason,
                candidates.record_fingerprint,
                held.one_id is not null as is_held,
                held.record_fingerprint as held_fingerprint,
                {", ".join(f"candidates.{column}" for column in payload)}
            from candidates
            full join held on candidates.one_id = held.one_id
            where not coalesce(
                candidates.is_in_audience
                and candidates.ineligible_reason is null
                and held.is_held_by_campaign
                and ({is_append} or held.record_fingerprint = candidates.record_fingerprint),
                false
            )
        ),
        recorded as (
            -- Only the eligible need their assignment: the lookup builds on the few rows left,
            -- not on every assignment the campaign has recorded.
            select one_id, assignment_group, variant, holdout_scope
            from {state.CAMPAIGN_ASSIGNMENTS}
            where campaign_id = ?
                and one_id in (
                    select one_id from compared
                    where is_in_audience and ineligible_reason is null
                )
        ),
        recent as ({recent["sql"]}),
        looked_up as (
            select
                compared.*,
                compared.is_in_audience and compared.ineligible_reason is null as is_eligible,
                recorded.one_id is not null as is_recorded,
                recorded.assignment_group as recorded_group,
                recorded.variant as recorded_variant,
                recorded.holdout_scope as recorded_scope,
                {recent["capped"]} as is_capped
            from compared
            left join recorded on compared.one_id = recorded.one_id
            left join recent on compared.one_id = recent.one_id
        ),
        scored as (
            -- Hashed once per person, and only for the eligible without a recorded assignment.
            select
                *,
                case when is_eligible and not is_recorded then {campaign_score} end as campaign_score,
                case when is_eligible and not is_recorded then {global_score} end as global_score
            from looked_up
        ),
        assigned as (
            select
                *,
                is_eligible and not is_recorded as is_new_assignment,
                case
                    when not is_eligible then null
                    when is_recorded then recorded_group
                    else {group}
                end as assignment_group,
                case
                    when not is_eligible then null
                    when is_recorded then recorded_variant
                    else {variant}
                end as variant,
                case
                    when not is_eligible then null
                    when is_recorded then recorded_scope
                    else {scope}
                end as holdout_scope
            from scored
        ),
        decided as (
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
        )
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
        """,
        [*held_parameters, request.campaign_id, *recent["parameters"]],
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
                f"else diff.{_payload_column(f)} end as {f}"
            )
        else:
            columns.append(f"diff.{_payload_column(f)} as {f}")
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
