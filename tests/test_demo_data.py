"""Tests of the demo data generator (activation/demo_data.py) against docs/landing-contract.md.

Small sizes only; the generated data set is shared by the tests of one module run.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import activation.demo_data as demo_data
from activation.demo.marketing import SUPPRESSIONS_PER_10K, suppression_totals
from activation.demo_data import generate

REPO = Path(__file__).resolve().parents[1]
CONTRACT = REPO / "docs" / "landing-contract.md"
END_DATE = date(2026, 10, 31)
PEOPLE = 2000
CUSTOMER_TABLES = ("crm_members", "pos_customers", "marketplace_buyers", "miniprogram_users", "app_users")


# --- the contract, parsed -------------------------------------------------------------------------

CONTRACT_TYPES = {
    "varchar": (pa.string(),),
    "timestamp": (pa.timestamp("us"),),
    "date": (pa.date32(),),
    "integer": (pa.int32(), pa.int64()),
    "boolean": (pa.bool_(),),
    "decimal(18,2)": (pa.decimal128(18, 2),),
}


def contract_tables() -> dict[str, list[tuple[str, str]]]:
    """{table: [(column, contract type), ...]} from every '### `table`' section's column table."""
    tables: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            heading = re.match(r"^###\s+`(\w+)`", line)
            current = heading.group(1) if heading else None
            if current:
                tables[current] = []
            continue
        row = re.match(r"^\|\s*`(\w+)`\s*\|\s*([^|]+?)\s*\|", line)
        if current and row:
            tables[current].append((row.group(1), row.group(2)))
    return tables


def identity_threshold() -> int:
    """The largest per-type limit in onedata__identity_max_records_per_system (dbt_project.yml):
    an identifier on more records of one source system than this is shared."""
    settings = yaml.safe_load((REPO / "dbt_project.yml").read_text(encoding="utf-8"))
    return max(settings["vars"]["onedata__identity_max_records_per_system"].values())


def test_contract_parses() -> None:
    tables = contract_tables()
    assert set(tables) == set(demo_data.LANDING_TABLES) and len(tables) == 20
    assert ("member_card_no", "varchar") in tables["crm_members"]
    assert all(kind in CONTRACT_TYPES for columns in tables.values() for _, kind in columns)


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("demo")
    seen: list[int] = []
    counts = generate(base / "raw", base / "truth", people=PEOPLE, seed=7, end_date=END_DATE,
                      progress=seen.append)
    return {"raw": base / "raw", "truth": base / "truth", "counts": counts, "progress": seen}


def read(raw: Path, table: str) -> pd.DataFrame:
    files = sorted((raw / table).iterdir())
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


@pytest.fixture(scope="module")
def tables(demo) -> dict[str, pd.DataFrame]:
    return {table: read(demo["raw"], table) for table in contract_tables()}


@pytest.fixture(scope="module")
def truth(demo) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(demo["truth"] / f"{name}.parquet") for name in ("person_records", "persons")}


