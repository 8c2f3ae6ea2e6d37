"""Deterministic, streaming demo data: a synthetic brand written to the landing contract.

    generate(Path("data/raw"), Path("data/truth"), people=10_000, seed=7)

writes one folder per landing table (docs/landing-contract.md) and, outside the warehouse, the
ground truth that One ID is tested against:

- truth/person_records.parquet: source_system, source_record_id, person_id (one row per customer
  source record);
- truth/persons.parquet: each person's true identifiers and attributes, the persona simulated
  (with the lifecycle stage and churn warning it should produce) and the trap flags.

People are generated in fixed chunks of CHUNK_PEOPLE, each with its own random generator seeded
by (seed, chunk index), and appended to the files chunk by chunk, so memory stays flat and the
output depends only on (people, seed, end_date). See activation/demo/ for how each part is made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from activation.demo import catalog as cat
from activation.demo.behaviour import EVENT_TYPES, build_events
from activation.demo.customers import (
    KIND_SOURCE_SYSTEM, World, assign_record_times, build_people, build_records, customer_tables,
    date_recycled_numbers, identity_link_columns, trap_totals, truth_columns,
)
from activation.demo.encode import (
    arrow_dates, arrow_money, arrow_strings, arrow_take, arrow_timestamps, digit_matrix,
    local_to_utc_us, matrix_to_arrow, sequence_ids,
)
from activation.demo.marketing import CONSENT_CHANNELS, consent_events, suppressions, unused_campaign_coupons
from activation.demo.sink import LANDING_SCHEMAS, TableSink, open_sinks
from activation.demo.trades import COUPON_TYPES, ORDER_STATUSES, build_orders

__all__ = ["generate", "CHUNK_PEOPLE", "LANDING_TABLES"]

# Fixed, so that the output never depends on how much memory the machine has.
CHUNK_PEOPLE = 25_000
LANDING_TABLES = tuple(LANDING_SCHEMAS)
FILE_FORMATS = ("parquet", "csv")


def generate(raw_dir: Path, truth_dir: Path, people: int = 10_000, seed: int = 7,
             end_date: date = date(2026, 10, 31), file_format: str = "parquet",
             progress: Callable[[int], None] | None = None) -> dict:
    """Write a synthetic brand into raw_dir (one folder per landing table) and the ground truth
    into truth_dir. Returns counts per table."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FILE_FORMATS)}, got {file_format!r}")
    if people < 1:
        raise ValueError(f"people must be at least 1, got {people}")
    world = _make_world(seed, people, end_date)
    sinks, truth = open_sinks(Path(raw_dir), Path(truth_dir), file_format)
    try:
        _write_reference_tables(world, sinks)
        counters = {"event": 0, "link": 0, "consent": 0, "coupon": 0, "points": 0, "suppression": 0,
                    **{f"order_{channel}": 0 for channel in cat.ORDER_CHANNELS}}
        campaign_touches = np.zeros(len(world.campaigns), dtype=np.int64)
        campaign_redeemed_cents = np.zeros(len(world.campaigns), dtype=np.int64)
        for chunk_index, start in enumerate(range(0, people, CHUNK_PEOPLE)):
            size = min(CHUNK_PEOPLE, people - start)
            rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, chunk_index])
            # The points ledger, the suppression list, the WeCom contacts and the recycled numbers
            # draw from their own streams, so the other tables stay as they were.
            points_rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, chunk_index, 1])
            suppression_rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, chunk_index, 2])
            contacts_rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, chunk_index, 3])
            trap_rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, chunk_index, 4])
            _write_chunk(rng, world, start, size, sinks, truth, counters,
                         campaign_touches, campaign_redeemed_cents, points_rng, suppression_rng,
                         contacts_rng, trap_rng)
            if progress is not None:
                progress(start + size)
        _write_campaigns(world, sinks["campaigns"], campaign_touches, campaign_redeemed_cents)
        # feedback_events: destinations report on one_ids, which only the warehouse knows; the
        # file still exists (empty, with its schema) so that the dbt source resolves.
    finally:
        for sink in list(sinks.values()) + list(truth.values()):
            sink.close()
    return {table: sinks[table].rows for table in LANDING_TABLES}


