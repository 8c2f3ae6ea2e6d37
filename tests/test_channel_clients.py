"""The destinations checked against the channels' own client libraries (issue 23, part A).

Each test builds the request the channel's SDK builds and the one onedata builds, on loopback,
and compares them: Meta (facebook-business), Alibaba Cloud (aliyun-python-sdk-core and
dysmsapi), WeCom (wechatpy), Standard Webhooks (standardwebhooks). Phone hashing for Meta is
checked against a table whose expected values follow Meta's documented rules (customer-list
normalisation: digits only, country code first, no leading zeros, trimmed lower-case e-mail).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

from activation.destinations import RunInfo, build_destination, load_destination_configs
from activation.destinations.aliyun_rpc import rpc_signature
from activation.destinations.normalise import email_address, phone_digits_with_country_code
from tests.conftest import SECRET
from tests.fakes.meta_server import FakeMetaAudience
from tests.fakes.wecom_server import FakeWecom

RUN = RunInfo(run_id="run-1", audience_name="test_audience", destination_name="x", campaign_id="c1")


def configured(tmp_path, monkeypatch, name: str, entry: dict, secrets: dict[str, str]):
    for key, value in secrets.items():
        monkeypatch.setenv(f"ACTIVATE__{name.upper()}__{key.upper()}", value)
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump({"destinations": {name: entry}}, allow_unicode=True), encoding="utf-8")
    destination = build_destination(load_destination_configs(path)[name])
    destination.check()
    destination.start_run(RUN)
    return destination


# Meta: phone and e-mail hashes ------------------------------------------------------------

# (value as a member typed it, the string Meta's rules make of it; None: cannot be matched).
# Default country CN: a number written without a country code is a mainland number.
PHONES = [
    ("+1 (650) 555-1234", "16505551234"),
    ("+1-650-555-1234", "16505551234"),
    ("+1 650.555.1234", "16505551234"),
    ("001 650 555 1234", "16505551234"),
    ("13812345678", "8613812345678"),
    ("138 1234 5678", "8613812345678"),
    ("138-1234-5678", "8613812345678"),
    (" 13812345678 ", "8613812345678"),
    ("13812345678\t", "8613812345678"),
    ("+86 138 1234 5678", "8613812345678"),
    ("+86-13812345678", "8613812345678"),
    ("+8613812345678", "8613812345678"),
    ("0086 13812345678", "8613812345678"),
    ("008613812345678", "8613812345678"),
    ("8613812345678", "8613812345678"),
    ("86-138-1234-5678", "8613812345678"),
    ("１３８１２３４５６７８", "8613812345678"),
    ("＋８６ １３８ １２３４ ５６７８", "8613812345678"),
    ("１３８-１２３４-５６７８", "8613812345678"),
    ("tel:+86-138-1234-5678", "8613812345678"),
    ("+86 19912345678", "8619912345678"),
    ("010-88888888", "861088888888"),
    ("(010) 8888 8888", "861088888888"),
    ("+86 10 8888 8888", "861088888888"),
    ("021-12345678", "862112345678"),
    ("0755-12345678", "8675512345678"),
    ("+44 20 7946 0958", "442079460958"),
    ("+44 (0)20 7946 0958", "442079460958"),
    ("0044 20 7946 0958", "442079460958"),
    ("+852 9123 4567", "85291234567"),
    ("+886 912 345 678", "886912345678"),
    ("+81 90-1234-5678", "819012345678"),
    ("+65 8123 4567", "6581234567"),
    ("+49 30 123456", "4930123456"),
    ("+61 4 1234 5678", "61412345678"),
    ("+7 912 345-67-89", "79123456789"),
    ("+33 6 12 34 56 78", "33612345678"),
    ("+82 10-1234-5678", "821012345678"),
    ("+91 98765 43210", "919876543210"),
    ("+55 11 91234-5678", "5511912345678"),
    ("12345", None),
    ("1381234567", None),
    ("+86 138", None),
    ("00000000000", None),
    ("abc", None),
    ("", None),
    # Without its country code, a US number reads as a mainland one, which it is not.
    ("(650) 555-1234", None),
]
EMAILS = [
    ("  Alice@Example.COM ", "alice@example.com"),
    ("ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "alice@example.com"),
    ("alice@example.com\n", "alice@example.com"),
    ("Bob.Smith+tag@Mail.Example.co.uk", "bob.smith+tag@mail.example.co.uk"),
    ("not-an-email", None),
    ("alice@localhost", None),
]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def meta_fake():
    service = FakeMetaAudience("EAAB-token-not-real", "23850000000000001").start()
    yield service
    service.stop()


@pytest.fixture
def meta(meta_fake, tmp_path, monkeypatch):
    entry = {
        "type": "meta_custom_audience", "channel": "ad_platform", "fields": ["email"],
        "audience_id": meta_fake.audience_id, "base_url": meta_fake.base_url, "max_retries": 0,
    }
    destination = configured(tmp_path, monkeypatch, "meta_ads", entry,
                             {"access_token": "EAAB-token-not-real", "app_secret": "app-secret-not-real"})
    yield destination
    destination.close()


def test_the_phone_table_holds_forty_tricky_inputs():
    assert len(PHONES) >= 40 and len({value for value, _ in PHONES}) == len(PHONES)


@pytest.mark.parametrize(("value", "expected"), PHONES, ids=[repr(value) for value, _ in PHONES])
def test_meta_phone_hashes_follow_meta_s_rules(meta, value, expected):
    record, reason = meta.encode({"external_id": "p1", "phone": value, "email": None})

    if expected is None:
        assert record is None and "invalid phone" in reason
        assert phone_digits_with_country_code(value) is None
    else:
        assert reason is None
        assert record["phone"] == sha256(expected)


@pytest.mark.parametrize(("value", "expected"), [(v, e) for v, e in PHONES if e and v.startswith("+") and v.isascii()])
def test_meta_phone_hashes_match_the_sdk_for_numbers_written_with_their_country_code(meta, value, expected):
    """The SDK's own normaliser (Conversions API) knows no national numbers or full-width
    digits, but for an ASCII number written with +<country code> both must hash the same."""
    from facebook_business.adobjects.serverside.normalize import Normalize

    record, _ = meta.encode({"external_id": "p1", "phone": value, "email": None})
    sdk = Normalize.normalize_field("ph", value.replace(".", " ").replace("(0)", ""))
    assert record["phone"] == sdk == sha256(expected)


@pytest.mark.parametrize(("value", "expected"), EMAILS)
def test_meta_email_hashes_follow_meta_s_rules(value, expected):
    assert email_address(value) == expected
    if expected and value.isascii():
        from facebook_business.adobjects.serverside.normalize import Normalize

        assert Normalize.normalize_field("em", value.strip()) == sha256(expected)


def test_a_default_country_reads_bare_national_numbers_of_that_country(meta_fake, tmp_path, monkeypatch):
    entry = {
        "type": "meta_custom_audience", "channel": "ad_platform", "audience_id": meta_fake.audience_id,
        "base_url": meta_fake.base_url, "default_country": "US",
    }
    destination = configured(tmp_path, monkeypatch, "meta_us", entry, {"access_token": "EAAB-token-not-real"})

    for value in ("(650) 555-1234", "650.555.1234", "+1 650 555 1234"):
        record, reason = destination.encode({"external_id": "p1", "phone": value, "email": None})
        assert reason is None and record["phone"] == sha256("16505551234"), value


# Meta: the requests --------------------------------------------------------------------------


def sdk_api(fake: FakeMetaAudience, token: str, app_secret: str | None):
    from facebook_business.api import FacebookAdsApi
    from facebook_business.session import FacebookSession

    session = FacebookSession(app_secret=app_secret, access_token=token)
    session.GRAPH = fake.base_url
    return FacebookAdsApi(session, api_version="v21.0")


@pytest.mark.parametrize("operation", ["add", "remove"])
def test_meta_requests_carry_what_the_sdk_sends(meta, meta_fake, operation):
    from facebook_business.adobjects.customaudience import CustomAudience

    records = [
        meta.encode({"external_id": "p1", "email": "a@example.com", "phone": "13812345678"})[0],
        meta.encode({"external_id": "p2", "email": "b@example.com", "phone": None})[0],
    ]
    if operation == "remove":
        records = [{"external_id": "p1"}, {"external_id": "p2"}]
    meta.start_run(RunInfo("run-1", "aud", "meta_ads", "c1", planned={operation: (1, 2)}))
    meta.write_batch(records, operation, "key-1")
    ours = meta_fake.requests[-1]

    audience = CustomAudience(meta_fake.audience_id, api=sdk_api(meta_fake, "EAAB-token-not-real", "app-secret-not-real"))
    schema = ours["schema"]
    call = audience.add_users if operation == "add" else audience.remove_users
    call(schema, ours["rows"], is_raw=True, pre_hashed=True, session=ours["session"])
    theirs = meta_fake.requests[-1]

    assert ours["method"] == theirs["method"] == ("POST" if operation == "add" else "DELETE")
    assert ours["path"] == theirs["path"]
    # The fields, byte for byte: the SDK sends them in the body of a POST and in the query of a
    # DELETE; onedata sends them in the body of both (10,000 rows do not fit in a URL).
    where = "body" if operation == "add" else "query"
    for field in ("payload", "session"):
        assert ours["body"][field] == theirs[where][field], field
    # The token and the app secret proof travel in the query string, as the SDK sends them.
    proof = hmac.new(b"app-secret-not-real", b"EAAB-token-not-real", hashlib.sha256).hexdigest()
    assert {k: ours["query"][k] for k in ("access_token", "appsecret_proof")} == {
        "access_token": "EAAB-token-not-real", "appsecret_proof": proof,
    }
    assert {k: theirs["query"][k] for k in ("access_token", "appsecret_proof")} == {
        "access_token": "EAAB-token-not-real", "appsecret_proof": proof,
    }


# Alibaba Cloud: the RPC signature ------------------------------------------------------------


@pytest.mark.parametrize("extra", [
    {},
    {"TemplateParamJson": '[{"name":"张三 & 李四*~"}]'},
    {"SignNameJson": '["品牌"]', "OutId": "a b+c/d=e"},
])
def test_alibaba_signatures_match_the_sdk(extra):
    from aliyunsdkcore.auth.composer.rpc_signature_composer import get_signed_url

    params = {
        "Action": "SendBatchSms", "Version": "2017-05-25", "RegionId": "cn-hangzhou",
        "PhoneNumberJson": '["13800000001","13800000002"]', "SignNameJson": '["onedata"]',
        "TemplateCode": "SMS_000000", **extra,
    }
    url, _ = get_signed_url(dict(params), "LTAI-key-not-real", "secret-not-real", "JSON", "POST", {})
    signed = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))

    assert rpc_signature("POST", signed, "secret-not-real") == signed["Signature"]


def test_alibaba_request_parameters_are_the_sdk_s():
    from aliyunsdkdysmsapi.request.v20170525.QuerySendDetailsRequest import QuerySendDetailsRequest
    from aliyunsdkdysmsapi.request.v20170525.SendBatchSmsRequest import SendBatchSmsRequest

    send = SendBatchSmsRequest()
    send.set_PhoneNumberJson("[]"), send.set_SignNameJson("[]"), send.set_TemplateCode("T")
    send.set_TemplateParamJson("[]")
    query = QuerySendDetailsRequest()
    query.set_PhoneNumber("1"), query.set_SendDate("20261031"), query.set_BizId("b")
    query.set_PageSize(50), query.set_CurrentPage(1)

    assert (send.get_action_name(), send.get_version(), send.get_method()) == ("SendBatchSms", "2017-05-25", "POST")
    # OutId, the batch's reference, is in Alibaba's current SendBatchSms documentation but not in
    # this (2022) SDK release; every other parameter onedata sends is the SDK's.
    assert set(send.get_query_params()) == {"PhoneNumberJson", "SignNameJson", "TemplateCode", "TemplateParamJson"}
    assert set(query.get_query_params()) == {"PhoneNumber", "SendDate", "BizId", "PageSize", "CurrentPage"}


# WeCom: the request bodies ----------------------------------------------------------------------


@pytest.fixture
def wecom_fake():
    service = FakeWecom().start()
    service.add_customer("p1", "union1")
    service.add_customer("p2", "union2")
    yield service
    service.stop()


def wechatpy_client(fake: FakeWecom):
    """wechatpy's client on the fake: its token fetch has WeCom's URL written in, so it is handed
    a token the fake issued (nothing leaves the machine) and its API base is the fake's."""
    from wechatpy.enterprise import WeChatClient

    token = fake.gettoken({"corpid": fake.corp_id, "corpsecret": fake.corp_secret})["access_token"]
    client = WeChatClient(fake.corp_id, fake.corp_secret, access_token=token)
    client.API_BASE_URL = f"{fake.base_url}/cgi-bin/"
    client.fetch_access_token = lambda: pytest.fail("wechatpy tried to fetch a token from WeCom")
    return client


