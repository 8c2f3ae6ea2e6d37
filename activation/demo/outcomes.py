"""What happens after a demo send: deliveries, clicks and orders, with a planted true effect.

    simulate_campaign(settings, "winback_demo", seed=7)

The demo brand's history ends before the demo sync, so without this every campaign in the review
shows no order and an uplift of 0 in [0, 0]. This simulates the campaign's attribution window for
the members the sync assigned (activation.campaign_assignments), treated and holdout alike, and
lands the result the way real data arrives:

- orders and their lines as new files in the landing folders (`orders/`, `order_lines/`), which
  go through the landing checks of the base_ models like any other file;
- delivery, click and conversion reports through the feedback loader (`activate feedback load`'s
  validation and landing, activation/feedback.py);
- the campaign itself, with its budget and attribution window, as a row of the `campaigns` landing
  table (unless the brand declared it already).

The model. Every assigned member converts (places at least one paid order in the window) with
the baseline probability, and a converter spends a Gamma-distributed amount with the baseline
mean, split over one or more orders; holdout members and treated members of a variant without an
effect keep the baseline. A treated member the sync sent to, of a variant with an effect
(conversion points, ARPU yuan), converts with probability baseline + points, and a converter's mean
spend is set so that GMV per member rises by exactly the ARPU effect:

    E[GMV per member] = p x m,   p_v = p_0 + points,   m_v = (p_0 m_0 + arpu) / p_v.

So the true effect per member sent is the planted one, which is what campaign_uplift estimates
per treated member when every treated member was sent (a first sync without frequency caps).

A simulation cannot wait out the attribution window, and the landing contract rightly quarantines
rows dated after the build's clock. So the campaign is moved back in time: every assignment of the
campaign is re-dated by whole days so that the latest one falls on `sent_on` (default: the latest
day whose window has closed by now). The send ledger keeps its real times. Simulating the same
campaign again replaces the files of the previous simulation (listed in
`<raw_dir>/../simulations/<campaign>.json`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from activation import warehouse
from activation.demo.encode import US_PER_DAY, US_PER_SECOND, arrow_money, arrow_strings, arrow_timestamps
from activation.demo.sink import LANDING_SCHEMAS, TableSink
from activation.errors import ActivationError
from activation.feedback import land_rows
from activation.settings import ACTIVATION_SCHEMA, Settings

DEFAULT_WINDOW_DAYS = 14
# Source systems whose records place orders, most trusted first, and the channel of their orders
# (a CRM member buys at the tills).
ORDER_CHANNEL_OF_SYSTEM = {
    "crm": "pos", "miniprogram": "miniprogram", "app": "app", "tmall": "tmall", "jd": "jd",
    "douyin": "douyin", "pos": "pos",
}
_EFFECT = re.compile(r"^([a-z0-9_]{1,32})=([-+]?[0-9.]+):([-+]?[0-9.]+)$")


@dataclass(frozen=True)
class Effect:
    """The true effect of a variant on a member it was sent to."""

    conversion_points: float = 0.0  # added to the conversion probability (0.03 = 3 points)
    arpu: float = 0.0  # added to the expected GMV per member, in yuan


@dataclass(frozen=True)
class Baseline:
    """What a member does in the window without the campaign."""

    conversion: float = 0.12  # probability of at least one paid order in the window
    spend_per_converter: float = 260.0  # mean GMV of a converter, yuan
    spend_shape: float = 3.0  # Gamma shape of a converter's spend (coefficient of variation 1/sqrt)
    extra_orders: float = 0.25  # Poisson mean of orders beyond the first
    delivery_rate: float = 0.96
    click_rate: float = 0.05  # of delivered members who do not convert
    converter_click_rate: float = 0.5  # of delivered members who convert


DEFAULT_EFFECTS = {"a": Effect(0.03, 20.0), "b": Effect(0.0, 0.0)}


@dataclass(frozen=True)
class GroupOutcome:
    group: str  # "holdout" or the treated variant
    members: int
    sent: int
    delivered: int  # members the destination reported delivered
    clicked: int
    converted: int  # members with a paid order in the window
    orders: int
    gmv: float
    planted_conversion_points: float
    planted_arpu: float


@dataclass(frozen=True)
class SimulationSummary:
    campaign_id: str
    seed: int
    sent_on: dt.date
    window_days: int
    shifted_days: int
    declared_by_simulation: bool
    groups: list[GroupOutcome]
    files: list[str] = field(default_factory=list)
    feedback_rows: int = 0

    def as_dict(self) -> dict:
        result = asdict(self)
        result["sent_on"] = self.sent_on.isoformat()
        return result


def parse_effects(texts: tuple[str, ...] | list[str] | None) -> dict[str, Effect]:
    """["a=0.03:20", "b=0:0"] -> {"a": Effect(0.03, 20.0), ...}; none given -> DEFAULT_EFFECTS."""
    if not texts:
        return dict(DEFAULT_EFFECTS)
    effects = {}
    for text in texts:
        match = _EFFECT.match(text.strip())
        if not match:
            raise ActivationError(
                f"An effect is VARIANT=CONVERSION_POINTS:ARPU_YUAN, e.g. a=0.03:20; got {text!r}.")
        effects[match[1]] = Effect(float(match[2]), float(match[3]))
    return effects


def simulate_campaign(settings: Settings, campaign_id: str, *, seed: int = 7,
                      effects: dict[str, Effect] | None = None, sent_on: dt.date | None = None,
                      budget: float = 1000.0, baseline: Baseline = Baseline(),
                      now: dt.datetime | None = None) -> SimulationSummary:
    """Simulate CAMPAIGN's attribution window and land the outcome (see the module docstring)."""
    given = effects is not None
    effects = dict(DEFAULT_EFFECTS if effects is None else effects)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with warehouse.connect(settings.duckdb_path, read_only=False) as connection:
        # A declaration landed by an earlier simulation of the campaign is replaced, not kept.
        declared = None if _declared_by_simulation(settings, campaign_id) else _declared_campaign(connection, campaign_id)
        window_days = int(declared["attribution_window_days"]) if declared else DEFAULT_WINDOW_DAYS
        latest = _latest_day(now, window_days)
        sent_on = sent_on or latest
        if sent_on > latest:
            raise ActivationError(
                f"The attribution window of a send on {sent_on} has not closed by now; "
                f"the latest day a simulated send can go out is {latest}.")
        shifted_days = _redate_assignments(connection, campaign_id, sent_on)
        members = _assigned_members(connection, campaign_id)
        products = [row[0] for row in connection.execute(
            "select product_id from marts.dim_products where is_active order by product_id").fetchall()]
        stores = _stores_by_channel(connection)
        channel = connection.execute(
            f"select min(channel) from {ACTIVATION_SCHEMA}.sync_ledger where campaign_id = ?",
            [campaign_id]).fetchone()[0]
    if not given:  # the defaults name variants a and b; a campaign may have others
        effects = {name: effect for name, effect in effects.items() if name in set(members["variant"])}
    _check_effects(effects, baseline, members["variant"])

    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, _stable_int(campaign_id)])
    outcome = _simulate(rng, members, effects, baseline, window_days)
    _remove_previous(settings, campaign_id)
    files = _write_orders(settings, campaign_id, members, outcome, rng, products, stores)
    feedback = _feedback_rows(rng, campaign_id, members, outcome, baseline)
    result = land_rows(settings, feedback, None, rejects_name=f"simulated-{_slug(campaign_id)}")
    if result.rows_rejected:
        raise ActivationError(
            f"The feedback loader refused {result.rows_rejected} simulated rows: {result.rejection_reasons}")
    files += [str(result.landing_file)] if result.landing_file else []
    if not declared:
        files.append(_declare_campaign(settings, campaign_id, channel, members, sent_on, window_days, budget))
    _remember(settings, campaign_id, files)
    return SimulationSummary(
        campaign_id=campaign_id, seed=seed, sent_on=sent_on, window_days=window_days,
        shifted_days=shifted_days, declared_by_simulation=declared is None,
        groups=_group_outcomes(members, outcome, effects, feedback),
        files=files, feedback_rows=result.rows_loaded,
    )


