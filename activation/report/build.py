"""Build the report: read the warehouse once, section by section, and write one HTML file."""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2

from activation import warehouse
from activation.errors import ActivationError
from activation.report import data, sections
from activation.report.catalogue import DEFAULT_LANGUAGE, Catalogue
from activation.settings import Settings

DEFAULT_OUT = Path("data/report.html")
DEFAULT_MIN_CELL = 10
TEMPLATE = Path(__file__).with_name("page.html.j2")


@dataclass(frozen=True)
class ReportResult:
    path: Path
    size_bytes: int
    seconds: float
    as_of: dt.date
    sections: tuple[str, ...]
    charts: int

    def as_dict(self) -> dict:
        return {"path": str(self.path), "size_bytes": self.size_bytes, "seconds": round(self.seconds, 3),
                "as_of": self.as_of.isoformat(), "sections": list(self.sections), "charts": self.charts}


def build_report(settings: Settings, out: Path = DEFAULT_OUT, *, language: str = DEFAULT_LANGUAGE,
                 audiences: list[str] | None = None, campaigns: list[str] | None = None,
                 min_cell: int = DEFAULT_MIN_CELL, brand: str | None = None,
                 now: dt.datetime | None = None) -> ReportResult:
    """Write the report to `out` (atomically) and say what was written."""
    started = time.perf_counter()
    if min_cell < 1:
        raise ActivationError(f"The smallest cell shown must be at least 1 person, got {min_cell}.")
    catalogue = Catalogue(language)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with warehouse.connect(settings.duckdb_path, read_only=True) as connection:
        if not data.relation_exists(connection, "tags", "member_profiles"):
            raise ActivationError(f"{settings.duckdb_path} has no tags.member_profiles: run dbt build first.")
        as_of = data.as_of_date(connection)
        if as_of is None:
            raise ActivationError("tags.member_profiles is empty: land data and run dbt build first.")
        context = sections.Context(connection=connection, catalogue=catalogue, min_cell=min_cell, as_of=as_of,
                                   now=now, audiences=audiences or None, campaigns=campaigns or None)
        built = [section(context) for section in sections.SECTIONS]
    html = _page(catalogue, built, as_of=as_of, now=now, min_cell=min_cell, brand=brand)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    temporary.write_text(html, encoding="utf-8")
    os.replace(temporary, out)
    return ReportResult(path=out, size_bytes=out.stat().st_size, seconds=time.perf_counter() - started,
                        as_of=as_of, sections=tuple(section.key for section in built),
                        charts=sum(len(section.figures) for section in built))


def _page(catalogue: Catalogue, built: list[sections.Section], *, as_of: dt.date, now: dt.datetime,
          min_cell: int, brand: str | None) -> str:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                                     keep_trailing_newline=True)
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        html_lang="zh-CN" if catalogue.language == "zh" else "en",
        title=catalogue.text("page.title"),
        subtitle=catalogue.text("page.subtitle", brand=brand or catalogue.text("page.brand"),
                                as_of=as_of.isoformat(), built_at=f"{now:%Y-%m-%d %H:%M} UTC"),
        contents=catalogue.text("page.contents"),
        sections=built,
        suppressed_note=lambda count: catalogue.text("page.suppressed_note", min_cell=min_cell, count=count),
        footer=catalogue.text("page.footer", min_cell=min_cell),
    )
