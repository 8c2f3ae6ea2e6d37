"""People, their customer records in every channel, the identifier traps and the identity links.

Linkability rule (what makes the ground truth achievable for a safe resolver): every record of a
person with two or more records is connected to that person's true mobile number P, by carrying
P itself (in any messy format), by an identity link to P, or through another record that is
(the member card swiped at the till or scanned in the mini program -> the CRM member; a unionid
or e-mail shared with the CRM member or the mini program user). A record whose only identifiers
are unusable (a store phone, the cashier's phone, a test number, a masked phone, nothing) belongs
to a person with no other record, or carries another identifier that links it. The one exception
is a deliberate 0.1% of persons whose marketplace record is masked and never bound
(`has_unlinkable_record` in the truth).

Recycled numbers (二次放号, `trap_recycled_phone` in the truth): pairs of persons with one mobile
number, years apart. The old holder is a member with nothing but a CRM record, registered years
before the history starts and silent since; the carrier gave the number to the new holder, who
shows up long after (more than 200 days, well beyond the carriers' 90-day quarantine), in the CRM
too or only in the mini program. Each pair carries evidence a resolver can see, or the truth would
not be reachable: different full names on two CRM records, or opposite genders shown by the CRM
member and the mini program user (a mini program only knows a nickname, no name or birth date).

Family tablets (`trap_family_device` in the truth): pairs of persons whose app accounts were used on
one device, each account with its own verified phone. The device id joins two phones: a resolver
that trusts it merges two people.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from activation.demo import catalog as cat
from activation.demo.encode import (
    US_PER_DAY, affine_permutation, arrow_dates, arrow_strings, arrow_timestamps,
    digit_matrix, local_to_utc_us, masked_phones, matrix_to_numpy, messy_cards, messy_emails,
    messy_phones, mix64, prefixed, quota, rank_within_groups, sequence_ids, weighted_choice,
)

# --- personas ------------------------------------------------------------------------------------

PERSONAS = ("prospect", "new", "growth", "mature", "high_value", "dormant", "churned")
PROSPECT, NEW, GROWTH, MATURE, HIGH_VALUE, DORMANT, CHURNED = range(len(PERSONAS))
PERSONA_WEIGHTS = (0.20, 0.06, 0.08, 0.18, 0.04, 0.17, 0.27)
# Mini program visitors who only ever showed an openid (a prospect each, browsing only).
OPENID_ONLY_SHARE = 0.02
# How far prospects got in the funnel: nothing online, awareness only, interest.
FUNNEL_NONE, FUNNEL_AWARENESS, FUNNEL_INTEREST = range(3)
PROSPECT_FUNNEL_WEIGHTS = (0.25, 0.40, 0.35)

# --- channels a person shows up in ---------------------------------------------------------------

GROUPS = ("crm", "pos", "marketplace", "wechat", "app")
G_CRM, G_POS, G_MARKETPLACE, G_WECHAT, G_APP = range(len(GROUPS))
GROUP_WEIGHTS = np.array([0.40, 0.25, 0.40, 0.40, 0.15])
GROUP_COUNT_WEIGHTS = (0.42, 0.30, 0.18, 0.10)   # 1, 2, 3 or 4 channels
MARKETPLACE_WEIGHTS = (0.5, 0.3, 0.2)            # tmall, jd, douyin
SECOND_MARKETPLACE_SHARE = 0.15
SECOND_POS_RECORD_SHARE = 0.10                   # captured again in another store

# --- record kinds (one landing row each) -----------------------------------------------------------

KINDS = ("crm", "pos", "tmall", "jd", "douyin", "mp", "oa", "app")
K_CRM, K_POS, K_TMALL, K_JD, K_DOUYIN, K_MP, K_OA, K_APP = range(len(KINDS))
KIND_SOURCE_SYSTEM = ("crm", "pos", "tmall", "jd", "douyin", "miniprogram", "miniprogram", "app")
# Channel of the orders placed with each kind of record (-1: official accounts do not sell).
KIND_ORDER_CHANNEL = (cat.CH_POS, cat.CH_POS, cat.CH_TMALL, cat.CH_JD, cat.CH_DOUYIN,
                      cat.CH_MINIPROGRAM, -1, cat.CH_APP)
# How often a buyer uses each of their records to buy.
KIND_ORDER_WEIGHT = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.8, 0.0, 0.6])

# Phone kinds on a record.
PH_NONE, PH_REAL, PH_STORE, PH_CASHIER, PH_TEST, PH_MASKED = range(6)
EM_NONE, EM_REAL, EM_PLACEHOLDER = range(3)

# Identifier presence and link rates.
CRM_EMAIL_SHARE = 0.70            # of persons with an e-mail
CRM_UNIONID_SHARE = 0.50          # of WeChat users: joined through WeChat
CARD_SWIPE_SHARE = 0.80           # POS records of members
POS_FREE_PHONE_WEIGHTS = (0.50, 0.35, 0.15)  # real, store phone, none (when nothing else needs it)
MARKETPLACE_UNMASKED_SHARE = 0.12
MARKETPLACE_BINDING_SHARE = {K_TMALL: 0.60, K_JD: 0.45, K_DOUYIN: 0.40}
MP_UNIONID_SHARE = 0.75
MP_PHONE_SHARE = 0.50
OFFICIAL_ACCOUNT_SHARE = 0.35     # of mini program users with a unionid
MP_PHONE_LINK_SHARE = (0.15, 0.40)  # without / with the phone on the record
MP_CARD_SCAN_SHARE = 0.45         # members who scanned their card in the mini program
APP_PHONE_SHARE = 0.85
APP_EMAIL_SHARE = 0.40
APP_UNIONID_SHARE = 0.35
APP_DEVICE_LINK_SHARE = 0.80
ZERO_DEVICE_SHARE = 0.03          # iOS with tracking off: all-zero ids, rejected by staging
EMAIL_SHARE = 0.55

# Trap sizes (dataset-wide). 25 records is well above onedata__identity_max_records_per_system, so
# even in a small demo a resolver that blocks over-shared identifiers has something to block.
MIN_SHARED_TRAP_RECORDS = 25
CASHIER_WALK_INS_AT_SCALE = 300   # from 10,000 people up
NAME_TWIN_PAIRS_PER_PERSON = 1 / 500
UNLINKABLE_SHARE = 0.001
# Recycled numbers: pairs per person (half of them across systems), days from the old holder's
# last activity to the new holder's first record, and how long the old holder was active.
RECYCLED_PAIRS_PER_PERSON = 1 / 200
RECYCLED_SILENT_DAYS = (200, 6 * 365)
RECYCLED_ACTIVE_DAYS = (30, 4 * 365)
FAMILY_DEVICE_PAIRS_PER_PERSON = 1 / 500


def trap_totals(people: int) -> dict[str, int]:
    return {
        "cashier": min(CASHIER_WALK_INS_AT_SCALE,
                       max(MIN_SHARED_TRAP_RECORDS, people * CASHIER_WALK_INS_AT_SCALE // 10_000)),
        "test_per_value": max(MIN_SHARED_TRAP_RECORDS, people // 2_000),
        "name_twin_pairs": max(10, int(people * NAME_TWIN_PAIRS_PER_PERSON)),
        "unlinkable": int(people * UNLINKABLE_SHARE),
        "recycled_pairs": max(10, int(people * RECYCLED_PAIRS_PER_PERSON)),
        "family_device_pairs": max(10, int(people * FAMILY_DEVICE_PAIRS_PER_PERSON)),
    }


@dataclass
class World:
    """Everything every chunk shares: dates, reference data, salts and dataset-wide quotas."""
    seed: int
    people: int
    start_day: int      # first local day of history
    end_day: int        # last local day of history (end_date)
    end_us: int         # last microsecond of end_date, local, in UTC
    catalog: cat.Catalog
    salts: dict[str, int]
    traps: dict[str, int]
    campaigns: list[cat.ScheduledCampaign]


@dataclass
class People:
    start: int
    n: int
    person_ids: np.ndarray
    persona: np.ndarray
    openid_only: np.ndarray
    funnel: np.ndarray
    gender: np.ndarray
    birth_day: np.ndarray
    full_name: np.ndarray
    place: np.ndarray
    home_store: np.ndarray
    phone: np.ndarray           # true 11-digit mobile
    email: np.ndarray           # true lower-case e-mail, '' when none
    unionid: np.ndarray
    pref_leaves: np.ndarray     # (n, 2) favourite leaf categories
    is_cashier: np.ndarray
    groups: np.ndarray = None   # (n, 5) bool
    flags: dict[str, np.ndarray] = field(default_factory=dict)
    base_day: np.ndarray = None  # first contact with the brand (local day), set by trades
    recycled: np.ndarray = None  # (pairs, 2): old holder, new holder of a recycled number
    shows_gender: np.ndarray = None  # the CRM / mini program must show this person's gender


@dataclass
class Records:
    """All customer records of a chunk, kind after kind, plus per-kind columns in `cols[kind]`."""
    kind: np.ndarray
    person: np.ndarray
    record_id: np.ndarray
    offsets: np.ndarray          # first unified row of each kind
    cols: list[dict[str, np.ndarray]]
    registered_us: np.ndarray = None
    updated_us: np.ndarray = None
    first_order_us: np.ndarray = None

    def rows(self, kind: int) -> np.ndarray:
        return np.arange(self.offsets[kind], self.offsets[kind + 1])


def build_people(rng: np.random.Generator, world: World, start: int, n: int) -> People:
    index = start + np.arange(n, dtype=np.int64)
    persona = weighted_choice(rng, PERSONA_WEIGHTS, n)
    openid_only = rng.random(n) < OPENID_ONLY_SHARE
    persona[openid_only] = PROSPECT
    funnel = weighted_choice(rng, PROSPECT_FUNNEL_WEIGHTS, n)
    funnel[openid_only] = np.where(rng.random(openid_only.sum()) < 0.5, FUNNEL_AWARENESS, FUNNEL_INTEREST)
    funnel[persona != PROSPECT] = FUNNEL_INTEREST

    gender = np.where(rng.random(n) < 0.58, "F", "M")  # a food and daily-goods brand skews female
    age_days = rng.uniform(18 * 365.25, 66 * 365.25, n).astype(np.int64)
    birth_day = world.end_day - age_days
    given = np.strings.add(cat.GIVEN_NAME_CHARS[rng.integers(0, cat.GIVEN_NAME_CHARS.size, n)],
                           np.where(rng.random(n) < 0.7,
                                    cat.GIVEN_NAME_CHARS[rng.integers(0, cat.GIVEN_NAME_CHARS.size, n)], ""))
    full_name = np.strings.add(cat.SURNAMES[rng.integers(0, cat.SURNAMES.size, n)], given)

    place = weighted_choice(rng, cat.PLACE_WEIGHTS, n)
    home_store = np.empty(n, dtype=np.int64)
    for p, stores in enumerate(world.catalog.stores_by_place):
        here = place == p
        home_store[here] = stores[rng.integers(0, stores.size, here.sum())]

    # A unique real mobile per person: an affine permutation of the person's index over the
    # whole number space of the customer prefixes.
    prefixes = np.array(cat.CUSTOMER_PHONE_PREFIXES)
    slot = affine_permutation(index, prefixes.size * 10**8, world.salts["phone"])
    phone = np.strings.add(prefixes[slot // 10**8], matrix_to_numpy(digit_matrix(slot % 10**8, 8)))
    reserved = np.isin(phone, cat.TEST_PHONES)
    phone[reserved] = np.strings.add("147", np.strings.slice(phone[reserved], 3, 11))

    # Unique e-mails: two pinyin syllables and a base-36 code of the person's index.
    code = matrix_to_numpy(digit_matrix(affine_permutation(index, 36**6, world.salts["email"]), 6,
                                        b"0123456789abcdefghijklmnopqrstuvwxyz"))
    local = np.strings.add(np.strings.add(cat.PINYIN_SYLLABLES[rng.integers(0, cat.PINYIN_SYLLABLES.size, n)],
                                          cat.PINYIN_SYLLABLES[rng.integers(0, cat.PINYIN_SYLLABLES.size, n)]), code)
    domain = np.array(cat.EMAIL_DOMAINS)[weighted_choice(rng, cat.EMAIL_DOMAIN_WEIGHTS, n)]
    email = np.where(rng.random(n) < EMAIL_SHARE, np.strings.add(np.strings.add(local, "@"), domain), "")

    unionid = _base62_id("o", index, world.salts["unionid"], world.salts["unionid2"])
    pref_leaves = rng.integers(0, world.catalog.leaf_count, (n, 2))
    is_cashier = np.zeros(n, dtype=bool)
    if start == 0 and n:
        # The cashier whose own mobile ends up on hundreds of walk-ins: a member with one record.
        is_cashier[0] = True
        persona[0] = MATURE
        openid_only[0] = False
        phone[0] = world.catalog.cashier_phone
    person_ids = matrix_to_numpy(prefixed("P", digit_matrix(index + 1, 9)))
    return People(start, n, person_ids, persona, openid_only, funnel, gender, birth_day, full_name,
                  place, home_store, phone, email, unionid, pref_leaves, is_cashier)


def _base62_id(head: str, index: np.ndarray, salt_a: int, salt_b: int) -> np.ndarray:
    """head + 22 base-62 characters; the first 11 encode a bijection of the index, so unique."""
    alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"[:62]
    a = digit_matrix(mix64(index, salt_a), 11, alphabet)
    b = digit_matrix(mix64(index, salt_b), 11, alphabet)
    return matrix_to_numpy(prefixed(head, np.hstack([a, b])))


def _numeric_id(head: str, values: np.ndarray, digits: int, salt: int) -> np.ndarray:
    return matrix_to_numpy(prefixed(head, digit_matrix(affine_permutation(values, 10**digits, salt), digits)))


def _choose_groups(rng: np.random.Generator, people: People) -> np.ndarray:
    """Which of the five channel groups each person appears in (1-4 of them)."""
    n = people.n
    weights = np.tile(GROUP_WEIGHTS, (n, 1))
    # Prospects never bought, so no till or marketplace knows them.
    prospect = people.persona == PROSPECT
    weights[prospect, G_POS] = 0
    weights[prospect, G_MARKETPLACE] = 0
    count = 1 + weighted_choice(rng, GROUP_COUNT_WEIGHTS, n)
    count = np.minimum(count, (weights > 0).sum(axis=1))
    with np.errstate(divide="ignore"):
        keys = np.log(weights) - np.log(-np.log(rng.random((n, len(GROUPS)))))  # Gumbel top-k
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    groups = rank < count[:, None]
    groups[people.openid_only] = False
    groups[people.openid_only, G_WECHAT] = True
    groups[people.is_cashier] = False
    groups[people.is_cashier, G_CRM] = True
    return groups


def build_records(rng: np.random.Generator, world: World, people: People,
                  trap_rng: np.random.Generator) -> tuple[Records, dict]:
    """Customer records (identifiers only; times come later) and the identity-link specs.
    trap_rng draws the recycled numbers and (in a child stream) the family tablets, so that adding
    them left every other draw as it was."""
    n, salts, catalog = people.n, world.salts, world.catalog
    index = people.start + np.arange(n, dtype=np.int64)
    groups = _choose_groups(rng, people)
    people.groups = groups

    # Marketplaces: one or two platforms per marketplace buyer.
    platforms = np.zeros((n, 3), dtype=bool)
    market = np.flatnonzero(groups[:, G_MARKETPLACE])
    first = weighted_choice(rng, MARKETPLACE_WEIGHTS, market.size)
    platforms[market, first] = True
    second = rng.random(market.size) < SECOND_MARKETPLACE_SHARE
    platforms[market[second], (first[second] + 1 + rng.integers(0, 2, second.sum())) % 3] = True

    wechat = groups[:, G_WECHAT]
    mp_unionid = wechat & (rng.random(n) < MP_UNIONID_SHARE) & ~people.openid_only
    # Following the official account is itself an interest signal: prospects who stopped at
    # awareness (or never showed up online) do not follow it.
    stopped_early = (people.persona == PROSPECT) & (people.funnel != FUNNEL_INTEREST)
    has_oa = mp_unionid & ~stopped_early & (rng.random(n) < OFFICIAL_ACCOUNT_SHARE)
    pos_count = np.where(groups[:, G_POS], 1 + (rng.random(n) < SECOND_POS_RECORD_SHARE), 0)

    record_count = (groups[:, G_CRM].astype(int) + pos_count + platforms.sum(axis=1)
                    + wechat + has_oa + groups[:, G_APP])
    single = record_count == 1
    has_email = people.email != ""

    # ---- CRM members
    crm_p = np.flatnonzero(groups[:, G_CRM])
    crm = {
        "person": crm_p,
        "member_id": _numeric_id("M", index[crm_p], 9, salts["member"]),
        "card": _numeric_id("VIP", index[crm_p], 10, salts["card"]),
        "phone_kind": np.full(crm_p.size, PH_REAL),
        "email_kind": np.where(has_email[crm_p] & (rng.random(crm_p.size) < CRM_EMAIL_SHARE), EM_REAL, EM_NONE),
        "has_unionid": wechat[crm_p] & ~people.openid_only[crm_p] & (rng.random(crm_p.size) < CRM_UNIONID_SHARE),
    }
    crm["phone_kind"][people.is_cashier[crm_p]] = PH_CASHIER
    person_crm_row = np.full(n, -1)
    person_crm_row[crm_p] = np.arange(crm_p.size)

    # ---- POS customers (one per store where the till captured them)
    pos_p = np.repeat(np.arange(n), pos_count)
    pos_k = rank_within_groups(pos_count)
    pos_store = np.where(pos_k == 0, people.home_store[pos_p],
                         rng.integers(0, cat.PHYSICAL_STORE_COUNT, pos_p.size))
    swiped = (person_crm_row[pos_p] >= 0) & (rng.random(pos_p.size) < CARD_SWIPE_SHARE)
    # A bad or missing phone is only allowed where something else identifies the person.
    free = single[pos_p] | swiped
    pos_phone_kind = np.full(pos_p.size, PH_REAL)
    free_kind = np.array([PH_REAL, PH_STORE, PH_NONE])[weighted_choice(rng, POS_FREE_PHONE_WEIGHTS, pos_p.size)]
    pos_phone_kind[free] = free_kind[free]
    pos = {"person": pos_p, "store": pos_store, "swiped": swiped, "phone_kind": pos_phone_kind,
           "pos_customer_id": _numeric_id("PC", 2 * index[pos_p] + pos_k, 9, salts["pos"])}

    # ---- marketplace buyers
    market_frames = {}
    for offset, kind in enumerate((K_TMALL, K_JD, K_DOUYIN)):
        p = np.flatnonzero(platforms[:, offset])
        if kind == K_TMALL:
            buyer = _numeric_id("tb", index[p], 12, salts["tmall"])
        elif kind == K_JD:
            buyer = matrix_to_numpy(prefixed("jd_", digit_matrix(
                affine_permutation(index[p], 36**9, salts["jd"]), 9, b"0123456789abcdefghijklmnopqrstuvwxyz")))
        else:
            buyer = _numeric_id("dy", index[p], 15, salts["douyin"])
        unmasked = rng.random(p.size) < MARKETPLACE_UNMASKED_SHARE
        market_frames[kind] = {
            "person": p, "buyer_id": buyer,
            "phone_kind": np.where(unmasked, PH_REAL, PH_MASKED),
            "bound": rng.random(p.size) < MARKETPLACE_BINDING_SHARE[kind],
            "unlinkable": np.zeros(p.size, dtype=bool),
        }

    # ---- WeChat mini program and official account
    mp_p = np.flatnonzero(wechat)
    mp = {
        "person": mp_p,
        "openid": _base62_id("oMp", index[mp_p], salts["mp_openid"], salts["mp_openid2"]),
        "has_unionid": mp_unionid[mp_p],
        "phone_kind": np.where(~people.openid_only[mp_p] & (rng.random(mp_p.size) < MP_PHONE_SHARE),
                               PH_REAL, PH_NONE),
    }
    oa_p = np.flatnonzero(has_oa)
    oa = {"person": oa_p,
          "openid": _base62_id("oOa", index[oa_p], salts["oa_openid"], salts["oa_openid2"])}

    # ---- app users
    app_p = np.flatnonzero(groups[:, G_APP])
    app_email = has_email[app_p] & (rng.random(app_p.size) < APP_EMAIL_SHARE)
    app_phone = (rng.random(app_p.size) < APP_PHONE_SHARE) | ~app_email
    device_hex = np.hstack([digit_matrix(mix64(index[app_p], salts["device"]), 16, b"0123456789abcdef"),
                            digit_matrix(mix64(index[app_p], salts["device2"]), 16, b"0123456789abcdef")])
    dash = np.full((app_p.size, 1), ord("-"), dtype=np.uint8)
    device = matrix_to_numpy(np.hstack([device_hex[:, :8], dash, device_hex[:, 8:12], dash,
                                        device_hex[:, 12:16], dash, device_hex[:, 16:20], dash,
                                        device_hex[:, 20:]]))
    ios = rng.random(app_p.size) < 0.5
    device[ios] = np.strings.upper(device[ios])  # IDFAs are upper-case, Android ids lower-case
    zero_device = rng.random(app_p.size) < ZERO_DEVICE_SHARE
    device[zero_device] = cat.ZERO_DEVICE_ID
    app = {
        "person": app_p,
        "app_user_id": _numeric_id("U", index[app_p], 10, salts["app"]),
        "device_id": device, "zero_device": zero_device,
        "phone_kind": np.where(app_phone, PH_REAL, PH_NONE),
        "email_kind": np.where(app_email, EM_REAL, EM_NONE),
        "has_unionid": wechat[app_p] & ~people.openid_only[app_p] & (rng.random(app_p.size) < APP_UNIONID_SHARE),
    }

    _recycle_numbers(trap_rng, world, people, crm, mp)
    _place_traps(rng, world, people, single, crm, pos, market_frames, app)
    _share_family_devices(trap_rng.spawn(1)[0], world, people, app)
    links = _identity_links(rng, people, single, crm, pos, market_frames, mp, app, person_crm_row)
    _raw_identifier_values(rng, world, people, crm, pos, market_frames, mp, app)

    frames = [crm, pos, market_frames[K_TMALL], market_frames[K_JD], market_frames[K_DOUYIN], mp, oa, app]
    id_columns = ["member_id", "pos_customer_id", "buyer_id", "buyer_id", "buyer_id", "openid", "openid",
                  "app_user_id"]
    sizes = np.array([frame["person"].size for frame in frames])
    records = Records(
        kind=np.repeat(np.arange(len(KINDS)), sizes),
        person=np.concatenate([frame["person"] for frame in frames]).astype(np.int64),
        record_id=np.concatenate([frame[column] for frame, column in zip(frames, id_columns)]),
        offsets=np.concatenate([[0], np.cumsum(sizes)]),
        cols=frames,
    )
    # Links point at the unified row of the record that observed them (for their timestamps).
    for spec in links:
        spec["record"] = records.offsets[spec.pop("kind")] + spec["row"]
    return records, {"specs": links}


def _pick(rng: np.random.Generator, candidates: np.ndarray, count: int) -> np.ndarray:
    count = min(count, candidates.size)
    return np.sort(rng.choice(candidates, size=count, replace=False)) if count else candidates[:0]


def _recycle_numbers(rng, world: World, people: People, crm, mp) -> None:
    """Pick this chunk's recycled-number pairs and give each old holder its new holder's number,
    with evidence a resolver can see (different names; opposite genders, shown, across systems)."""
    n, groups = people.n, people.groups
    pairs = quota(world.traps["recycled_pairs"], people.start, n, world.people)
    regular = ~people.is_cashier & ~people.openid_only
    crm_only = groups[:, G_CRM] & (groups.sum(axis=1) == 1)
    # Old holders: members who never bought and have nothing but their CRM record.
    old = _pick(rng, np.flatnonzero(regular & crm_only & (people.persona == PROSPECT)), pairs)
    taken = np.zeros(n, dtype=bool)
    taken[old] = True
    mp_phone = np.zeros(n, dtype=bool)
    mp_phone[mp["person"]] = mp["phone_kind"] == PH_REAL
    # New holders: in the CRM (one system), or with the number on their mini program user and
    # no CRM record (across systems).
    across = _pick(rng, np.flatnonzero(regular & ~taken & ~groups[:, G_CRM] & mp_phone), pairs // 2)
    within = _pick(rng, np.flatnonzero(regular & ~taken & groups[:, G_CRM]), pairs - across.size)
    new = rng.permutation(np.concatenate([within, across]))[:old.size]
    old = old[:new.size]

    people.phone[old] = people.phone[new]
    # Two strangers rarely share a name; where these do, the old holder's given name changes.
    same = old[people.full_name[old] == people.full_name[new]]
    surname = np.strings.slice(people.full_name[same], 0, 1)
    renamed = np.strings.add(surname, "子")
    people.full_name[same] = np.where(renamed == people.full_name[same], np.strings.add(surname, "丑"), renamed)
    people.birth_day[old] -= np.where(people.birth_day[old] == people.birth_day[new], 365, 0)
    cross = ~groups[new, G_CRM]
    people.gender[old[cross]] = np.where(people.gender[new[cross]] == "F", "M", "F")
    people.shows_gender = np.zeros(n, dtype=bool)
    people.shows_gender[old[cross]] = True
    people.shows_gender[new[cross]] = True
    people.recycled = np.stack([old, new], axis=1)
    people.flags["trap_recycled_phone"] = np.zeros(n, dtype=bool)
    people.flags["trap_recycled_phone"][old] = True
    people.flags["trap_recycled_phone"][new] = True


def _place_traps(rng, world: World, people: People, single, crm, pos, market_frames, app) -> None:
    """Put the shared identifiers on records where they cannot break a person's linkability."""
    start, size, total = people.start, people.n, world.people
    traps = world.traps
    flags = people.flags
    for name in ("trap_store_phone", "trap_cashier_phone", "trap_test_phone", "trap_placeholder_email",
                 "trap_name_twin", "has_unlinkable_record", "has_zero_device_id"):
        flags[name] = np.zeros(size, dtype=bool)

    # One cashier's mobile on walk-ins (persons with no other record, or whose card was swiped).
    free = (single[pos["person"]] | pos["swiped"])
    cashier_rows = _pick(rng, np.flatnonzero(free), quota(traps["cashier"], start, size, total))
    pos["phone_kind"][cashier_rows] = PH_CASHIER
    pos["store"][cashier_rows] = world.catalog.cashier_store

    # Test numbers on CRM members, walk-in-only POS customers and app users (not on a recycled
    # number: its trap needs it on both holders' records).
    recycled = flags["trap_recycled_phone"]
    per_value = quota(traps["test_per_value"], start, size, total)
    crm_rows = np.flatnonzero((crm["phone_kind"] == PH_REAL) & ~recycled[crm["person"]])
    pos_rows = np.flatnonzero(single[pos["person"]] & (pos["phone_kind"] != PH_CASHIER))
    app_rows = np.arange(app["person"].size)
    pool = np.concatenate([crm_rows, pos_rows + 10**9, app_rows + 2 * 10**9])
    chosen = _pick(rng, pool, per_value * len(cat.TEST_PHONES))
    test_value = rng.permutation(np.arange(chosen.size) % len(cat.TEST_PHONES))
    for frame, band in ((crm, 0), (pos, 1), (app, 2)):
        mine = (chosen >= band * 10**9) & (chosen < (band + 1) * 10**9)
        rows = chosen[mine] - band * 10**9
        frame["phone_kind"][rows] = PH_TEST
        frame.setdefault("test_value", np.zeros(frame["person"].size, dtype=np.int64))[rows] = test_value[mine]

    # Placeholder e-mails on CRM members and app users.
    pool = np.concatenate([np.arange(crm["person"].size), np.arange(app["person"].size) + 10**9])
    chosen = _pick(rng, pool, per_value * len(cat.PLACEHOLDER_EMAILS))
    email_value = rng.permutation(np.arange(chosen.size) % len(cat.PLACEHOLDER_EMAILS))
    for frame, band in ((crm, 0), (app, 1)):
        mine = (chosen >= band * 10**9) & (chosen < (band + 1) * 10**9)
        rows = chosen[mine] - band * 10**9
        frame["email_kind"][rows] = EM_PLACEHOLDER
        frame.setdefault("placeholder_value", np.zeros(frame["person"].size, dtype=np.int64))[rows] = email_value[mine]

    # Pairs of different members with the same full name and birth date.
    members = crm["person"][~people.is_cashier[crm["person"]] & ~recycled[crm["person"]]]
    pairs = _pick(rng, members, 2 * quota(traps["name_twin_pairs"], start, size, total))
    pairs = rng.permutation(pairs)
    if pairs.size % 2:
        pairs = pairs[:-1]
    original, twin = pairs[0::2], pairs[1::2]
    people.full_name[twin] = people.full_name[original]
    people.birth_day[twin] = people.birth_day[original]
    people.gender[twin] = people.gender[original]
    flags["trap_name_twin"][original] = True
    flags["trap_name_twin"][twin] = True

    # A handful of persons whose marketplace record nothing connects (masked, never bound).
    multi = ~single
    candidates = []
    for kind, frame in market_frames.items():
        rows = np.flatnonzero(multi[frame["person"]])
        candidates.append(rows + kind * 10**9)
    pool = np.concatenate(candidates)
    chosen = _pick(rng, pool, quota(traps["unlinkable"], start, size, total))
    for kind, frame in market_frames.items():
        rows = chosen[(chosen // 10**9) == kind] % 10**9
        frame["unlinkable"][rows] = True
        frame["phone_kind"][rows] = PH_MASKED
        frame["bound"][rows] = False
        flags["has_unlinkable_record"][frame["person"][rows]] = True

    flags["trap_store_phone"][pos["person"][pos["phone_kind"] == PH_STORE]] = True
    flags["trap_cashier_phone"][pos["person"][pos["phone_kind"] == PH_CASHIER]] = True
    for frame in (crm, pos, app):
        flags["trap_test_phone"][frame["person"][frame["phone_kind"] == PH_TEST]] = True
    for frame in (crm, app):
        flags["trap_placeholder_email"][frame["person"][frame["email_kind"] == EM_PLACEHOLDER]] = True
    flags["has_zero_device_id"][app["person"][app["zero_device"]]] = True


def _share_family_devices(rng, world: World, people: People, app) -> None:
    """Pick this chunk's family tablets: the second account of each pair takes the first one's
    device id. Both accounts carry their holder's own verified phone, so each stays reachable."""
    phoned = ((app["phone_kind"] == PH_REAL) & ~app["zero_device"]
              & ~people.flags["trap_recycled_phone"][app["person"]])
    pairs = quota(world.traps["family_device_pairs"], people.start, people.n, world.people)
    rows = rng.permutation(_pick(rng, np.flatnonzero(phoned), 2 * pairs))
    rows = rows[: rows.size - rows.size % 2]
    first, second = rows[0::2], rows[1::2]
    app["device_id"][second] = app["device_id"][first]
    people.flags["trap_family_device"] = np.zeros(people.n, dtype=bool)
    people.flags["trap_family_device"][app["person"][rows]] = True


def _identity_links(rng, people: People, single, crm, pos, market_frames, mp, app, person_crm_row) -> list[dict]:
    """Links the systems observe, plus the ones that make every multi-record person connected."""
    n = people.n
    multi = ~single
    specs: list[dict] = []

    def add(kind, rows, source, left_type, left_value, left_ns, right_type, right_value, right_ns):
        if rows.size:
            specs.append({"kind": kind, "row": rows, "source": source,
                          "left_type": left_type, "left_value": left_value, "left_ns": left_ns,
                          "right_type": right_type, "right_value": right_value, "right_ns": right_ns})

    # CRM members whose phone is a test number: the card was bound to the real mobile by SMS code.
    rows = np.flatnonzero((crm["phone_kind"] == PH_TEST) & multi[crm["person"]])
    add(K_CRM, rows, "crm", "member_card", crm["card"][rows], None, "phone",
        people.phone[crm["person"][rows]], None)

    # Marketplace membership binding (buyer id <-> mobile), natural or needed.
    for kind, frame in market_frames.items():
        needed = multi[frame["person"]] & (frame["phone_kind"] == PH_MASKED) & ~frame["unlinkable"]
        frame["bound"] |= needed
        rows = np.flatnonzero(frame["bound"])
        add(kind, rows, KINDS[kind], "buyer_id", frame["buyer_id"][rows], KINDS[kind], "phone",
            people.phone[frame["person"][rows]], None)

    # Mini program: phone authorisation and member-card scans.
    mp_person = mp["person"]
    has_phone = mp["phone_kind"] == PH_REAL
    phone_link = ~people.openid_only[mp_person] & (
        rng.random(mp_person.size) < np.where(has_phone, MP_PHONE_LINK_SHARE[1], MP_PHONE_LINK_SHARE[0]))
    crm_row = person_crm_row[mp_person]
    card_scan = (crm_row >= 0) & (rng.random(mp_person.size) < MP_CARD_SCAN_SHARE)
    crm_unionid = np.zeros(n, dtype=bool)
    crm_unionid[crm["person"]] = crm["has_unionid"]
    anchored = has_phone | phone_link | card_scan | (mp["has_unionid"] & crm_unionid[mp_person])
    phone_link |= multi[mp_person] & ~anchored
    rows = np.flatnonzero(phone_link)
    add(K_MP, rows, "miniprogram", "wechat_openid", mp["openid"][rows], cat.MINI_PROGRAM_APP_ID,
        "phone", people.phone[mp_person[rows]], None)
    rows = np.flatnonzero(card_scan)
    add(K_MP, rows, "miniprogram", "wechat_openid", mp["openid"][rows], cat.MINI_PROGRAM_APP_ID,
        "member_card", crm["card"][crm_row[rows]], None)

    # App: device logins (informational), and a verified phone where nothing else connects the user.
    app_person = app["person"]
    rows = np.flatnonzero(rng.random(app_person.size) < APP_DEVICE_LINK_SHARE)
    add(K_APP, rows, "app", "device_id", app["device_id"][rows], None, "app_user_id",
        app["app_user_id"][rows], None)
    crm_email = np.zeros(n, dtype=bool)
    crm_email[crm["person"]] = crm["email_kind"] == EM_REAL
    mp_unionid = np.zeros(n, dtype=bool)
    mp_unionid[mp_person] = mp["has_unionid"]
    anchored = ((app["phone_kind"] == PH_REAL)
                | ((app["email_kind"] == EM_REAL) & crm_email[app_person])
                | (app["has_unionid"] & (crm_unionid[app_person] | mp_unionid[app_person])))
    rows = np.flatnonzero(multi[app_person] & ~anchored)
    add(K_APP, rows, "app", "app_user_id", app["app_user_id"][rows], None, "phone",
        people.phone[app_person[rows]], None)
    return specs


def _raw_identifier_values(rng, world: World, people: People, crm, pos, market_frames, mp, app) -> None:
    """The landed (messy) strings of phones and e-mails, per record."""
    catalog = world.catalog
    test_phones = np.array(cat.TEST_PHONES)
    placeholders = np.array(cat.PLACEHOLDER_EMAILS)

    def phones_of(frame, store=None):
        kind = frame["phone_kind"]
        true = people.phone[frame["person"]]
        value = np.where(kind == PH_MASKED, "", true)
        if "test_value" in frame:
            value = np.where(kind == PH_TEST, test_phones[frame["test_value"]], value)
        if store is not None:
            value = np.where(kind == PH_STORE, catalog.store_phones[store], value)
        value = np.where(kind == PH_CASHIER, catalog.cashier_phone, value)
        raw = messy_phones(rng, value)
        raw = np.where(kind == PH_MASKED, masked_phones(true), raw)
        frame["phone_raw"] = raw
        frame["phone_valid"] = kind != PH_NONE

    def emails_of(frame):
        kind = frame["email_kind"]
        value = people.email[frame["person"]]
        if "placeholder_value" in frame:
            value = np.where(kind == EM_PLACEHOLDER, placeholders[frame["placeholder_value"]], value)
        frame["email_raw"] = messy_emails(rng, value)
        frame["email_valid"] = kind != EM_NONE

    phones_of(crm)
    emails_of(crm)
    phones_of(pos, store=pos["store"])
    for frame in market_frames.values():
        phones_of(frame)
    phones_of(mp)
    phones_of(app)
    emails_of(app)
    crm["card_raw_scan"] = messy_cards(rng, crm["card"])


# --- times, once the orders are known -----------------------------------------------------------

def assign_record_times(rng: np.random.Generator, world: World, people: People, records: Records) -> None:
    """Registration / first-seen and last-update times of every record.

    A record is created between the person's first contact with the brand and its own first order
    (so nothing is bought before the record exists); records without orders appear later on."""
    base_us = local_to_utc_us(people.base_day[records.person],
                              rng.integers(8 * 3600, 23 * 3600, records.person.size))
    first_order = records.first_order_us
    has_order = first_order >= 0
    latest = np.where(has_order, first_order, base_us + (world.end_us - base_us) * 0.4)
    registered = base_us + ((latest - base_us) * rng.random(records.person.size)).astype(np.int64)
    registered = np.minimum(registered, np.where(has_order, first_order, world.end_us))
    records.registered_us = registered
    records.updated_us = registered + ((world.end_us - registered) * rng.random(registered.size)).astype(np.int64)


def date_recycled_numbers(rng: np.random.Generator, world: World, people: People, records: Records) -> None:
    """Move each old holder's CRM record back in time: last active RECYCLED_SILENT_DAYS before the
    new holder's first record, after RECYCLED_ACTIVE_DAYS of membership."""
    if people.recycled is None or not people.recycled.size:
        return
    old, new = people.recycled[:, 0], people.recycled[:, 1]
    first_registered = np.full(people.n, world.end_us, dtype=np.int64)
    np.minimum.at(first_registered, records.person, records.registered_us)
    crm_row = np.full(people.n, -1, dtype=np.int64)
    crm_row[records.cols[K_CRM]["person"]] = records.rows(K_CRM)
    row = crm_row[old]
    seconds = rng.integers(0, 86_400, (2, old.size)) * 1_000_000
    updated = first_registered[new] - rng.integers(*RECYCLED_SILENT_DAYS, old.size) * US_PER_DAY - seconds[0]
    records.updated_us[row] = updated
    records.registered_us[row] = updated - rng.integers(*RECYCLED_ACTIVE_DAYS, old.size) * US_PER_DAY - seconds[1]


# --- landing tables -----------------------------------------------------------------------------

MEMBER_LEVELS = np.array(["normal", "silver", "gold", "platinum"])
LEVEL_WEIGHTS_BY_PERSONA = {
    PROSPECT: (0.95, 0.05, 0, 0), NEW: (0.95, 0.05, 0, 0), GROWTH: (0.4, 0.45, 0.15, 0),
    MATURE: (0.3, 0.4, 0.25, 0.05), HIGH_VALUE: (0, 0.1, 0.5, 0.4),
    DORMANT: (0.5, 0.35, 0.15, 0), CHURNED: (0.7, 0.25, 0.05, 0),
}


def customer_tables(rng, world: World, people: People, records: Records) -> dict[str, pa.Table | dict]:
    catalog = world.catalog
    reg, upd = records.registered_us, records.updated_us
    out: dict[str, dict] = {}

    crm = records.cols[K_CRM]
    rows = records.rows(K_CRM)
    p = crm["person"]
    persona = people.persona[p]
    level = np.empty(p.size, dtype=np.int64)
    for code, weights in LEVEL_WEIGHTS_BY_PERSONA.items():
        here = persona == code
        level[here] = weighted_choice(rng, weights, here.sum())
    paid_member = rng.random(p.size) < np.where(persona == HIGH_VALUE, 0.4, 0.06)
    points = (rng.gamma(1.2, 400, p.size) * (1 + level)).astype(np.int32)
    via_wechat = crm["has_unionid"]
    # Where the card was opened: WeChat for those who joined there, else mostly a store, now and
    # then the app or the Tmall membership programme when the person uses those.
    reg_channel = np.where(via_wechat, "miniprogram", "pos")
    draw = rng.random(p.size)
    reg_channel = np.where(~via_wechat & (draw < 0.15) & people.groups[p, G_APP], "app", reg_channel)
    reg_channel = np.where(~via_wechat & (draw > 0.85) & (records.cols[K_TMALL]["person"].size > 0)
                           & np.isin(p, records.cols[K_TMALL]["person"]), "tmall", reg_channel)
    in_store = reg_channel == "pos"
    crm["registration_store"] = np.where(in_store, people.home_store[p], -1)
    gender = np.where((rng.random(p.size) < 0.08) & ~people.shows_gender[p], "U", people.gender[p])
    out["crm_members"] = {
        "member_id": arrow_strings(crm["member_id"]),
        "member_card_no": arrow_strings(crm["card"]),
        "phone": arrow_strings(crm["phone_raw"], crm["phone_valid"]),
        "email": arrow_strings(crm["email_raw"], crm["email_valid"]),
        "wechat_unionid": arrow_strings(people.unionid[p], crm["has_unionid"]),
        "full_name": arrow_strings(people.full_name[p]),
        "gender": arrow_strings(gender),
        # 10% never gave a birth date; the name twins did, or their trap would disappear.
        "birth_date": arrow_dates(people.birth_day[p],
                                  (rng.random(p.size) < 0.9) | people.flags["trap_name_twin"][p]),
        "province": arrow_strings(cat.PROVINCES[people.place[p]]),
        "city": arrow_strings(cat.CITIES[people.place[p]]),
        "member_level": arrow_strings(MEMBER_LEVELS[level]),
        "is_paid_member": pa.array(paid_member),
        "points_balance": pa.array(points, pa.int32()),
        "registration_channel": arrow_strings(reg_channel),
        "registration_store_id": arrow_strings(catalog.store_ids[np.maximum(crm["registration_store"], 0)], in_store),
        "registered_at": arrow_timestamps(reg[rows]),
        "updated_at": arrow_timestamps(upd[rows]),
    }

    pos = records.cols[K_POS]
    rows = records.rows(K_POS)
    p = pos["person"]
    typed_name = rng.random(p.size) < 0.6
    out["pos_customers"] = {
        "pos_customer_id": arrow_strings(pos["pos_customer_id"]),
        "store_id": arrow_strings(catalog.store_ids[pos["store"]]),
        "phone": arrow_strings(pos["phone_raw"], pos["phone_valid"]),
        "member_card_no": arrow_strings(crm_card_of(people, records)[p], pos["swiped"]),
        "full_name": arrow_strings(people.full_name[p], typed_name),
        "first_seen_at": arrow_timestamps(reg[rows]),
        "updated_at": arrow_timestamps(upd[rows]),
    }

    parts = []
    for kind in (K_TMALL, K_JD, K_DOUYIN):
        frame = records.cols[kind]
        rows = records.rows(kind)
        p = frame["person"]
        nick = np.strings.add(cat.NICKNAME_WORDS[rng.integers(0, cat.NICKNAME_WORDS.size, p.size)],
                              rng.integers(10, 9999, p.size).astype("U4"))
        gift = rng.random(p.size) < 0.1
        other_name = np.strings.add(cat.SURNAMES[rng.integers(0, cat.SURNAMES.size, p.size)],
                                    cat.GIVEN_NAME_CHARS[rng.integers(0, cat.GIVEN_NAME_CHARS.size, p.size)])
        elsewhere = rng.random(p.size) < 0.15
        place = np.where(elsewhere, weighted_choice(rng, cat.PLACE_WEIGHTS, p.size), people.place[p])
        first_order = records.first_order_us[rows]
        parts.append({
            "platform": arrow_strings(np.full(p.size, KINDS[kind])),
            "buyer_id": arrow_strings(frame["buyer_id"]),
            "buyer_nick": arrow_strings(nick),
            "phone": arrow_strings(frame["phone_raw"], frame["phone_valid"]),
            "receiver_name": arrow_strings(np.where(gift, other_name, people.full_name[p])),
            "province": arrow_strings(cat.PROVINCES[place]),
            "city": arrow_strings(cat.CITIES[place]),
            "first_order_at": arrow_timestamps(np.maximum(first_order, 0), first_order >= 0),
            "updated_at": arrow_timestamps(upd[rows]),
        })
    out["marketplace_buyers"] = {name: pa.concat_arrays([part[name] for part in parts]) for name in parts[0]}

    parts = []
    for kind, app_id in ((K_MP, cat.MINI_PROGRAM_APP_ID), (K_OA, cat.OFFICIAL_ACCOUNT_APP_ID)):
        frame = records.cols[kind]
        rows = records.rows(kind)
        p = frame["person"]
        has_unionid = frame["has_unionid"] if kind == K_MP else np.ones(p.size, dtype=bool)
        nickname = cat.NICKNAME_WORDS[rng.integers(0, cat.NICKNAME_WORDS.size, p.size)]
        profile = ~people.openid_only[p]
        pinyin = rng.random(p.size) < 0.5
        city = np.where(pinyin, cat.CITIES_PINYIN[people.place[p]], cat.CITIES[people.place[p]])
        phone_raw = frame.get("phone_raw", np.full(p.size, ""))
        phone_valid = frame.get("phone_valid", np.zeros(p.size, dtype=bool))
        parts.append({
            "app_id": arrow_strings(np.full(p.size, app_id)),
            "openid": arrow_strings(frame["openid"]),
            "unionid": arrow_strings(people.unionid[p], has_unionid),
            "phone": arrow_strings(phone_raw, phone_valid),
            "nickname": arrow_strings(nickname, profile),
            "gender": arrow_strings(np.where(profile & ((rng.random(p.size) < 0.8) | people.shows_gender[p]),
                                             people.gender[p], "U")),
            "city": arrow_strings(city, profile & (rng.random(p.size) < 0.7)),
            "registered_at": arrow_timestamps(reg[rows]),
            "updated_at": arrow_timestamps(upd[rows]),
        })
    out["miniprogram_users"] = {name: pa.concat_arrays([part[name] for part in parts]) for name in parts[0]}

    app = records.cols[K_APP]
    rows = records.rows(K_APP)
    p = app["person"]
    out["app_users"] = {
        "app_user_id": arrow_strings(app["app_user_id"]),
        "device_id": arrow_strings(app["device_id"]),
        "phone": arrow_strings(app["phone_raw"], app["phone_valid"]),
        "email": arrow_strings(app["email_raw"], app["email_valid"]),
        "wechat_unionid": arrow_strings(people.unionid[p], app["has_unionid"]),
        "registered_at": arrow_timestamps(reg[rows]),
        "updated_at": arrow_timestamps(upd[rows]),
    }
    return out


def crm_card_of(people: People, records: Records) -> np.ndarray:
    """Each person's member card number ('' when not a member)."""
    crm = records.cols[K_CRM]
    card = np.full(people.n, "", dtype=crm["card"].dtype if crm["card"].size else "U13")
    card[crm["person"]] = crm["card"]
    return card


def identity_link_columns(rng, world: World, records: Records, link_specs: dict, next_link: int) -> dict:
    """identity_links rows; each observed some time after the observing record was created."""
    specs = link_specs["specs"]
    if not specs:
        return {}
    record = np.concatenate([spec["record"] for spec in specs])
    count = record.size
    registered = records.registered_us[record]
    observed = registered + ((world.end_us - registered) * rng.random(count) * 0.5).astype(np.int64)

    def column(name: str) -> np.ndarray:
        parts = []
        for spec in specs:
            value = spec[name]
            size = spec["record"].size
            parts.append(np.full(size, "" if value is None else value) if value is None or np.isscalar(value)
                         else np.asarray(value))
        return np.concatenate(parts)

    def namespace(name: str) -> tuple[np.ndarray, np.ndarray]:
        values = column(name)
        return values, values != ""

    # Phones in links are raw too (typed in verification forms), with the same messy formats.
    right_value = column("right_value").astype(object)  # room for the longer messy forms
    right_type = column("right_type")
    is_phone = right_type == "phone"
    right_value[is_phone] = messy_phones(rng, right_value[is_phone].astype(str))
    is_card = right_type == "member_card"
    right_value[is_card] = messy_cards(rng, right_value[is_card].astype(str))
    left_ns, left_has = namespace("left_ns")
    right_ns, right_has = namespace("right_ns")
    return {
        "link_id": sequence_ids("lk", next_link, count),
        "source_system": arrow_strings(column("source")),
        "left_id_type": arrow_strings(column("left_type")),
        "left_id_value": arrow_strings(column("left_value")),
        "left_id_namespace": arrow_strings(left_ns, left_has),
        "right_id_type": arrow_strings(right_type),
        "right_id_value": arrow_strings(right_value),
        "right_id_namespace": arrow_strings(right_ns, right_has),
        "observed_at": arrow_timestamps(observed),
    }


def truth_columns(people: People, records: Records) -> tuple[dict, dict]:
    source_system = np.array(KIND_SOURCE_SYSTEM)[records.kind]
    person_records = {
        "source_system": arrow_strings(source_system),
        "source_record_id": arrow_strings(records.record_id),
        "person_id": arrow_strings(people.person_ids[records.person]),
    }
    counts = np.bincount(records.person, minlength=people.n)
    kinds_matrix = np.zeros((people.n, len(KINDS)), dtype=bool)
    kinds_matrix[records.person, records.kind] = True
    channels = np.full(people.n, "", dtype="U64")
    for kind, name in enumerate(KINDS):
        has = kinds_matrix[:, kind]
        channels[has] = np.where(channels[has] == "", name, np.strings.add(np.strings.add(channels[has], ","), name))
    persons = {
        "person_id": arrow_strings(people.person_ids),
        "phone": arrow_strings(people.phone),
        "email": arrow_strings(people.email, people.email != ""),
        "wechat_unionid": arrow_strings(people.unionid, people.groups[:, G_WECHAT] & ~people.openid_only),
        "full_name": arrow_strings(people.full_name),
        "gender": arrow_strings(people.gender),
        "birth_date": arrow_dates(people.birth_day),
        "province": arrow_strings(cat.PROVINCES[people.place]),
        "city": arrow_strings(cat.CITIES[people.place]),
        "persona": arrow_strings(np.array(PERSONAS)[people.persona]),
        "expected_lifecycle": arrow_strings(people.flags["expected_lifecycle"]),
        "expected_warning": arrow_strings(people.flags["expected_warning"], people.flags["expected_warning"] != ""),
        "prospect_funnel": arrow_strings(np.array(["none", "awareness", "interest"])[people.funnel],
                                         people.persona == PROSPECT),
        "record_count": pa.array(counts.astype(np.int32)),
        "channels": arrow_strings(channels),
        "order_count": pa.array(people.flags["order_count"].astype(np.int32)),
        "is_openid_only": pa.array(people.openid_only),
        "is_cashier": pa.array(people.is_cashier),
    }
    for name in ("trap_store_phone", "trap_cashier_phone", "trap_test_phone", "trap_placeholder_email",
                 "trap_name_twin", "trap_recycled_phone", "trap_family_device", "has_unlinkable_record",
                 "has_zero_device_id"):
        persons[name] = pa.array(people.flags[name])
    return person_records, persons
