"""What the report reads: aggregates of the marts, tags, analyses, review and quality models.

Every query here groups in the warehouse and returns a few dozen rows at most, whatever the number
of people: the report never reads a member's row, nor a phone or e-mail. Each function returns a
pandas DataFrame (or a dict for a single row) and knows nothing of languages or charts.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from activation.audiences import PORTRAIT_TAGS
from activation.settings import ACTIVATION_SCHEMA, SEGMENTS_SCHEMA, TAGS_SCHEMA
from activation.warehouse import CONSENT_CHANNELS

PROFILES = f"{TAGS_SCHEMA}.member_profiles"
# The address a channel needs besides consent (app push: the app holds the device).
CHANNEL_ADDRESS = {
    "sms": "has_phone", "email": "has_email", "wecom": "has_wechat", "wechat": "has_wechat",
    "app_push": "true", "ad_platform": "(has_phone or has_email)",
}
LIFECYCLE_STAGES = ("prospect", "new", "growth", "mature", "dormant", "churned")
AIPL_STAGES = ("awareness", "interest", "purchase", "loyalty")
WARNINGS = {
    "high_value_lapse": "is_high_value_lapse_warning",
    "growth_lapse": "is_growth_lapse_warning",
    "falling_spend": "is_falling_spend_warning",
    "spend_drop": "is_spend_drop_warning",
}
# A warned member counts as reached when a campaign's send was acknowledged this many days before
# the as-of date or later.
REACHED_WITHIN_DAYS = 30
REGISTRATION_MONTHS = 24
CVM_MONTHS = 12
# A portrait shows, per tag, the values most over-represented among those held by at least
# PORTRAIT_MIN_SHARE of the audience.
PORTRAIT_VALUES_PER_TAG = 2
PORTRAIT_MIN_SHARE = 0.05


def frame(connection, sql: str, parameters=None) -> pd.DataFrame:
    cursor = connection.execute(sql, parameters or [])
    columns = [column[0] for column in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


def relation_exists(connection, schema: str, name: str) -> bool:
    return connection.execute("""
        select count(*) from (
            select schema_name, table_name from duckdb_tables()
            union all select schema_name, view_name from duckdb_views()
        ) where schema_name = ? and table_name = ?""", [schema, name]).fetchone()[0] > 0


def as_of_date(connection) -> dt.date | None:
    return connection.execute(f"select max(as_of_date) from {PROFILES}").fetchone()[0]


# --- members -----------------------------------------------------------------------------------

def member_totals(connection) -> dict[str, int]:
    row = connection.execute(f"""
        select count(*), count(*) filter (where is_loyalty_member), count(*) filter (where is_paid_member),
            count(*) filter (where paid_order_count > 0)
        from {PROFILES}""").fetchone()
    return dict(zip(("people", "members", "paid_members", "buyers"), row))


def channel_reach(connection) -> pd.DataFrame:
    """Per consent channel: people with consent, the channel's address and no suppression on it."""
    parts = [
        f"""select '{channel}' as channel, count(*) filter (
                where profiles.is_{channel}_consented and {CHANNEL_ADDRESS[channel]}
                and not exists (
                    select 1 from marts.dim_member_suppressions as suppressions
                    where suppressions.one_id = profiles.one_id and suppressions.channel in ('{channel}', 'all')
                )
            ) as people
            from {PROFILES} as profiles"""
        for channel in CONSENT_CHANNELS
    ]
    return frame(connection, " union all ".join(parts))


def registrations_by_month(connection, as_of: dt.date) -> pd.DataFrame:
    first = (as_of.replace(day=1) - pd.DateOffset(months=REGISTRATION_MONTHS - 1)).date()
    return frame(connection, """
        select cast(date_trunc('month', registered_date) as date) as month, count(*) as people
        from marts.dim_members
        where registered_date between ? and ?
        group by 1 order by 1""", [first, as_of])


# --- value -------------------------------------------------------------------------------------

def rfm_grid(connection) -> pd.DataFrame:
    """The eight RFM groups: people, their share of the period's GMV (orders x average spend in the
    RFM period) and their average days since the last order."""
    return frame(connection, f"""
        with grouped as (
            select rfm_group, recency_level, frequency_level, monetary_level, count(*) as people,
                sum(frequency_orders * monetary_average_spend) as gmv, avg(recency_days) as recency_days
            from {TAGS_SCHEMA}.tag_rfm_groups
            where rfm_group is not null
            group by all
        )
        select *, gmv / sum(gmv) over () as gmv_share from grouped order by rfm_group""")