def record_keys(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """(source_system, source_record_id) of every customer record, per the contract's keys."""
    parts = [
        pd.DataFrame({"source_system": "crm", "source_record_id": tables["crm_members"].member_id}),
        pd.DataFrame({"source_system": "pos", "source_record_id": tables["pos_customers"].pos_customer_id}),
        pd.DataFrame({"source_system": tables["marketplace_buyers"].platform,
                      "source_record_id": tables["marketplace_buyers"].buyer_id}),
        pd.DataFrame({"source_system": "miniprogram", "source_record_id": tables["miniprogram_users"].openid}),
        pd.DataFrame({"source_system": "app", "source_record_id": tables["app_users"].app_user_id}),
    ]
    return pd.concat(parts, ignore_index=True)


def with_person(frame: pd.DataFrame, truth, system_col: str, id_col: str) -> pd.DataFrame:
    keys = truth["person_records"].rename(columns={"source_system": system_col, "source_record_id": id_col})
    return frame.merge(keys, on=[system_col, id_col], how="left")


# --- contract conformance ---------------------------------------------------------------------------

def test_every_contract_table_is_written_with_contract_columns_and_types(demo) -> None:
    contract = contract_tables()
    assert set(demo["counts"]) == set(contract)
    for table, columns in contract.items():
        files = list((demo["raw"] / table).iterdir())
        assert [f.name for f in files] == ["part-0000.parquet"], table
        schema = pq.read_schema(files[0])
        assert schema.names == [name for name, _ in columns], table
        for name, kind in columns:
            assert schema.field(name).type in CONTRACT_TYPES[kind], (table, name, schema.field(name).type)


def test_counts_match_files_and_every_table_but_feedback_has_rows(demo, tables) -> None:
    for table, frame in tables.items():
        assert len(frame) == demo["counts"][table], table
    empty = {table for table, count in demo["counts"].items() if count == 0}
    assert empty == {"feedback_events"}
    assert demo["counts"]["products"] >= 150 and demo["counts"]["campaigns"] >= 5


def test_progress_reports_people_done(demo) -> None:
    assert demo["progress"][-1] == PEOPLE
    assert demo["progress"] == sorted(demo["progress"])


def test_keys_are_unique(tables) -> None:
    keys = {
        "crm_members": ["member_id"], "pos_customers": ["pos_customer_id"],
        "marketplace_buyers": ["platform", "buyer_id"], "miniprogram_users": ["openid"],
        "app_users": ["app_user_id"], "identity_links": ["link_id"], "orders": ["order_id"],
        "order_lines": ["order_id", "line_number"], "products": ["product_id"], "categories": ["category_id"],
        "stores": ["store_id"], "behavior_events": ["event_id"], "coupons_issued": ["coupon_id"],
        "coupons_redeemed": ["coupon_id"], "marketing_consent": ["consent_event_id"], "campaigns": ["campaign_id"],
        "suppression_list": ["suppression_id"], "wecom_external_contacts": ["external_userid", "follow_userid"],
    }
    for table, columns in keys.items():
        assert not tables[table].duplicated(columns).any(), table
    assert tables["crm_members"].member_card_no.is_unique


def test_codes_are_contract_codes(tables) -> None:
    channels = {"tmall", "jd", "douyin", "miniprogram", "app", "pos"}
    touch_points = {"sms", "email", "wecom", "wechat", "app_push", "ad_platform"}
    events = {"ad_exposure", "page_view", "category_search", "ad_click", "home_page_visit", "interaction",
              "product_view", "brand_search", "follow", "add_to_cart", "favourite", "review", "share"}
    assert set(tables["orders"].channel) == channels
    assert set(tables["stores"].channel) == channels
    assert set(tables["behavior_events"].event_type) == events
    assert set(tables["behavior_events"].channel) <= channels
    assert set(tables["orders"].order_status) == {"paid", "shipped", "completed", "cancelled", "refunded"}
    assert set(tables["marketing_consent"].channel) == touch_points
    assert set(tables["campaigns"].channel) <= touch_points
    assert set(tables["coupons_issued"].coupon_type) == {"cash", "percent", "shipping"}
    assert set(tables["crm_members"].gender) == {"M", "F", "U"}
    assert set(tables["crm_members"].member_level) <= {"normal", "silver", "gold", "platinum"}
    assert set(tables["marketplace_buyers"].platform) == {"tmall", "jd", "douyin"}
    assert set(tables["orders"].currency) == {"CNY"}
    assert tables["campaigns"].campaign_id.str.match(r"^cmp_\d{4}_\w+$").all()
    assert "cmp_2026_spring" in set(tables["campaigns"].campaign_id)


def test_goods_and_stores(tables) -> None:
    categories, products, stores = tables["categories"], tables["products"], tables["stores"]
    assert set(categories.category_level) == {1, 2}
    assert categories[categories.category_level == 1].parent_category_id.isna().all()
    leaves = categories[categories.category_level == 2]
    assert leaves.parent_category_id.isin(categories.category_id).all()
    assert len(leaves) >= 15 and (categories.category_level == 1).sum() >= 4
    assert products.category_id.isin(leaves.category_id).all()
    physical = stores[stores.channel == "pos"]
    assert len(physical) >= 25 and physical.store_phone.notna().all() and physical.store_phone.is_unique
    assert physical.city.notna().all()
    assert set(stores[stores.channel != "pos"].channel) == {"tmall", "jd", "douyin", "miniprogram", "app"}


def test_timestamps_stay_within_two_years_ending_at_end_date(tables) -> None:
    end = pd.Timestamp("2026-10-31 16:00:00")  # end of the local (UTC+8) day, in UTC
    orders = tables["orders"]
    assert orders.ordered_at.max() < end and orders.paid_at.max() < end
    assert orders.ordered_at.min() >= end - pd.Timedelta(days=731)
    assert (orders.ordered_at.max() - orders.ordered_at.min()).days >= 700
    # The latest paid order is on end_date (dbt's as-of date 'latest').
    assert (orders.paid_at.max() + pd.Timedelta(hours=8)).date() == END_DATE
    assert tables["behavior_events"].occurred_at.max() < end
    for table in CUSTOMER_TABLES:
        assert tables[table].updated_at.max() < end, table


# --- ground truth ------------------------------------------------------------------------------------

def test_truth_covers_every_customer_record_exactly_once(tables, truth) -> None:
    keys = record_keys(tables)
    person_records = truth["person_records"]
    assert list(person_records.columns) == ["source_system", "source_record_id", "person_id"]
    assert not person_records.duplicated(["source_system", "source_record_id"]).any()
    merged = keys.merge(person_records, on=["source_system", "source_record_id"], how="outer", indicator=True)
    assert (merged._merge == "both").all()
    persons = truth["persons"]
    assert persons.person_id.is_unique and len(persons) == PEOPLE
    assert set(person_records.person_id) <= set(persons.person_id)
    assert persons.record_count.sum() == len(person_records)
    # Only the two holders of a recycled number share one.
    assert (persons.phone.duplicated(keep=False) == persons.trap_recycled_phone).all()


def test_people_span_one_to_four_channels_and_several_keys(truth) -> None:
    persons = truth["persons"]
    assert persons.record_count.min() == 1
    assert (persons.record_count >= 3).mean() > 0.15
    channel_sets = persons.channels.str.split(",")
    assert channel_sets.map(lambda kinds: {"crm", "pos"} <= set(kinds)).any()
    assert channel_sets.map(lambda kinds: {"mp", "oa"} <= set(kinds)).sum() > 50


# --- orders ----------------------------------------------------------------------------------------

def test_orders_reference_existing_customer_records(tables) -> None:
    orders = tables["orders"]
    keys = record_keys(tables)
    identified = orders[orders.customer_source_system.notna()]
    merged = identified.merge(keys, left_on=["customer_source_system", "customer_source_record_id"],
                              right_on=["source_system", "source_record_id"], how="left", indicator=True)
    assert (merged._merge == "both").all()
    assert set(identified.customer_source_system) == {"crm", "pos", "tmall", "jd", "douyin", "miniprogram", "app"}
    # POS orders name a pos record or a member whose card was swiped; others their channel's record.
    assert set(identified[identified.channel == "pos"].customer_source_system) == {"pos", "crm"}
    online = identified[identified.channel != "pos"]
    assert (online.channel == online.customer_source_system).all()
    # Anonymous walk-ins: only at the tills, about a third of till orders.
    anonymous = orders[orders.customer_source_system.isna()]
    assert (anonymous.channel == "pos").all() and anonymous.customer_source_record_id.isna().all()
    share = len(anonymous) / (orders.channel == "pos").sum()
    assert 0.25 < share < 0.42
    assert orders.store_id.isin(tables["stores"].store_id).all()
    assert orders.order_id.str.match(r"^(tmall|jd|douyin|miniprogram|app|pos)-\d+$").all()
    assert (orders.order_id.str.split("-").str[0] == orders.channel).all()


def test_records_exist_before_their_orders(tables, truth) -> None:
    orders = tables["orders"].dropna(subset=["customer_source_system"])
    first = orders.groupby(["customer_source_system", "customer_source_record_id"]).ordered_at.min()
    buyers = tables["marketplace_buyers"].set_index(["platform", "buyer_id"])
    assert buyers.first_order_at.dropna().sort_index().equals(
        first[first.index.get_level_values(0).isin(["tmall", "jd", "douyin"])].sort_index().rename("first_order_at")
        .rename_axis(["platform", "buyer_id"]))
    for table, system, key, created in (("crm_members", "crm", "member_id", "registered_at"),
                                        ("pos_customers", "pos", "pos_customer_id", "first_seen_at"),
                                        ("miniprogram_users", "miniprogram", "openid", "registered_at"),
                                        ("app_users", "app", "app_user_id", "registered_at")):
        frame = tables[table].set_index(key)
        mine = first[system]
        assert (frame.loc[mine.index, created] <= mine).all(), table
        assert (frame.updated_at >= frame[created]).all(), table
    # New members registered within the last 30 days, everywhere they are known.
    new = truth["persons"].query("persona == 'new'").person_id
    records = truth["person_records"][truth["person_records"].person_id.isin(new)]
    members = tables["crm_members"][tables["crm_members"].member_id.isin(records.source_record_id)]
    assert len(members) > 0
    assert (members.registered_at >= pd.Timestamp("2026-10-01") - pd.Timedelta(hours=8)).all()


def test_order_amounts_are_consistent(tables) -> None:
    orders, lines = tables["orders"].set_index("order_id"), tables["order_lines"]
    for column in ("gross_amount", "discount_amount", "paid_amount", "refund_amount"):
        assert (orders[column] >= 0).all(), column
    assert (orders.paid_amount == orders.gross_amount - orders.discount_amount).all()
    assert (orders.refund_amount <= orders.paid_amount).all()
    assert lines.order_id.isin(orders.index).all() and orders.index.isin(lines.order_id).all()
    sums = lines.groupby("order_id").agg(paid=("line_amount", "sum"), count=("line_number", "size"),
                                         top=("line_number", "max"))
    assert (sums.paid == orders.loc[sums.index, "paid_amount"]).all()
    assert (sums.top == sums["count"]).all() and sums["count"].between(1, 4).all()
    assert (lines.line_amount <= lines.unit_price * lines.quantity).all()
    assert lines.product_id.isin(tables["products"].product_id).all()


def test_order_statuses_refunds_and_cancellations(tables) -> None:
    orders = tables["orders"]
    cancelled = orders[orders.order_status == "cancelled"]
    assert len(cancelled) > 0 and cancelled.paid_at.isna().all()
    assert orders[orders.order_status != "cancelled"].paid_at.notna().all()
    refunded = orders[orders.order_status == "refunded"]
    assert len(refunded) > 0 and (refunded.refund_amount == refunded.paid_amount).all()
    partial = orders[(orders.refund_amount > 0) & (orders.refund_amount < orders.paid_amount)]
    assert len(partial) > 0
    assert (orders[orders.paid_at.notna()].paid_at >= orders[orders.paid_at.notna()].ordered_at).all()


def test_coupons_link_campaigns_records_and_orders(tables) -> None:
    issued, redeemed, orders = tables["coupons_issued"], tables["coupons_redeemed"], tables["orders"]
    assert issued.campaign_id.dropna().isin(tables["campaigns"].campaign_id).all()
    assert issued.campaign_id.isna().any()  # till coupons outside any campaign
    assert set(tables["campaigns"].campaign_id) <= set(issued.campaign_id.dropna())
    keys = record_keys(tables)
    merged = issued.merge(keys, on=["source_system", "source_record_id"], how="left", indicator=True)
    assert (merged._merge == "both").all()
    assert redeemed.coupon_id.isin(issued.coupon_id).all()
    used = orders[orders.coupon_id.notna()]
    assert len(used) == len(redeemed) > 0
    assert set(used.coupon_id) == set(redeemed.coupon_id)
    pairs = redeemed.merge(used[["order_id", "coupon_id", "paid_at"]], on=["order_id", "coupon_id"])
    assert len(pairs) == len(redeemed) and (pairs.redeemed_at == pairs.paid_at).all()
    window = redeemed.merge(issued, on="coupon_id")
    assert ((window.issued_at <= window.redeemed_at) & (window.redeemed_at <= window.expires_at)).all()
    assert 0.05 < len(redeemed) / len(issued) < 0.6
    campaigns = tables["campaigns"]
    assert (campaigns.cost_amount > 0).all() and (campaigns.attribution_window_days > 0).all()
    assert (campaigns.started_at < campaigns.ended_at).all()


def test_consent_per_record_and_channel(tables) -> None:
    consent = tables["marketing_consent"]
    keys = record_keys(tables)
    merged = consent.merge(keys, on=["source_system", "source_record_id"], how="left", indicator=True)
    assert (merged._merge == "both").all()
    revoked = consent[consent.consent_status == "revoked"]
    assert len(revoked) > 0
    granted = consent[consent.consent_status == "granted"]
    later = revoked.merge(granted, on=["source_system", "source_record_id", "channel"], suffixes=("", "_granted"))
    assert (later.recorded_at >= later.recorded_at_granted).all()
    with_phone = tables["crm_members"].phone.notna().sum()
    sms_crm = granted[(granted.channel == "sms") & (granted.source_system == "crm")]
    assert 0.6 < len(sms_crm) / with_phone < 0.95
    assert set(granted[granted.channel == "app_push"].source_system) == {"app"}
    assert set(granted[granted.channel == "wechat"].source_system) == {"miniprogram"}


def test_suppression_list_is_a_realistic_few(tables) -> None:
    suppressions = tables["suppression_list"]
    totals = suppression_totals(PEOPLE)
    per_10k = sum(count for kind, count in suppression_totals(10_000).items() if kind in SUPPRESSIONS_PER_10K)
    assert 24 <= per_10k <= 60  # a few dozen per 10,000 people
    assert len(suppressions) == sum(totals[reason] for reason in SUPPRESSIONS_PER_10K)
    counts = suppressions.reason.value_counts()
    assert counts.to_dict() == {reason: totals[reason] for reason in SUPPRESSIONS_PER_10K}
    assert counts["complaint"] == counts.max()
    assert set(suppressions.identifier_type) <= {"phone", "email", "wechat_unionid", "one_id"}
    touch_points = {"sms", "email", "wecom", "wechat", "app_push", "ad_platform"}
    assert set(suppressions.channel.dropna()) <= touch_points
    assert suppressions.channel.isna().any() and suppressions.channel.notna().any()
    # Deceased and legal requests hold on every channel and are never lifted.
    final = suppressions[suppressions.reason.isin(["deceased", "legal_request"])]
    assert final.channel.isna().all() and final.lifted_at.isna().all()
    lifted = suppressions[suppressions.lifted_at.notna()]
    assert len(lifted) == totals["lifted"]
    assert set(lifted.reason) <= {"complaint", "do_not_contact"}
    assert (lifted.lifted_at > lifted.suppressed_at).all()
    end = pd.Timestamp("2026-10-31 16:00:00")  # end of the local (UTC+8) day, in UTC
    assert suppressions.suppressed_at.max() < end and lifted.lifted_at.max() < end
    assert suppressions.suppressed_at.min() >= end - pd.Timedelta(days=541)


def test_suppressions_name_real_people_in_formats_staging_accepts(tables, truth) -> None:
    suppressions = tables["suppression_list"]
    persons = truth["persons"]
    phones = suppressions[suppressions.identifier_type == "phone"].identifier_value
    normalised = phones.map(normal_phone)
    # The masked phones marketplace customer service relays are not identifiers: staging rejects them.
    masked = phones[normalised.isna()]
    assert len(masked) == suppression_totals(PEOPLE)["masked"]
    assert masked.str.fullmatch(r"1[3-9]\d\*{4}\d{4}").all()
    assert normalised.dropna().isin(persons.phone).all()
    assert (phones[normalised.notna()] != normalised.dropna()).any()  # messy formats, landed raw
    emails = suppressions[suppressions.identifier_type == "email"].identifier_value.map(normal_email)
    assert emails.notna().all() and emails.isin(persons.email).all()
    unionids = suppressions[suppressions.identifier_type == "wechat_unionid"].identifier_value
    assert unionids.isin(persons.wechat_unionid.dropna()).all()
    # Real people, one suppression each; never the cashier whose phone fronts for walk-ins.
    owners = pd.concat([
        persons.set_index("phone").loc[normalised.dropna(), "person_id"],
        persons.dropna(subset=["email"]).set_index("email").loc[emails, "person_id"],
        persons.dropna(subset=["wechat_unionid"]).set_index("wechat_unionid").loc[unionids, "person_id"],
    ])
    assert owners.is_unique
    assert not persons.set_index("person_id").loc[owners, "is_cashier"].any()


def test_events_follow_funnels_on_online_records(tables, truth) -> None:
    events = tables["behavior_events"]
    keys = record_keys(tables)
    merged = events.merge(keys, on=["source_system", "source_record_id"], how="left", indicator=True)
    assert (merged._merge == "both").all()
    assert set(events.source_system) == {"tmall", "jd", "douyin", "miniprogram", "app"}
    product_events = events.event_type.isin(["product_view", "add_to_cart", "favourite", "review"])
    assert events[product_events].product_id.notna().all()
    assert events[events.event_type == "category_search"].search_term.notna().all()
    assert events[events.event_type == "ad_exposure"].product_id.isna().all()
    # Prospects reach awareness or interest but never leave a review.
    events = with_person(events, truth, "source_system", "source_record_id")
    persons = truth["persons"].set_index("person_id")
    persona = persons.loc[events.person_id, "persona"].to_numpy()
    assert not ((persona == "prospect") & events.event_type.isin(["review", "share"]).to_numpy()).any()
    aware = persons[persons.prospect_funnel == "awareness"].index
    aware_types = set(events[events.person_id.isin(aware)].event_type)
    assert aware_types and aware_types <= {"ad_exposure", "page_view", "category_search"}


def test_lifecycle_personas_come_out_of_the_orders(tables, truth) -> None:
    """Recompute lifecycle stages from paid orders with the rules in dbt_project.yml."""
    orders = with_person(tables["orders"], truth, "customer_source_system", "customer_source_record_id")
    paid = orders[orders.paid_at.notna() & orders.person_id.notna()].copy()
    paid["day"] = (paid.paid_at + pd.Timedelta(hours=8)).dt.normalize()
    end = pd.Timestamp(END_DATE)
    stats = paid.groupby("person_id").day.agg(["min", "max", "size"])
    recency = (end - stats["max"]).dt.days
    age = (end - stats["min"]).dt.days
    cycle = np.where(stats["size"] > 1, (stats["max"] - stats["min"]).dt.days / (stats["size"] - 1).clip(lower=1), 45)
    stage = np.select(
        [age <= 30, recency > np.maximum(4 * cycle, 180), recency > np.maximum(2 * cycle, 60), cycle <= 14],
        ["new", "churned", "dormant", "growth"], "mature")
    computed = pd.Series(stage, index=stats.index)
    persons = truth["persons"].set_index("person_id")
    expected = persons.expected_lifecycle
    buyers = expected[expected != "prospect"]
    assert (computed.reindex(buyers.index) == buyers).mean() > 0.995
    assert set(buyers) == {"new", "growth", "mature", "dormant", "churned"}
    assert not computed.index.isin(expected[expected == "prospect"].index).any()
    growth_lapse = persons.index[persons.expected_warning == "growth_lapse"]
    assert len(growth_lapse) > 0 and recency.reindex(growth_lapse).between(21, 30).all()
    high_value_lapse = persons.index[persons.expected_warning == "high_value_lapse"]
    assert len(high_value_lapse) > 0 and recency.reindex(high_value_lapse).between(15, 25).all()
    new = persons.index[persons.persona == "new"]
    assert set(stats.loc[new, "size"]) == {1, 2}
    spend = paid.groupby("person_id").paid_amount.mean()
    assert spend.reindex(persons.index[persons.persona == "high_value"]).mean() > 2 * spend.mean() * 0.9


# --- identifiers: messy formats and traps -----------------------------------------------------------

FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


def normal_phone(value) -> str | None:
    """The contract's phone normalisation: accepted forms -> 11 digits; anything else -> None."""
    if not isinstance(value, str):
        return None
    digits = re.sub(r"[\s-]", "", value.translate(FULL_WIDTH))
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == 11 + len(prefix):
            digits = digits[len(prefix):]
            break
    return digits if re.fullmatch(r"1[3-9]\d{9}", digits) else None


def normal_email(value) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().lower()
    return value if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) else None


