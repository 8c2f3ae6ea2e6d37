"""Destinations: where a sync sends an audience. One interface (base.Destination), two types."""

from activation.destinations.base import (
    MODES,
    Mode,
    BatchResult,
    Destination,
    DestinationConfig,
    Operation,
    Record,
    RecordResult,
    RunInfo,
    SentRecord,
)
from activation.destinations.config import (
    DESTINATION_TYPES,
    FrequencyCap,
    build_destination,
    load_destination_configs,
    load_frequency_caps,
)

__all__ = [
    "DESTINATION_TYPES",
    "FrequencyCap",
    "BatchResult",
    "Destination",
    "MODES",
    "Mode",
    "DestinationConfig",
    "Operation",
    "Record",
    "RecordResult",
    "RunInfo",
    "SentRecord",
    "build_destination",
    "load_destination_configs",
    "load_frequency_caps",
]