def _make_world(seed: int, people: int, end_date: date) -> World:
    epoch = date(1970, 1, 1).toordinal()
    end_day = end_date.toordinal() - epoch
    start_day = end_day - 729  # two years of history, end_date included
    return World(
        seed=seed, people=people, start_day=start_day, end_day=end_day,
        end_us=int(local_to_utc_us(end_day + 1, 0)) - 1,
        catalog=cat.build_catalog(seed, start_day), salts=cat.id_salts(seed),
        traps=trap_totals(people), campaigns=cat.schedule_campaigns(end_date),
    )


def _write_reference_tables(world: World, sinks: dict[str, TableSink]) -> None:
    c = world.catalog
    sinks["categories"].write({
        "category_id": arrow_strings(c.category_ids),
        "category_name": arrow_strings(c.category_names),
        "parent_category_id": arrow_strings(c.category_parents, c.category_parents != ""),
        "category_level": pa.array(c.category_levels, pa.int32()),
    })
    sinks["products"].write({
        "product_id": arrow_strings(c.product_ids),
        "product_name": arrow_strings(c.product_names),
        "category_id": arrow_strings(c.leaf_category_ids[c.product_leaf]),
        "brand_name": arrow_strings(c.product_brands),
        "list_price": arrow_money(c.product_price_cents),
        "is_active": pa.array(c.product_active),
        "launched_date": arrow_dates(c.product_launch_day),
    })
    physical = c.store_channels == "pos"
    sinks["stores"].write({
        "store_id": arrow_strings(c.store_ids),
        "store_name": arrow_strings(c.store_names),
        "channel": arrow_strings(c.store_channels),
        "province": arrow_strings(c.store_provinces, physical),
        "city": arrow_strings(c.store_cities, physical),
        "store_phone": arrow_strings(c.store_phones, physical),
        "opened_date": arrow_dates(c.store_opened_day),
    })


