"""The `activate` command line: each command parses, calls one service function, prints."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import textwrap
from pathlib import Path

import click
from dotenv import load_dotenv

from activation.errors import ActivationError
from activation.settings import (
    DEFAULT_DESTINATIONS_FILE,
    DEFAULT_DUCKDB_PATH,
    DEFAULT_RAW_DIR,
    DEFAULT_RAW_FORMAT,
    DESTINATIONS_FILE_ENV,
    DUCKDB_PATH_ENV,
    RAW_DIR_ENV,
    RAW_FORMAT_ENV,
    RAW_FORMATS,
    Settings,
)

# Exit codes: 1 = the command failed (click's own for usage errors is 2),
# 3 = the sync finished but the destination rejected some records,
# 4 = the sync guardrails refused the sync: nothing was sent (activation/guardrails.py).
EXIT_FAILED = 1
EXIT_REJECTED = 3
EXIT_REFUSED = 4


def run() -> None:
    """The `activate` console script."""
    main(prog_name="activate")


class _StderrHandler(logging.Handler):
    """Log records on stderr, through click (which the test runner captures)."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


class _Group(click.Group):
    """Shows an ActivationError as a one-line message and a non-zero exit, not a traceback."""

    def main(self, *args, **kwargs):
        # .env in the working directory (what .env.example says to copy), before the options
        # read their environment variables; variables already set win.
        load_dotenv(Path.cwd() / ".env", override=False)
        # Retries and other destination warnings appear on stderr as they happen: a service that
        # does not answer is never waited on in silence.
        destinations_logger = logging.getLogger("activation.destinations")
        if not any(isinstance(handler, _StderrHandler) for handler in destinations_logger.handlers):
            handler = _StderrHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            destinations_logger.addHandler(handler)
            destinations_logger.setLevel(logging.WARNING)
            destinations_logger.propagate = False
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ActivationError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(EXIT_FAILED)


@click.group(cls=_Group)
@click.option("--duckdb-path", envvar=DUCKDB_PATH_ENV, show_envvar=True, default=DEFAULT_DUCKDB_PATH,
              show_default=True, type=click.Path(path_type=Path), help="The warehouse dbt builds.")
@click.option("--raw-dir", envvar=RAW_DIR_ENV, show_envvar=True, default=DEFAULT_RAW_DIR,
              show_default=True, type=click.Path(path_type=Path), help="The landing directory.")
@click.option("--raw-format", envvar=RAW_FORMAT_ENV, show_envvar=True, default=DEFAULT_RAW_FORMAT,
              show_default=True, type=click.Choice(RAW_FORMATS), help="File format of the landing zone.")
@click.option("--destinations-file", envvar=DESTINATIONS_FILE_ENV, show_envvar=True,
              default=DEFAULT_DESTINATIONS_FILE, type=click.Path(path_type=Path),
              help="destinations.yml to use.  [default: activation/destinations.yml]")
@click.pass_context
def main(ctx: click.Context, duckdb_path: Path, raw_dir: Path, raw_format: str,
         destinations_file: Path) -> None:
    """Send dbt-built audiences to destinations and bring feedback back."""
    ctx.obj = Settings(
        duckdb_path=duckdb_path,
        raw_dir=raw_dir,
        raw_format=raw_format,
        destinations_file=destinations_file,
    )


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print the audiences as JSON.")
@click.pass_context
def audiences(ctx: click.Context, as_json: bool) -> None:
    """List audiences with their size and consented members per channel; `plan` and `generate`
    work on the audiences declared in audiences/*.yml."""
    if ctx.invoked_subcommand is not None:
        return
    from activation.audiences import list_audience_sizes
    from activation.warehouse import CONSENT_CHANNELS

    sizes = list_audience_sizes(ctx.obj)
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(size) for size in sizes], indent=2))
        return
    if not sizes:
        click.echo("No audiences in the warehouse: run dbt build first.")
        return
    width = max(len("audience"), *(len(size.name) for size in sizes))
    click.echo(f"{'audience':<{width}}  {'members':>9}  " + "  ".join(f"{c:>11}" for c in CONSENT_CHANNELS))
    for size in sizes:
        consented = "  ".join(f"{size.consented[c]:>11,}" for c in CONSENT_CHANNELS)
        click.echo(f"{size.name:<{width}}  {size.size:>9,}  {consented}")


