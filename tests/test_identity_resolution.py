"""One ID's graph resolution on hand-made traps added to a small demo brand: a chain of 10,000
linked identifiers resolves into one person in a number of passes that grows like log(n), and a
pass cap that is too low fails the build loudly instead of returning a truncated result."""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from activation.demo_data import generate
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

CHAIN_LENGTH = 10_000


def _unionid(number: int) -> str:
    return f"uchain{number:06d}"


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    raw_dir = tmp_path_factory.mktemp("chain") / "raw"
    generate(raw_dir=raw_dir, truth_dir=raw_dir.parent / "truth", people=60, seed=5)
    schema = pq.read_schema(next((raw_dir / "identity_links").glob("*.parquet")))
    seen = dt.datetime(2026, 10, 1)
    links = [
        {"link_id": f"chain{number:06d}", "source_system": "crm",
         "left_id_type": "wechat_unionid", "left_id_value": _unionid(number), "left_id_namespace": None,
         "right_id_type": "wechat_unionid", "right_id_value": _unionid(number + 1),
         "right_id_namespace": None, "observed_at": seen}
        for number in range(CHAIN_LENGTH)
    ]
    # Shuffled, so that the order of the input does not happen to help the resolution.
    links = links[1::2] + links[::2]
    pq.write_table(pa.Table.from_pylist(links, schema=schema), raw_dir / "identity_links" / "chain.parquet")
    return raw_dir


def _dbt(landing: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    dbt = Path(sys.executable).with_name("dbt")
    return subprocess.run(
        [str(dbt), *args, "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")],
        env={**os.environ, "ONEDATA_RAW_DIR": str(landing),
             "ONEDATA_DUCKDB_PATH": str(workdir / "onedata.duckdb")},
        capture_output=True, text=True, timeout=900,
    )


# `hash` numbers nodes by a hash of their id (the default); `exact` by their rank in id order, the
# fallback when two ids share a hash: along this chain, ids in order are the slow case for
# min-label propagation.
# Tests that also read models outside the selection (the activation ledger check reads the
# members mart) are left out: their other inputs are not built here.
ONLY_TESTS_OF_THE_SELECTION = ("--indirect-selection", "cautious")


@pytest.mark.parametrize("numbering", ["hash", "exact"])
def test_a_chain_of_10000_identifiers_is_one_person_in_log_passes(landing, tmp_path, numbering):
    completed = _dbt(landing, tmp_path, "build", "--select", "+dim_source_records", *ONLY_TESTS_OF_THE_SELECTION,
                     "--vars", f"{{onedata__identity_node_numbering: {numbering}}}")
    assert completed.returncode == 0, completed.stdout[-4000:]

    with duckdb.connect(str(tmp_path / "onedata.duckdb"), read_only=True) as connection:
        components, nodes, passes = connection.execute(
            """
            select count(distinct component_id), count(*), max(resolution_pass_count)
            from intermediate.int_identity_components
            where node_id like 'i|wechat_unionid|uchain%'
            """
        ).fetchone()
    assert nodes == CHAIN_LENGTH + 1
    assert components == 1
    # Plain min-label propagation needs about 2 x 10,000 passes here.
    assert passes <= 2 * math.ceil(math.log2(CHAIN_LENGTH))
    assert f"settled after {passes} passes" in completed.stdout
    print(f"{numbering} numbering: {passes} passes")


def test_a_pass_cap_too_low_fails_the_build_loudly(landing, tmp_path):
    completed = _dbt(landing, tmp_path, "build", "--select", "+dim_source_records", *ONLY_TESTS_OF_THE_SELECTION,
                     "--vars", "{onedata__identity_max_passes: 3}")
    assert completed.returncode != 0
    assert "did not settle within 3 passes" in completed.stdout
    with duckdb.connect(str(tmp_path / "onedata.duckdb"), read_only=True) as connection:
        built = connection.execute(
            "select count(*) from information_schema.tables where table_name = 'int_identity_components'"
        ).fetchone()[0]
    assert built == 0