def test_wecom_mark_tag_bodies_are_wechatpy_s(wecom_fake, tmp_path, monkeypatch):
    entry = {"type": "wecom", "channel": "wecom", "action": "tag", "corp_id": wecom_fake.corp_id,
             "tag_id": "et_vip", "userid": "staff_zhang", "base_url": wecom_fake.base_url}
    destination = configured(tmp_path, monkeypatch, "wecom_tags", entry, {"corp_secret": wecom_fake.corp_secret})

    destination.write_batch([{"external_id": "p1", "wechat_unionid": "union1"}], "add", "k1")
    destination.write_batch([{"external_id": "p1", "wechat_unionid": "union1"}], "remove", "k2")
    ours = [body for api, body in wecom_fake.raw if api == "externalcontact/mark_tag"]
    client = wechatpy_client(wecom_fake)
    external_userid = wecom_fake.external_userid("p1")
    client.external_contact.mark_tag("staff_zhang", external_userid, add_tag=["et_vip"])
    client.external_contact.mark_tag("staff_zhang", external_userid, remove_tag=["et_vip"])
    theirs = [body for api, body in wecom_fake.raw if api == "externalcontact/mark_tag"][2:]

    assert ours == theirs


def test_wecom_group_send_bodies_with_attachments_are_wechatpy_s(wecom_fake, tmp_path, monkeypatch):
    attachments = [
        {"image": {"media_id": "MEDIA_1"}},
        {"link": {"title": "新品上市", "url": "https://brand.example.cn/new", "desc": "首发", "picurl": "https://brand.example.cn/p.png"}},
        {"miniprogram": {"title": "领券", "appid": "wx8bd80126147df384", "page": "/pages/coupon/index", "pic_media_id": "MEDIA_2"}},
    ]
    entry = {"type": "wecom", "channel": "wecom", "action": "group_send", "mode": "append",
             "corp_id": wecom_fake.corp_id, "sender": "staff_zhang", "message_text": "会员日快乐",
             "attachments": attachments, "base_url": wecom_fake.base_url}
    destination = configured(tmp_path, monkeypatch, "wecom_send", entry, {"corp_secret": wecom_fake.corp_secret})

    result = destination.write_batch(
        [{"external_id": "p1", "wechat_unionid": "union1"}, {"external_id": "p2", "wechat_unionid": "union2"}],
        "add", "k1",
    )
    assert all(outcome.ok for outcome in result.results), result
    [ours] = [body for api, body in wecom_fake.raw if api == "externalcontact/add_msg_template"]
    template = json.loads(ours)
    assert template["attachments"] == [
        {"msgtype": "image", "image": {"media_id": "MEDIA_1"}},
        {"msgtype": "link", "link": attachments[1]["link"]},
        {"msgtype": "miniprogram", "miniprogram": attachments[2]["miniprogram"]},
    ]
    wechatpy_client(wecom_fake).external_contact.add_msg_template(template)
    theirs = [body for api, body in wecom_fake.raw if api == "externalcontact/add_msg_template"][1]

    assert ours == theirs


