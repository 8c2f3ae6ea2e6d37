"""Charts: Vega-Lite specifications written with altair, rendered to SVG offline by vl-convert.

The SVG goes into the page as it is: no script draws it when the file is opened, so the report
reads in a mail client or from a shared drive with no network (docs/report.md says why this and
not a JavaScript library). Each chart names its main layer `data`, so its marks are the children
of the SVG group with class `data_marks` (tests/test_report.py counts them).
"""

from __future__ import annotations

import itertools
import re

import altair as alt
import pandas as pd
import vl_convert

# No font is shipped: the viewer's own Chinese font draws the text (every Chinese system has one).
# The page's style names the Chinese fonts for every chart's text at once (an SVG text's font-family
# attribute yields to a style rule); each text element carries only this short fallback.
FONT = "sans-serif"
WIDTH = 620
BLUE, ORANGE, GREY, GREEN, RED = "#3b6fb6", "#e08a2c", "#b9bec7", "#4c9a6a", "#c8463d"
SEQUENTIAL = "blues"

_ids = itertools.count(1)


def render(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG element whose ids are unique in the page (several charts share it)."""
    spec = chart.to_dict()
    spec["config"] = {**spec.get("config", {}), **_config()}
    svg = vl_convert.vegalite_to_svg(spec)
    prefix = f"c{next(_ids)}-"
    svg = re.sub(r'\bid="([^"]+)"', lambda match: f'id="{prefix}{match[1]}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda match: f"url(#{prefix}{match[1]})", svg)
    return re.sub(r'href="#([^"]+)"', lambda match: f'href="#{prefix}{match[1]}"', svg)


def _config() -> dict:
    return {
        "font": FONT,
        "axis": {"labelFontSize": 11, "titleFontSize": 11, "labelLimit": 220},
        "legend": {"labelFontSize": 11, "titleFontSize": 11, "labelLimit": 220},
        "view": {"stroke": None},
        "background": "white",
    }


def bars(data: pd.DataFrame, *, category: str, value: str, category_title: str, value_title: str,
         horizontal: bool = True, sort: list[str] | None = None, color: str = BLUE,
         label: str | None = None, value_format: str = ",d", log: bool = False,
         height: int | None = None) -> alt.Chart:
    """One bar per row, with its value written beside it (`label`: a ready-made text column)."""
    scale = alt.Scale(type="symlog") if log else alt.Undefined
    data = data[[category, value] + ([label] if label else [])]
    category_encoding = alt.Y if horizontal else alt.X
    value_encoding = alt.X if horizontal else alt.Y
    base = alt.Chart(data).encode(
        category_encoding(f"{category}:N", title=category_title, sort=sort or ("-x" if horizontal else alt.Undefined),
                          axis=alt.Axis(labelAngle=0) if not horizontal else alt.Undefined),
        value_encoding(f"{value}:Q", title=value_title, scale=scale,
                       axis=alt.Axis(format=value_format, tickMinStep=1 if value_format.endswith("d") else alt.Undefined)),
    )
    marks = base.mark_bar(color=color).properties(name="data")
    text = base.mark_text(align="left" if horizontal else "center", dx=3 if horizontal else 0,
                          dy=0 if horizontal else -6, fontSize=10, color="#333").properties(name="label").encode(
        text=alt.Text(f"{label}:N") if label else alt.Text(f"{value}:Q", format=value_format))
    rows = max(len(data), 1)
    size = {"width": WIDTH, "height": height or (max(rows * 22, 60) if horizontal else 220)}
    return (marks + text).properties(**size)


def stacked_bars(data: pd.DataFrame, *, category: str, value: str, stack: str, category_title: str,
                 value_title: str, stack_title: str, horizontal: bool = True, sort: list[str] | None = None,
                 stack_order: list[str] | None = None, colors: list[str] | None = None,
                 value_format: str = ",d") -> alt.Chart:
    data = data[[column for column in (category, value, stack, f"{stack}_order") if column in data]]
    category_encoding = alt.Y if horizontal else alt.X
    value_encoding = alt.X if horizontal else alt.Y
    scale = (alt.Scale(domain=stack_order, range=colors) if colors
             else alt.Scale(domain=stack_order) if stack_order else alt.Undefined)
    chart = alt.Chart(data).mark_bar().properties(name="data").encode(
        category_encoding(f"{category}:N", title=category_title, sort=sort,
                          axis=alt.Axis(labelAngle=0) if not horizontal else alt.Undefined),
        value_encoding(f"{value}:Q", title=value_title, stack="zero", axis=alt.Axis(format=value_format)),
        alt.Color(f"{stack}:N", title=stack_title, scale=scale, sort=stack_order or alt.Undefined,
                  legend=alt.Legend(orient="bottom")),
        order=alt.Order(f"{stack}_order:Q") if f"{stack}_order" in data else alt.Undefined,
        tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{stack}:N"), alt.Tooltip(f"{value}:Q", format=value_format)],
    )
    rows = data[category].nunique() if len(data) else 1
    return chart.properties(width=WIDTH, height=max(rows * 24, 80) if horizontal else 220)


def histogram(data: pd.DataFrame, *, title: str, value_format: str, people_title: str) -> alt.Chart:
    """Bars from bin_start to bin_end (columns of data.histogram), people on the y axis."""
    return alt.Chart(data).mark_bar(color=BLUE, binSpacing=1).properties(name="data").encode(
        alt.X("bin_start:Q", title=title, axis=alt.Axis(format=value_format)),
        alt.X2("bin_end:Q"),
        alt.Y("people:Q", title=people_title, axis=alt.Axis(format=",d", tickMinStep=1)),
        alt.Y2(datum=0),
    ).properties(width=WIDTH // 2 - 30, height=180)


def rfm_grid(data: pd.DataFrame, *, x_title: str, y_title: str, x_order: list[str], y_order: list[str]) -> alt.Chart:
    """Eight cells: recency down, frequency x monetary across; each cell names its group and holds
    its people, GMV share and average recency (columns name, line_people, line_detail)."""
    base = alt.Chart(data).encode(
        alt.X("fm:N", title=x_title, sort=x_order, axis=alt.Axis(labelAngle=0, orient="top")),
        alt.Y("recency:N", title=y_title, sort=y_order),
    )
    cells = base.mark_rect(stroke="white", strokeWidth=3).properties(name="data").encode(
        alt.Color("gmv_share:Q", title=None, scale=alt.Scale(scheme=SEQUENTIAL, domain=[0, 0.5]),
                  legend=alt.Legend(format=".0%", orient="right")))
    name = base.mark_text(dy=-16, fontSize=13, fontWeight="bold").properties(name="group_name").encode(
        text="name:N", color=alt.condition("datum.gmv_share > 0.3", alt.value("white"), alt.value("#222")))
    people = base.mark_text(dy=2, fontSize=12).properties(name="group_people").encode(
        text="line_people:N", color=alt.condition("datum.gmv_share > 0.3", alt.value("white"), alt.value("#222")))
    detail = base.mark_text(dy=18, fontSize=10).properties(name="group_detail").encode(
        text="line_detail:N", color=alt.condition("datum.gmv_share > 0.3", alt.value("white"), alt.value("#444")))
    return (cells + name + people + detail).properties(width=WIDTH, height=200)


def heatmap(data: pd.DataFrame, *, x_title: str, y_title: str, order: list[str]) -> alt.Chart:
    """Moves from one state (rows) to another (columns): people per cell (columns from_label,
    to_label, people, share)."""
    base = alt.Chart(data).encode(
        alt.X("to_label:N", title=x_title, sort=order, axis=alt.Axis(labelAngle=-30, orient="top")),
        alt.Y("from_label:N", title=y_title, sort=order),
    )
    cells = base.mark_rect().properties(name="data").encode(
        alt.Color("share:Q", title=None, scale=alt.Scale(scheme=SEQUENTIAL, domain=[0, 1]),
                  legend=alt.Legend(format=".0%")))
    text = base.mark_text(fontSize=10).properties(name="label").encode(
        text=alt.Text("people:Q", format=",d"),
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#222")))
    size = max(len(order) * 44, 120)
    return (cells + text).properties(width=size, height=size * 0.8)


def retention_curves(data: pd.DataFrame, *, x_title: str, y_title: str, color_title: str) -> alt.Chart:
    """Next-month retention by behaviour value, one line per behaviour, the knee marked."""
    base = alt.Chart(data).encode(
        alt.X("behaviour_value:Q", title=x_title, axis=alt.Axis(tickMinStep=1, format="d")),
        alt.Y("retention_rate:Q", title=y_title, axis=alt.Axis(format=".0%"), scale=alt.Scale(zero=False)),
        alt.Color("behaviour_label:N", title=color_title, legend=alt.Legend(orient="bottom", columns=2)),
    )
    lines = base.mark_line().properties(name="data")
    points = base.mark_point(filled=True, size=30).properties(name="points")
    knee = base.transform_filter("datum.is_knee").mark_point(
        shape="diamond", size=180, filled=True, opacity=0.9).properties(name="knee")
    return (lines + points + knee).properties(width=WIDTH, height=260)


def size_over_time(data: pd.DataFrame, *, x_title: str, y_title: str) -> alt.Chart:
    base = alt.Chart(data).encode(
        alt.X("measured_at:T", title=x_title, axis=alt.Axis(format="%m-%d %H:%M", labelAngle=-30, tickCount=4)),
        alt.Y("people:Q", title=y_title, axis=alt.Axis(format=",d"), scale=alt.Scale(zero=True)),
    )
    line = base.mark_line(color=GREY).properties(name="line")
    points = base.mark_point(filled=True, size=60, color=BLUE).properties(name="data").encode(
        tooltip=[alt.Tooltip("measured_at:T"), alt.Tooltip("people:Q", format=",d")])
    return (line + points).properties(width=WIDTH // 2 - 30, height=160)


def tgi_bars(data: pd.DataFrame, *, x_title: str, y_title: str) -> alt.Chart:
    """TGI per tag value (label column), over 100 in orange, under in blue, a rule at 100."""
    order = list(data["label"])
    base = alt.Chart(data).encode(alt.Y("label:N", title=y_title, sort=order))
    marks = base.mark_bar().properties(name="data").encode(
        alt.X("tgi:Q", title=x_title, scale=alt.Scale(domainMin=0)),
        color=alt.condition("datum.tgi >= 100", alt.value(ORANGE), alt.value(BLUE)),
        tooltip=[alt.Tooltip("label:N"), alt.Tooltip("tgi:Q", format=".0f"),
                 alt.Tooltip("audience_share:Q", format=".1%"), alt.Tooltip("population_share:Q", format=".1%")])
    text = base.mark_text(align="left", dx=3, fontSize=9).properties(name="label").encode(
        alt.X("tgi:Q"), text=alt.Text("tgi:Q", format=".0f"))
    hundred = alt.Chart(pd.DataFrame({"tgi": [100]})).mark_rule(color="#555", strokeDash=[4, 3]).properties(name="reference").encode(
        alt.X("tgi:Q"))
    return (marks + text + hundred).properties(width=WIDTH - 200, height=max(len(data) * 14, 60))


def intervals(data: pd.DataFrame, *, x_title: str, y_title: str, value_format: str = ",.2f") -> alt.Chart:
    """An estimate and its interval per row (columns label, estimate, lower, upper), zero marked."""
    order = list(data["label"])
    base = alt.Chart(data).encode(alt.Y("label:N", title=y_title, sort=order))
    rules = base.mark_rule(strokeWidth=3, color=BLUE).properties(name="data").encode(
        alt.X("lower:Q", title=x_title, axis=alt.Axis(format=value_format)), alt.X2("upper:Q"),
        tooltip=[alt.Tooltip("label:N"), alt.Tooltip("estimate:Q", format=value_format),
                 alt.Tooltip("lower:Q", format=value_format), alt.Tooltip("upper:Q", format=value_format)])
    points = base.mark_point(filled=True, size=80, color=ORANGE).properties(name="estimate").encode(alt.X("estimate:Q"))
    text = base.mark_text(dy=-10, fontSize=10).properties(name="label").encode(alt.X("estimate:Q"), text="estimate_text:N")
    zero = alt.Chart(pd.DataFrame({"x": [0]})).mark_rule(color="#555", strokeDash=[4, 3]).properties(name="zero").encode(
        alt.X("x:Q"))
    return (rules + points + text + zero).properties(width=WIDTH - 100, height=max(len(data) * 40, 80))


def grouped_rates(data: pd.DataFrame, *, y_title: str, x_title: str, color_title: str,
                  group_order: list[str]) -> alt.Chart:
    """Treated and holdout conversion per campaign variant (columns label, group, rate)."""
    return alt.Chart(data).mark_bar().properties(name="data").encode(
        alt.Y("label:N", title=y_title, sort=list(dict.fromkeys(data["label"]))),
        alt.YOffset("group:N", sort=group_order),
        alt.X("rate:Q", title=x_title, axis=alt.Axis(format=".0%")),
        alt.Color("group:N", title=color_title, sort=group_order,
                  scale=alt.Scale(domain=group_order, range=[ORANGE, GREY]), legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("label:N"), alt.Tooltip("group:N"), alt.Tooltip("rate:Q", format=".1%")],
    ).properties(width=WIDTH - 100, height=max(data["label"].nunique() * 44, 80))


def freshness(data: pd.DataFrame, *, x_title: str, y_title: str, color_title: str,
              status_order: list[str]) -> alt.Chart:
    """Days since each table's latest row (columns label, age_days, status, warn_days, error_days)."""
    order = list(data["label"])
    base = alt.Chart(data).encode(alt.Y("label:N", title=y_title, sort=order))
    marks = base.mark_bar().properties(name="data").encode(
        alt.X("age_days:Q", title=x_title, axis=alt.Axis(format=",.0f")),
        alt.Color("status:N", title=color_title, sort=status_order,
                  scale=alt.Scale(domain=status_order, range=[GREEN, ORANGE, RED]),
                  legend=alt.Legend(orient="bottom")))
    warn = base.transform_filter("isValid(datum.warn_days)").mark_tick(color=ORANGE, thickness=2).properties(name="warn").encode(
        alt.X("warn_days:Q"))
    error = base.transform_filter("isValid(datum.error_days)").mark_tick(color=RED, thickness=2).properties(name="error").encode(
        alt.X("error_days:Q"))
    return (marks + warn + error).properties(width=WIDTH - 160, height=max(len(data) * 20, 60))
