"""`activate feedback pull --from DESTINATION`: ask a destination what became of what it took.

Some services answer a status query rather than (or as well as) calling back: an SMS gateway's
send-detail query by phone and BizId, a WeCom message's send result by msgid. A destination
type whose class sets `supports_feedback_pull` implements `pull_feedback(sent)`: it is handed
one SentRecord per record the ledger says it took since a date (one_id, campaign_id, the
member's address on the destination's channel read from marts.dim_members, the service's own
reference from the ledger, sent_at) and yields feedback_events rows. Those are validated and
landed exactly like `activate feedback load`; bad rows go to the rejects folder with the reason.
Pulling the same period twice lands the same events under the same feedback_event_id, which
the staging model counts once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import duckdb

from activation import warehouse
from activation.destinations import SentRecord, load_destinations
from activation.destinations.base import CHANNEL_ADDRESS_FIELDS, Destination
from activation.errors import ActivationError
from activation.feedback import FeedbackLoadResult, land_rows
from activation.settings import ACTIVATION_SCHEMA, Settings

DEFAULT_LOOKBACK_DAYS = 7
MEMBERS_TABLE = "marts.dim_members"
LEDGER_TABLE = f"{ACTIVATION_SCHEMA}.sync_ledger"


@dataclass(frozen=True)
class FeedbackPullResult:
    destination_name: str
    since: dt.date
    sent_records: int
    landing: FeedbackLoadResult

    def as_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination_name,
            "since": self.since.isoformat(),
            "sent_records": self.sent_records,
            **self.landing.as_dict(),
        }


def pull_feedback(
    settings: Settings, destination_name: str, since: dt.date | None = None
) -> FeedbackPullResult:
    destination = _pullable_destination(settings, destination_name)
    since = since or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=DEFAULT_LOOKBACK_DAYS))
    # Read everything first and close the warehouse: the service calls may take a while, and
    # an open DuckDB file keeps a sync or dbt from writing.
    sent = read_sent_records(settings, destination, since)
    try:
        rows = [_as_row(row, destination.name) for row in destination.pull_feedback(sent)] if sent else []
    finally:
        destination.close()
    landing = land_rows(settings, rows, destination.name, rejects_prefix=f"pull-{destination.name}")
    return FeedbackPullResult(destination.name, since, len(sent), landing)


def _pullable_destination(settings: Settings, destination_name: str) -> Destination:
    destination = load_destinations(settings.destinations_file).build(destination_name)
    if not destination.supports_feedback_pull:
        raise ActivationError(
            f"Destination {destination_name} (type {destination.type_name}) offers no status query "
            "to pull feedback from: have it call `activate feedback serve`, or land its reports "
            "with `activate feedback load`."
        )
    destination.check()
    return destination


def read_sent_records(
    settings: Settings, destination: Destination, since: dt.date
) -> list[SentRecord]:
    """One SentRecord per (member, campaign, service reference) the destination took since
    `since` (UTC), with the member's current address on the destination's channel."""
    address_columns = CHANNEL_ADDRESS_FIELDS[destination.channel]
    # Column names come from a fixed mapping, never from input.
    address = "coalesce(" + ", ".join(f"members.{column}" for column in address_columns) + ")"
    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        warehouse.require_activation_tables(connection)
        try:
            rows = connection.execute(
                f"""
                select
                    ledger.one_id,
                    ledger.campaign_id,
                    any_value({address}) as address,
                    ledger.destination_reference,
                    min(ledger.recorded_at) as sent_at
                from {LEDGER_TABLE} as ledger
                left join {MEMBERS_TABLE} as members
                    on ledger.one_id = members.one_id
                where ledger.destination_name = ?
                    and ledger.send_status = 'sent'
                    and ledger.operation <> 'remove'
                    and ledger.recorded_at >= ?
                group by ledger.one_id, ledger.campaign_id, ledger.destination_reference
                order by sent_at, ledger.one_id
                """,
                [destination.name, dt.datetime.combine(since, dt.time())],
            ).fetchall()
        except duckdb.CatalogException as error:
            raise ActivationError(
                f"{MEMBERS_TABLE} is missing from {settings.duckdb_path}: run dbt build first."
            ) from error
    return [
        SentRecord(one_id=one_id, campaign_id=campaign_id, address=address_value,
                   reference=reference, sent_at=sent_at)
        for one_id, campaign_id, address_value, reference, sent_at in rows
    ]


def _as_row(row: Any, destination_name: str) -> dict[str, Any]:
    # The rows are this destination's reports whatever they claim; anything that is not a
    # mapping is still kept, to be rejected with its text.
    if not isinstance(row, dict):
        return {"raw_line": repr(row)[:1000]}
    return {**row, "destination_name": destination_name}
