"""The demo's simulated campaign outcomes: landed like real data, counted exactly by the review,
and an honest test of campaign_uplift's interval.

The brand (tests/simulated_brand.py) has 20 coverage campaigns, each synced as an A/B test to the
same audience with 40% held out and simulated with its own seed in its own two-week window; the
true effect is +3 points of conversion and +20 yuan per member for variant a, none for b. A 95%
interval should hold the truth about 19 times in 20; the issue asks for at least 17.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from activation.demo.outcomes import Effect, parse_effects, simulate_campaign
from activation.errors import ActivationError
from tests import simulated_brand as brand

pytestmark = pytest.mark.e2e

PLANTED = {"a": Effect(0.03, 20.0), "b": Effect(0.0, 0.0)}
MIN_COVERED = 17


def _rows(database: Path, sql: str, parameters=None) -> list[dict]:
    with duckdb.connect(str(database), read_only=True) as connection:
        cursor = connection.execute(sql, parameters or [])
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def coverage(simulated_brand):
    rows = _rows(simulated_brand.settings.duckdb_path, """
        select campaign_id, variant, treated_member_count, holdout_member_count,
            incremental_gmv_lower / treated_member_count as arpu_lower,
            incremental_gmv_upper / treated_member_count as arpu_upper,
            conversion_rate_uplift_lower, conversion_rate_uplift_upper
        from review.campaign_uplift where campaign_id like 'coverage\\_%' escape '\\'""")
    counts = {(variant, measure): 0 for variant in PLANTED for measure in ("arpu", "conversion")}
    for row in rows:
        truth = PLANTED[row["variant"]]
        counts[(row["variant"], "arpu")] += row["arpu_lower"] <= truth.arpu <= row["arpu_upper"]
        counts[(row["variant"], "conversion")] += (
            row["conversion_rate_uplift_lower"] <= truth.conversion_points <= row["conversion_rate_uplift_upper"])
    return rows, counts


def test_twenty_independent_campaigns_were_reviewed(coverage):
    rows, _ = coverage
    assert {row["campaign_id"] for row in rows} == set(brand.COVERAGE_CAMPAIGNS)
    assert sorted(row["variant"] for row in rows) == ["a"] * 20 + ["b"] * 20
    # Enough members on each side for a normal interval to mean something.
    assert min(row["treated_member_count"] for row in rows) >= 150
    assert min(row["holdout_member_count"] for row in rows) >= 200


@pytest.mark.parametrize("measure", ["arpu", "conversion"])
def test_the_planted_effect_of_variant_a_lies_inside_the_95_interval_in_17_of_20(coverage, measure):
    _, counts = coverage
    print(f"variant a, {measure}: the planted effect inside the interval in {counts[('a', measure)]} of 20")
    assert counts[("a", measure)] >= MIN_COVERED


@pytest.mark.parametrize("measure", ["arpu", "conversion"])
def test_variant_b_without_effect_covers_zero_as_often(coverage, measure):
    _, counts = coverage
    print(f"variant b, {measure}: zero inside the interval in {counts[('b', measure)]} of 20")
    assert counts[("b", measure)] >= MIN_COVERED


def test_the_interval_finds_the_effect_more_often_for_a_than_for_b(coverage):
    """Coverage alone is met by an interval that is always huge: a's intervals must exclude 0
    more often than b's (the effect is real, of about two standard errors)."""
    rows, _ = coverage
    significant = {"a": 0, "b": 0}
    for row in rows:
        significant[row["variant"]] += row["arpu_lower"] > 0
    assert significant["a"] >= 5 > significant["b"] + 2


def test_the_review_counts_exactly_what_the_simulation_landed(simulated_brand):
    """Every member, send, delivery, click, converter, order and yuan the simulation landed
    comes out of the landing checks, the feedback loader and the review unchanged."""
    summary = simulated_brand.summaries[brand.REPORT_CAMPAIGN]
    uplift = {row["variant"]: row for row in _rows(simulated_brand.settings.duckdb_path, """
        select * from review.campaign_uplift where campaign_id = ?""", [brand.REPORT_CAMPAIGN])}
    holdout = _rows(simulated_brand.settings.duckdb_path, """
        select * from review.campaign_review where campaign_id = ? and assignment_group = 'holdout'""",
                    [brand.REPORT_CAMPAIGN])[0]
    groups = {group.group: group for group in summary.groups}
    assert set(groups) == {"a", "b", "holdout"}
    for variant in ("a", "b"):
        row, landed = uplift[variant], groups[variant]
        assert row["treated_member_count"] == landed.members == landed.sent > 100
        assert row["treated_delivered_count"] == landed.delivered
        assert row["treated_clicked_count"] == landed.clicked > 0
        assert row["treated_converted_member_count"] == landed.converted > 0
        assert float(row["treated_gmv"]) == pytest.approx(landed.gmv, abs=0.005)
    landed = groups["holdout"]
    assert holdout["member_count"] == landed.members
    assert holdout["sent_count"] == holdout["delivered_count"] == holdout["clicked_count"] == 0
    assert holdout["converted_member_count"] == landed.converted > 0
    assert holdout["order_count"] == landed.orders
    assert float(holdout["gmv"]) == pytest.approx(landed.gmv, abs=0.005)


