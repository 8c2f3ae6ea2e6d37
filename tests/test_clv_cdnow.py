"""The CLV models against the published CDNOW results. Bruce Hardie's CDNOW sample (2,357
customers, tests/fixtures/cdnow/) is landed through the landing contract (a crm_members record per
customer, an order and an order line per purchase, every other table an empty file), the project
is built as of the end of the 39-week calibration period, and the fits are compared with Fader,
Hardie and Lee (2005): BG/NBD r, alpha, a, b per week, and Gamma-Gamma p, q, v."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from activation.demo.sink import LANDING_SCHEMAS
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

CDNOW_SAMPLE = PROJECT_DIR / "tests" / "fixtures" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = "1997-09-30"

# Fader, Hardie and Lee (2005), "Counting your customers the easy way", table 1 / lifetimes docs.
PUBLISHED_BG_NBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_BG_NBD_LOG_LIKELIHOOD = -9582.4
# The Gamma-Gamma fit on the 946 CDNOW repeat buyers, as the lifetimes documentation shows it.
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.45}


def _close(fitted: float, published: float) -> bool:
    """Within 1% relative or 0.01 absolute (the published values have 2 to 3 decimals)."""
    return abs(fitted - published) <= max(0.01 * abs(published), 0.01)


def read_cdnow(path: Path = CDNOW_SAMPLE) -> list[tuple[int, dt.date, int, float]]:
    """(customer index, purchase date, CDs, dollar value) per line."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            _, index, day, quantity, amount = line.split()
            rows.append((int(index), dt.datetime.strptime(day, "%Y%m%d").date(),
                         int(quantity), float(amount)))
    return rows


def local_midnight_in_utc(day: dt.date) -> dt.datetime:
    """The start of a day on the brand's clock (Asia/Shanghai, the default onedata__time_zone),
    as the landing contract wants it: a UTC timestamp (the day before, 16:00)."""
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo("Asia/Shanghai"))
    return midnight.astimezone(dt.timezone.utc).replace(tzinfo=None)


def land_cdnow(raw_dir: Path) -> dict[str, int]:
    """Write the CDNOW sample as landing files: every table of the contract, most empty. Each
    purchase day lands as the brand's local midnight, in UTC: the UTC date is the day before, so
    the fits below hold only if every rule counts the brand's days."""
    purchases = read_cdnow()
    customers = sorted({index for index, *_ in purchases})
    tables = {
        "crm_members": {
            "member_id": [f"cdnow{index:05d}" for index in customers],
            "member_card_no": [f"CDNOW{index:05d}" for index in customers],
            "member_level": ["normal"] * len(customers),
            "is_paid_member": [False] * len(customers),
            "registration_channel": ["app"] * len(customers),
            "registered_at": [local_midnight_in_utc(dt.date(1997, 1, 1))] * len(customers),
            "updated_at": [local_midnight_in_utc(dt.date(1997, 1, 1))] * len(customers),
        },
        "orders": {
            "order_id": [f"cdnow-{number:05d}" for number in range(len(purchases))],
            "channel": ["app"] * len(purchases),
            "customer_source_system": ["crm"] * len(purchases),
            "customer_source_record_id": [f"cdnow{index:05d}" for index, *_ in purchases],
            "order_status": ["completed"] * len(purchases),
            "ordered_at": [local_midnight_in_utc(day) for _, day, *_ in purchases],
            "paid_at": [local_midnight_in_utc(day) for _, day, *_ in purchases],
            "gross_amount": [_money(amount) for *_, amount in purchases],
            "discount_amount": [_money(0)] * len(purchases),
            "paid_amount": [_money(amount) for *_, amount in purchases],
            "refund_amount": [_money(0)] * len(purchases),
            "currency": ["USD"] * len(purchases),
        },
        "order_lines": {
            "order_id": [f"cdnow-{number:05d}" for number in range(len(purchases))],
            "line_number": [1] * len(purchases),
            "product_id": ["cd"] * len(purchases),
            "quantity": [quantity for _, _, quantity, _ in purchases],
            "line_amount": [_money(amount) for *_, amount in purchases],
        },
        "products": {"product_id": ["cd"], "product_name": ["CD"], "category_id": ["music"],
                     "is_active": [True]},
        "categories": {"category_id": ["music"], "category_name": ["Music"], "category_level": [1]},
    }
    for table, schema in LANDING_SCHEMAS.items():
        columns = tables.get(table, {})
        rows = len(next(iter(columns.values()))) if columns else 0
        arrays = [pa.array(columns[field.name], field.type) if field.name in columns
                  else pa.nulls(rows, field.type) for field in schema]
        (raw_dir / table).mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_arrays(arrays, schema=schema), raw_dir / table / "part-0001.parquet")
    return {"customers": len(customers), "orders": len(purchases)}


def _money(amount: float) -> Decimal:
    return Decimal(f"{amount:.2f}")


