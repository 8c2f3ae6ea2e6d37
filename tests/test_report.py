"""The insight report (`activate report`): opened in headless Chromium, its numbers checked against
the models, searched for personal data, and its labels from the message catalogue.

The warehouse is the simulated brand of tests/simulated_brand.py (a demo brand, a replayed as-of
date, A/B campaigns with outcomes). Chromium is Debian's, at /usr/bin/chromium (scripts/test
installs it), driven by playwright; screenshots go to the test's tmp folder.
"""

from __future__ import annotations

import html as html_lib
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from activation.cli import main
from activation.report import build_report
from activation.report.catalogue import LANGUAGES, Catalogue, load_messages
from activation.warehouse import CONSENT_CHANNELS
from tests import simulated_brand as brand
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
MIN_CELL = 10
SECTIONS = ("members", "value", "lifecycle", "moves", "magic", "audiences", "campaigns", "identity", "quality")


@pytest.fixture(scope="module")
def reports(simulated_brand, tmp_path_factory):
    """The Chinese report of the A/B campaign, written by the CLI as a user would, and the English
    report of every campaign."""
    out = tmp_path_factory.mktemp("report")
    zh = out / "report.html"
    completed = subprocess.run(
        [sys.executable, "-m", "activation", "report", "--out", str(zh), "--campaign", brand.REPORT_CAMPAIGN],
        env=simulated_brand.env, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    en = build_report(simulated_brand.settings, out / "report-en.html", language="en")
    return {"zh": zh, "en": en.path, "stdout": completed.stdout}


def _rows(brand_, sql: str, parameters=None) -> list[tuple]:
    with duckdb.connect(str(brand_.settings.duckdb_path), read_only=True) as connection:
        return connection.execute(sql, parameters or []).fetchall()


def test_the_cli_prints_where_it_wrote(reports):
    assert f"Report written to {reports['zh']}" in reports["stdout"]
    assert reports["zh"].stat().st_size > 50_000


# --- in a real browser --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(reports, tmp_path_factory):
    """Open the report in headless Chromium with a fresh profile; every request, console error and
    chart as the browser laid it out, and screenshots of the page and each section."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: scripts/test installs Debian's chromium"
    shots = tmp_path_factory.mktemp("screenshots")
    requests, errors = [], []
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(shots / "profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900})
        try:
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            url = reports["zh"].resolve().as_uri()
            page.goto(url, wait_until="load")
            page.wait_for_function("""() => {
                const figures = [...document.querySelectorAll('figure.chart')];
                return figures.length > 0 && figures.every(figure => {
                    const svg = figure.querySelector('svg');
                    return svg && svg.getBoundingClientRect().width > 0;
                });
            }""", timeout=30_000)
            charts = page.evaluate("""() => [...document.querySelectorAll('figure.chart')].map(figure => {
                const box = figure.querySelector('svg').getBoundingClientRect();
                // A line per series: each series is a group of its own holding the layer's marks.
                const marks = [...figure.querySelectorAll('svg g.data_marks')]
                    .reduce((count, group) => count + group.children.length, 0);
                return {key: figure.dataset.chart, section: figure.closest('section').dataset.section,
                        claimed: Number(figure.dataset.marks), width: box.width, height: box.height, marks};
            })""")
            page.screenshot(path=str(shots / "report.png"), full_page=True)
            for section in page.query_selector_all("section"):
                section.screenshot(path=str(shots / f"{section.get_attribute('data-section')}.png"))
        finally:
            context.close()
    return {"url": url, "requests": requests, "errors": errors, "charts": charts, "shots": shots}


def test_the_page_makes_no_request_and_logs_no_error(rendered):
    assert rendered["requests"] == [rendered["url"]]
    assert rendered["errors"] == []


def test_every_section_draws_a_chart_with_marks(rendered):
    charts = rendered["charts"]
    assert {chart["section"] for chart in charts} == set(SECTIONS)
    for chart in charts:
        assert chart["width"] > 0 and chart["height"] > 0, chart
        # What the page says it drew is what the browser has: one mark per row of its data.
        assert chart["marks"] == chart["claimed"], chart
    for section in SECTIONS:
        assert any(chart["marks"] > 0 for chart in charts if chart["section"] == section), section


def test_screenshots_are_saved(rendered):
    shots = rendered["shots"]
    assert (shots / "report.png").stat().st_size > 50_000
    assert {path.stem for path in shots.glob("*.png")} >= set(SECTIONS)


def test_charts_have_the_expected_number_of_marks(rendered, simulated_brand):
    marks = {chart["key"]: chart["marks"] for chart in rendered["charts"]}
    rfm_groups = _rows(simulated_brand, "select count(distinct rfm_group) from tags.tag_rfm_groups")[0][0]
    assert marks["rfm_grid"] == rfm_groups == 8
    assert marks["aipl"] == 4
    stages = _rows(simulated_brand, """
        select count(*) from (select lifecycle_stage from tags.member_profiles
        where lifecycle_stage is not null group by 1 having count(*) >= ?)""", [MIN_CELL])[0][0]
    assert marks["lifecycle"] == stages == 6
    assert marks["reach"] == len(CONSENT_CHANNELS)
    moves = _rows(simulated_brand, """
        select count(*) from analysis.analysis_member_transitions
        where dimension = 'rfm_group' and member_count >= ?
            and to_date = (select max(to_date) from analysis.analysis_member_transitions)""", [MIN_CELL])[0][0]
    assert marks["moves_rfm"] == moves > 8
    behaviours = _rows(simulated_brand, "select count(distinct behaviour) from analysis.analysis_magic_numbers")[0][0]
    assert marks["magic"] == behaviours == 4  # one line each
    variants = _rows(simulated_brand, "select count(*) from review.campaign_uplift where campaign_id = ?",
                     [brand.REPORT_CAMPAIGN])[0][0]
    assert marks["uplift_arpu"] == variants == 2
    assert marks["uplift_conversion"] == 2 * variants  # treated and holdout bars
    assert marks["components"] == 10
    tables = [table for path in (PROJECT_DIR / "models" / "staging").glob("*/_*__sources.yml")
              for source in yaml.safe_load(path.read_text()).get("sources", []) if source.get("schema") == "landing"
              for table in source["tables"]]
    assert marks["landed"] == len(tables) == 19
    assert marks["freshness"] == sum(1 for table in tables if table.get("loaded_at_field")) > 10


# --- the numbers against the models --------------------------------------------------------------

def _figure_svg(page: str, key: str) -> str:
    start = page.index(f'data-chart="{key}"')
    return page[start:page.index("</figure>", start)]


def _texts(svg: str, layer: str) -> list[str]:
    group = svg[svg.index(f"{layer}_marks"):]
    group = group[:group.index("</g>")]
    return [html_lib.unescape(text) for text in re.findall(r"<text[^>]*>([^<]*)</text>", group)]


def test_rfm_grid_counts_equal_tag_rfm_groups(reports, simulated_brand):
    svg = _figure_svg(reports["zh"].read_text(encoding="utf-8"), "rfm_grid")
    catalogue = Catalogue("zh")
    names = _texts(svg, "group_name")
    people = [int(text.split()[0].replace(",", "")) for text in _texts(svg, "group_people")]
    shown = {name: count for name, count in zip(names, people)}
    expected = {catalogue.code("rfm_group", group): count for group, count in _rows(
        simulated_brand, "select rfm_group, count(*) from tags.tag_rfm_groups group by 1")}
    assert shown == expected
    assert len(shown) == 8 and min(shown.values()) >= MIN_CELL


def test_campaign_uplift_in_the_report_equals_campaign_uplift(reports, simulated_brand):
    page = reports["zh"].read_text(encoding="utf-8")
    rows = _rows(simulated_brand, """
        select variant, treated_member_count, holdout_member_count, arpu_uplift,
            incremental_gmv_lower / treated_member_count, incremental_gmv_upper / treated_member_count,
            incremental_gmv, incremental_gmv_lower, incremental_gmv_upper, roi
        from review.campaign_uplift where campaign_id = ? order by variant""", [brand.REPORT_CAMPAIGN])
    svg = _figure_svg(page, "uplift_arpu")
    group = svg[svg.index("data_marks"):]
    labels = re.findall(r'<line aria-label="([^"]+)"', group[:group.index("</g>")])
    drawn = {}
    for label in labels:
        fields = dict(part.split(": ", 1) for part in html_lib.unescape(label).split("; "))
        number = (lambda text: float(text.replace("−", "-").replace(",", "")))
        drawn[fields["label"].rsplit(" · ", 1)[1]] = (number(fields["estimate"]), number(fields["lower"]),
                                                       number(fields["upper"]))
    table = page[page.index('data-section="campaigns"'):]
    table = table[table.index("<tbody>"):table.index("</tbody>")]
    cells = [re.findall(r"<td>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table)]
    by_variant = {cell[1]: cell for cell in cells}
    assert set(drawn) == set(by_variant) == {row[0] for row in rows} == {"a", "b"}
    for variant, treated, holdout, arpu, lower, upper, gmv, gmv_lower, gmv_upper, roi in rows:
        assert drawn[variant] == pytest.approx((float(arpu), float(lower), float(upper)), abs=0.006)
        cell = by_variant[variant]
        assert cell[2:4] == [f"{treated:,}", f"{holdout:,}"]
        money = (lambda value: f"{'-' if value < 0 else ''}¥{abs(float(value)):,.2f}")
        assert cell[11] == f"{money(gmv)} [{money(gmv_lower)}, {money(gmv_upper)}]"
        assert cell[13] == f"{roi:,.2f}"


# --- personal data and small cells -----------------------------------------------------------------

def test_no_phone_or_email_of_the_demo_brand_is_in_the_report(reports, simulated_brand):
    persons = pq.read_table(simulated_brand.truth_dir / "persons.parquet", columns=["phone", "email"])
    phones = {value for value in persons["phone"].to_pylist() if value}
    emails = {value.lower() for value in persons["email"].to_pylist() if value}
    raw = simulated_brand.settings.raw_dir
    for table, column in (("crm_members", "phone"), ("pos_customers", "phone"), ("app_users", "email"),
                          ("crm_members", "email"), ("miniprogram_users", "phone")):
        values = pq.read_table(next((raw / table).glob("part-*.parquet")), columns=[column])[column]
        values = [value for value in pc.drop_null(values).to_pylist() if value]
        (phones if column == "phone" else emails).update(
            re.sub(r"\D", "", value)[-11:] if column == "phone" else value.strip().lower() for value in values)
    assert len(phones) > 5_000 and len(emails) > 1_000
    for path in (reports["zh"], reports["en"]):
        page = path.read_text(encoding="utf-8")
        digits = set(re.findall(r"(?<!\d)\d{11}(?!\d)", page))
        assert not digits & phones
        assert not re.findall(r"(?<![\d.])1[3-9]\d{9}(?![\d.])", page)
        lowered = page.lower()
        assert not [email for email in emails if email in lowered]
        assert not re.findall(r"[\w.+-]+@[\w-]+\.[\w.-]+", page)


def test_small_cells_are_not_shown(simulated_brand, tmp_path):
    min_cell = 400
    result = build_report(simulated_brand.settings, tmp_path / "strict.html", min_cell=min_cell,
                          audiences=[brand.AUDIENCE], campaigns=[brand.REPORT_CAMPAIGN])
    page = result.path.read_text(encoding="utf-8")
    svg = _figure_svg(page, "rfm_grid")
    people = [text.split()[0] for text in _texts(svg, "group_people")]
    small = [text for text in people if text == f"<{min_cell}"]
    counts = dict(_rows(simulated_brand, "select rfm_group, count(*) from tags.tag_rfm_groups group by 1"))
    assert len(small) == sum(0 < count < min_cell for count in counts.values()) > 0
    assert all(int(text.replace(",", "")) >= min_cell for text in people if text not in small)
    assert f"少于 {min_cell} 人的格子不显示" in page
    # A campaign's variants of fewer members than that are not judged in the report either.
    assert "人数过少，不显示" in page


# --- languages and the command line ---------------------------------------------------------------

def test_every_message_has_both_languages_and_every_key_used_exists():
    messages = load_messages()
    assert all(set(texts) == set(LANGUAGES) and all(texts.values()) for texts in messages.values())
    source = "".join(path.read_text(encoding="utf-8") for path in (PROJECT_DIR / "activation" / "report").glob("*.py"))
    used = set(re.findall(r"""\.t(?:ext)?\(\s*["']([a-z_]+\.[a-z_.]+)["']""", source))
    assert len(used) > 40
    assert used <= set(messages), sorted(used - set(messages))
    dynamic = {f"figure.{key}" for key in ("clv", "p_alive", "moves_rfm", "moves_lifecycle")} | {
        f"table.{key}" for key in ("campaign", "variant", "treated", "holdout", "sent", "delivered", "clicked",
                                   "conversion_treated", "conversion_holdout", "arpu_treated", "arpu_holdout",
                                   "incremental_gmv", "cost", "roi")}
    assert dynamic <= set(messages)


def test_english_report_speaks_english(reports):
    page = reports["en"].read_text(encoding="utf-8")
    catalogue = Catalogue("en")
    assert '<html lang="en">' in page
    for section in SECTIONS:
        assert f"<h2>{html_lib.escape(catalogue.text(f'section.{section}'))}</h2>" in page
    # Every label is English; Chinese is left only in data values (provinces, store names).
    labels = re.findall(r"<(?:h1|h2|figcaption|th|a)[^>]*>([^<]*)<", page)
    assert labels and not [label for label in labels if re.search(r"[\u4e00-\u9fff]", label)]


def test_cli_refuses_an_unknown_audience_campaign_or_language(simulated_brand, tmp_path):
    runner = CliRunner()
    base = ["--duckdb-path", str(simulated_brand.settings.duckdb_path), "report", "--out", str(tmp_path / "r.html")]
    result = runner.invoke(main, [*base, "--audience", "no_such_crowd"])
    assert result.exit_code == 1 and "No audience no_such_crowd" in result.output
    result = runner.invoke(main, [*base, "--campaign", "no_such_campaign"])
    assert result.exit_code == 1 and "No reviewed campaign no_such_campaign" in result.output
    result = runner.invoke(main, [*base, "--lang", "fr"])
    assert result.exit_code == 2
    assert not (tmp_path / "r.html").exists()
    result = runner.invoke(main, ["--duckdb-path", str(tmp_path / "none.duckdb"), "report"])
    assert result.exit_code == 1 and "run dbt build first" in result.output
