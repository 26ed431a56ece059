"""Loaders for the real datasets used by the engine's golden tests and benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "benchmarks" / "reference"


def treatment_columns(values: pd.Series, name: str, reference: str | None = None) -> pd.DataFrame:
    levels = sorted(values.unique())
    ref = levels[0] if reference is None else reference
    return pd.DataFrame(
        {f"{name}[T.{lv}]": (values == lv).astype(float).to_numpy() for lv in levels if lv != ref},
        index=values.index,
    )


def airway(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str, str]]:
    d = shared / "airway_himes2014_GSE52778"
    cts = pd.read_csv(d / "airway_cts.tsv.gz", sep="\t", index_col=0)
    meta = pd.read_csv(d / "airway_metadata.tsv", sep="\t").set_index("ID").loc[cts.columns]
    x = pd.concat(
        [
            pd.DataFrame({"Intercept": 1.0}, index=meta.index),
            treatment_columns(meta["cell"], "cell"),
            treatment_columns(meta["dex"], "dex", "untrt"),
        ],
        axis=1,
    )
    return cts, x, ("dex", "trt", "untrt")


def pasilla(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str, str]]:
    d = shared / "pasilla_brooks2011"
    cts = pd.read_csv(d / "pasilla_gene_counts.tsv.gz", sep="\t", index_col=0)
    ann = pd.read_csv(d / "pasilla_sample_annotation.csv")
    ann.index = ann["file"].str.replace("fb", "", regex=False)
    ann = ann.loc[cts.columns]
    x = pd.concat(
        [
            pd.DataFrame({"Intercept": 1.0}, index=ann.index),
            treatment_columns(ann["type"], "type", "paired-end"),
            treatment_columns(ann["condition"], "condition", "untreated"),
        ],
        axis=1,
    )
    return cts, x, ("condition", "treated", "untreated")


def msc_gf(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str, str]]:
    return msc_tissue(shared, "gf")


def msc_tissue(
    shared: Path, tissue: str
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str, str]]:
    d = shared / "msc_six_sources_osteogenic_kuchur_lobov"
    st = pd.read_csv(d / "samples_derived_from_column_names.tsv", sep="\t")
    st = st[st["file"] == f"{tissue}_transcriptomes_total.csv.gz"].set_index("sample")
    cts = pd.read_csv(d / f"{tissue}_transcriptomes_total.csv.gz", index_col=0)[st.index]
    x = pd.concat(
        [
            pd.DataFrame({"Intercept": 1.0}, index=st.index),
            treatment_columns(st["donor_id"], "donor"),
            treatment_columns(st["condition"], "condition"),
        ],
        axis=1,
    )
    return cts, x, ("condition", "48h.dif", "48h.undif")


def agreement(ref: pd.DataFrame, res: pd.DataFrame, p: str = "pvalue", padj: str = "padj") -> dict:
    """The issue's agreement figures for genes with R baseMean >= 10."""
    m = (ref["baseMean"] >= 10).to_numpy()
    a = (ref[padj].to_numpy() < 0.1) & m
    b = (res["padj"].to_numpy() < 0.1) & m
    union = (a | b).sum()
    jac = float((a & b).sum() / union) if union else 1.0
    rd = (
        np.abs(res["dispersion"].to_numpy() - ref["dispersion"].to_numpy())
        / ref["dispersion"].to_numpy()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.abs(np.log10(res["pvalue"].to_numpy()) - np.log10(ref[p].to_numpy()))
    lp = lp[m & np.isfinite(lp)]
    na = int((np.isnan(res["pvalue"].to_numpy()[m]) != np.isnan(ref[p].to_numpy()[m])).sum())
    return {
        "jaccard": jac,
        "n_r": int(a.sum()),
        "n_ours": int(b.sum()),
        "disp_median_rel": float(np.nanmedian(rd[m])),
        "p99_log10p": float(np.percentile(lp, 99)) if lp.size else 0.0,
        "na_mismatch": na,
    }


def toy_counts(
    seed: int = 1, g: int = 300, n: int = 12
) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    """Simulated NB counts ``(n, g)``, design ``~ batch + group`` and the true size factors."""
    rng = np.random.default_rng(seed)
    grp = np.repeat([0.0, 1.0], n // 2)
    bat = np.tile([0.0, 1.0, 0.0], n // 3)
    x = pd.DataFrame(
        {"Intercept": 1.0, "batch[T.b]": bat, "group[T.B]": grp}, index=[f"s{i}" for i in range(n)]
    )
    sf = np.exp(rng.normal(0, 0.3, n))
    mu = np.exp(rng.normal(4, 1.5, g))
    lfc = np.where(rng.random(g) < 0.2, rng.normal(0, 1.5, g), 0)
    m = sf[:, None] * mu * np.exp(np.outer(grp, lfc) + np.outer(bat, rng.normal(0, 0.3, g)))
    disp = 0.05 + 1 / mu
    y = rng.negative_binomial(1 / disp, 1 / (1 + m * disp)).astype(float)
    return y, x, sf
