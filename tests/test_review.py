"""The campaign uplift review, checked without building the project.

dbt's unit tests (beside the model, in models/review/_review__models.yml) prove that the SQL of `campaign_uplift`
returns the figures written in the fixtures. These tests prove the figures themselves: each
fixture's expected rows are recomputed here, independently, from its given members with Python's
statistics module (Welch's standard error on var_samp, a 95% normal interval, the budget split by
treated members, ROI = incremental GMV / cost). Together: the SQL computes the documented formula.
They also check that every column the model selects is documented in its YAML, and the reverse.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest
import yaml

from tests.conftest import PROJECT_DIR

REVIEW_DIR = PROJECT_DIR / "models" / "review"
Z = 1.96


def _unit_tests() -> list[dict]:
    document = yaml.safe_load((REVIEW_DIR / "_review__models.yml").read_text())
    return [test for test in document.get("unit_tests", []) if test["model"] == "campaign_uplift"]


def _rounded(value: float | None, places: int) -> Decimal | None:
    """Half away from zero, as DuckDB's and Spark's round() do (Python's round() is half-even)."""
    if value is None:
        return None
    return Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _interval(difference, variance_t, n_t, variance_h, n_h):
    if n_t < 2 or n_h < 2:
        return None, None
    half_width = Z * math.sqrt(variance_t / n_t + variance_h / n_h)
    return difference - half_width, difference + half_width


def expected_uplift(members: list[dict], campaigns: list[dict]) -> dict[str, dict]:
    """campaign_variant_key -> the figures campaign_uplift must hold, from the formula alone."""
    treated, holdout = defaultdict(list), defaultdict(list)
    for member in members:
        if member["assignment_group"] == "treated":
            treated[(member["campaign_id"], member["variant"])].append(member)
        else:
            holdout[member["campaign_id"]].append(member)
    budgets = {campaign["campaign_id"]: float(campaign.get("cost_amount") or 0) for campaign in campaigns}
    campaign_treated = defaultdict(int)
    for (campaign_id, _), group in treated.items():
        campaign_treated[campaign_id] += len(group)

    rows = {}
    for (campaign_id, variant), group in treated.items():
        held = holdout.get(campaign_id, [])
        n_t, n_h = len(group), len(held)
        gmv_t = [float(member["gmv"]) for member in group]
        gmv_h = [float(member["gmv"]) for member in held]
        converted_t = [1.0 if member.get("is_converted") else 0.0 for member in group]
        converted_h = [1.0 if member.get("is_converted") else 0.0 for member in held]
        arpu_t = statistics.fmean(gmv_t)
        arpu_h = statistics.fmean(gmv_h) if held else None
        rate_t = statistics.fmean(converted_t)
        rate_h = statistics.fmean(converted_h) if held else None

        incremental = lower = upper = None
        rate_uplift = rate_lower = rate_upper = None
        if held:
            difference = arpu_t - arpu_h
            incremental = difference * n_t
            low, high = _interval(difference, _variance(gmv_t), n_t, _variance(gmv_h), n_h)
            if low is not None:
                lower, upper = low * n_t, high * n_t
            rate_uplift = rate_t - rate_h
            low, high = _interval(rate_uplift, _variance(converted_t), n_t, _variance(converted_h), n_h)
            if low is not None:
                rate_lower, rate_upper = max(low, -1.0), min(high, 1.0)

        budget = budgets.get(campaign_id, 0.0) * n_t / campaign_treated[campaign_id]
        cost = sum(float(member.get("send_cost") or 0) for member in group) + budget

        def roi(value):
            return None if value is None or cost == 0 else value / cost

        def significant(low, high):
            return low is not None and (low > 0 or high < 0)

        rows[f"{campaign_id}|{variant}"] = {
            "treated_member_count": n_t,
            "holdout_member_count": n_h,
            "holdout_global_member_count": sum(
                member.get("holdout_scope") == "global" for member in held),
            "treated_conversion_rate": rate_t,
            "holdout_conversion_rate": rate_h,
            "conversion_rate_uplift": _rounded(rate_uplift, 6),
            "conversion_rate_uplift_lower": _rounded(rate_lower, 6),
            "conversion_rate_uplift_upper": _rounded(rate_upper, 6),
            "treated_arpu": _rounded(arpu_t, 2),
            "holdout_arpu": _rounded(arpu_h, 2),
            "arpu_uplift": _rounded(None if arpu_h is None else arpu_t - arpu_h, 2),
            "incremental_gmv": _rounded(incremental, 2),
            "incremental_gmv_lower": _rounded(lower, 2),
            "incremental_gmv_upper": _rounded(upper, 2),
            "budget_cost_amount": _rounded(budget, 2),
            "cost_amount": _rounded(cost, 2),
            "roi": _rounded(roi(incremental), 4),
            "roi_lower": _rounded(roi(lower), 4),
            "roi_upper": _rounded(roi(upper), 4),
            "is_gmv_uplift_significant": significant(lower, upper),
            "is_conversion_uplift_significant": significant(rate_lower, rate_upper),
        }
    return rows


def _variance(values: list[float]) -> float:
    return statistics.variance(values) if len(values) >= 2 else math.nan


def _same(expected, computed) -> bool:
    if expected is None or computed is None:
        return expected is None and computed is None
    if isinstance(computed, bool) or isinstance(expected, bool):
        return expected == computed
    return math.isclose(float(expected), float(computed), rel_tol=0, abs_tol=1e-12)


@pytest.mark.parametrize("unit_test", _unit_tests(), ids=lambda test: test["name"])
def test_fixture_expectations_follow_the_documented_formula(unit_test):
    given = {entry["input"]: entry["rows"] for entry in unit_test["given"]}
    computed = expected_uplift(given["ref('int_campaign_member_outcomes')"], given["ref('dim_campaigns')"])
    expected_rows = unit_test["expect"]["rows"]
    assert {row["campaign_variant_key"] for row in expected_rows} == set(computed)
    checked = 0
    for row in expected_rows:
        figures = computed[row["campaign_variant_key"]]
        for column, value in row.items():
            if column in figures:
                key = row["campaign_variant_key"]
                assert _same(value, figures[column]), (key, column, value, figures[column])
                checked += 1
    assert checked >= 10 * len(expected_rows)


def test_the_fixtures_cover_the_edge_cases():
    """Empty holdout, zero cost, a group of one, a significant uplift, one variant and two."""
    rows = [row for test in _unit_tests() for row in test["expect"]["rows"]]
    assert any(row.get("holdout_member_count") == 0 for row in rows)
    assert any(row.get("cost_amount") == 0 and row.get("incremental_gmv") is not None for row in rows)
    assert any(row.get("treated_member_count") == 1 and "incremental_gmv_lower" in row for row in rows)
    assert any(row.get("is_gmv_uplift_significant") is True for row in rows)
    variants = defaultdict(set)
    for row in rows:
        campaign_id, _, variant = row["campaign_variant_key"].partition("|")
        variants[campaign_id].add(variant)
    assert {len(names) for names in variants.values()} >= {1, 2}


def test_the_formula_is_welch_on_a_known_case():
    """A hand-checked case, so that the oracle above cannot drift along with the fixtures:
    GMV 0, 100, 200, 300 against 0, 0, 100, 100: se = sqrt(50000/12 + 10000/12) = sqrt(5000)."""
    members = [
        {"campaign_id": "c", "assignment_group": "treated", "variant": "a", "gmv": gmv}
        for gmv in (0, 100, 200, 300)
    ] + [{"campaign_id": "c", "assignment_group": "holdout", "gmv": gmv} for gmv in (0, 0, 100, 100)]
    row = expected_uplift(members, [{"campaign_id": "c", "cost_amount": 100}])["c|a"]
    half_width = 1.96 * math.sqrt(5000) * 4
    assert row["incremental_gmv"] == Decimal("400.00")
    assert row["incremental_gmv_lower"] == _rounded(400 - half_width, 2) == Decimal("-154.37")
    assert row["roi"] == Decimal("4.0000")


@pytest.mark.parametrize("model", ["campaign_review", "campaign_uplift"])
def test_every_selected_column_is_documented(model):
    sql = (REVIEW_DIR / f"{model}.sql").read_text()
    final = sql[sql.rindex("final as ("):]
    selected = re.findall(r"\bas (\w+),?\s*$", final, flags=re.MULTILINE)
    document = yaml.safe_load((REVIEW_DIR / "_review__models.yml").read_text())
    (entry,) = [item for item in document["models"] if item["name"] == model]
    documented = [column["name"] for column in entry["columns"]]
    select_list = final[: final.index("\n    from ")]
    plain = set(re.findall(r"^\s+(?:\w+\.)?(\w+),?$", select_list, flags=re.MULTILINE)) - {"select"}
    assert len(selected) + len(plain) >= 15
    assert set(documented) == set(selected) | plain
    assert all(column.get("description") for column in entry["columns"])
