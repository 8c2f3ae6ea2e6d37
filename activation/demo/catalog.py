"""The brand's fixed reference data: places, names, categories, products, stores and campaigns.

A fictional food and daily-goods brand selling in 30 stores, three marketplaces, a WeChat mini
program (plus an official account) and its own app. Everything is derived from the seed only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from activation.demo.encode import salt_for

# Touch-point and order channel codes from the landing contract.
ORDER_CHANNELS = ("tmall", "jd", "douyin", "miniprogram", "app", "pos")
CH_TMALL, CH_JD, CH_DOUYIN, CH_MINIPROGRAM, CH_APP, CH_POS = range(6)
MARKETPLACES = ("tmall", "jd", "douyin")

# Two WeChat apps of the same open-platform account: openids differ per app, the unionid does not.
MINI_PROGRAM_APP_ID = "wx5f3c9a1b2d4e6f70"
OFFICIAL_ACCOUNT_APP_ID = "wx8a7b6c5d4e3f2a19"

# Phone numbers that cashiers and testers type for people who are not theirs (landing traps).
TEST_PHONES = ("13800138000", "13888888888", "13900000000")
PLACEHOLDER_EMAILS = ("test@test.com", "none@none.com", "123456@qq.com")
# Real customers' numbers use these prefixes; 199 is kept for store and cashier phones so that a
# customer can never hold one of them by accident.
CUSTOMER_PHONE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "170", "176", "177", "178", "180", "181", "182", "183", "185", "186", "187", "188", "189",
)
STAFF_PHONE_PREFIX = "199"
ZERO_DEVICE_ID = "00000000-0000-0000-0000-000000000000"

EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com")
EMAIL_DOMAIN_WEIGHTS = (0.38, 0.22, 0.1, 0.08, 0.1, 0.06, 0.06)

# (province, city, pinyin of the city, share of customers)
PLACES = (
    ("上海", "上海", "Shanghai", 0.10), ("北京", "北京", "Beijing", 0.09),
    ("广东", "广州", "Guangzhou", 0.07), ("广东", "深圳", "Shenzhen", 0.08),
    ("浙江", "杭州", "Hangzhou", 0.07), ("浙江", "宁波", "Ningbo", 0.03),
    ("江苏", "南京", "Nanjing", 0.05), ("江苏", "苏州", "Suzhou", 0.05),
    ("四川", "成都", "Chengdu", 0.06), ("湖北", "武汉", "Wuhan", 0.05),
    ("重庆", "重庆", "Chongqing", 0.05), ("陕西", "西安", "Xi'an", 0.04),
    ("湖南", "长沙", "Changsha", 0.04), ("福建", "厦门", "Xiamen", 0.03),
    ("山东", "青岛", "Qingdao", 0.03), ("天津", "天津", "Tianjin", 0.04),
    ("河南", "郑州", "Zhengzhou", 0.04), ("辽宁", "沈阳", "Shenyang", 0.03),
    ("云南", "昆明", "Kunming", 0.02), ("安徽", "合肥", "Hefei", 0.03),
)
PROVINCES = np.array([place[0] for place in PLACES])
CITIES = np.array([place[1] for place in PLACES])
CITIES_PINYIN = np.array([place[2] for place in PLACES])
PLACE_WEIGHTS = np.array([place[3] for place in PLACES])

SURNAMES = np.array(list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴莫孔汤"
))
GIVEN_NAME_CHARS = np.array(list(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建林文斌宇浩凯健俊帆琳晶婷雪慧佳欣"
    "子涵梓轩一诺思雨雅博晨曦诗语梦瑶嘉怡天佑睿泽昊然心悦可馨雨桐若汐家豪志远海燕春梅晓东德宏"
))
PINYIN_SYLLABLES = np.array(
    "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie "
    "song tang han feng deng cao peng zeng xiao tian dong pan yu jiang cai du ye cheng su wei lu ding "
    "ren shen yao jun hao xin yi ming hua jie ling na min jing li qiang lei yan tao chao xia ping gang "
    "ying lan hong peng hui bin kai jian ting xue rui ze ran yue tong han xi".split()
)
NICKNAME_WORDS = np.array([
    "小太阳", "奶茶控", "阿杰", "晴天", "Lucky", "Momo", "小鱼儿", "追风", "安静的猫", "Coco", "橙子",
    "大白", "Kiki", "木木", "一只熊", "Sunny", "星星", "豆豆", "Amy", "老王", "米粒", "阿宝", "Leo",
])

# Five top categories with four leaves each; prices are in yuan, per top category.
CATEGORY_TREE = (
    ("Dairy", (9.9, 129.0), ("Fresh milk", "Yogurt", "Milk powder", "Cheese")),
    ("Snacks", (12.9, 99.0), ("Nuts", "Biscuits", "Dried fruit", "Chocolate")),
    ("Beverages", (5.9, 79.0), ("Tea drinks", "Coffee", "Juice", "Sparkling water")),
    ("Personal care", (39.0, 399.0), ("Skin care", "Hair care", "Body wash", "Oral care")),
    ("Home", (29.0, 699.0), ("Kitchenware", "Storage", "Cleaning", "Bedding")),
)
BRANDS = ("Qingyu", "Morning Field", "Lanfeng", "Baicao")
PRODUCT_VARIANTS = ("Classic", "Lite", "Organic", "Family Pack", "Mini", "Plus", "Premium",
                    "Gift Box", "Limited", "Signature")
PRODUCTS_PER_LEAF = len(PRODUCT_VARIANTS)
# Two products per leaf were launched during the two years of history; the rest existed before.
NEW_PRODUCT_POSITIONS = (3, 8)
OLD_PRODUCT_POSITIONS = np.array([p for p in range(PRODUCTS_PER_LEAF) if p not in NEW_PRODUCT_POSITIONS])

STORES_PER_BIG_CITY = 3  # the first few cities get extra stores; every city has at least one
PHYSICAL_STORE_COUNT = 30
ONLINE_SHOPS = (
    ("S_TMALL", "Tmall flagship store", "tmall"),
    ("S_JD", "JD self-operated store", "jd"),
    ("S_DOUYIN", "Douyin brand store", "douyin"),
    ("S_MINIPROGRAM", "WeChat mini program mall", "miniprogram"),
    ("S_APP", "Brand app mall", "app"),
)
# Index into the store table of each order channel's online shop (physical stores come first).
ONLINE_SHOP_INDEX = {channel: PHYSICAL_STORE_COUNT + i for i, (_, _, channel) in enumerate(ONLINE_SHOPS)}


@dataclass(frozen=True)
class Campaign:
    key: str                 # campaign_id is cmp_<year>_<key>
    name: str
    channel: str             # touch point
    audience_name: str
    start: tuple[int, int]   # (month, day), local
    end: tuple[int, int]
    attribution_window_days: int
    coupon_type: str         # cash / percent / shipping
    face_value: float
    min_spend: float
    valid_days: int
    usable_channels: tuple[str, ...]
    fixed_cost: float        # creative and media, yuan
    cost_per_touch: float    # per coupon sent, yuan


CAMPAIGNS = (
    Campaign("double11", "双11 全渠道大促", "sms", "all_members", (11, 1), (11, 11), 14,
             "cash", 30, 299, 15, ("tmall", "jd", "douyin", "miniprogram"), 20_000, 0.05),
    Campaign("double12", "双12 社群专享", "wecom", "growth_members", (12, 1), (12, 12), 7,
             "percent", 10, 0, 15, ("miniprogram", "pos"), 3_000, 0.0),
    Campaign("newyear", "新春囤货节", "wechat", "all_members", (1, 10), (2, 5), 14,
             "cash", 20, 199, 30, ("miniprogram", "app", "pos"), 8_000, 0.0),
    Campaign("spring", "春季焕新", "sms", "dormant_members", (3, 1), (3, 20), 14,
             "cash", 15, 99, 21, ("pos", "miniprogram", "app"), 5_000, 0.05),
    Campaign("618", "618 年中大促", "app_push", "high_value_members", (6, 1), (6, 18), 14,
             "percent", 15, 0, 20, ("app", "tmall", "jd"), 15_000, 0.01),
    Campaign("member_day", "会员日", "email", "all_members", (8, 8), (8, 10), 7,
             "shipping", 10, 59, 10, ("miniprogram", "app"), 2_000, 0.005),
    Campaign("autumn_winback", "秋季召回", "ad_platform", "churned_members", (9, 10), (9, 30), 30,
             "cash", 25, 159, 30, ("tmall", "miniprogram", "pos"), 30_000, 1.5),
)


@dataclass(frozen=True)
class ScheduledCampaign:
    campaign: Campaign
    campaign_id: str
    start_day: int  # local day numbers since 1970-01-01, inclusive
    end_day: int


def schedule_campaigns(end_date: date) -> list[ScheduledCampaign]:
    """Each campaign's most recent run that ended on or before end_date."""
    epoch = date(1970, 1, 1).toordinal()
    out = []
    for campaign in CAMPAIGNS:
        year = end_date.year
        while date(year, *campaign.end) > end_date:
            year -= 1
        start, end = date(year, *campaign.start), date(year, *campaign.end)
        out.append(ScheduledCampaign(campaign, f"cmp_{year}_{campaign.key}",
                                     start.toordinal() - epoch, end.toordinal() - epoch))
    return out


