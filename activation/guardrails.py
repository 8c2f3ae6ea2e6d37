"""Sync guardrails: a sync that would empty a destination stops before it sends anything.

A broken build (an export cut short, an as-of date run ahead of the clock) empties or shrinks an
audience, and a mirror destination then removes the members it held: customers drop out of a CRM
list or an ad audience, and putting them back costs a full upload and the platform's matching
time. So before a mirror sync sends anything, it compares its plan with what the destination
holds (the sync state of this audience and destination, whichever campaign sent it) and refuses
when:

- `removal_share`: it would remove more than `max_removal_share` of those members (default 10%);
- `audience_shrink`: the audience lost more than `max_shrink_share` of its members since the
  last completed sync of it to this destination (default 50%: see SyncGuardrails for why);
- `empty_audience`: the audience is empty while the destination holds members.

Only mirror mode removes members (a WeCom tag in mirror mode too). upsert and append never do, so
no guardrail applies to them: a journey's daily append sync often meets an empty audience (nobody
registered that day) and must go on. An operator goes on past a refusal on purpose with
`activate sync --allow-removals`, or with `allow_removals: true` under the destination's
`sync_guardrails`; the run then records what it went past.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import duckdb

from activation import state
from activation.sync_plan import PlanCounts, SyncRequest

# The modes whose syncs remove members from the destination.
REMOVING_MODES = ("mirror",)
ALLOWED_BY_FLAG = "--allow-removals"
ALLOWED_BY_SETTING = "the destination's allow_removals setting"
ADVICE = (
    "Check the audience build first (`activate audiences`; the last dbt build's landing files and "
    "as-of date). If these removals are intended, sync with --allow-removals, or set "
    "`allow_removals: true` under the destination's sync_guardrails in destinations.yml."
)


@dataclass(frozen=True)
class Tripped:
    # removal_share, audience_shrink or empty_audience
    rule: str
    # What tripped and by how much, in counts and shares (never a member's data).
    message: str


@dataclass(frozen=True)
class GuardrailReport:
    """A plan measured against what the destination holds, and what tripped."""

    mode: str
    # Whether the mode removes members: otherwise nothing is measured and nothing trips.
    applies: bool
    # Members the destination holds for this audience, and how many the plan removes.
    held: int = 0
    removes: int = 0
    audience_size: int = 0
    # The audience's size at the last completed sync to this destination, when recorded.
    last_audience_size: int | None = None
    last_run_id: str | None = None
    max_removal_share: float = 0.0
    max_shrink_share: float = 0.0
    # ALLOWED_BY_FLAG or ALLOWED_BY_SETTING when the operator lets the sync go on past them.
    allowed_by: str | None = None
    tripped: tuple[Tripped, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.tripped) and self.allowed_by is None

    @property
    def removal_share(self) -> float:
        return self.removes / self.held if self.held else 0.0

    @property
    def shrink_share(self) -> float | None:
        """The share of its members the audience lost since the last completed sync (negative
        when it grew); None without a size to compare with."""
        if not self.last_audience_size:
            return None
        return (self.last_audience_size - self.audience_size) / self.last_audience_size

    def message(self) -> str | None:
        """What tripped, on one line (the run table's guardrail_message); None when nothing did."""
        if not self.tripped:
            return None
        text = "; ".join(f"{tripped.rule}: {tripped.message}" for tripped in self.tripped)
        return f"allowed by {self.allowed_by}: {text}" if self.allowed_by else text

    def as_dict(self) -> dict:
        return {
            "applies": self.applies,
            "refused": self.refused,
            "allowed_by": self.allowed_by,
            "tripped": [dataclasses.asdict(tripped) for tripped in self.tripped],
            "held": self.held,
            "removes": self.removes,
            "removal_share": self.removal_share,
            "max_removal_share": self.max_removal_share,
            "audience_size": self.audience_size,
            "last_audience_size": self.last_audience_size,
            "last_run_id": self.last_run_id,
            "shrink_share": self.shrink_share,
            "max_shrink_share": self.max_shrink_share,
        }


def check_guardrails(
    connection: duckdb.DuckDBPyConnection,
    request: SyncRequest,
    counts: PlanCounts,
    *,
    allow_removals: bool = False,
) -> GuardrailReport:
    """Measure the plan build_plan made (counts) against what the destination holds."""
    destination = request.destination
    if destination.mode not in REMOVING_MODES:
        return GuardrailReport(mode=destination.mode, applies=False)
    limits = destination.config.guardrails
    last = state.last_completed_run(
        connection, request.audience.name, destination.name,
        has_audience_count=request.catalog.has_columns(state.SYNC_RUNS, "audience_count"),
    )
    allowed_by = ALLOWED_BY_FLAG if allow_removals else ALLOWED_BY_SETTING if limits.allow_removals else None
    report = GuardrailReport(
        mode=destination.mode,
        applies=True,
        held=state.held_count(connection, request.audience.name, destination.name),
        removes=counts.operations["remove"],
        audience_size=counts.audience_size,
        last_audience_size=last.audience_count if last else None,
        last_run_id=last.run_id if last else None,
        max_removal_share=limits.max_removal_share,
        max_shrink_share=limits.max_shrink_share,
        allowed_by=allowed_by,
    )
    tripped = []
    if report.held and report.removal_share > limits.max_removal_share:
        tripped.append(Tripped(
            "removal_share",
            f"would remove {report.removes:,} of the {report.held:,} members the destination holds "
            f"({report.removal_share:.1%}); the limit is {limits.max_removal_share:.1%} "
            "(max_removal_share)",
        ))
    shrink = report.shrink_share
    if shrink is not None and shrink > limits.max_shrink_share:
        tripped.append(Tripped(
            "audience_shrink",
            f"the audience has {report.audience_size:,} members, {shrink:.1%} fewer than the "
            f"{report.last_audience_size:,} at the last completed sync (run {report.last_run_id}); "
            f"the limit is {limits.max_shrink_share:.1%} (max_shrink_share)",
        ))
    if report.audience_size == 0 and report.held:
        tripped.append(Tripped(
            "empty_audience",
            f"the audience is empty while the destination holds {report.held:,} members",
        ))
    return dataclasses.replace(report, tripped=tuple(tripped))