def _latest_day(now: dt.datetime, window_days: int) -> dt.date:
    """The latest day a send can have gone out for its whole window to lie before now (the day
    after the window, in UTC, must have begun)."""
    return now.date() - dt.timedelta(days=window_days + 1)


def _declared_campaign(connection, campaign_id: str) -> dict | None:
    """The brand's own declaration of the campaign, when dbt has built one."""
    cursor = connection.execute(
        "select campaign_id, attribution_window_days, cost_amount from marts.dim_campaigns "
        "where campaign_id = ? and is_declared", [campaign_id])
    row = cursor.fetchone()
    return dict(zip([column[0] for column in cursor.description], row)) if row else None


def _redate_assignments(connection, campaign_id: str, sent_on: dt.date) -> int:
    """Move the campaign's assignments back by whole days so that the latest falls on sent_on;
    returns the days moved (0 when it is already there or earlier)."""
    latest = connection.execute(
        f"select max(assigned_at) from {ACTIVATION_SCHEMA}.campaign_assignments where campaign_id = ?",
        [campaign_id]).fetchone()[0]
    if latest is None:
        raise ActivationError(
            f"Campaign {campaign_id!r} has no assignments: sync it first "
            f"(activate sync AUDIENCE --to DESTINATION --campaign {campaign_id}).")
    days = (latest.date() - sent_on).days
    if days > 0:
        connection.execute(
            f"update {ACTIVATION_SCHEMA}.campaign_assignments "
            f"set assigned_at = assigned_at - to_days(cast(? as integer)) where campaign_id = ?",
            [days, campaign_id])
    return max(days, 0)


