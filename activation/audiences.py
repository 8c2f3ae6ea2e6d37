"""Listing and previewing audiences: sizes, a masked sample and a short portrait."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from activation import warehouse
from activation.errors import ActivationError
from activation.masking import mask_email, mask_name, mask_phone
from activation.settings import TAGS_SCHEMA, Settings
from activation.warehouse import CONSENT_CHANNELS, consent_column

PORTRAIT_COLUMNS = ("lifecycle_stage", "rfm_group", "member_level")
SAMPLE_COLUMNS = ("one_id", "display_name", "phone", "email", "member_level", "lifecycle_stage", "rfm_group")


@dataclass(frozen=True)
class AudienceSize:
    name: str
    size: int
    consented: dict[str, int]


@dataclass(frozen=True)
class ValueShare:
    value: str
    count: int
    share: float


@dataclass(frozen=True)
class AudiencePreview:
    name: str
    size: int
    as_of_date: dt.date | None
    sample: list[dict[str, object]]
    portrait: dict[str, list[ValueShare]]
    consent_rates: dict[str, float]


def _consent_counts_sql() -> str:
    return ", ".join(
        f"count(*) filter (where {consent_column(channel)})" for channel in CONSENT_CHANNELS
    )


def list_audience_sizes(settings: Settings) -> list[AudienceSize]:
    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        sizes = []
        for audience in warehouse.list_audiences(connection):
            size, *consented = connection.execute(
                f"select count(*), {_consent_counts_sql()} from {audience.table}"
            ).fetchone()
            sizes.append(AudienceSize(audience.name, size, dict(zip(CONSENT_CHANNELS, consented))))
        return sizes


def preview_audience(settings: Settings, name: str, limit: int = 10) -> AudiencePreview:
    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        audience = warehouse.resolve_audience(connection, name)
        size, as_of_date, *consented = connection.execute(
            f"select count(*), max(as_of_date), {_consent_counts_sql()} from {audience.table}"
        ).fetchone()
        cursor = connection.execute(
            f"select {', '.join(SAMPLE_COLUMNS)} from {audience.table} order by one_id limit ?",
            [limit],
        )
        sample = [_masked(dict(zip(SAMPLE_COLUMNS, row))) for row in cursor.fetchall()]
        portrait = {
            column: [
                ValueShare(value, count, count / size)
                for value, count in connection.execute(
                    f"""
                    select coalesce({column}, '(none)'), count(*)
                    from {audience.table}
                    group by 1
                    order by 2 desc, 1
                    """
                ).fetchall()
            ]
            for column in PORTRAIT_COLUMNS
        }
    return AudiencePreview(
        name=audience.name,
        size=size,
        as_of_date=as_of_date,
        sample=sample,
        portrait=portrait,
        consent_rates={
            channel: (count / size if size else 0.0)
            for channel, count in zip(CONSENT_CHANNELS, consented)
        },
    )


def _masked(row: dict[str, object]) -> dict[str, object]:
    return {
        **row,
        "display_name": mask_name(row["display_name"]),
        "phone": mask_phone(row["phone"]),
        "email": mask_email(row["email"]),
    }


# --- audiences plan: the diff a reviewer reads --------------------------------------------

PLAN_SAMPLE = 5


@dataclass(frozen=True)
class AudiencePlan:
    name: str
    status: str  # new, changed, unchanged, removed
    built_size: int | None
    planned_size: int
    added: int
    removed: int
    added_sample: list[str]
    removed_sample: list[str]

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def plan_audiences(settings: Settings, audiences_dir=None) -> list[AudiencePlan]:
    """For every audience declared under audiences/, who its rule selects in the warehouse's
    current member_profiles against who its last built table holds; an audience table with no
    YAML any more is planned as removed. Reads only; one_ids are not personal data."""
    from activation.audience_code import AUDIENCES_DIR, load_audiences

    specs = load_audiences(audiences_dir or AUDIENCES_DIR)
    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        catalog = warehouse.Catalog.read(connection)
        built = {audience.name: audience for audience in catalog.audiences()}
        if not catalog.has(f"{TAGS_SCHEMA}.member_profiles"):
            raise ActivationError("No tags.member_profiles in the warehouse: run dbt build first.")
        # The audience SQL leaves out members suppressed on every channel; so does the plan.
        suppressed = (
            " and one_id not in (select one_id from marts.dim_member_suppressions where channel = 'all')"
            if catalog.has("marts.dim_member_suppressions")
            else ""
        )
        plans = []
        for spec in specs:
            planned = (
                f"select one_id from {TAGS_SCHEMA}.member_profiles where ({spec.condition}){suppressed}"
            )
            previous = (f"select one_id from {built[spec.name].table}" if spec.name in built
                        else "select cast(null as varchar) as one_id where false")
            try:
                plans.append(_plan_one(connection, spec.name, planned, previous, spec.name in built))
            except duckdb.Error as error:
                raise ActivationError(
                    f"audiences/{spec.path.name}: its rule cannot run on the built member_profiles "
                    f"({str(error).splitlines()[0]}); run dbt build first if it uses a new tag."
                ) from error
        for name in sorted(set(built) - {spec.name for spec in specs}):
            plans.append(_plan_one(connection, name, "select cast(null as varchar) as one_id where false",
                                   f"select one_id from {built[name].table}", True, removed=True))
    return plans


def _plan_one(connection, name: str, planned: str, previous: str, was_built: bool,
              removed: bool = False) -> AudiencePlan:
    counts = connection.execute(
        f"""
        with planned as ({planned}), previous as ({previous})
        select
            (select count(*) from previous),
            (select count(*) from planned),
            (select count(*) from planned where one_id not in (select one_id from previous)),
            (select count(*) from previous where one_id not in (select one_id from planned))
        """
    ).fetchone()

    def sample(left: str, right: str) -> list[str]:
        return [row[0] for row in connection.execute(
            f"with planned as ({planned}), previous as ({previous}) "
            f"select one_id from {left} where one_id not in (select one_id from {right}) "
            f"order by one_id limit {PLAN_SAMPLE}").fetchall()]

    built_size, planned_size, added, dropped = counts
    status = ("removed" if removed else "new" if not was_built
              else "changed" if added or dropped else "unchanged")
    return AudiencePlan(name, status, built_size if was_built else None, planned_size, added, dropped,
                        sample("planned", "previous"), sample("previous", "planned"))


# --- portrait: the crowd against all members (5W2H) -----------------------------------------

# Who, what, when, where, why, how, how much: the tags a marketer reads a crowd by.
PORTRAIT_TAGS = {
    "who": ("gender", "age_band", "member_level", "tenure_band"),
    "what": ("preferred_top_category", "price_band"),
    "when": ("preferred_time_of_day", "preferred_day_of_week"),
    "where": ("preferred_channel", "province"),
    "why": ("lifecycle_stage", "rfm_group", "aipl_stage"),
    "how": ("coupon_sensitivity", "is_member_day_sensitive", "engagement_level"),
    "how much": ("points_band", "is_high_value"),
}


@dataclass(frozen=True)
class PortraitValue:
    value: str
    audience_count: int
    audience_share: float
    population_share: float

    @property
    def index(self) -> float | None:
        """TGI: the audience's share over the population's, x 100 (above 100: over-represented)."""
        return 100 * self.audience_share / self.population_share if self.population_share else None


@dataclass(frozen=True)
class Portrait:
    name: str
    size: int
    population: int
    as_of_date: dt.date | None
    dimensions: dict[str, dict[str, list[PortraitValue]]]
    averages: dict[str, tuple[float | None, float | None]]


PORTRAIT_AVERAGES = ("age", "paid_order_count", "average_order_value", "spend_365d", "days_since_last_order")


def portrait_audience(settings: Settings, name: str) -> Portrait:
    """The audience's distribution over the 5W2H tags beside all members', with the TGI index."""

    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        audience = warehouse.resolve_audience(connection, name)
        profiles = f"{TAGS_SCHEMA}.member_profiles"
        size, population, as_of_date = connection.execute(
            f"select (select count(*) from {audience.table}), count(*), max(as_of_date) from {profiles}"
        ).fetchone()
        dimensions: dict[str, dict[str, list[PortraitValue]]] = {}
        for question, tags in PORTRAIT_TAGS.items():
            dimensions[question] = {}
            for tag in tags:
                rows = connection.execute(
                    f"""
                    with values_ as (
                        select
                            coalesce(cast(profiles.{tag} as varchar), '(none)') as value,
                            audience.one_id is not null as in_audience
                        from {profiles} as profiles
                        left join {audience.table} as audience on profiles.one_id = audience.one_id
                    )
                    select value, count(*) filter (where in_audience), count(*)
                    from values_
                    group by value
                    order by 2 desc, 3 desc, value
                    """
                ).fetchall()
                dimensions[question][tag] = [
                    PortraitValue(value, in_audience, in_audience / size if size else 0.0,
                                  total / population if population else 0.0)
                    for value, in_audience, total in rows
                ]
        averages = {}
        for column in PORTRAIT_AVERAGES:
            averages[column] = connection.execute(
                f"""
                select
                    avg(profiles.{column}) filter (where audience.one_id is not null),
                    avg(profiles.{column})
                from {profiles} as profiles
                left join {audience.table} as audience on profiles.one_id = audience.one_id
                """
            ).fetchone()
    return Portrait(audience.name, size, population, as_of_date, dimensions, averages)
