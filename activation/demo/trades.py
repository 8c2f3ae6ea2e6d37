"""Orders, order lines and redeemed coupons, driven by each persona's purchase cycle.

Dates are counted in local days before end_date ("days ago"); a persona fixes the buyer's cycle
(days between orders), recency (days since the last order) and span (first to last order), so
that lifecycle stages and churn warnings computed as of end_date come out as simulated:

| persona    | cycle (days) | last order (days ago)        | expected stage / warning           |
|------------|--------------|------------------------------|------------------------------------|
| new        | -            | 0-30, registered <= 30 ago   | new (30% with a second order)      |
| growth     | 7-11         | 0-10, or 21-30 (30%)         | growth; 21-30 -> growth_lapse      |
| high_value | 16-25, big   | 0-12, or 15-25 (30%)         | mature; 15-25 -> high_value_lapse  |
| mature     | 20-45        | within one cycle             | mature                             |
| dormant    | 20-26        | 80-150                       | dormant                            |
| churned    | 15-30        | 190-700                      | churned                            |

Cancelled orders are extra attempts placed shortly before a real purchase on the same day, and a
buyer gets at most one full refund, on a middle order of a history of eight orders or more, so
the recency and cycle measured from paid (even non-refunded) orders are what the table says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from activation.demo import catalog as cat
from activation.demo.customers import (
    CHURNED, DORMANT, GROWTH, HIGH_VALUE, K_OA, K_POS, KIND_ORDER_CHANNEL, KIND_ORDER_WEIGHT,
    MATURE, NEW, PERSONAS, PROSPECT, People, Records, World,
)
from activation.demo.encode import (
    US_PER_DAY, US_PER_SECOND, local_to_utc_us, rank_within_groups, weighted_choice,
)

HISTORY_DAYS = 730
ORDER_STATUSES = ("paid", "shipped", "completed", "cancelled", "refunded")
ST_PAID, ST_SHIPPED, ST_COMPLETED, ST_CANCELLED, ST_REFUNDED = range(len(ORDER_STATUSES))

ANONYMOUS_PER_IDENTIFIED_POS_ORDER = 0.5   # anonymous walk-ins are about a third of till orders
CANCEL_SHARE = {"online": 0.03, "pos": 0.005}
FULL_REFUND_SHARE = 0.025
PARTIAL_REFUND_SHARE = 0.02
CAMPAIGN_COUPON_USE_SHARE = 0.35            # of eligible orders during a campaign
STORE_COUPON_SHARE = 0.02                   # till coupons outside any campaign
STORE_COUPON = ("cash", 500, 5000, 30)      # type, face cents, min spend cents, valid days
PROMO_SHARE = 0.20
LINE_COUNT_WEIGHTS = {"regular": (0.45, 0.30, 0.15, 0.10), "big": (0.10, 0.30, 0.30, 0.30)}
QUANTITY_WEIGHTS = {"regular": (0.75, 0.18, 0.07), "big": (0.50, 0.30, 0.20)}
PREFERRED_LEAF_SHARE = 0.65
COUPON_TYPES = ("cash", "percent", "shipping")


@dataclass
class Orders:
    # one entry per order
    person: np.ndarray       # -1 for anonymous walk-ins
    record: np.ndarray       # unified record row, -1 for anonymous
    channel: np.ndarray
    store: np.ndarray
    day: np.ndarray          # local day
    ordered_us: np.ndarray
    paid_us: np.ndarray
    paid: np.ndarray         # bool: paid_at is set
    status: np.ndarray
    gross: np.ndarray        # cents
    discount: np.ndarray
    paid_amount: np.ndarray
    refund: np.ndarray
    coupon: np.ndarray       # row in `coupons`, -1 when none
    # one entry per line (grouped by order)
    line_order: np.ndarray
    line_number: np.ndarray
    line_product: np.ndarray
    line_quantity: np.ndarray
    line_unit: np.ndarray
    line_amount: np.ndarray
    first_line: np.ndarray   # per order: index of its first line
    # redeemed coupons (issued and used on these orders)
    coupons: dict


def _persona_schedule(rng: np.random.Generator, people: People):
    """Per buyer: cycle, days since last order, span, and the new members' registration age."""
    buyers = np.flatnonzero(people.persona != PROSPECT)
    persona = people.persona[buyers]
    size = buyers.size
    u = rng.random((size, 4))
    cycle = np.zeros(size)
    recency = np.zeros(size, dtype=np.int64)
    span = np.zeros(size)
    lapsed = np.zeros(size, dtype=bool)

    def days(low, high, draw):  # integer days in [low, high]
        return (low + np.floor(draw * (high - low + 1))).astype(np.int64)

    here = persona == GROWTH
    cycle[here] = 7 + 4 * u[here, 0]
    lapsed[here] = u[here, 1] < 0.3
    recency[here] = np.where(lapsed[here], days(21, 30, u[here, 2]), days(0, 10, u[here, 2]))
    span[here] = 60 + 180 * u[here, 3]

    here = persona == HIGH_VALUE
    cycle[here] = 16 + 9 * u[here, 0]
    lapsed[here] = u[here, 1] < 0.3
    recency[here] = np.where(lapsed[here], days(15, 25, u[here, 2]), days(0, 12, u[here, 2]))
    span[here] = 240 + 460 * u[here, 3]

    here = persona == MATURE
    cycle[here] = 20 + 25 * u[here, 0]
    recency[here] = np.floor(np.minimum(cycle[here], 40) * u[here, 2]).astype(np.int64)
    span[here] = 150 + 550 * u[here, 3]

    here = persona == DORMANT
    cycle[here] = 20 + 6 * u[here, 0]
    recency[here] = days(80, 150, u[here, 2])
    span[here] = 60 + 340 * u[here, 3]

    here = persona == CHURNED
    cycle[here] = 15 + 15 * u[here, 0]
    recency[here] = days(190, 700, u[here, 2])
    span[here] = np.where(u[here, 1] < 0.4, 0, 300 * u[here, 3])

    # New members: registered 1-30 days ago, first order since, 30% already have a second one.
    here = persona == NEW
    registered_ago = days(1, 30, u[here, 0])
    recency[here] = np.floor(u[here, 2] * (registered_ago + 1)).astype(np.int64)
    span[here] = np.where(u[here, 1] < 0.3, np.floor((registered_ago - recency[here]) * u[here, 3]), 0)
    cycle[here] = span[here]  # the gap to the earlier order
    new_registered_ago = np.zeros(size, dtype=np.int64)
    new_registered_ago[here] = registered_ago

    count = 1 + np.floor(span / np.maximum(cycle, 1e-9)).astype(np.int64)
    count[here] = np.where(span[here] >= 1, 2, 1)
    return buyers, cycle, recency, count, lapsed, new_registered_ago


