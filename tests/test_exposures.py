"""The Python readers of the warehouse declare what they read: every table `activate explain`
names is a ref of its exposure (models/__exposures.yml)."""

from __future__ import annotations

import re

import yaml

from activation import explain
from tests.conftest import PROJECT_DIR


def _exposure(name: str) -> dict:
    document = yaml.safe_load((PROJECT_DIR / "models" / "__exposures.yml").read_text())
    return next(exposure for exposure in document["exposures"] if exposure["name"] == name)


def test_explain_declares_every_table_it_reads():
    tables = {
        value.split(".", 1)[1]
        for value in vars(explain).values()
        if isinstance(value, str) and re.fullmatch(r"(marts|intermediate)\.\w+", value)
    }
    declared = {re.fullmatch(r"ref\('(\w+)'\)", ref).group(1) for ref in _exposure("activate_explain")["depends_on"]}
    assert len(tables) >= 4
    assert tables == declared
