"""Listing and previewing audiences: sizes, a masked sample and a short portrait."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from activation import warehouse
from activation.masking import mask_email, mask_name, mask_phone
from activation.settings import Settings
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
