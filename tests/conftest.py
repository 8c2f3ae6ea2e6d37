"""Fixtures: a test warehouse (activation tables made by dbt, a contract-shaped audience),
a webhook receiver on loopback, and settings that point the CLI at both."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from activation.settings import Settings
from tests.webhook_server import WebhookReceiver

PROJECT_DIR = Path(__file__).resolve().parents[1]
SECRET = "test-secret-not-real"
AUDIENCE = "test_audience"
AS_OF_DATE = dt.date(2026, 10, 31)
CONSENT_CHANNELS = ("sms", "email", "wecom", "wechat", "app_push", "ad_platform")

AUDIENCE_DDL = f"""
create schema if not exists segments;
create or replace table segments.seg_{AUDIENCE} (
    one_id varchar, audience_name varchar, display_name varchar, phone varchar, email varchar,
    wechat_unionid varchar, wechat_openid varchar, app_device_id varchar, member_level varchar,
    lifecycle_stage varchar, rfm_group varchar,
    {", ".join(f"is_{channel}_consented boolean" for channel in CONSENT_CHANNELS)},
    as_of_date date
)
"""


def make_member(number: int, **overrides) -> dict:
    """One audience row. Every 5th member has no SMS consent, every 13th a null one,
    every 17th no phone; the others can be sent to an SMS destination."""
    member = {
        "one_id": f"p{number:05d}",
        "audience_name": AUDIENCE,
        "display_name": f"张{number}",
        "phone": None if number % 17 == 0 else f"138{number:08d}",
        "email": f"user{number}@example.com",
        "wechat_unionid": f"union{number}",
        "wechat_openid": f"wx_app:open{number}",
        "app_device_id": f"device{number}",
        "member_level": ("normal", "silver", "gold", "platinum")[number % 4],
        "lifecycle_stage": ("new", "growth", "mature", "dormant")[number % 4],
        "rfm_group": ("important_value", "general_keep")[number % 2],
        **{f"is_{channel}_consented": number % 3 != 0 for channel in CONSENT_CHANNELS},
        "as_of_date": AS_OF_DATE,
    }
    member["is_sms_consented"] = None if number % 13 == 0 else number % 5 != 0
    member.update(overrides)
    return member


def sms_reachable(member: dict) -> bool:
    return member["is_sms_consented"] is True and bool(member["phone"])


class WarehouseFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def write_audience(self, members: list[dict]) -> None:
        with duckdb.connect(str(self.path)) as connection:
            connection.execute(AUDIENCE_DDL)
            if members:
                columns = list(members[0])
                connection.executemany(
                    f"insert into segments.seg_{AUDIENCE} ({', '.join(columns)}) "
                    f"values ({', '.join('?' for _ in columns)})",
                    [[member[column] for column in columns] for member in members],
                )

    def rows(self, sql: str, parameters=None) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as connection:
            return connection.execute(sql, parameters or []).fetchall()

    def scalar(self, sql: str, parameters=None):
        return self.rows(sql, parameters)[0][0]


@pytest.fixture(scope="session")
def activation_tables_template(tmp_path_factory) -> Path:
    """A DuckDB file holding only the activation tables, created by the dbt macro itself."""
    workdir = tmp_path_factory.mktemp("dbt")
    database = workdir / "template.duckdb"
    dbt = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [
            str(dbt), "run-operation", "create_activation_tables",
            "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
            "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"),
        ],
        env={**os.environ, "ONEDATA_DUCKDB_PATH": str(database)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return database


@pytest.fixture
def warehouse(activation_tables_template, tmp_path) -> WarehouseFile:
    path = tmp_path / "onedata.duckdb"
    shutil.copy(activation_tables_template, path)
    warehouse_file = WarehouseFile(path)
    warehouse_file.write_audience([make_member(number) for number in range(1, 61)])
    return warehouse_file


@pytest.fixture
def receiver():
    server = WebhookReceiver(SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def destinations_file(tmp_path, receiver) -> Path:
    path = tmp_path / "destinations.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "destinations": {
                    "test_webhook": {
                        "type": "webhook",
                        "channel": "sms",
                        "fields": ["member_level"],
                        "url": receiver.url,
                        "batch_size": 10,
                        "holdout_share": 0.1,
                        "max_retries": 2,
                        "backoff_base_seconds": 0.01,
                        "read_timeout_seconds": 5,
                    },
                    "test_files": {
                        "type": "file",
                        "channel": "sms",
                        "path": str(tmp_path / "outbox"),
                        "holdout_share": 0.1,
                    },
                }
            }
        )
    )
    return path


@pytest.fixture
def settings(warehouse, destinations_file, tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("ACTIVATE__TEST_WEBHOOK__SECRET", SECRET)
    return Settings(
        duckdb_path=warehouse.path,
        raw_dir=tmp_path / "raw",
        raw_format="parquet",
        destinations_file=destinations_file,
    )


@pytest.fixture
def cli_env(settings) -> dict[str, str]:
    """Environment for running `activate` against the test warehouse."""
    return {
        "ONEDATA_DUCKDB_PATH": str(settings.duckdb_path),
        "ONEDATA_RAW_DIR": str(settings.raw_dir),
        "ONEDATA_RAW_FORMAT": settings.raw_format,
        "ONEDATA_DESTINATIONS": str(settings.destinations_file),
        "ACTIVATE__TEST_WEBHOOK__SECRET": SECRET,
    }


@pytest.fixture(scope="session")
def simulated_brand(tmp_path_factory):
    """A demo brand whose campaigns have simulated outcomes, built once (tests/simulated_brand.py):
    the report's tests and the simulation's coverage test read it."""
    from tests import simulated_brand as brand

    return brand.build(tmp_path_factory.mktemp("simulated_brand"))