@audiences.command("generate")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if the generated models are stale.")
def audiences_generate(check: bool) -> None:
    """Turn audiences/*.yml into segment models (models/segments/audiences/) with the audience
    contract and an exposure each."""
    from activation.audience_code import GENERATED_DIR, generate

    changed = generate(check=check)
    where = GENERATED_DIR.relative_to(GENERATED_DIR.parents[2])
    if check and changed:
        raise ActivationError(
            f"{where} is out of date with audiences/ ({', '.join(changed)}): run `activate audiences generate`.")
    verb = "up to date" if not changed else ("would change" if check else "written")
    click.echo(f"{where}: {verb}" + (f": {', '.join(changed)}" if changed else ""))


@audiences.command("plan")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option("--audiences-dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              help="Where the audience YAML files are.  [default: audiences/]")
@click.pass_obj
def audiences_plan(settings: Settings, as_json: bool, audiences_dir: Path | None) -> None:
    """For every audience in audiences/*.yml: who its rule adds and removes against the version
    last built in the warehouse (the diff to read in a pull request)."""
    from activation.audiences import plan_audiences

    plans = plan_audiences(settings, audiences_dir)
    if as_json:
        click.echo(json.dumps([plan.as_dict() for plan in plans], indent=2))
        return
    width = max((len(plan.name) for plan in plans), default=8)
    click.echo(f"{'audience':<{width}}  {'status':<9}  {'built':>9}  {'planned':>9}  {'added':>8}  {'removed':>8}")
    for plan in plans:
        built = "-" if plan.built_size is None else f"{plan.built_size:,}"
        click.echo(f"{plan.name:<{width}}  {plan.status:<9}  {built:>9}  {plan.planned_size:>9,}"
                   f"  {'+' + format(plan.added, ','):>8}  {'-' + format(plan.removed, ','):>8}")
        if plan.added_sample:
            click.echo(f"{'':<{width}}    + {', '.join(plan.added_sample)}{' ...' if plan.added > len(plan.added_sample) else ''}")
        if plan.removed_sample:
            click.echo(f"{'':<{width}}    - {', '.join(plan.removed_sample)}{' ...' if plan.removed > len(plan.removed_sample) else ''}")


@main.command()
@click.argument("audience")
@click.option("--json", "as_json", is_flag=True, help="Print the portrait as JSON.")
@click.pass_obj
def portrait(settings: Settings, audience: str, as_json: bool) -> None:
    """The crowd's 5W2H portrait beside all members': each tag's shares and the TGI index
    (audience share / all members' share x 100)."""
    from activation.audiences import portrait_audience

    result = portrait_audience(settings, audience)
    if as_json:
        click.echo(json.dumps({
            "audience": result.name, "size": result.size, "population": result.population,
            "as_of_date": result.as_of_date.isoformat() if result.as_of_date else None,
            "dimensions": {question: {tag: [
                {"value": v.value, "audience_count": v.audience_count, "audience_share": v.audience_share,
                 "population_share": v.population_share, "index": v.index} for v in values]
                for tag, values in tags.items()} for question, tags in result.dimensions.items()},
            "averages": {column: {"audience": a, "all_members": b} for column, (a, b) in result.averages.items()},
        }, indent=2, ensure_ascii=False, default=float))
        return
    click.echo(f"Audience {result.name}: {result.size:,} of {result.population:,} members"
               f" (as of {result.as_of_date})")
    for question, tags in result.dimensions.items():
        click.echo(f"\n{question.upper()}")
        for tag, values in tags.items():
            click.echo(f"  {tag}:  (audience share, all members share, index)")
            for value in values[:6]:
                index = "-" if value.index is None else f"{value.index:5.0f}"
                click.echo(f"    {value.value:<22} {value.audience_share:6.1%}  {value.population_share:6.1%}  {index:>5}")
    click.echo("\nAVERAGES  (audience, all members)")
    for column, (in_audience, overall) in result.averages.items():
        fmt = (lambda x: "-" if x is None else f"{x:,.1f}")
        click.echo(f"  {column:<24} {fmt(in_audience):>10}  {fmt(overall):>10}")


@main.command()
@click.option("--family", help="Only the tags of this family (rfm, lifecycle, preference, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
@click.pass_obj
def tags(settings: Settings, family: str | None, as_json: bool) -> None:
    """Print the tag catalogue: every tag's family, type, allowed values, owner, refresh cadence,
    how many members carry it, and what it means."""
    from activation.tags import list_tags

    catalogue = list_tags(settings, family)
    if as_json:
        click.echo(json.dumps([tag.as_dict() for tag in catalogue], ensure_ascii=False, indent=2))
        return
    as_of = max((tag.as_of_date for tag in catalogue if tag.as_of_date), default=None)
    click.echo(f"{len(catalogue)} tags" + (f", as of {as_of}" if as_of else ""))
    width = max((len(tag.name) for tag in catalogue), default=3)
    current_family = None
    for tag in catalogue:
        if tag.family != current_family:
            current_family = tag.family
            click.echo(f"\n[{tag.family}]  owner {tag.owner}, refreshed {tag.refresh_cadence}")
        click.echo(f"  {tag.name:<{width}}  {tag.value_type:<8}  {tag.member_count:>9,} members")
        click.echo(f"  {'':<{width}}  {tag.description}")
        if tag.allowed_values:
            click.echo(f"  {'':<{width}}  values: {tag.allowed_values}")


@main.command()
@click.argument("audience")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=0),
              help="Sample rows to show (masked).")
