"""The DuckDB warehouse as the activation layer sees it: audience tables and activation tables."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
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

# Tables and views of the open database, from DuckDB's own catalog functions: the first query
# of information_schema in a process costs tens of milliseconds, these about one.
_RELATIONS = (
    "select schema_name, table_name from duckdb_tables() "
    "union all select schema_name, view_name from duckdb_views() "
    "where not internal"
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


def list_audiences(connection: duckdb.DuckDBPyConnection) -> list[Audience]:
    rows = connection.execute(
        f"""
        select table_name from ({_RELATIONS})
        where schema_name = ? and starts_with(table_name, ?)
        order by table_name
        """,
        [SEGMENTS_SCHEMA, AUDIENCE_TABLE_PREFIX],
    ).fetchall()
    return [Audience(name=table_name.removeprefix(AUDIENCE_TABLE_PREFIX)) for (table_name,) in rows]


def resolve_audience(connection: duckdb.DuckDBPyConnection, name: str) -> Audience:
    """Find an audience by name, with or without the `seg_` prefix, and check its contract."""
    audience_name = name.strip().lower().removeprefix(AUDIENCE_TABLE_PREFIX)
    known = list_audiences(connection)
    if not _AUDIENCE_NAME.match(audience_name) or Audience(audience_name) not in known:
        available = ", ".join(audience.name for audience in known) or "none: run dbt build first"
        raise ActivationError(f"Unknown audience {name!r}. Available audiences: {available}.")
    audience = Audience(audience_name)
    present = {
        column_name
        for (column_name,) in connection.execute(
            """
            select column_name
            from duckdb_columns()
            where schema_name = ? and table_name = ?
            """,
            [SEGMENTS_SCHEMA, AUDIENCE_TABLE_PREFIX + audience_name],
        ).fetchall()
    }
    missing = [column for column in AUDIENCE_COLUMNS if column not in present]
    if missing:
        raise ActivationError(
            f"{audience.table} does not follow the audience contract; missing columns: "
            f"{', '.join(missing)}."
        )
    return audience


def require_activation_tables(connection: duckdb.DuckDBPyConnection) -> None:
    present = {
        table_name
        for (table_name,) in connection.execute(
            f"select table_name from ({_RELATIONS}) where schema_name = ?",
            [ACTIVATION_SCHEMA],
        ).fetchall()
    }
    missing = [table for table in ACTIVATION_TABLES if table not in present]
    if missing:
        raise ActivationError(
            f"Activation tables missing ({', '.join(f'{ACTIVATION_SCHEMA}.{t}' for t in missing)}): "
            "run dbt build first (its on-run-start creates them)."
        )


def relation_exists(connection: duckdb.DuckDBPyConnection, relation: str) -> bool:
    """Whether schema.name exists as a table or view."""
    schema, _, name = relation.partition(".")
    return bool(
        connection.execute(
            f"select count(*) from ({_RELATIONS}) where schema_name = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def audience_version(
    connection: duckdb.DuckDBPyConnection, audience: Audience, capture_id: str | None
) -> str:
    """Which build of the audience was sent: its as-of date and a digest of the build's change
    capture (audience_capture_id) where dbt recorded one (it names one build), else of its
    members, so two syncs of the same version sent the same people."""
    if capture_id is not None:
        as_of_date = connection.execute(f"select max(as_of_date) from {audience.table}").fetchone()[0]
        return f"{as_of_date}/{hashlib.sha256(f'capture:{capture_id}'.encode()).hexdigest()[:8]}"
    as_of_date, size, members_digest = connection.execute(
        f"select max(as_of_date), count(*), bit_xor(hash(one_id)) from {audience.table}"
    ).fetchone()
    digest = hashlib.sha256(f"{size}:{members_digest}".encode()).hexdigest()[:8]
    return f"{as_of_date}/{digest}"


def audience_capture_id(connection: duckdb.DuckDBPyConnection, audience: Audience) -> str | None:
    """The change capture the audience build carries (its table comment, written by the
    audience models' post-hook), if any."""
    schema, _, table = audience.table.partition(".")
    row = connection.execute(
        "select comment from duckdb_tables() where schema_name = ? and table_name = ?",
        [schema, table],
    ).fetchone()
    match = _CAPTURE_COMMENT.match(row[0] or "") if row else None
    return match.group(1) if match else None
