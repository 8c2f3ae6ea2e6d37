"""SMTP destination against a real SMTP server on loopback (aiosmtpd): the conformance suite,
then what is SMTP's own: the message, Message-ID deduplication, refusals, reconnects, login."""

from __future__ import annotations

import socket
from collections import Counter

import pytest
import yaml

from activation.destinations import build_destination, load_destination_configs
from activation.destinations.smtp import message_id
from activation.errors import ActivationError, DestinationError
from tests.conformance import RECORDS, RUN, DestinationConformance
from tests.fakes.smtp_server import FakeSmtpServer

# The fake takes a login without TLS on loopback; aiosmtpd warns about that on each connection.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

USERNAME, PASSWORD = "mailer", "test-smtp-password"
USERNAME_VAR, PASSWORD_VAR = "ACTIVATE__TEST_SMTP__USERNAME", "ACTIVATE__TEST_SMTP__PASSWORD"
SETTINGS = {
    "from_address": "news@brand.example",
    "subject": "会员日",
    "body_template": "Hi {display_name}, your level: {member_level}.",
    "fields": ["display_name", "member_level"],
}


@pytest.fixture
def service():
    server = FakeSmtpServer(USERNAME, PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def build(tmp_path, monkeypatch):
    """Build a started SMTP destination for a server; login secrets set unless told not to."""
    built = []

    def make(server, login=True, **settings):
        if login:
            monkeypatch.setenv(USERNAME_VAR, USERNAME)
            monkeypatch.setenv(PASSWORD_VAR, PASSWORD)
        entry = {
            "type": "smtp",
            "channel": "email",
            "host": server.host,
            "port": server.port,
            "timeout_seconds": 5,
            "max_retries": 3,
            "backoff_base_seconds": 0.01,
            **SETTINGS,
            **settings,
        }
        path = tmp_path / "destinations.yml"
        path.write_text(yaml.safe_dump({"destinations": {"test_smtp": entry}}, allow_unicode=True), encoding="utf-8")
        destination = build_destination(load_destination_configs(path)["test_smtp"])
        destination.start_run(RUN)
        built.append(destination)
        return destination

    yield make
    for destination in built:
        destination.close()


class TestSmtpConformance(DestinationConformance):
    @pytest.fixture
    def destination(self, build, service):
        return build(service)


def records(*numbers):
    fields = ("external_id", "email", "display_name", "member_level")
    return [{key: RECORDS[n - 1][key] for key in fields} for n in numbers or (1, 2, 3)]


def errors(result):
    return {outcome.external_id: outcome.error for outcome in result.results}


# --- the message ----------------------------------------------------------------------------


def test_one_message_per_record_with_a_derived_message_id(build, service):
    destination = build(service)

    result = destination.write_batch(records(), "add", "key-1")

    first = service.messages[0]
    assert first["From"] == "news@brand.example"
    assert first["To"] == "User1@Example.com"  # trimmed, as the member gave it
    assert first["Subject"] == "会员日"
    assert first.get_content().rstrip() == "Hi 张1, your level: gold."
    assert service.messages[1].get_content().rstrip() == "Hi 张2, your level: ."  # None is empty
    assert first["X-Onedata-External-Id"] == "p00001"
    assert first["X-Onedata-Campaign-Id"] == "c1"
    assert first["Message-ID"] == message_id("key-1", "p00001", "news@brand.example")
    assert [outcome.reference for outcome in result.results] == [m["Message-ID"] for m in service.messages]
    assert len({m["Message-ID"] for m in service.messages}) == 3
    assert service.logins == 1  # one session for the batch


def test_a_batch_written_again_carries_the_same_message_ids(build, service):
    # The sync never resends an SMTP batch; if one were written twice, a receiving side that
    # deduplicates by Message-ID could drop the copies.
    destination = build(service)
    first = destination.write_batch(records(), "add", "key-1")

    again = destination.write_batch(records(), "add", "key-1")
    other = destination.write_batch(records(1), "add", "key-2")

    assert [o.reference for o in again.results] == [o.reference for o in first.results]
    assert service.duplicates == 3
    assert other.results[0].reference != again.results[0].reference


def test_a_message_whose_250_was_lost_is_not_sent_again_and_comes_back_unknown(build, service):
    destination = build(service)
    service.inject("ok", "drop_after_data")  # the second message is queued, its answer lost

    result = destination.write_batch(records(), "add", "key-1")

    outcomes = {outcome.external_id: outcome for outcome in result.results}
    assert outcomes["p00002"].unknown and outcomes["p00002"].error is None
    assert outcomes["p00002"].reference == message_id("key-1", "p00002", "news@brand.example")
    assert not outcomes["p00001"].unknown and not outcomes["p00003"].unknown
    assert service.delivered("add") == Counter(["p00001", "p00002", "p00003"])
    assert service.duplicates == 0


def test_a_connection_lost_before_the_end_of_data_is_resent(build, service):
    destination = build(service)
    service.inject("drop")  # at MAIL FROM: nothing of the message reached the server

    result = destination.write_batch(records(), "add", "key-1")

    assert all(outcome.ok and not outcome.unknown for outcome in result.results)
    assert service.delivered("add") == Counter(["p00001", "p00002", "p00003"])


def test_a_record_without_a_usable_address_is_rejected_before_sending(build, service):
    destination = build(service)
    broken = {**records(1)[0], "external_id": "p00009", "email": "not-an-address"}

    result = destination.write_batch([broken, *records(2)], "add", "key-1")

    assert errors(result) == {"p00009": "no valid email address (not sent)", "p00002": None}
    assert service.mail_commands == 1


def test_a_line_break_in_a_subject_field_cannot_write_headers(build, service):
    destination = build(service, subject="For {display_name}")
    sneaky = {**records(1)[0], "display_name": "Zhang\r\nBcc: everyone@example.com"}

    result = destination.write_batch([sneaky], "add", "key-1")

    assert "line break" in errors(result)["p00001"]
    assert service.messages == []


# --- refusals and transient failures -----------------------------------------------------------


def test_a_refused_recipient_is_rejected_with_the_reply_masked_and_the_session_goes_on(build, service):
    destination = build(service)
    service.refuse_recipient("User2@Example.com", "mailbox unavailable")

    result = destination.write_batch(records(), "add", "key-1")

    assert errors(result)["p00002"] == (
        "550 5.1.1 <U***@Example.com>: Recipient address rejected: mailbox unavailable"
    )
    assert [errors(result)["p00001"], errors(result)["p00003"]] == [None, None]
    assert service.logins == 1


def test_a_server_failing_mid_batch_keeps_what_was_taken_and_rejects_the_rest(build, service):
    destination = build(service)
    service.inject("ok", *["server_error"] * 4)  # max_retries 3: the 4th failure in a row ends it

    result = destination.write_batch(records(), "add", "key-1")

    assert errors(result)["p00001"] is None
    assert errors(result)["p00002"] == errors(result)["p00003"] == (
        "not sent: the server kept failing (last: 451 4.3.0 Temporary local problem, try again later)"
    )
    assert service.delivered("add") == Counter(["p00001"])


def test_a_server_that_takes_nothing_stops_the_sync(build, service):
    destination = build(service)
    service.inject(*["throttle"] * 4)

    with pytest.raises(DestinationError, match="took no message of the batch after 4 attempts.*421"):
        destination.write_batch(records(), "add", "key-1")


def test_an_unreachable_server_stops_the_sync(build):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there

    class Nowhere:
        host = "127.0.0.1"

    Nowhere.port = port
    destination = build(Nowhere, login=False)

    with pytest.raises(DestinationError, match="ConnectionRefusedError"):
        destination.write_batch(records(1), "add", "key-1")


# --- login ----------------------------------------------------------------------------------


def test_a_wrong_password_stops_the_sync_without_showing_it(build, service, monkeypatch):
    monkeypatch.setenv(USERNAME_VAR, USERNAME)
    monkeypatch.setenv(PASSWORD_VAR, "wrong-password")
    destination = build(service, login=False)

    with pytest.raises(DestinationError) as raised:
        destination.write_batch(records(1), "add", "key-1")

    assert "535" in str(raised.value) and PASSWORD_VAR in str(raised.value)
    assert "wrong-password" not in str(raised.value)


def test_a_server_without_login_needs_no_secrets(build, monkeypatch):
    monkeypatch.delenv(USERNAME_VAR, raising=False)
    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    server = FakeSmtpServer().start()
    try:
        destination = build(server, login=False)
        destination.check()

        result = destination.write_batch(records(), "add", "key-1")

        assert all(outcome.ok for outcome in result.results)
        assert server.logins == 0
    finally:
        server.stop()


def test_a_server_that_wants_a_login_it_did_not_get_stops_the_sync(build, service, monkeypatch):
    monkeypatch.delenv(USERNAME_VAR, raising=False)
    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    destination = build(service, login=False)

    with pytest.raises(DestinationError, match="530 5.7.0 Authentication required"):
        destination.write_batch(records(1), "add", "key-1")


def test_starttls_against_a_server_without_it_stops_the_sync(build, service):
    destination = build(service, starttls=True)

    with pytest.raises(DestinationError, match="STARTTLS"):
        destination.write_batch(records(1), "add", "key-1")


# --- configuration ------------------------------------------------------------------------------


def test_half_a_login_is_named(build, service, monkeypatch):
    monkeypatch.delenv(PASSWORD_VAR, raising=False)
    monkeypatch.setenv(USERNAME_VAR, USERNAME)

    with pytest.raises(ActivationError, match=PASSWORD_VAR):
        build(service, login=False).check()


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"body_template": "Hi {nickname}"}, r"\{nickname\} is not a field sent"),
        ({"body_template": "Hi {display_name.__class__}"}, "is not a field sent"),
        ({"subject": "Hi {"}, "subject: not a valid template"),
        ({"starttls": True, "use_ssl": True}, "exclude each other"),
        ({"from_address": "news"}, "from_address 'news' is not an e-mail address"),
        ({"hashed_fields": ["email"]}, "email cannot be hashed"),
    ],
)
def test_check_explains_bad_settings(build, service, settings, says):
    with pytest.raises(ActivationError, match=says):
        build(service, **settings).check()


def test_mail_takes_adds_only(build, service):
    with pytest.raises(ActivationError, match="takes adds, not remove"):
        build(service).write_batch([{"external_id": "p00001"}], "remove", "key-1")


def test_only_append_mode_is_accepted(build, service):
    with pytest.raises(ActivationError, match="mode: a smtp destination supports mode append, got 'mirror'"):
        build(service, mode="mirror")