@pytest.fixture(scope="module")
def cdnow_build(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cdnow")
    raw_dir, database = workdir / "raw", workdir / "onedata.duckdb"
    landed = land_cdnow(raw_dir)
    env = {**os.environ, "ONEDATA_TARGET": "duckdb", "ONEDATA_RAW_DIR": str(raw_dir),
           "ONEDATA_RAW_FORMAT": "parquet", "ONEDATA_DUCKDB_PATH": str(database)}
    dbt = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [str(dbt), "build", "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"),
         # The 39 weeks after calibration, as the published holdout period.
         "--vars", f"{{onedata__as_of_date: '{CALIBRATION_END}', onedata__clv_period_days: 7, "
                   "onedata__clv_purchase_horizon_days: 273}"],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-2000:]
    with duckdb.connect(str(database), read_only=True) as connection:
        fits = {row[0]: dict(zip(("r", "alpha", "a", "b", "p", "q", "v", "log_likelihood",
                                  "customer_count", "is_converged", "period_days", "as_of_date"),
                                 row[1:]))
                for row in connection.execute("""
                    select model_name, r, alpha, a, b, p, q, v, log_likelihood, customer_count,
                        is_converged, period_days, as_of_date
                    from tags.tag_clv_model_fits""").fetchall()}
        predictions = connection.execute("""
            select count(*), min(p_alive), max(p_alive), sum(expected_purchases),
                count(clv), min(clv), min(purchase_horizon_days), max(purchase_horizon_days)
            from tags.tag_clv_predictions""").fetchone()
        profiles = connection.execute("""
            select count(*) from tags.member_profiles where p_alive is not null""").fetchone()[0]
        tags = dict(connection.execute("""
            select tag_name, count(*) from tags.member_tags
            where tag_name in (select tag_name from tags.tag_catalogue where tag_family = 'clv')
            group by tag_name""").fetchall())
    return {"landed": landed, "fits": fits, "predictions": predictions, "profiles": profiles,
            "tags": tags}


def test_the_sample_lands_as_2357_customers(cdnow_build):
    assert cdnow_build["landed"]["customers"] == 2357
    assert cdnow_build["fits"]["bg_nbd"]["customer_count"] == 2357
    assert cdnow_build["fits"]["bg_nbd"]["as_of_date"] == dt.date(1997, 9, 30)
    assert cdnow_build["fits"]["bg_nbd"]["period_days"] == 7


def test_bg_nbd_matches_fader_hardie_lee_2005(cdnow_build):
    fit = cdnow_build["fits"]["bg_nbd"]
    assert fit["is_converged"]
    for name, published in PUBLISHED_BG_NBD.items():
        assert _close(fit[name], published), (name, fit[name], published)
    assert fit["log_likelihood"] == pytest.approx(PUBLISHED_BG_NBD_LOG_LIKELIHOOD, abs=0.1)


def test_gamma_gamma_matches_the_published_cdnow_fit(cdnow_build):
    fit = cdnow_build["fits"]["gamma_gamma"]
    assert fit["is_converged"]
    assert fit["customer_count"] == 946
    for name, published in PUBLISHED_GAMMA_GAMMA.items():
        assert _close(fit[name], published), (name, fit[name], published)


def test_every_buyer_gets_predictions_and_tags(cdnow_build):
    count, min_p_alive, max_p_alive, purchases, clv_count, min_clv, *horizons = cdnow_build["predictions"]
    assert horizons == [273, 273]
    assert count == clv_count == cdnow_build["profiles"] == 2357
    assert 0 <= min_p_alive <= max_p_alive <= 1
    assert purchases > 0 and min_clv >= 0
    assert cdnow_build["tags"] == {"p_alive": 2357, "expected_purchases": 2357,
                                   "expected_average_spend": 2357, "clv": 2357}


def _load_model(name: str):
    spec = importlib.util.spec_from_file_location(name, PROJECT_DIR / "models" / "tags" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prediction_formulas_match_hardies_worked_example():
    """With the CDNOW fit, a customer with x = 2, t_x = 30.43, T = 38.86 weeks expects 1.226
    purchases in the next 39 weeks (Hardie's BG/NBD spreadsheet, as lifetimes' own test
    test_conditional_expectation_returns_same_value_as_Hardie_excel_sheet checks it); P(alive) is
    1 without a repeat purchase and falls as the silence since the last purchase grows."""
    predictions = _load_model("tag_clv_predictions")
    params = (0.242593, 4.413532, 0.792886, 2.425754)
    expected = predictions.expected_purchases(*params, np.array([2.0]), np.array([30.43]),
                                              np.array([38.86]), 39)
    assert expected[0] == pytest.approx(1.226, abs=0.001)
    alive = predictions.p_alive(*params, np.array([0.0, 2, 2]), np.array([0.0, 38, 10]),
                                np.array([38.86, 38.86, 38.86]))
    assert alive[0] == 1 and alive[0] > alive[1] > alive[2] > 0
    spend = predictions.expected_average_spend(6.25, 3.74, 15.45, np.array([0.0, 10.0]),
                                               np.array([np.nan, 50.0]))
    assert spend[0] == pytest.approx(15.45 * 6.25 / 2.74)
    assert spend[0] < spend[1] < 50


def test_the_horizons_are_vars_and_the_columns_keep_their_names():
    predictions = _load_model("tag_clv_predictions")
    summary = pd.DataFrame({"one_id": ["m1"], "repeat_purchase_count": [2], "recency_periods": [30.43],
                            "tenure_periods": [38.86], "repeat_purchase_average_spend": [40.0],
                            "period_days": [7], "as_of_date": [dt.date(1997, 9, 30)]})
    fits = pd.DataFrame({"model_name": ["bg_nbd", "gamma_gamma"],
                         "r": [0.243, None], "alpha": [4.414, None], "a": [0.793, None], "b": [2.426, None],
                         "p": [None, 6.25], "q": [None, 3.74], "v": [None, 15.45]})
    month = predictions.predictions(summary, fits, 30, 1, 0.01)
    year = predictions.predictions(summary, fits, 365, 12, 0.01)
    assert list(month.columns) == list(year.columns)
    assert 0 < month["expected_purchases"][0] < year["expected_purchases"][0]
    assert 0 < month["clv"][0] < year["clv"][0]
    assert (month["purchase_horizon_days"][0], year["value_horizon_months"][0]) == (30, 12)
