"""Destinations: where a sync sends an audience. One interface (base.Destination), two types."""

from activation.destinations.base import (
    BatchResult,
    Destination,
    DestinationConfig,
    Operation,
    Record,
    RecordResult,
    RunInfo,
)
from activation.destinations.config import (
    DESTINATION_TYPES,
    build_destination,
    load_destination_configs,
)

__all__ = [
    "DESTINATION_TYPES",
    "BatchResult",
    "Destination",
    "DestinationConfig",
    "Operation",
    "Record",
    "RecordResult",
    "RunInfo",
    "build_destination",
    "load_destination_configs",
]