def _assigned_members(connection, campaign_id: str) -> dict[str, np.ndarray]:
    """Every assigned member with their group, whether the destination took a send for them, and
    the source record their orders are placed with (one per person, most trusted system first)."""
    systems = list(ORDER_CHANNEL_OF_SYSTEM)
    priority = " ".join(f"when '{system}' then {rank}" for rank, system in enumerate(systems))
    rows = connection.execute(
        f"""
        with sent as (
            select distinct one_id
            from {ACTIVATION_SCHEMA}.sync_ledger
            where campaign_id = ? and operation in ('add', 'update') and send_status in ('sent', 'unknown')
        ),
        records as (
            select one_id, source_system, source_record_id,
                row_number() over (
                    partition by one_id
                    order by case source_system {priority} else 99 end, source_record_id
                ) as record_rank
            from marts.dim_source_records
            where source_system in ({', '.join('?' for _ in systems)})
        )
        select
            assignments.one_id,
            assignments.assignment_group,
            coalesce(assignments.variant, '') as variant,
            assignments.destination_name,
            assignments.audience_name,
            epoch_us(assignments.assigned_at) as assigned_us,
            sent.one_id is not null as is_sent,
            records.source_system,
            records.source_record_id
        from {ACTIVATION_SCHEMA}.campaign_assignments as assignments
        left join sent on assignments.one_id = sent.one_id
        left join records on assignments.one_id = records.one_id and records.record_rank = 1
        where assignments.campaign_id = ?
        order by assignments.one_id
        """,
        [campaign_id, *systems, campaign_id],
    ).fetchall()
    names = ("one_id", "group", "variant", "destination", "audience", "assigned_us", "is_sent",
             "source_system", "source_record_id")
    columns = {name: np.array([row[i] for row in rows], dtype=object) for i, name in enumerate(names)}
    columns["assigned_us"] = columns["assigned_us"].astype(np.int64)
    columns["is_sent"] = columns["is_sent"].astype(bool) & (columns["group"] == "treated")
    columns["has_record"] = np.array([system is not None for system in columns["source_system"]], dtype=bool)
    return columns


def _stores_by_channel(connection) -> dict[str, list[str]]:
    stores: dict[str, list[str]] = {}
    for store_id, channel in connection.execute(
            "select store_id, channel from marts.dim_stores order by store_id").fetchall():
        stores.setdefault(channel, []).append(store_id)
    return stores