@click.option("--json", "as_json", is_flag=True, help="Print the preview as JSON.")
@click.pass_obj
def preview(settings: Settings, audience: str, limit: int, as_json: bool) -> None:
    """Show an audience's size, a masked sample and its portrait."""
    from activation.audiences import SAMPLE_COLUMNS, preview_audience

    result = preview_audience(settings, audience, limit)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(result), indent=2, ensure_ascii=False, default=str))
        return
    click.echo(f"Audience {result.name}: {result.size:,} members (as of {result.as_of_date})")
    if result.sample:
        click.echo("\nSample (PII masked):")
        click.echo("  " + " | ".join(SAMPLE_COLUMNS))
        for row in result.sample:
            click.echo("  " + " | ".join("" if row[c] is None else str(row[c]) for c in SAMPLE_COLUMNS))
    for column, shares in result.portrait.items():
        click.echo(f"\n{column}:")
        for share in shares:
            click.echo(f"  {share.value:<24} {share.count:>9,}  {share.share:6.1%}")
    click.echo("\nconsent rate:")
    for channel, rate in result.consent_rates.items():
        click.echo(f"  {channel:<24} {rate:6.1%}")


class _Variants(click.ParamType):
    """--variants a=0.5,b=0.5: a clear usage error for nan, inf, negative or duplicated shares
    and shares that do not add up to 1 (activation.assignment.parse_variants)."""

    name = "name=share,..."

    def convert(self, value, param, ctx):
        from activation.assignment import parse_variants

        if isinstance(value, tuple):
            return value
        try:
            return parse_variants(value)
        except ActivationError as error:
            self.fail(f"{value!r}: {error}", param, ctx)


@main.command()
@click.argument("audience")
@click.option("--to", "destination",
              help="Destination name from destinations.yml.  [default: the audience file's destination]")
@click.option("--campaign", "campaign_id", help="Campaign id.  [default: <audience>__<destination>]")
@click.option("--holdout", "holdout_share", type=click.FloatRange(min=0, max=1, max_open=True),
              help="Share held out as control group.  [default: the destination's, else 0.10]")
@click.option("--variants", type=_Variants(),
              help="A/B split of the treated members, e.g. a=0.5,b=0.5.  [default: one variant]")
@click.option("--dry-run", is_flag=True,
              help="Everything but the network: plan, encode and batch every record; send nothing, write no sync state.")
@click.option("--full-diff", is_flag=True,
              help="Compare every member with what the destination holds, not only the members "
                   "the audience builds changed since the last sync.")
@click.option("--allow-removals", is_flag=True,
              help="Go on even when the sync guardrails trip (a mirror sync removing more than "
                   "the destination's max_removal_share, an audience shrunk or empty).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (no progress bar).")
@click.pass_obj
def sync(settings: Settings, audience: str, destination: str, campaign_id: str | None,
         holdout_share: float | None, variants: tuple | None, dry_run: bool, full_diff: bool,
         allow_removals: bool, as_json: bool) -> None:
    """Send AUDIENCE to a destination: eligible members minus the holdout, only what changed.

    Exit code 3 when the destination rejected records (recorded, retried on the next run);
    4 when the sync guardrails refused the sync (nothing sent; with --dry-run: it would be)."""
    from activation.assignment import parse_variants
    from activation.sync import SyncOptions, sync_audience

    from activation.audience_code import declared_destination

    destination = destination or declared_destination(audience)
    options = SyncOptions(campaign_id=campaign_id, holdout_share=holdout_share,
                          variants=variants or parse_variants(None), full_diff=full_diff,
                          allow_removals=allow_removals, dry_run=dry_run)
    with _ProgressBar(enabled=not as_json) as progress:
        summary = sync_audience(settings, audience, destination, options, on_progress=progress.update)
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        click.echo(_sync_text(summary))
    if summary.guardrails.refused:
        click.get_current_context().exit(EXIT_REFUSED)
    if summary.rejected:
        click.get_current_context().exit(EXIT_REJECTED)


