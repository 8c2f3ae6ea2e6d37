"""Marketing consent per record and channel, the campaign coupons nobody used, and the global
suppression list (who must not be contacted)."""

from __future__ import annotations

import math

import numpy as np

from activation.channels import CONSENT_CHANNELS
from activation.demo import catalog as cat
from activation.demo.customers import (
    CHURNED, DORMANT, EM_NONE, G_WECHAT, GROWTH, HIGH_VALUE, K_APP, K_CRM, K_MP, K_OA, K_POS,
    KIND_ORDER_CHANNEL, KINDS, NEW, PH_MASKED, PH_NONE, People, Records, World,
)
from activation.demo.encode import (
    US_PER_DAY, local_to_utc_us, masked_phones, messy_emails, messy_phones, quota,
)

# channel -> (kinds of record that can hold it, share granted, share of grants revoked later)
CONSENT_RULES = {
    "sms": ((K_CRM, K_POS, K_MP, K_APP), 0.80, 0.12),          # records with a phone only
    "email": ((K_CRM, K_APP), 0.50, 0.08),                      # records with an e-mail only
    "wecom": ((K_CRM, K_MP), 0.30, 0.05),
    "wechat": ((K_MP, K_OA), 0.70, 0.10),
    "app_push": ((K_APP,), 0.65, 0.15),
    "ad_platform": (tuple(range(len(KINDS))), 0.25, 0.05),
}
# Audience of each campaign -> personas it reaches more often.
AUDIENCE_PERSONAS = {
    "all_members": None,
    "growth_members": (GROWTH, NEW),
    "dormant_members": (DORMANT,),
    "high_value_members": (HIGH_VALUE,),
    "churned_members": (CHURNED,),
}
REACH_IN_AUDIENCE, REACH_OUTSIDE, REACH_ALL_MEMBERS = 0.6, 0.05, 0.25


def consent_events(rng: np.random.Generator, world: World, records: Records) -> dict[str, np.ndarray]:
    """Grant (and some later revocations) per (record, touch-point channel)."""
    has_phone = np.zeros(records.kind.size, dtype=bool)
    has_email = np.zeros(records.kind.size, dtype=bool)
    for kind in (K_CRM, K_POS, K_MP, K_APP):
        frame = records.cols[kind]
        has_phone[records.rows(kind)] = ~np.isin(frame["phone_kind"], (PH_NONE, PH_MASKED))
    for kind in (K_CRM, K_APP):
        has_email[records.rows(kind)] = records.cols[kind]["email_kind"] != EM_NONE

    rows, channels, statuses, times = [], [], [], []
    for channel, (kinds, grant_share, revoke_share) in CONSENT_RULES.items():
        candidate = np.isin(records.kind, kinds)
        if channel == "sms":
            candidate &= has_phone
        elif channel == "email":
            candidate &= has_email
        granted = np.flatnonzero(candidate & (rng.random(records.kind.size) < grant_share))
        registered = records.registered_us[granted]
        granted_at = np.minimum(registered + rng.integers(0, 3 * US_PER_DAY, granted.size), world.end_us)
        revoked = rng.random(granted.size) < revoke_share
        revoked_at = granted_at[revoked] + ((world.end_us - granted_at[revoked])
                                            * rng.random(revoked.sum())).astype(np.int64)
        code = CONSENT_CHANNELS.index(channel)
        rows += [granted, granted[revoked]]
        channels += [np.full(granted.size, code), np.full(revoked.sum(), code)]
        statuses += [np.zeros(granted.size, dtype=np.int64), np.ones(revoked.sum(), dtype=np.int64)]
        times += [granted_at, revoked_at]
    return {"record": np.concatenate(rows), "channel": np.concatenate(channels),
            "status": np.concatenate(statuses), "recorded_us": np.concatenate(times)}


def unused_campaign_coupons(rng: np.random.Generator, world: World, people: People, records: Records,
                            consent: dict) -> dict[str, np.ndarray]:
    """Coupons sent through each campaign's touch point to records that had consented, and
    never redeemed. (The redeemed ones come from the orders that used them.)"""
    granted = consent["status"] == 0
    parts = []
    for k, scheduled in enumerate(world.campaigns):
        campaign = scheduled.campaign
        channel_code = CONSENT_CHANNELS.index(campaign.channel)
        start_us = local_to_utc_us(scheduled.start_day, 0)
        end_us = local_to_utc_us(scheduled.end_day + 1, 0) - 1
        reachable = granted & (consent["channel"] == channel_code) & (consent["recorded_us"] <= end_us)
        record = np.unique(consent["record"][reachable])
        persona = people.persona[records.person[record]]
        audience = AUDIENCE_PERSONAS[campaign.audience_name]
        if audience is None:
            reach = np.full(record.size, REACH_ALL_MEMBERS)
        else:
            reach = np.where(np.isin(persona, audience), REACH_IN_AUDIENCE, REACH_OUTSIDE)
        record = record[rng.random(record.size) < reach]
        sent_from = np.maximum(start_us, records.registered_us[record])
        issued = sent_from + ((end_us - sent_from) * rng.random(record.size)).astype(np.int64)
        # Where the coupon can be used: the record's own shop when the campaign covers it.
        usable = [cat.ORDER_CHANNELS.index(c) for c in campaign.usable_channels]
        own = np.array(KIND_ORDER_CHANNEL)[records.kind[record]]
        channel = np.where(np.isin(own, usable), own, usable[0])
        parts.append({"record": record, "campaign": np.full(record.size, k), "channel": channel,
                      "issued_us": issued, "expires_us": issued + campaign.valid_days * US_PER_DAY})
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


