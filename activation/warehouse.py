"""The DuckDB warehouse as the activation layer sees it: audience tables and activation tables."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from activation.errors import ActivationError
from activation.settings import ACTIVATION_SCHEMA, SEGMENTS_SCHEMA

AUDIENCE_TABLE_PREFIX = "seg_"
LOCK_WAIT_SECONDS = 5.0

CONSENT_CHANNELS = ("sms", "email", "wecom", "wechat", "app_push", "ad_platform")

# The audience contract (one row per person); dbt enforces it, we check it before reading.
AUDIENCE_COLUMNS = (
    "one_id",
    "audience_name",
    "display_name",
    "phone",
    "email",
    "wechat_unionid",
    "wechat_openid",
    "app_device_id",
    "member_level",
    "lifecycle_stage",
    "rfm_group",
    *(f"is_{channel}_consented" for channel in CONSENT_CHANNELS),
    "as_of_date",
)

ACTIVATION_TABLES = (
    "sync_runs", "sync_state", "campaign_assignments", "sync_ledger", "sync_pending_batches",
)

_CAPTURE_COMMENT = re.compile(r"^onedata capture (.+)$")
# Audience names end up in SQL identifiers, so only plain dbt model names are accepted.
_AUDIENCE_NAME = re.compile(r"^[a-z0-9_]+$")


def consent_column(channel: str) -> str:
    return f"is_{channel}_consented"


@dataclass(frozen=True)
class Audience:
    name: str

    @property
    def table(self) -> str:
        return f"{SEGMENTS_SCHEMA}.{AUDIENCE_TABLE_PREFIX}{self.name}"


@contextmanager
def connect(path: Path, *, read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    if not path.exists():
        raise ActivationError(
            f"No warehouse at {path}: run dbt build first (or set ONEDATA_DUCKDB_PATH)."
        )
    # DuckDB lets one process write a file at a time; a feedback receiver or a plan holds it
    # only briefly, so wait a little before giving up.
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as error:
            if time.monotonic() >= deadline:
                raise ActivationError(
                    f"Cannot open the warehouse {path}: {error}. "
                    "Is another process (dbt, another sync) using it?"
                ) from error
            time.sleep(0.2)
    try:
        yield connection
    finally:
        connection.close()


@dataclass(frozen=True)
class Catalog:
    """The warehouse's tables and views as a command found them, read in one query: a sync
    asks a dozen questions of the catalog before it plans, and each statement of its own cost
    more than the answer. Nothing a command does creates or drops a relation, and the file
    lock keeps dbt out meanwhile, so the snapshot holds for the whole command."""

    # "schema.name" -> the table comment (None for none, and for views).
    comments: Mapping[str, str | None]
    # "schema.name" -> its columns, for the relations of the segments and activation schemas.
    columns: Mapping[str, frozenset[str]]
    # The tables with a primary key or unique constraint on exactly one_id.
    keyed_by_one_id: frozenset[str]

    @classmethod
    def read(cls, connection: duckdb.DuckDBPyConnection) -> Catalog:
        # DuckDB's own catalog functions: the first query of information_schema in a process
        # costs tens of milliseconds, these about one.
        rows = connection.execute(
            """
            with relations as (
                select schema_name, table_name, comment from duckdb_tables()
                union all
                select schema_name, view_name, comment from duckdb_views() where not internal
            ),
            relation_columns as (
                select schema_name, table_name, list(column_name) as column_names
                from duckdb_columns()
                where schema_name in (?, ?)
                group by all
            ),
            keyed_by_one_id as (
                select distinct schema_name, table_name
                from duckdb_constraints()
                where constraint_type in ('PRIMARY KEY', 'UNIQUE')
                    and constraint_column_names = ['one_id']
            )
            select
                relations.schema_name || '.' || relations.table_name,
                relations.comment,
                relation_columns.column_names,
                keyed_by_one_id.table_name is not null
            from relations
            left join relation_columns using (schema_name, table_name)
            left join keyed_by_one_id using (schema_name, table_name)
            """,
            [SEGMENTS_SCHEMA, ACTIVATION_SCHEMA],
        ).fetchall()
        return cls(
            comments={relation: comment for relation, comment, _, _ in rows},
            columns={
                relation: frozenset(column_names)
                for relation, _, column_names, _ in rows
                if column_names is not None
            },
            keyed_by_one_id=frozenset(relation for relation, _, _, keyed in rows if keyed),
        )

    def has(self, relation: str) -> bool:
        """Whether schema.name exists as a table or view."""
        return relation in self.comments

    def has_columns(self, relation: str, *columns: str) -> bool:
        """Whether the relation (of the segments or activation schema) has all these columns."""
        return set(columns) <= self.columns.get(relation, frozenset())

    def audiences(self) -> list[Audience]:
        prefix = f"{SEGMENTS_SCHEMA}.{AUDIENCE_TABLE_PREFIX}"
        return sorted(
            (Audience(relation.removeprefix(prefix)) for relation in self.comments
             if relation.startswith(prefix)),
            key=lambda audience: audience.name,
        )

    def resolve_audience(self, name: str) -> Audience:
        """Find an audience by name, with or without the `seg_` prefix, and check its contract."""
        audience_name = name.strip().lower().removeprefix(AUDIENCE_TABLE_PREFIX)
        audience = Audience(audience_name)
        if not _AUDIENCE_NAME.match(audience_name) or not self.has(audience.table):
            known = self.audiences()
            available = ", ".join(audience.name for audience in known) or "none: run dbt build first"
            raise ActivationError(f"Unknown audience {name!r}. Available audiences: {available}.")
        present = self.columns.get(audience.table, frozenset())
        missing = [column for column in AUDIENCE_COLUMNS if column not in present]
        if missing:
            raise ActivationError(
                f"{audience.table} does not follow the audience contract; missing columns: "
                f"{', '.join(missing)}."
            )
        return audience

    def require_activation_tables(self) -> None:
        missing = [table for table in ACTIVATION_TABLES if not self.has(f"{ACTIVATION_SCHEMA}.{table}")]
        if missing:
            raise ActivationError(
                f"Activation tables missing ({', '.join(f'{ACTIVATION_SCHEMA}.{t}' for t in missing)}): "
                "run dbt build first (its on-run-start creates them)."
            )

    def capture_id(self, audience: Audience) -> str | None:
        """The change capture the audience build carries (its table comment, written by the
        audience models' post-hook), if any."""
        match = _CAPTURE_COMMENT.match(self.comments.get(audience.table) or "")
        return match.group(1) if match else None


def list_audiences(connection: duckdb.DuckDBPyConnection) -> list[Audience]:
    return Catalog.read(connection).audiences()


def resolve_audience(connection: duckdb.DuckDBPyConnection, name: str) -> Audience:
    return Catalog.read(connection).resolve_audience(name)


def require_activation_tables(connection: duckdb.DuckDBPyConnection) -> None:
    Catalog.read(connection).require_activation_tables()


def audience_version(
    connection: duckdb.DuckDBPyConnection, audience: Audience, capture_id: str | None
) -> str:
    """Which build of the audience was sent: its as-of date and a digest of the build's change
    capture (Catalog.capture_id) where dbt recorded one (it names one build), else of its
    members, so two syncs of the same version sent the same people."""
    if capture_id is not None:
        as_of_date = connection.execute(f"select max(as_of_date) from {audience.table}").fetchone()[0]
        return f"{as_of_date}/{hashlib.sha256(f'capture:{capture_id}'.encode()).hexdigest()[:8]}"
    as_of_date, size, members_digest = connection.execute(
        f"select max(as_of_date), count(*), bit_xor(hash(one_id)) from {audience.table}"
    ).fetchone()
    digest = hashlib.sha256(f"{size}:{members_digest}".encode()).hexdigest()[:8]
    return f"{as_of_date}/{digest}"
