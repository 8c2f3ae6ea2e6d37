"""The tag catalogue as dbt built it (tags.tag_catalogue), with how many members carry each tag."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from activation import warehouse
from activation.errors import ActivationError
from activation.settings import TAGS_SCHEMA, Settings


@dataclass(frozen=True)
class Tag:
    name: str
    family: str
    value_type: str
    allowed_values: str | None
    description: str
    owner: str
    refresh_cadence: str
    member_count: int
    as_of_date: dt.date | None

    def as_dict(self) -> dict[str, object]:
        row = asdict(self)
        row["as_of_date"] = self.as_of_date.isoformat() if self.as_of_date else None
        return row


def list_tags(settings: Settings, family: str | None = None) -> list[Tag]:
    """Every catalogued tag in catalogue order, optionally of one family; `member_count` is the
    number of people who carry it in member_tags: with a value, and for a boolean tag, true."""
    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        present = {
            name for (name,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = ?", [TAGS_SCHEMA]
            ).fetchall()
        }
        if not {"tag_catalogue", "member_tags"} <= present:
            raise ActivationError("No tag catalogue in the warehouse: run dbt build first.")
        families = [row[0] for row in connection.execute(
            f"select distinct tag_family from {TAGS_SCHEMA}.tag_catalogue order by 1").fetchall()]
        if family is not None and family not in families:
            raise ActivationError(f"No tag family '{family}'. Families: {', '.join(families)}.")
        rows = connection.execute(
            f"""
            with coverage as (
                select
                    member_tags.tag_name,
                    -- A boolean tag is carried by the members it is true for, not by every
                    -- member it was worked out for.
                    count(
                        case
                            when catalogue.value_type <> 'boolean' then 1
                            when lower(cast(member_tags.tag_value as varchar)) = 'true' then 1
                        end
                    ) as member_count,
                    max(member_tags.as_of_date) as as_of_date
                from {TAGS_SCHEMA}.member_tags as member_tags
                inner join {TAGS_SCHEMA}.tag_catalogue as catalogue
                    on member_tags.tag_name = catalogue.tag_name
                group by member_tags.tag_name
            )
            select catalogue.tag_name, catalogue.tag_family, catalogue.value_type,
                   catalogue.allowed_values, catalogue.tag_description, catalogue.tag_owner,
                   catalogue.refresh_cadence, coalesce(coverage.member_count, 0), coverage.as_of_date
            from {TAGS_SCHEMA}.tag_catalogue as catalogue
            left join coverage on catalogue.tag_name = coverage.tag_name
            where ? is null or catalogue.tag_family = ?
            order by catalogue.catalogue_order
            """,
            [family, family],
        ).fetchall()
    return [Tag(*row) for row in rows]
