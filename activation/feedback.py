"""Land delivery, click and conversion reports as feedback_events (landing contract).

Three ways in share this module: `activate feedback load` (a file), `feedback serve`
(callbacks, activation/feedback_server.py) and `feedback pull` (a destination's status query,
activation/feedback_pull.py). Each valid row gets a feedback_event_id; without one of its own
it is a hash of the event's content, so the same event reported twice has the same id and the
staging model keeps it once. Valid rows become one file in the landing zone, named by a hash of
their content so landing the same rows twice overwrites one file. Invalid rows are written
aside with the reason; no row is dropped without a trace.

A row is valid only when it fits the landing types whole (validate_row): ids are bounded,
valid Unicode without control characters and no phone or e-mail; occurred_at is a timestamp
between 1970 and 2100; revenue_amount still fits decimal(18,2) after rounding to cents. So a
landing file can always be written; should one row still fail (a bug), write_landing_rows sets
that row aside and writes the others. Rejects files hold rows scrubbed of phones and e-mails
(in every form: prefixes, separators, full-width digits, numbers, keys), each value cut short.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from activation.errors import ActivationError
from activation.masking import contains_pii, scrub_value
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
# decimal(18,2): 16 digits before the point, checked after rounding to cents.
MAX_REVENUE = decimal.Decimal("1e16")
# Bounds checked before anything else looks at a value (parsing, patterns, hashing).
MAX_ID_CHARS = 200
MAX_TIMESTAMP_CHARS = 40
MAX_AMOUNT_CHARS = 40
# Timestamps every engine and file format takes; outside them a date is a sender's bug.
EARLIEST_OCCURRED_AT = dt.datetime(1970, 1, 1)
LATEST_OCCURRED_AT = dt.datetime(2100, 1, 1)
ID_COLUMNS = ("feedback_event_id", "campaign_id", "one_id", "order_id")
# Kept as columns of a rejects file; any other key of a rejected row goes to other_fields.
REJECT_COLUMNS = ("feedback_event_id", "campaign_id", "destination_name", "one_id", "external_id",
                  "event_type", "order_id", "revenue_amount", "occurred_at")
MAX_REJECT_VALUE_CHARS = 200
MAX_REJECT_OTHER_CHARS = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DESTINATION_NAME = re.compile(r"[a-z][a-z0-9_]{0,199}")
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")


@dataclass(frozen=True)
class FeedbackLoadResult:
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    landing_file: Path | None
    rejects_file: Path | None
    rejection_reasons: dict[str, int]
    # Valid rows whose event had landed before (the same file loaded twice): not landed again.
    rows_already_landed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_already_landed": self.rows_already_landed,
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
            rejected.append(reject_record(row, reason, source_row=row_number))
        else:
            loaded.append(event)
    # The same file loaded (or the same period pulled) again lands nothing new, and says so.
    landed_before = landed_event_ids(settings)
    already = sum(1 for event in loaded if event["feedback_event_id"] in landed_before)
    loaded = [event for event in loaded if event["feedback_event_id"] not in landed_before]

    landing_file, unwritable = write_landing_rows(settings, loaded)
    rejected += [reject_record(event, reason) for event, reason in unwritable]
    rejects_file = None
    if rejected:
        name = rejects_name or f"{rejects_prefix}-{_content_hash(rejected)[:12]}"
        rejects_file = write_rejects(settings, name, rejected)
    return FeedbackLoadResult(
        rows_read=len(rows),
        rows_loaded=len(loaded) - len(unwritable),
        rows_already_landed=already,
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

    Every value is checked against its landing type before it is accepted, so that a landing
    file of accepted rows can always be written (see the module docstring).
    The event's id is the row's own feedback_event_id, else `fb_` + a hash of the validated
    event: the same event reported twice (a retried callback, two overlapping pulls) gets the
    same id, which the staging model de-duplicates on.
    """
    if "raw_line" in row and len(row) == 1:
        return None, "not a JSON object"
    problems: list[str] = []
    text = {column: id_text(row.get(column), column, problems) for column in ID_COLUMNS}
    external_id = id_text(row.get("external_id"), "external_id", problems)
    one_id = text["one_id"] or external_id
    destination_name = _destination_name(row.get("destination_name"), default_destination, problems)
    event_type = _event_type(row.get("event_type"), problems)
    for column, value in (("one_id", one_id), ("campaign_id", text["campaign_id"])):
        if not value and not any(problem.startswith(column) for problem in problems):
            problems.append(f"{column} is empty")
    occurred_at = parse_timestamp(row.get("occurred_at"), problems)
    revenue_amount = _revenue(row.get("revenue_amount"), problems)
    if problems:
        return None, "; ".join(problems)

    event = {
        "campaign_id": text["campaign_id"],
        "destination_name": destination_name,
        "one_id": one_id,
        "event_type": event_type,
        "order_id": text["order_id"],
        "revenue_amount": revenue_amount,
        "occurred_at": occurred_at,
    }
    event_id = text["feedback_event_id"] or f"fb_{_content_hash([event])[:32]}"
    return {"feedback_event_id": event_id, **event}, None