@main.command()
@click.argument("audience")
@click.option("--to", "destination",
              help="Destination name from destinations.yml.  [default: the audience file's destination]")
@click.option("--campaign", "campaign_id", help="Campaign id.  [default: <audience>__<destination>]")
@click.option("--holdout", "holdout_share", type=click.FloatRange(min=0, max=1, max_open=True),
              help="Share held out as control group.  [default: the destination's, else 0.10]")
@click.option("--variants", type=_Variants(), help="A/B split of the treated members, e.g. a=0.5,b=0.5.")
@click.option("--full-diff", is_flag=True,
              help="Compare every member with what the destination holds, not only the members "
                   "the audience builds changed since the last sync.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def plan(settings: Settings, audience: str, destination: str, campaign_id: str | None,
         holdout_share: float | None, variants: tuple | None, full_diff: bool, as_json: bool) -> None:
    """Show what `activate sync` would add, update and remove now, and whether the sync
    guardrails would refuse it; sends and writes nothing."""
    from activation.assignment import parse_variants
    from activation.audience_code import declared_destination
    from activation.sync import SyncOptions, plan_audience

    report = plan_audience(settings, audience, destination or declared_destination(audience),
                           SyncOptions(campaign_id=campaign_id, holdout_share=holdout_share,
                                       variants=variants or parse_variants(None), full_diff=full_diff))
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    plan_dict = report.as_dict()
    lines = [
        f"Plan: {report.audience} -> {report.destination} (mode {report.mode}, campaign "
        f"{report.campaign_id}, audience version {report.audience_version}); nothing sent",
        f"  {'audience':<11} {plan_dict['audience_size']:>10,}  "
        + _compared_text(plan_dict["compared"], plan_dict["full_diff_reason"]),
        f"  {'add':<11} {plan_dict['adds']:>10,}  new to the destination",
        f"  {'update':<11} {plan_dict['updates']:>10,}  payload changed since the last sync",
        f"  {'remove':<11} {plan_dict['removes']:>10,}  no longer in the audience or no longer eligible",
        f"  {'unchanged':<11} {plan_dict['unchanged']:>10,}  already there, skipped",
        f"  {'held out':<11} {plan_dict['held_out']:>10,}  control group ({plan_dict['new_assignments']:,} to assign)",
        f"  {'capped':<11} {plan_dict['capped']:>10,}  over a frequency cap now",
        f"  {'suppressed':<11} {plan_dict['suppressed']:>10,}  not eligible on the channel",
    ]
    lines += [f"      {count:>8,} x {reason}" for reason, count in plan_dict["suppression_reasons"].items()]
    for operation, one_ids in report.samples.items():
        if one_ids:
            lines.append(f"  first {operation}s: {', '.join(one_ids)}")
    guardrails = report.guardrails
    lines += _guardrail_lines(
        guardrails,
        "WARNING: `activate sync` would be refused now, and send nothing:" if guardrails.refused
        else f"WARNING: the sync guardrails trip; {guardrails.allowed_by} lets the sync go on:",
    )
    click.echo("\n".join(lines))