def phones_by_person(tables, truth) -> pd.DataFrame:
    parts = []
    for table, system, key in (("crm_members", "crm", "member_id"), ("pos_customers", "pos", "pos_customer_id"),
                               ("app_users", "app", "app_user_id"), ("miniprogram_users", "miniprogram", "openid")):
        frame = tables[table]
        parts.append(pd.DataFrame({"source_system": system, "source_record_id": frame[key], "raw": frame.phone}))
    buyers = tables["marketplace_buyers"]
    parts.append(pd.DataFrame({"source_system": buyers.platform, "source_record_id": buyers.buyer_id,
                               "raw": buyers.phone}))
    phones = pd.concat(parts, ignore_index=True)
    phones["phone"] = phones.raw.map(normal_phone)
    return with_person(phones, truth, "source_system", "source_record_id")


def test_messy_identifier_formats(tables) -> None:
    raw = pd.concat([tables[t].phone for t in ("crm_members", "pos_customers", "app_users")]).dropna()
    assert raw.str.startswith("+86").any() and raw.str.startswith("0086").any()
    assert raw.str.match(r"^861\d{10}$").any()
    assert raw.str.contains("-").any() and raw.str.contains(" ").any()
    assert raw.str.contains("[０-９]").any()
    assert raw.map(normal_phone).notna().all()  # messy, but every one is a valid mobile
    masked = tables["marketplace_buyers"].phone
    assert masked.str.fullmatch(r"1\d{2}\*{4}\d{4}").mean() > 0.75
    emails = pd.concat([tables["crm_members"].email, tables["app_users"].email]).dropna()
    assert (emails != emails.str.strip()).any() and emails.str.contains("[A-Z]").any()
    assert emails.map(normal_email).notna().all()
    cards = tables["identity_links"].query("right_id_type == 'member_card'").right_id_value
    assert (cards.str.upper().str.replace(" ", "") != cards).any()
    devices = tables["app_users"].device_id
    assert (devices == "00000000-0000-0000-0000-000000000000").any()


