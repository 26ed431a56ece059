"""Constants and helpers shared by the report tests (imported by name: tests/ is not a package)."""

from __future__ import annotations

import json
from pathlib import Path

HOSTILE_SAMPLE = "P03<img src=x onerror=alert(1)>"
HOSTILE_GENE = "</script><script>alert(1)</script>"
HOSTILE_VALUE = 'P4"><svg onload=alert(3)>'
#: Gene given the hostile symbol: the most significant gene of cohort B vs A in the example study.
HOSTILE_GENE_ID = "SIMG02236"


def load_parts(folder: Path):
    """(adata, summary, run_info) of an output folder."""
    import anndata as ad

    adata = ad.read_h5ad(folder / "mscseq.h5ad")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    run_info = json.loads((folder / "run_info.json").read_text(encoding="utf-8"))
    return adata, summary, run_info


def fake_comparability(
    samples: list[str], *, outlier: str = "P09", verdict: str = "not_comparable"
) -> dict:
    """A comparability block shaped like ``summary.json``'s, for rendering tests."""
    products = [
        {"sample": s, "status": "outlier" if s == outlier else "consistent", "reasons": []}
        for s in samples
    ]
    for p in products:
        if p["status"] == "outlier":
            p["reasons"] = [
                "low median correlation with the other products (0.9612; robust z 8.1 > 3.5)"
            ]
    return {
        "verdict": verdict,
        "rule": "comparable when no product is an outlier and at least 95 % of tested genes are equivalent within ±1 log2",
        "metrics": {"n_products": len(samples), "n_outliers": 1, "fraction_equivalent": 0.962},
        "products": products,
        "caveats": ["3 reference lots only: the quality ranges are wide"],
        "panels": {
            "flags": [
                {
                    "sample": outlier,
                    "panel": "isct_identity",
                    "message": "negative marker(s) PTPRC, CD34 expressed",
                }
            ]
        },
        "permanova": {"pseudo_f": 1.8, "p_value": 0.041, "permutations": 999},
        "permdisp": {"f": 0.7, "p_value": 0.42, "permutations": 999},
    }