class _ProgressBar:
    """A progress line on stderr with the rate; silent when disabled or stderr is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self._bar = None
        self._enabled = enabled and click.get_text_stream("stderr").isatty()
        self._shown = 0

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.render_finish()

    def update(self, progress) -> None:
        if not self._enabled:
            return
        if self._bar is None:
            self._bar = click.progressbar(
                length=max(progress.total, 1), label="sending", file=click.get_text_stream("stderr"),
                show_pos=True, item_show_func=lambda rate: rate,
            )
        self._bar.update(progress.done - self._shown, f"{progress.rate:,.0f} records/s")
        self._shown = progress.done


def _compared_text(compared: str, reason: str | None) -> str:
    if compared == "changed":
        return "compared: only the members changed since the last sync"
    return f"compared: every member ({reason})" if reason else "compared: every member"


def _guardrail_lines(report, heading: str) -> list[str]:
    """The sizes compared, what tripped under `heading` and what to do; nothing when nothing
    tripped."""
    from activation.guardrails import ADVICE

    if not report.tripped:
        return []
    last = (f" ({report.last_audience_size:,} at the last completed sync)"
            if report.last_audience_size is not None else "")
    width = max(len(tripped.rule) for tripped in report.tripped)
    lines = [
        f"  the destination holds {report.held:,} members; the plan removes {report.removes:,}; "
        f"the audience has {report.audience_size:,}{last}",
        f"  {heading}",
        *(f"    {tripped.rule:<{width}}  {tripped.message}" for tripped in report.tripped),
    ]
    if report.refused:
        lines += textwrap.wrap(ADVICE, width=100, initial_indent="  ", subsequent_indent="  ",
                               break_on_hyphens=False)
    return lines


def _refused_text(summary) -> str:
    heading = (
        f"DRY RUN: the sync would be REFUSED by the sync guardrails: {summary.audience} -> "
        f"{summary.destination} (nothing sent, no sync state written)"
        if summary.dry_run
        else f"REFUSED by the sync guardrails: {summary.audience} -> {summary.destination} "
             f"(run {summary.run_id}): nothing sent"
    )
    return "\n".join([
        heading,
        f"  campaign {summary.campaign_id}, mode {summary.mode}, audience version {summary.audience_version}",
        *_guardrail_lines(summary.guardrails, "tripped:"),
    ])


def _sync_text(summary) -> str:
    if summary.guardrails.refused:
        return _refused_text(summary)
    heading = (
        f"DRY RUN (nothing sent, no sync state written): {summary.audience} -> {summary.destination}"
        if summary.dry_run
        else f"Synced {summary.audience} -> {summary.destination} (run {summary.run_id}, {summary.status})"
    )
    verb = "would be " if summary.dry_run else ""
    rate = f", {summary.sent / summary.seconds:,.0f} records/s" if summary.seconds and summary.sent else ""
    rows = [
        ("sent", summary.sent, f"{verb}sent in {summary.batches:,} batches ({summary.seconds:.1f} s{rate})"),
        ("  added", summary.added, "new to the destination"),
        ("  updated", summary.updated, "payload changed"),
        ("  removed", summary.removed, "no longer in the audience or no longer eligible"),
        ("skipped", summary.unchanged, "unchanged, already there"),
        ("held out", summary.held_out, "control group, never sent"),
        ("suppressed", summary.suppressed, "not eligible on the channel"),
        ("capped", summary.capped, "over a frequency cap, sent when the window allows"),
        ("rejected", summary.rejected, "refused, recorded, retried next run"),
    ]
    if summary.resent:
        rows.insert(4, ("  resent", summary.resent, "pending from an earlier run, sent again as first sent"))
    if summary.unknown:
        rows.insert(4, ("  unknown", summary.unknown, "answer lost: may have arrived, not resent"))
    phases = ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in summary.phase_seconds.items())
    lines = [
        heading,
        f"  campaign {summary.campaign_id}, mode {summary.mode}, audience version {summary.audience_version}",
        f"  {_compared_text(summary.compared, summary.full_diff_reason)}",
        f"  time: {phases}",
    ]
    for name, count, meaning in rows:
        lines.append(f"  {name:<11} {count:>10,}  {meaning}")
        if name == "suppressed":
            lines += [f"      {n:>8,} x {reason}" for reason, n in summary.suppression_reasons.items()]
    if summary.retries:
        per_batch = ", ".join(f"batch {number}: {count}" for number, count in summary.batch_retries.items())
        lines.append(f"  retries     {summary.retries:>10,}  transient failures retried ({per_batch})")
    if summary.rejection_reasons:
        lines.append("  rejection reasons:")
        lines += [f"      {count:>8,} x {reason}" for reason, count in summary.rejection_reasons.items()]
    went_on = f"the sync guardrails tripped; went on past them ({summary.guardrails.allowed_by}):"
    lines += _guardrail_lines(summary.guardrails, went_on)
    return "\n".join(lines)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the destinations as JSON.")
@click.pass_obj
def destinations(settings: Settings, as_json: bool) -> None:
    """List configured destinations and whether their secrets are set (never their values)."""
    from activation.destinations import load_destinations

    described = load_destinations(settings.destinations_file).described()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    for destination in described:
        batch = destination["batch_size"] or "one per operation"
        click.echo(f"{destination['name']}  type={destination['type']}  channel={destination['channel']}  "
                   f"mode={destination['mode']}  batch={batch}  holdout={destination['holdout_share']:.0%}  "
                   f"fields={','.join(destination['fields'])}")
        for variable, is_set in destination["secrets"].items():
            click.echo(f"  secret {variable}: {'set' if is_set else 'MISSING'}")


@main.command()
@click.argument("first")
@click.argument("second", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.pass_obj
def explain(settings: Settings, first: str, second: str | None, as_json: bool) -> None:
    """Why records share a one_id: the identifiers linking them (values masked).

    FIRST and SECOND are records, <source_system>:<source_record_id>. With FIRST alone (a
    record or a one_id): that person's records, the identifiers they share and its history."""
    from activation.explain import explain_pair, explain_person

    result = explain_person(settings, first) if second is None else explain_pair(settings, first, second)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(result), indent=2, ensure_ascii=False, default=str))
    elif second is None:
        click.echo(_person_text(result))
    else:
        click.echo(_pair_text(result))


