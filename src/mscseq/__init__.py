"""mscseq: do donor-derived MSC products share a transcriptomic profile, and where do they differ?

The steps the CLI runs are importable (heavy libraries load on first use), with the CLI's defaults
(:class:`DEOptions`, :class:`ComparabilityOptions`); see ``docs/api.md``::

    import mscseq
    adata = mscseq.load_dataset(["counts.tsv"], "samples.tsv")        # read
    mscseq.compute_qc(adata); mscseq.normalize(adata); mscseq.explore(adata)
    de = mscseq.DEOptions(design="~ cohort", contrasts=[mscseq.Contrast.parse("cohort,B,A")])
    fit = mscseq.run_de(adata, de)                                     # one DESeq2 fit, every contrast
    mscseq.run_comparability(adata, group="cohort", design=de.design, fit=fit)  # verdict in adata.uns
    summary = mscseq.build_summary(adata)                              # summary.json as a dict
    html = mscseq.render_report(adata, summary=summary)                # report.html as text
    mscseq.figures.pca(adata)                                          # the report's figures
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "load_dataset": "mscseq.io",
    "read_counts": "mscseq.io",
    "read_sheet": "mscseq.io",
    "compute_qc": "mscseq.qc",
    "normalize": "mscseq.normalize",
    "explore": "mscseq.explore",
    "run_de": "mscseq.de.run",
    "differential_expression": "mscseq.de.run",
    "Contrast": "mscseq.de.design",
    "DEOptions": "mscseq.options",
    "ComparabilityOptions": "mscseq.options",
    "CompareParams": "mscseq.pipeline",
    "run_compare": "mscseq.pipeline",
    "render_report": "mscseq.report",
    "MscseqError": "mscseq.errors",
    "run_comparability": "mscseq.comparability",
    "build_summary": "mscseq.outputs",
    "validate_summary": "mscseq.schemas",
    "collect_summaries": "mscseq.batch",
}

#: Submodules reachable as attributes after a plain ``import mscseq``.
_SUBMODULES = ("figures",)

__all__ = ["__version__", *_API, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    if name in _SUBMODULES:
        return import_module(f"mscseq.{name}")
    msg = f"module 'mscseq' has no attribute {name!r}"
    raise AttributeError(msg)
