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
    """A comparability block shaped like ``summary.json``'s (see ``mscseq.comparability``), for rendering tests."""
    flag = "negative marker(s) PTPRC, CD34 expressed"
    products = [
        {
            "sample": s,
            "status": "outlier" if s == outlier else "consistent",
            "reasons": [],
            "flags": [],
        }
        for s in samples
    ]
    for p in products:
        if p["status"] == "outlier":
            p["reasons"] = ["low median correlation with its peers (0.9551; robust z 17.4 > 3.5)"]
            p["flags"] = [flag]
    zc = {s: (17.4 if s == outlier else 0.1 * i) for i, s in enumerate(samples)}
    return {
        "verdict": verdict,
        "rule": "inconclusive if fewer than 3 products; not_comparable if any product is an outlier; comparable otherwise",
        "reasons": [f"outlier product(s): {outlier}"]
        if verdict == "not_comparable"
        else ["no outlier"],
        "metrics": {
            "n_products": len(samples),
            "n_outliers": 1 if verdict == "not_comparable" else 0,
            "outliers": [outlier] if verdict == "not_comparable" else [],
            "group": "cohort",
            "margin": 1.0,
            "alpha": 0.1,
            "mad_z_threshold": 3.5,
            "contrasts": [
                {
                    "name": "cohort_B_vs_A",
                    "n_tested": 2900,
                    "n_equivalent": 2790,
                    "fraction_equivalent": 0.962,
                    "n_tested_beyond": 2900,
                    "n_beyond_margin": 3,
                    "fraction_beyond_margin": 0.001,
                }
            ],
        },
        "products": products,
        "caveats": ["3 reference lots only: the quality ranges are wide"],
        "similarity": {
            "genes_used": 2475,
            "median_correlation": dict.fromkeys(samples, 0.97),
            "centroid_distance": dict.fromkeys(samples, 10.0),
            "z_correlation": zc,
            "z_distance": zc,
            "concordance": dict.fromkeys(samples, 0.98),
            "clusters": {"labels": [1] * len(samples), "sizes": [len(samples)], "silhouette": None},
        },
        "equivalence": [
            {
                "name": "cohort_B_vs_A",
                "target": "B",
                "reference": "A",
                "n_target": 6,
                "n_reference": 9,
                "margin": 1.0,
                "alpha": 0.1,
                "n_tested": 2900,
                "n_equivalent": 2790,
                "fraction_equivalent": 0.962,
                "n_tested_beyond": 2900,
                "n_beyond_margin": 3,
                "fraction_beyond_margin": 0.001,
                "top_beyond_margin": [
                    {
                        "gene_id": "SIMG00001",
                        "gene_name": "SIM1",
                        "log2FoldChange": 1.8,
                        "padj": 0.01,
                    }
                ],
            }
        ],
        "permanova": {
            "pseudo_f": 1.8,
            "r2": 0.12,
            "p_value": 0.041,
            "permutations": 999,
            "scheme": "free",
            "n_samples": len(samples),
            "n_groups": 2,
            "min_p_value": 0.001,
        },
        "permdisp": {
            "f": 0.7,
            "p_value": 0.42,
            "permutations": 999,
            "test": "median",
            "mean_distance": {"A": 10.0, "B": 11.0},
        },
        "variance_partition": {
            "donor": "donor",
            "fixed": ["cohort"],
            "n_genes": 2475,
            "method": "REML",
            "fractions": {
                "donor": {"median": 0.3, "q1": 0.1, "q3": 0.5},
                "cohort": {"median": 0.05, "q1": 0.01, "q3": 0.1},
                "residual": {"median": 0.6, "q1": 0.4, "q3": 0.8},
            },
        },
        "quality_range": {
            "k": 3.0,
            "n_reference": 3,
            "n_genes": 50,
            "fraction_in_range": 0.97,
            "products": [{"sample": samples[0], "fraction_in_range": 0.96, "outside": ["CD34"]}],
        },
        "panels": {
            "panels": [{"panel": "isct_identity", "n_genes": 10, "n_found": 10, "missing": []}],
            "scores": {s: {"isct_identity": 0.1, "senescence": -0.2} for s in samples},
            "flags": {outlier: [flag]},
            "potency_variability": [
                {"gene_id": "ENSG00000131203", "symbol": "IDO1", "sd_log2": 0.5, "range_log2": 1.8}
            ],
            "user_panels": [],
        },
        "settings": {"group": "cohort", "reference": "A", "margin": 1.0, "permutations": 999},
        "future_section": {"note": "shown generically"},
    }