def _pair_text(pair) -> str:
    from activation.explain import APART_MAX_STEPS
    from activation.masking import scrub_pii

    if not pair.same_person:
        lines = [
            f"{pair.first} and {pair.second} are different persons:",
            f"  {pair.first:<30} {pair.first_one_id}",
            f"  {pair.second:<30} {pair.second_one_id}",
        ]
        if not pair.refusals_known:
            lines.append("What One ID refused is not in this warehouse: run dbt build to see what keeps them apart.")
        elif not pair.apart:
            lines.append(f"Nothing connects them within {APART_MAX_STEPS} steps, not even an identifier or link"
                         " One ID refused.")
        else:
            lines.append("What keeps them apart (the shortest chain, counting the links One ID refused):")
            for step in pair.apart:
                lines.append(f"  {step.kind:<10}  {step.label}")
                if step.refused:
                    lines.append(f"      refused as {scrub_pii(step.refused)}")
        return "\n".join(lines)
    if pair.first == pair.second:
        return f"{pair.first} is one record of {pair.first_one_id}."
    identifiers = sum(1 for step in pair.path if step.kind == "identifier")
    lines = [f"{pair.first} and {pair.second} share one_id {pair.first_one_id}.",
             f"Shortest link ({identifiers} identifier{'s' if identifiers != 1 else ''}):"]
    lines += [f"  {step.kind:<10}  {step.label}" for step in pair.path]
    return "\n".join(lines)


def _person_text(person) -> str:
    lines = [f"{person.one_id}: {len(person.records)} record{'s' if len(person.records) != 1 else ''}"]
    lines += [f"  {record}" for record in person.records]
    if person.shared_identifiers:
        lines.append("Identifiers holding them together:")
        lines += [f"  {identifier:<40} {', '.join(records)}"
                  for identifier, records in person.shared_identifiers.items()]
    if person.links:
        lines.append("Identity links:")
        lines += [f"  {left} ~ {right}" for left, right in person.links]
    if person.refused:
        lines.append("Links One ID refused here (what keeps this person apart from others):")
        lines += [f"  {mine} ~ {other}\n      {why}" for mine, other, why in person.refused]
    if person.history:
        lines.append("History:")
        lines += [f"  {event.event_at}  {event.event_type:<5}  {event.one_id_before} -> {event.one_id_after}"
                  f"  cause: {event.cause}" for event in person.history]
    return "\n".join(lines)


@main.group()
def feedback() -> None:
    """Bring back what destinations report: deliveries, clicks, conversions."""


@feedback.command("load")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--destination", "destination_name",
              help="destination_name for rows that do not carry one.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def feedback_load(settings: Settings, file: Path, destination_name: str | None, as_json: bool) -> None:
    """Land FILE (CSV, JSONL or Parquet) as feedback_events; bad rows go to rejects/."""
    from activation.feedback import load_feedback

    result = load_feedback(settings, file, destination_name)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    click.echo(f"read {result.rows_read:,}  loaded {result.rows_loaded:,}  "
               f"already landed {result.rows_already_landed:,}  rejected {result.rows_rejected:,}")
    _echo_landing(result)


@feedback.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8766, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on; 0 picks a free one (printed on stderr).")
@click.option("--flush-every-seconds", default=5.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), help="Land buffered events this often.")
@click.option("--flush-every-events", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Land at once when this many events wait.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON when stopped.")
@click.pass_obj
def feedback_serve(settings: Settings, host: str, port: int, flush_every_seconds: float,
                   flush_every_events: int, as_json: bool) -> None:
    """Receive signed delivery, click and conversion callbacks over HTTP until SIGTERM/SIGINT.

    POST /feedback takes feedback events (JSON); POST /feedback/sms_gateway/<destination> takes
    Alibaba Cloud SMS delivery receipts. Requests are signed with ACTIVATE__FEEDBACK__SECRET
    (X-Onedata-Timestamp, X-Onedata-Signature, as the webhook destination signs); SMS receipts
    may instead carry ?token=ACTIVATE__FEEDBACK__SMS_PUSH_TOKEN, since Alibaba Cloud cannot sign."""
    import logging

    from activation.feedback_server import serve_feedback

    # Flushes and refused callbacks are logged to stderr (counts and reasons, never bodies).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stats = serve_feedback(
        settings, host=host, port=port, flush_every_seconds=flush_every_seconds,
        flush_every_events=flush_every_events,
        # stderr, so that stdout holds only the summary.
        on_listening=lambda url: click.echo(f"Listening on {url}/feedback (stop with Ctrl-C or SIGTERM)", err=True),
    )
    if as_json:
        click.echo(json.dumps(stats.as_dict(), indent=2))
    else:
        click.echo(f"received {stats.received:,}  landed {stats.landed:,}  "
                   f"duplicates {stats.duplicates:,}  rejected {stats.rejected:,}  "
                   f"unauthorised {stats.unauthorised:,}  ({len(stats.landing_files)} landing files, "
                   f"{len(stats.rejects_files)} rejects files)")
    if stats.unwritten:
        from activation.feedback_buffer import buffer_path

        raise ActivationError(
            f"{stats.unwritten:,} buffered rows could not be written at shutdown (see the log); they stay "
            f"in {buffer_path(settings)} and land when the receiver starts again.")