def test_store_phones_are_typed_for_many_different_walk_ins(tables, truth) -> None:
    phones = phones_by_person(tables, truth)
    store_phones = set(tables["stores"].store_phone.dropna())
    on_store_phone = phones[phones.phone.isin(store_phones)]
    assert (on_store_phone.source_system == "pos").all()
    persons_per_phone = on_store_phone.groupby("phone").person_id.nunique()
    assert persons_per_phone.max() >= 5 and len(persons_per_phone) >= 20
    flagged = truth["persons"].set_index("person_id").trap_store_phone
    assert flagged[flagged].index.equals(pd.Index(sorted(set(on_store_phone.person_id))))


def test_one_cashier_phone_on_many_walk_ins(tables, truth) -> None:
    phones = phones_by_person(tables, truth)
    persons = truth["persons"]
    cashier = persons[persons.is_cashier]
    assert len(cashier) == 1
    cashier_phone = cashier.phone.iloc[0]
    holders = phones[phones.phone == cashier_phone]
    walk_ins = holders[holders.person_id != cashier.person_id.iloc[0]]
    assert (walk_ins.source_system == "pos").all()
    assert walk_ins.person_id.nunique() >= 20
    assert len(holders) > identity_threshold()
    assert persons.trap_cashier_phone.sum() == walk_ins.person_id.nunique()


