"""The whole loop on a small demo brand: generate, build, sync to a webhook on loopback,
load the destination's feedback, land orders placed after the send, rebuild, and check
that the campaign review counts exactly what happened to each group."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from activation.demo_data import generate
from tests.conftest import PROJECT_DIR, SECRET
from tests.webhook_server import WebhookReceiver

pytestmark = pytest.mark.e2e

AUDIENCE = "high_value_churn_risk"
CAMPAIGN = "e2e_winback"
DESTINATION = "e2e_webhook"


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    """Run the loop once; the tests below each check one part of its outcome."""
    workdir = tmp_path_factory.mktemp("e2e")
    raw_dir, database = workdir / "raw", workdir / "onedata.duckdb"
    receiver = WebhookReceiver(SECRET).start()
    destinations = workdir / "destinations.yml"
    destinations.write_text(yaml.safe_dump({"destinations": {DESTINATION: {
        "type": "webhook", "channel": "sms", "url": receiver.url, "batch_size": 50,
        "holdout_share": 0.2, "max_retries": 1, "backoff_base_seconds": 0.01,
    }}}))
    env = {
        **os.environ,
        "ONEDATA_RAW_DIR": str(raw_dir),
        "ONEDATA_DUCKDB_PATH": str(database),
        "ONEDATA_RAW_FORMAT": "parquet",
        "ONEDATA_DESTINATIONS": str(destinations),
        f"ACTIVATE__{DESTINATION.upper()}__SECRET": SECRET,
    }
    try:
        generate(raw_dir=raw_dir, truth_dir=workdir / "truth", people=3_000, seed=11)
        _dbt_build(env, workdir)

        sync = _activate(env, "sync", f"seg_{AUDIENCE}", "--to", DESTINATION,
                         "--campaign", CAMPAIGN, "--json")
        summary = json.loads(sync.stdout)
        assignments = _rows(database, """
            select one_id, assignment_group, assigned_at from activation.campaign_assignments
            where campaign_id = ? order by one_id""", [CAMPAIGN])
        sent_ids = sorted(receiver.ids("add"))

        feedback_file = workdir / "feedback.csv"
        expected = _write_feedback(feedback_file, sent_ids)
        feedback = _activate(env, "feedback", "load", str(feedback_file),
                             "--destination", DESTINATION)

        orders = _land_orders_after_the_send(database, raw_dir, assignments)
        # The send was now, so the orders after it lie ahead of the build's clock, which the
        # landing checks keep aside (in_the_future) unless told to look that far ahead.
        _dbt_build(env, workdir, "--vars", "{onedata__landing_future_tolerance_hours: 1200}")
        review = {
            row[0]: dict(zip(("member_count", "sent_count", "delivered_count", "clicked_count",
                              "reported_conversion_count", "converted_member_count",
                              "order_count", "gmv"), row[1:]))
            for row in _rows(database, """
                select assignment_group, member_count, sent_count, delivered_count,
                    clicked_count, reported_conversion_count, converted_member_count,
                    order_count, gmv
                from review.campaign_review where campaign_id = ?""", [CAMPAIGN])
        }
        tags = json.loads(_activate(env, "tags", "--json").stdout)
        plan = json.loads(_activate(env, "audiences", "plan", "--json").stdout)
        portrait = json.loads(_activate(env, "portrait", AUDIENCE, "--json").stdout)
        yield {
            "tags": tags, "database": database, "plan": plan, "portrait": portrait,
            "summary": summary, "assignments": assignments, "sent_ids": sent_ids,
            "receiver": receiver, "feedback": feedback.stdout, "expected": expected,
            "orders": orders, "review": review, "raw_dir": raw_dir,
        }
    finally:
        receiver.stop()


def _dbt_build(env: dict[str, str], workdir: Path, *args: str) -> None:
    dbt = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [str(dbt), "build", "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs"), *args],
        env=env, capture_output=True, text=True, timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-2000:]


def _activate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(
        [sys.executable, "-m", "activation", *args],
        env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_DIR,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def _rows(database: Path, sql: str, parameters=None) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def _write_feedback(path: Path, sent_ids: list[str]) -> dict[str, int]:
    """Every sent member delivered, every 3rd clicked, every 6th reporting a conversion;
    plus one malformed row, which must be kept aside rather than counted."""
    now = dt.datetime(2026, 11, 24, 9, 0)
    rows = []
    for number, one_id in enumerate(sent_ids):
        rows.append({"campaign_id": CAMPAIGN, "external_id": one_id, "event_type": "delivered",
                     "occurred_at": now.isoformat(), "order_id": "", "revenue_amount": ""})
        if number % 3 == 0:
            rows.append({"campaign_id": CAMPAIGN, "external_id": one_id, "event_type": "clicked",
                         "occurred_at": now.isoformat(), "order_id": "", "revenue_amount": ""})
        if number % 6 == 0:
            rows.append({"campaign_id": CAMPAIGN, "external_id": one_id, "event_type": "converted",
                         "occurred_at": now.isoformat(), "order_id": f"E2E{number}",
                         "revenue_amount": "99.00"})
    rows.append({"campaign_id": CAMPAIGN, "external_id": sent_ids[0], "event_type": "opened",
                 "occurred_at": "yesterday-ish", "order_id": "", "revenue_amount": ""})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {
        "delivered": len(sent_ids),
        "clicked": len(range(0, len(sent_ids), 3)),
        "converted": len(range(0, len(sent_ids), 6)),
    }


def _land_orders_after_the_send(database: Path, raw_dir: Path, assignments) -> dict:
    """Orders placed two days after the send by every 4th treated and every 2nd holdout
    member (paid), one more cancelled order each, and one placed after the window closes."""
    records = dict(_rows(database, """
        select one_id, min(source_system || '|' || source_record_id)
        from marts.dim_source_records group by one_id"""))
    template = pq.read_table(next((raw_dir / "orders").glob("*.parquet"))).schema
    line_schema = pq.read_table(next((raw_dir / "order_lines").glob("*.parquet"))).schema
    product_id = _rows(database, "select min(product_id) from marts.dim_products")[0][0]
    store_id = _rows(database, "select min(store_id) from marts.dim_stores")[0][0]

    expected = {"treated": {"members": 0, "orders": 0, "gmv": Decimal("0")},
                "holdout": {"members": 0, "orders": 0, "gmv": Decimal("0")}}
    orders, lines = [], []
    by_group = {"treated": [], "holdout": []}
    for one_id, group, assigned_at in assignments:
        by_group[group].append((one_id, assigned_at))

    def add(one_id, assigned_at, days, status, amount):
        system, record_id = records[one_id].split("|", 1)
        ordered_at = assigned_at + dt.timedelta(days=days)
        order_id = f"E2E-{len(orders):05d}"
        orders.append({
            "order_id": order_id, "channel": "tmall", "store_id": store_id,
            "customer_source_system": system, "customer_source_record_id": record_id,
            "order_status": status, "ordered_at": ordered_at,
            "paid_at": ordered_at if status != "cancelled" else None,
            "gross_amount": amount, "discount_amount": Decimal("0"), "paid_amount": amount,
            "refund_amount": Decimal("0"), "coupon_id": None, "currency": "CNY",
        })
        lines.append({"order_id": order_id, "line_number": 1, "product_id": product_id,
                      "quantity": 1, "unit_price": amount, "line_amount": amount})

    for group, step in (("treated", 4), ("holdout", 2)):
        buyers = by_group[group][::step]
        for number, (one_id, assigned_at) in enumerate(buyers):
            amount = Decimal(100 + number)
            add(one_id, assigned_at, 2, "paid", amount)
            expected[group]["members"] += 1
            expected[group]["orders"] += 1
            expected[group]["gmv"] += amount
        if buyers:
            add(buyers[0][0], buyers[0][1], 3, "cancelled", Decimal("50"))
            add(buyers[0][0], buyers[0][1], 40, "paid", Decimal("70"))
    (raw_dir / "orders" / "e2e-after-send.parquet").parent.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pylist(orders, schema=template),
                   raw_dir / "orders" / "e2e-after-send.parquet")
    pq.write_table(pa.Table.from_pylist(lines, schema=line_schema),
                   raw_dir / "order_lines" / "e2e-after-send.parquet")
    return expected


def test_sync_sends_each_treated_member_once_and_holds_out_the_rest(loop):
    groups = {}
    for one_id, group, _ in loop["assignments"]:
        groups.setdefault(group, set()).add(one_id)
    assert loop["summary"]["added"] == len(groups["treated"]) > 50
    assert set(loop["sent_ids"]) == groups["treated"]
    assert all(count == 1 for count in loop["receiver"].ids("add").values())
    assert not groups["holdout"] & set(loop["sent_ids"])
    share = len(groups["holdout"]) / (len(groups["holdout"]) + len(groups["treated"]))
    assert 0.12 < share < 0.28


def test_feedback_keeps_the_malformed_row_aside(loop):
    expected_rows = sum(loop["expected"].values())
    assert f"loaded {expected_rows:,}  already landed 0  rejected 1" in loop["feedback"]
    rejects = list((loop["raw_dir"].parent / "rejects" / "feedback_events").glob("*.csv"))
    assert len(rejects) == 1 and "occurred_at" in rejects[0].read_text()


def test_review_counts_sends_and_feedback_per_group(loop):
    review, expected = loop["review"], loop["expected"]
    treated, holdout = review["treated"], review["holdout"]
    assert treated["member_count"] == len(loop["sent_ids"])
    assert treated["sent_count"] == len(loop["sent_ids"])
    assert treated["delivered_count"] == expected["delivered"]
    assert treated["clicked_count"] == expected["clicked"]
    assert treated["reported_conversion_count"] == expected["converted"]
    assert holdout["member_count"] == len(loop["assignments"]) - len(loop["sent_ids"])
    assert (holdout["sent_count"], holdout["delivered_count"], holdout["clicked_count"]) == (0, 0, 0)


def test_review_counts_orders_and_gmv_inside_the_window_per_group(loop):
    for group in ("treated", "holdout"):
        row, expected = loop["review"][group], loop["orders"][group]
        assert row["converted_member_count"] == expected["members"] > 0
        assert row["order_count"] == expected["orders"]
        assert Decimal(str(row["gmv"])) == expected["gmv"]


def test_the_tag_catalogue_documents_every_profile_tag(loop):
    catalogue = loop["tags"]
    names = [tag["name"] for tag in catalogue]
    profile_columns = {row[0] for row in _rows(loop["database"], """
        select column_name from information_schema.columns
        where table_schema = 'tags' and table_name = 'member_profiles'""")}

    assert len(names) == len(set(names)) >= 100
    assert set(names) <= profile_columns
    assert profile_columns - set(names) == {"one_id", "first_order_date", "last_order_date", "as_of_date"}
    assert all(tag["description"].strip() and tag["owner"] and tag["refresh_cadence"] for tag in catalogue)
    assert {"rfm", "aipl", "lifecycle", "warning", "preference", "membership", "clv"} <= {
        tag["family"] for tag in catalogue}
    # Coverage is what member_tags holds: the people with a value for the tag.
    by_name = {tag["name"]: tag for tag in catalogue}
    buyers = _rows(loop["database"], "select count(rfm_group) from tags.member_profiles")[0][0]
    assert by_name["rfm_group"]["member_count"] == buyers > 0
    assert by_name["rfm_group"]["allowed_values"].split(", ")[0] == "important_value"


def test_plan_agrees_with_the_models_generated_from_the_same_yaml(loop):
    # Built from audiences/*.yml a moment ago: the rules select exactly who the tables hold.
    plans = {plan["name"]: plan for plan in loop["plan"]}
    built = {row[0].removeprefix("seg_") for row in _rows(loop["database"], """
        select table_name from information_schema.tables where table_schema = 'segments'""")}
    assert set(plans) == built and AUDIENCE in plans
    for plan in plans.values():
        assert (plan["status"], plan["added"], plan["removed"]) == ("unchanged", 0, 0), plan
        assert plan["planned_size"] == plan["built_size"]


def test_portrait_compares_the_crowd_with_all_members(loop):
    portrait = loop["portrait"]
    size = _rows(loop["database"], f"select count(*) from segments.seg_{AUDIENCE}")[0][0]
    population = _rows(loop["database"], "select count(*) from tags.member_profiles")[0][0]
    assert (portrait["size"], portrait["population"]) == (size, population)
    assert set(portrait["dimensions"]) == {"who", "what", "when", "where", "why", "how", "how much"}
    for tags in portrait["dimensions"].values():
        for values in tags.values():
            assert sum(value["audience_count"] for value in values) == size
            assert abs(sum(value["population_share"] for value in values) - 1) < 1e-9
    lifecycle = {value["value"]: value for value in portrait["dimensions"]["why"]["lifecycle_stage"]}
    in_audience = _rows(loop["database"], f"""
        select count(*) from segments.seg_{AUDIENCE} where lifecycle_stage = 'growth'""")[0][0]
    growth = lifecycle["growth"]
    assert growth["audience_count"] == in_audience
    assert abs(growth["index"] - 100 * growth["audience_share"] / growth["population_share"]) < 1e-9
