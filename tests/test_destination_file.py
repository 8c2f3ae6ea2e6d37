"""The file destination's own behaviour: each format read back, crowd packs byte for byte,
batches as numbered part files, idempotent rewrites, failed writes and bad configuration."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from activation.destinations import RunInfo
from activation.errors import ActivationError, DestinationError
from tests.conformance import RUN
from tests.test_destinations import make_destination

RECORDS = [
    {"external_id": "p00001", "phone": "13800000001", "member_level": "gold", "display_name": "张1"},
    {"external_id": "p00002", "phone": "13800000002", "member_level": None, "display_name": "李2"},
]
# Computed by hand, not by the code under test: md5("13800138000").
TENCENT_MD5_OF_13800138000 = "7945bd83237335e5376ff44d62e4f0ae"


def file_destination(tmp_path: Path, run: RunInfo = RUN, name: str = "outbox_files", **entry):
    settings = {"type": "file", "channel": "sms", "path": str(tmp_path / "outbox"), **entry}
    destination = make_destination(tmp_path, name, settings)
    destination.check()
    destination.start_run(run)
    return destination


def encoded(destination, records):
    out = []
    for record in records:
        record, reason = destination.encode(record)
        assert reason is None, reason
        out.append(record)
    return out


def audience_folder(tmp_path: Path) -> Path:
    return tmp_path / "outbox" / RUN.audience_name


def names(tmp_path: Path) -> list[str]:
    return sorted(path.name for path in audience_folder(tmp_path).iterdir())


def unzip(path: Path) -> tuple[str, str]:
    with zipfile.ZipFile(path) as archive:
        [entry] = archive.namelist()
        return entry, archive.read(entry).decode("ascii")


# Plain data files -------------------------------------------------------------------------


def test_csv_parts_hold_the_payload_and_removals_only_the_id(tmp_path):
    destination = file_destination(tmp_path, fields=["member_level", "display_name"])

    destination.write_batch(RECORDS, "add", "key-1")
    destination.write_batch([{"external_id": "p00003"}], "remove", "key-2")

    assert names(tmp_path) == ["run-1-add-00001.csv", "run-1-remove-00002.csv"]
    added = audience_folder(tmp_path) / "run-1-add-00001.csv"
    with added.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["external_id", "phone", "member_level", "display_name"],
            ["p00001", "13800000001", "gold", "张1"],
            ["p00002", "13800000002", "", "李2"],
        ]
    removal = (audience_folder(tmp_path) / "run-1-remove-00002.csv").read_text(encoding="utf-8")
    assert removal.splitlines() == ["external_id", "p00003"]


def test_jsonl_parts_are_one_utf8_object_per_line(tmp_path):
    destination = file_destination(tmp_path, format="jsonl", fields=["member_level", "display_name"])

    destination.write_batch(RECORDS, "add", "key-1")

    part = audience_folder(tmp_path) / "run-1-add-00001.jsonl"
    lines = part.read_bytes().decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == RECORDS
    assert "张1" in lines[0]  # written as UTF-8, not \u escapes


def test_parquet_parts_type_every_column_as_text(tmp_path):
    destination = file_destination(tmp_path, format="parquet", fields=["member_level"])

    destination.write_batch([{**record, "member_level": None} for record in RECORDS], "update", "key-1")

    table = pq.read_table(audience_folder(tmp_path) / "run-1-update-00001.parquet")
    assert table.column_names == ["external_id", "phone", "member_level"]
    assert {str(field.type) for field in table.schema} == {"string"}
    assert table.to_pylist() == [
        {"external_id": "p00001", "phone": "13800000001", "member_level": None},
        {"external_id": "p00002", "phone": "13800000002", "member_level": None},
    ]


def test_batches_stream_as_numbered_parts_of_batch_size(tmp_path):
    assert file_destination(tmp_path).batch_size == 100_000
    destination = file_destination(tmp_path, batch_size=2)
    assert destination.batch_size == 2

    for number, record in enumerate(RECORDS * 2):
        destination.write_batch([record], "add", f"key-{number}")

    assert names(tmp_path) == [f"run-1-add-0000{n}.csv" for n in (1, 2, 3, 4)]
    # Bookkeeping stays out of the folder a partner picks up from.
    assert (tmp_path / "outbox" / ".onedata" / "outbox_files" / RUN.audience_name / "keys").is_dir()


# Crowd packs ------------------------------------------------------------------------------


def test_tencent_pack_is_a_zip_of_md5_mobile_numbers_one_per_line(tmp_path):
    destination = file_destination(tmp_path, channel="ad_platform", crowd_pack="tencent_ads")
    members = [
        {"external_id": "a", "phone": "13800138000", "email": "Someone@Example.com"},
        {"external_id": "b", "phone": "+86 138-0000-0001", "email": None},
    ]

    result = destination.write_batch(encoded(destination, members), "add", "key-1")

    assert all(outcome.ok for outcome in result.results)
    assert destination.is_ad_platform and destination.hash_algorithm == "md5"
    entry, text = unzip(audience_folder(tmp_path) / "run-1-add-00001.zip")
    assert entry == "run-1-add-00001.HASH_MOBILE_PHONE.txt"
    # No header, no external_id, no e-mail: one lower-case MD5 of the 11 digits per line.
    assert text == f"{TENCENT_MD5_OF_13800138000}\n{hashlib.md5(b'13800000001').hexdigest()}\n"


def test_tencent_pack_rejects_a_member_without_a_mainland_mobile(tmp_path):
    destination = file_destination(tmp_path, channel="ad_platform", crowd_pack="tencent_ads")

    for phone in ("12800138000", "1380013800", "+1 212 555 0100", None):
        record, reason = destination.encode({"external_id": "a", "phone": phone, "email": "a@b.cn"})

        assert record is None
        assert reason.endswith("phone for the tencent_ads crowd pack of file (not sent)")
        assert not phone or phone not in reason


def test_sha256_pack_hashes_normalised_phone_and_email_under_platform_headers(tmp_path):
    destination = file_destination(tmp_path, channel="ad_platform", crowd_pack="sha256")
    members = [
        {"external_id": "a", "phone": "13800138000", "email": " User1@Example.com "},
        {"external_id": "b", "phone": "bad", "email": "only@mail.cn"},
    ]

    destination.write_batch(encoded(destination, members), "add", "key-1")

    text = (audience_folder(tmp_path) / "run-1-add-00001.csv").read_text(encoding="utf-8")
    sha = lambda value: hashlib.sha256(value.encode()).hexdigest()  # noqa: E731
    assert text.splitlines() == [
        "Phone_SHA256,Email_SHA256",
        f"{sha('8613800138000')},{sha('user1@example.com')}",
        f",{sha('only@mail.cn')}",
    ]


def test_a_raw_identifier_never_reaches_a_pack(tmp_path):
    destination = file_destination(tmp_path, channel="ad_platform", crowd_pack="tencent_ads")

    result = destination.write_batch([{"external_id": "a", "phone": "13800138000"}], "add", "key-1")

    assert result.results[0].error == "phone is not a md5 hash (not written)"
    assert names(tmp_path) == []


def test_pack_removals_reduce_the_hashes_written_before(tmp_path):
    destination = file_destination(tmp_path, channel="ad_platform", crowd_pack="tencent_ads")
    member = {"external_id": "a", "phone": "13800138000", "email": None}
    destination.write_batch(encoded(destination, [member]), "add", "key-1")
    new_number = {**member, "phone": "13900000009"}

    destination.write_batch(encoded(destination, [new_number]), "update", "key-2")
    removals = [{"external_id": "a"}, {"external_id": "never"}]
    result = destination.write_batch(removals, "remove", "key-3")

    folder = audience_folder(tmp_path)
    new_hash = hashlib.md5(b"13900000009").hexdigest()
    assert unzip(folder / "run-1-update-00002.zip")[1] == f"{new_hash}\n"
    # The old number's hash is reduced: a recycled number must stop being targeted.
    assert unzip(folder / "run-1-update-00002-reduce.zip")[1] == f"{TENCENT_MD5_OF_13800138000}\n"
    assert unzip(folder / "run-1-remove-00003.zip")[1] == f"{new_hash}\n"
    errors = {outcome.external_id: outcome.error for outcome in result.results}
    assert errors["a"] is None
    assert "nothing to reduce" in errors["never"]


@pytest.mark.parametrize(
    "entry, problem",
    [
        ({"crowd_pack": "tencent_ads"}, "channel must be ad_platform, not sms"),
        ({"channel": "ad_platform", "crowd_pack": "tencent_ads", "format": "csv"}, "remove `format`"),
        ({"channel": "ad_platform", "crowd_pack": "sha256", "fields": ["member_level"]},
         "hashed identifiers only; remove member_level"),
        ({"crowd_pack": "google"}, "crowd_pack must be none or one of tencent_ads, sha256"),
        ({"format": "xlsx"}, "format must be one of csv, jsonl, parquet"),
    ],
)
def test_check_explains_bad_configuration(tmp_path, entry, problem):
    with pytest.raises(ActivationError, match=problem):
        file_destination(tmp_path, **entry)


def test_check_refuses_a_path_that_cannot_be_a_folder(tmp_path):
    (tmp_path / "outbox").write_text("a file in the way")

    with pytest.raises(ActivationError, match="not a writable directory"):
        file_destination(tmp_path)


# Idempotency and failures -----------------------------------------------------------------


def test_a_batch_with_a_recorded_key_is_not_written_again_even_by_a_new_run(tmp_path):
    destination = file_destination(tmp_path, channel="ad_platform", crowd_pack="tencent_ads")
    batch = encoded(destination, [{"external_id": "a", "phone": "13800138000", "email": None}])
    batch.append({"external_id": "b", "phone": None, "email": None})
    first = destination.write_batch(batch, "add", "key-1")
    assert names(tmp_path) == ["run-1-add-00001.zip"]

    again = destination.write_batch(batch, "add", "key-1")
    rerun = file_destination(tmp_path, RunInfo("run-2", RUN.audience_name, "x", "c1"),
                             channel="ad_platform", crowd_pack="tencent_ads")
    resent = rerun.write_batch(batch, "add", "key-1")

    assert first == again == resent  # the recorded outcome, refusal included
    assert first.results[1].error.startswith("no phone")
    assert names(tmp_path) == ["run-1-add-00001.zip"]


def test_a_failed_write_raises_leaves_nothing_and_the_rerun_writes_it(tmp_path, monkeypatch):
    destination = file_destination(tmp_path)
    real_fsync = os.fsync

    def failing_fsync(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(DestinationError, match="run-1-add-00001.*No space left on device.*rerun"):
        destination.write_batch(RECORDS, "add", "key-1")
    assert names(tmp_path) == []  # no part, no temporary file

    monkeypatch.setattr(os, "fsync", real_fsync)
    rerun = file_destination(tmp_path, RunInfo("run-2", RUN.audience_name, "x", "c1"))
    assert all(outcome.ok for outcome in rerun.write_batch(RECORDS, "add", "key-1").results)
    assert names(tmp_path) == ["run-2-add-00001.csv"]


class SimulatedCrash(BaseException):
    """The process dies here (a BaseException: nothing in the destination catches it)."""


def crash_at(monkeypatch, crashes):
    """Make the destination's atomic writes crash when `crashes(target)` says so."""
    from activation.destinations import file as file_module
    from activation.destinations import file_writes

    real = file_writes.write_atomically

    def write(target, writer):
        if crashes(target):
            raise SimulatedCrash(target.name)
        real(target, writer)

    # Part files are written from the destination, markers from file_writes.
    modules = (file_module, file_writes)
    for module in modules:
        monkeypatch.setattr(module, "write_atomically", write)
    return lambda: [monkeypatch.setattr(module, "write_atomically", real) for module in modules]


