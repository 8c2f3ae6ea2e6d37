"""AIPL behaviour events on the mini program, official account, app and marketplace records.

Sessions follow funnels: awareness (ad_exposure, page_view, category_search) -> interest (ad_click,
home_page_visit, interaction, product_view, brand_search, follow, add_to_cart, favourite) ->
purchase (an order, not an event) -> loyalty (review, share after a purchase). Prospects stop at
awareness or interest; buyers browse now and then and usually look at what they buy first.
"""

from __future__ import annotations

import numpy as np

from activation.demo import catalog as cat
from activation.demo.customers import (
    FUNNEL_AWARENESS, FUNNEL_INTEREST, FUNNEL_NONE, K_APP, K_DOUYIN, K_JD, K_MP, K_OA, K_TMALL,
    KIND_ORDER_CHANNEL, PROSPECT, People, Records, World,
)
from activation.demo.encode import US_PER_DAY, US_PER_SECOND, rank_within_groups
from activation.demo.trades import Orders

EVENT_TYPES = ("ad_exposure", "page_view", "category_search", "ad_click", "home_page_visit", "interaction",
               "product_view", "brand_search", "follow", "add_to_cart", "favourite", "review", "share")
(AD_EXPOSURE, PAGE_VIEW, CATEGORY_SEARCH, AD_CLICK, HOME_PAGE_VISIT, INTERACTION, PRODUCT_VIEW,
 BRAND_SEARCH, FOLLOW, ADD_TO_CART, FAVOURITE, REVIEW, SHARE) = range(len(EVENT_TYPES))
# Events that concern a product (they carry product_id and its category).
PRODUCT_EVENTS = (AD_CLICK, PRODUCT_VIEW, ADD_TO_CART, FAVOURITE, REVIEW, SHARE)

AWARENESS_SESSIONS = ((AD_EXPOSURE,), (PAGE_VIEW,), (CATEGORY_SEARCH,), (AD_EXPOSURE, PAGE_VIEW),
                      (PAGE_VIEW, CATEGORY_SEARCH))
INTEREST_SESSIONS = ((AD_EXPOSURE, AD_CLICK, PRODUCT_VIEW), (PAGE_VIEW, HOME_PAGE_VISIT, PRODUCT_VIEW),
                     (BRAND_SEARCH, PRODUCT_VIEW, FAVOURITE), (HOME_PAGE_VISIT, INTERACTION),
                     (PAGE_VIEW, FOLLOW), (CATEGORY_SEARCH, PRODUCT_VIEW, ADD_TO_CART),
                     (PRODUCT_VIEW, FAVOURITE))
PRE_PURCHASE_SESSIONS = ((PAGE_VIEW, PRODUCT_VIEW, ADD_TO_CART), (AD_EXPOSURE, AD_CLICK, PRODUCT_VIEW, ADD_TO_CART),
                         (CATEGORY_SEARCH, PRODUCT_VIEW, FAVOURITE, ADD_TO_CART),
                         (BRAND_SEARCH, HOME_PAGE_VISIT, PRODUCT_VIEW, ADD_TO_CART), (PRODUCT_VIEW, ADD_TO_CART))
ARTICLE_SESSIONS = ((PAGE_VIEW,), (PAGE_VIEW, INTERACTION))  # official account: articles, no shop
TEMPLATES = AWARENESS_SESSIONS + INTEREST_SESSIONS + PRE_PURCHASE_SESSIONS + ARTICLE_SESSIONS + ((FOLLOW,),)
_AWARE = np.arange(len(AWARENESS_SESSIONS))
_INTEREST = _AWARE.size + np.arange(len(INTEREST_SESSIONS))
_PRE = _AWARE.size + _INTEREST.size + np.arange(len(PRE_PURCHASE_SESSIONS))
_ARTICLE = _AWARE.size + _INTEREST.size + _PRE.size + np.arange(len(ARTICLE_SESSIONS))
_FOLLOW = len(TEMPLATES) - 1
TEMPLATE_LENGTH = np.array([len(t) for t in TEMPLATES])
TEMPLATE_MATRIX = np.array([t + (-1,) * (TEMPLATE_LENGTH.max() - len(t)) for t in TEMPLATES])

