"""Generate mscseq's simulated example data (seeded, deterministic).

Run ``python test_data/generate.py`` from the repository root; it rewrites the files below
``test_data/`` byte for byte. Nothing here is real patient data.

Two studies are written:

``example/`` — a release-comparability study (the README example)
    12 donor-derived MSC products made in two production cohorts (A: D01–D06, B: D07–D12) plus three
    reference lots (REF1–REF3). Counts are negative binomial with a realistic DESeq2-like
    mean–dispersion trend (dispersion = 0.04 + 1.5 / mean, log-normal scatter). Each donor carries its
    own small random expression offsets; cohort B differs from cohort A by small shifts
    (|log2 FC| ≤ 0.4) in 3 % of genes, i.e. the cohorts are comparable within a 1-log2 margin. Product
    D09 is contaminated with haematopoietic cells (PTPRC, CD34, CD14, ITGAM, HLA-DRA up) and has a
    broader expression shift, so it should be flagged as an outlier.

``licensing/`` — donors with technical replicates and an IFN-γ licensing condition
    6 donors × {control, IFNg} × 2 technical replicates. IFN-γ induces the licensing genes (IDO1,
    CXCL9, CXCL10, CD274, STAT1, IRF1, HLA-DRA, ...) and 5 % of other genes; donor effects are larger
    than in ``example/`` so that donor explains a visible share of variance.

Genes: 3,000 in all. The MSC marker and panel genes carry their real human Ensembl gene IDs and HGNC
symbols; the other genes are simulated and named ``SIMG00001``... (symbol ``SIM1``...).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20221101
N_GENES = 3000
HERE = Path(__file__).resolve().parent

#: Real marker genes: (Ensembl ID, symbol, log10 mean normalised count in undisturbed MSC).
MARKERS = [
    ("ENSG00000135318", "NT5E", 3.6),
    ("ENSG00000154096", "THY1", 3.7),
    ("ENSG00000106991", "ENG", 3.3),
    ("ENSG00000170017", "ALCAM", 3.0),
    ("ENSG00000026508", "CD44", 4.0),
    ("ENSG00000150093", "ITGB1", 3.9),
    ("ENSG00000076706", "MCAM", 2.8),
    ("ENSG00000113721", "PDGFRB", 3.3),
    ("ENSG00000134853", "PDGFRA", 3.0),
    ("ENSG00000081237", "PTPRC", 0.3),
    ("ENSG00000174059", "CD34", 0.6),
    ("ENSG00000170458", "CD14", 0.5),
    ("ENSG00000169896", "ITGAM", 0.2),
    ("ENSG00000105369", "CD79A", 0.1),
    ("ENSG00000177455", "CD19", 0.1),
    ("ENSG00000204287", "HLA-DRA", 0.8),
    ("ENSG00000196126", "HLA-DRB1", 0.7),
    ("ENSG00000179583", "CIITA", 0.5),
    ("ENSG00000131203", "IDO1", 0.6),
    ("ENSG00000073756", "PTGS2", 2.0),
    ("ENSG00000123610", "TNFAIP6", 2.2),
    ("ENSG00000019991", "HGF", 1.9),
    ("ENSG00000120217", "CD274", 1.2),
    ("ENSG00000204632", "HLA-G", 0.7),
    ("ENSG00000105329", "TGFB1", 3.0),
    ("ENSG00000136244", "IL6", 2.4),
    ("ENSG00000128342", "LIF", 1.8),
    ("ENSG00000138755", "CXCL9", 0.3),
    ("ENSG00000169245", "CXCL10", 0.5),
    ("ENSG00000115415", "STAT1", 2.8),
    ("ENSG00000125347", "IRF1", 2.0),
    ("ENSG00000117228", "GBP1", 1.5),
    ("ENSG00000187608", "ISG15", 2.0),
    ("ENSG00000185338", "SOCS1", 1.0),
    ("ENSG00000148344", "PTGES", 1.6),
    ("ENSG00000100292", "HMOX1", 2.6),
    ("ENSG00000136689", "IL1RN", 1.3),
    ("ENSG00000108691", "CCL2", 3.2),
    ("ENSG00000162692", "VCAM1", 2.1),
    ("ENSG00000090339", "ICAM1", 2.2),
    ("ENSG00000136634", "IL10", 0.2),
    ("ENSG00000147889", "CDKN2A", 1.5),
    ("ENSG00000124762", "CDKN1A", 3.0),
    ("ENSG00000141510", "TP53", 2.5),
    ("ENSG00000106366", "SERPINE1", 3.8),
    ("ENSG00000170266", "GLB1", 2.6),
    ("ENSG00000113368", "LMNB1", 2.3),
    ("ENSG00000146674", "IGFBP3", 3.4),
    ("ENSG00000163453", "IGFBP7", 3.5),
    ("ENSG00000148773", "MKI67", 2.3),
    ("ENSG00000131747", "TOP2A", 2.5),
    ("ENSG00000134057", "CCNB1", 2.3),
    ("ENSG00000132646", "PCNA", 2.7),
    ("ENSG00000073111", "MCM2", 2.3),
    ("ENSG00000089685", "BIRC5", 2.0),
    ("ENSG00000145386", "CCNA2", 2.0),
    ("ENSG00000164104", "HMGB2", 2.6),
    ("ENSG00000101412", "E2F1", 1.6),
    ("ENSG00000111640", "GAPDH", 4.2),
    ("ENSG00000075624", "ACTB", 4.4),
    ("ENSG00000108821", "COL1A1", 4.5),
    ("ENSG00000164692", "COL1A2", 4.3),
    ("ENSG00000026025", "VIM", 4.4),
    ("ENSG00000115414", "FN1", 4.5),
    ("ENSG00000107796", "ACTA2", 3.6),
    ("ENSG00000149591", "TAGLN", 3.7),
    ("ENSG00000124813", "RUNX2", 2.2),
    ("ENSG00000125398", "SOX9", 2.0),
    ("ENSG00000132170", "PPARG", 1.2),
    ("ENSG00000162551", "ALPL", 1.8),
    ("ENSG00000122691", "TWIST1", 2.4),
    ("ENSG00000116132", "PRRX1", 2.5),
    ("ENSG00000107562", "CXCL12", 3.1),
    ("ENSG00000112715", "VEGFA", 2.7),
    ("ENSG00000166710", "B2M", 3.9),
]
CONTAMINATION = {
    "PTPRC": 4.0,
    "CD34": 3.0,
    "CD14": 3.5,
    "ITGAM": 3.0,
    "HLA-DRA": 3.5,
    "HLA-DRB1": 3.0,
    "CD79A": 2.0,
}
LICENSING = {
    "IDO1": 7.0,
    "CXCL9": 8.0,
    "CXCL10": 7.5,
    "CD274": 3.0,
    "STAT1": 2.5,
    "IRF1": 3.0,
    "HLA-DRA": 5.0,
    "HLA-DRB1": 4.5,
    "CIITA": 4.0,
    "GBP1": 4.0,
    "ISG15": 3.0,
    "SOCS1": 2.5,
    "HLA-G": 1.5,
    "PTGS2": 1.0,
    "TNFAIP6": 1.2,
    "B2M": 1.0,
}


def genes(rng: np.random.Generator) -> pd.DataFrame:
    """Gene table: ID, symbol, log10 base mean."""
    n_sim = N_GENES - len(MARKERS)
    ids = [m[0] for m in MARKERS] + [f"SIMG{i:05d}" for i in range(1, n_sim + 1)]
    names = [m[1] for m in MARKERS] + [f"SIM{i}" for i in range(1, n_sim + 1)]
    log_mean = np.concatenate(
        [[m[2] for m in MARKERS], rng.normal(1.8, 0.9, n_sim).clip(-1.0, 5.0)]
    )
    return pd.DataFrame({"gene_id": ids, "gene_name": names, "log10_mean": log_mean})


def nb_counts(rng: np.random.Generator, mean: np.ndarray, disp: np.ndarray) -> np.ndarray:
    """Negative-binomial draws (gamma–Poisson mixture) with the given means and dispersions."""
    shape = 1.0 / disp
    lam = rng.gamma(shape, mean / shape)
    return rng.poisson(lam)


def dispersions(rng: np.random.Generator, base: np.ndarray) -> np.ndarray:
    """DESeq2-like trend plus log-normal scatter."""
    return (0.04 + 1.5 / np.maximum(base, 0.1)) * np.exp(rng.normal(0, 0.45, base.shape))


def write_counts(path: Path, table: pd.DataFrame, g: pd.DataFrame) -> None:
    """Write genes × samples counts as gzip TSV: ``gene_id``, ``gene_name``, samples (deterministic bytes)."""
    table = table.set_axis(list(g["gene_id"]), axis=0)
    table.insert(0, "gene_name", g["gene_name"].to_numpy())
    text = table.to_csv(sep="\t", index_label="gene_id", lineterminator="\n")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        fh.write(text.encode())


def example(rng: np.random.Generator, g: pd.DataFrame) -> None:
    """The comparability study in ``example/``."""
    out = HERE / "example"
    out.mkdir(exist_ok=True)
    n = len(g)
    base = 10 ** g["log10_mean"].to_numpy()
    disp = dispersions(rng, base)
    sym = {s: i for i, s in enumerate(g["gene_name"])}
    shifted = rng.choice(np.arange(len(MARKERS), n), size=int(0.03 * n), replace=False)
    cohort_shift = np.zeros(n)
    cohort_shift[shifted] = rng.uniform(0.15, 0.4, len(shifted)) * rng.choice([-1, 1], len(shifted))
    rows = []
    donors = [f"D{i:02d}" for i in range(1, 13)]
    for i, d in enumerate(donors):
        rows.append(
            {
                "sample": f"P{i + 1:02d}",
                "donor": d,
                "cohort": "A" if i < 6 else "B",
                "lot": "product",
            }
        )
    for i in range(3):
        rows.append(
            {"sample": f"REF{i + 1}", "donor": f"R{i + 1}", "cohort": "A", "lot": "reference"}
        )
    sheet = pd.DataFrame(rows)
    sheet["passage"] = [
        "P3",
        "P4",
        "P3",
        "P3",
        "P4",
        "P3",
        "P4",
        "P3",
        "P3",
        "P4",
        "P3",
        "P4",
        "P3",
        "P3",
        "P3",
    ]
    sheet["sex"] = ["F", "M", "M", "F", "F", "M", "F", "M", "F", "M", "M", "F", "F", "M", "F"]
    counts = {}
    for _, r in sheet.iterrows():
        lfc = rng.normal(0, 0.18, n)  # donor-to-donor biological variation (log2)
        if r["cohort"] == "B":
            lfc = lfc + cohort_shift
        if r["sample"] == "P09":
            for s, v in CONTAMINATION.items():
                lfc[sym[s]] += v
            broad = rng.choice(n, size=int(0.15 * n), replace=False)
            lfc[broad] += rng.normal(0, 1.3, len(broad))
        depth = rng.uniform(0.6, 1.6)
        counts[r["sample"]] = nb_counts(rng, base * depth * 2.0**lfc, disp)
    table = pd.DataFrame(counts)
    write_counts(out / "counts.tsv.gz", table, g)
    sheet.to_csv(out / "samples.tsv", sep="\t", index=False, lineterminator="\n")


def licensing(rng: np.random.Generator, g: pd.DataFrame) -> None:
    """The donor × IFN-γ × replicate study in ``licensing/``."""
    out = HERE / "licensing"
    out.mkdir(exist_ok=True)
    n = len(g)
    base = 10 ** g["log10_mean"].to_numpy()
    disp = dispersions(rng, base) * 0.5
    sym = {s: i for i, s in enumerate(g["gene_name"])}
    ifn = np.zeros(n)
    for s, v in LICENSING.items():
        ifn[sym[s]] = v
    other = rng.choice(np.arange(len(MARKERS), n), size=int(0.05 * n), replace=False)
    ifn[other] = rng.normal(0, 1.2, len(other))
    rows, counts = [], {}
    for d in range(1, 7):
        donor_lfc = rng.normal(0, 0.45, n)
        for cond in ("control", "IFNg"):
            for rep in (1, 2):
                name = f"D{d}_{cond}_{rep}"
                rows.append(
                    {"sample": name, "donor": f"D{d}", "condition": cond, "replicate": f"r{rep}"}
                )
                lfc = donor_lfc + (ifn if cond == "IFNg" else 0.0)
                depth = rng.uniform(0.7, 1.4)
                counts[name] = nb_counts(rng, base * depth * 2.0**lfc, disp)
    write_counts(out / "counts.tsv.gz", pd.DataFrame(counts), g)
    pd.DataFrame(rows).to_csv(out / "samples.tsv", sep="\t", index=False, lineterminator="\n")


def main() -> None:
    """Write both studies."""
    rng = np.random.default_rng(SEED)
    g = genes(rng)
    example(rng, g)
    licensing(rng, g)


if __name__ == "__main__":
    main()