def _check_effects(effects: dict[str, Effect], baseline: Baseline, variants: np.ndarray) -> None:
    for name, effect in effects.items():
        probability = baseline.conversion + effect.conversion_points
        if not 0 < probability <= 1:
            raise ActivationError(
                f"Variant {name}: baseline conversion {baseline.conversion} plus {effect.conversion_points} "
                "is not a probability.")
        if baseline.conversion * baseline.spend_per_converter + effect.arpu <= 0:
            raise ActivationError(f"Variant {name}: an ARPU effect of {effect.arpu} leaves no spend.")
    unknown = set(effects) - set(variants)
    if unknown:
        raise ActivationError(
            f"No treated member has variant {', '.join(sorted(unknown))}; the campaign's variants are "
            f"{', '.join(sorted(set(variants) - {''})) or 'none'}.")


def _simulate(rng: np.random.Generator, members: dict, effects: dict[str, Effect], baseline: Baseline,
              window_days: int) -> dict[str, np.ndarray]:
    """Who converts, how much they spend, and their orders (member index, time, amount in cents).
    Members without an order-placing source record cannot be shown to buy, so they do not."""
    n = members["one_id"].size
    points = np.zeros(n)
    arpu = np.zeros(n)
    for name, effect in effects.items():
        exposed = members["is_sent"] & (members["variant"] == name)
        points[exposed] = effect.conversion_points
        arpu[exposed] = effect.arpu
    probability = baseline.conversion + points
    mean_spend = (baseline.conversion * baseline.spend_per_converter + arpu) / probability
    converted = (rng.random(n) < probability) & members["has_record"]
    spend = rng.gamma(baseline.spend_shape, mean_spend / baseline.spend_shape)
    spend = np.where(converted, spend, 0.0)

    buyers = np.flatnonzero(converted)
    order_counts = 1 + rng.poisson(baseline.extra_orders, buyers.size)
    member_of_order = np.repeat(buyers, order_counts)
    # A converter's spend split over their orders (a flat Dirichlet), in cents, at least a cent.
    weights = rng.gamma(1.0, 1.0, member_of_order.size)
    totals = np.bincount(member_of_order, weights=weights, minlength=n)
    cents = np.maximum(np.round(spend[member_of_order] * weights / totals[member_of_order] * 100), 1)
    # Inside [assigned_at, assigned_at + window): a minute clear of either end.
    span_us = window_days * US_PER_DAY - 120 * US_PER_SECOND
    ordered_us = (members["assigned_us"][member_of_order] + 60 * US_PER_SECOND
                  + (rng.random(member_of_order.size) * span_us).astype(np.int64))
    return {"converted": converted, "order_member": member_of_order, "order_us": ordered_us,
            "order_cents": cents.astype(np.int64)}


def _order_ids(campaign_id: str, count: int) -> list[str]:
    prefix = f"SIM{hashlib.sha256(campaign_id.encode()).hexdigest()[:8].upper()}"
    return [f"{prefix}-{number:07d}" for number in range(1, count + 1)]


def _write_orders(settings: Settings, campaign_id: str, members: dict, outcome: dict,
                  rng: np.random.Generator, products: list[str], stores: dict[str, list[str]]) -> list[str]:
    """The simulated orders and one line each, as one new file per landing table."""
    member = outcome["order_member"]
    count = member.size
    order_ids = _order_ids(campaign_id, count)
    systems = members["source_system"][member]
    channels = np.array([ORDER_CHANNEL_OF_SYSTEM[system] for system in systems], dtype=object)
    store_ids = [stores[channel][int(rng.integers(len(stores[channel])))] for channel in channels]
    cents = outcome["order_cents"]
    zero = np.zeros(count, dtype=np.int64)
    paid_us = outcome["order_us"] + rng.integers(5, 600, count) * US_PER_SECOND
    name = f"simulated-{_slug(campaign_id)}.{settings.raw_format}"
    orders = {
        "order_id": arrow_strings(np.array(order_ids, dtype=object)),
        "channel": arrow_strings(channels),
        "store_id": arrow_strings(np.array(store_ids, dtype=object)),
        "customer_source_system": arrow_strings(systems),
        "customer_source_record_id": arrow_strings(members["source_record_id"][member]),
        "order_status": pa.array(["paid"] * count, pa.string()),
        "ordered_at": arrow_timestamps(outcome["order_us"]),
        "paid_at": arrow_timestamps(paid_us),
        "gross_amount": arrow_money(cents),
        "discount_amount": arrow_money(zero),
        "paid_amount": arrow_money(cents),
        "refund_amount": arrow_money(zero),
        "coupon_id": pa.nulls(count, pa.string()),
        "currency": pa.array(["CNY"] * count, pa.string()),
    }
    product_ids = np.array(products, dtype=object)[rng.integers(len(products), size=count)]
    lines = {
        "order_id": orders["order_id"],
        "line_number": pa.array(np.ones(count, dtype=np.int32)),
        "product_id": arrow_strings(product_ids),
        "quantity": pa.array(np.ones(count, dtype=np.int32)),
        "unit_price": arrow_money(cents),
        "line_amount": arrow_money(cents),
    }
    written = []
    for table, columns in (("orders", orders), ("order_lines", lines)):
        path = settings.raw_dir / table / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = TableSink(path, LANDING_SCHEMAS[table], settings.raw_format)
        try:
            sink.write(columns)
        finally:
            sink.close()
        written.append(str(path))
    return written