def _shown(value: Any) -> str:
    """A value quoted in a rejection reason: short, and scrubbed of phones and e-mails."""
    return repr(scrub_value(value, 60))


def id_text(value: Any, column: str, problems: list[str]) -> str | None:
    """An id as landed text: a string (or a whole number) of bounded length, valid Unicode,
    without control characters, and not a phone or an e-mail (personal data is no id)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, decimal.Decimal)):
        problems.append(f"{column} {_shown(value)} is not text")
        return None
    if not isinstance(value, str):
        if isinstance(value, decimal.Decimal) and (
            not value.is_finite() or value != value.to_integral_value() or value.adjusted() >= MAX_ID_CHARS
        ):
            problems.append(f"{column} {_shown(value)} is not text or a whole number")
            return None
        if abs(value) >= 10**MAX_ID_CHARS:
            problems.append(f"{column} is longer than {MAX_ID_CHARS} characters")
            return None
        value = str(int(value))
    if len(value) > MAX_ID_CHARS * 4:
        problems.append(f"{column} is longer than {MAX_ID_CHARS} characters")
        return None
    value = value.strip()
    if len(value) > MAX_ID_CHARS:
        problems.append(f"{column} is longer than {MAX_ID_CHARS} characters")
    elif not _is_unicode(value):
        problems.append(f"{column} {_shown(value)} is not valid Unicode")
    elif _CONTROL.search(value):
        problems.append(f"{column} {_shown(value)} holds control characters")
    elif contains_pii(value):
        problems.append(f"{column} {_shown(value)} holds a phone number or an e-mail address")
    else:
        return value or None
    return None


def _destination_name(value: Any, default: str | None, problems: list[str]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        value = default
    if value is None:
        problems.append("destination_name is empty")
        return None
    if not isinstance(value, str) or not _DESTINATION_NAME.fullmatch(value.strip()):
        problems.append(f"destination_name {_shown(value)} is not a destination name "
                        "(lower-case letters, digits and _)")
        return None
    return value.strip()


def _event_type(value: Any, problems: list[str]) -> str | None:
    event_type = value.strip().lower() if isinstance(value, str) and len(value) <= 40 else None
    if event_type not in EVENT_TYPES:
        problems.append(f"event_type {_shown(value)} is not one of {', '.join(EVENT_TYPES)}")
        return None
    return event_type


def _is_unicode(text: str) -> bool:
    # A lone surrogate ("\ud800" in JSON) is a str in Python but cannot be written as UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_timestamp(value: Any, problems: list[str]) -> dt.datetime | None:
    """Parse to naive UTC; a value without an offset is taken as UTC (landing contract)."""
    parsed = value if isinstance(value, dt.datetime) else None
    if isinstance(value, str) and value.strip() and len(value) <= MAX_TIMESTAMP_CHARS:
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            parsed = None
    if parsed is None:
        problems.append(f"occurred_at {_shown(value)} is not a timestamp")
        return None
    try:
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:
        parsed = dt.datetime.min
    if not EARLIEST_OCCURRED_AT <= parsed < LATEST_OCCURRED_AT:
        problems.append(f"occurred_at {_shown(value)} is not between {EARLIEST_OCCURRED_AT.year} "
                        f"and {LATEST_OCCURRED_AT.year}")
        return None
    return parsed


def _revenue(value: Any, problems: list[str]) -> decimal.Decimal | None:
    """An amount in the currency unit rounded half up to cents, fitting decimal(18,2)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, decimal.Decimal):
        amount = value if len(value.as_tuple().digits) <= MAX_AMOUNT_CHARS else None
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        amount = decimal.Decimal(str(value)) if abs(value) < 10**MAX_AMOUNT_CHARS else None
    elif isinstance(value, str) and len(value) <= MAX_AMOUNT_CHARS and _AMOUNT.fullmatch(value.strip()):
        amount = decimal.Decimal(value.strip())
    else:
        amount = None
    if amount is None:
        problems.append(f"revenue_amount {_shown(value)} is not a number")
        return None
    # adjusted() first: quantizing 1e999999 would raise before the range check could.
    if not amount.is_finite() or amount.adjusted() >= 16:
        problems.append(f"revenue_amount {_shown(value)} is not a decimal(18,2) amount")
        return None
    rounded = amount.quantize(CENT, rounding=decimal.ROUND_HALF_UP, context=decimal.Context(prec=40))
    if abs(rounded) >= MAX_REVENUE:
        problems.append(f"revenue_amount {_shown(value)} rounds to {rounded}, beyond decimal(18,2)")
        return None
    return rounded