# The suppression list: rows per 10,000 people for each reason (a few dozen in all), and how many of
# the complaints and do-not-contact requests were lifted later (the member opted back in).
SUPPRESSIONS_PER_10K = {"complaint": 24, "do_not_contact": 8, "deceased": 3, "legal_request": 2, "other": 2}
SUPPRESSIONS_LIFTED_PER_10K = 6
# Complaints relayed by marketplace customer service carry the masked phone the platform shows
# (138****1234): not an identifier, so staging rejects them and a data steward follows up.
SUPPRESSIONS_MASKED_PER_10K = 2
SUPPRESSION_HISTORY_DAYS = 540


def suppression_totals(people: int) -> dict[str, int]:
    """Dataset-wide row counts: at least one of each kind, so even a small demo shows them all."""
    totals = {reason: math.ceil(people * per_10k / 10_000) for reason, per_10k in SUPPRESSIONS_PER_10K.items()}
    totals["lifted"] = math.ceil(people * SUPPRESSIONS_LIFTED_PER_10K / 10_000)
    totals["masked"] = math.ceil(people * SUPPRESSIONS_MASKED_PER_10K / 10_000)
    return totals


def suppressions(rng: np.random.Generator, world: World, people: People) -> dict[str, np.ndarray]:
    """This chunk's share of the suppression list, with raw identifier values as they are reported
    (messy phones and e-mails, which staging normalises). Identifiers are the person's own phone,
    e-mail or unionid: a one_id only exists in the warehouse."""
    totals = suppression_totals(world.people)
    share = {kind: quota(total, people.start, people.n, world.people) for kind, total in totals.items()}
    has_email = people.email != ""
    has_unionid = people.groups[:, G_WECHAT] & ~people.openid_only
    # The cashier's walk-ins share one phone: keep the demo's suppressions about real people. A
    # recycled number's holders are left out too: a complaint names the number, not its holder.
    candidates = np.flatnonzero(~people.is_cashier & ~people.flags["trap_recycled_phone"])
    reasons = [reason for reason in SUPPRESSIONS_PER_10K for _ in range(share[reason])]
    reasons = reasons[:candidates.size]
    person = rng.choice(candidates, size=len(reasons), replace=False)
    reason = np.array(reasons, dtype="U16")
    n = person.size

    # What names the person: a phone for most, an e-mail or unionid where they have one.
    draw = rng.random(n)
    id_type = np.full(n, "phone", dtype="U16")
    by_email = (draw < 0.2) & has_email[person] & np.isin(reason, ("complaint", "do_not_contact", "legal_request"))
    by_unionid = (draw >= 0.8) & has_unionid[person] & np.isin(reason, ("complaint", "do_not_contact"))
    id_type[by_email] = "email"
    id_type[by_unionid] = "wechat_unionid"
    value = np.where(id_type == "phone", messy_phones(rng, people.phone[person]).astype(object), None)
    value[by_email] = messy_emails(rng, people.email[person[by_email]])
    value[by_unionid] = people.unionid[person[by_unionid]]
    complaint = np.flatnonzero(reason == "complaint")
    masked = complaint[:min(share["masked"], complaint.size)]
    value[masked] = masked_phones(people.phone[person[masked]])
    id_type[masked] = "phone"

    # A complaint suppresses the channel it was about (now and then every channel, null); a
    # do-not-contact request every channel or one; deceased and legal requests every channel.
    draw, pick = rng.random((2, n))
    about = np.select([id_type == "email", (id_type == "wechat_unionid") & (pick < 0.5), id_type == "wechat_unionid"],
                      ["email", "wecom", "wechat"], "sms")
    other = np.array(["app_push", "wechat", "all"])[(pick * 3).astype(np.int64)]
    channel = np.select([reason == "complaint", reason == "do_not_contact", reason == "other"],
                        [np.where(draw < 0.85, about, "all"), np.where(draw < 0.4, about, "all"), other], "all")
    channel = np.where(channel == "all", None, channel.astype(object))

    day = world.end_day - rng.integers(0, SUPPRESSION_HISTORY_DAYS, n)
    suppressed_us = np.minimum(local_to_utc_us(day, rng.integers(9 * 3600, 21 * 3600, n)), world.end_us)
    liftable = np.flatnonzero(np.isin(reason, ("complaint", "do_not_contact")))
    liftable = np.setdiff1d(liftable, masked)
    lifted = rng.choice(liftable, size=min(share["lifted"], liftable.size), replace=False)
    lifted_us = np.full(n, -1, dtype=np.int64)
    lifted_us[lifted] = suppressed_us[lifted] + (
        (world.end_us - suppressed_us[lifted]) * rng.uniform(0.1, 0.9, lifted.size)).astype(np.int64)
    return {"identifier_type": id_type, "identifier_value": value, "reason": reason, "channel": channel,
            "suppressed_us": suppressed_us, "lifted_us": lifted_us}
