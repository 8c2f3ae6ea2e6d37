"""`activate sync` and `activate plan`: send an audience to a destination, only what changed.

plan (SQL, activation.sync_plan: eligibility -> assignment -> caps -> diff against what the
destination holds) -> batches -> destination.write_batch -> ledger and sync state, committed
after each acknowledged batch, so a sync killed half-way resumes with nothing lost and nothing
sent twice. The audience (who is in it) is decided in dbt; this module decides only who may be
contacted and what to send.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from activation import state, warehouse
from activation.assignment import DEFAULT_VARIANT, AssignmentPlan, score
from activation.destinations import (
    Destination,
    Destinations,
    Operation,
    Record,
    RecordResult,
    RunInfo,
    load_destinations,
)
from activation.errors import ActivationError, DestinationError
from activation.guardrails import check_guardrails
from activation.masking import scrub_pii
from activation.settings import Settings
from activation.state import AnsweredBatch, PendingBatch
from activation.sync_pipeline import BatchRows, BatchWriter, Throttle
from activation.sync_plan import (
    BatchPlan,
    SyncRequest,
    build_plan,
    plan_batches,
    record_baseline,
    record_new_assignments,
    send_query,
)
from activation.sync_report import Progress, ProgressCallback, SyncPlanReport, SyncSummary

# The summary and report types are part of this module's interface.
__all__ = [
    "Progress", "ProgressCallback", "SyncOptions", "SyncPlanReport", "SyncSummary",
    "holdout_score", "plan_audience", "sync_audience",
]

PLAN_SAMPLE_SIZE = 10
SYNC_MEMORY_LIMIT_ENV = "ONEDATA_SYNC_MEMORY_LIMIT"
SYNC_CHECKPOINT_THRESHOLD = "1GB"


def holdout_score(campaign_id: str, one_id: str) -> float:
    """A stable number in [0, 1) per (campaign, person); below the holdout share = holdout."""
    return score(campaign_id, one_id)


@dataclass(frozen=True)
class SyncOptions:
    """How `activate sync` and `activate plan` treat an audience (a plan ignores dry_run)."""

    campaign_id: str | None = None
    holdout_share: float | None = None
    variants: tuple[tuple[str, float], ...] = ((DEFAULT_VARIANT, 1.0),)
    # Journeys: only members registered between these many days ago (inclusive).
    registered_days: tuple[int, int] | None = None
    # Compare every member, not only those changed since the last completed sync.
    full_diff: bool = False
    # Go on past the sync guardrails (activation/guardrails.py).
    allow_removals: bool = False
    # Everything but the network: plan, encode and batch; send nothing, write no sync state.
    dry_run: bool = False


def plan_audience(
    settings: Settings,
    audience_name: str,
    destination_name: str,
    options: SyncOptions = SyncOptions(),
    *,
    destinations: Destinations | None = None,
) -> SyncPlanReport:
    """What a sync would send now; reads the warehouse only. destinations: destinations.yml as
    the command read it (read from settings when not given)."""
    destinations = destinations or load_destinations(settings.destinations_file)
    destination = destinations.build(destination_name)
    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        _limit_memory(connection)
        request, version = _request(connection, destinations, destination, audience_name, options)
        counts = build_plan(connection, request, full_diff=options.full_diff)
        guardrails = check_guardrails(connection, request, counts, allow_removals=options.allow_removals)
        samples = {
            operation: [
                one_id
                for (one_id,) in connection.execute(
                    "select one_id from _sync_diff where operation = ? order by one_id limit ?",
                    [operation, PLAN_SAMPLE_SIZE],
                ).fetchall()
            ]
            for operation in ("add", "update", "remove")
        }
    return SyncPlanReport(
        audience=request.audience.name,
        destination=destination.name,
        campaign_id=request.campaign_id,
        mode=destination.mode,
        audience_version=version,
        counts=counts,
        samples=samples,
        guardrails=guardrails,
    )


def sync_audience(
    settings: Settings,
    audience_name: str,
    destination_name: str,
    options: SyncOptions = SyncOptions(),
    *,
    on_progress: ProgressCallback | None = None,
    destinations: Destinations | None = None,
) -> SyncSummary:
    """Plan, check the guardrails, send. A sync the guardrails refuse (activation/guardrails.py)
    sends nothing and changes nothing but the run it records (status `refused`); its summary
    says what tripped.

    Batches an earlier run sent without recording the answer (killed, or the answer lost) are
    settled first: resent exactly as they were, under the same key, to a service that
    recognises a resent batch, their members counting as held by the destination in the plan;
    recorded `unknown` and not resent for any other service. destinations: destinations.yml as
    the command read it (read from settings when not given)."""
    dry_run = options.dry_run
    destinations = destinations or load_destinations(settings.destinations_file)
    destination = destinations.build(destination_name)
    destination.check()
    started = time.monotonic()
    with warehouse.connect(settings.duckdb_path, read_only=False) as connection:
        _limit_memory(connection)
        _checkpoint_at_close(connection)
        request, version = _request(connection, destinations, destination, audience_name, options)
        missing = [
            f"{table}.{column}"
            for table, columns in state.ADDED_COLUMNS.items()
            for column in columns
            if not request.catalog.has_columns(table, column)
        ]
        if missing:
            raise ActivationError(
                f"The activation tables predate this version of onedata (no {', '.join(missing)}): "
                "run dbt build (its on-run-start adds them)."
            )
        run = RunInfo(
            run_id=_new_run_id(),
            audience_name=request.audience.name,
            destination_name=destination.name,
            campaign_id=request.campaign_id,
        )
        # Planned and checked in one transaction: a refused sync rolls back what planning wrote.
        connection.begin()
        try:
            if not dry_run:
                state.settle_pending_as_unknown(
                    connection, run, channel=destination.channel, sync_mode=destination.mode,
                    audience_version=version, every_batch=not destination.deduplicates_resends,
                )
            counts = build_plan(connection, request, full_diff=options.full_diff)
            guardrails = check_guardrails(
                connection, request, counts, allow_removals=options.allow_removals
            )
            pending = state.read_pending(connection, run) if destination.deduplicates_resends else []
        except BaseException:
            connection.rollback()
            raise
        if guardrails.refused:
            # Pending batches stay pending, nobody is assigned: the next sync finds it all as is.
            connection.rollback()
        else:
            connection.commit()
        summary = SyncSummary(
            run_id=run.run_id,
            audience=run.audience_name,
            destination=destination.name,
            campaign_id=run.campaign_id,
            mode=destination.mode,
            audience_version=version,
            dry_run=dry_run,
            status=state.REFUSED if guardrails.refused else "running",
            audience_size=counts.audience_size,
            unchanged=counts.unchanged,
            held_out=counts.held_out,
            suppressed=counts.suppressed,
            capped=counts.capped,
            suppression_reasons=dict(counts.ineligible),
            compared=counts.compared,
            full_diff_reason=counts.full_diff_reason,
            guardrails=guardrails,
        )
        with state.transaction(connection):
            if not dry_run and not guardrails.refused:
                # The warehouse file lock means no other sync is running: a run still marked
                # running was killed.
                state.abandon_running_runs(connection, run)
            state.insert_run(
                connection, run, is_dry_run=dry_run, status=summary.status,
                counts=summary.run_counts(), started_at=state.utc_now(),
                sync_mode=destination.mode, audience_version=version,
                audience_count=counts.audience_size, guardrail_message=guardrails.message(),
            )
            if guardrails.refused:
                state.finish_run(connection, run, status=summary.status, counts=summary.run_counts())
            elif not dry_run:
                record_new_assignments(connection, request, run.run_id)
        planned = time.monotonic()
        if not guardrails.refused:
            total = sum(counts.operations.values()) + sum(len(batch.one_ids) for batch in pending)
            _Sender(connection, destination, run, summary, dry_run, on_progress, version).send(
                request, pending, total,
                keep_outcomes=functools.partial(record_baseline, connection, request, counts, run.run_id),
            )
        sent = time.monotonic()
    closed = time.monotonic()
    summary.seconds = round(closed - started, 3)
    summary.phase_seconds = {
        "plan": round(planned - started, 3),
        "send": round(sent - planned, 3),
        "close": round(closed - sent, 3),
    }
    return summary


def _checkpoint_at_close(connection: duckdb.DuckDBPyConnection) -> None:
    """Each batch's commit is written to DuckDB's log, which is what makes a sync resumable. By
    default DuckDB also folds the log into the file whenever it passes 16 MB: every five 10,000
    record batches, rewriting the tables' unfinished last row groups each time (in a first sync
    of a million members, those 16 commits took about 2 s more than the other 66). Raised for
    this process (up to 1 GB of log), the file is checkpointed when the sync closes it; a sync
    killed half-way leaves a longer log for the next open to replay, and loses nothing."""
    connection.execute(f"set checkpoint_threshold = '{SYNC_CHECKPOINT_THRESHOLD}'")


def _limit_memory(connection: duckdb.DuckDBPyConnection) -> None:
    """DuckDB takes 80% of the machine's memory by default; a sync streams, so it needs little.
    Beyond the limit DuckDB spills to disk rather than fail."""
    limit = os.environ.get(SYNC_MEMORY_LIMIT_ENV, "512MB")
    try:
        connection.execute(f"set memory_limit = '{limit.replace(chr(39), '')}'")
    except duckdb.Error as error:
        raise ActivationError(
            f"{SYNC_MEMORY_LIMIT_ENV} must be a size such as 512MB or 2GB, got {limit!r}."
        ) from error


def _request(
    connection: duckdb.DuckDBPyConnection,
    destinations: Destinations,
    destination: Destination,
    audience_name: str,
    options: SyncOptions,
) -> tuple[SyncRequest, str]:
    catalog = warehouse.Catalog.read(connection)
    audience = catalog.resolve_audience(audience_name)
    catalog.require_activation_tables()
    share = destination.config.holdout_share if options.holdout_share is None else options.holdout_share
    assignment = AssignmentPlan(
        campaign_id=options.campaign_id or f"{audience.name}__{destination.name}",
        holdout_share=share,
        global_holdout_share=destinations.global_holdout_share,
        variants=options.variants,
    )
    request = SyncRequest(
        audience=audience,
        destination=destination,
        assignment=assignment,
        catalog=catalog,
        frequency_caps=destinations.frequency_caps,
        registered_days=options.registered_days,
        capture_id=catalog.capture_id(audience),
    )
    return request, warehouse.audience_version(connection, audience, request.capture_id)


class _Sender:
    """Sends the pending batches of earlier runs as they were, then the diff batch by batch, and
    commits each answered batch before the next but one."""

    def __init__(self, connection, destination: Destination, run: RunInfo, summary: SyncSummary,
                 dry_run: bool, on_progress: ProgressCallback | None, audience_version: str):
        self.connection = connection
        self.destination = destination
        self.run = run
        self.summary = summary
        self.dry_run = dry_run
        self.on_progress = on_progress
        self.audience_version = audience_version
        self.throttle = Throttle(None if dry_run else destination.rate_limit)
        self.rejections: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        # Most destinations take records as read; skip the per-record call when encode() would
        # return them unchanged.
        self.encodes = bool(destination.hashed_fields) or type(destination).encode is not Destination.encode
        self.writer: BatchWriter | None = None

    def send(
        self, request: SyncRequest, pending: list[PendingBatch], total: int, *,
        keep_outcomes: Callable[[], None] | None = None,
    ) -> None:
        """Pipeline: each batch is recorded as pending (committed) before it leaves; its answer
        is committed by the writer thread while the next batch is on the network.

        keep_outcomes writes, on the connection that planned, what the run keeps for the next
        sync. It depends on the plan alone, so it is written while the writer commits the last
        answers, and committed with the run's status once they all are: a run that fails
        leaves the baseline of the last completed one."""
        summary, destination = self.summary, self.destination
        started = time.monotonic()
        done = 0
        batch_size = destination.batch_size or max(total, 1)
        # The diff streams from this connection (its temp tables) while each batch is committed
        # through a second connection to the same database.
        reader, self.connection = self.connection, self.connection.cursor()
        plans = plan_batches(reader, request, batch_size)
        self.run = dataclasses.replace(self.run, planned=_planned(pending, plans))
        if not self.dry_run:
            destination.start_run(self.run)
            destination.prepare(reader, request.catalog)
            self.writer = BatchWriter(self.connection.cursor())
        closing = False
        rows = None
        try:
            rows = BatchRows(send_query(reader, request))
            batches = itertools.chain(
                map(self._resend, pending),
                (self._prepare(plan, rows.take(plan.size)) for plan in plans),
            )
            for batch in batches:
                if batch.records and not self.dry_run:
                    # At most one answered batch is still being written while this one leaves,
                    # and none for a service that cannot recognise a resent batch: a kill
                    # resends at most what the destination can deduplicate.
                    self.writer.wait_committed(batch.number - (2 if destination.deduplicates_resends else 1))
                    if not batch.resent:
                        # Durable before the batch leaves: a run killed from here on leaves the
                        # batch pending, and the next run resends it as it was, under its key.
                        with state.transaction(self.connection):
                            state.record_pending(self.connection, self.run, batch.pending())
                self._record(batch, self._write(batch))
                done += len(batch.one_ids)
                if self.on_progress:
                    self.on_progress(Progress(done, total, time.monotonic() - started))
            rows.close()
            if self.writer:
                reader.begin()
                closing = True
                if keep_outcomes:
                    keep_outcomes()
                self.writer.close()
        except BaseException as error:
            if rows is not None:
                rows.close()
            if closing:
                reader.rollback()
            if self.writer:
                self.writer.close(raise_error=False)
            self._finish("failed")
            if isinstance(error, DestinationError):
                raise DestinationError(
                    f"{error} Run {self.run.run_id} recorded {summary.sent} records sent before it stopped."
                ) from error
            raise
        finally:
            if not self.dry_run:
                destination.close()
            self.connection.close()
            self.connection = reader
        self._finish("completed_with_rejections" if summary.rejected else "succeeded")
        if closing:
            reader.commit()

    def _resend(self, pending: PendingBatch) -> _Batch:
        """A batch an earlier run sent without recording the answer: the same records, the same
        key, so the service sees the very request it may already have carried out."""
        self.summary.batches += 1
        return _Batch(
            number=self.summary.batches,
            operation=pending.operation,
            variant=pending.variant,
            key=pending.idempotency_key,
            one_ids=list(pending.one_ids),
            fingerprints=list(pending.record_fingerprints),
            records=list(pending.records),
            resent=True,
        )

    def _prepare(self, plan: BatchPlan, rows: pa.Table) -> _Batch:
        """The records of one batch of the diff (columns external_id, the payload fields,
        record_fingerprint). Encode every record; those the destination cannot take are refused
        before sending."""
        self.summary.batches += 1
        operation = plan.operation
        one_ids = rows.column("external_id").to_pylist()
        fingerprints = rows.column("record_fingerprint").to_pylist()
        records: list[Record] = []
        refused: dict[str, str] = {}
        # A/B: the destination picks the variant's content (one variant per batch).
        ab_variant = plan.variant if plan.variant and plan.variant != DEFAULT_VARIANT else None
        for record in rows.drop_columns(["record_fingerprint"]).to_pylist():
            if operation == "remove":
                # By our id, plus the address where known (hashed like any other payload).
                record = {name: value for name, value in record.items() if value is not None}
                if len(record) > 1 and self.encodes:
                    encoded, reason = self.destination.encode(record)
                    record = {"external_id": record["external_id"]} if reason else encoded
            else:
                if ab_variant:
                    record["variant"] = ab_variant
                if self.encodes:
                    encoded, reason = self.destination.encode(record)
                    if reason:
                        refused[record["external_id"]] = reason
                        continue
                    record = encoded
            records.append(record)
        sent_fingerprints = [
            fingerprint for one_id, fingerprint in zip(one_ids, fingerprints) if one_id not in refused
        ] if refused else fingerprints
        return _Batch(
            number=self.summary.batches,
            operation=operation,
            variant=plan.variant,
            key=_idempotency_key(self.run, operation, records, sent_fingerprints),
            one_ids=one_ids,
            fingerprints=fingerprints,
            records=records,
            refused=refused,
        )

    def _write(self, batch: _Batch) -> dict[str, RecordResult]:
        """The service's answer for the records it did not simply take, by external_id."""
        if not batch.records or self.dry_run:
            return {}
        self.throttle.wait()
        retries_before = self.destination.retries
        try:
            result = self.destination.write_batch(batch.records, batch.operation, batch.key)
        finally:
            self._count_retries(batch, self.destination.retries - retries_before)
        if result.accepted_everything:
            return {}  # the common answer: everything taken, nothing to remember per record
        return {
            outcome.external_id: outcome
            for outcome in result.results
            if outcome.error is not None or outcome.reference is not None or outcome.unknown
        }

    def _count_retries(self, batch: _Batch, retries: int) -> None:
        if retries:
            self.summary.retries += retries
            self.summary.batch_retries[batch.number] = retries

    def _record(self, batch: _Batch, answers: dict[str, RecordResult]) -> None:
        """Count the answer, and hand it to the writer thread: the ledger and state writes of
        this batch overlap the sending of the next one."""
        summary = self.summary
        answered = AnsweredBatch(
            operation=batch.operation,
            batch_number=batch.number,
            idempotency_key=batch.key,
            variant=batch.variant,
            one_ids=batch.one_ids,
            record_fingerprints=batch.fingerprints,
        )
        if answers or batch.refused:
            no_answer = RecordResult("")
            outcomes = [answers.get(one_id, no_answer) for one_id in batch.one_ids]
            errors = [
                batch.refused.get(one_id) or (scrub_pii(outcome.error) if outcome.error else None)
                for one_id, outcome in zip(batch.one_ids, outcomes)
            ]
            answered = dataclasses.replace(
                answered,
                errors=errors,
                references=[outcome.reference for outcome in outcomes],
                unknowns=[outcome.unknown for outcome in outcomes],
            )
        if not self.dry_run:
            self.writer.submit(batch.number, functools.partial(
                state.commit_batch, run=self.run, batch=answered,
                channel=self.destination.channel, sync_mode=self.destination.mode,
                audience_version=self.audience_version,
                unit_cost=self.destination.config.cost_per_record,
            ))
        rejected = [error for error in answered.errors or () if error]
        self.rejections.update(rejected)
        summary.rejected += len(rejected)
        summary.unknown += sum(answered.unknowns or ())
        taken = len(batch.one_ids) - len(rejected)
        if batch.resent:
            summary.resent += taken
        else:
            self.sent[batch.operation] += taken
        summary.added, summary.updated, summary.removed = (
            self.sent["add"], self.sent["update"], self.sent["remove"]
        )

    def _finish(self, status: str) -> None:
        self.summary.status = status
        self.summary.rejection_reasons = dict(self.rejections)
        state.finish_run(self.connection, self.run, status=status, counts=self.summary.run_counts())


