"""The report's sections: each reads its aggregates (data.py), suppresses small cells, draws its
charts (charts.py) and says in one line what they show, with the date its data is as of."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import pandas as pd

from activation.audiences import PORTRAIT_TAGS
from activation.errors import ActivationError
from activation.report import charts, data
from activation.report.catalogue import Catalogue

RFM_GROUP_LEVELS = {  # (recency, frequency, monetary) -> the classic group
    ("high", "high", "high"): "important_value", ("high", "low", "high"): "important_develop",
    ("low", "high", "high"): "important_keep", ("low", "low", "high"): "important_win_back",
    ("high", "high", "low"): "general_value", ("high", "low", "low"): "general_develop",
    ("low", "high", "low"): "general_keep", ("low", "low", "low"): "general_win_back",
}
# Tags whose values the catalogue names under their own kind (the rest under `value`).
VALUE_KIND = {"rfm_group": "rfm_group", "lifecycle_stage": "lifecycle_stage", "aipl_stage": "aipl_stage",
              "preferred_channel": "channel"}
RFM_GROUPS = ("important_value", "important_develop", "important_keep", "important_win_back",
              "general_value", "general_develop", "general_keep", "general_win_back")


@dataclass
class Figure:
    key: str  # what the chart shows; the page's data-chart attribute
    title: str
    svg: str
    marks: int  # rows drawn by its `data` layer
    wide: bool = True


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    key: str
    title: str
    reading: str
    as_of: str
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    suppressed: int = 0  # small cells hidden


@dataclass
class Context:
    connection: object
    catalogue: Catalogue
    min_cell: int
    as_of: dt.date
    now: dt.datetime
    audiences: list[str] | None
    campaigns: list[str] | None

    def t(self, key: str, **values) -> str:
        return self.catalogue.text(key, **values)

    def code(self, kind: str, value) -> str:
        return self.catalogue.code(kind, value)

    def is_small(self, people) -> bool:
        """A count of people the report must not show: some, but fewer than min_cell."""
        return people is not None and not _missing(people) and 0 < people < self.min_cell

    def people(self, count) -> str:
        return self.t("page.small", min_cell=self.min_cell) if self.is_small(count) else f"{int(count):,}"

    def date(self, value) -> str:
        return value.isoformat() if value else "-"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def percent(value, places: int = 1) -> str:
    return "-" if _missing(value) else f"{value:.{places}%}"


def money(value, places: int = 0) -> str:
    if _missing(value):
        return "-"
    return f"{'-' if float(value) < 0 else ''}¥{abs(float(value)):,.{places}f}"


def signed_money(value) -> str:
    return "-" if _missing(value) else f"{'+' if float(value) >= 0 else '-'}¥{abs(float(value)):,.2f}"


def ratio(value) -> str:
    return "-" if _missing(value) else f"{float(value):,.2f}"


def _drop_small(ctx: Context, frame: pd.DataFrame, column: str = "people") -> tuple[pd.DataFrame, int]:
    small = frame[column].map(ctx.is_small) if len(frame) else pd.Series([], dtype=bool)
    return frame[~small].reset_index(drop=True), int(small.sum())


def _figure(key: str, title: str, chart, marks: int, wide: bool = True) -> Figure:
    return Figure(key=key, title=title, svg=charts.render(chart), marks=marks, wide=wide)


# --- members -----------------------------------------------------------------------------------

def members(ctx: Context) -> Section:
    totals = data.member_totals(ctx.connection)
    reach = data.channel_reach(ctx.connection)
    reach, hidden = _drop_small(ctx, reach)
    reach["label"] = reach["channel"].map(lambda code: ctx.code("channel", code))
    reach["text"] = [f"{people:,} ({percent(people / totals['people'] if totals['people'] else None)})"
                     for people in reach["people"]]
    registrations = data.registrations_by_month(ctx.connection, ctx.as_of)
    registrations, hidden_months = _drop_small(ctx, registrations)
    registrations["label"] = registrations["month"].map(lambda month: month.strftime("%Y-%m"))
    sms = int(reach.loc[reach["channel"] == "sms", "people"].sum())
    section = Section(
        key="members", title=ctx.t("section.members"), as_of=ctx.t("page.as_of", date=ctx.date(ctx.as_of)),
        reading=ctx.t("reading.members", people=ctx.people(totals["people"]), members=ctx.people(totals["members"]),
                      paid=ctx.people(totals["paid_members"]), buyers=ctx.people(totals["buyers"]),
                      sms_reach=ctx.people(sms), sms_share=percent(sms / totals["people"] if totals["people"] else None)),
        suppressed=hidden + hidden_months,
        tables=[Table([ctx.t("table.metric"), ctx.t("table.value")], [
            [ctx.t("table.people"), ctx.people(totals["people"])],
            [ctx.t("table.members"), ctx.people(totals["members"])],
            [ctx.t("table.paid_members"), ctx.people(totals["paid_members"])],
            [ctx.t("table.buyers"), ctx.people(totals["buyers"])],
        ])],
    )
    section.figures.append(_figure("reach", ctx.t("figure.reach"), charts.bars(
        reach, category="label", value="people", category_title=ctx.t("axis.channel"),
        value_title=ctx.t("axis.people"), label="text"), len(reach)))
    if len(registrations):
        section.figures.append(_figure("registrations", ctx.t("figure.registrations"), charts.bars(
            registrations, category="label", value="people", category_title=ctx.t("axis.month"),
            value_title=ctx.t("axis.people"), horizontal=False, sort=list(registrations["label"])),
            len(registrations)))
    return section


# --- value -------------------------------------------------------------------------------------

def value(ctx: Context) -> Section:
    grid = _rfm_cells(ctx, data.rfm_grid(ctx.connection))
    section = Section(key="value", title=ctx.t("section.value"),
                      as_of=ctx.t("page.as_of", date=ctx.date(ctx.as_of)), reading="",
                      suppressed=int(grid["is_small"].sum()))
    fm_order = [_fm_label(ctx, f, m) for m in ("high", "low") for f in ("high", "low")]
    section.figures.append(_figure("rfm_grid", ctx.t("figure.rfm_grid"), charts.rfm_grid(
        grid, x_title=ctx.t("axis.frequency_monetary"), y_title=ctx.t("axis.recency"), x_order=fm_order,
        y_order=[ctx.code("recency_level", "high"), ctx.code("recency_level", "low")]), len(grid)))

    # Empty where CLV is not computed (on Spark the CLV columns are null).
    for key, column, upper, value_format in (("clv", "clv", None, ",.0f"), ("p_alive", "p_alive", 1.0, ".0%")):
        bins, hidden = _drop_small(ctx, data.histogram(ctx.connection, column, bins=20, upper=upper))
        section.suppressed += hidden
        if len(bins):
            section.figures.append(_figure(key, ctx.t(f"figure.{key}"), charts.histogram(
                bins, title=ctx.t(f"axis.{key}"), value_format=value_format, people_title=ctx.t("axis.people")),
                len(bins), wide=False))

    cvm = data.cvm_monthly(ctx.connection)
    if len(cvm):
        cvm["label"] = cvm["period_month"].map(lambda month: month.strftime("%Y-%m"))
        cvm["sales_float"] = cvm["sales"].astype(float)
        section.figures.append(_figure("cvm_sales", ctx.t("figure.cvm_sales"), charts.bars(
            cvm, category="label", value="sales_float", category_title=ctx.t("axis.month"),
            value_title=ctx.t("axis.sales"), horizontal=False, sort=list(cvm["label"]), value_format=",.0f",
            label=None), len(cvm)))
        factors = cvm.melt(id_vars=["label"], value_vars=["c_contribution", "v_contribution", "m_contribution"],
                           var_name="factor", value_name="contribution").dropna(subset=["contribution"])
        factors["factor"] = factors["factor"].str[0].str.upper()
        factors["factor_order"] = factors["factor"].map({"C": 0, "V": 1, "M": 2})
        section.figures.append(_figure("cvm_factors", ctx.t("figure.cvm_factors"), charts.stacked_bars(
            factors, category="label", value="contribution", stack="factor", category_title=ctx.t("axis.month"),
            value_title=ctx.t("axis.contribution"), stack_title=ctx.t("axis.factor"), horizontal=False,
            sort=list(cvm["label"]), stack_order=["C", "V", "M"], value_format=",.0f"), len(factors)))

    shown = grid[~grid["is_small"]].sort_values("gmv_share", ascending=False)
    top = shown.iloc[0] if len(shown) else None
    values = {"top_group": ctx.code("rfm_group", top["rfm_group"]) if top is not None else "-",
              "top_count": ctx.people(top["people"]) if top is not None else "-",
              "top_share": percent(top["gmv_share"]) if top is not None else "-"}
    if len(cvm):
        last = cvm.iloc[-1]
        section.reading = ctx.t("reading.value", **values, sales=money(last["sales"]),
                                c=ctx.people(int(last['c_consumers'])), v=money(last["v_average_purchase_value"]),
                                m=f"{last['m_purchases_per_consumer']:.2f}")
    else:
        section.reading = ctx.t("reading.value_no_cvm", **values)
    return section


def _fm_label(ctx: Context, frequency: str, monetary: str) -> str:
    return f"F{ctx.code('level', frequency)} · M{ctx.code('level', monetary)}"


def _rfm_cells(ctx: Context, grid: pd.DataFrame) -> pd.DataFrame:
    """All eight cells, a group nobody is in included, small ones without figures."""
    by_group = {row.rfm_group: row for row in grid.itertuples()}
    cells = []
    for (recency, frequency, monetary), group in RFM_GROUP_LEVELS.items():
        row = by_group.get(group)
        people = int(row.people) if row is not None else 0
        small = ctx.is_small(people)
        share = None if small or row is None else float(row.gmv_share)
        recency_days = None if small or row is None else float(row.recency_days)
        detail = (f"GMV {percent(share, 0)} · R {recency_days:,.0f}{ctx.t('axis.days')}"
                  if share is not None else "")
        cells.append({"rfm_group": group, "recency": ctx.code("recency_level", recency),
                      "fm": _fm_label(ctx, frequency, monetary), "name": ctx.code("rfm_group", group),
                      "people": people, "line_people": f"{ctx.people(people)} {ctx.t('page.people')}",
                      "line_detail": detail, "gmv_share": share, "recency_days": recency_days, "is_small": small})
    return pd.DataFrame(cells)


# --- lifecycle and AIPL --------------------------------------------------------------------------

def lifecycle(ctx: Context) -> Section:
    stages = data.lifecycle_counts(ctx.connection).set_index("stage")["people"]
    lifecycle_rows = pd.DataFrame([{"stage": stage, "people": int(stages.get(stage, 0))}
                                   for stage in data.LIFECYCLE_STAGES])
    lifecycle_rows, hidden = _drop_small(ctx, lifecycle_rows)
    lifecycle_rows["label"] = lifecycle_rows["stage"].map(lambda stage: ctx.code("lifecycle_stage", stage))
    # Conversion between stages: of the members at the stage before on the earlier as-of date,
    # the share at this stage on the later one (analysis_member_transitions; none without a replay).
    moved = data.transitions(ctx.connection)
    moved = moved[moved["dimension"] == "lifecycle_stage"]
    from_totals = moved.groupby("from_state")["member_count"].sum()
    conversions = {}
    for previous, stage in zip(data.LIFECYCLE_STAGES, data.LIFECYCLE_STAGES[1:]):
        here = moved[(moved["from_state"] == previous) & (moved["to_state"] == stage)]["member_count"].sum()
        if previous in from_totals and from_totals[previous]:
            conversions[stage] = here / from_totals[previous]
    lifecycle_rows["text"] = [
        f"{people:,}" + (f" ({percent(conversions[stage])})" if stage in conversions else "")
        for stage, people in zip(lifecycle_rows["stage"], lifecycle_rows["people"])]

    aipl = data.aipl_counts(ctx.connection).set_index("stage")["people"]
    reached_at_least, funnel = 0, []
    for stage in reversed(data.AIPL_STAGES):
        reached_at_least += int(aipl.get(stage, 0))
        funnel.append({"stage": stage, "people": reached_at_least})
    funnel = pd.DataFrame(list(reversed(funnel)))
    funnel["conversion"] = funnel["people"] / funnel["people"].shift(1)
    funnel["label"] = funnel["stage"].map(lambda stage: ctx.code("aipl_stage", stage))
    funnel["text"] = [f"{ctx.people(people)}" + ("" if _missing(conversion) else f" ({percent(conversion)})")
                      for people, conversion in zip(funnel["people"], funnel["conversion"])]
    funnel, hidden_funnel = _drop_small(ctx, funnel)

    warnings = data.warnings_reached(ctx.connection, ctx.as_of)
    any_row = warnings[warnings["warning"] == "any"].iloc[0]
    warnings = warnings[warnings["warning"] != "any"]
    stacked = []
    hidden_warnings = 0
    for row in warnings.itertuples():
        for reach, people in (("reached", row.reached), ("not_reached", row.warned - row.reached)):
            if ctx.is_small(people):
                hidden_warnings += 1
                continue
            stacked.append({"label": ctx.code("warning", row.warning), "reach": ctx.code("reach", reach),
                            "reach_order": 0 if reach == "reached" else 1, "people": int(people)})
    stacked = pd.DataFrame(stacked, columns=["label", "reach", "reach_order", "people"])
    section = Section(
        key="lifecycle", title=ctx.t("section.lifecycle"), as_of=ctx.t("page.as_of", date=ctx.date(ctx.as_of)),
        reading=ctx.t("reading.lifecycle", **{stage: ctx.people(int(stages.get(stage, 0)))
                                              for stage in ("growth", "mature", "dormant", "churned")},
                      warned=ctx.people(any_row["warned"]), reached=ctx.people(any_row["reached"])),
        suppressed=hidden + hidden_funnel + hidden_warnings)
    section.figures.append(_figure("lifecycle", ctx.t("figure.lifecycle"), charts.bars(
        lifecycle_rows, category="label", value="people", category_title=ctx.t("axis.stage"),
        value_title=ctx.t("axis.people"), horizontal=False, sort=list(lifecycle_rows["label"]), label="text"),
        len(lifecycle_rows), wide=False))
    section.figures.append(_figure("aipl", ctx.t("figure.aipl"), charts.bars(
        funnel, category="label", value="people", category_title=ctx.t("axis.stage"),
        value_title=ctx.t("axis.people"), sort=list(funnel["label"]), label="text", color=charts.ORANGE),
        len(funnel), wide=False))
    order = [ctx.code("reach", "reached"), ctx.code("reach", "not_reached")]
    section.figures.append(_figure("warnings", ctx.t("figure.warnings"), charts.stacked_bars(
        stacked, category="label", value="people", stack="reach", category_title=ctx.t("axis.warning"),
        value_title=ctx.t("axis.people"), stack_title=ctx.t("axis.reached"),
        sort=[ctx.code("warning", name) for name in data.WARNINGS], stack_order=order,
        colors=[charts.ORANGE, charts.GREY]), len(stacked)))
    return section


# --- moves ------------------------------------------------------------------------------------

def moves(ctx: Context) -> Section:
    moved = data.transitions(ctx.connection)
    section = Section(key="moves", title=ctx.t("section.moves"), reading=ctx.t("reading.moves_none"),
                      as_of=ctx.t("page.as_of", date=ctx.date(ctx.as_of)))
    if not len(moved):
        return section
    from_date, to_date = moved["from_date"].iloc[0], moved["to_date"].iloc[0]
    section.as_of = ctx.t("page.as_of", date=ctx.date(to_date))
    for dimension, kind, order in (("rfm_group", "rfm_group", RFM_GROUPS),
                                   ("lifecycle_stage", "lifecycle_stage", data.LIFECYCLE_STAGES)):
        cells = moved[moved["dimension"] == dimension].rename(columns={"member_count": "people"})
        cells, hidden = _drop_small(ctx, cells)
        section.suppressed += hidden
        states = [state for state in order if state in set(cells["from_state"]) | set(cells["to_state"])]
        states += sorted((set(cells["from_state"]) | set(cells["to_state"])) - set(states))
        cells = cells.assign(from_label=cells["from_state"].map(lambda state: ctx.code(kind, state)),
                             to_label=cells["to_state"].map(lambda state: ctx.code(kind, state)),
                             share=cells["share_of_from_state"].astype(float))
        key = "moves_rfm" if dimension == "rfm_group" else "moves_lifecycle"
        section.figures.append(_figure(key, ctx.t(f"figure.{key}"), charts.heatmap(
            cells[["from_label", "to_label", "people", "share"]], x_title=ctx.t("axis.to"),
            y_title=ctx.t("axis.from"), order=[ctx.code(kind, state) for state in states]), len(cells),
            wide=dimension == "rfm_group"))
    # Of the buyers at the first date (people with an RFM group then).
    rfm = moved[(moved["dimension"] == "rfm_group") & moved["from_state"].notna()]
    total = rfm["member_count"].sum()
    stayed = rfm.loc[rfm["from_state"] == rfm["to_state"], "member_count"].sum()
    upgraded = rfm.loc[(rfm["to_state"] == "important_value") & (rfm["from_state"] != "important_value"),
                       "member_count"].sum()
    section.reading = ctx.t("reading.moves", from_date=ctx.date(from_date), to_date=ctx.date(to_date),
                            stayed=percent(stayed / total if total else None), upgraded=ctx.people(int(upgraded)))
    return section


# --- magic numbers -------------------------------------------------------------------------------

def magic(ctx: Context) -> Section:
    curves = data.magic_numbers(ctx.connection)
    curves, hidden = _drop_small(ctx, curves.rename(columns={"member_count": "people"}))
    section = Section(key="magic", title=ctx.t("section.magic"), reading=ctx.t("reading.magic_none"),
                      as_of=ctx.t("page.as_of", date=ctx.date(ctx.as_of)), suppressed=hidden)
    if not len(curves):
        return section
    curves["behaviour_label"] = curves["behaviour"].map(lambda name: ctx.code("behaviour", name))
    curves["behaviour_value"] = curves["behaviour_value"].astype(int)
    curves["retention_rate"] = curves["retention_rate"].astype(float)
    section.figures.append(_figure("magic", ctx.t("figure.magic"), charts.retention_curves(
        curves, x_title=ctx.t("axis.behaviour_value"), y_title=ctx.t("axis.retention"),
        color_title=ctx.t("axis.behaviour")), curves["behaviour"].nunique()))
    knees = curves[curves["is_knee"]]
    preferred = knees[knees["behaviour"] == "orders_in_month"]
    knee = (preferred if len(preferred) else knees).head(1)
    if len(knee):
        knee = knee.iloc[0]
        same = curves[(curves["behaviour"] == knee["behaviour"]) & (curves["behaviour_value"] < knee["behaviour_value"])]
        before = same["retention_rate"].iloc[-1] if len(same) else None
        section.reading = ctx.t("reading.magic", behaviour=knee["behaviour_label"], value=int(knee["behaviour_value"]),
                                before=percent(before, 0), after=percent(knee["retention_rate"], 0))
    return section


# --- audiences ----------------------------------------------------------------------------------

def audiences(ctx: Context) -> Section:
    built = [table.removeprefix("seg_") for table in data.audience_tables(ctx.connection)]
    wanted = [name.removeprefix("seg_") for name in ctx.audiences] if ctx.audiences else built
    unknown = [name for name in wanted if name not in built]
    if unknown:
        raise ActivationError(f"No audience {', '.join(unknown)} in the warehouse; built: {', '.join(built) or 'none'}.")
    section = Section(key="audiences", title=ctx.t("section.audiences"), reading=ctx.t("reading.audiences_none"),
                      as_of=ctx.t("page.as_of", date=ctx.date(ctx.as_of)))
    if not wanted:
        return section
    portraits = data.portraits(ctx.connection, wanted)
    tag_order = [tag for tags in PORTRAIT_TAGS.values() for tag in tags]
    population = portraits.groupby("tag")["population"].transform("sum")
    largest, best = None, None
    for index, name in enumerate(wanted):
        sizes = data.audience_sizes(ctx.connection, name)
        size = int(sizes.loc[sizes["source"] == "build", "people"].iloc[0])
        sizes = sizes.dropna(subset=["measured_at"])
        sizes, hidden = _drop_small(ctx, sizes)
        section.suppressed += hidden
        if len(sizes):
            section.figures.append(_figure(f"audience_size:{name}", ctx.t("figure.audience_size", audience=name),
                                           charts.size_over_time(sizes, x_title=ctx.t("axis.date"),
                                                                 y_title=ctx.t("axis.people")), len(sizes), wide=False))
        cells = portraits.assign(people=portraits[f"people_{index}"], population_total=population)
        cells["audience_share"] = cells["people"] / size if size else 0.0
        cells["population_share"] = cells["population"] / cells["population_total"]
        cells["tgi"] = 100 * cells["audience_share"] / cells["population_share"]
        cells = cells[cells["people"] > 0]
        cells, hidden = _drop_small(ctx, cells)
        section.suppressed += hidden
        cells = cells[cells["audience_share"] >= data.PORTRAIT_MIN_SHARE]
        cells = cells.assign(tag_rank=cells["tag"].map(tag_order.index))
        cells = cells.sort_values(["tag_rank", "tgi"], ascending=[True, False])
        cells = cells.groupby("tag", sort=False).head(data.PORTRAIT_VALUES_PER_TAG).reset_index(drop=True)
        cells["label"] = [f"{ctx.code('tag', tag)} · {ctx.code(VALUE_KIND.get(tag, 'value'), value)}"
                          for tag, value in zip(cells["tag"], cells["tag_value"])]
        if len(cells):
            section.figures.append(_figure(f"audience_portrait:{name}", ctx.t("figure.audience_portrait", audience=name),
                                           charts.tgi_bars(cells[["label", "tgi", "audience_share", "population_share"]],
                                                           x_title=ctx.t("axis.tgi"), y_title=ctx.t("axis.tag_value")),
                                           len(cells), wide=False))
        if largest is None or size > largest[1]:
            largest = (name, size)
            best = cells.sort_values("tgi", ascending=False).iloc[0] if len(cells) else None
    section.reading = ctx.t("reading.audiences", count=len(wanted), largest=largest[0], size=ctx.people(largest[1]),
                            top_value=best["label"] if best is not None else "-",
                            tgi=f"{best['tgi']:.0f}" if best is not None else "-")
    return section


# --- campaigns ---------------------------------------------------------------------------------

def campaigns(ctx: Context) -> Section:
    uplift = data.campaign_uplift(ctx.connection, ctx.campaigns)
    if ctx.campaigns:
        unknown = sorted(set(ctx.campaigns) - set(uplift["campaign_id"]))
        if unknown:
            raise ActivationError(
                f"No reviewed campaign {', '.join(unknown)} (review.campaign_uplift has a row per campaign "
                "synced with treated members; build it with dbt build --selector campaign_review).")
    section = Section(key="campaigns", title=ctx.t("section.campaigns"), reading=ctx.t("reading.campaigns_none"),
                      as_of=ctx.t("page.as_of", date=ctx.date(ctx.now.date())))
    if not len(uplift):
        return section
    uplift["label"] = uplift["campaign_name"].fillna(uplift["campaign_id"]) + " · " + uplift["variant"]
    small = uplift["treated_member_count"].map(ctx.is_small) | uplift["holdout_member_count"].map(ctx.is_small)
    section.suppressed = int(small.sum())
    shown = uplift[~small & uplift["incremental_gmv_lower"].notna()].copy()
    n = shown["treated_member_count"].astype(float)
    shown["estimate"] = shown["arpu_uplift"].astype(float)
    shown["lower"] = shown["incremental_gmv_lower"].astype(float) / n
    shown["upper"] = shown["incremental_gmv_upper"].astype(float) / n
    shown["estimate_text"] = shown["estimate"].map(signed_money)
    if len(shown):
        section.figures.append(_figure("uplift_arpu", ctx.t("figure.uplift_arpu"), charts.intervals(
            shown[["label", "estimate", "lower", "upper", "estimate_text"]], x_title=ctx.t("axis.arpu_uplift"),
            y_title=ctx.t("axis.campaign_variant")), len(shown)))
        groups = [ctx.code("group", "treated"), ctx.code("group", "holdout")]
        rates = pd.concat([
            pd.DataFrame({"label": shown["label"], "group": groups[0], "rate": shown["treated_conversion_rate"]}),
            pd.DataFrame({"label": shown["label"], "group": groups[1], "rate": shown["holdout_conversion_rate"]}),
        ]).dropna(subset=["rate"])
        section.figures.append(_figure("uplift_conversion", ctx.t("figure.uplift_conversion"), charts.grouped_rates(
            rates, y_title=ctx.t("axis.campaign_variant"), x_title=ctx.t("axis.conversion"),
            color_title=ctx.t("axis.group"), group_order=groups), len(rates)))
        first = shown.sort_values(["started_at", "estimate"], ascending=[False, False]).iloc[0]
        section.reading = ctx.t("reading.campaigns", campaign=first["campaign_name"] or first["campaign_id"],
                                variant=first["variant"], uplift=signed_money(first["estimate"]),
                                lower=signed_money(first["lower"]), upper=signed_money(first["upper"]),
                                roi=ratio(first["roi"]))
    section.tables.append(Table(
        [ctx.t(f"table.{key}") for key in ("campaign", "variant", "treated", "holdout", "sent", "delivered", "clicked",
                                           "conversion_treated", "conversion_holdout", "arpu_treated", "arpu_holdout",
                                           "incremental_gmv", "cost", "roi")],
        [_campaign_row(ctx, row, hidden) for row, hidden in zip(uplift.itertuples(), small)]))
    return section


def _campaign_row(ctx: Context, row, hidden: bool) -> list[str]:
    head = [str(row.campaign_name or row.campaign_id), str(row.variant)]
    if hidden:
        return head + [ctx.people(row.treated_member_count), ctx.people(row.holdout_member_count)] + \
            [ctx.t("table.too_small")] + [""] * 9
    interval = (f"{money(row.incremental_gmv, 2)} [{money(row.incremental_gmv_lower, 2)}, "
                f"{money(row.incremental_gmv_upper, 2)}]"
                if not _missing(row.incremental_gmv) else "-")
    return head + [
        ctx.people(row.treated_member_count), ctx.people(row.holdout_member_count),
        ctx.people(row.treated_sent_count), ctx.people(row.treated_delivered_count),
        ctx.people(row.treated_clicked_count), percent(row.treated_conversion_rate),
        percent(row.holdout_conversion_rate), money(row.treated_arpu, 2), money(row.holdout_arpu, 2),
        interval, money(row.cost_amount, 2), ratio(row.roi),
    ]


# --- One ID health -----------------------------------------------------------------------------

def identity(ctx: Context) -> Section:
    totals = data.identity_totals(ctx.connection)
    per_person = data.records_per_person(ctx.connection)
    per_person, hidden = _drop_small(ctx, per_person)
    per_person["label"] = per_person["records"].map(lambda records: "10+" if records >= 10 else str(records))
    events = data.identity_events(ctx.connection)
    counts = {row.event_type: row for row in events.itertuples()}
    event_rows = pd.DataFrame([
        {"label": ctx.code("identity_event", event), "scope": ctx.code("identity_scope", scope),
         "scope_order": order, "people": int(getattr(counts[event], scope)) if event in counts else 0}
        for event in ("merge", "split") for order, scope in enumerate(("last_build", "all_builds"))])
    blocked = data.blocked_identifiers(ctx.connection)
    blocked["reason"] = blocked["block_reason"].map(lambda reason: ctx.code("block_reason", reason))
    blocked["type"] = blocked["id_type"].map(lambda id_type: ctx.code("id_type", id_type))
    components = data.biggest_components(ctx.connection)
    components["label"] = components["rank"].map(lambda rank: f"#{rank}")
    section = Section(
        key="identity", title=ctx.t("section.identity"), suppressed=hidden,
        as_of=ctx.t("page.as_of", date=ctx.date(ctx.now.date())),
        reading=ctx.t("reading.identity", records=f"{totals['records']:,}", people=ctx.people(totals["people"]),
                      per_person=f"{totals['records'] / totals['people']:.2f}" if totals["people"] else "-",
                      merges=int(counts["merge"].last_build) if "merge" in counts else 0,
                      splits=int(counts["split"].last_build) if "split" in counts else 0,
                      blocked=f"{int(blocked['identifiers'].sum()):,}"))
    section.figures.append(_figure("records_per_person", ctx.t("figure.records_per_person"), charts.bars(
        per_person, category="label", value="people", category_title=ctx.t("axis.records"),
        value_title=ctx.t("axis.persons"), horizontal=False, sort=list(per_person["label"])), len(per_person),
        wide=False))
    section.figures.append(_figure("identity_events", ctx.t("figure.identity_events"), charts.stacked_bars(
        event_rows, category="label", value="people", stack="scope", category_title=ctx.t("axis.event"),
        value_title=ctx.t("axis.count"), stack_title=None,
        stack_order=[ctx.code("identity_scope", "last_build"), ctx.code("identity_scope", "all_builds")],
        colors=[charts.ORANGE, charts.BLUE]), len(event_rows), wide=False))
    if len(blocked):
        section.figures.append(_figure("blocked", ctx.t("figure.blocked"), charts.stacked_bars(
            blocked, category="reason", value="identifiers", stack="type", category_title=ctx.t("axis.reason"),
            value_title=ctx.t("axis.identifiers"), stack_title=ctx.t("axis.id_type")), len(blocked), wide=False))
    section.figures.append(_figure("components", ctx.t("figure.components"), charts.bars(
        components, category="label", value="records", category_title=ctx.t("axis.component"),
        value_title=ctx.t("axis.records"), sort=list(components["label"]), color=charts.GREY), len(components),
        wide=False))
    return section


# --- data quality ------------------------------------------------------------------------------

def quality(ctx: Context) -> Section:
    landed = data.landed_rows(ctx.connection, ctx.now)
    rejected = data.rejected_rows(ctx.connection)
    section = Section(key="quality", title=ctx.t("section.quality"), reading="",
                      as_of=ctx.t("page.as_of", date=ctx.date(ctx.now.date())))
    if len(landed):
        landed["label"] = landed["table"].map(lambda table: ctx.code("landing_table", table))
        section.figures.append(_figure("landed", ctx.t("figure.landed"), charts.bars(
            landed, category="label", value="rows", category_title=ctx.t("axis.table"),
            value_title=ctx.t("axis.rows"), log=True), len(landed), wide=False))
    if len(rejected):
        rejected["label"] = rejected["landing_table"].map(lambda table: ctx.code("landing_table", table))
        rejected["reason"] = rejected["rejection_reason"].map(lambda reason: ctx.code("rejection_reason", reason))
        section.figures.append(_figure("rejected", ctx.t("figure.rejected"), charts.stacked_bars(
            rejected, category="label", value="rows_rejected", stack="reason", category_title=ctx.t("axis.table"),
            value_title=ctx.t("axis.rows"), stack_title=ctx.t("axis.reason")), len(rejected), wide=False))
        section.tables.append(Table(
            [ctx.t("axis.table"), ctx.t("axis.reason"), ctx.t("axis.rows"), ctx.t("axis.share")],
            [[row.label, row.reason, f"{int(row.rows_rejected):,} / {int(row.rows_landed):,}",
              percent(row.rejected_share, 2)] for row in rejected.itertuples()]))
    fresh = landed.dropna(subset=["age_days"]).copy() if len(landed) else landed
    stale = 0
    if len(fresh):
        fresh["status_code"] = [
            "error" if error is not None and not _missing(error) and age > error
            else "warn" if warn is not None and not _missing(warn) and age > warn else "ok"
            for age, warn, error in zip(fresh["age_days"], fresh["warn_days"], fresh["error_days"])]
        stale = int((fresh["status_code"] != "ok").sum())
        fresh["status"] = fresh["status_code"].map(lambda code: ctx.code("freshness", code))
        fresh = fresh.sort_values("age_days", ascending=False)
        section.figures.append(_figure("freshness", ctx.t("figure.freshness"), charts.freshness(
            fresh[["label", "age_days", "status", "warn_days", "error_days"]], x_title=ctx.t("axis.days"),
            y_title=ctx.t("axis.table"), color_title=ctx.t("axis.status"),
            status_order=[ctx.code("freshness", code) for code in ("ok", "warn", "error")]), len(fresh)))
    rows = int(landed["rows"].sum()) if len(landed) else 0
    rejected_count = int(rejected["rows_rejected"].sum()) if len(rejected) else 0
    section.reading = ctx.t("reading.quality", tables=len(landed), rows=f"{rows:,}", rejected=f"{rejected_count:,}",
                            share=percent(rejected_count / rows if rows else None, 2), stale=stale)
    return section


SECTIONS = (members, value, lifecycle, moves, magic, audiences, campaigns, identity, quality)
