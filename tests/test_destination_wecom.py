"""WeCom destination: the conformance suite for both actions, then what is WeCom's own: the
access token's life, unionid conversion, errcode mapping, the monthly cap and feedback pull."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import yaml

from activation.destinations import SentRecord, build_destination, load_destination_configs
from activation.destinations.wecom import FAIL_LIST_ERROR, WecomDestination
from activation.errors import ActivationError, DestinationError
from tests.conformance import RECORDS, RUN, DestinationConformance
from tests.fakes.wecom_server import CHINA, FakeWecom

SECRET_VAR = "ACTIVATE__TEST_WECOM__CORP_SECRET"
TAG = {"action": "tag", "mode": "upsert", "tag_id": "et_vip", "userid": "staff_zhang"}
GROUP_SEND = {"action": "group_send", "mode": "append", "sender": "staff_zhang", "message_text": "会员日 8 折"}


@pytest.fixture
def service():
    fake = FakeWecom().start()
    for record in RECORDS:
        fake.add_customer(record["external_id"], record["wechat_unionid"])
    yield fake
    fake.stop()


@pytest.fixture
def build(tmp_path, monkeypatch, service):
    """Build a started WeCom destination from a destinations.yml entry with these settings."""
    monkeypatch.setenv(SECRET_VAR, service.corp_secret)
    built = []

    def make(**settings):
        entry = {
            "type": "wecom",
            "channel": "wecom",
            "corp_id": service.corp_id,
            "base_url": service.base_url,
            "max_retries": 3,
            "backoff_base_seconds": 0.01,
            **settings,
        }
        path = tmp_path / "destinations.yml"
        path.write_text(yaml.safe_dump({"destinations": {"test_wecom": entry}}, allow_unicode=True), encoding="utf-8")
        destination = build_destination(load_destination_configs(path)["test_wecom"])
        destination.start_run(RUN)
        built.append(destination)
        return destination

    yield make
    for destination in built:
        destination.close()


class TestWecomTagConformance(DestinationConformance):
    @pytest.fixture
    def destination(self, build):
        return build(**TAG)


class TestWecomGroupSendConformance(DestinationConformance):
    @pytest.fixture
    def destination(self, build):
        return build(**GROUP_SEND)


def write(destination, records=RECORDS, operation="add", key="key-1"):
    records = [{"external_id": r["external_id"], "wechat_unionid": r["wechat_unionid"]} for r in records]
    return destination.write_batch(records, operation, key)


def errors(result):
    return {outcome.external_id: outcome.error for outcome in result.results}


# --- access token -------------------------------------------------------------------------


def test_the_token_is_fetched_once_and_reused(build, service):
    destination = build(**TAG)

    write(destination, key="key-1")
    write(destination, key="key-2")

    assert service.calls["gettoken"] == 1
    assert service.calls["externalcontact/mark_tag"] == 6


def test_an_expired_token_is_renewed_once_and_the_call_repeated(build, service):
    destination = build(**TAG)
    write(destination, RECORDS[:1])
    service.expire_tokens()

    result = write(destination, RECORDS[1:2], key="key-2")

    assert errors(result) == {"p00002": None}
    assert service.token_errors == 1
    assert service.calls["gettoken"] == 2
    assert service.delivered("add") == Counter(["p00001", "p00002"])


def test_the_token_is_renewed_shortly_before_it_expires(build, service):
    destination = build(**TAG)
    write(destination, RECORDS[:1])
    started = destination.api.clock()
    # 7200 s lifetime, renewed 300 s early: at 6901 s the cached token is no longer used.
    destination.api.clock = lambda: started + 6901

    write(destination, RECORDS[1:2], key="key-2")

    assert service.calls["gettoken"] == 2
    assert service.token_errors == 0


def test_a_token_refused_again_after_renewal_stops_the_sync(build, service):
    destination = build(**TAG)
    service.token_lifetime = 0  # every token is expired when it arrives

    with pytest.raises(DestinationError, match="42001.*freshly fetched"):
        write(destination)

    assert service.calls["gettoken"] == 2


def test_a_wrong_secret_names_the_variable_and_never_shows_the_value(build, service, monkeypatch):
    monkeypatch.setenv(SECRET_VAR, "not-the-secret")
    destination = build(**TAG)

    with pytest.raises(DestinationError) as raised:
        write(destination)

    assert "40001" in str(raised.value) and SECRET_VAR in str(raised.value)
    assert "not-the-secret" not in str(raised.value)


# --- errcodes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "says"),
    [(48002, "may not call this API"), (60020, "trusted IPs"), (60011, "visible range")],
)
def test_permission_errcodes_stop_the_sync(build, service, errcode, says):
    destination = build(**GROUP_SEND)
    service.forbidden = (errcode, "forbidden")

    with pytest.raises(DestinationError, match=says):
        write(destination)


def test_an_unknown_tag_id_stops_the_sync_instead_of_rejecting_every_record(build, service):
    destination = build(**{**TAG, "tag_id": "et_missing"})

    with pytest.raises(DestinationError, match="40068.*tag_id is not a tag"):
        write(destination)


def test_busy_answers_are_retried_with_backoff(build, service):
    destination = build(**TAG)
    service.inject("throttle", "throttle", "server_error")

    result = write(destination, RECORDS[:1])

    assert errors(result) == {"p00001": None}
    assert service.delivered("add") == Counter(["p00001"])


def test_busy_answers_past_the_retries_stop_the_sync(build, service):
    destination = build(**TAG)
    service.inject(*["throttle"] * 4)

    with pytest.raises(DestinationError, match="after 4 attempts"):
        write(destination, RECORDS[:1])


# --- contacts -----------------------------------------------------------------------------


def test_a_unionid_that_is_no_customer_is_rejected_alone(build, service):
    destination = build(**TAG)
    stranger = {"external_id": "p00009", "wechat_unionid": "union9"}

    result = write(destination, [RECORDS[0], stranger])

    assert errors(result)["p00001"] is None
    assert "not a WeCom customer" in errors(result)["p00009"]
    assert service.delivered("add") == Counter(["p00001"])


def test_a_customer_of_another_staff_member_is_rejected_with_wecoms_message(build, service):
    service.add_customer("p00008", "union8", userid="staff_li")
    destination = build(**TAG)

    result = write(destination, [{"external_id": "p00008", "wechat_unionid": "union8"}])

    assert errors(result) == {"p00008": "WeCom errcode 84061: not external contact"}


def test_unionids_are_converted_once_per_run(build, service):
    destination = build(**TAG)

    write(destination, key="key-1")
    write(destination, operation="update", key="key-2")
    assert service.calls["idconvert/unionid_to_external_userid"] == 3

    destination.start_run(RUN)
    write(destination, operation="update", key="key-3")
    assert service.calls["idconvert/unionid_to_external_userid"] == 6


def test_the_openid_goes_with_the_unionid_without_its_app_namespace(build, service):
    destination = build(**TAG, fields=["wechat_openid"])

    destination.write_batch([{k: RECORDS[0][k] for k in ("external_id", "wechat_unionid", "wechat_openid")}], "add", "k")

    [(_, body)] = [call for call in service.requests if call[0].startswith("idconvert")]
    assert body == {"unionid": "union1", "openid": "open1"}


# --- tag ----------------------------------------------------------------------------------


def test_tag_marks_each_contact_of_the_staff_member(build, service):
    destination = build(**TAG)

    write(destination)

    marks = [body for api, body in service.requests if api == "externalcontact/mark_tag"]
    assert marks[0] == {
        "userid": "staff_zhang", "external_userid": service.external_userid("p00001"), "add_tag": ["et_vip"],
        "remove_tag": [],
    }
    assert service.marked[("staff_zhang", service.external_userid("p00003"))] == {"et_vip"}


def test_tag_removal_needs_the_unionid(build, service):
    destination = build(**{**TAG, "mode": "mirror"})
    write(destination)

    result = destination.write_batch(
        [{"external_id": "p00001", "wechat_unionid": "union1"}, {"external_id": "p00002"}], "remove", "key-2"
    )

    assert errors(result)["p00001"] is None
    assert "needs the member's wechat_unionid" in errors(result)["p00002"]
    assert service.delivered("remove") == Counter(["p00001"])
    assert service.marked[("staff_zhang", service.external_userid("p00001"))] == set()


def test_tag_declares_no_cap_and_no_feedback(build):
    destination = build(**TAG)

    assert destination.platform_frequency_cap is None
    assert not destination.supports_feedback_pull
    with pytest.raises(ActivationError, match="only action group_send"):
        list(destination.pull_feedback([]))


# --- group_send ---------------------------------------------------------------------------


def test_group_send_creates_one_task_for_the_batch_and_keeps_its_msgid(build, service):
    destination = build(**GROUP_SEND)

    result = write(destination)

    [(api, body)] = [call for call in service.requests if call[0].endswith("add_msg_template")]
    assert body == {
        "chat_type": "single",
        "external_userid": [service.external_userid(r["external_id"]) for r in RECORDS],
        "sender": "staff_zhang",
        "text": {"content": "会员日 8 折"},
    }
    [msgid] = service.messages
    assert [outcome.reference for outcome in result.results] == [msgid] * 3


def test_the_monthly_cap_is_declared_and_a_fifth_message_is_refused(build, service):
    assert WecomDestination.platform_frequency_cap == (4, "calendar_month")
    destination = build(**GROUP_SEND)
    service.now = lambda: dt.datetime(2026, 10, 31, 20, 0, tzinfo=CHINA)
    for number in range(4):
        assert all(outcome.ok for outcome in write(destination, RECORDS[:1], key=f"k{number}").results)

    fifth = write(destination, RECORDS[:2], key="k5")

    assert errors(fifth) == {"p00001": FAIL_LIST_ERROR, "p00002": None}
    assert fifth.results[0].reference is None

    service.now = lambda: dt.datetime(2026, 11, 1, 8, 0, tzinfo=CHINA)
    assert errors(write(destination, RECORDS[:1], key="k6")) == {"p00001": None}


def test_group_send_takes_adds_only(build):
    destination = build(**GROUP_SEND)

    with pytest.raises(ActivationError, match="takes adds, not remove"):
        destination.write_batch([{"external_id": "p00001"}], "remove", "k")


def test_feedback_reports_each_customers_send_status(build, service):
    service.add_customer("p00004", "union4")
    destination = build(**GROUP_SEND)
    result = write(destination)
    write(destination, [{"external_id": "p00004", "wechat_unionid": "union4"}], key="key-2")
    sent_at = dt.datetime(2026, 10, 1, 1, 0)
    staff_at = dt.datetime(2026, 10, 1, 10, 30, tzinfo=CHINA)
    service.staff_sends(list(service.messages)[0], not_friend=("p00002",), over_limit=("p00003",), at=staff_at)
    service.page_size = 1  # one row a page: the cursor must be followed
    sent = [
        SentRecord(outcome.external_id, "c1", f"union{n}", outcome.reference, sent_at)
        for n, outcome in enumerate(result.results[:3], start=1)
    ] + [SentRecord("p00004", "c1", "union4", list(service.messages)[1], sent_at)]

    rows = list(destination.pull_feedback(sent))

    at = dt.datetime(2026, 10, 1, 2, 30)  # naive UTC
    assert sorted(rows, key=lambda row: row["one_id"]) == [
        {"campaign_id": "c1", "one_id": "p00001", "destination_name": "test_wecom", "event_type": "delivered", "occurred_at": at},
        {"campaign_id": "c1", "one_id": "p00002", "destination_name": "test_wecom", "event_type": "failed", "occurred_at": at},
        {"campaign_id": "c1", "one_id": "p00003", "destination_name": "test_wecom", "event_type": "failed", "occurred_at": at},
    ]  # p00004's task is not confirmed yet: status 0 reports nothing


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({**GROUP_SEND, "mode": "mirror"}, "set mode: append"),
        ({**TAG, "mode": "append"}, "tag supports mode mirror or upsert"),
        ({**TAG, "userid": None}, "tag needs tag_id and userid"),
        ({**GROUP_SEND, "message_text": "长" * 1400}, "longer than WeCom's 4000 bytes"),
        ({**GROUP_SEND, "tag_id": "et_vip"}, "belong to action tag"),
        ({**TAG, "action": "broadcast"}, "action: must be 'tag' or 'group_send', got 'broadcast'"),
        ({**TAG, "hashed_fields": ["wechat_unionid"]}, "cannot be hashed"),
    ],
)
def test_check_explains_bad_settings(build, settings, says):
    with pytest.raises(ActivationError, match=says):
        build(**settings).check()


def test_a_batch_size_above_wecoms_recipient_limit_is_refused(build):
    with pytest.raises(ActivationError, match="above the service's limit of 10000"):
        build(**GROUP_SEND, batch_size=10_001)


# Contacts the warehouse knows (issue 23, part A 4) ---------------------------------------------


def test_a_sync_addresses_the_contacts_the_warehouse_knows_without_converting_them(
    service, settings, warehouse, tmp_path, monkeypatch
):
    import duckdb

    from activation.settings import Settings
    from activation.sync import SyncOptions, sync_audience
    from tests.conftest import AUDIENCE, make_member

    members = [make_member(n) for n in range(1, 61)]
    for member in members:
        service.add_customer(member["one_id"], member["wechat_unionid"])
    known = [member for member in members if int(member["one_id"][1:]) % 2 == 0]
    with duckdb.connect(str(warehouse.path)) as connection:
        connection.execute("create schema if not exists staging")
        connection.execute(
            "create table staging.stg_wecom__external_contacts (external_userid varchar, "
            "follow_userid varchar, wechat_unionid varchar, wechat_unionid_raw varchar, "
            "contact_way_state varchar, added_at timestamp)"
        )
        connection.executemany(
            "insert into staging.stg_wecom__external_contacts values (?, 'staff_zhang', ?, ?, null, null)",
            [(service.external_userid(m["one_id"]), m["wechat_unionid"], m["wechat_unionid"]) for m in known],
        )
    monkeypatch.setenv(SECRET_VAR, service.corp_secret)
    path = tmp_path / "wecom.yml"
    path.write_text(yaml.safe_dump({"destinations": {"test_wecom": {
        "type": "wecom", "channel": "wecom", "corp_id": service.corp_id, "base_url": service.base_url,
        "holdout_share": 0, **GROUP_SEND,
    }}}, allow_unicode=True), encoding="utf-8")

    summary = sync_audience(Settings(duckdb_path=warehouse.path, destinations_file=path), AUDIENCE,
                            "test_wecom", SyncOptions())

    sent = {one_id for (_, one_id), count in service.received.items() if count}
    known_ids = {member["one_id"] for member in known}
    assert summary.added == len(sent) > 10 and summary.rejected == 0
    # Only the sent members the warehouse did not know were converted, one call each.
    assert service.calls["idconvert/unionid_to_external_userid"] == len(sent - known_ids) > 0
