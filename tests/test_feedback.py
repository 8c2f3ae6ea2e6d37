"""`activate feedback load`: good rows land in contract types, bad rows go aside, reloads overwrite."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from activation.errors import ActivationError
from activation.feedback import COLUMNS, load_feedback
from activation.settings import Settings

GOOD_ROWS = [
    {"feedback_event_id": "fb-1", "campaign_id": "c1", "destination_name": "crm_webhook",
     "one_id": "p00001", "event_type": "delivered", "order_id": "", "revenue_amount": "",
     "occurred_at": "2026-10-01 08:00:00"},
    {"feedback_event_id": "", "campaign_id": "c1", "destination_name": "crm_webhook",
     "one_id": "p00002", "event_type": "converted", "order_id": "o-9", "revenue_amount": "199.5",
     "occurred_at": "2026-10-01T16:30:00+08:00"},
]
BAD_ROWS = [
    {**GOOD_ROWS[0], "feedback_event_id": "fb-3", "event_type": "teleported"},
    {**GOOD_ROWS[0], "feedback_event_id": "fb-4", "occurred_at": "yesterday"},
    {**GOOD_ROWS[0], "feedback_event_id": "fb-5", "one_id": " "},
    {**GOOD_ROWS[0], "feedback_event_id": "fb-6", "campaign_id": ""},
    {**GOOD_ROWS[0], "feedback_event_id": "fb-7", "revenue_amount": "a lot"},
]


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def feedback_settings(tmp_path) -> Settings:
    return Settings(raw_dir=tmp_path / "data" / "raw", raw_format="parquet")


def landed(settings: Settings) -> list[tuple]:
    pattern = settings.raw_dir / "feedback_events" / f"*.{settings.raw_format}"
    reader = "read_parquet" if settings.raw_format == "parquet" else "read_csv"
    return duckdb.sql(f"select * from {reader}('{pattern}') order by one_id").fetchall()


def test_good_rows_land_in_contract_types_and_bad_rows_go_aside(feedback_settings, tmp_path):
    source = write_csv(tmp_path / "report.csv", GOOD_ROWS + BAD_ROWS)

    result = load_feedback(feedback_settings, source)

    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (7, 2, 5)
    assert result.landing_file.parent == feedback_settings.raw_dir / "feedback_events"
    table = pq.read_table(result.landing_file)
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("revenue_amount").type == pa.decimal128(18, 2)
    assert table.schema.field("occurred_at").type == pa.timestamp("us")
    first, second = table.to_pylist()
    assert first["feedback_event_id"] == "fb-1" and first["revenue_amount"] is None
    assert second["feedback_event_id"].startswith("fb_")
    assert second["revenue_amount"] == decimal.Decimal("199.50")
    assert second["occurred_at"] == dt.datetime(2026, 10, 1, 8, 30)  # +08:00 converted to UTC

    assert result.rejects_file.parent == tmp_path / "data" / "rejects" / "feedback_events"
    with result.rejects_file.open(newline="") as handle:
        rejects = list(csv.DictReader(handle))
    assert [row["feedback_event_id"] for row in rejects] == ["fb-3", "fb-4", "fb-5", "fb-6", "fb-7"]
    reasons = [row["rejection_reason"] for row in rejects]
    for reason, expected in zip(
        reasons,
        ["event_type 'teleported'", "occurred_at 'yesterday'", "one_id is empty",
         "campaign_id is empty", "revenue_amount 'a lot' is not a number"],
    ):
        assert expected in reason
    assert list(rejects[0])[-1] == "rejection_reason"


def test_loading_the_same_report_twice_does_not_double_count(feedback_settings, tmp_path):
    source = write_csv(tmp_path / "report.csv", GOOD_ROWS + BAD_ROWS)

    first = load_feedback(feedback_settings, source)
    second = load_feedback(feedback_settings, source)

    assert (first.rows_loaded, first.rows_already_landed) == (2, 0)
    assert (second.rows_loaded, second.rows_already_landed, second.landing_file) == (0, 2, None)
    assert first.rejects_file == second.rejects_file
    assert len(list((feedback_settings.raw_dir / "feedback_events").iterdir())) == 1
    assert len(landed(feedback_settings)) == 2


def test_jsonl_and_parquet_inputs_and_the_destination_option(feedback_settings, tmp_path):
    rows = [{key: value for key, value in row.items() if key != "destination_name"} for row in GOOD_ROWS]
    jsonl = tmp_path / "report.jsonl"
    jsonl.write_text("\n".join(json.dumps(row) for row in rows) + "\n{not json\n")
    parquet = tmp_path / "report.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)

    from_jsonl = load_feedback(feedback_settings, jsonl, destination_name="sms_vendor")
    from_parquet = load_feedback(feedback_settings, parquet, destination_name="sms_vendor")

    assert (from_jsonl.rows_loaded, from_jsonl.rows_rejected) == (2, 1)
    assert from_jsonl.rejection_reasons == {"not a JSON object": 1}
    # The same events from another format have landed already: nothing lands twice, and it says so.
    assert (from_parquet.rows_loaded, from_parquet.rows_already_landed) == (0, 2)
    assert from_parquet.landing_file is None
    assert {row[2] for row in landed(feedback_settings)} == {"sms_vendor"}


def test_csv_landing_follows_the_contract_text_format(tmp_path):
    settings = Settings(raw_dir=tmp_path / "raw", raw_format="csv")
    source = write_csv(tmp_path / "report.csv", GOOD_ROWS)

    result = load_feedback(settings, source)

    lines = result.landing_file.read_text().splitlines()
    assert result.landing_file.suffix == ".csv"
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1].endswith(",2026-10-01 08:00:00") and ",,," in lines[1]
    assert ",o-9,199.50,2026-10-01 08:30:00" in lines[2]
    assert result.rejects_file is None


def test_a_file_without_required_columns_is_refused(feedback_settings, tmp_path):
    source = write_csv(tmp_path / "report.csv", [{"one_id": "p1", "event_type": "clicked"}])

    with pytest.raises(ActivationError, match="campaign_id, occurred_at, destination_name"):
        load_feedback(feedback_settings, source)
    assert not feedback_settings.raw_dir.exists()


def test_the_command_prints_a_one_line_summary_or_json(tmp_path):
    from click.testing import CliRunner

    from activation.cli import main

    source = write_csv(tmp_path / "report.csv", GOOD_ROWS + BAD_ROWS[:1])
    arguments = ["--raw-dir", str(tmp_path / "raw"), "feedback", "load", str(source)]

    text = CliRunner().invoke(main, arguments)
    as_json = CliRunner().invoke(main, [*arguments, "--json"])

    assert text.exit_code == 0
    assert text.output.splitlines()[0] == "read 3  loaded 2  already landed 0  rejected 1"
    # The same file again: nothing new lands, and the summary says why.
    summary = json.loads(as_json.output)
    assert (summary["rows_loaded"], summary["rows_already_landed"], summary["rows_rejected"]) == (0, 2, 1)
    assert summary["landing_file"] is None
    assert list(summary["rejection_reasons"].values()) == [1]


# Validation against the landing types ------------------------------------------------------

def _valid(**changes):
    from activation.feedback import validate_row

    row = {"campaign_id": "c1", "one_id": "p00001", "event_type": "converted",
           "occurred_at": "2026-10-01T08:00:00Z", "destination_name": "crm_webhook", **changes}
    return validate_row(row, None)


@pytest.mark.parametrize(("value", "expected"), [
    ("199.5", decimal.Decimal("199.50")),
    ("0.005", decimal.Decimal("0.01")),                          # half up
    ("-0.005", decimal.Decimal("-0.01")),
    ("9999999999999999.994", decimal.Decimal("9999999999999999.99")),
    (decimal.Decimal("12.345"), decimal.Decimal("12.35")),      # a JSON number read as Decimal
    (12, decimal.Decimal("12.00")),
    ("1e-9999", decimal.Decimal("0.00")),
])
def test_amounts_that_fit_decimal_18_2_after_rounding(value, expected):
    event, reason = _valid(revenue_amount=value)
    assert reason is None and event["revenue_amount"] == expected


@pytest.mark.parametrize("value", ["9999999999999999.995", "1e16", "-1e16", "1e999999", "NaN", "Infinity",
                                   float("nan"), float("inf"), 1e300, True, "1_000", "١٢٣", "0x10", "1" * 41,
                                   decimal.Decimal("1e999999999"), {"amount": 1}])
def test_amounts_that_do_not_fit_are_refused(value):
    event, reason = _valid(revenue_amount=value)
    assert event is None and "revenue_amount" in reason


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-10-01T16:30:00+08:00", dt.datetime(2026, 10, 1, 8, 30)),
    ("1970-01-01T00:00:00", dt.datetime(1970, 1, 1)),
    (dt.datetime(2099, 12, 31, 23, 59), dt.datetime(2099, 12, 31, 23, 59)),
])
def test_timestamps_between_1970_and_2100(value, expected):
    event, reason = _valid(occurred_at=value)
    assert reason is None and event["occurred_at"] == expected


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+08:00", "0001-01-01 00:00:00", "1969-12-31T23:59:59",
                                   "2100-01-01T00:00:00", "9999-12-31T23:59:59-10:00", "yesterday",
                                   "2026-10-01T08:00:00Z" + " " * 40, 1727769600, None])
def test_timestamps_outside_the_range_or_not_timestamps_are_refused(value):
    event, reason = _valid(occurred_at=value)
    assert event is None and "occurred_at" in reason


@pytest.mark.parametrize(("column", "value", "problem"), [
    ("campaign_id", "c\ud800", "not valid Unicode"),
    ("one_id", "p\x00", "control characters"),
    ("order_id", "o\n1", "control characters"),
    ("one_id", "p" * 201, "longer than 200"),
    ("one_id", 13812345678, "phone number or an e-mail"),
    ("campaign_id", "call +86 138-1234-5678", "phone number or an e-mail"),
    ("order_id", "bob@example.com", "phone number or an e-mail"),
    ("one_id", ["p00001"], "is not text"),
    ("one_id", True, "is not text"),
    ("one_id", decimal.Decimal("1.5"), "whole number"),
    ("destination_name", "CRM Webhook", "not a destination name"),
    ("event_type", "x" * 1_000_000, "event_type"),
])
def test_ids_are_bounded_valid_unicode_and_never_personal_data(column, value, problem):
    event, reason = _valid(**{column: value})
    assert event is None and column in reason and problem in reason
    assert "13812345678" not in reason and "bob@" not in reason and len(reason) < 400


def test_whole_numbers_are_ids_too():
    event, reason = _valid(one_id=decimal.Decimal("123"), order_id=98765)
    assert reason is None and (event["one_id"], event["order_id"]) == ("123", "98765")


def test_rejected_rows_of_a_loaded_file_are_masked(feedback_settings, tmp_path):
    rows = [{**GOOD_ROWS[0], "feedback_event_id": "fb-9", "event_type": "nope", "phone": "+86 138 1234 5678",
             "13912345678": "a phone as a column name", "email": "carol@example.com"}]
    source = write_csv(tmp_path / "report.csv", rows)

    result = load_feedback(feedback_settings, source)

    text = result.rejects_file.read_text()
    assert result.rows_rejected == 1
    assert "1234 5678" not in text and "13912345678" not in text and "carol@" not in text
    assert "+86****5678" in text and "139****5678" in text