# Standard Webhooks -----------------------------------------------------------------------------

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_a_standard_webhooks_destination_is_verified_by_the_standardwebhooks_package(
    receiver, tmp_path, monkeypatch
):
    from standardwebhooks import Webhook

    receiver.secret = STANDARD_SECRET
    entry = {"type": "webhook", "channel": "sms", "url": receiver.url, "signature_scheme": "standard_webhooks"}
    destination = configured(tmp_path, monkeypatch, "std_hook", entry, {"secret": STANDARD_SECRET})

    result = destination.write_batch([{"external_id": "p1", "phone": "13800000001"}], "add", "key-1")

    assert all(outcome.ok for outcome in result.results)
    [headers] = receiver.headers
    body = receiver.bodies_raw[0]
    assert Webhook(STANDARD_SECRET).verify(body, headers)["records"] == [{"external_id": "p1", "phone": "13800000001"}]
    assert headers["webhook-id"] == "key-1"
    # A body changed on the way, or another secret, does not verify.
    with pytest.raises(Exception, match="signature"):
        Webhook(STANDARD_SECRET).verify(body.replace(b"p1", b"p2"), headers)
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 32).verify(body, headers)


def test_a_standard_webhooks_secret_must_be_whsec_base64(receiver, tmp_path, monkeypatch):
    from activation.errors import ActivationError

    entry = {"type": "webhook", "channel": "sms", "url": receiver.url, "signature_scheme": "standard_webhooks"}
    with pytest.raises(ActivationError, match="must be whsec_<base64>"):
        configured(tmp_path, monkeypatch, "std_hook", entry, {"secret": SECRET})