def test_test_numbers_and_placeholder_emails_on_many_persons(tables, truth) -> None:
    phones = phones_by_person(tables, truth)
    for number in ("13800138000", "13888888888", "13900000000"):
        holders = phones[phones.phone == number]
        assert len(holders) > identity_threshold() and holders.person_id.nunique() >= 20, number
    assert not truth["persons"].phone.isin(["13800138000", "13888888888", "13900000000"]).any()
    emails = pd.concat([
        pd.DataFrame({"source_system": "crm", "source_record_id": tables["crm_members"].member_id,
                      "email": tables["crm_members"].email.map(normal_email)}),
        pd.DataFrame({"source_system": "app", "source_record_id": tables["app_users"].app_user_id,
                      "email": tables["app_users"].email.map(normal_email)}),
    ])
    emails = with_person(emails, truth, "source_system", "source_record_id")
    for placeholder in ("test@test.com", "none@none.com", "123456@qq.com"):
        holders = emails[emails.email == placeholder]
        assert len(holders) > identity_threshold() and holders.person_id.nunique() >= 20, placeholder


def test_same_name_and_birth_date_in_different_persons(tables, truth) -> None:
    members = tables["crm_members"].merge(truth["person_records"].query("source_system == 'crm'"),
                                          left_on="member_id", right_on="source_record_id")
    members = members[members.birth_date.notna()]
    groups = members.groupby(["full_name", "birth_date"]).person_id.nunique()
    assert (groups >= 2).sum() >= 10
    twins = truth["persons"][truth["persons"].trap_name_twin]
    assert len(twins) >= 20
    assert twins.groupby(["full_name", "birth_date"]).person_id.nunique().min() >= 2


def test_openid_only_visitors_are_single_record_prospects(tables, truth) -> None:
    persons = truth["persons"]
    visitors = persons[persons.is_openid_only]
    assert len(visitors) > 10
    assert (visitors.record_count == 1).all() and (visitors.persona == "prospect").all()
    assert (visitors.channels == "mp").all()
    records = truth["person_records"][truth["person_records"].person_id.isin(visitors.person_id)]
    users = tables["miniprogram_users"].set_index("openid").loc[records.source_record_id]
    assert users.unionid.isna().all() and users.phone.isna().all()


def test_wechat_openids_differ_per_app_and_unionid_is_shared(tables) -> None:
    users = tables["miniprogram_users"]
    assert users.app_id.nunique() == 2
    bound = users.dropna(subset=["unionid"])
    per_unionid = bound.groupby("unionid").app_id.nunique()
    assert (per_unionid == 2).sum() > 50  # the same person in the mini program and the official account
    assert users.openid.is_unique
    assert bound.unionid.isin(tables["crm_members"].wechat_unionid.dropna()).any()


# --- a reference One ID resolver: the truth must be reachable without names ----------------------------

