"""What a sync or a plan tells the user: progress while it sends, the summary of a sync and the
report of a plan (`--json` prints their as_dict)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from activation.guardrails import GuardrailReport
from activation.state import RunCounts
from activation.sync_plan import PlanCounts


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    elapsed_seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


ProgressCallback = Callable[[Progress], None]


@dataclass
class SyncSummary:
    run_id: str
    audience: str
    destination: str
    campaign_id: str
    mode: str
    audience_version: str
    dry_run: bool
    status: str
    audience_size: int = 0
    added: int = 0
    removed: int = 0
    updated: int = 0
    unchanged: int = 0
    held_out: int = 0
    suppressed: int = 0
    capped: int = 0
    rejected: int = 0
    # Records of batches an earlier run sent without recording the answer, sent again exactly
    # as they were first sent, under the same key (counted in sent).
    resent: int = 0
    # Sent, but the service's answer was lost (counted in sent; recorded `unknown`, not resent).
    unknown: int = 0
    batches: int = 0
    # Requests the destination sent again after a transient failure, in all and per batch
    # (batch number -> retries, for the batches that needed any).
    retries: int = 0
    batch_retries: dict[int, int] = field(default_factory=dict)
    # The whole sync, from opening the warehouse to closing it, and that time by phase: "plan"
    # (open, read, plan, record the run), "send" (the batches and what they recorded), "close"
    # (the checkpoint that folds the sync's log into the file: activation.sync._checkpoint_at_close).
    seconds: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=dict)
    # "changed": only the members changed since the last completed sync were compared; "all".
    compared: str = "all"
    full_diff_reason: str | None = None
    suppression_reasons: dict[str, int] = field(default_factory=dict)
    rejection_reasons: dict[str, int] = field(default_factory=dict)
    # The plan against what the destination holds: what tripped, and whether the sync was
    # refused for it (status `refused`, nothing sent) or let go on.
    guardrails: GuardrailReport | None = None

    @property
    def sent(self) -> int:
        return self.added + self.updated + self.removed + self.resent

    def as_dict(self) -> dict:
        guardrails = self.guardrails.as_dict() if self.guardrails else None
        return {**asdict(self), "sent": self.sent, "guardrails": guardrails}

    def run_counts(self) -> RunCounts:
        return RunCounts(
            added=self.added,
            removed=self.removed,
            unchanged=self.unchanged,
            held_out=self.held_out,
            suppressed=self.suppressed,
            rejected=self.rejected,
            capped=self.capped,
        )


@dataclass
class SyncPlanReport:
    """What `activate plan` shows: what a sync would do now, nothing sent or written."""

    audience: str
    destination: str
    campaign_id: str
    mode: str
    audience_version: str
    counts: PlanCounts
    samples: dict[str, list[str]]
    # Whether `activate sync` would be refused now (activation/guardrails.py).
    guardrails: GuardrailReport

    def as_dict(self) -> dict:
        counts = self.counts
        return {
            "audience": self.audience,
            "destination": self.destination,
            "campaign_id": self.campaign_id,
            "mode": self.mode,
            "audience_version": self.audience_version,
            "audience_size": counts.audience_size,
            "adds": counts.operations["add"],
            "updates": counts.operations["update"],
            "removes": counts.operations["remove"],
            "unchanged": counts.unchanged,
            "held_out": counts.held_out,
            "new_assignments": counts.new_assignments,
            "capped": counts.capped,
            "suppressed": counts.suppressed,
            "suppression_reasons": dict(counts.ineligible),
            "compared": counts.compared,
            "full_diff_reason": counts.full_diff_reason,
            "samples": self.samples,
            "guardrails": self.guardrails.as_dict(),
        }