# SMTP: what a receiving server sees (aiosmtpd) ---------------------------------------------------


def test_smtp_messages_carry_one_click_unsubscribe_a_display_name_and_8bitmime(tmp_path, monkeypatch):
    from activation.signing import read_unsubscribe_token
    from tests.fakes.smtp_server import FakeSmtpServer

    server = FakeSmtpServer().start()
    monkeypatch.setenv("ACTIVATE__FEEDBACK__SECRET", "feedback-secret-not-real")
    try:
        entry = {
            "type": "smtp", "channel": "email", "mode": "append", "fields": ["display_name"],
            "host": server.host, "port": server.port, "from_address": "品牌 <news@brand.example.cn>",
            "subject": "会员日, {display_name}", "body_template": "{display_name}，您好！会员日礼券已到账。",
            "unsubscribe_url": "https://feedback.brand.example.cn/feedback/unsubscribe",
        }
        destination = configured(tmp_path, monkeypatch, "newsletter", entry, {})
        result = destination.write_batch(
            [{"external_id": "p1", "email": "alice@example.com", "display_name": "张三"}], "add", "key-1"
        )
        destination.close()
    finally:
        server.stop()

    assert all(outcome.ok for outcome in result.results), result
    [message] = server.messages
    [(mail_from, mail_options)] = server.envelopes
    assert message["From"] == "品牌 <news@brand.example.cn>" and mail_from == "news@brand.example.cn"
    assert message["Content-Transfer-Encoding"] == "8bit" and "BODY=8BITMIME" in mail_options
    assert message.get_content().strip() == "张三，您好！会员日礼券已到账。"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"]
    assert link.startswith("<https://feedback.brand.example.cn/feedback/unsubscribe?token=") and link.endswith(">")
    token = link[1:-1].split("token=", 1)[1]
    assert read_unsubscribe_token("feedback-secret-not-real", token) == {
        "campaign_id": "c1", "one_id": "p1", "destination_name": "newsletter",
    }
    # Nobody can forge one for someone else, and no address is in it.
    assert read_unsubscribe_token("another-secret", token) is None
    assert "alice" not in link