def resolve(tables, block_over_shared: bool = True, time_aware: bool = True,
            one_phone_per_person: bool = True) -> pd.DataFrame:
    """A safe resolver per the contract: normalise identifiers, block store phones and identifiers on
    more source records than dbt_project.yml allows, and device ids whose records hold two phones
    (a family tablet: at most one phone per person), take a reassigned number away from its
    earlier holder's records (reassigned_holdings), then join everything that shares an identifier
    or an identity link (union-find). Never joins on names."""
    def key(system, record_id):
        return system.astype(str) + "|" + record_id.astype(str)

    def normal(id_type, values, namespace=None):
        values = pd.Series(values).reset_index(drop=True)
        if id_type == "phone":
            out = values.map(normal_phone)
        elif id_type == "email":
            out = values.map(normal_email)
        elif id_type == "member_card":
            out = values.where(values.isna(), values.astype(str).str.replace(r"[^0-9A-Za-z]", "", regex=True).str.upper())
        elif id_type == "device_id":
            lowered = values.str.strip().str.lower()
            out = lowered.where(~lowered.str.fullmatch(r"[0-]+").fillna(False))
        else:
            out = values.str.strip()
        namespace = pd.Series(namespace if namespace is not None else "", index=out.index).astype(str)
        return (id_type + ":" + namespace + ":" + out).where(out.notna())

    held = []
    c, p, m, w, a = (tables[t] for t in CUSTOMER_TABLES)
    for frame, records, columns in (
        (c, key(pd.Series("crm", index=c.index), c.member_id),
         [("member_card", "member_card_no", None), ("phone", "phone", None), ("email", "email", None),
          ("wechat_unionid", "wechat_unionid", None)]),
        (p, key(pd.Series("pos", index=p.index), p.pos_customer_id),
         [("phone", "phone", None), ("member_card", "member_card_no", None)]),
        (m, key(m.platform, m.buyer_id), [("buyer_id", "buyer_id", "platform"), ("phone", "phone", None)]),
        (w, key(pd.Series("miniprogram", index=w.index), w.openid),
         [("wechat_openid", "openid", "app_id"), ("wechat_unionid", "unionid", None), ("phone", "phone", None)]),
        (a, key(pd.Series("app", index=a.index), a.app_user_id),
         [("app_user_id", "app_user_id", None), ("device_id", "device_id", None), ("phone", "phone", None),
          ("email", "email", None), ("wechat_unionid", "wechat_unionid", None)]),
    ):
        for id_type, column, namespace in columns:
            ns = frame[namespace].to_numpy() if namespace else None
            held.append(pd.DataFrame({"record": records.to_numpy(),
                                      "identifier": normal(id_type, frame[column], ns).to_numpy()}))
    held = pd.concat(held).dropna().drop_duplicates()
    blocked = set(normal("phone", tables["stores"].store_phone.dropna()))
    if block_over_shared:
        system = held.record.str.split("|").str[0]
        per_system = held.assign(system=system).groupby(["identifier", "system"]).record.nunique()
        most_in_one_system = per_system.groupby(level="identifier").max()
        blocked |= set(most_in_one_system[most_in_one_system > identity_threshold()].index)
    held = held[~held.identifier.isin(blocked)]
    if one_phone_per_person:
        devices = held[held.identifier.str.startswith("device_id:")]
        phones = held[held.identifier.str.startswith("phone:")]
        phones_per_device = (devices.merge(phones, on="record", suffixes=("", "_phone"))
                             .groupby("identifier").identifier_phone.nunique())
        blocked |= set(phones_per_device[phones_per_device > 1].index)
        held = held[~held.identifier.isin(blocked)]
    if time_aware:
        dropped = reassigned_holdings(tables, held)
        held = held[~pd.MultiIndex.from_frame(held[["record", "identifier"]]).isin(dropped)]

    links = tables["identity_links"]
    left = normal_ids(normal, links.left_id_type, links.left_id_value, links.left_id_namespace)
    right = normal_ids(normal, links.right_id_type, links.right_id_value, links.right_id_namespace)
    edges = pd.DataFrame({"a": left, "b": right}).dropna()
    edges = edges[~edges.a.isin(blocked) & ~edges.b.isin(blocked)]

    all_records = pd.concat([key(pd.Series("crm", index=c.index), c.member_id),
                             key(pd.Series("pos", index=p.index), p.pos_customer_id), key(m.platform, m.buyer_id),
                             key(pd.Series("miniprogram", index=w.index), w.openid),
                             key(pd.Series("app", index=a.index), a.app_user_id)]).to_numpy()
    nodes = pd.Index(np.unique(np.concatenate([all_records, held.identifier, edges.a, edges.b])))
    parent = np.arange(len(nodes))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in zip(np.concatenate([nodes.get_indexer(held.record), nodes.get_indexer(edges.a)]),
                    np.concatenate([nodes.get_indexer(held.identifier), nodes.get_indexer(edges.b)])):
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[ru] = rv
    return pd.DataFrame({"key": all_records, "cluster": [find(i) for i in nodes.get_indexer(all_records)]})


def record_profiles(tables) -> pd.DataFrame:
    """Each record's active period and stable attributes (the name: the CRM's registered one),
    as the contract describes them."""
    c, p, m, w, a = (tables[t] for t in CUSTOMER_TABLES)
    frames = [
        pd.DataFrame({"record": "crm|" + c.member_id, "start": c.registered_at, "end": c.updated_at,
                      "birth_date": c.birth_date, "gender": c.gender, "name": c.full_name}),
        pd.DataFrame({"record": "pos|" + p.pos_customer_id, "start": p.first_seen_at, "end": p.updated_at}),
        pd.DataFrame({"record": m.platform + "|" + m.buyer_id, "start": m.first_order_at.fillna(m.updated_at),
                      "end": m.updated_at}),
        pd.DataFrame({"record": "miniprogram|" + w.openid, "start": w.registered_at, "end": w.updated_at,
                      "gender": w.gender}),
        pd.DataFrame({"record": "app|" + a.app_user_id, "start": a.registered_at, "end": a.updated_at}),
    ]
    profiles = pd.concat(frames, ignore_index=True)
    profiles["gender"] = profiles.gender.where(profiles.gender.isin(["M", "F"]))
    profiles["name"] = profiles.name.str.replace(" ", "")
    return profiles.set_index("record")


