"""Holdout and A/B assignment: a deterministic hash per (campaign, person), the same in Python
and in SQL, so a campaign's groups never depend on when or how often it is synced.

score(campaign, one_id) = the first 64 bits of sha256("<campaign>|<one_id>") / 2**64, in [0, 1).
- global holdout: score("onedata-global-holdout", one_id) < global share -> holdout (scope global):
  the brand's long-run control group, contacted by no campaign;
- campaign holdout: score < holdout share -> holdout (scope campaign);
- otherwise treated, and the variant is picked by where (score - share) / (1 - share) falls in
  the cumulative variant weights.
Every assignment is recorded once (activation.campaign_assignments) and reused afterwards.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from activation.errors import ActivationError

TREATED = "treated"
HOLDOUT = "holdout"
GLOBAL_SCOPE = "global"
CAMPAIGN_SCOPE = "campaign"
GLOBAL_HOLDOUT_KEY = "onedata-global-holdout"
DEFAULT_VARIANT = "default"
_VARIANT_NAME = re.compile(r"^[a-z0-9_]{1,32}$")


def score(key: str, one_id: str) -> float:
    digest = hashlib.sha256(f"{key}|{one_id}".encode()).hexdigest()
    return int(digest[:16], 16) / 2**64


def score_sql(key_sql: str, one_id_sql: str = "one_id") -> str:
    """The same score as a DuckDB expression (key_sql: a SQL string expression)."""
    return (
        f"(('0x' || left(sha256({key_sql} || '|' || {one_id_sql}), 16))::ubigint::double "
        "/ 18446744073709551616.0)"
    )


@dataclass(frozen=True)
class AssignmentPlan:
    campaign_id: str
    holdout_share: float
    global_holdout_share: float = 0.0
    variants: tuple[tuple[str, float], ...] = ((DEFAULT_VARIANT, 1.0),)

    def __post_init__(self) -> None:
        for name, share in (("holdout", self.holdout_share), ("global holdout", self.global_holdout_share)):
            if not 0 <= share < 1:
                raise ActivationError(f"The {name} share must be at least 0 and below 1, got {share}.")
        if not self.variants or any(not math.isfinite(weight) or weight <= 0 for _, weight in self.variants):
            raise ActivationError("Variants need positive, finite weights.")
        for name, _ in self.variants:
            if not _VARIANT_NAME.match(name):
                raise ActivationError(f"Variant names are lower-case letters, digits and _; got {name!r}.")

    def assign(self, one_id: str) -> tuple[str, str | None, str | None]:
        """(group, variant, holdout scope) of one person, in Python (tests, explain)."""
        if self.global_holdout_share and score(GLOBAL_HOLDOUT_KEY, one_id) < self.global_holdout_share:
            return HOLDOUT, None, GLOBAL_SCOPE
        campaign_score = score(self.campaign_id, one_id)
        if campaign_score < self.holdout_share:
            return HOLDOUT, None, CAMPAIGN_SCOPE
        position = (campaign_score - self.holdout_share) / (1 - self.holdout_share)
        total = sum(weight for _, weight in self.variants)
        cumulative = 0.0
        for name, weight in self.variants:
            cumulative += weight / total
            if position < cumulative:
                return TREATED, name, None
        return TREATED, self.variants[-1][0], None

    def sql_scores(self, one_id_sql: str = "one_id") -> tuple[str, str]:
        """DuckDB expressions for the campaign's and the global holdout's score of the person in
        column `one_id_sql` (the global one is null without a global holdout)."""
        global_score = (
            score_sql(sql_literal(GLOBAL_HOLDOUT_KEY), one_id_sql) if self.global_holdout_share else "null"
        )
        return score_sql(sql_literal(self.campaign_id), one_id_sql), global_score

    def sql_columns(
        self, one_id_sql: str = "one_id", *, scores: tuple[str, str] | None = None
    ) -> tuple[str, str, str]:
        """DuckDB expressions for (group, variant, scope) of the person in column `one_id_sql`,
        or from score columns already computed (`scores`, as from sql_scores): each sha256 is
        then computed once per person, not once per expression."""
        campaign_score, global_score = scores or self.sql_scores(one_id_sql)
        global_hit = (
            f"{global_score} < {self.global_holdout_share!r}" if self.global_holdout_share else "false"
        )
        campaign_hit = f"{campaign_score} < {self.holdout_share!r}"
        group = f"case when {global_hit} or {campaign_hit} then '{HOLDOUT}' else '{TREATED}' end"
        scope = (
            f"case when {global_hit} then '{GLOBAL_SCOPE}' "
            f"when {campaign_hit} then '{CAMPAIGN_SCOPE}' end"
        )
        position = f"(({campaign_score} - {self.holdout_share!r}) / {1 - self.holdout_share!r})"
        total = sum(weight for _, weight in self.variants)
        branches, cumulative = [], 0.0
        for name, weight in self.variants[:-1]:
            cumulative += weight / total
            branches.append(f"when {position} < {cumulative!r} then '{name}'")
        variant = (
            f"case when {global_hit} or {campaign_hit} then null "
            f"{' '.join(branches)} else '{self.variants[-1][0]}' end"
        )
        return group, variant, scope


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def parse_variants(text: str | None) -> tuple[tuple[str, float], ...]:
    """"a=0.5,b=0.5" -> (("a", 0.5), ("b", 0.5)); None -> the single default variant.

    The shares are of the treated members: each a number above 0 and at most 1, together 1
    (within 1e-6), under distinct names of lower-case letters, digits and _. A lone name
    ("a") is a share of 1."""
    if not text:
        return ((DEFAULT_VARIANT, 1.0),)
    variants = []
    for part in text.split(","):
        name, equals, share_text = (piece.strip() for piece in part.partition("="))
        if not _VARIANT_NAME.match(name):
            raise ActivationError(
                f"variant name {name!r} must be 1 to 32 lower-case letters, digits or _ (as in a=0.5,b=0.5).")
        try:
            share = float(share_text) if equals else 1.0
        except ValueError as error:
            raise ActivationError(f"the share of variant {name} is not a number: {share_text!r}.") from error
        if not math.isfinite(share) or not 0 < share <= 1:
            raise ActivationError(f"the share of variant {name} must be above 0 and at most 1; got {share_text}.")
        variants.append((name, share))
    names = [name for name, _ in variants]
    if len(set(names)) != len(names):
        duplicated = sorted({name for name in names if names.count(name) > 1})
        raise ActivationError(f"variant {', '.join(duplicated)} is named twice.")
    total = math.fsum(share for _, share in variants)
    if not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ActivationError(f"the variant shares add up to {total:g}, not 1 (as in a=0.5,b=0.5).")
    return tuple(variants)