def reject_record(row: Any, reason: str, *, columns: tuple[str, ...] = REJECT_COLUMNS,
                  **context: Any) -> dict[str, Any]:
    """A row that cannot be landed as fit to keep in a rejects file: the context first (where
    it came from), then `columns` of the row, the row's other keys as one JSON text
    (other_fields), and the reason last; keys and values scrubbed of phones and e-mails and
    cut short, so a hostile row can neither leak personal data nor grow the file."""
    record = {key: value if isinstance(value, (int, dt.datetime)) else scrub_value(value)
              for key, value in context.items()}
    if not isinstance(row, dict):
        record["raw_value"] = scrub_value(row, MAX_REJECT_OTHER_CHARS)
    else:
        for column in columns:
            record[column] = scrub_value(row.get(column), MAX_REJECT_VALUE_CHARS)
        others = {key: value for key, value in row.items() if key not in columns}
        record["other_fields"] = scrub_value(others, MAX_REJECT_OTHER_CHARS) if others else None
    record["rejection_reason"] = scrub_value(reason, MAX_REJECT_OTHER_CHARS)
    return record


def _content_hash(events: list[dict]) -> str:
    lines = sorted(json.dumps(event, sort_keys=True, default=str) for event in events)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def landed_event_ids(settings: Settings) -> set[str]:
    """The feedback_event_id of every event in the landing folder (Parquet or CSV files)."""
    folder = settings.raw_dir / TABLE
    ids: set[str] = set()
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else []:
        ids.update(pq.read_table(path, columns=["feedback_event_id"]).column(0).to_pylist())
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        with path.open(encoding="utf-8", newline="") as handle:
            ids.update(row.get("feedback_event_id") for row in csv.DictReader(handle))
    return ids


def write_landing_file(settings: Settings, events: list[dict]) -> Path:
    """Write validated events (validate_row's output) as one landing file, atomically."""
    folder = settings.raw_dir / TABLE
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"feedback-{_content_hash(events)[:16]}.{settings.raw_format}"
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if settings.raw_format == "parquet":
            pq.write_table(pa.Table.from_pylist(events, schema=ARROW_SCHEMA), temporary)
        else:
            with temporary.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=COLUMNS)
                writer.writeheader()
                writer.writerows({key: _csv_value(value) for key, value in event.items()} for event in events)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


# What a row that does not fit the landing types raises while being written (never disk errors).
_DATA_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError, decimal.InvalidOperation)


def write_landing_rows(settings: Settings, events: list[dict]) -> tuple[Path | None, list[tuple[dict, str]]]:
    """Write events as one landing file; a row that does not fit the landing types (which
    validate_row should have refused) is returned with the reason instead of failing the others.
    Disk errors are raised: nothing was written, and the caller keeps every row."""
    if not events:
        return None, []
    try:
        return write_landing_file(settings, events), []
    except _DATA_ERRORS:
        pass
    good, bad = [], []
    for event in events:
        problem = _landing_problem(event, settings.raw_format)
        (bad if problem else good).append((event, problem))
    return (write_landing_file(settings, [event for event, _ in good]) if good else None), [
        (event, f"does not fit the landing types: {problem}") for event, problem in bad]


def _landing_problem(event: dict, raw_format: str) -> str | None:
    try:
        if raw_format == "parquet":
            pa.Table.from_pylist([event], schema=ARROW_SCHEMA)
        else:
            "".join(_csv_value(value) for value in event.values()).encode("utf-8")
    except _DATA_ERRORS as error:
        return f"{type(error).__name__}: {scrub_value(str(error), 200)}"
    return None


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def rejects_folder(settings: Settings) -> Path:
    return settings.raw_dir.resolve().parent / "rejects" / TABLE


def write_rejects(settings: Settings, name: str, rejected: list[dict]) -> Path:
    """Write rows that cannot be landed (reject_record's output), each with its
    rejection_reason (last column), atomically: a failed write leaves no partial file."""
    folder = rejects_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.csv"
    columns = list(dict.fromkeys(key for row in rejected for key in row))
    columns.append(columns.pop(columns.index("rejection_reason")))
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # backslashreplace: a lone surrogate that got this far is written escaped, never fatal.
        with temporary.open("w", encoding="utf-8", errors="backslashreplace", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows({key: _csv_value(value) for key, value in row.items()} for row in rejected)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