def reassigned_holdings(tables, held: pd.DataFrame, gap_days: int = 120) -> pd.MultiIndex:
    """(record, identifier) pairs of a number's earlier holder: the identifier's records fall into
    periods more than gap_days apart, and the later period's known birth date, gender or name
    (the name only where the birth dates do not agree) differs from the earlier one's."""
    profiles = record_profiles(tables)
    shared = held[held.identifier.map(held.identifier.value_counts()) > 1]
    rows = shared.join(profiles, on="record").sort_values(["identifier", "start", "record"])
    earlier_end = rows.groupby("identifier").end.transform(lambda end: end.cummax().shift())
    rows["era"] = (rows.start > earlier_end + pd.Timedelta(days=gap_days)).groupby(rows.identifier).cumsum()

    def known(values: pd.Series):
        values = values.dropna().unique()
        return values[0] if len(values) == 1 else None

    eras = rows.groupby(["identifier", "era"])[["birth_date", "gender", "name"]].agg(known).reset_index()
    eras["prev_birth"] = eras.groupby("identifier").birth_date.shift()
    eras["prev_gender"] = eras.groupby("identifier").gender.shift()
    eras["prev_name"] = eras.groupby("identifier").name.shift()

    def differ(left, right):
        return left.notna() & right.notna() & (left != right)

    same_birth = eras.birth_date.notna() & (eras.birth_date == eras.prev_birth)
    eras["new_holder"] = (differ(eras.birth_date, eras.prev_birth) | differ(eras.gender, eras.prev_gender)
                          | (differ(eras.name, eras.prev_name) & ~same_birth))
    eras["holder"] = eras.groupby("identifier").new_holder.cumsum()
    rows = rows.merge(eras[["identifier", "era", "holder"]], on=["identifier", "era"])
    latest = rows.groupby("identifier").holder.transform("max")
    return pd.MultiIndex.from_frame(rows.loc[rows.holder < latest, ["record", "identifier"]])


def normal_ids(normal, types, values, namespaces) -> np.ndarray:
    out = pd.Series([None] * len(types), dtype=object)
    for id_type in types.unique():
        here = (types == id_type).to_numpy()
        out[here] = normal(id_type, values[here], namespaces[here].fillna("").to_numpy()
                           if id_type in ("wechat_openid", "buyer_id") else None).to_numpy()
    return out.to_numpy()


