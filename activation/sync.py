"""`activate sync`: send an audience to a destination, sending only what changed.

consent -> holdout -> diff against sync_state -> batches -> ledger. The audience itself (who is
in it) is decided in dbt; this module decides only who may be contacted and what to send.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import duckdb

from activation import state, warehouse
from activation.destinations import (
    Destination,
    Operation,
    Record,
    RunInfo,
    build_destination,
    load_destination_configs,
)
from activation.destinations.base import CHANNEL_ADDRESS_FIELDS
from activation.errors import ActivationError, DestinationError
from activation.masking import scrub_pii
from activation.settings import Settings
from activation.state import RecordOutcome, RunCounts

TREATED = "treated"
HOLDOUT = "holdout"


@dataclass(frozen=True)
class OutgoingRecord:
    one_id: str
    record: Record
    fingerprint: str


@dataclass
class SyncPlan:
    adds: list[OutgoingRecord]
    updates: list[OutgoingRecord]
    removes: list[OutgoingRecord]
    unchanged: int
    held_out: int
    suppressed: int
    new_assignments: dict[str, str]

    def batches(self) -> Iterator[tuple[Operation, list[OutgoingRecord]]]:
        # Removals first: a destination with a size cap never holds stale members and new ones.
        yield "remove", self.removes
        yield "add", self.adds
        yield "update", self.updates


@dataclass
class SyncSummary:
    run_id: str
    audience: str
    destination: str
    campaign_id: str
    dry_run: bool
    status: str
    added: int = 0
    removed: int = 0
    updated: int = 0
    unchanged: int = 0
    held_out: int = 0
    suppressed: int = 0
    rejected: int = 0
    rejection_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def run_counts(self) -> RunCounts:
        return RunCounts(
            added=self.added,
            removed=self.removed,
            unchanged=self.unchanged,
            held_out=self.held_out,
            suppressed=self.suppressed,
            rejected=self.rejected,
        )


def holdout_score(campaign_id: str, one_id: str) -> float:
    """A stable number in [0, 1) per (campaign, person): the first 8 bytes of a sha256."""
    digest = hashlib.sha256(json.dumps([campaign_id, one_id]).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def record_fingerprint(record: Record) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def plan_sync(
    members: Sequence[dict],
    destination: Destination,
    *,
    campaign_id: str,
    holdout_share: float,
    assignments: dict[str, str],
    current_state: dict[str, str],
) -> SyncPlan:
    """Decide what to send. `members` rows hold one_id, the payload fields and is_consented."""
    address_fields = CHANNEL_ADDRESS_FIELDS[destination.channel]
    suppressed = held_out = 0
    new_assignments: dict[str, str] = {}
    treated: dict[str, OutgoingRecord] = {}
    for member in members:
        one_id = member["one_id"]
        # No consent (null counts as none) or no address on the channel: never sent.
        if member["is_consented"] is not True or not any(member[f] for f in address_fields):
            suppressed += 1
            continue
        group = assignments.get(one_id)
        if group is None:
            group = HOLDOUT if holdout_score(campaign_id, one_id) < holdout_share else TREATED
            new_assignments[one_id] = group
        if group == HOLDOUT:
            held_out += 1
            continue
        record = {"external_id": one_id, **_payload(member, destination)}
        treated[one_id] = OutgoingRecord(one_id, record, record_fingerprint(record))

    adds, updates, unchanged = [], [], 0
    for one_id, outgoing in treated.items():
        held_fingerprint = current_state.get(one_id)
        if held_fingerprint is None:
            adds.append(outgoing)
        elif held_fingerprint != outgoing.fingerprint:
            updates.append(outgoing)
        else:
            unchanged += 1
    removes = []
    for one_id in sorted(set(current_state) - set(treated)):
        record = {"external_id": one_id}
        removes.append(OutgoingRecord(one_id, record, record_fingerprint(record)))
    return SyncPlan(adds, updates, removes, unchanged, held_out, suppressed, new_assignments)


def sync_audience(
    settings: Settings,
    audience_name: str,
    destination_name: str,
    *,
    campaign_id: str | None = None,
    holdout_share: float | None = None,
    dry_run: bool = False,
) -> SyncSummary:
    destination = _destination(settings, destination_name)
    destination.check()
    share = destination.config.holdout_share if holdout_share is None else holdout_share
    if not 0 <= share < 1:
        raise ActivationError(f"The holdout share must be at least 0 and below 1, got {share}.")

    with warehouse.connect(settings.duckdb_path, read_only=False) as connection:
        audience = warehouse.resolve_audience(connection, audience_name)
        warehouse.require_activation_tables(connection)
        run = RunInfo(
            run_id=_new_run_id(),
            audience_name=audience.name,
            destination_name=destination.name,
            campaign_id=campaign_id or f"{audience.name}__{destination.name}",
        )
        plan = plan_sync(
            _read_members(connection, audience, destination),
            destination,
            campaign_id=run.campaign_id,
            holdout_share=share,
            assignments=state.load_assignments(connection, run.campaign_id),
            current_state=state.load_sync_state(connection, audience.name, destination.name),
        )
        summary = SyncSummary(
            run_id=run.run_id,
            audience=audience.name,
            destination=destination.name,
            campaign_id=run.campaign_id,
            dry_run=dry_run,
            status="running",
            unchanged=plan.unchanged,
            held_out=plan.held_out,
            suppressed=plan.suppressed,
        )
        if dry_run:
            # Counts of what would be sent; only the run log is written, no state.
            summary.added, summary.updated, summary.removed = (
                len(plan.adds), len(plan.updates), len(plan.removes)
            )
            summary.status = "succeeded"
            started_at = state.utc_now()
            state.insert_run(
                connection, run, is_dry_run=True, status=summary.status,
                counts=summary.run_counts(), started_at=started_at, finished_at=started_at,
            )
            return summary

        with state.transaction(connection):
            state.insert_run(
                connection, run, is_dry_run=False, status=summary.status,
                counts=summary.run_counts(), started_at=state.utc_now(),
            )
            state.insert_assignments(connection, run, plan.new_assignments)
        _send(connection, destination, run, plan, summary)
        return summary


def _send(
    connection: duckdb.DuckDBPyConnection,
    destination: Destination,
    run: RunInfo,
    plan: SyncPlan,
    summary: SyncSummary,
) -> None:
    """Send batch by batch, committing each acknowledged batch before the next one."""
    sent: Counter[Operation] = Counter()
    rejection_reasons: Counter[str] = Counter()
    throttle = _Throttle(destination.rate_limit)
    batch_number = 0
    destination.start_run(run)
    try:
        for operation, items in plan.batches():
            for batch in _chunks(items, destination.batch_size):
                batch_number += 1
                key = _idempotency_key(run, operation, batch)
                throttle.wait()
                result = destination.write_batch([item.record for item in batch], operation, key)
                errors = {outcome.external_id: outcome.error for outcome in result.results}
                outcomes = [
                    RecordOutcome(
                        item.one_id,
                        item.fingerprint,
                        scrub_pii(errors[item.one_id]) if errors.get(item.one_id) else None,
                    )
                    for item in batch
                ]
                state.commit_batch(
                    connection, run, operation=operation, batch_number=batch_number,
                    idempotency_key=key, outcomes=outcomes,
                )
                rejected = [outcome.error for outcome in outcomes if outcome.error]
                rejection_reasons.update(rejected)
                summary.rejected += len(rejected)
                sent[operation] += len(batch) - len(rejected)
                summary.added, summary.removed, summary.updated = (
                    sent["add"], sent["remove"], sent["update"]
                )
    except BaseException as error:
        summary.status = "failed"
        summary.rejection_reasons = dict(rejection_reasons)
        state.finish_run(connection, run, status=summary.status, counts=summary.run_counts())
        if isinstance(error, DestinationError):
            sent = summary.added + summary.removed + summary.updated
            raise DestinationError(
                f"{error} Run {run.run_id} recorded {sent} records sent before it stopped."
            ) from error
        raise
    finally:
        destination.close()
    summary.status = "completed_with_rejections" if summary.rejected else "succeeded"
    summary.rejection_reasons = dict(rejection_reasons)
    state.finish_run(connection, run, status=summary.status, counts=summary.run_counts())


def _destination(settings: Settings, name: str) -> Destination:
    configs = load_destination_configs(settings.destinations_file)
    if name not in configs:
        raise ActivationError(
            f"Unknown destination {name!r}. Configured in {settings.destinations_file}: "
            f"{', '.join(configs) or 'none'}."
        )
    return build_destination(configs[name])


def _read_members(
    connection: duckdb.DuckDBPyConnection, audience: warehouse.Audience, destination: Destination
) -> list[dict]:
    columns = ["one_id", *destination.payload_fields]
    consent = warehouse.consent_column(destination.channel)
    cursor = connection.execute(
        f"select {', '.join(columns)}, {consent} as is_consented from {audience.table} order by one_id"
    )
    names = [*columns, "is_consented"]
    members = [dict(zip(names, row)) for row in cursor.fetchall()]
    one_ids = {member["one_id"] for member in members}
    if None in one_ids or len(one_ids) != len(members):
        raise ActivationError(
            f"{audience.table} breaks the audience contract: one_id must be unique and not null."
        )
    return members


def _payload(member: dict, destination: Destination) -> dict:
    return {
        field_name: (
            _sha256_hex(member[field_name])
            if field_name in destination.hashed_fields and member[field_name] is not None
            else member[field_name]
        )
        for field_name in destination.payload_fields
    }


def _sha256_hex(value: str) -> str:
    # Ad platforms match on the hash of the trimmed, lower-cased value.
    return hashlib.sha256(str(value).strip().lower().encode("utf-8")).hexdigest()


def _idempotency_key(run: RunInfo, operation: Operation, batch: Sequence[OutgoingRecord]) -> str:
    # Built from the content, not the run id: a batch resent by a rerun after a lost
    # acknowledgement carries the same key, so the destination can drop the duplicate.
    content = [
        run.destination_name,
        run.audience_name,
        run.campaign_id,
        operation,
        [[item.one_id, item.fingerprint] for item in batch],
    ]
    return hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()[:32]


def _new_run_id() -> str:
    return f"{state.utc_now():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def _chunks(items: list, size: int | None) -> Iterator[list]:
    size = size or max(len(items), 1)
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Throttle:
    """Spaces calls to at most `rate` per second."""

    def __init__(self, rate: float | None) -> None:
        self._interval = 1 / rate if rate else 0.0
        self._next_call_at = 0.0

    def wait(self) -> None:
        now = time.monotonic()
        if now < self._next_call_at:
            time.sleep(self._next_call_at - now)
        self._next_call_at = max(now, self._next_call_at) + self._interval
