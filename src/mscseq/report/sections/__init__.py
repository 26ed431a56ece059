"""The report's sections, one module per template in ``templates/sections/`` (same name).

Each module's ``section`` function reads what its part of the report shows from the AnnData,
``summary.json`` and ``run_info.json``, formats it for display (:mod:`mscseq.report.fmt`) and registers its
figures (:mod:`mscseq.report.figdata`) in the shared :class:`Figures` collection. Nothing here computes
statistics. A new section is a module here, a template of the same name and a line in
:data:`mscseq.report.render.NAV`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figures:
    """The figures of one report, by element id, embedded once as JSON."""

    specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, fig_id: str, spec: dict[str, Any]) -> str:
        """Register a figure and return its id."""
        self.specs[fig_id] = spec
        return fig_id
