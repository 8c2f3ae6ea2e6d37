"""Time-aware One ID on hand-made traps landed beside a small demo brand (issue 27): a recycled
phone number (二次放号) keeps its two holders apart, in one system and across the CRM and the mini
program, with the evidence for data stewards and `activate explain`; the old holder's phone no
longer reaches the new holder. A member registered twice, a member who changed phone, a member back
after three silent years and a birth date missing on one side stay one person; two members of one
CRM on one phone who disagree, and a family tablet, stay two: whether the tablet's device id is on
the app accounts, in the app's login links, or both.

Two builds: in the first, the new holder of one recycled number shows nothing that tells the two
holders apart and they are one person; in the second, her CRM record has her name and birth date,
and the merge the first build made is undone by the existing split rule (the id stays on the larger
part) with the reason in identity_one_id_history."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from activation.cli import main
from activation.demo.catalog import MINI_PROGRAM_APP_ID
from activation.demo_data import generate
from tests.conftest import PROJECT_DIR

pytestmark = pytest.mark.e2e

# Phones with a prefix the demo never gives a customer.
RECYCLED, ACROSS, TWICE, OLD_PHONE, NEW_PHONE = "16600000001", "16600000002", "16600000004", "16600000005", "16600000006"
MOTHER, DAUGHTER, SILENT, NO_BIRTH, SAME_TIME, UPGRADE = (
    "16600000007", "16600000008", "16600000009", "16600000010", "16600000011", "16600000012")
FATHER, SON = "16600000013", "16600000014"
MEMBER_DEFAULTS = {"member_card_no": None, "email": None, "wechat_unionid": None, "province": "上海",
                   "city": "上海", "member_level": "normal", "is_paid_member": False, "points_balance": 0,
                   "registration_channel": "pos", "registration_store_id": None}


def _day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _member(member_id, phone, name, gender, birth, registered, updated, **extra) -> dict:
    return {**MEMBER_DEFAULTS, "member_id": member_id, "phone": phone, "full_name": name, "gender": gender,
            "birth_date": dt.date.fromisoformat(birth) if birth else None,
            "registered_at": _day(registered), "updated_at": _day(updated), **extra}


def _members(upgrade_evidence: bool) -> list[dict]:
    return [
        # A recycled number in one system: a member of 2016-2019, another from 2025.
        _member("T_OLD", RECYCLED, "王芳", "F", "1980-03-02", "2016-03-01", "2019-05-01"),
        _member("T_NEW", RECYCLED, "李娜", "F", "1995-07-01", "2025-01-10", "2026-06-01"),
        # The old holder of a number a mini program user took over (linked below).
        _member("T_XOLD", ACROSS, "陈杰", "M", "1970-01-01", "2015-01-01", "2018-07-01"),
        # Registered twice: the same birth date, the name once with a space.
        _member("T_TWICE1", TWICE, "刘晓丽", "F", "1990-09-09", "2024-01-01", "2026-01-01"),
        _member("T_TWICE2", TWICE, "刘 晓丽", "F", "1990-09-09", "2025-03-01", "2026-05-01"),
        # A phone change: she re-registered in 2022 with her new number and the same e-mail.
        _member("T_CHANGE1", OLD_PHONE, "赵敏", "F", "1992-02-02", "2016-01-01", "2019-12-01",
                email="zhaomin@example.com"),
        _member("T_CHANGE2", NEW_PHONE, "赵敏", "F", "1992-02-02", "2022-06-01", "2026-06-01",
                email="zhaomin@example.com"),
        # Silent from 2020 to 2023, back with the same number and birth date.
        _member("T_SILENT1", SILENT, "张伟", "M", "1985-01-01", "2017-01-01", "2020-01-01"),
        _member("T_SILENT2", SILENT, "张伟", "M", "1985-01-01", "2023-03-01", "2026-01-01"),
        # The birth date missing on one side, nothing else different.
        _member("T_NOBIRTH1", NO_BIRTH, "刘洋", "F", None, "2017-01-01", "2019-06-01"),
        _member("T_NOBIRTH2", NO_BIRTH, "刘洋", "F", "1990-09-09", "2025-05-01", "2026-02-01"),
        # Two members on one phone at the same time who disagree: two people.
        _member("T_SAME1", SAME_TIME, "周杰", "M", "1977-07-07", "2024-02-01", "2026-03-01"),
        _member("T_SAME2", SAME_TIME, "孙丽", "F", "1988-08-08", "2024-05-01", "2026-05-01"),
        # Recycled, but in the first build the new holder's record shows nothing to compare.
        _member("T_UOLD", UPGRADE, "吴刚", "M", "1975-05-05", "2016-06-01", "2019-01-01"),
        _member("T_UNEW", UPGRADE, "郑爽" if upgrade_evidence else None, "F" if upgrade_evidence else "U",
                "1998-08-08" if upgrade_evidence else None, "2025-02-01",
                "2026-07-01" if upgrade_evidence else "2026-03-01"),
    ]


MINIPROGRAM_USERS = [
    {"app_id": MINI_PROGRAM_APP_ID, "openid": "oT_ACROSS_NEW", "unionid": None, "phone": None,
     "nickname": "小鱼", "gender": "F", "city": "上海", "registered_at": _day("2025-06-01"),
     "updated_at": _day("2026-03-01")},
]
APP_USERS = [
    # The new holder of the upgrade case uses the app too: her part is the larger one.
    {"app_user_id": "T_UAPP", "device_id": None, "phone": UPGRADE, "email": None, "wechat_unionid": None,
     "registered_at": _day("2025-02-02"), "updated_at": _day("2026-02-01")},
    # A family tablet: mother and daughter logged in on it at the same time, each with her phone.
    {"app_user_id": "T_MOTHER", "device_id": "tablet-t-0001", "phone": MOTHER, "email": None,
     "wechat_unionid": None, "registered_at": _day("2024-01-01"), "updated_at": _day("2026-01-01")},
    {"app_user_id": "T_DAUGHTER", "device_id": "tablet-t-0001", "phone": DAUGHTER, "email": None,
     "wechat_unionid": None, "registered_at": _day("2025-05-01"), "updated_at": _day("2026-09-01")},
    # Another family's tablet, known only from the app's login links.
    {"app_user_id": "T_FATHER", "device_id": None, "phone": FATHER, "email": None,
     "wechat_unionid": None, "registered_at": _day("2024-03-01"), "updated_at": _day("2026-02-01")},
    {"app_user_id": "T_SON", "device_id": None, "phone": SON, "email": None,
     "wechat_unionid": None, "registered_at": _day("2025-03-01"), "updated_at": _day("2026-08-01")},
]


def _login(app_user_id: str, device_id: str) -> dict:
    return {"link_id": f"T_LOGIN_{app_user_id}", "source_system": "app", "left_id_type": "device_id",
            "left_id_value": device_id, "left_id_namespace": None, "right_id_type": "app_user_id",
            "right_id_value": app_user_id, "right_id_namespace": None, "observed_at": _day("2026-01-15")}


LINKS = [
    # The mini program user authorised the number the CRM member had until 2018.
    {"link_id": "T_LINK1", "source_system": "miniprogram", "left_id_type": "wechat_openid",
     "left_id_value": "oT_ACROSS_NEW", "left_id_namespace": MINI_PROGRAM_APP_ID, "right_id_type": "phone",
     "right_id_value": ACROSS, "right_id_namespace": None, "observed_at": _day("2025-07-01")},
    _login("T_MOTHER", "tablet-t-0001"),
    _login("T_DAUGHTER", "tablet-t-0001"),
    _login("T_FATHER", "tablet-t-0002"),
    _login("T_SON", "tablet-t-0002"),
]


def _land(raw_dir: Path, table: str, rows: list[dict]) -> None:
    schema = pq.read_schema(next((raw_dir / table).glob("*.parquet")))
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), raw_dir / table / "traps.parquet")


def _dbt_build(raw_dir: Path, workdir: Path) -> None:
    dbt = Path(sys.executable).with_name("dbt")
    completed = subprocess.run(
        [str(dbt), "build", "--select", "+dim_members", "+identity_stewardship_queue",
         "+identity_one_id_history", "--indirect-selection", "cautious",
         "--profiles-dir", str(PROJECT_DIR), "--project-dir", str(PROJECT_DIR),
         "--target-path", str(workdir / "target"), "--log-path", str(workdir / "logs")],
        env={**os.environ, "ONEDATA_RAW_DIR": str(raw_dir), "ONEDATA_RAW_FORMAT": "parquet",
             "ONEDATA_DUCKDB_PATH": str(workdir / "onedata.duckdb")},
        capture_output=True, text=True, timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout[-5000:] + completed.stderr[-2000:]


def _one_ids(database: Path) -> dict[str, str]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return dict(connection.execute(
            "select source_system || ':' || source_record_id, one_id from marts.dim_source_records").fetchall())


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    workdir = tmp_path_factory.mktemp("time_aware")
    raw_dir = workdir / "raw"
    generate(raw_dir=raw_dir, truth_dir=workdir / "truth", people=60, seed=5)
    _land(raw_dir, "miniprogram_users", MINIPROGRAM_USERS)
    _land(raw_dir, "app_users", APP_USERS)
    _land(raw_dir, "identity_links", LINKS)
    _land(raw_dir, "crm_members", _members(upgrade_evidence=False))
    _dbt_build(raw_dir, workdir)
    before = _one_ids(workdir / "onedata.duckdb")
    _land(raw_dir, "crm_members", _members(upgrade_evidence=True))
    _dbt_build(raw_dir, workdir)
    return {"database": workdir / "onedata.duckdb", "before": before, "after": _one_ids(workdir / "onedata.duckdb")}


def _rows(database: Path, sql: str, *parameters) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql, list(parameters)).fetchall()


def _queue(database: Path, record: str) -> list[tuple]:
    system, record_id = record.split(":")
    return _rows(database, """
        select review_kind, review_reason, review_detail from marts.identity_stewardship_queue
        where source_system = ? and source_record_id = ? order by 1, 2""", system, record_id)


def _explain(database: Path, *args: str):
    result = CliRunner().invoke(main, ["--duckdb-path", str(database), "explain", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_recycled_number_in_one_system_keeps_its_two_holders_apart(built):
    ids = built["after"]
    assert ids["crm:T_OLD"] != ids["crm:T_NEW"]
    [(kind, reason, detail)] = _queue(built["database"], "crm:T_OLD")
    assert (kind, reason) == ("reassigned_identifier", "reassigned")
    assert detail == ("last seen with this holder on 2019-05-01, with the next from 2025-01-10 (2081 days later,"
                      " more than 120), on crm:T_NEW; birth_date, full_name differ")
    assert _queue(built["database"], "crm:T_NEW") == []


def test_the_old_holders_phone_no_longer_reaches_anyone_but_the_new_holder(built):
    ids = built["after"]
    phones = dict(_rows(built["database"], "select one_id, phone from marts.dim_members where one_id in (?, ?)",
                        ids["crm:T_OLD"], ids["crm:T_NEW"]))
    assert phones == {ids["crm:T_OLD"]: None, ids["crm:T_NEW"]: RECYCLED}


def test_a_recycled_number_across_the_crm_and_the_mini_program_keeps_them_apart(built):
    ids = built["after"]
    assert ids["crm:T_XOLD"] != ids["miniprogram:oT_ACROSS_NEW"]
    [(kind, _, detail)] = _queue(built["database"], "crm:T_XOLD")
    assert kind == "reassigned_identifier"
    assert detail.endswith("on link T_LINK1; gender differ")


def test_explain_says_which_reassignment_keeps_two_records_apart(built):
    output = _explain(built["database"], "crm:T_XOLD", "miniprogram:oT_ACROSS_NEW")
    assert "are different persons" in output
    assert "refused as reassigned: last seen with this holder on 2018-07-01" in output
    assert "phone 166****0002" in output and ACROSS not in output
    lines = [line.split(None, 1) for line in output.splitlines() if line.startswith("  ") and not
             line.startswith("      ")]
    assert [kind for kind, _ in lines[2:]] == ["record", "identifier", "identifier", "record"]


def test_explain_says_which_limit_keeps_a_family_tablet_apart(built):
    output = _explain(built["database"], "app:T_MOTHER", "app:T_DAUGHTER")
    assert "are different persons" in output
    assert "refused as over_limit: joins 2 phone values, more than the limit of 1 per person" in output


def test_a_tablet_known_only_from_login_links_keeps_its_family_apart(built):
    ids = built["after"]
    assert ids["app:T_FATHER"] != ids["app:T_SON"]
    dropped = _rows(built["database"], """
        select link_id, drop_rule from intermediate.int_identity_links_dropped
        where identifier_node_id = 'i|device_id|tablet-t-0002'""")
    assert len(dropped) == 1 and dropped[0][1] == "over_limit"
    assert dropped[0][0] in ("T_LOGIN_T_FATHER", "T_LOGIN_T_SON")
    output = _explain(built["database"], "app:T_FATHER", "app:T_SON")
    assert "are different persons" in output
    assert "refused as over_limit: joins 2 phone values" in output


def test_two_members_of_one_crm_on_one_phone_who_disagree_are_two_people(built):
    ids = built["after"]
    assert ids["crm:T_SAME1"] != ids["crm:T_SAME2"]
    [(kind, reason, detail)] = _queue(built["database"], "crm:T_SAME1")
    assert (kind, reason) == ("dropped_link", "conflicting_attributes")
    assert detail.startswith("birth_date, gender, full_name differ from crm:T_SAME2")
    output = _explain(built["database"], "crm:T_SAME1", "crm:T_SAME2")
    assert "refused as conflicting_attributes: birth_date, gender, full_name differ" in output


@pytest.mark.parametrize(("first", "second"), [
    ("crm:T_TWICE1", "crm:T_TWICE2"),      # registered twice
    ("crm:T_CHANGE1", "crm:T_CHANGE2"),    # a real phone change
    ("crm:T_SILENT1", "crm:T_SILENT2"),    # silent three years, back with the same birth date
    ("crm:T_NOBIRTH1", "crm:T_NOBIRTH2"),  # a birth date missing on one side
], ids=["registered_twice", "changed_phone", "silent_three_years", "birth_date_missing"])
def test_one_person_stays_one_person(built, first, second):
    ids = built["after"]
    assert ids[first] == ids[second]
    assert _queue(built["database"], first) == [] and _queue(built["database"], second) == []


def test_a_merge_an_earlier_build_made_is_split_with_the_reason(built):
    before, after = built["before"], built["after"]
    merged = before["crm:T_UOLD"]
    assert before["crm:T_UNEW"] == before["app:T_UAPP"] == merged
    # The new holder's part (two records) keeps the id; the old holder gets a fresh one.
    assert after["crm:T_UNEW"] == after["app:T_UAPP"] == merged
    assert after["crm:T_UOLD"] != merged and after["crm:T_UOLD"] not in before.values()
    [event] = _rows(built["database"], """
        select event_type, one_id_after, records_moved, cause_edge_change, cause_source_record_key,
            cause_id_type, cause_refusal, cause_reason
        from marts.identity_one_id_history where one_id_before = ?""", merged)
    assert event[:7] == ("split", after["crm:T_UOLD"], 1, "removed", "crm|T_UOLD", "phone", "reassigned")
    assert event[7].startswith("last seen with this holder on 2019-01-01, with the next from 2025-02-01")
    assert event[7].endswith("birth_date, gender, full_name differ")
    history = _explain(built["database"], after["crm:T_UOLD"])
    assert "(last seen with this holder on 2019-01-01" in history and UPGRADE not in history


def test_nobody_else_changed_between_the_builds(built):
    moved = {key for key in built["before"] if built["before"][key] != built["after"].get(key)}
    assert moved == {"crm:T_UOLD"}