def _feedback_rows(rng: np.random.Generator, campaign_id: str, members: dict, outcome: dict,
                   baseline: Baseline) -> list[dict]:
    """What the destination reports about the members it was sent: delivered or failed, clicked,
    and converted (with the first order) for converters who clicked through."""
    sent = np.flatnonzero(members["is_sent"])
    delivered = rng.random(sent.size) < baseline.delivery_rate
    converted = outcome["converted"][sent]
    click_rate = np.where(converted, baseline.converter_click_rate, baseline.click_rate)
    clicked = delivered & (rng.random(sent.size) < click_rate)
    first_order = {}
    for position in np.argsort(outcome["order_us"], kind="stable"):
        first_order.setdefault(int(outcome["order_member"][position]), position)
    order_ids = _order_ids(campaign_id, outcome["order_member"].size)

    rows = []
    for k, index in enumerate(sent):
        base_us = int(members["assigned_us"][index])
        common = {"campaign_id": campaign_id, "destination_name": members["destination"][index],
                  "one_id": members["one_id"][index], "order_id": None, "revenue_amount": None}
        delivered_us = base_us + int(rng.integers(30, 1800)) * US_PER_SECOND
        rows.append({**common, "event_type": "delivered" if delivered[k] else "failed",
                     "occurred_at": _timestamp(delivered_us)})
        if not clicked[k]:
            continue
        position = first_order.get(int(index))
        clicked_us = delivered_us + int(rng.integers(60, 36 * 3600)) * US_PER_SECOND
        if position is not None:
            clicked_us = min(clicked_us, int(outcome["order_us"][position]) - US_PER_SECOND)
        rows.append({**common, "event_type": "clicked", "occurred_at": _timestamp(max(clicked_us, delivered_us))})
        if position is not None:
            rows.append({**common, "event_type": "converted", "order_id": order_ids[position],
                         "revenue_amount": f"{outcome['order_cents'][position] / 100:.2f}",
                         "occurred_at": _timestamp(int(outcome["order_us"][position]))})
    return rows


def _declare_campaign(settings: Settings, campaign_id: str, channel: str | None, members: dict, sent_on: dt.date,
                      window_days: int, budget: float) -> str:
    """The campaign as the brand would declare it: name, channel, audience, dates, budget, window."""
    start = dt.datetime.combine(sent_on, dt.time())
    start_us = int((start - dt.datetime(1970, 1, 1)).total_seconds()) * US_PER_SECOND
    path = settings.raw_dir / "campaigns" / f"simulated-{_slug(campaign_id)}.{settings.raw_format}"
    path.parent.mkdir(parents=True, exist_ok=True)
    sink = TableSink(path, LANDING_SCHEMAS["campaigns"], settings.raw_format)
    try:
        sink.write({
            "campaign_id": pa.array([campaign_id]),
            "campaign_name": pa.array([campaign_id]),
            "channel": pa.array([channel], pa.string()),
            "audience_name": pa.array([str(members["audience"][0]) if members["audience"].size else None]),
            "started_at": arrow_timestamps(np.array([start_us])),
            "ended_at": arrow_timestamps(np.array([start_us + window_days * US_PER_DAY - US_PER_SECOND])),
            "cost_amount": arrow_money(np.array([round(budget * 100)])),
            "attribution_window_days": pa.array([window_days], pa.int32()),
        })
    finally:
        sink.close()
    return str(path)