ONLINE_KINDS = (K_TMALL, K_JD, K_DOUYIN, K_MP, K_OA, K_APP)
PRE_PURCHASE_SHARE = 0.6
REVIEW_SHARE, SHARE_SHARE = 0.12, 0.04
BROWSING_SESSIONS = {"buyer": 1.5, FUNNEL_AWARENESS: 2.5, FUNNEL_INTEREST: 3.0, "article": 1.5}
SEARCH_TERMS_EXTRA = np.array(["牛奶", "低糖", "礼盒", "早餐", "coffee", "坚果", "洗发水", "新品"])


def build_events(rng: np.random.Generator, world: World, people: People, records: Records,
                 orders: Orders) -> dict[str, np.ndarray]:
    catalog = world.catalog
    sessions = []  # each: record, start_us, template, product, step_us (sign: -1 = ends at start)

    # 1. Before online orders: a session that ends with the add-to-cart just before the order.
    online_order = np.flatnonzero((orders.record >= 0) & (orders.channel != cat.CH_POS))
    online_order = online_order[rng.random(online_order.size) < PRE_PURCHASE_SHARE]
    lead = rng.integers(60, 2 * 86_400, online_order.size) * US_PER_SECOND
    sessions.append({
        "record": orders.record[online_order],
        "end_us": orders.ordered_us[online_order] - lead,
        "template": _PRE[rng.integers(0, _PRE.size, online_order.size)],
        "product": orders.line_product[orders.first_line[online_order]],
    })

    # 2. Browsing, by how far each person got in the funnel.
    online_rows = np.flatnonzero(np.isin(records.kind, ONLINE_KINDS))
    kind = records.kind[online_rows]
    person = records.person[online_rows]
    prospect = people.persona[person] == PROSPECT
    funnel = people.funnel[person]
    rate = np.where(prospect, np.select([funnel == FUNNEL_AWARENESS, funnel == FUNNEL_INTEREST],
                                        [BROWSING_SESSIONS[FUNNEL_AWARENESS], BROWSING_SESSIONS[FUNNEL_INTEREST]], 0.0),
                    BROWSING_SESSIONS["buyer"])
    rate = np.where(kind == K_OA, BROWSING_SESSIONS["article"], rate)
    rate = np.where(prospect & (funnel == FUNNEL_NONE), 0.0, rate)
    count = np.minimum(rng.poisson(rate), 8)
    row = np.repeat(online_rows, count)
    row_kind = records.kind[row]
    row_person = records.person[row]
    row_funnel = np.where(people.persona[row_person] == PROSPECT, people.funnel[row_person], FUNNEL_INTEREST)
    aware_only = (row_funnel == FUNNEL_AWARENESS) | (rng.random(row.size) < 0.4)
    template = np.where(aware_only, _AWARE[rng.integers(0, _AWARE.size, row.size)],
                        _INTEREST[rng.integers(0, _INTEREST.size, row.size)])
    template = np.where(row_kind == K_OA, _ARTICLE[rng.integers(0, _ARTICLE.size, row.size)], template)
    # Buyers browse while they are active (until a while after their last order).
    last_days_ago = people.flags["last_order_days_ago"][row_person]
    horizon = np.where(last_days_ago >= 0,
                       np.minimum(world.end_us, world.end_us - (last_days_ago - 45) * US_PER_DAY), world.end_us)
    registered = records.registered_us[row]
    horizon = np.maximum(horizon, registered)
    start = registered + ((horizon - registered) * rng.random(row.size)).astype(np.int64)
    sessions.append({"record": row, "start_us": start, "template": template,
                     "product": _browsed_products(rng, world, people, row_person)})

    # 3. Official account followers follow once, when they subscribe.
    followers = records.rows(K_OA)
    sessions.append({"record": followers, "start_us": records.registered_us[followers],
                     "template": np.full(followers.size, _FOLLOW), "product": np.zeros(followers.size, dtype=np.int64)})

    events = _expand(rng, sessions)

    # 4. After purchases: reviews and shares of the bought product, online only.
    bought = np.flatnonzero((orders.record >= 0) & (orders.channel != cat.CH_POS) & orders.paid)
    review = bought[rng.random(bought.size) < REVIEW_SHARE]
    share = bought[rng.random(bought.size) < SHARE_SHARE]
    after = [
        (review, REVIEW, rng.integers(86_400, 10 * 86_400, review.size)),
        (share, SHARE, rng.integers(600, 2 * 86_400, share.size)),
    ]
    for order_rows, event_type, delay in after:
        at = orders.paid_us[order_rows] + delay * US_PER_SECOND
        keep = at <= world.end_us
        order_rows, at = order_rows[keep], at[keep]
        events["record"].append(orders.record[order_rows])
        events["type"].append(np.full(order_rows.size, event_type))
        events["product"].append(orders.line_product[orders.first_line[order_rows]])
        events["occurred_us"].append(at)

    out = {name: np.concatenate(parts) for name, parts in events.items()}
    out["occurred_us"] = np.minimum(out["occurred_us"], world.end_us)
    out["channel"] = np.array(KIND_ORDER_CHANNEL)[records.kind[out["record"]]]
    out["channel"][records.kind[out["record"]] == K_OA] = cat.CH_MINIPROGRAM
    has_product = np.isin(out["type"], PRODUCT_EVENTS)
    out["has_product"] = has_product
    leaf = catalog.product_leaf[out["product"]]
    out["leaf"] = leaf
    out["has_category"] = has_product | (out["type"] == CATEGORY_SEARCH)
    # Search terms: the category name, the brand name, now and then a free word.
    term = np.full(out["type"].size, "", dtype=object)
    category_search = out["type"] == CATEGORY_SEARCH
    term[category_search] = catalog.leaf_names[leaf[category_search]]
    brand_search = out["type"] == BRAND_SEARCH
    term[brand_search] = catalog.product_brands[out["product"][brand_search]]
    free = (category_search | brand_search) & (rng.random(term.size) < 0.15)
    term[free] = SEARCH_TERMS_EXTRA[rng.integers(0, SEARCH_TERMS_EXTRA.size, free.sum())]
    out["search_term"] = term
    out["has_search_term"] = category_search | brand_search
    return out