def build_orders(rng: np.random.Generator, world: World, people: People, records: Records) -> Orders:
    catalog = world.catalog
    buyers, cycle, recency, count, lapsed, new_registered_ago = _persona_schedule(rng, people)

    # Days ago of every order, last order first within each buyer.
    owner_slot = np.repeat(np.arange(buyers.size), count)
    back_rank = rank_within_groups(count)
    is_new = people.persona[buyers][owner_slot] == NEW
    gap = np.where(back_rank == 0, 0.0, cycle[owner_slot] * rng.uniform(0.85, 1.15, owner_slot.size))
    gap[is_new & (back_rank > 0)] = cycle[owner_slot][is_new & (back_rank > 0)]
    cumulative = np.cumsum(gap)
    group_start = np.cumsum(count) - count
    days_ago = recency[owner_slot] + cumulative - np.repeat(cumulative[group_start] - gap[group_start], count)
    days_ago = np.rint(days_ago).astype(np.int64)
    keep = days_ago < HISTORY_DAYS  # history starts two years back
    owner_slot, back_rank, days_ago = owner_slot[keep], back_rank[keep], days_ago[keep]
    kept_count = np.bincount(owner_slot, minlength=buyers.size)
    owner = buyers[owner_slot]
    # A full refund may only hit a middle order of a long history (see the module docstring).
    refundable = (back_rank > 0) & (back_rank < kept_count[owner_slot] - 1) & (kept_count[owner_slot] >= 8)
    # Chronological rank from the first order, to spread first orders over the buyer's records.
    forward_rank = kept_count[owner_slot] - 1 - back_rank

    # Expected outcome per person (truth), and the first contact with the brand.
    persona = people.persona
    expected = np.array(PERSONAS)[persona].astype("U16")
    expected[persona == HIGH_VALUE] = "mature"
    people.flags["expected_lifecycle"] = expected
    warning = np.full(people.n, "", dtype="U20")
    warning[buyers[lapsed & (persona[buyers] == GROWTH)]] = "growth_lapse"
    warning[buyers[lapsed & (persona[buyers] == HIGH_VALUE)]] = "high_value_lapse"
    people.flags["expected_warning"] = warning
    first_day = np.full(people.n, world.end_day, dtype=np.int64)
    np.minimum.at(first_day, owner, world.end_day - days_ago)
    base_day = np.where(persona == PROSPECT,
                        world.start_day - 200 + rng.integers(0, HISTORY_DAYS + 200 - 1, people.n),
                        first_day - rng.integers(0, 46, people.n))
    base_day[people.openid_only] = world.end_day - rng.integers(1, 120, people.openid_only.sum())
    base_day[buyers[new_registered_ago > 0]] = world.end_day - new_registered_ago[new_registered_ago > 0]
    people.base_day = np.minimum(base_day, first_day)

    # Which record each order was placed with.
    purchasable = np.flatnonzero(records.kind != K_OA)
    purchasable = purchasable[np.lexsort((records.kind[purchasable], records.person[purchasable]))]
    rec_person = records.person[purchasable]
    rec_weight = KIND_ORDER_WEIGHT[records.kind[purchasable]]
    per_person = np.bincount(rec_person, minlength=people.n)
    start_of = np.cumsum(per_person) - per_person
    weight_cum = np.cumsum(rec_weight)
    weight_before = weight_cum[start_of] - rec_weight[start_of]
    weight_total = np.bincount(rec_person, weights=rec_weight, minlength=people.n)
    target = weight_before[owner] + rng.random(owner.size) * weight_total[owner]
    picked = np.searchsorted(weight_cum, target, side="right")
    picked = np.clip(picked, start_of[owner], start_of[owner] + per_person[owner] - 1)
    # The first orders rotate through all of the buyer's records, so every marketplace buyer
    # record really has an order.
    shift = rng.integers(0, 4, people.n)
    rotate = forward_rank < per_person[owner]
    picked[rotate] = (start_of[owner] + (forward_rank + shift[owner]) % per_person[owner])[rotate]
    record = purchasable[picked]
    kind = records.kind[record]
    channel = np.array(KIND_ORDER_CHANNEL)[kind]

    # Store: the record's store most of the time (home store for members), any store otherwise.
    store = np.empty(owner.size, dtype=np.int64)
    offline = channel == cat.CH_POS
    pos_store = np.full(records.kind.size, -1, dtype=np.int64)
    pos_store[records.rows(K_POS)] = records.cols[K_POS]["store"]
    usual = np.where(kind == K_POS, pos_store[record], people.home_store[owner])
    elsewhere = rng.random(owner.size) < 0.15
    store[offline] = np.where(elsewhere, rng.integers(0, cat.PHYSICAL_STORE_COUNT, owner.size), usual)[offline]
    for channel_code, shop in cat.ONLINE_SHOP_INDEX.items():
        store[channel == cat.ORDER_CHANNELS.index(channel_code)] = shop

    # Cancelled orders come on top of the purchases: placed a little earlier the same day, then
    # cancelled (the buyer changed the basket, or the payment failed) and placed again.
    cancel_share = np.where(offline, CANCEL_SHARE["pos"], CANCEL_SHARE["online"])
    retried = np.flatnonzero(rng.random(owner.size) < cancel_share)
    identified = owner.size + retried.size
    owner = np.concatenate([owner, owner[retried]])
    record = np.concatenate([record, record[retried]])
    channel = np.concatenate([channel, channel[retried]])
    store = np.concatenate([store, store[retried]])
    days_ago = np.concatenate([days_ago, days_ago[retried]])
    refundable = np.concatenate([refundable, np.zeros(retried.size, dtype=bool)])
    offline = channel == cat.CH_POS

    # Anonymous walk-ins at the tills.
    anonymous = int(np.floor(offline.sum() * ANONYMOUS_PER_IDENTIFIED_POS_ORDER + rng.random()))
    guarantee_today = people.start == 0  # one order on end_date, so "latest order day" = end_date
    anonymous = max(anonymous, int(guarantee_today))
    anon_days = rng.integers(0, HISTORY_DAYS, anonymous)
    if guarantee_today:
        anon_days[0] = 0

    person = np.concatenate([owner, np.full(anonymous, -1)])
    record = np.concatenate([record, np.full(anonymous, -1)])
    channel = np.concatenate([channel, np.full(anonymous, cat.CH_POS)])
    store = np.concatenate([store, rng.integers(0, cat.PHYSICAL_STORE_COUNT, anonymous)])
    days_ago = np.concatenate([days_ago, anon_days])
    refundable = np.concatenate([refundable, np.ones(anonymous, dtype=bool)])
    big = np.concatenate([persona[owner] == HIGH_VALUE, np.zeros(anonymous, dtype=bool)])
    count = person.size
    offline = channel == cat.CH_POS

    # Local time of day: tills 10:00-21:30, online mostly in the evening.
    second = np.where(offline, rng.integers(10 * 3600, 21 * 3600 + 1800, count),
                      np.where(rng.random(count) < 0.6, rng.integers(19 * 3600, 86_400, count),
                               rng.integers(8 * 3600, 19 * 3600, count)))
    # The retried orders' first attempt: up to three hours earlier, same day.
    first_attempt = owner.size - retried.size + np.arange(retried.size)
    second[first_attempt] = np.maximum(second[retried] - rng.integers(300, 3 * 3600, retried.size), 0)
    cancelled = np.zeros(count, dtype=bool)
    cancelled[first_attempt] = True
    if guarantee_today:
        second[identified] = 12 * 3600
        refundable[identified] = False
    day = world.end_day - days_ago
    ordered_us = local_to_utc_us(day, second)

    # Lines and amounts.
    line_count = 1 + np.where(big, weighted_choice(rng, LINE_COUNT_WEIGHTS["big"], count),
                              weighted_choice(rng, LINE_COUNT_WEIGHTS["regular"], count))
    line_order = np.repeat(np.arange(count), line_count)
    line_number = rank_within_groups(line_count) + 1
    lines = line_order.size
    line_big = big[line_order]
    line_person = person[line_order]
    preferred = (line_person >= 0) & (rng.random(lines) < PREFERRED_LEAF_SHARE)
    leaf = np.where(preferred, people.pref_leaves[np.maximum(line_person, 0), rng.integers(0, 2, lines)],
                    rng.integers(0, catalog.leaf_count, lines))
    position = np.where(line_big & (rng.random(lines) < 0.7), rng.integers(5, cat.PRODUCTS_PER_LEAF, lines),
                        rng.integers(0, cat.PRODUCTS_PER_LEAF, lines))
    product = leaf * cat.PRODUCTS_PER_LEAF + position
    not_yet_launched = catalog.product_launch_day[product] > day[line_order]
    fallback = cat.OLD_PRODUCT_POSITIONS[rng.integers(0, cat.OLD_PRODUCT_POSITIONS.size, lines)]
    product = np.where(not_yet_launched, leaf * cat.PRODUCTS_PER_LEAF + fallback, product)
    quantity = 1 + np.where(line_big, weighted_choice(rng, QUANTITY_WEIGHTS["big"], lines),
                            weighted_choice(rng, QUANTITY_WEIGHTS["regular"], lines))
    unit = catalog.product_price_cents[product]
    line_gross = quantity * unit
    first_line = np.cumsum(line_count) - line_count
    gross = np.add.reduceat(line_gross, first_line)

    # Status: cancellations (anonymous ones too), refunds (at most one full refund per buyer).
    online = ~offline
    anonymous_order = person < 0
    cancelled |= anonymous_order & (rng.random(count) < CANCEL_SHARE["pos"])
    full_refund = refundable & ~cancelled & (rng.random(count) < FULL_REFUND_SHARE)
    candidates = np.flatnonzero(full_refund & ~anonymous_order)
    _, first_per_buyer = np.unique(person[candidates], return_index=True)
    full_refund[candidates] = False
    full_refund[candidates[first_per_buyer]] = True
    partial_refund = (~cancelled & ~full_refund & (line_count >= 2)
                      & (rng.random(count) < PARTIAL_REFUND_SHARE))

    # Coupons redeemed on the order (campaign coupons during campaigns, a few till coupons).
    coupon_campaign = np.full(count, -2)  # -2 none, -1 till coupon, k campaign index
    eligible_base = (person >= 0) & ~cancelled
    for k, scheduled in enumerate(world.campaigns):
        campaign = scheduled.campaign
        usable = np.isin(channel, [cat.ORDER_CHANNELS.index(c) for c in campaign.usable_channels])
        in_window = (day >= scheduled.start_day) & (day <= scheduled.end_day)
        enough = gross >= round(campaign.min_spend * 100)
        chosen = (eligible_base & usable & in_window & enough & (coupon_campaign == -2)
                  & (rng.random(count) < CAMPAIGN_COUPON_USE_SHARE))
        coupon_campaign[chosen] = k
    till = (eligible_base & offline & (coupon_campaign == -2) & (gross >= STORE_COUPON[2])
            & (rng.random(count) < STORE_COUPON_SHARE))
    coupon_campaign[till] = -1

    coupon_type = np.full(count, -1)
    face = np.zeros(count, dtype=np.int64)
    min_spend = np.zeros(count, dtype=np.int64)
    valid_days = np.zeros(count, dtype=np.int64)
    for k, scheduled in enumerate(world.campaigns):
        here = coupon_campaign == k
        campaign = scheduled.campaign
        coupon_type[here] = COUPON_TYPES.index(campaign.coupon_type)
        face[here] = round(campaign.face_value * 100)
        min_spend[here] = round(campaign.min_spend * 100)
        valid_days[here] = campaign.valid_days
    coupon_type[till] = COUPON_TYPES.index(STORE_COUPON[0])
    face[till], min_spend[till], valid_days[till] = STORE_COUPON[1], STORE_COUPON[2], STORE_COUPON[3]

    coupon_discount = np.where(coupon_type == 0, face,
                               np.where(coupon_type == 1, np.rint(gross * face / 10_000).astype(np.int64), 0))
    promo = (coupon_type < 0) & (rng.random(count) < PROMO_SHARE)
    promo_discount = np.where(promo, np.rint(gross * rng.uniform(0.05, 0.15, count)).astype(np.int64), 0)
    discount = np.minimum(coupon_discount + promo_discount, gross // 2)
    paid_amount = gross - discount

    # Spread the discount over the lines; the rounding remainder goes to the first line.
    line_discount = line_gross * discount[line_order] // np.maximum(gross[line_order], 1)
    remainder = discount - np.add.reduceat(line_discount, first_line)
    line_discount[first_line] += remainder
    line_amount = line_gross - line_discount

    last_line = first_line + line_count - 1
    refund = np.where(full_refund, paid_amount, np.where(partial_refund, line_amount[last_line], 0))

    status = np.full(count, ST_COMPLETED)
    recent = online & (days_ago <= 2)
    status[recent] = np.where(rng.random(recent.sum()) < 0.5, ST_PAID, ST_SHIPPED)
    shipping = online & (days_ago > 2) & (days_ago <= 6) & (rng.random(count) < 0.4)
    status[shipping] = ST_SHIPPED
    status[full_refund] = ST_REFUNDED
    status[cancelled] = ST_CANCELLED
    paid = ~cancelled
    paid_delay = np.where(offline, rng.integers(0, 60, count), rng.integers(5, 600, count))
    paid_us = np.minimum(ordered_us + paid_delay * US_PER_SECOND, world.end_us)

    # Redeemed coupons: issued to the buyer's record shortly before the order.
    with_coupon = np.flatnonzero(coupon_campaign != -2)
    campaign_index = coupon_campaign[with_coupon]
    campaign_start_us = np.array([local_to_utc_us(s.start_day, 0) for s in world.campaigns] + [0],
                                 dtype=np.int64)[campaign_index]  # [-1] is the till coupon: no start
    lead = np.where(campaign_index >= 0, rng.integers(0, 5 * 86_400, with_coupon.size),
                    rng.integers(0, 3 * 86_400, with_coupon.size)) * US_PER_SECOND
    issued_us = np.maximum(ordered_us[with_coupon] - lead, campaign_start_us)
    issued_us = np.minimum(issued_us, ordered_us[with_coupon])
    coupons = {
        "order": with_coupon,
        "campaign": campaign_index,
        "type": coupon_type[with_coupon],
        "face": face[with_coupon],
        "min_spend": min_spend[with_coupon],
        "record": record[with_coupon],
        "channel": channel[with_coupon],
        "issued_us": issued_us,
        "expires_us": issued_us + valid_days[with_coupon] * US_PER_DAY,
        "redeemed_us": paid_us[with_coupon],
        "discount": coupon_discount[with_coupon],
    }
    coupon = np.full(count, -1)
    coupon[with_coupon] = np.arange(with_coupon.size)

    # Per record: the first order placed with it (drives registration times).
    first_order = np.full(records.kind.size, np.iinfo(np.int64).max, dtype=np.int64)
    identified = record >= 0
    np.minimum.at(first_order, record[identified], ordered_us[identified])
    records.first_order_us = np.where(first_order == np.iinfo(np.int64).max, -1, first_order)
    people.flags["order_count"] = np.bincount(person[identified & paid], minlength=people.n)  # paid orders
    last_days = np.full(people.n, HISTORY_DAYS * 10)
    np.minimum.at(last_days, owner, days_ago[: owner.size])
    people.flags["last_order_days_ago"] = np.where(last_days < HISTORY_DAYS * 10, last_days, -1)

    return Orders(person, record, channel, store, day, ordered_us, paid_us, paid, status, gross, discount,
                  paid_amount, refund, coupon, line_order, line_number, product, quantity, unit, line_amount,
                  first_line, coupons)
