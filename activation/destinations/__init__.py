"""Destinations: where a sync sends an audience. One interface (base.Destination), one type per
service, all configured in destinations.yml (config.load_destinations)."""

from activation.destinations.base import (
    MODES,
    BatchResult,
    Destination,
    DestinationConfig,
    Mode,
    Operation,
    Record,
    RecordResult,
    RunInfo,
    SentRecord,
)
from activation.destinations.config import (
    DESTINATION_TYPE_PATHS,
    Destinations,
    FrequencyCap,
    build_destination,
    load_destination_configs,
    load_destinations,
)

__all__ = [
    "DESTINATION_TYPE_PATHS",
    "BatchResult",
    "Destination",
    "DestinationConfig",
    "Destinations",
    "FrequencyCap",
    "MODES",
    "Mode",
    "Operation",
    "Record",
    "RecordResult",
    "RunInfo",
    "SentRecord",
    "build_destination",
    "load_destination_configs",
    "load_destinations",
]