def _browsed_products(rng, world: World, people: People, person: np.ndarray) -> np.ndarray:
    preferred = rng.random(person.size) < 0.6
    leaf = np.where(preferred, people.pref_leaves[person, rng.integers(0, 2, person.size)],
                    rng.integers(0, world.catalog.leaf_count, person.size))
    return leaf * cat.PRODUCTS_PER_LEAF + cat.OLD_PRODUCT_POSITIONS[
        rng.integers(0, cat.OLD_PRODUCT_POSITIONS.size, person.size)]


def _expand(rng, sessions: list[dict]) -> dict[str, list]:
    """One event per step of each session's template, a few seconds to minutes apart."""
    events = {"record": [], "type": [], "product": [], "occurred_us": []}
    for session in sessions:
        template = session["template"]
        length = TEMPLATE_LENGTH[template]
        step = rank_within_groups(length)
        owner = np.repeat(np.arange(template.size), length)
        gap = rng.integers(5, 300, owner.size) * US_PER_SECOND
        if "end_us" in session:
            # Ends at end_us: the last step is the add-to-cart just before the order.
            offset = -(length[owner] - 1 - step) * gap
            at = session["end_us"][owner] + offset
        else:
            at = session["start_us"][owner] + step * gap
        events["record"].append(session["record"][owner])
        events["type"].append(TEMPLATE_MATRIX[template[owner], step])
        events["product"].append(session["product"][owner])
        events["occurred_us"].append(at)
    return events
