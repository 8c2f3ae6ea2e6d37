"""Typed settings read from the environment, with the defaults the rest of onedata uses."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from activation.errors import ActivationError

DUCKDB_PATH_ENV = "ONEDATA_DUCKDB_PATH"
RAW_DIR_ENV = "ONEDATA_RAW_DIR"
RAW_FORMAT_ENV = "ONEDATA_RAW_FORMAT"
DESTINATIONS_FILE_ENV = "ONEDATA_DESTINATIONS"

DEFAULT_DUCKDB_PATH = Path("data/onedata.duckdb")
DEFAULT_RAW_DIR = Path("data/raw")
DEFAULT_RAW_FORMAT = "parquet"
# The shipped configuration sits beside this module so it works from any working directory.
DEFAULT_DESTINATIONS_FILE = Path(__file__).with_name("destinations.yml")

RAW_FORMATS = ("parquet", "csv")
RawFormat = Literal["parquet", "csv"]

# Schemas fixed by dbt_project.yml (`segments` folder, `onedata__activation_schema` var).
SEGMENTS_SCHEMA = "segments"
MARTS_SCHEMA = "marts"
TAGS_SCHEMA = "tags"
ACTIVATION_SCHEMA = "activation"


@dataclass(frozen=True)
class Settings:
    duckdb_path: Path = DEFAULT_DUCKDB_PATH
    raw_dir: Path = DEFAULT_RAW_DIR
    raw_format: RawFormat = DEFAULT_RAW_FORMAT
    destinations_file: Path = DEFAULT_DESTINATIONS_FILE

    def __post_init__(self) -> None:
        if self.raw_format not in RAW_FORMATS:
            raise ActivationError(
                f"{RAW_FORMAT_ENV} must be one of {', '.join(RAW_FORMATS)}, got {self.raw_format!r}"
            )

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            duckdb_path=Path(os.environ.get(DUCKDB_PATH_ENV, DEFAULT_DUCKDB_PATH)),
            raw_dir=Path(os.environ.get(RAW_DIR_ENV, DEFAULT_RAW_DIR)),
            raw_format=os.environ.get(RAW_FORMAT_ENV, DEFAULT_RAW_FORMAT),
            destinations_file=Path(
                os.environ.get(DESTINATIONS_FILE_ENV, DEFAULT_DESTINATIONS_FILE)
            ),
        )
