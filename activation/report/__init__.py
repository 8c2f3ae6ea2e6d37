"""The insight report: one self-contained HTML file a marketer opens offline (`activate report`)."""

from activation.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