def _group_outcomes(members: dict, outcome: dict, effects: dict[str, Effect],
                    feedback: list[dict]) -> list[GroupOutcome]:
    groups = np.where(members["group"] == "holdout", "holdout", members["variant"])
    group_of = dict(zip(members["one_id"], groups))
    reported = {event: {} for event in ("delivered", "clicked")}
    for row in feedback:
        if row["event_type"] in reported:
            reported[row["event_type"]][row["one_id"]] = group_of[row["one_id"]]
    gmv = np.bincount(outcome["order_member"], weights=outcome["order_cents"],
                      minlength=members["one_id"].size) / 100
    orders = np.bincount(outcome["order_member"], minlength=members["one_id"].size)
    result = []
    for name in sorted(set(groups), key=lambda group: (group == "holdout", group)):
        here = groups == name
        effect = effects.get(name, Effect()) if name != "holdout" else Effect()
        result.append(GroupOutcome(
            group=str(name), members=int(here.sum()), sent=int((here & members["is_sent"]).sum()),
            delivered=sum(group == name for group in reported["delivered"].values()),
            clicked=sum(group == name for group in reported["clicked"].values()),
            converted=int((here & outcome["converted"]).sum()), orders=int(orders[here].sum()),
            gmv=round(float(gmv[here].sum()), 2), planted_conversion_points=effect.conversion_points,
            planted_arpu=effect.arpu))
    return result


def summary_text(summary: SimulationSummary) -> str:
    """The simulation as a marketer reads it: per group, members, sends, converters, GMV and the
    effect planted."""
    moved = (f", assignments moved back {summary.shifted_days} days" if summary.shifted_days else "")
    lines = [
        f"Simulated campaign {summary.campaign_id} (seed {summary.seed}): sent on {summary.sent_on}, "
        f"attribution window {summary.window_days} days{moved}",
        f"  {'group':<10} {'members':>8} {'sent':>8} {'converted':>10} {'orders':>7} {'GMV':>12}  planted effect",
    ]
    for group in summary.groups:
        planted = ("-" if group.group == "holdout"
                   else f"{group.planted_conversion_points * 100:+.1f} points, {group.planted_arpu:+.2f} yuan ARPU")
        lines.append(f"  {group.group:<10} {group.members:>8,} {group.sent:>8,} {group.converted:>10,} "
                     f"{group.orders:>7,} {group.gmv:>12,.2f}  {planted}")
    lines.append(f"  landed {summary.feedback_rows:,} feedback events and {len(summary.files)} files; "
                 "build the review to see it (dbt build --selector campaign_review)")
    return "\n".join(lines)


def _manifest(settings: Settings, campaign_id: str) -> Path:
    return settings.raw_dir.resolve().parent / "simulations" / f"{_slug(campaign_id)}.json"


def _declared_by_simulation(settings: Settings, campaign_id: str) -> bool:
    manifest = _manifest(settings, campaign_id)
    if not manifest.exists():
        return False
    files = json.loads(manifest.read_text(encoding="utf-8")).get("files", [])
    return any(Path(name).parent.name == "campaigns" for name in files)


def _remove_previous(settings: Settings, campaign_id: str) -> None:
    manifest = _manifest(settings, campaign_id)
    if manifest.exists():
        for name in json.loads(manifest.read_text(encoding="utf-8")).get("files", []):
            Path(name).unlink(missing_ok=True)


def _remember(settings: Settings, campaign_id: str, files: list[str]) -> None:
    manifest = _manifest(settings, campaign_id)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"campaign_id": campaign_id, "files": files}, indent=2), encoding="utf-8")


def _timestamp(utc_us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=utc_us)


def _slug(campaign_id: str) -> str:
    """A file-name-safe form of the campaign id (distinct ids stay distinct)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", campaign_id)
    return safe if safe == campaign_id else f"{safe}-{hashlib.sha256(campaign_id.encode()).hexdigest()[:8]}"


def _stable_int(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


__all__ = ["Baseline", "Effect", "SimulationSummary", "parse_effects", "simulate_campaign"]
