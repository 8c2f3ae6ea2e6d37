"""Dirty landing files: every bad row is kept aside with its reason, and nothing else moves.

A small demo brand is landed clean and then with hand-made bad files beside its own, one bad row
per class of docs/landing-contract.md, "What happens to a bad row". Every bad row is a new row (a
key the brand does not have) or an exact copy of one, so leaving it out must leave every table
downstream exactly as the clean build has it; the two references to unknown customers are the only
rows that stay (as anonymous), and the only difference allowed.
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import activation.demo_data as demo_data
from activation.demo_data import generate
from tests.conftest import PROJECT_DIR
from tests.test_demo_data import contract_tables

pytestmark = pytest.mark.e2e

PEOPLE = 1500
SEED = 5
# What a build selects to read, check and quarantine the landing files: staging and quality.
QUALITY = ("--select", "+landing_quality", "path:models/staging", "--indirect-selection", "cautious")


# --- the declarations -----------------------------------------------------------------------------

def declared_landing_tables() -> dict[str, dict]:
    """{table: its sources-file entry} for every table with meta.landing."""
    tables = {}
    for path in PROJECT_DIR.glob("models/staging/*/_*__sources.yml"):
        for source in yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]:
            for table in source["tables"]:
                if "landing" in (table.get("meta") or {}):
                    tables[table["name"]] = {**table, "source": source["name"]}
    return tables


def test_sources_declare_the_landing_contract_column_for_column():
    contract = contract_tables()
    declared = declared_landing_tables()
    assert set(declared) == set(contract) == set(demo_data.LANDING_TABLES)
    for name, table in declared.items():
        columns = [(column["name"], column["data_type"].replace(" ", "")) for column in table["columns"]]
        assert columns == contract[name], name
        assert table["meta"]["landing"]["key"], f"{name} declares no key"


def test_every_landing_table_has_a_base_model_listed_for_the_quarantine():
    listed = re.findall(r"'(\w+)': '(base_\w+)'", (PROJECT_DIR / "macros/landing/landing_base_models.sql").read_text())
    declared = declared_landing_tables()
    assert {table for table, _ in listed} == set(declared)
    for table, model in listed:
        source = declared[table]["source"]
        sql = (PROJECT_DIR / f"models/staging/{source}/base/{model}.sql").read_text()
        assert f"source('{source}', '{table}')" in sql


# --- helpers ------------------------------------------------------------------------------------

def dbt(env: dict[str, str], workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), *args, "--profiles-dir", str(PROJECT_DIR),
         "--project-dir", str(PROJECT_DIR), "--target-path", str(workdir / "target"),
         "--log-path", str(workdir / "logs"), "--no-use-colors"],
        # A Spark session keeps its warehouse and metastore in the working directory.
        env=env, cwd=workdir, capture_output=True, text=True, timeout=1800,
    )
    if check:
        assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-2000:]
    return completed


def environment(raw_dir: Path, database: Path, raw_format: str) -> dict[str, str]:
    return {**os.environ, "ONEDATA_RAW_DIR": str(raw_dir), "ONEDATA_DUCKDB_PATH": str(database),
            "ONEDATA_RAW_FORMAT": raw_format}


def rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def table_fingerprints(database: Path, schemas: tuple[str, ...], where: dict[str, str] | None = None) -> dict:
    """{schema.table: (rows, order-free hash of every row)} for every table and view of those schemas;
    `where` filters named tables first."""
    where = where or {}
    fingerprints = {}
    with duckdb.connect(str(database), read_only=True) as connection:
        in_schemas = f"schema_name in ({', '.join(repr(schema) for schema in schemas)})"
        tables = connection.execute(
            f"select schema_name, table_name from duckdb_tables() where {in_schemas} "
            f"union all select schema_name, view_name from duckdb_views() where {in_schemas}"
        ).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            columns = [column for (column,) in connection.execute(
                "select column_name from duckdb_columns() where schema_name = ? and table_name = ?", [schema, table]
            ).fetchall()]
            row_text = " || '|' || ".join(f"coalesce(cast(\"{column}\" as varchar), '~')" for column in columns)
            fingerprints[name] = connection.execute(
                f"select count(*), sum(hash({row_text})) from {name} where {where.get(name, 'true')}"
            ).fetchone()
    return fingerprints


def copy_landing(source: Path, target: Path) -> None:
    for folder in source.iterdir():
        (target / folder.name).mkdir(parents=True)
        for file in folder.iterdir():
            (target / folder.name / file.name).write_bytes(file.read_bytes())


def csv_rows(raw_dir: Path, table: str) -> list[dict]:
    with next((raw_dir / table).glob("*.csv")).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def header(raw_dir: Path, table: str) -> list[str]:
    return list(csv_rows(raw_dir, table)[0])


def csv_line(values: list) -> str:
    return ",".join("" if value is None else f'"{value}"' for value in values)


# --- CSV: unreadable rows, values that do not cast, and the checks -------------------------------

# (table, key as row_key shows it, reason, is the row kept) for every bad row landed below.
CSV_EXPECTED = [
    ("orders", None, "wrong_field_count", False),          # too few fields
    ("orders", None, "wrong_field_count", False),          # too many fields
    ("orders", None, "bad_quoting", False),
    ("orders", None, "invalid_utf8", False),               # GBK bytes
    ("orders", "q-timestamp", "invalid_timestamp", False),
    ("orders", "q-number", "invalid_number", False),
    ("orders", "q-negative", "negative_amount", False),
    ("orders", "q-overpaid", "paid_above_gross", False),
    ("orders", "q-channel", "unknown_channel", False),
    ("orders", "q-status", "unknown_status", False),
    ("orders", "q-2030", "in_the_future", False),
    ("orders", "q-1970", "implausibly_old", False),
    ("orders", "q-nobody", "unknown_customer_record", True),
    ("order_lines", "q-lost|1", "orphan_order_line", False),
    ("order_lines", "q-quantity|1", "invalid_number", False),
    ("order_lines", "q-zero|1", "non_positive_quantity", False),
    ("crm_members", "q-birth", "invalid_date", False),
    ("crm_members", "q-boolean", "invalid_boolean", False),
    ("behavior_events", "q-event", "unknown_event_type", False),
    ("behavior_events", "q-stranger", "unknown_customer_record", True),
    ("marketing_consent", "q-consent", "unknown_consent_status", False),
    ("identity_links", "q-link", "unknown_id_type", False),
    ("products", None, "header_mismatch", False),           # the header row of the reordered file
    ("products", None, "header_mismatch", False),           # its one product
]


def land_bad_csv_rows(clean: Path, dirty: Path) -> dict:
    """One bad row per class beside the brand's own files; returns the keys of the copies."""
    order = csv_rows(clean, "orders")[0]
    member = csv_rows(clean, "crm_members")[0]
    event = csv_rows(clean, "behavior_events")[0]
    consent = csv_rows(clean, "marketing_consent")[0]
    link = csv_rows(clean, "identity_links")[0]
    line = csv_rows(clean, "order_lines")[0]
    product = csv_rows(clean, "products")[0]

    def order_with(**values) -> list:
        return list({**order, **values}.values())

    with (dirty / "orders" / "part-late.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(header(clean, "orders")) + "\n")
        handle.write(csv_line(list(order.values())[:4]) + "\n")
        handle.write(csv_line(list(order.values()) + ["extra"]) + "\n")
        # A character after a closing quote: the line alone is unreadable, the next one is not.
        handle.write(csv_line(order_with(order_id="q-quote")).replace('"q-quote"', '"q-quote"x') + "\n")
        for values in (
            order_with(order_id="q-timestamp", ordered_at="2026-02-30 10:00:00"),
            order_with(order_id="q-number", gross_amount="12,50"),
            order_with(order_id="q-negative", paid_amount="-1.00"),
            order_with(order_id="q-overpaid", gross_amount="10.00", discount_amount="0.00", paid_amount="11.00"),
            order_with(order_id="q-channel", channel="wechatshop"),
            order_with(order_id="q-status", order_status="lost"),
            order_with(order_id="q-2030", ordered_at="2030-01-01 10:00:00", paid_at="2030-01-01 10:05:00"),
            order_with(order_id="q-1970", ordered_at="1970-01-01 00:00:00", paid_at="1970-01-01 00:00:00"),
            order_with(order_id="q-nobody", customer_source_record_id="NOBODY"),
            list(order.values()),  # an exact copy of a row the brand already landed
        ):
            handle.write(csv_line(values) + "\n")
    with (dirty / "orders" / "part-late.csv").open("ab") as handle:
        handle.write(csv_line(order_with(order_id="q-gbk")).replace('"CNY"', '"').encode()
                     + "姓名".encode("gbk") + b'"\n')

    with (dirty / "order_lines" / "part-late.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(header(clean, "order_lines")) + "\n")
        for values in (
            {**line, "order_id": "q-lost", "line_number": "1"},
            {**line, "order_id": "q-quantity", "line_number": "1", "quantity": "two"},
            {**line, "order_id": "q-zero", "line_number": "1", "quantity": "0"},
        ):
            handle.write(csv_line(list(values.values())) + "\n")

    with (dirty / "crm_members" / "part-late.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(header(clean, "crm_members")) + "\n")
        handle.write(csv_line(list({**member, "member_id": "q-birth", "birth_date": "1990-02-30"}.values())) + "\n")
        handle.write(csv_line(list({**member, "member_id": "q-boolean", "is_paid_member": "maybe"}.values())) + "\n")
        # The same member again, changed earlier than the row the brand has: the brand's row wins.
        handle.write(csv_line(list({**member, "full_name": "stale", "updated_at": "2000-01-01 00:00:00"}.values())) + "\n")

    for table, rows_ in (
        ("behavior_events", [{**event, "event_id": "q-event", "event_type": "teleport"},
                             {**event, "event_id": "q-stranger", "source_record_id": "NOBODY"}]),
        ("marketing_consent", [{**consent, "consent_event_id": "q-consent", "consent_status": "maybe"}]),
        ("identity_links", [{**link, "link_id": "q-link", "left_id_type": "passport"}]),
    ):
        with (dirty / table / "part-late.csv").open("w", encoding="utf-8", newline="") as handle:
            handle.write(",".join(header(clean, table)) + "\n")
            for values in rows_:
                handle.write(csv_line(list(values.values())) + "\n")

    # A file whose header lists the columns in another order: read by position, it would put
    # names into ids; it is quarantined whole instead.
    columns = header(clean, "products")
    columns[0], columns[1] = columns[1], columns[0]
    with (dirty / "products" / "part-late.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(columns) + "\n")
        handle.write(csv_line([product[column] for column in columns]).replace(product["product_id"], "q-product") + "\n")
    return {"order_id": order["order_id"], "member_id": member["member_id"]}


@pytest.fixture(scope="module")
def csv_landing(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("quarantine_csv")
    clean, dirty = workdir / "clean", workdir / "dirty"
    generate(raw_dir=clean, truth_dir=workdir / "truth", people=PEOPLE, seed=SEED, file_format="csv")
    copy_landing(clean, dirty)
    copies = land_bad_csv_rows(clean, dirty)
    builds = {}
    for name, raw_dir in (("clean", clean), ("dirty", dirty)):
        env = environment(raw_dir, workdir / f"{name}.duckdb", "csv")
        builds[name] = dbt(env, workdir / f"{name}-dbt", "build", *QUALITY)
    return {"workdir": workdir, "clean": clean, "dirty": dirty, "copies": copies, "builds": builds,
            "clean_db": workdir / "clean.duckdb", "dirty_db": workdir / "dirty.duckdb"}


def test_a_clean_landing_quarantines_nothing(csv_landing):
    assert rows(csv_landing["clean_db"], "select count(*) from quality.landing_quarantine") == [(0,)]
    assert "WARN=0" in csv_landing["builds"]["clean"].stdout


def test_every_bad_csv_row_is_quarantined_with_its_reason(csv_landing):
    found = rows(csv_landing["dirty_db"], """
        select landing_table, row_key, rejection_reason, is_row_kept
        from quality.landing_quarantine""")
    # The exact copy of an order and the stale copy of a member lose to the brand's own rows.
    duplicates = [
        ("orders", csv_landing["copies"]["order_id"], "duplicate_key", False),
        ("crm_members", csv_landing["copies"]["member_id"], "duplicate_key", False),
    ]
    assert sorted(found, key=str) == sorted(CSV_EXPECTED + duplicates, key=str)


def test_unreadable_lines_keep_their_file_line_and_raw_text_masked(csv_landing):
    unreadable = rows(csv_landing["dirty_db"], """
        select landing_file_name, landing_file_line, rejection_reason, rejected_value
        from quality.landing_quarantine
        where rejection_reason in ('wrong_field_count', 'bad_quoting', 'invalid_utf8')
        order by landing_file_line""")
    assert [(Path(file).name, line, reason) for file, line, reason, _ in unreadable] == [
        ("part-late.csv", 2, "wrong_field_count"),
        ("part-late.csv", 3, "wrong_field_count"),
        ("part-late.csv", 4, "bad_quoting"),
        ("part-late.csv", 15, "invalid_utf8"),
    ]
    assert all(value and "q-" in value or value.startswith('"') for *_, value in unreadable)


def test_the_good_rows_reach_staging_as_if_the_bad_ones_never_landed(csv_landing):
    kept_anyway = {
        "staging.stg_commerce__orders": "order_id <> 'q-nobody'",
        "staging.stg_behavior__events": "event_id <> 'q-stranger'",
        # Staging reads one table, so it cannot see that a line has no order; fct_order_lines can.
        "staging.stg_commerce__order_lines": "order_id <> 'q-lost'",
    }
    clean = table_fingerprints(csv_landing["clean_db"], ("staging",))
    dirty = table_fingerprints(csv_landing["dirty_db"], ("staging",), where=kept_anyway)
    stg = {name for name in clean if ".stg_" in name}
    assert len(stg) == 20 + 2  # every landing table, and the two activation tables
    assert {name: dirty[name] for name in stg} == {name: clean[name] for name in stg}
    # The references to unknown customers stay, as anonymous.
    assert rows(csv_landing["dirty_db"],
                "select count(*) from staging.stg_commerce__orders where order_id = 'q-nobody'") == [(1,)]


def test_one_bad_row_warns_naming_the_table_the_reason_and_where_to_look(csv_landing):
    output = csv_landing["builds"]["dirty"].stdout
    assert "WARN=1 ERROR=0" in output
    assert re.search(
        r"WARN landing quality: orders: 1 of \d+ rows paid_above_gross \(left out of the build\), .*"
        r"See .*landing_quarantine.* where landing_table = 'orders' and rejection_reason = 'paid_above_gross'",
        output,
    )
    assert "orders: 1 of" in output and "unknown_customer_record (1 kept" in output


def test_no_phone_or_email_of_a_bad_row_is_left_whole_in_the_quarantine(csv_landing):
    values = " ".join(value for (value,) in rows(csv_landing["dirty_db"], """
        select coalesce(rejected_value, '') from quality.landing_quarantine"""))
    member = csv_rows(csv_landing["clean"], "crm_members")[0]
    landed_phones = re.findall(r"1[3-9]\d{9}", values)
    assert not landed_phones
    assert not re.search(r"[\w.+-]+@[\w-]+\.\w+", values.replace("***@", "")), values
    assert member["phone"] not in values


def test_a_row_quarantined_again_keeps_the_build_that_first_saw_it(csv_landing):
    first = dict(rows(csv_landing["dirty_db"],
                      "select quarantined_row_id, first_seen_build_id from quality.landing_quarantine"))
    env = environment(csv_landing["dirty"], csv_landing["dirty_db"], "csv")
    dbt(env, csv_landing["workdir"] / "again", "build", *QUALITY)
    again = dict(rows(csv_landing["dirty_db"],
                      "select quarantined_row_id, first_seen_build_id from quality.landing_quarantine"))
    assert again == first and len(first) == len(CSV_EXPECTED) + 2


def test_a_bad_share_above_the_error_line_fails_the_build(csv_landing, tmp_path):
    raw_dir = tmp_path / "raw"
    copy_landing(csv_landing["clean"], raw_dir)
    campaigns = csv_rows(csv_landing["clean"], "campaigns")
    with (raw_dir / "campaigns" / "part-late.csv").open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(campaigns[0]) + "\n")
        handle.write(csv_line(list({**campaigns[0], "campaign_id": "q-free", "cost_amount": "-1"}.values())) + "\n")
    env = environment(raw_dir, tmp_path / "onedata.duckdb", "csv")
    failed = dbt(env, tmp_path / "fail", "build", *QUALITY, check=False)
    share = 1 / (len(campaigns) + 1)
    assert failed.returncode == 1
    assert "assert_landing_rejects_below_error_share" in failed.stdout
    assert f"FAIL landing quality: campaigns: 1 of {len(campaigns) + 1} rows negative_amount" in failed.stdout
    # A brand that accepts more sets the share: the same landing then only warns.
    relaxed = dbt(env, tmp_path / "relaxed", "build", *QUALITY, "--vars",
                  "{onedata__landing_reject_thresholds: {default: {warn_above: 0, error_above: %f}}}" % (share + 0.01))
    assert "WARN landing quality: campaigns" in relaxed.stdout


@pytest.mark.spark
def test_spark_quarantines_the_same_rows_but_for_what_its_reader_cannot_tell(csv_landing, tmp_path):
    if shutil.which("java") is None or importlib.util.find_spec("dbt.adapters.spark") is None:
        pytest.skip("local Spark needs Java 17 and dbt-spark (pip install -e '.[spark]')")
    env = {**environment(csv_landing["dirty"], tmp_path / "not-used.duckdb", "csv"), "ONEDATA_TARGET": "spark"}
    built = dbt(env, tmp_path / "spark", "build", *QUALITY)
    assert "WARN=1 ERROR=0" in built.stdout
    with duckdb.connect() as connection:
        found = connection.execute(f"""
            select landing_table, row_key, rejection_reason, is_row_kept
            from read_parquet('{tmp_path}/spark/spark-warehouse/quality.db/landing_quarantine/*.parquet')
        """).fetchall()
    copies = csv_landing["copies"]
    expected = [row for row in CSV_EXPECTED if row[2] not in ("wrong_field_count", "bad_quoting", "invalid_utf8")]
    expected += [
        # Spark's reader keeps what it could parse of a line with too few or too many fields, and
        # does not say why it failed.
        ("orders", copies["order_id"], "unreadable_row", False),
        ("orders", copies["order_id"], "unreadable_row", False),
        # It reads bytes that are not UTF-8 as U+FFFD: the row is read, its value is not.
        ("orders", "q-gbk", "invalid_utf8", False),
        ("orders", copies["order_id"], "duplicate_key", False),
        ("crm_members", copies["member_id"], "duplicate_key", False),
    ]
    # A character after a closing quote ("q-quote"x) is not an error to Spark's reader: it keeps
    # the text as it stands (docs/landing-contract.md says so), so that row is not quarantined.
    assert sorted(found, key=str) == sorted(expected, key=str)


# --- Parquet: the same rules on typed files, and a full build that nothing moves ----------------

def land_bad_parquet_rows(clean: Path, dirty: Path) -> None:
    """Orders exported with every column as text (as a CSV turned into Parquet would be), beside
    the brand's typed files: the columns are read by name, and each value is checked as it is."""
    brand = pq.read_table(next((clean / "orders").glob("*.parquet"))).slice(0, 1).to_pylist()[0]
    as_text = {name: None if value is None else str(value) for name, value in brand.items()}
    bad = [
        {**as_text, "order_id": "q-number", "paid_amount": "abc"},
        {**as_text, "order_id": "q-timestamp", "ordered_at": "yesterday"},
        {**as_text, "order_id": "q-negative", "refund_amount": "-3"},
        {**as_text, "order_id": "q-2030", "ordered_at": "2030-01-01 10:00:00", "paid_at": "2030-01-01 10:05:00"},
        {**as_text, "order_id": " "},
        as_text,  # the brand's own row again, as text: the same values once typed
    ]
    pq.write_table(pa.Table.from_pylist(bad), dirty / "orders" / "part-late.parquet")


@pytest.fixture(scope="module")
def parquet_builds(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("quarantine_parquet")
    clean, dirty = workdir / "clean", workdir / "dirty"
    generate(raw_dir=clean, truth_dir=workdir / "truth", people=PEOPLE, seed=SEED)
    copy_landing(clean, dirty)
    land_bad_parquet_rows(clean, dirty)
    for name, raw_dir in (("clean", clean), ("dirty", dirty)):
        dbt(environment(raw_dir, workdir / f"{name}.duckdb", "parquet"), workdir / f"{name}-dbt", "build")
    return {"clean_db": workdir / "clean.duckdb", "dirty_db": workdir / "dirty.duckdb"}


def test_every_bad_parquet_row_is_quarantined_with_its_row_number(parquet_builds):
    found = rows(parquet_builds["dirty_db"], """
        select rejection_reason, rejected_column, landing_file_name, landing_row_number
        from quality.landing_quarantine""")
    assert sorted((reason, column, Path(file).name, row) for reason, column, file, row in found) == sorted([
        ("invalid_number", "paid_amount", "part-late.parquet", 1),
        ("invalid_timestamp", "ordered_at", "part-late.parquet", 2),
        ("negative_amount", "refund_amount", "part-late.parquet", 3),
        ("in_the_future", "ordered_at", "part-late.parquet", 4),
        ("missing_key", "order_id", "part-late.parquet", 5),
        # The brand's row landed again in a later file: the later file's copy is kept, and the
        # values being the same once typed, nothing downstream can tell.
        ("duplicate_key", "order_id", "part-0000.parquet", 1),
    ])


def test_an_order_dated_2030_moves_no_tag_and_no_audience(parquet_builds):
    # The brand's own as-of date: the latest paid order it landed, not 2030.
    assert rows(parquet_builds["dirty_db"], "select max(as_of_date) from tags.member_profiles") == \
        rows(parquet_builds["clean_db"], "select max(as_of_date) from tags.member_profiles")
    schemas = ("marts", "tags", "segments", "analysis", "review")
    clean = table_fingerprints(parquet_builds["clean_db"], schemas)
    dirty = table_fingerprints(parquet_builds["dirty_db"], schemas)
    assert {name for name in clean if clean[name] != dirty.get(name)} == set()
    assert rows(parquet_builds["dirty_db"], "select count(*) from marts.fct_orders where order_id like 'q-%'") == [(0,)]


# --- freshness ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("days_ago", "orders_status"), [(1, "PASS"), (10, "ERROR STALE")])
def test_source_freshness_tells_which_export_stopped_arriving(tmp_path, days_ago, orders_status):
    end_date = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days_ago)
    generate(raw_dir=tmp_path / "raw", truth_dir=tmp_path / "truth", people=200, seed=SEED, end_date=end_date)
    env = environment(tmp_path / "raw", tmp_path / "onedata.duckdb", "parquet")
    checked = dbt(env, tmp_path / "dbt", "source", "freshness", check=False)
    statuses = {source: status for status, source in re.findall(
        r"\d+ of \d+ (PASS|WARN|ERROR STALE) freshness of (\w+\.\w+)", checked.stdout)}
    assert statuses["commerce.orders"] == orders_status
    assert statuses["behavior.behavior_events"] == orders_status
    # Every landing table with a load time is checked; catalogues and order lines are not.
    assert set(statuses) == {
        f"{table['source']}.{name}" for name, table in declared_landing_tables().items()
        if table.get("loaded_at_field")
    }
    assert {"commerce.products", "commerce.order_lines", "marketing.suppression_list"}.isdisjoint(statuses)
    assert checked.returncode == (0 if orders_status == "PASS" else 1)
