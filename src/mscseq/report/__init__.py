"""The self-contained HTML report."""

from mscseq.report.render import render_report

__all__ = ["render_report"]
