"""The touch-point channels that need consent, read from the one list in dbt_project.yml.

The dbt models (macro consent_channels()), the audience contract, the activation CLI and the demo
generator all use var onedata__consent_channels, so a channel cannot be known to one and not to
the other.
"""

from __future__ import annotations

from pathlib import Path

import yaml

DBT_PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt_project.yml"
CONSENT_CHANNELS_VAR = "onedata__consent_channels"


def read_consent_channels(project_file: Path = DBT_PROJECT_FILE) -> tuple[str, ...]:
    project = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    channels = (project.get("vars") or {}).get(CONSENT_CHANNELS_VAR)
    if not channels or not all(isinstance(channel, str) and channel.isidentifier() for channel in channels):
        raise RuntimeError(
            f"{project_file}: var {CONSENT_CHANNELS_VAR} must list the consent channels as plain names, "
            f"got {channels!r}"
        )
    return tuple(channels)


CONSENT_CHANNELS = read_consent_channels()