def histogram(connection, column: str, *, bins: int, upper: float | None = None) -> pd.DataFrame:
    """People per bin of a profile column over [0, upper) in `bins` equal bins, the last one open
    (upper: the column's 99th percentile, rounded up to a round number, when not given)."""
    if upper is None:
        top = connection.execute(
            f"select quantile_cont({column}, 0.99) from {PROFILES} where {column} is not null").fetchone()[0]
        if top is None:
            return pd.DataFrame(columns=["bin_start", "bin_end", "people", "is_open"])
        upper = _round_up(max(float(top), 1.0))
    width = upper / bins
    result = frame(connection, f"""
        select least(greatest(cast(floor({column} / ?) as integer), 0), ?) as bin, count(*) as people
        from {PROFILES} where {column} is not null
        group by 1 order by 1""", [width, bins - 1])
    result["bin_start"] = result["bin"] * width
    result["bin_end"] = result["bin_start"] + width
    result["is_open"] = result["bin"] == bins - 1
    return result.drop(columns="bin")


def _round_up(value: float) -> float:
    magnitude = 10 ** (len(str(int(value))) - 1)
    return float(-(-value // magnitude) * magnitude)


def cvm_monthly(connection) -> pd.DataFrame:
    return frame(connection, """
        select period_month, sales, c_consumers, v_average_purchase_value, m_purchases_per_consumer,
            sales_change, c_contribution, v_contribution, m_contribution
        from (
            select * from analysis.analysis_cvm_monthly where channel = 'all'
            order by period_month desc limit ?
        ) order by period_month""", [CVM_MONTHS])


# --- lifecycle and AIPL --------------------------------------------------------------------------

def lifecycle_counts(connection) -> pd.DataFrame:
    return frame(connection, f"""
        select lifecycle_stage as stage, count(*) as people from {PROFILES}
        where lifecycle_stage is not null group by 1""")


def aipl_counts(connection) -> pd.DataFrame:
    return frame(connection, f"""
        select aipl_stage as stage, count(*) as people from {PROFILES}
        where aipl_stage in ({', '.join(f"'{stage}'" for stage in AIPL_STAGES)}) group by 1""")


def warnings_reached(connection, as_of: dt.date) -> pd.DataFrame:
    """Per churn warning, and for any of them (`any`): people warned, and of them those a campaign
    reached (a send acknowledged since REACHED_WITHIN_DAYS days before the as-of date)."""
    since = as_of - dt.timedelta(days=REACHED_WITHIN_DAYS)
    parts = [
        f"""select '{name}' as warning, count(*) as warned,
                count(*) filter (where reached.one_id is not null) as reached
            from {PROFILES} as profiles left join reached on profiles.one_id = reached.one_id
            where profiles.{column}"""
        for name, column in WARNINGS.items()
    ]
    any_warning = " or ".join(f"profiles.{column}" for column in WARNINGS.values())
    parts.append(
        f"""select 'any' as warning, count(*) as warned,
                count(*) filter (where reached.one_id is not null) as reached
            from {PROFILES} as profiles left join reached on profiles.one_id = reached.one_id
            where {any_warning}""")
    return frame(connection, f"""
        with reached as (
            select distinct one_id from marts.fct_campaign_sends
            where is_sent and operation in ('add', 'update') and recorded_date >= ?
        )
        {' union all '.join(parts)}""", [since])


# --- moves and magic numbers ---------------------------------------------------------------------

def transitions(connection) -> pd.DataFrame:
    """The latest pair of as-of dates: moves between RFM groups and between lifecycle stages."""
    return frame(connection, """
        with latest as (select max(to_date) as to_date from analysis.analysis_member_transitions)
        select dimension, from_date, transitions.to_date, from_state, to_state, member_count,
            share_of_from_state
        from analysis.analysis_member_transitions as transitions
        inner join latest on transitions.to_date = latest.to_date
        where dimension in ('rfm_group', 'lifecycle_stage')""")


def magic_numbers(connection) -> pd.DataFrame:
    return frame(connection, """
        select behaviour, behaviour_value, is_pooled_top_value, member_count, retention_rate, is_knee
        from analysis.analysis_magic_numbers order by behaviour, behaviour_value""")


# --- audiences ------------------------------------------------------------------------------------

def audience_tables(connection) -> list[str]:
    return [name for (name,) in connection.execute(
        "select table_name from duckdb_tables() where schema_name = ? and table_name like 'seg\\_%' escape '\\' "
        "order by table_name", [SEGMENTS_SCHEMA]).fetchall()]


def audience_sizes(connection, audience: str) -> pd.DataFrame:
    """The audience's size when each completed sync read it, and at its last build (when the
    change capture recorded it), both on the wall clock."""
    table = f"{SEGMENTS_SCHEMA}.seg_{audience}"
    return frame(connection, f"""
        select started_at as measured_at, audience_count as people, 'sync' as source
        from marts.fct_sync_runs
        where audience_name = ? and not is_dry_run and is_completed and audience_count is not null
        union all
        select (
            select max(captured_at) from {ACTIVATION_SCHEMA}.audience_captures where audience_table = ?
        ), count(*), 'build' from {table}
        order by 1""", [audience, table])


def portraits(connection, audiences: list[str]) -> pd.DataFrame:
    """Every 5W2H tag's values: people in each audience and in all members, in one pass."""
    tags = [tag for names in PORTRAIT_TAGS.values() for tag in names]
    flags = ", ".join(
        f"exists (select 1 from {SEGMENTS_SCHEMA}.seg_{name} as audience where audience.one_id = profiles.one_id)"
        f" as in_{index}" for index, name in enumerate(audiences))
    counts = ", ".join(f"count(*) filter (where in_{index}) as people_{index}" for index in range(len(audiences)))
    casts = ", ".join(f"coalesce(cast({tag} as varchar), '(none)') as {tag}" for tag in tags)
    result = frame(connection, f"""
        with flagged as (
            select {casts}{', ' + flags if flags else ''} from {PROFILES} as profiles
        ),
        values_ as (
            unpivot flagged on {', '.join(tags)} into name tag value tag_value
        )
        select tag, tag_value, count(*) as population{', ' + counts if counts else ''}
        from values_ group by all""")
    question = {tag: name for name, names in PORTRAIT_TAGS.items() for tag in names}
    result["question"] = result["tag"].map(question)
    return result


# --- campaigns -----------------------------------------------------------------------------------

def campaign_uplift(connection, campaign_ids: list[str] | None) -> pd.DataFrame:
    where = f"where uplift.campaign_id in ({', '.join('?' for _ in campaign_ids)})" if campaign_ids else ""
    return frame(connection, f"""
        select uplift.*, campaigns.started_at
        from review.campaign_uplift as uplift
        left join marts.dim_campaigns as campaigns on uplift.campaign_id = campaigns.campaign_id
        {where}
        order by campaigns.started_at desc nulls last, uplift.campaign_id, uplift.variant""",
        campaign_ids or [])


# --- One ID ------------------------------------------------------------------------------------

def records_per_person(connection) -> pd.DataFrame:
    return frame(connection, """
        select least(records_in_person, 10) as records, count(*) as people
        from (select one_id, count(*) as records_in_person from marts.dim_source_records group by one_id)
        group by 1 order by 1""")


def identity_totals(connection) -> dict:
    row = connection.execute("""
        select count(*), count(distinct one_id) from marts.dim_source_records""").fetchone()
    return {"records": row[0], "people": row[1]}


def identity_events(connection) -> pd.DataFrame:
    """Merges and splits recorded by the last build that recorded any, and by every build."""
    return frame(connection, """
        with last_build as (
            select invocation_id from marts.identity_one_id_history order by event_at desc limit 1
        )
        select event_type, count(*) as all_builds,
            count(*) filter (where invocation_id in (select invocation_id from last_build)) as last_build
        from marts.identity_one_id_history group by 1""")


def blocked_identifiers(connection) -> pd.DataFrame:
    return frame(connection, """
        select block_reason, id_type, count(*) as identifiers
        from marts.dim_identifiers where is_blocked group by all order by all""")


def biggest_components(connection, limit: int = 10) -> pd.DataFrame:
    """The largest persons by records, ranked; no id is shown."""
    return frame(connection, """
        select row_number() over (order by records desc, systems desc) as rank, records, systems
        from (
            select one_id, count(*) as records, count(distinct source_system) as systems
            from marts.dim_source_records group by one_id
        )
        order by rank limit ?""", [limit])


# --- data quality --------------------------------------------------------------------------------

def landed_rows(connection, now: dt.datetime) -> pd.DataFrame:
    """Per landing table (quality.landing_freshness): rows landed, and the latest load time of the
    rows that passed the contract, with its age in days now and the table's warn and error ages."""
    landed = frame(connection, """
        select landing_table as "table", rows_landed as rows, latest_loaded_at as latest,
            warn_after_hours / 24 as warn_days, error_after_hours / 24 as error_days
        from quality.landing_freshness order by landing_table""")
    landed["age_days"] = [None if latest is None or pd.isna(latest) else (now - latest).total_seconds() / 86_400
                          for latest in landed["latest"]]
    return landed


def rejected_rows(connection) -> pd.DataFrame:
    return frame(connection, """
        select landing_table, rejection_reason, rows_landed, rows_rejected, rejected_share,
            warn_above_share, error_above_share
        from quality.landing_quality order by landing_table, rejection_reason""")
