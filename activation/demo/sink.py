"""Landing schemas (docs/landing-contract.md) and streaming writers, one file per table."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

S, TS, DATE, INT, BOOL = pa.string(), pa.timestamp("us"), pa.date32(), pa.int32(), pa.bool_()
MONEY = pa.decimal128(18, 2)


def _schema(*columns: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in columns])


LANDING_SCHEMAS: dict[str, pa.Schema] = {
    "crm_members": _schema(
        ("member_id", S), ("member_card_no", S), ("phone", S), ("email", S), ("wechat_unionid", S),
        ("full_name", S), ("gender", S), ("birth_date", DATE), ("province", S), ("city", S),
        ("member_level", S), ("is_paid_member", BOOL), ("points_balance", INT), ("registration_channel", S),
        ("registration_store_id", S), ("registered_at", TS), ("updated_at", TS)),
    "points_transactions": _schema(
        ("points_transaction_id", S), ("member_id", S), ("transaction_type", S), ("points", INT),
        ("order_id", S), ("occurred_at", TS)),
    "pos_customers": _schema(
        ("pos_customer_id", S), ("store_id", S), ("phone", S), ("member_card_no", S), ("full_name", S),
        ("first_seen_at", TS), ("updated_at", TS)),
    "marketplace_buyers": _schema(
        ("platform", S), ("buyer_id", S), ("buyer_nick", S), ("phone", S), ("receiver_name", S),
        ("province", S), ("city", S), ("first_order_at", TS), ("updated_at", TS)),
    "miniprogram_users": _schema(
        ("app_id", S), ("openid", S), ("unionid", S), ("phone", S), ("nickname", S), ("gender", S),
        ("city", S), ("registered_at", TS), ("updated_at", TS)),
    "app_users": _schema(
        ("app_user_id", S), ("device_id", S), ("phone", S), ("email", S), ("wechat_unionid", S),
        ("registered_at", TS), ("updated_at", TS)),
    "identity_links": _schema(
        ("link_id", S), ("source_system", S), ("left_id_type", S), ("left_id_value", S),
        ("left_id_namespace", S), ("right_id_type", S), ("right_id_value", S), ("right_id_namespace", S),
        ("observed_at", TS)),
    "orders": _schema(
        ("order_id", S), ("channel", S), ("store_id", S), ("customer_source_system", S),
        ("customer_source_record_id", S), ("order_status", S), ("ordered_at", TS), ("paid_at", TS),
        ("gross_amount", MONEY), ("discount_amount", MONEY), ("paid_amount", MONEY), ("refund_amount", MONEY),
        ("coupon_id", S), ("currency", S)),
    "order_lines": _schema(
        ("order_id", S), ("line_number", INT), ("product_id", S), ("quantity", INT), ("unit_price", MONEY),
        ("line_amount", MONEY)),
    "products": _schema(
        ("product_id", S), ("product_name", S), ("category_id", S), ("brand_name", S), ("list_price", MONEY),
        ("is_active", BOOL), ("launched_date", DATE)),
    "categories": _schema(
        ("category_id", S), ("category_name", S), ("parent_category_id", S), ("category_level", INT)),
    "stores": _schema(
        ("store_id", S), ("store_name", S), ("channel", S), ("province", S), ("city", S), ("store_phone", S),
        ("opened_date", DATE)),
    "behavior_events": _schema(
        ("event_id", S), ("source_system", S), ("source_record_id", S), ("channel", S), ("event_type", S),
        ("product_id", S), ("category_id", S), ("search_term", S), ("occurred_at", TS)),
    "coupons_issued": _schema(
        ("coupon_id", S), ("campaign_id", S), ("coupon_type", S), ("face_value", MONEY), ("min_spend", MONEY),
        ("source_system", S), ("source_record_id", S), ("channel", S), ("issued_at", TS), ("expires_at", TS)),
    "coupons_redeemed": _schema(("coupon_id", S), ("order_id", S), ("redeemed_at", TS)),
    "marketing_consent": _schema(
        ("consent_event_id", S), ("source_system", S), ("source_record_id", S), ("channel", S),
        ("consent_status", S), ("recorded_at", TS)),
    "campaigns": _schema(
        ("campaign_id", S), ("campaign_name", S), ("channel", S), ("audience_name", S), ("started_at", TS),
        ("ended_at", TS), ("cost_amount", MONEY), ("attribution_window_days", INT)),
    "feedback_events": _schema(
        ("feedback_event_id", S), ("campaign_id", S), ("destination_name", S), ("one_id", S), ("event_type", S),
        ("order_id", S), ("revenue_amount", MONEY), ("occurred_at", TS)),
    "suppression_list": _schema(
        ("suppression_id", S), ("identifier_type", S), ("identifier_value", S), ("reason", S), ("channel", S),
        ("suppressed_at", TS), ("lifted_at", TS)),
    "wecom_external_contacts": _schema(
        ("external_userid", S), ("unionid", S), ("follow_userid", S), ("added_at", TS), ("state", S)),
}

TRUTH_SCHEMAS: dict[str, pa.Schema] = {
    "person_records": _schema(("source_system", S), ("source_record_id", S), ("person_id", S)),
    "persons": _schema(
        ("person_id", S), ("phone", S), ("email", S), ("wechat_unionid", S), ("full_name", S), ("gender", S),
        ("birth_date", DATE), ("province", S), ("city", S), ("persona", S), ("expected_lifecycle", S),
        ("expected_warning", S), ("prospect_funnel", S), ("record_count", INT), ("channels", S),
        ("order_count", INT), ("is_openid_only", BOOL), ("is_cashier", BOOL), ("trap_store_phone", BOOL),
        ("trap_cashier_phone", BOOL), ("trap_test_phone", BOOL), ("trap_placeholder_email", BOOL),
        ("trap_name_twin", BOOL), ("trap_recycled_phone", BOOL), ("trap_family_device", BOOL), ("has_unlinkable_record", BOOL),
        ("has_zero_device_id", BOOL)),
}


class TableSink:
    """Appends chunks of one table to a single Parquet file (one row group per chunk) or CSV file."""

    def __init__(self, path: Path, schema: pa.Schema, file_format: str) -> None:
        self.schema = schema
        self.rows = 0
        self.file_format = file_format
        if file_format == "parquet":
            self._writer = pq.ParquetWriter(path, schema, compression="zstd")
        else:
            self._file = open(path, "wb")
            # Header without quotes: exactly the column names.
            self._file.write((",".join(schema.names) + "\n").encode("utf-8"))

    def write(self, columns: dict[str, pa.Array]) -> None:
        table = pa.Table.from_arrays([columns[name] for name in self.schema.names], schema=self.schema)
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        if self.file_format == "parquet":
            self._writer.write_table(table)
        else:
            pa_csv.write_csv(_csv_ready(table), self._file,
                             pa_csv.WriteOptions(include_header=False, quoting_style="needed"))

    def close(self) -> None:
        if self.file_format == "parquet":
            self._writer.close()
        else:
            self._file.close()


def _csv_ready(table: pa.Table) -> pa.Table:
    """Timestamps as 'YYYY-MM-DD HH:MM:SS' (the contract), everything else as Arrow writes it."""
    columns = []
    for field, column in zip(table.schema, table.columns):
        if pa.types.is_timestamp(field.type):
            column = pc.strftime(column.cast(pa.timestamp("s")), format="%Y-%m-%d %H:%M:%S")
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.schema.names)


def open_sinks(raw_dir: Path, truth_dir: Path, file_format: str) -> tuple[dict[str, TableSink], dict[str, TableSink]]:
    """Fresh folders for every landing table (old files removed so reruns are clean)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    sinks = {}
    for table, schema in LANDING_SCHEMAS.items():
        folder = raw_dir / table
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        sinks[table] = TableSink(folder / f"part-0000.{file_format}", schema, file_format)
    truth = {}
    for table, schema in TRUTH_SCHEMAS.items():
        path = truth_dir / f"{table}.parquet"
        path.unlink(missing_ok=True)
        truth[table] = TableSink(path, schema, "parquet")
    return sinks, truth
