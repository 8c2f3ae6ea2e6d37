"""The same dbt project on local Spark (dbt-spark, method: session) and on DuckDB, over the
same landing files: it builds with every test passing on both, and One ID gives every source
record the same one_id, so the tags and audiences built on it agree too."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from activation.demo_data import generate
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.spark

COMPARED_TABLES = (
    ("marts", "dim_source_records", ("source_system", "source_record_id", "one_id")),
    ("tags", "member_profiles", ("one_id", "rfm_group", "lifecycle_stage", "aipl_stage", "rfm_score_code",
                                 "coupon_sensitivity", "preferred_time_of_day", "preferred_day_of_week",
                                 "price_band", "engagement_level", "tenure_band", "age",
                                 "is_first_week_buyer", "has_abandoned_cart", "next_best_category_1",
                                 "order_count_90d", "distinct_category_count")),
    ("tags", "tag_catalogue", ("tag_name", "tag_family", "value_type", "allowed_values")),
    ("analysis", "analysis_magic_numbers", ("curve_key", "member_count", "retained_count", "is_knee")),
    ("analysis", "analysis_cvm_monthly", ("cvm_key", "c_consumers")),
    ("segments", "seg_high_value_churn_risk", ("one_id", "phone", "is_sms_consented")),
)


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    if shutil.which("java") is None:
        pytest.skip("local Spark needs Java 17 on the PATH")
    if importlib.util.find_spec("dbt.adapters.spark") is None:
        pytest.skip("dbt-spark is not installed: pip install -e '.[spark]'")
    workdir = tmp_path_factory.mktemp("spark")
    raw_dir = workdir / "raw"
    generate(raw_dir=raw_dir, truth_dir=workdir / "truth", people=400, seed=3)
    env = {**os.environ, "ONEDATA_RAW_DIR": str(raw_dir), "ONEDATA_RAW_FORMAT": "parquet"}
    _dbt_build({**env, "ONEDATA_TARGET": "duckdb",
                "ONEDATA_DUCKDB_PATH": str(workdir / "onedata.duckdb")}, workdir / "duckdb")
    # The Spark session keeps its warehouse and metastore in the working directory.
    _dbt_build({**env, "ONEDATA_TARGET": "spark"}, workdir / "spark")
    return workdir


def _dbt_build(env: dict[str, str], workdir: Path) -> None:
    workdir.mkdir()
    dbt = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [str(dbt), "build", "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")],
        env=env, cwd=workdir, capture_output=True, text=True, timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-5000:]
    assert "ERROR=0" in completed.stdout


@pytest.mark.parametrize(("schema", "table", "columns"), COMPARED_TABLES,
                         ids=[table for _, table, _ in COMPARED_TABLES])
def test_spark_and_duckdb_build_the_same_rows(builds, schema, table, columns):
    spark_files = builds / "spark" / "spark-warehouse" / f"{schema}.db" / table
    select = ", ".join(columns)
    with duckdb.connect(str(builds / "onedata.duckdb"), read_only=True) as connection:
        duckdb_rows = connection.execute(f"select {select} from {schema}.{table}").fetchall()
        spark_rows = connection.execute(
            f"select {select} from read_parquet('{spark_files}/*.parquet')"
        ).fetchall()
    assert len(duckdb_rows) > 10
    assert sorted(spark_rows, key=repr) == sorted(duckdb_rows, key=repr)