@dataclass(frozen=True)
class Catalog:
    # categories
    category_ids: np.ndarray
    category_names: np.ndarray
    category_parents: np.ndarray   # '' at the top level
    category_levels: np.ndarray
    leaf_count: int
    leaf_category_ids: np.ndarray  # category_id of each leaf, leaf index order
    leaf_names: np.ndarray
    # products, laid out leaf by leaf, PRODUCTS_PER_LEAF per leaf, cheapest first
    product_ids: np.ndarray
    product_names: np.ndarray
    product_leaf: np.ndarray
    product_brands: np.ndarray
    product_price_cents: np.ndarray
    product_active: np.ndarray
    product_launch_day: np.ndarray
    # stores: physical first, then one online shop per channel
    store_ids: np.ndarray
    store_names: np.ndarray
    store_channels: np.ndarray
    store_provinces: np.ndarray    # '' for online shops
    store_cities: np.ndarray
    store_phones: np.ndarray       # '' for online shops
    store_opened_day: np.ndarray
    store_place: np.ndarray        # index into PLACES, -1 online
    stores_by_place: tuple[np.ndarray, ...]
    cashier_phone: str
    cashier_store: int


def build_catalog(seed: int, start_day: int) -> Catalog:
    rng = np.random.default_rng([seed, 0x0CA7A106])  # its own stream: independent of the chunks

    # Categories: C01..C05 at level 1, C0101.. at level 2.
    category_ids, names, parents, levels, leaf_ids, leaf_names, leaf_price_ranges = [], [], [], [], [], [], []
    for top_index, (top_name, price_range, leaves) in enumerate(CATEGORY_TREE, start=1):
        top_id = f"C{top_index:02d}"
        category_ids.append(top_id); names.append(top_name); parents.append(""); levels.append(1)
        for leaf_index, leaf_name in enumerate(leaves, start=1):
            leaf_id = f"{top_id}{leaf_index:02d}"
            category_ids.append(leaf_id); names.append(leaf_name); parents.append(top_id); levels.append(2)
            leaf_ids.append(leaf_id); leaf_names.append(leaf_name); leaf_price_ranges.append(price_range)

    # Products: PRODUCTS_PER_LEAF per leaf, cheapest first so that "upper half" means premium.
    leaf_count = len(leaf_ids)
    product_count = leaf_count * PRODUCTS_PER_LEAF
    product_leaf = np.repeat(np.arange(leaf_count), PRODUCTS_PER_LEAF)
    low = np.array([r[0] for r in leaf_price_ranges])[product_leaf]
    high = np.array([r[1] for r in leaf_price_ranges])[product_leaf]
    # Log-uniform prices, sorted within each leaf, ending in .9 like shelf prices.
    raw = np.exp(rng.uniform(np.log(low), np.log(high)))
    raw = np.sort(raw.reshape(leaf_count, PRODUCTS_PER_LEAF), axis=1).ravel()
    price_cents = (np.floor(raw) * 100 + 90).astype(np.int64)
    position = np.tile(np.arange(PRODUCTS_PER_LEAF), leaf_count)
    is_new = np.isin(position, NEW_PRODUCT_POSITIONS)
    launch_day = np.where(is_new, start_day + rng.integers(60, 600, product_count),
                          start_day - rng.integers(30, 1500, product_count))
    active = np.where(is_new, True, rng.random(product_count) > 0.08)
    brands = np.array(BRANDS)[rng.integers(0, len(BRANDS), product_count)]
    product_names = np.array([
        f"{brands[i]} {leaf_names[product_leaf[i]]} {PRODUCT_VARIANTS[position[i]]}"
        for i in range(product_count)
    ])
    product_ids = np.array([f"SKU{10001 + i}" for i in range(product_count)])

    # Physical stores: one per city, the rest in the biggest cities.
    place_order = np.argsort(-PLACE_WEIGHTS, kind="stable")
    extra = PHYSICAL_STORE_COUNT - len(PLACES)
    store_place = np.concatenate([np.arange(len(PLACES)),
                                  np.repeat(place_order[: extra // (STORES_PER_BIG_CITY - 1)],
                                            STORES_PER_BIG_CITY - 1)])[:PHYSICAL_STORE_COUNT]
    store_place = np.sort(store_place, kind="stable")
    store_numbers = np.zeros(PHYSICAL_STORE_COUNT, dtype=int)
    for place in np.unique(store_place):
        store_numbers[store_place == place] = np.arange(1, (store_place == place).sum() + 1)
    phone_suffixes = rng.choice(10**8, size=PHYSICAL_STORE_COUNT + 1, replace=False)
    store_phones = [f"{STAFF_PHONE_PREFIX}{suffix:08d}" for suffix in phone_suffixes[:PHYSICAL_STORE_COUNT]]
    cashier_phone = f"{STAFF_PHONE_PREFIX}{phone_suffixes[-1]:08d}"
    epoch = date(1970, 1, 1).toordinal()
    opened_low, opened_high = date(2014, 3, 1).toordinal() - epoch, start_day - 30
    store_opened = rng.integers(opened_low, opened_high, PHYSICAL_STORE_COUNT)

    store_ids = [f"S{i + 1:03d}" for i in range(PHYSICAL_STORE_COUNT)] + [s[0] for s in ONLINE_SHOPS]
    store_names = [f"{CITIES[p]}{n}号店" for p, n in zip(store_place, store_numbers)] + [s[1] for s in ONLINE_SHOPS]
    store_channels = ["pos"] * PHYSICAL_STORE_COUNT + [s[2] for s in ONLINE_SHOPS]
    online = len(ONLINE_SHOPS)
    all_place = np.concatenate([store_place, np.full(online, -1)])

    return Catalog(
        category_ids=np.array(category_ids), category_names=np.array(names),
        category_parents=np.array(parents), category_levels=np.array(levels),
        leaf_count=leaf_count, leaf_category_ids=np.array(leaf_ids), leaf_names=np.array(leaf_names),
        product_ids=product_ids, product_names=product_names, product_leaf=product_leaf,
        product_brands=brands, product_price_cents=price_cents, product_active=active,
        product_launch_day=launch_day,
        store_ids=np.array(store_ids), store_names=np.array(store_names),
        store_channels=np.array(store_channels),
        store_provinces=np.concatenate([PROVINCES[store_place], np.full(online, "")]),
        store_cities=np.concatenate([CITIES[store_place], np.full(online, "")]),
        store_phones=np.array(store_phones + [""] * online),
        store_opened_day=np.concatenate([store_opened, np.full(online, opened_low)]),
        store_place=all_place,
        stores_by_place=tuple(np.flatnonzero(store_place == p) for p in range(len(PLACES))),
        cashier_phone=cashier_phone,
        cashier_store=int(rng.integers(0, PHYSICAL_STORE_COUNT)),
    )


def id_salts(seed: int) -> dict[str, int]:
    """One salt per kind of generated identifier, so that different seeds give different ids."""
    kinds = ("phone", "email", "unionid", "unionid2", "mp_openid", "mp_openid2", "oa_openid",
             "oa_openid2", "member", "card", "pos", "tmall", "jd", "douyin", "app", "device",
             "device2")
    return {kind: salt_for(seed, kind) for kind in kinds}
