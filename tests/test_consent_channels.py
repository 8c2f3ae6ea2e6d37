"""One list of consent channels (var onedata__consent_channels in dbt_project.yml): the dbt macro,
the audience contract, the activation CLI's configuration and every per-channel table in Python
follow it."""

from __future__ import annotations

import re

import pytest
import yaml

from activation.channels import CONSENT_CHANNELS, read_consent_channels
from activation.demo.marketing import CONSENT_RULES
from activation.destinations.base import CHANNEL_ADDRESS_FIELDS
from activation.report.data import CHANNEL_ADDRESS
from activation.warehouse import AUDIENCE_COLUMNS
from tests.conftest import PROJECT_DIR


def test_the_macro_reads_the_var_that_python_reads():
    macro = (PROJECT_DIR / "macros" / "utils" / "consent_channels.sql").read_text()
    assert "var('onedata__consent_channels')" in macro
    assert not re.search(r"'sms'|'wecom'", macro), "the macro must not keep its own list"
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())
    assert tuple(project["vars"]["onedata__consent_channels"]) == CONSENT_CHANNELS


def test_the_audience_contract_has_one_consent_flag_per_channel_in_order():
    contract = yaml.safe_load((PROJECT_DIR / "models" / "segments" / "_segments__models.yml").read_text())
    columns = [column["name"] for column in contract["x-audience-columns"]]
    flags = [name for name in columns if re.fullmatch(r"is_\w+_consented", name)]
    assert flags == [f"is_{channel}_consented" for channel in CONSENT_CHANNELS]
    assert [c for c in AUDIENCE_COLUMNS if c.endswith("_consented")] == flags


@pytest.mark.parametrize("table", [CONSENT_RULES, CHANNEL_ADDRESS_FIELDS, CHANNEL_ADDRESS],
                         ids=["demo consent rules", "destination address fields", "report reach"])
def test_every_per_channel_table_covers_exactly_the_channels(table):
    assert set(table) == set(CONSENT_CHANNELS)


def test_a_project_file_without_the_list_is_a_clear_error(tmp_path):
    project = tmp_path / "dbt_project.yml"
    project.write_text("name: onedata\nvars: {}\n")
    with pytest.raises(RuntimeError, match="onedata__consent_channels"):
        read_consent_channels(project)
