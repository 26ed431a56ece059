"""mscseq: do donor-derived MSC products share a transcriptomic profile, and where do they differ?

The steps the CLI runs are importable (heavy libraries load on first use)::

    import mscseq
    adata = mscseq.load_dataset(["counts.tsv"], "samples.tsv")
    mscseq.compute_qc(adata); mscseq.normalize(adata); mscseq.explore(adata)
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
    "CompareParams": "mscseq.pipeline",
    "run_compare": "mscseq.pipeline",
    "render_report": "mscseq.report",
    "MscseqError": "mscseq.errors",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    msg = f"module 'mscseq' has no attribute {name!r}"
    raise AttributeError(msg)