@feedback.command("pull")
@click.option("--from", "destination_name", required=True, help="Destination name from destinations.yml.")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Records sent on or after this day (UTC).  [default: 7 days ago]")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def feedback_pull(settings: Settings, destination_name: str, since: dt.datetime | None, as_json: bool) -> None:
    """Ask a destination with a status query what became of the records it took, and land it."""
    from activation.feedback_pull import pull_feedback

    result = pull_feedback(settings, destination_name, since.date() if since else None)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        return
    landing = result.landing
    click.echo(f"asked about {result.sent_records:,} sent since {result.since}  read {landing.rows_read:,}  "
               f"loaded {landing.rows_loaded:,}  already landed {landing.rows_already_landed:,}  "
               f"rejected {landing.rows_rejected:,}")
    _echo_landing(landing)


def _echo_landing(result) -> None:
    if result.landing_file:
        click.echo(f"  landed:   {result.landing_file}")
    if result.rejects_file:
        click.echo(f"  rejects:  {result.rejects_file}")
        for reason, count in result.rejection_reasons.items():
            click.echo(f"    {count:>6,} x {reason}")


def _journeys_dir_option(command):
    # No default here: activation.journeys supplies it, imported only when a journey command runs.
    return click.option("--journeys-dir", envvar="ONEDATA_JOURNEYS_DIR", show_envvar=True,
                        type=click.Path(path_type=Path, file_okay=False),
                        help="Where the journey YAML files are.  [default: journeys/]")(command)


def _catch_up_option(command):
    return click.option("--catch-up-days", default=3, show_default=True, type=click.IntRange(min=0),
                        help="Also reach members up to this many days past a step's day (missed runs).")(command)


@main.group()
def journey() -> None:
    """Touch points timed from registration (journeys/*.yml), e.g. day 2, 3, 7 and 30, each A/B tested."""


@journey.command("list")
@_journeys_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the journeys as JSON.")
def journey_list(journeys_dir: Path | None, as_json: bool) -> None:
    """Every journey and its steps; exit 1 when a journey file does not validate."""
    from activation.journeys import list_journeys, listing_text

    listing = list_journeys(journeys_dir)
    if as_json:
        click.echo(json.dumps({"journeys": [j.as_dict() for j in listing.journeys],
                               "problems": listing.problems}, indent=2, ensure_ascii=False))
    else:
        click.echo(listing_text(listing))
    if listing.problems:
        click.get_current_context().exit(EXIT_FAILED)


@journey.command("run")
@click.argument("name", metavar="JOURNEY")
@_journeys_dir_option
@_catch_up_option
@click.option("--dry-run", is_flag=True, help="Plan and count every step; send nothing, write no state.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-step summaries as JSON.")
@click.pass_obj
def journey_run(settings: Settings, name: str, journeys_dir: Path | None, catch_up_days: int, dry_run: bool,
                as_json: bool) -> None:
    """Run every step of JOURNEY as an append-mode sync; safe to rerun (nobody gets a step twice).

    Exit code 1 when a step failed (later steps did not run), 3 when records were rejected."""
    from activation.journeys import run_journey, run_text

    run = run_journey(settings, name, journeys_dir=journeys_dir, catch_up_days=catch_up_days, dry_run=dry_run)
    click.echo(json.dumps(run.as_dict(), indent=2) if as_json else run_text(run))
    if run.failed_step:
        click.get_current_context().exit(EXIT_FAILED)
    if run.rejected:
        click.get_current_context().exit(EXIT_REJECTED)


@journey.command("plan")
@click.argument("name", metavar="JOURNEY")
@_journeys_dir_option
@_catch_up_option
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.pass_obj
def journey_plan(settings: Settings, name: str, journeys_dir: Path | None, catch_up_days: int, as_json: bool) -> None:
    """Per step of JOURNEY: who a run would send now; sends and writes nothing."""
    from activation.journeys import plan_journey, plan_text

    plan = plan_journey(settings, name, journeys_dir=journeys_dir, catch_up_days=catch_up_days)
    click.echo(json.dumps(plan.as_dict(), indent=2) if as_json else plan_text(plan))