def pairwise(clusters: pd.DataFrame, truth) -> tuple[float, float]:
    records = truth["person_records"].assign(key=lambda t: t.source_system + "|" + t.source_record_id)
    joined = records.merge(clusters, on="key", validate="one_to_one")
    pairs = lambda sizes: int((sizes * (sizes - 1) // 2).sum())  # noqa: E731
    both = pairs(joined.groupby(["cluster", "person_id"]).size())
    predicted, actual = pairs(joined.groupby("cluster").size()), pairs(joined.groupby("person_id").size())
    return both / predicted, both / actual


def test_a_safe_resolver_reaches_the_truth(tables, truth) -> None:
    precision, recall = pairwise(resolve(tables), truth)
    assert precision >= 0.999
    assert recall >= 0.99
    unlinkable = truth["persons"].has_unlinkable_record.mean()
    assert unlinkable < 0.005


def test_the_traps_catch_a_resolver_that_does_not_block_shared_identifiers(tables, truth) -> None:
    precision, _ = pairwise(resolve(tables, block_over_shared=False), truth)
    assert precision < 0.9


def test_family_tablets_catch_a_resolver_that_lets_a_device_join_two_phones(tables, truth) -> None:
    persons = truth["persons"]
    sharers = persons[persons.trap_family_device]
    assert len(sharers) == 2 * 10  # max(10, 2000 people / 500) pairs
    records = truth["person_records"].query("source_system == 'app' and person_id in @sharers.person_id")
    devices = tables["app_users"].set_index("app_user_id").loc[records.source_record_id, "device_id"]
    assert devices.str.lower().value_counts().eq(2).all()  # each device on two persons' accounts
    clusters = resolve(tables, one_phone_per_person=False)
    precision, _ = pairwise(clusters, truth)
    assert precision < 0.999


def test_recycled_numbers_catch_a_resolver_that_ignores_time(tables, truth) -> None:
    persons = truth["persons"]
    holders = persons[persons.trap_recycled_phone]
    assert len(holders) == 2 * 10  # max(10, 2000 people / 200) pairs
    clusters = resolve(tables, time_aware=False)
    records = truth["person_records"].assign(key=lambda t: t.source_system + "|" + t.source_record_id)
    joined = records.merge(clusters, on="key").query("person_id in @holders.person_id")
    persons_per_cluster = joined.groupby("cluster").person_id.nunique()
    assert (persons_per_cluster == 2).sum() == 10  # every pair merged
    precision, _ = pairwise(clusters, truth)
    assert precision < 0.999


def test_recycled_numbers_hold_two_people_years_apart_with_evidence(tables, truth) -> None:
    persons = truth["persons"]
    holders = persons[persons.trap_recycled_phone]
    records = truth["person_records"].merge(holders[["person_id", "phone"]], on="person_id")
    profiles = record_profiles(tables)
    records = records.join(profiles, on=records.source_system + "|" + records.source_record_id)
    spans = records.groupby(["phone", "person_id"]).agg(start=("start", "min"), end=("end", "max"),
                                                       systems=("source_system", "unique"))
    for phone, pair in spans.groupby(level="phone"):
        old, new = pair.sort_values("start").itertuples()
        assert list(old.systems) == ["crm"]  # a member with nothing but an old CRM record
        assert (new.start - old.end).days > 200
        old_person = holders.set_index("person_id").loc[old.Index[1]]
        new_person = holders.set_index("person_id").loc[new.Index[1]]
        assert old_person.full_name != new_person.full_name
        if "crm" not in new.systems:  # across systems: opposite genders, shown on both sides
            assert {old_person.gender, new_person.gender} == {"M", "F"}
            shown = records[records.person_id.isin([old.Index[1], new.Index[1]])
                            & records.source_system.isin(["crm", "miniprogram"])].gender
            assert shown.notna().all(), phone


def test_matching_on_name_and_birth_date_would_merge_different_persons(tables, truth) -> None:
    members = tables["crm_members"].merge(truth["person_records"].query("source_system == 'crm'"),
                                          left_on="member_id", right_on="source_record_id")
    by_name = members.dropna(subset=["birth_date"]).groupby(["full_name", "birth_date"]).person_id.nunique()
    assert (by_name > 1).sum() >= 10


# --- determinism, chunking, reruns, csv --------------------------------------------------------------

def digest(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path) -> None:
    first = generate(tmp_path / "a" / "raw", tmp_path / "a" / "truth", people=600, seed=11)
    second = generate(tmp_path / "b" / "raw", tmp_path / "b" / "truth", people=600, seed=11)
    other = generate(tmp_path / "c" / "raw", tmp_path / "c" / "truth", people=600, seed=12)
    assert first == second
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    different = digest(tmp_path / "c")
    same_files = digest(tmp_path / "a")
    assert set(different) == set(same_files)
    changed = {name for name in same_files if same_files[name] != different[name]}
    assert {"raw/crm_members/part-0000.parquet", "raw/orders/part-0000.parquet",
            "truth/person_records.parquet"} <= changed
    assert other != first


def test_chunks_keep_ids_unique_and_output_deterministic(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(demo_data, "CHUNK_PEOPLE", 250)
    seen: list[int] = []
    generate(tmp_path / "a" / "raw", tmp_path / "a" / "truth", people=900, seed=5, progress=seen.append)
    generate(tmp_path / "b" / "raw", tmp_path / "b" / "truth", people=900, seed=5)
    assert seen == [250, 500, 750, 900]
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    raw = tmp_path / "a" / "raw"
    assert pq.ParquetFile(raw / "orders" / "part-0000.parquet").num_row_groups >= 4
    for table, key in (("orders", ["order_id"]), ("behavior_events", ["event_id"]), ("crm_members", ["member_id"]),
                       ("identity_links", ["link_id"]), ("coupons_issued", ["coupon_id"]),
                       ("marketing_consent", ["consent_event_id"]), ("pos_customers", ["pos_customer_id"]),
                       ("suppression_list", ["suppression_id"])):
        assert not read(raw, table).duplicated(key).any(), table
    truth = pd.read_parquet(tmp_path / "a" / "truth" / "persons.parquet")
    assert truth.person_id.is_unique and len(truth) == 900
    # Only the two holders of a recycled number share one.
    assert (truth.phone.duplicated(keep=False) == truth.trap_recycled_phone).all()
    assert truth.is_cashier.sum() == 1


def test_rerun_replaces_old_files(tmp_path) -> None:
    raw, truth = tmp_path / "raw", tmp_path / "truth"
    generate(raw, truth, people=300, seed=1)
    (raw / "orders" / "part-0001.parquet").write_bytes(b"stale")
    (raw / "feedback_events" / "old.csv").write_text("stale")
    unrelated = raw / "not_a_landing_table"
    unrelated.mkdir()
    (unrelated / "keep.txt").write_text("keep")
    generate(raw, truth, people=300, seed=1)
    assert [f.name for f in (raw / "orders").iterdir()] == ["part-0000.parquet"]
    assert [f.name for f in (raw / "feedback_events").iterdir()] == ["part-0000.parquet"]
    assert (unrelated / "keep.txt").exists()


def test_csv_mode_follows_the_contract_and_carries_the_same_data(tmp_path) -> None:
    generate(tmp_path / "pq" / "raw", tmp_path / "pq" / "truth", people=500, seed=3)
    counts = generate(tmp_path / "csv" / "raw", tmp_path / "csv" / "truth", people=500, seed=3, file_format="csv")
    contract = contract_tables()
    raw = tmp_path / "csv" / "raw"
    for table, columns in contract.items():
        files = list((raw / table).iterdir())
        assert [f.name for f in files] == ["part-0000.csv"], table
        text = files[0].read_text(encoding="utf-8")
        assert text.splitlines()[0] == ",".join(name for name, _ in columns), table
    con = duckdb.connect()
    for table, columns in contract.items():
        csv = con.sql(f"select * from read_csv('{raw / table}/*.csv', all_varchar=true, header=true)").arrow()
        csv = csv.read_all() if hasattr(csv, "read_all") else csv
        assert csv.num_rows == counts[table], table
        parquet = pq.read_table(tmp_path / "pq" / "raw" / table / "part-0000.parquet")
        for name, kind in columns:
            text = csv.column(name).to_pylist()
            typed = parquet.column(name).to_pylist()
            assert [value is None for value in text] == [value is None for value in typed], (table, name)
            pairs = [(t, v) for t, v in zip(text, typed) if v is not None]
            if kind == "timestamp":
                assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", t) for t, _ in pairs), (table, name)
                assert all(t == v.strftime("%Y-%m-%d %H:%M:%S") for t, v in pairs), (table, name)
            elif kind == "date":
                assert all(t == v.isoformat() for t, v in pairs), (table, name)
            elif kind == "boolean":
                assert all(t == ("true" if v else "false") for t, v in pairs), (table, name)
            elif kind == "varchar":
                assert all(t == v for t, v in pairs), (table, name)
            else:  # integers and decimal(18,2)
                assert all(t == str(v) for t, v in pairs), (table, name)
    assert (tmp_path / "csv" / "truth" / "person_records.parquet").exists()
    assert counts["feedback_events"] == 0 and (raw / "feedback_events" / "part-0000.csv").read_text().count("\n") == 1


def test_rejects_unknown_format(tmp_path) -> None:
    with pytest.raises(ValueError, match="file_format"):
        generate(tmp_path / "raw", tmp_path / "truth", people=10, file_format="json")


def test_wecom_contacts_are_wechat_users_followed_by_staff(tables) -> None:
    contacts, users = tables["wecom_external_contacts"], tables["miniprogram_users"]
    assert len(contacts) > 0
    # Every contact's unionid is a WeChat user's; one customer keeps one external_userid.
    assert set(contacts.unionid.dropna()) <= set(users.unionid.dropna())
    assert contacts.groupby("external_userid").unionid.nunique().max() <= 1
    assert contacts.follow_userid.notna().all() and contacts.external_userid.str.startswith("wm").all()
