"""A demo brand with campaigns that have outcomes, built once for the report and simulation tests.

The brand's history ends on a fixed day (so that every run draws the same brand, the same
assignments and the same outcomes) more than CAMPAIGNS x 15 days before today, so that every
campaign gets a two-week attribution window of its own, after the brand's last order and before
today: the orders simulated for one campaign fall in no other campaign's window. Steps: generate the brand, dbt
build, replay the tags as of an earlier date (the report's moves), sync the A/B campaign the report
shows and the campaigns of the coverage test (append mode: each campaign sends to its own treated
members), simulate each with its own seed and send day, and build the campaign review.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from activation.assignment import parse_variants
from activation.demo.outcomes import SimulationSummary, simulate_campaign
from activation.demo_data import generate
from activation.settings import Settings
from activation.sync import sync_audience

PROJECT_DIR = Path(__file__).resolve().parents[1]
PEOPLE = 10_000
SEED = 7
AUDIENCE = "high_value_churn_risk"
DESTINATION = "report_sms"
HOLDOUT_SHARE = 0.4
REPORT_CAMPAIGN = "winback_ab"
COVERAGE_CAMPAIGNS = tuple(f"coverage_{seed:02d}" for seed in range(20))
WINDOW_STRIDE_DAYS = 15  # a 14-day window and a day apart
END_DATE = dt.date(2025, 6, 30)


@dataclass(frozen=True)
class SimulatedBrand:
    workdir: Path
    settings: Settings
    env: dict[str, str]
    truth_dir: Path
    end_date: dt.date
    summaries: dict[str, SimulationSummary]


def build(workdir: Path) -> SimulatedBrand:
    campaigns = (REPORT_CAMPAIGN, *COVERAGE_CAMPAIGNS)
    end_date = END_DATE
    last_window_closes = end_date + dt.timedelta(days=WINDOW_STRIDE_DAYS * len(campaigns) + 1)
    assert last_window_closes < dt.datetime.now(dt.UTC).date(), "the campaigns' windows must have closed"
    raw_dir, truth_dir, database = workdir / "raw", workdir / "truth", workdir / "onedata.duckdb"
    destinations = workdir / "destinations.yml"
    destinations.write_text(yaml.safe_dump({
        "destinations": {DESTINATION: {
            "type": "file", "channel": "sms", "mode": "append", "path": str(workdir / "outbox"),
            "holdout_share": HOLDOUT_SHARE, "cost_per_record": 0.05,
        }},
        # Every campaign reaches all its treated members: no cap across them.
        "frequency_caps": [],
        "global_holdout_share": 0.0,
    }))
    settings = Settings(duckdb_path=database, raw_dir=raw_dir, raw_format="parquet",
                        destinations_file=destinations)
    env = {**os.environ, "ONEDATA_RAW_DIR": str(raw_dir), "ONEDATA_DUCKDB_PATH": str(database),
           "ONEDATA_RAW_FORMAT": "parquet", "ONEDATA_DESTINATIONS": str(destinations)}

    generate(raw_dir=raw_dir, truth_dir=truth_dir, people=PEOPLE, seed=SEED, end_date=end_date)
    dbt(env, workdir, "build")
    replay = end_date - dt.timedelta(days=92)
    dbt(env, workdir, "run", "--select", "tag:as_of", "--vars", f"{{onedata__as_of_date: '{replay}'}}")
    dbt(env, workdir, "run", "--select", "tag:as_of", "tag:analysis")

    summaries = {}
    for number, campaign in enumerate(campaigns):
        sync_audience(settings, AUDIENCE, DESTINATION, campaign_id=campaign,
                      variants=parse_variants("a=0.5,b=0.5"))
        sent_on = end_date + dt.timedelta(days=1 + WINDOW_STRIDE_DAYS * number)
        summaries[campaign] = simulate_campaign(settings, campaign, seed=number, sent_on=sent_on)
    dbt(env, workdir, "build", "--selector", "campaign_review")
    return SimulatedBrand(workdir=workdir, settings=settings, env=env, truth_dir=truth_dir,
                          end_date=end_date, summaries=summaries)


def dbt(env: dict[str, str], workdir: Path, *args: str) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [str(executable), *args, "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")],
        env=env, capture_output=True, text=True, timeout=1800,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-2000:]
    return completed
