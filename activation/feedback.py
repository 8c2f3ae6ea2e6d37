"""Land delivery, click and conversion reports as feedback_events (landing contract).

Three ways in share this module: `activate feedback load` (a file), `feedback serve`
(callbacks, activation/feedback_server.py) and `feedback pull` (a destination's status query,
activation/feedback_pull.py). Each valid row gets a feedback_event_id; without one of its own
it is a hash of the event's content, so the same event reported twice has the same id and the
staging model keeps it once. Valid rows become one file in the landing zone, named by a hash of
their content so landing the same rows twice overwrites one file. Invalid rows are written
aside with the reason; no row is dropped without a trace.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from activation.errors import ActivationError
from activation.settings import Settings

TABLE = "feedback_events"
EVENT_TYPES = ("delivered", "failed", "opened", "clicked", "converted", "unsubscribed")
# Landing contract, docs/landing-contract.md#feedback_events.
ARROW_SCHEMA = pa.schema(
    [
        ("feedback_event_id", pa.string()),
        ("campaign_id", pa.string()),
        ("destination_name", pa.string()),
        ("one_id", pa.string()),
        ("event_type", pa.string()),
        ("order_id", pa.string()),
        ("revenue_amount", pa.decimal128(18, 2)),
        ("occurred_at", pa.timestamp("us")),
    ]
)
COLUMNS = tuple(ARROW_SCHEMA.names)
REQUIRED_INPUT_COLUMNS = ("campaign_id", "event_type", "occurred_at")
# Destinations echo the one_id they were sent as external_id.
ONE_ID_ALIASES = ("one_id", "external_id")
INPUT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
CENT = decimal.Decimal("0.01")
MAX_REVENUE = decimal.Decimal("1e16")


@dataclass(frozen=True)
class FeedbackLoadResult:
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    landing_file: Path | None
    rejects_file: Path | None
    rejection_reasons: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "landing_file": str(self.landing_file) if self.landing_file else None,
            "rejects_file": str(self.rejects_file) if self.rejects_file else None,
            "rejection_reasons": self.rejection_reasons,
        }


def load_feedback(
    settings: Settings, input_path: Path, destination_name: str | None = None
) -> FeedbackLoadResult:
    rows = _read_rows(input_path)
    _require_columns(rows, input_path, destination_name)
    input_hash = hashlib.sha256(input_path.read_bytes()).hexdigest()[:12]
    return land_rows(
        settings, rows, destination_name, rejects_name=f"{input_path.stem}-{input_hash}"
    )


def land_rows(
    settings: Settings,
    rows: list[dict[str, Any]],
    default_destination: str | None,
    *,
    rejects_name: str | None = None,
    rejects_prefix: str = "rejects",
) -> FeedbackLoadResult:
    """Validate rows, land the good ones as one file and write the others aside.

    The rejects file is `<rejects_name>.csv`, or `<rejects_prefix>-<hash of the rejects>.csv`
    when no name is given (the same rejects written twice overwrite one file).
    """
    loaded, rejected = [], []
    for row_number, row in enumerate(rows, start=1):
        event, reason = validate_row(row, default_destination)
        if reason:
            rejected.append({"source_row": row_number, **row, "rejection_reason": reason})
        else:
            loaded.append(event)

    landing_file = write_landing_file(settings, loaded) if loaded else None
    rejects_file = None
    if rejected:
        name = rejects_name or f"{rejects_prefix}-{_content_hash(rejected)[:12]}"
        rejects_file = write_rejects(settings, name, rejected)
    return FeedbackLoadResult(
        rows_read=len(rows),
        rows_loaded=len(loaded),
        rows_rejected=len(rejected),
        landing_file=landing_file,
        rejects_file=rejects_file,
        rejection_reasons=dict(Counter(row["rejection_reason"] for row in rejected)),
    )


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise ActivationError(f"No such file: {path}")
    kind = INPUT_SUFFIXES.get(path.suffix.lower())
    if kind == "csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    if kind == "jsonl":
        return [_json_line(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if kind == "parquet":
        return pq.read_table(path).to_pylist()
    raise ActivationError(
        f"Cannot read {path.name}: feedback files are {', '.join(INPUT_SUFFIXES)}."
    )


def _json_line(line: str) -> dict[str, Any]:
    # A broken line still becomes a row, so that it is rejected with its text rather than lost.
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        value = None
    return value if isinstance(value, dict) else {"raw_line": line}


def _require_columns(rows: list[dict], path: Path, destination_name: str | None) -> None:
    present = {key for row in rows for key in row}
    missing = [column for column in REQUIRED_INPUT_COLUMNS if column not in present]
    if rows and not present & set(ONE_ID_ALIASES):
        missing.append("one_id (or external_id)")
    if rows and destination_name is None and "destination_name" not in present:
        missing.append("destination_name (or pass --destination)")
    if rows and missing:
        raise ActivationError(f"{path} lacks the feedback_events columns: {', '.join(missing)}.")


def validate_row(row: dict[str, Any], default_destination: str | None) -> tuple[dict | None, str | None]:
    """Return the row in contract types, or the reasons it cannot be landed.

    The event's id is the row's own feedback_event_id, else `fb_` + a hash of the validated
    event: the same event reported twice (a retried callback, two overlapping pulls) gets the
    same id, which the staging model de-duplicates on.
    """
    if "raw_line" in row and len(row) == 1:
        return None, "not a JSON object"
    problems = []
    text = {key: _text(value) for key, value in row.items()}
    one_id = next((text[key] for key in ONE_ID_ALIASES if text.get(key)), None)
    destination_name = text.get("destination_name") or default_destination
    event_type = (text.get("event_type") or "").lower()
    for column, value in (
        ("one_id", one_id),
        ("campaign_id", text.get("campaign_id")),
        ("destination_name", destination_name),
    ):
        if not value:
            problems.append(f"{column} is empty")
    if event_type not in EVENT_TYPES:
        problems.append(f"event_type {text.get('event_type')!r} is not one of {', '.join(EVENT_TYPES)}")
    occurred_at = _timestamp(row.get("occurred_at"))
    if occurred_at is None:
        problems.append(f"occurred_at {text.get('occurred_at')!r} is not a timestamp")
    revenue_amount, revenue_problem = _revenue(row.get("revenue_amount"))
    if revenue_problem:
        problems.append(revenue_problem)
    if problems:
        return None, "; ".join(problems)

    event = {
        "campaign_id": text["campaign_id"],
        "destination_name": destination_name,
        "one_id": one_id,
        "event_type": event_type,
        "order_id": text.get("order_id"),
        "revenue_amount": revenue_amount,
        "occurred_at": occurred_at,
    }
    event_id = text.get("feedback_event_id") or f"fb_{_content_hash([event])[:32]}"
    return {"feedback_event_id": event_id, **event}, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _timestamp(value: Any) -> dt.datetime | None:
    """Parse to naive UTC; a value without an offset is taken as UTC (landing contract)."""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _revenue(value: Any) -> tuple[decimal.Decimal | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    try:
        amount = decimal.Decimal(str(value).strip())
    except decimal.InvalidOperation:
        return None, f"revenue_amount {value!r} is not a number"
    if not amount.is_finite() or abs(amount) >= MAX_REVENUE:
        return None, f"revenue_amount {value!r} is not a decimal(18,2) amount"
    return amount.quantize(CENT, rounding=decimal.ROUND_HALF_UP), None


def _content_hash(events: list[dict]) -> str:
    lines = sorted(json.dumps(event, sort_keys=True, default=str) for event in events)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def write_landing_file(settings: Settings, events: list[dict]) -> Path:
    """Write validated events (validate_row's output) as one landing file, atomically."""
    folder = settings.raw_dir / TABLE
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"feedback-{_content_hash(events)[:16]}.{settings.raw_format}"
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    if settings.raw_format == "parquet":
        pq.write_table(pa.Table.from_pylist(events, schema=ARROW_SCHEMA), temporary)
    else:
        with temporary.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows({key: _csv_value(value) for key, value in event.items()} for event in events)
    os.replace(temporary, target)
    return target


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def rejects_folder(settings: Settings) -> Path:
    return settings.raw_dir.resolve().parent / "rejects" / TABLE


def write_rejects(settings: Settings, name: str, rejected: list[dict]) -> Path:
    """Write rows that cannot be landed, each with its rejection_reason (last column)."""
    folder = rejects_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.csv"
    columns = list(dict.fromkeys(key for row in rejected for key in row))
    columns.append(columns.pop(columns.index("rejection_reason")))
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows({key: _csv_value(value) for key, value in row.items()} for row in rejected)
    os.replace(temporary, target)
    return target