@dataclass
class _Batch:
    number: int
    operation: Operation
    variant: str | None
    key: str
    # Every member of the batch and its record fingerprint, in order.
    one_ids: list[str]
    fingerprints: list[str]
    # What is sent: the records of the members not refused, in order.
    records: list[Record]
    # one_id -> why the destination cannot take its record (refused before sending).
    refused: dict[str, str] = field(default_factory=dict)
    # A pending batch of an earlier run, sent again as it was.
    resent: bool = False

    def pending(self) -> PendingBatch:
        sent = [
            (one_id, fingerprint) for one_id, fingerprint in zip(self.one_ids, self.fingerprints)
            if one_id not in self.refused
        ]
        return PendingBatch(
            operation=self.operation,
            idempotency_key=self.key,
            variant=self.variant,
            one_ids=[one_id for one_id, _ in sent],
            record_fingerprints=[fingerprint for _, fingerprint in sent],
            records=self.records,
        )


def _planned(pending: list[PendingBatch], plans: list[BatchPlan]) -> dict[str, tuple[int, int]]:
    """Per operation, the batches and records the run will send (RunInfo.planned)."""
    planned: dict[str, tuple[int, int]] = {}
    sizes = [(batch.operation, len(batch.records)) for batch in pending]
    for operation, size in sizes + [(plan.operation, plan.size) for plan in plans]:
        batches, records = planned.get(operation, (0, 0))
        planned[operation] = (batches + 1, records + size)
    return planned


def _idempotency_key(
    run: RunInfo, operation: Operation, records: Sequence[Record], fingerprints: Sequence[str]
) -> str:
    """Built from the content (who, and the fingerprint of what), not the run id: the same
    batch built again gives the same key."""
    digest = hashlib.sha256(
        json.dumps([run.destination_name, run.audience_name, run.campaign_id, operation]).encode()
    )
    digest.update(
        "\x1f".join(
            f"{record['external_id']}\x1e{fingerprint}" for record, fingerprint in zip(records, fingerprints)
        ).encode()
    )
    return digest.hexdigest()[:32]


def _new_run_id() -> str:
    return f"{state.utc_now():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


