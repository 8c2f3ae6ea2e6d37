"""Marketing consent per record and channel, and the campaign coupons nobody used."""

from __future__ import annotations

import numpy as np

from activation.demo import catalog as cat
from activation.demo.customers import (
    CHURNED, DORMANT, EM_NONE, GROWTH, HIGH_VALUE, K_APP, K_CRM, K_MP, K_OA, K_POS, KIND_ORDER_CHANNEL,
    KINDS, NEW, PH_MASKED, PH_NONE, People, Records, World,
)
from activation.demo.encode import US_PER_DAY, local_to_utc_us

CONSENT_CHANNELS = ("sms", "email", "wecom", "wechat", "app_push", "ad_platform")
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