def test_simulated_rows_pass_the_landing_checks_and_declare_the_campaign(simulated_brand):
    database = simulated_brand.settings.duckdb_path
    assert _rows(database, """
        select count(*) as n from quality.landing_quarantine where landing_file_name like '%simulated%'""")[0]["n"] == 0
    landed = _rows(database, """
        select count(*) as n from staging.base_commerce__orders
        where landing_file_name like '%simulated-winback_ab%' and rejection_reason is null""")[0]["n"]
    summary = simulated_brand.summaries[brand.REPORT_CAMPAIGN]
    assert landed == sum(group.orders for group in summary.groups) > 0
    campaign = _rows(database, "select * from marts.dim_campaigns where campaign_id = ?", [brand.REPORT_CAMPAIGN])[0]
    assert campaign["is_declared"] and campaign["attribution_window_days"] == 14
    assert float(campaign["cost_amount"]) == 1000.0 and campaign["channel"] == "sms"


def test_the_campaign_is_moved_back_to_its_send_day_and_its_orders_fall_in_its_window(simulated_brand):
    database = simulated_brand.settings.duckdb_path
    for number, campaign in enumerate((brand.REPORT_CAMPAIGN, *brand.COVERAGE_CAMPAIGNS[:3])):
        summary = simulated_brand.summaries[campaign]
        assert summary.sent_on == brand.END_DATE + dt.timedelta(days=1 + brand.WINDOW_STRIDE_DAYS * number)
        assert summary.shifted_days > 0
        window = _rows(database, """
            select cast(min(assigned_at) as date) as first_day, cast(max(assigned_at) as date) as last_day
            from activation.campaign_assignments where campaign_id = ?""", [campaign])[0]
        assert window["last_day"] == summary.sent_on
    outside = _rows(database, """
        select count(*) as n
        from staging.base_commerce__orders as orders
        inner join marts.dim_source_records as records
            on orders.customer_source_system = records.source_system
            and orders.customer_source_record_id = records.source_record_id
        inner join activation.campaign_assignments as assignments
            on records.one_id = assignments.one_id and assignments.campaign_id = ?
        where orders.landing_file_name like '%simulated-' || ? || '.%'
            and not (orders.ordered_at >= assignments.assigned_at
                     and orders.ordered_at < assignments.assigned_at + interval 14 day)""",
                    [brand.REPORT_CAMPAIGN, brand.REPORT_CAMPAIGN])[0]["n"]
    assert outside == 0


def test_simulating_again_replaces_the_previous_simulation(simulated_brand, tmp_path):
    """A second run with another seed leaves one set of files, not two (the manifest lists them)."""
    settings = simulated_brand.settings
    campaign = brand.COVERAGE_CAMPAIGNS[-1]
    before = simulated_brand.summaries[campaign]
    manifest = settings.raw_dir.resolve().parent / "simulations" / f"{campaign}.json"
    first_files = json.loads(manifest.read_text())["files"]
    try:
        again = simulate_campaign(settings, campaign, seed=99, sent_on=before.sent_on)
        files = json.loads(manifest.read_text())["files"]
        assert again.shifted_days == 0 and again.declared_by_simulation
        assert all(Path(name).exists() for name in files)
        assert not [name for name in first_files if name not in files and Path(name).exists()]
        assert len(list((settings.raw_dir / "orders").glob(f"simulated-{campaign}.*"))) == 1
        feedback = [name for name in files if "/feedback_events/" in name]
        assert len(feedback) == 1
    finally:  # the brand is shared: put the first simulation back
        simulate_campaign(settings, campaign, seed=before.seed, sent_on=before.sent_on)


def test_effects_parse_and_refuse_nonsense():
    assert parse_effects(["a=0.03:20", "b=0:-5"]) == {"a": Effect(0.03, 20.0), "b": Effect(0.0, -5.0)}
    assert parse_effects(None) == PLANTED
    with pytest.raises(ActivationError, match="VARIANT=CONVERSION_POINTS:ARPU_YUAN"):
        parse_effects(["a=3%"])


def test_a_campaign_never_synced_or_a_window_still_open_is_refused(simulated_brand):
    settings = simulated_brand.settings
    with pytest.raises(ActivationError, match="has no assignments: sync it first"):
        simulate_campaign(settings, "never_synced")
    with pytest.raises(ActivationError, match="has not closed"):
        simulate_campaign(settings, brand.REPORT_CAMPAIGN, sent_on=dt.date.today())
    with pytest.raises(ActivationError, match="No treated member has variant c"):
        simulate_campaign(settings, brand.REPORT_CAMPAIGN, effects={"c": Effect(0.01, 1)},
                          sent_on=simulated_brand.summaries[brand.REPORT_CAMPAIGN].sent_on)