def test_a_crash_after_the_part_is_in_place_never_writes_the_batch_twice(tmp_path, monkeypatch):
    destination = file_destination(tmp_path)
    markers = []

    def after_the_part(target):
        markers.append(target) if target.parent.name == "keys" else None
        return target.parent.name == "keys" and len(markers) == 2  # the `done` marker

    restore = crash_at(monkeypatch, after_the_part)
    with pytest.raises(SimulatedCrash):
        destination.write_batch(RECORDS, "add", "key-1")
    assert names(tmp_path) == ["run-1-add-00001.csv"]  # the part left, its answer did not
    restore()

    rerun = file_destination(tmp_path, RunInfo("run-2", RUN.audience_name, "x", "c1"))
    result = rerun.write_batch(RECORDS, "add", "key-1")

    assert all(outcome.ok for outcome in result.results)
    assert names(tmp_path) == ["run-1-add-00001.csv"]
    again = file_destination(tmp_path, RunInfo("run-3", RUN.audience_name, "x", "c1"))
    assert again.write_batch(RECORDS, "add", "key-1") == result
    assert names(tmp_path) == ["run-1-add-00001.csv"]


def test_a_crash_between_two_pack_files_finishes_the_batch_without_repeating_one(
    tmp_path, monkeypatch
):
    destination = file_destination(tmp_path, channel="ad_platform", crowd_pack="tencent_ads")
    member = {"external_id": "a", "phone": "13800138000", "email": None}
    destination.write_batch(encoded(destination, [member]), "add", "key-1")
    moved = encoded(destination, [{**member, "phone": "13900000009"}])

    restore = crash_at(monkeypatch, lambda target: target.name.endswith("-reduce.zip"))
    with pytest.raises(SimulatedCrash):
        destination.write_batch(moved, "update", "key-2")
    assert names(tmp_path) == ["run-1-add-00001.zip", "run-1-update-00002.zip"]
    restore()

    rerun = file_destination(tmp_path, RunInfo("run-2", RUN.audience_name, "x", "c1"),
                             channel="ad_platform", crowd_pack="tencent_ads")
    rerun.write_batch(moved, "update", "key-2")

    folder = audience_folder(tmp_path)
    assert names(tmp_path) == [
        "run-1-add-00001.zip", "run-1-update-00002-reduce.zip", "run-1-update-00002.zip",
    ]
    assert unzip(folder / "run-1-update-00002-reduce.zip")[1] == f"{TENCENT_MD5_OF_13800138000}\n"
    # The index holds the new number only: removing the member reduces that hash alone.
    rerun.write_batch([{"external_id": "a"}], "remove", "key-3")
    assert unzip(folder / "run-2-remove-00002.zip")[1] == f"{hashlib.md5(b'13900000009').hexdigest()}\n"


