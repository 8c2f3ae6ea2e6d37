"""destinations.yml: the shipped file, env references, secrets and typos."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from activation.destinations import load_destination_configs
from activation.destinations.base import SyncGuardrails
from activation.errors import ActivationError
from activation.settings import DEFAULT_DESTINATIONS_FILE


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "destinations.yml"
    path.write_text(textwrap.dedent(body))
    return path


def test_shipped_file_defines_the_csv_drop_and_the_crm_webhook(monkeypatch):
    monkeypatch.delenv("ACTIVATE_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("ONEDATA_OUTBOX_DIR", raising=False)
    configs = load_destination_configs(DEFAULT_DESTINATIONS_FILE)

    assert (configs["csv_drop"].type, configs["csv_drop"].channel) == ("file", "sms")
    assert configs["csv_drop"].options.path == Path("data/outbox")
    assert (configs["crm_webhook"].type, configs["crm_webhook"].channel) == ("webhook", "sms")
    assert configs["crm_webhook"].options.url == "http://127.0.0.1:8765/onedata"
    # `generic` names no other channel's contact key: an SMS destination gets no e-mail.
    assert configs["crm_webhook"].payload_fields == (
        "phone", "display_name", "member_level", "lifecycle_stage", "rfm_group",
    )


def test_env_references_and_secrets_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOOK_URL", "https://crm.example.com/in")
    monkeypatch.setenv("ACTIVATE__CRM__SECRET", "s3cret")
    path = write_config(tmp_path, """
        destinations:
          crm:
            type: webhook
            channel: email
            url: ${HOOK_URL}
            batch_size: ${HOOK_BATCH:-50}
            hashed_fields: [email]
    """)

    config = load_destination_configs(path)["crm"]

    assert config.options.url == "https://crm.example.com/in"
    assert config.options.batch_size == 50
    assert config.payload_fields == ("email",)
    assert config.hashed_fields == {"email"}
    assert config.secrets == {"secret": "s3cret"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("type: webhook\n    channel: sms\n    url: ${NOT_SET_ANYWHERE}", "destinations.broken.url: environment variable NOT_SET_ANYWHERE is not set"),
        ("type: webhook\n    channel: sms\n    url: http://x\n    secret: abc", "ACTIVATE__BROKEN__SECRET"),
        ("type: webhook\n    channel: sms\n    url: http://x\n    batchsize: 5", "destinations.broken.batchsize: unknown key"),
        ("type: webhook\n    channel: fax\n    url: http://x", "destinations.broken.channel: must be 'sms', 'email'.*got 'fax'"),
        ("type: ftp\n    channel: sms", "destinations.broken.type: must be one of webhook, file, .*got 'ftp'"),
        ("type: webhook\n    channel: sms", "destinations.broken.url: missing \\(required\\)"),
        ("type: webhook\n    channel: sms\n    url: http://x\n    batch_size: 0", "destinations.broken.batch_size: must be greater than 0, got 0"),
        ("type: file\n    channel: sms\n    path: out\n    holdout_share: 1", "destinations.broken.holdout_share: must be less than 1, got 1"),
        ("type: file\n    channel: sms\n    path: out\n    fields: [password]", "destinations.broken.fields\\[0\\]: must be .*got 'password'"),
        ("type: file\n    channel: sms\n    path: out\n    hashed_fields: [email]", "destinations.broken.hashed_fields: must be among the fields sent: phone"),
    ],
)
def test_mistakes_are_named(tmp_path, entry, message):
    path = write_config(tmp_path, f"destinations:\n  broken:\n    {entry}\n")

    with pytest.raises(ActivationError, match=message):
        load_destination_configs(path)


def test_sync_guardrails_default_for_every_destination_and_are_overridden_per_destination(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("CRM_ALLOWS_REMOVALS", "true")
    path = write_config(tmp_path, """
        destinations:
          drop:
            type: file
            channel: sms
            path: out
          crm:
            type: file
            channel: sms
            path: out
            sync_guardrails: {max_shrink_share: 0.8, allow_removals: "${CRM_ALLOWS_REMOVALS:-false}"}
        sync_guardrails:
          max_removal_share: 0.25
    """)
    (tmp_path / "bare").mkdir()
    bare = write_config(tmp_path / "bare", "destinations:\n  drop: {type: file, channel: sms, path: out}\n")

    configs = load_destination_configs(path)

    assert configs["drop"].guardrails == SyncGuardrails(0.25, 0.5, False)
    assert configs["crm"].guardrails == SyncGuardrails(0.25, 0.8, True)
    assert load_destination_configs(bare)["drop"].guardrails == SyncGuardrails(0.10, 0.50, False)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("sync_guardrails: {max_removal_share: 10}",
         "sync_guardrails.max_removal_share: must be less than or equal to 1, got 10"),
        ("sync_guardrails: {max_shrink_share: -0.1}", "sync_guardrails.max_shrink_share: must be greater than or equal to 0, got -0.1"),
        ("sync_guardrails: {max_removal_share: ten}", "sync_guardrails.max_removal_share: must be a valid number.*got 'ten'"),
        ("sync_guardrails: {max_removal_share: yes}", "sync_guardrails.max_removal_share: must be a number, not true or false"),
        ("sync_guardrails: {max_removal_share: 10%}", "sync_guardrails.max_removal_share: must be a valid number.*got '10%'"),
        ("sync_guardrails: {allow_removals: true}", "allow_removals is set per destination"),
        ("sync_guardrails: {max_removals: 0.2}", "sync_guardrails.max_removals: unknown key"),
        ("sync_guardrails: 0.1", "sync_guardrails: must be a mapping, got 0.1"),
        ("sync_guardrails: {max_removal_share: '${NOT_SET_ANYWHERE}'}", "NOT_SET_ANYWHERE is not set"),
        ("destinations:\n  drop:\n    sync_guardrails: {allow_removals: maybe}",
         "destinations.drop.sync_guardrails.allow_removals: must be a valid boolean.*got 'maybe'"),
        ("destinations:\n  drop:\n    sync_guardrails: {max_shrink_share: 2}",
         "destinations.drop.sync_guardrails.max_shrink_share: must be less than or equal to 1, got 2"),
        ("destinations:\n  drop:\n    sync_guardrails: [allow_removals]",
         "destinations.drop.sync_guardrails: must be a mapping"),
    ],
)
def test_sync_guardrail_mistakes_are_named(tmp_path, document, message):
    """Top-level keys apply to every destination; a destination's own go under it."""
    drop = "type: file\n    channel: sms\n    path: out"
    if document.startswith("destinations:"):
        body = document.replace("  drop:\n", f"  drop:\n    {drop}\n")
    else:
        body = f"destinations:\n  drop:\n    {drop}\n{document}\n"
    path = write_config(tmp_path, body)

    with pytest.raises(ActivationError, match=message):
        load_destination_configs(path)