def _take(values: pa.Array, index: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """values[index], null where not valid (index is ignored there)."""
    index = np.asarray(index, dtype=np.int64)
    if valid is None:
        return values.take(pa.array(index))
    return values.take(pa.array(np.where(valid, index, 0), mask=~np.asarray(valid, dtype=bool)))


def _write_chunk(rng, world: World, start: int, size: int, sinks, truth, counters,
                 campaign_touches, campaign_redeemed_cents, points_rng, suppression_rng,
                 contacts_rng, trap_rng) -> None:
    catalog = world.catalog
    people = build_people(rng, world, start, size)
    records, link_specs = build_records(rng, world, people, trap_rng)
    orders = build_orders(rng, world, people, records)
    assign_record_times(rng, world, people, records)
    date_recycled_numbers(trap_rng, world, people, records)

    customers = customer_tables(rng, world, people, records)
    for table, columns in customers.items():
        sinks[table].write(columns)
    _write_wecom_contacts(contacts_rng, world, sinks["wecom_external_contacts"], customers["miniprogram_users"])
    links = identity_link_columns(rng, world, records, link_specs, counters["link"])
    if links:
        sinks["identity_links"].write(links)
        counters["link"] += len(links["link_id"])

    # Source record keys, looked up by unified record row.
    record_ids = arrow_strings(records.record_id)
    record_systems = arrow_take(KIND_SOURCE_SYSTEM, records.kind)

    consent = consent_events(rng, world, records)
    count = consent["record"].size
    sinks["marketing_consent"].write({
        "consent_event_id": sequence_ids("cs", counters["consent"], count),
        "source_system": _take(record_systems, consent["record"]),
        "source_record_id": _take(record_ids, consent["record"]),
        "channel": arrow_take(CONSENT_CHANNELS, consent["channel"]),
        "consent_status": arrow_take(("granted", "revoked"), consent["status"]),
        "recorded_at": arrow_timestamps(consent["recorded_us"]),
    })
    counters["consent"] += count

    # Orders: ids are the channel and a running number per channel.
    n_orders = orders.person.size
    sequence = np.zeros(n_orders, dtype=np.int64)
    for code, channel in enumerate(cat.ORDER_CHANNELS):
        here = orders.channel == code
        sequence[here] = counters[f"order_{channel}"] + np.arange(here.sum())
        counters[f"order_{channel}"] += int(here.sum())
    order_ids = pc.binary_join_element_wise(
        arrow_take([f"{channel}-" for channel in cat.ORDER_CHANNELS], orders.channel),
        matrix_to_arrow(digit_matrix(sequence + 1, 10)), "")

    # Coupons: the redeemed ones first (their ids go on the orders), then the unused ones.
    redeemed = orders.coupons
    unused = unused_campaign_coupons(rng, world, people, records, consent)
    n_redeemed, n_unused = redeemed["order"].size, unused["record"].size
    coupon_ids = sequence_ids("cp", counters["coupon"], n_redeemed + n_unused)
    counters["coupon"] += n_redeemed + n_unused
    campaigns = [scheduled.campaign for scheduled in world.campaigns]
    unused_type = np.array([COUPON_TYPES.index(c.coupon_type) for c in campaigns])[unused["campaign"]]
    unused_face = np.array([round(c.face_value * 100) for c in campaigns], dtype=np.int64)[unused["campaign"]]
    unused_min = np.array([round(c.min_spend * 100) for c in campaigns], dtype=np.int64)[unused["campaign"]]
    campaign_of = np.concatenate([redeemed["campaign"], unused["campaign"]])
    coupon_record = np.concatenate([redeemed["record"], unused["record"]])
    sinks["coupons_issued"].write({
        "coupon_id": coupon_ids,
        "campaign_id": arrow_take([s.campaign_id for s in world.campaigns], np.maximum(campaign_of, 0),
                                  campaign_of >= 0),
        "coupon_type": arrow_take(COUPON_TYPES, np.concatenate([redeemed["type"], unused_type])),
        "face_value": arrow_money(np.concatenate([redeemed["face"], unused_face])),
        "min_spend": arrow_money(np.concatenate([redeemed["min_spend"], unused_min])),
        "source_system": _take(record_systems, coupon_record),
        "source_record_id": _take(record_ids, coupon_record),
        "channel": arrow_take(cat.ORDER_CHANNELS, np.concatenate([redeemed["channel"], unused["channel"]])),
        "issued_at": arrow_timestamps(np.concatenate([redeemed["issued_us"], unused["issued_us"]])),
        "expires_at": arrow_timestamps(np.concatenate([redeemed["expires_us"], unused["expires_us"]])),
    })
    sinks["coupons_redeemed"].write({
        "coupon_id": coupon_ids.slice(0, n_redeemed),
        "order_id": _take(order_ids, redeemed["order"]),
        "redeemed_at": arrow_timestamps(redeemed["redeemed_us"]),
    })
    in_campaign = campaign_of >= 0
    campaign_touches += np.bincount(campaign_of[in_campaign], minlength=campaign_touches.size)
    from_campaign = redeemed["campaign"] >= 0
    campaign_redeemed_cents += np.bincount(redeemed["campaign"][from_campaign],
                                           weights=redeemed["discount"][from_campaign],
                                           minlength=campaign_touches.size).astype(np.int64)

    identified = orders.record >= 0
    has_coupon = orders.coupon >= 0
    sinks["orders"].write({
        "order_id": order_ids,
        "channel": arrow_take(cat.ORDER_CHANNELS, orders.channel),
        "store_id": arrow_take(catalog.store_ids, orders.store),
        "customer_source_system": _take(record_systems, orders.record, identified),
        "customer_source_record_id": _take(record_ids, orders.record, identified),
        "order_status": arrow_take(ORDER_STATUSES, orders.status),
        "ordered_at": arrow_timestamps(orders.ordered_us),
        "paid_at": arrow_timestamps(orders.paid_us, orders.paid),
        "gross_amount": arrow_money(orders.gross),
        "discount_amount": arrow_money(orders.discount),
        "paid_amount": arrow_money(orders.paid_amount),
        "refund_amount": arrow_money(orders.refund),
        "coupon_id": _take(coupon_ids, orders.coupon, has_coupon),
        "currency": pa.array(np.full(n_orders, "CNY")),
    })
    sinks["order_lines"].write({
        "order_id": _take(order_ids, orders.line_order),
        "line_number": pa.array(orders.line_number.astype(np.int32)),
        "product_id": arrow_take(catalog.product_ids, orders.line_product),
        "quantity": pa.array(orders.line_quantity.astype(np.int32)),
        "unit_price": arrow_money(orders.line_unit),
        "line_amount": arrow_money(orders.line_amount),
    })

    _write_points(points_rng, world, sinks["points_transactions"], records, orders, record_ids,
                  order_ids, counters)

    events = build_events(rng, world, people, records, orders)
    count = events["record"].size
    sinks["behavior_events"].write({
        "event_id": sequence_ids("ev", counters["event"], count),
        "source_system": _take(record_systems, events["record"]),
        "source_record_id": _take(record_ids, events["record"]),
        "channel": arrow_take(cat.ORDER_CHANNELS, events["channel"]),
        "event_type": arrow_take(EVENT_TYPES, events["type"]),
        "product_id": arrow_take(catalog.product_ids, events["product"], events["has_product"]),
        "category_id": arrow_take(catalog.leaf_category_ids, events["leaf"], events["has_category"]),
        "search_term": arrow_strings(events["search_term"].astype(str), events["has_search_term"]),
        "occurred_at": arrow_timestamps(events["occurred_us"]),
    })
    counters["event"] += count

    _write_suppressions(suppression_rng, world, sinks["suppression_list"], people, counters)

    person_records, persons = truth_columns(people, records)
    truth["person_records"].write(person_records)
    truth["persons"].write(persons)


def _write_points(rng, world: World, sink: TableSink, records, orders, record_ids, order_ids,
                  counters) -> None:
    """The loyalty points ledger: a CRM member earns a point per whole yuan paid on the orders
    placed with their member record; about a third of those earnings are later half redeemed,
    7 to 60 days on (when that is before the end of the data)."""
    crm_kind = KIND_SOURCE_SYSTEM.index("crm")
    buyer = np.maximum(orders.record, 0)
    earning = np.flatnonzero(orders.paid & (orders.record >= 0) & (records.kind[buyer] == crm_kind)
                             & (orders.paid_amount >= 100))
    earned = (orders.paid_amount[earning] // 100).astype(np.int64)
    redeem = rng.random(earning.size) < 0.3
    redeem_us = orders.paid_us[earning] + rng.integers(7, 61, earning.size) * 86_400 * 1_000_000
    redeem &= redeem_us <= world.end_us
    order_rows = np.concatenate([earning, earning[redeem]])
    count = order_rows.size
    if count == 0:
        return
    sink.write({
        "points_transaction_id": sequence_ids("pt", counters["points"], count),
        "member_id": _take(record_ids, orders.record[order_rows]),
        "transaction_type": pa.array(["earn"] * earning.size + ["redeem"] * int(redeem.sum())),
        "points": pa.array(np.concatenate([earned, -(earned[redeem] // 2 + 1)]).astype(np.int32)),
        "order_id": _take(order_ids, order_rows, np.arange(count) < earning.size),
        "occurred_at": arrow_timestamps(np.concatenate([orders.paid_us[earning], redeem_us[redeem]])),
    })
    counters["points"] += count


# Staff members who add customers in WeCom, and the contact-way QR codes they are added through.
WECOM_STAFF = ("store_manager", "beauty_advisor_li", "beauty_advisor_wang", "service_desk")
WECOM_STATES = ("store_qr", "parcel_card", "live_stream", "member_day_poster")


def _write_wecom_contacts(rng, world: World, sink: TableSink, miniprogram_users: dict[str, pa.Array]) -> None:
    """WeCom external contacts: about 40% of the WeChat users with a unionid were added by a
    staff member (a tenth of them by a second one too), some through a QR code with a state."""
    unionids = np.unique(np.asarray(miniprogram_users["unionid"].drop_null().to_numpy(zero_copy_only=False), dtype=str))
    unionids = unionids[rng.random(unionids.size) < 0.4]
    second = rng.random(unionids.size) < 0.1
    unionid = np.concatenate([unionids, unionids[second]])
    staff = rng.integers(0, len(WECOM_STAFF), unionid.size)
    # The second row: another staff member than the first.
    staff[unionids.size:] = (staff[:unionids.size][second] + 1) % len(WECOM_STAFF)
    # WeCom's id of the customer: the same whichever staff member added them.
    external = np.array(
        [f"wm{hashlib.sha256(f'{world.seed}:{value}'.encode()).hexdigest()[:20]}" for value in unionid], dtype=str
    )
    # Staff add customers every day: most contacts are recent, a few go back two years.
    days_ago = np.minimum(rng.exponential(60, unionid.size), 700)
    added_us = world.end_us - (days_ago * 86_400 * 1_000_000).astype(np.int64)
    has_state = rng.random(unionid.size) < 0.6
    sink.write({
        "external_userid": arrow_strings(external),
        "unionid": arrow_strings(unionid, rng.random(unionid.size) < 0.95),
        "follow_userid": arrow_strings(np.asarray(WECOM_STAFF)[staff]),
        "added_at": arrow_timestamps(added_us),
        "state": arrow_strings(np.asarray(WECOM_STATES)[rng.integers(0, len(WECOM_STATES), unionid.size)], has_state),
    })


def _write_suppressions(rng, world: World, sink: TableSink, people, counters) -> None:
    """The global suppression list (activation/demo/marketing.py: suppressions)."""
    rows = suppressions(rng, world, people)
    count = rows["reason"].size
    lifted = rows["lifted_us"] >= 0
    sink.write({
        "suppression_id": sequence_ids("sp", counters["suppression"], count),
        "identifier_type": arrow_strings(rows["identifier_type"]),
        "identifier_value": pa.array(rows["identifier_value"], pa.string()),
        "reason": arrow_strings(rows["reason"]),
        "channel": pa.array(rows["channel"], pa.string()),
        "suppressed_at": arrow_timestamps(rows["suppressed_us"]),
        "lifted_at": arrow_timestamps(np.maximum(rows["lifted_us"], 0), lifted),
    })
    counters["suppression"] += count


def _write_campaigns(world: World, sink: TableSink, touches: np.ndarray, redeemed_cents: np.ndarray) -> None:
    campaigns = [scheduled.campaign for scheduled in world.campaigns]
    fixed = np.array([round(c.fixed_cost * 100) for c in campaigns], dtype=np.int64)
    per_touch = np.array([round(c.cost_per_touch * 100 * 1000) for c in campaigns], dtype=np.int64)
    cost = fixed + touches * per_touch // 1000 + redeemed_cents
    sink.write({
        "campaign_id": arrow_strings([s.campaign_id for s in world.campaigns]),
        "campaign_name": arrow_strings([c.name for c in campaigns]),
        "channel": arrow_strings([c.channel for c in campaigns]),
        "audience_name": arrow_strings([c.audience_name for c in campaigns]),
        "started_at": arrow_timestamps(local_to_utc_us(np.array([s.start_day for s in world.campaigns]), 0)),
        "ended_at": arrow_timestamps(local_to_utc_us(np.array([s.end_day for s in world.campaigns]), 86_399)),
        "cost_amount": arrow_money(cost),
        "attribution_window_days": pa.array([c.attribution_window_days for c in campaigns], pa.int32()),
    })