# Through the sync -------------------------------------------------------------------------


def test_a_sync_writes_a_tencent_pack_and_a_rerun_reduces_a_leaver(settings, warehouse, tmp_path):
    from activation.settings import Settings
    from activation.sync import sync_audience
    from tests.conftest import AUDIENCE, make_member

    destinations = tmp_path / "crowd.destinations.yml"
    destinations.write_text(yaml.safe_dump({"destinations": {"tencent_pack": {
        "type": "file", "channel": "ad_platform", "crowd_pack": "tencent_ads",
        "path": str(tmp_path / "packs"), "holdout_share": 0,
    }}}))
    crowd_settings = Settings(duckdb_path=settings.duckdb_path, destinations_file=destinations)
    members = [make_member(n) for n in range(1, 61)]
    consented = [m for m in members if m["is_ad_platform_consented"]]
    md5 = {m["one_id"]: hashlib.md5(m["phone"].encode()).hexdigest() for m in consented if m["phone"]}

    first = sync_audience(crowd_settings, AUDIENCE, "tencent_pack")

    folder = tmp_path / "packs" / AUDIENCE
    [added] = folder.iterdir()
    assert added.name == f"{first.run_id}-add-00001.zip"
    assert sorted(unzip(added)[1].split()) == sorted(md5.values())
    # Consented members without a phone cannot go in a mobile-number pack.
    assert first.rejected == len(consented) - len(md5) > 0
    assert first.added == len(md5)

    leaver = sorted(md5)[0]
    warehouse.write_audience([m for m in members if m["one_id"] != leaver])
    second = sync_audience(crowd_settings, AUDIENCE, "tencent_pack")

    assert second.removed == 1
    [reduce_file] = folder.glob(f"{second.run_id}-remove-*.zip")
    assert unzip(reduce_file)[1] == f"{md5[leaver]}\n"
