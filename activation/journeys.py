"""Journeys: touch points timed from each member's registration (`activate journey ...`).

The domain's new-member rule (seed 003): the first week after registration decides, so a member
is touched on day 2, 3, 7 and 30 after registering, each touch A/B tested. A journey is a YAML
file under journeys/ naming those steps:

    name: new_member_welcome          # the file's name without .yml
    description: ...
    owner: crm-team
    steps:
      - name: day_2_coupon            # lower-case letters, digits, _; unique in the journey
        day: 2                        # days after registration; increasing from step to step
        audience: new_members         # a built audience (segments.seg_<name>)
        to: welcome_sms               # a destination of destinations.yml in `mode: append`
        variants: {a: 0.5, b: 0.5}    # optional A/B split (positive weights); default one variant
        holdout: 0.1                  # optional control share; default the destination's

Each step is an ordinary sync (activation.sync.sync_audience) with campaign_id
`journey__<journey>__<step>`, the step's variants and holdout, and registered_days
(day, day + catch_up_days): the members registered that many days before the audience's
as_of_date, so a daily run that was missed catches up on the next one. Append mode plus the
per-campaign ledger make a run safe to repeat: a member who was sent a step is never sent it
again, and one who enters a step's window later gets it on a later run.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from pydantic import Strict as StrictType

from activation import warehouse
from activation.assignment import DEFAULT_VARIANT
from activation.config import ConfigError, Name, Owner, Strict, Text, problem, read_yaml, validate
from activation.destinations import Destinations, load_destinations
from activation.errors import ActivationError
from activation.masking import scrub_pii
from activation.settings import Settings
from activation.sync import SyncOptions, SyncPlanReport, SyncSummary, plan_audience, sync_audience
from activation.sync_plan import MEMBERS

PROJECT_DIR = Path(__file__).resolve().parent.parent
JOURNEYS_DIR = PROJECT_DIR / "journeys"
DEFAULT_CATCH_UP_DAYS = 3
CAMPAIGN_PREFIX = "journey"
REQUIRED_MODE = "append"



@dataclass(frozen=True)
class JourneyStep:
    name: str
    day: int
    audience: str
    destination: str
    variants: tuple[tuple[str, float], ...] = ((DEFAULT_VARIANT, 1.0),)
    # None: the destination's holdout_share.
    holdout_share: float | None = None

    def campaign_id(self, journey: str) -> str:
        return f"{CAMPAIGN_PREFIX}__{journey}__{self.name}"

    def registered_days(self, catch_up_days: int) -> tuple[int, int]:
        return (self.day, self.day + catch_up_days)

    def as_dict(self, journey: str) -> dict:
        return {
            "name": self.name,
            "day": self.day,
            "audience": self.audience,
            "to": self.destination,
            "campaign_id": self.campaign_id(journey),
            "variants": dict(self.variants),
            "holdout": self.holdout_share,
        }


@dataclass(frozen=True)
class Journey:
    name: str
    description: str
    owner: str
    steps: tuple[JourneyStep, ...]
    path: Path

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "owner": self.owner,
            "path": str(self.path),
            "steps": [step.as_dict(self.name) for step in self.steps],
        }


# Loading and validating -------------------------------------------------------------------


# The journey file's shape. Counts and shares are strict: no env references here, so "7" in
# quotes is a typo, not day 7.
Day = Annotated[int, StrictType(), Field(ge=0)]
Weight = Annotated[float, StrictType(), Field(gt=0)]
VariantName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]
AudienceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]


class JourneyStepEntry(Strict):
    name: Name
    day: Day
    audience: AudienceName
    to: Text
    variants: Annotated[dict[VariantName, Weight], Field(min_length=1)] | None = None
    holdout: Annotated[float, StrictType(), Field(ge=0, lt=1)] | None = None


class JourneyDocument(Strict):
    name: Name
    description: Text
    owner: Owner
    steps: Annotated[list[JourneyStepEntry], Field(min_length=1)]


def load_journey(path: Path) -> Journey:
    """Read and validate one journey file (its shape only; check_journey looks at the
    destinations and the warehouse)."""
    raw = read_yaml(path)
    try:
        document = validate(JourneyDocument, raw, path)
    except ConfigError as error:
        raise ConfigError(path, [_with_step_names(text, raw) for text in error.problems]) from None
    problems = []
    if document.name != path.stem:
        # `activate journey run NAME` finds the file by its name.
        problems.append(problem(["name"], f"must match the file name ({path.stem}), got {document.name!r}"))
    steps: list[JourneyStep] = []
    for position, entry in enumerate(document.steps):
        where = [f"steps[{position}] ({entry.name})"]
        if any(earlier.name == entry.name for earlier in steps):
            problems.append(problem([*where, "name"], "is used by an earlier step; step names must differ"))
        if steps and entry.day <= steps[-1].day:
            problems.append(problem(
                [*where, "day"],
                f"must come after day {steps[-1].day} of step {steps[-1].name!r} (days increase from "
                f"step to step), got {entry.day}",
            ))
        variants = tuple(entry.variants.items()) if entry.variants else ((DEFAULT_VARIANT, 1.0),)
        steps.append(JourneyStep(
            name=entry.name, day=entry.day, audience=entry.audience.removeprefix("seg_"),
            destination=entry.to, variants=variants, holdout_share=entry.holdout,
        ))
    if problems:
        raise ConfigError(path, problems)
    return Journey(name=document.name, description=document.description, owner=document.owner.name,
                   steps=tuple(steps), path=path)


def _with_step_names(text: str, raw: Any) -> str:
    """'steps[1].day: ...' -> "steps[1] (day_3).day: ...": a step is found by its name."""
    def named(match: re.Match) -> str:
        position = int(match.group(1))
        try:
            name = raw["steps"][position]["name"]
        except (TypeError, KeyError, IndexError):
            return match.group(0)
        return f"steps[{position}] ({name})" if isinstance(name, str) else match.group(0)

    return re.sub(r"steps\[(\d+)\]", named, text, count=1)


def journey_files(journeys_dir: Path | None = None) -> list[Path]:
    journeys_dir = journeys_dir or JOURNEYS_DIR
    if not journeys_dir.is_dir():
        raise ActivationError(f"No journeys directory at {journeys_dir} (set --journeys-dir).")
    return sorted([*journeys_dir.glob("*.yml"), *journeys_dir.glob("*.yaml")])


def find_journey(name: str, journeys_dir: Path | None = None) -> Journey:
    journeys_dir = journeys_dir or JOURNEYS_DIR
    files = journey_files(journeys_dir)
    for path in files:
        if path.stem == name:
            return load_journey(path)
    known = ", ".join(path.stem for path in files) or "none"
    raise ActivationError(f"Unknown journey {name!r}. Journeys in {journeys_dir}: {known}.")


@dataclass
class JourneyListing:
    journeys: list[Journey] = field(default_factory=list)
    # Files that do not validate, with the reason (the message names the file).
    problems: list[str] = field(default_factory=list)


def list_journeys(journeys_dir: Path | None = None) -> JourneyListing:
    """Every journey file; one broken file is reported, not a reason to hide the others."""
    listing = JourneyListing()
    for path in journey_files(journeys_dir):
        try:
            listing.journeys.append(load_journey(path))
        except ActivationError as error:
            listing.problems.append(str(error))
    return listing


def check_journey(settings: Settings, journey: Journey, destinations: Destinations) -> None:
    """Everything a run needs, checked before the first step sends anything: each step's
    destination exists, is in append mode and is configured (secrets, options); each audience
    is built; the members mart the registration window reads is there."""
    configs = destinations.configs
    checked: set[str] = set()
    for step in journey.steps:
        def fail(problem: str, step=step) -> typing.NoReturn:
            raise ActivationError(f"{journey.path}: step {step.name!r}: {problem}")

        config = configs.get(step.destination)
        if config is None:
            fail(f"destination {step.destination!r} is not in {destinations.path} "
                 f"(configured: {', '.join(configs) or 'none'}).")
        if config.mode != REQUIRED_MODE:
            fail(f"destination {step.destination!r} is in {config.mode} mode; a journey step needs "
                 f"`mode: {REQUIRED_MODE}` so that each member gets each step once.")
        if step.destination not in checked:
            try:
                destinations.build(step.destination).check()
            except ActivationError as error:
                fail(str(error))
            checked.add(step.destination)
    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        catalog = warehouse.Catalog.read(connection)
        built = {audience.name for audience in catalog.audiences()}
        for step in journey.steps:
            if step.audience not in built:
                raise ActivationError(
                    f"{journey.path}: step {step.name!r}: audience {step.audience!r} is not built "
                    f"(no segments.seg_{step.audience}); built: {', '.join(sorted(built)) or 'none'}."
                )
            try:
                catalog.resolve_audience(step.audience)
            except ActivationError as error:
                raise ActivationError(f"{journey.path}: step {step.name!r}: {error}") from error
        if not catalog.has(MEMBERS):
            raise ActivationError(
                f"{journey.path}: {MEMBERS} is missing (steps are timed from its registered_at): "
                "run dbt build first."
            )


# Running and planning ---------------------------------------------------------------------


@dataclass
class StepOutcome:
    step: JourneyStep
    campaign_id: str
    registered_days: tuple[int, int]
    # succeeded | completed_with_rejections | failed | not_run
    status: str
    summary: SyncSummary | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        return {
            "step": self.step.name,
            "day": self.step.day,
            "audience": self.step.audience,
            "to": self.step.destination,
            "campaign_id": self.campaign_id,
            "registered_days": list(self.registered_days),
            "status": self.status,
            "error": self.error,
            "summary": self.summary.as_dict() if self.summary else None,
        }


@dataclass
class JourneyRun:
    journey: Journey
    catch_up_days: int
    dry_run: bool
    steps: list[StepOutcome]

    @property
    def failed_step(self) -> StepOutcome | None:
        return next((outcome for outcome in self.steps if outcome.status == "failed"), None)

    @property
    def rejected(self) -> int:
        return sum(outcome.summary.rejected for outcome in self.steps if outcome.summary)

    def as_dict(self) -> dict:
        failed = self.failed_step
        return {
            "journey": self.journey.name,
            "catch_up_days": self.catch_up_days,
            "dry_run": self.dry_run,
            "failed_step": failed.step.name if failed else None,
            "rejected": self.rejected,
            "steps": [outcome.as_dict() for outcome in self.steps],
        }


def run_journey(
    settings: Settings,
    name: str,
    *,
    journeys_dir: Path | None = None,
    catch_up_days: int = DEFAULT_CATCH_UP_DAYS,
    dry_run: bool = False,
) -> JourneyRun:
    """Run every step in order as an append-mode sync; stop at the first step that fails (the
    steps before it stay sent and recorded; a rerun skips what they sent)."""
    _check_catch_up(catch_up_days)
    journey = find_journey(name, journeys_dir)
    destinations = load_destinations(settings.destinations_file)
    check_journey(settings, journey, destinations)
    outcomes: list[StepOutcome] = []
    failed = False
    for step in journey.steps:
        campaign_id, window = step.campaign_id(journey.name), step.registered_days(catch_up_days)
        if failed:
            outcomes.append(StepOutcome(step, campaign_id, window, "not_run"))
            continue
        try:
            summary = sync_audience(settings, step.audience, step.destination, SyncOptions(
                campaign_id=campaign_id, holdout_share=step.holdout_share, variants=step.variants,
                registered_days=window, dry_run=dry_run,
            ), destinations=destinations)
        except ActivationError as error:
            # DestinationError (the service took no batch) and anything else the user must fix:
            # later steps wait, so a journey never runs past a broken touch point.
            outcomes.append(StepOutcome(step, campaign_id, window, "failed", error=scrub_pii(str(error))))
            failed = True
            continue
        outcomes.append(StepOutcome(step, campaign_id, window, summary.status, summary=summary))
    return JourneyRun(journey=journey, catch_up_days=catch_up_days, dry_run=dry_run, steps=outcomes)


@dataclass
class JourneyPlan:
    journey: Journey
    catch_up_days: int
    steps: list[tuple[JourneyStep, tuple[int, int], SyncPlanReport]]

    def as_dict(self) -> dict:
        return {
            "journey": self.journey.name,
            "catch_up_days": self.catch_up_days,
            "steps": [
                {"step": step.name, "day": step.day, "registered_days": list(window), **report.as_dict()}
                for step, window, report in self.steps
            ],
        }


def plan_journey(
    settings: Settings,
    name: str,
    *,
    journeys_dir: Path | None = None,
    catch_up_days: int = DEFAULT_CATCH_UP_DAYS,
) -> JourneyPlan:
    """What a run would send now, step by step; reads the warehouse only."""
    _check_catch_up(catch_up_days)
    journey = find_journey(name, journeys_dir)
    destinations = load_destinations(settings.destinations_file)
    check_journey(settings, journey, destinations)
    steps = []
    for step in journey.steps:
        window = step.registered_days(catch_up_days)
        options = SyncOptions(campaign_id=step.campaign_id(journey.name), holdout_share=step.holdout_share,
                              variants=step.variants, registered_days=window)
        report = plan_audience(settings, step.audience, step.destination, options, destinations=destinations)
        steps.append((step, window, report))
    return JourneyPlan(journey=journey, catch_up_days=catch_up_days, steps=steps)


def _check_catch_up(catch_up_days: int) -> None:
    if catch_up_days < 0:
        raise ActivationError(f"catch-up days must be 0 or more, got {catch_up_days}.")


# Text for the CLI -------------------------------------------------------------------------


def _variants_text(variants: tuple[tuple[str, float], ...]) -> str:
    return ",".join(f"{name}={weight:g}" for name, weight in variants)


def listing_text(listing: JourneyListing) -> str:
    lines = []
    for journey in listing.journeys:
        lines.append(f"{journey.name}  (owner {journey.owner}, {len(journey.steps)} steps)  {journey.path}")
        lines.append(f"  {journey.description}")
        for step in journey.steps:
            holdout = "destination's" if step.holdout_share is None else f"{step.holdout_share:.0%}"
            lines.append(
                f"  day {step.day:>3}  {step.name:<24} {step.audience} -> {step.destination}  "
                f"variants {_variants_text(step.variants)}  holdout {holdout}"
            )
    if not listing.journeys and not listing.problems:
        lines.append("No journeys.")
    lines += [f"INVALID {problem}" for problem in listing.problems]
    return "\n".join(lines)


_RUN_COLUMNS = ("sent", "held out", "skipped", "suppressed", "capped", "rejected")


def run_text(run: JourneyRun) -> str:
    journey = run.journey
    heading = (
        f"DRY RUN (nothing sent, no state written): journey {journey.name}"
        if run.dry_run else f"Journey {journey.name}"
    )
    lines = [f"{heading} (catch-up {run.catch_up_days} days)"]
    width = max(len("step"), *(len(outcome.step.name) for outcome in run.steps))
    lines.append(
        f"  {'step':<{width}}  {'days':>7}  {'status':<25}"
        + "".join(f"  {column:>10}" for column in _RUN_COLUMNS)
    )
    for outcome in run.steps:
        summary = outcome.summary
        counts = (
            (summary.sent, summary.held_out, summary.unchanged, summary.suppressed, summary.capped,
             summary.rejected)
            if summary else ("-",) * len(_RUN_COLUMNS)
        )
        low, high = outcome.registered_days
        lines.append(
            f"  {outcome.step.name:<{width}}  {f'{low}-{high}':>7}  {outcome.status:<25}"
            + "".join(f"  {count:>10,}" if isinstance(count, int) else f"  {count:>10}" for count in counts)
        )
    lines.append("  (days: registered that many days before the audience's as-of date; skipped: "
                 "already sent this step)")
    failed = run.failed_step
    if failed:
        ran = [outcome.step.name for outcome in run.steps if outcome.summary]
        lines.append(f"Step {failed.step.name} failed: {failed.error}")
        lines.append(
            f"Steps that ran: {', '.join(ran) or 'none'}. Later steps did not run; rerun the journey "
            "when the destination is back: members already sent a step are skipped."
        )
    elif run.rejected:
        lines.append(f"{run.rejected:,} records were rejected: recorded, retried on the next run.")
    return "\n".join(lines)


def plan_text(plan: JourneyPlan) -> str:
    columns = ("in window", "to send", "sent before", "held out", "capped", "suppressed")
    lines = [f"Plan: journey {plan.journey.name} (catch-up {plan.catch_up_days} days); nothing sent"]
    width = max(len("step"), *(len(step.name) for step, _, _ in plan.steps))
    lines.append(
        f"  {'step':<{width}}  {'days':>7}  {'destination':<16}"
        + "".join(f"  {column:>11}" for column in columns)
    )
    for step, (low, high), report in plan.steps:
        counts = report.counts
        values = (counts.audience_size, counts.operations["add"], counts.unchanged,
                  counts.held_out, counts.capped, counts.suppressed)
        lines.append(
            f"  {step.name:<{width}}  {f'{low}-{high}':>7}  {step.destination:<16}"
            + "".join(f"  {value:>11,}" for value in values)
        )
        if report.samples.get("add"):
            lines.append(f"  {'':<{width}}    first to send: {', '.join(report.samples['add'])}")
    return "\n".join(lines)
