"""Every rule counts the brand's days, not UTC's: two high-value members land through the landing
contract whose last orders are two minutes apart, at 23:59 and 00:01 Beijing time (15:59 and 16:01
UTC, one UTC day). Fifteen days later the 15-day churn warning must reach the first and not yet the
second; with UTC days both would have it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from activation.demo.sink import LANDING_SCHEMAS
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

AS_OF = dt.date(2026, 10, 31)
# The last orders: 15 days before the as-of date, at 23:59 and then 00:01 in Beijing (UTC+8).
LAST_ORDERS = {
    "late": dt.datetime(2026, 10, 16, 15, 59),   # 2026-10-16 23:59 in Beijing: 15 days before
    "early": dt.datetime(2026, 10, 16, 16, 1),   # 2026-10-17 00:01 in Beijing: 14 days before
}


def land(raw_dir: Path) -> None:
    """Two CRM members, each with two earlier orders and the last one above; every other table of
    the contract an empty file."""
    members = sorted(LAST_ORDERS)
    orders = []
    for member, last in LAST_ORDERS.items():
        for number, ordered_at in enumerate((last - dt.timedelta(days=40), last - dt.timedelta(days=20), last)):
            orders.append({"order_id": f"{member}-{number}", "member": member, "ordered_at": ordered_at})
    columns = {
        "crm_members": {
            "member_id": members,
            "member_level": ["gold"] * len(members),
            "registration_channel": ["pos"] * len(members),
            "registered_at": [dt.datetime(2025, 1, 1)] * len(members),
            "updated_at": [dt.datetime(2025, 1, 1)] * len(members),
        },
        "orders": {
            "order_id": [order["order_id"] for order in orders],
            "channel": ["pos"] * len(orders),
            "customer_source_system": ["crm"] * len(orders),
            "customer_source_record_id": [order["member"] for order in orders],
            "order_status": ["completed"] * len(orders),
            "ordered_at": [order["ordered_at"] for order in orders],
            "paid_at": [order["ordered_at"] for order in orders],
            "gross_amount": [Decimal("400.00")] * len(orders),
            "discount_amount": [Decimal("0.00")] * len(orders),
            "paid_amount": [Decimal("400.00")] * len(orders),
            "refund_amount": [Decimal("0.00")] * len(orders),
            "currency": ["CNY"] * len(orders),
        },
    }
    for table, schema in LANDING_SCHEMAS.items():
        values = columns.get(table, {})
        rows = len(next(iter(values.values()))) if values else 0
        arrays = [pa.array(values[field.name], field.type) if field.name in values else pa.nulls(rows, field.type)
                  for field in schema]
        (raw_dir / table).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), raw_dir / table / "part-0001.parquet")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("local_days")
    land(workdir / "raw")
    env = {**os.environ, "ONEDATA_TARGET": "duckdb", "ONEDATA_RAW_DIR": str(workdir / "raw"),
           "ONEDATA_RAW_FORMAT": "parquet", "ONEDATA_DUCKDB_PATH": str(workdir / "onedata.duckdb")}
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "build", "--select", "+tag_churn_warnings",
         "--resource-type", "model", "--resource-type", "seed",
         "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"),
         "--vars", f"{{onedata__as_of_date: '{AS_OF}', onedata__time_zone: Asia/Shanghai, "
                   "onedata__warning_high_value_lapse_days: 15}"],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert completed.returncode == 0, completed.stdout[-5000:]
    return workdir / "onedata.duckdb"


def rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def test_the_last_orders_fall_on_two_days_of_the_brand(built):
    assert rows(built, """
        select customer_source_record_id, order_date from marts.fct_orders
        where order_id like '%-2' order by 1""") == [
        ("early", dt.date(2026, 10, 17)),
        ("late", dt.date(2026, 10, 16)),
    ]


def test_the_15_day_warning_counts_local_days(built):
    warnings = dict(rows(built, """
        select records.source_record_id, warnings.is_high_value_lapse_warning
        from tags.tag_churn_warnings as warnings
        inner join marts.dim_source_records as records on warnings.one_id = records.one_id"""))
    assert warnings == {"late": True, "early": False}
    assert rows(built, """
        select records.source_record_id, warnings.days_since_last_order
        from tags.tag_churn_warnings as warnings
        inner join marts.dim_source_records as records on warnings.one_id = records.one_id
        order by 1""") == [("early", 14), ("late", 15)]