@main.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=Path("data/report.html"),
              show_default=True, help="Where to write the HTML file.")
@click.option("--lang", "language", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of every label.")
@click.option("--audience", "audiences", multiple=True, metavar="NAME",
              help="Only these audiences (repeatable).  [default: every audience built]")
@click.option("--campaign", "campaigns", multiple=True, metavar="ID",
              help="Only these campaigns (repeatable).  [default: every campaign reviewed]")
@click.option("--min-cell", envvar="ONEDATA_REPORT_MIN_CELL", show_envvar=True, default=10, show_default=True,
              type=click.IntRange(min=1), help="Cells of fewer people than this are not shown.")
@click.option("--brand", envvar="ONEDATA_BRAND", show_envvar=True, help="The brand named in the title.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_obj
def report(settings: Settings, out: Path, language: str, audiences: tuple[str, ...], campaigns: tuple[str, ...],
           min_cell: int, brand: str | None, as_json: bool) -> None:
    """Write the insight report: one self-contained HTML file (charts inline, no network needed to
    read it) of members, value, lifecycle and AIPL, moves, magic numbers, audiences, campaigns,
    One ID health and data quality."""
    from activation.report import build_report

    result = build_report(settings, out, language=language, audiences=list(audiences),
                          campaigns=list(campaigns), min_cell=min_cell, brand=brand)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    click.echo(f"Report written to {result.path} ({result.size_bytes:,} bytes, {result.charts} charts, "
               f"data as of {result.as_of}, {result.seconds:.1f} s)")


@main.command("demo-data")
@click.option("--people", default=10_000, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--out", "raw_dir", type=click.Path(path_type=Path),
              help="Landing directory to write.  [default: the landing directory setting]")
@click.option("--truth", "truth_dir", default=Path("data/truth"), show_default=True,
              type=click.Path(path_type=Path), help="Where the generator's ground truth goes.")
@click.option("--format", "file_format", type=click.Choice(RAW_FORMATS),
              help="File format.  [default: the landing format setting]")
@click.option("--end-date", type=click.DateTime(formats=["%Y-%m-%d"]), default="2026-10-31",
              show_default=True, help="Last day of generated history.")
@click.option("--simulate-campaign", "campaign_id", metavar="ID",
              help="Instead: simulate what followed a synced campaign's send (deliveries, clicks, "
                   "orders over its attribution window) and land it (activation/demo/outcomes.py).")
@click.option("--effect", "effects", multiple=True, metavar="VARIANT=POINTS:YUAN",
              help="With --simulate-campaign: the true effect of a variant on the members sent it, "
                   "conversion points and ARPU, e.g. a=0.03:20.  [default: a=0.03:20 b=0:0]")
@click.option("--sent-on", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="With --simulate-campaign: the day the send went out; its assignments are moved "
                   "back to it.  [default: the latest day whose window has closed]")
@click.option("--budget", default=1000.0, show_default=True, type=click.FloatRange(min=0),
              help="With --simulate-campaign: the campaign budget declared for it, in yuan.")
@click.pass_obj
def demo_data(settings: Settings, people: int, seed: int, raw_dir: Path | None, truth_dir: Path,
              file_format: str | None, end_date: dt.datetime, campaign_id: str | None,
              effects: tuple[str, ...], sent_on: dt.datetime | None, budget: float) -> None:
    """Generate a synthetic brand's landing files (and the truth to test One ID against), or
    with --simulate-campaign the outcome of a campaign the demo synced."""
    if campaign_id:
        from activation.demo.outcomes import parse_effects, simulate_campaign, summary_text

        summary = simulate_campaign(settings, campaign_id, seed=seed, budget=budget,
                                    effects=parse_effects(effects) if effects else None,
                                    sent_on=sent_on.date() if sent_on else None)
        click.echo(summary_text(summary))
        return
    from activation.demo_data import generate

    counts = generate(
        raw_dir=raw_dir or settings.raw_dir,
        truth_dir=truth_dir,
        people=people,
        seed=seed,
        end_date=end_date.date(),
        file_format=file_format or settings.raw_format,
        progress=_echo_progress,
    )
    width = max(len(table) for table in counts)
    for table, count in counts.items():
        click.echo(f"{table:<{width}}  {count:>12,}")


def _echo_progress(people_done: int) -> None:
    # Progress goes to stderr so that stdout stays the table of counts.
    click.echo(f"  {people_done:,} people written", err=True)
