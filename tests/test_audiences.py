"""Audience listing and preview: sizes, masking, portrait."""

from __future__ import annotations

import pytest

from activation.audiences import list_audience_sizes, preview_audience
from activation.masking import mask_email, mask_name, mask_phone, scrub_pii
from tests.conftest import AUDIENCE, make_member


@pytest.mark.parametrize(
    ("mask", "value", "masked"),
    [
        (mask_phone, "13812345678", "138****5678"),
        (mask_phone, "1381", "****"),
        (mask_email, "alice@example.com", "a***@example.com"),
        (mask_email, "no-at-sign", "***"),
        (mask_name, "张三丰", "张**"),
        (mask_name, None, None),
    ],
)
def test_masks(mask, value, masked):
    assert mask(value) == masked


def test_scrub_pii_masks_phones_and_emails_inside_text():
    assert scrub_pii("bad 13812345678 / bob@example.com; id 213812345678") == (
        "bad 138****5678 / b***@example.com; id 213812345678"
    )


def test_audience_sizes_count_members_and_consent(settings):
    [size] = list_audience_sizes(settings)

    members = [make_member(n) for n in range(1, 61)]
    assert (size.name, size.size) == (AUDIENCE, 60)
    assert size.consented["sms"] == sum(m["is_sms_consented"] is True for m in members)
    assert size.consented["email"] == sum(m["is_email_consented"] for m in members)


def test_preview_masks_the_sample_and_describes_the_crowd(settings):
    preview = preview_audience(settings, f"seg_{AUDIENCE}", limit=3)

    assert (preview.name, preview.size, len(preview.sample)) == (AUDIENCE, 60, 3)
    first = preview.sample[0]
    assert first["one_id"] == "p00001"
    assert (first["phone"], first["email"], first["display_name"]) == (
        "138****0001", "u***@example.com", "张**",
    )
    assert {share.value: share.count for share in preview.portrait["member_level"]} == {
        "normal": 15, "silver": 15, "gold": 15, "platinum": 15,
    }
    assert sum(share.share for share in preview.portrait["rfm_group"]) == pytest.approx(1)
    assert preview.consent_rates["email"] == pytest.approx(40 / 60)
