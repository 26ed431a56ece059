"""Measure on real data what the default comparability protocol's numbers rest on (issue 13).

Never on the simulation: the defaults of ``src/mscseq/protocols/default.yaml`` are argued from these numbers
in ``docs/protocol.md``. Sources (``../shared/data`` or ``MSCSEQ_SHARED_DATA``):

* six-tissue MSC data (Kuchur–Lobov): 6 tissues × 3 donors, undifferentiated (48 h) products, most
  sequenced as two technical duplicates. The duplicates give the technical variance, subtracted from the
  between-donor variance within a tissue. Depth is low (26k–180k reads per library), so the gene SDs use
  only well-expressed genes (mean CPM >= ``--sd-cpm`` in every tissue), where counting noise is small and
  measured by the duplicates.
* airway (Himes 2014): 4 donors × 2 treatments at real depth (15–31 M reads), one library each; the
  donor SD is pooled within treatment and the Poisson counting variance is subtracted.

Measuring showed that the six-tissue counts are mostly antisense (a stranded library counted on the wrong
strand: the 500 genes most expressed in UC-MSC or airway hold half of those reads but 1.6 % of the
six-tissue counts), so they serve for variability only, never to say which genes are expressed.

It prints and writes ``benchmarks/results/protocol_defaults.md`` (strand check; per-gene donor SD: median,
90th percentile, RMS; panel-score donor SD; the evidence for the ``at_rest`` column of the licensing panel;
sex calls) and writes the shipped list ``src/mscseq/panels/well_expressed_msc.tsv`` (genes with TPM >=
``--list-tpm`` in each control UC-MSC sample of GSE224190 and CPM >= ``--list-cpm`` in each untreated airway
donor, minus the exclusions of ``panels/excluded_genes.tsv``)::

    MSCSEQ_SHARED_DATA=/work/shared/data python benchmarks/derive_protocol_defaults.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mscseq.comparability import genesets, sex  # noqa: E402
from mscseq.comparability.panels import builtin_panels, match_genes  # noqa: E402
from mscseq.comparability.protocol import Tier1  # noqa: E402
from mscseq.normalize import size_factors  # noqa: E402

SHARED = Path(os.environ.get("MSCSEQ_SHARED_DATA", REPO.parent / "shared" / "data"))
SIX = "msc_six_sources_osteogenic_kuchur_lobov"
TISSUES = {
    "fat": "adipose MSC",
    "pk": "Wharton's jelly MSC",
    "pulp": "dental pulp SC",
    "ligament": "periodontal ligament SC",
    "gf": "gingival fibroblasts",
    "ob": "osteoblasts",
}
#: at_rest rule: expressed in resting UC-MSC (FPKM) -> yes; silent in UC-MSC and in airway (CPM) -> no.
AT_REST_YES, AT_REST_NO, AT_REST_AIRWAY = 5.0, 3.0, 5.0
TIER1 = Tier1()  # the default protocol's Tier-1 settings (scored genes, score margin)
LOG2E2 = 1.0 / np.log(2.0) ** 2  # var(log2 X) ≈ var(X) / (mean² · ln2²)


def load_six() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw counts (libraries × genes, PAR_Y rows dropped) and library metadata."""
    frames, meta = [], []
    for tissue in TISSUES:
        df = pd.read_csv(SHARED / SIX / f"{tissue}_transcriptomes_total.csv.gz", index_col=0)
        df = df[~df.index.str.contains("_PAR_Y")]
        frames.append(df)
        for col in df.columns:
            name, rep = col.rsplit("_", 1)
            condition = next(c for c in ("48h.undif", "48h.dif", "10d.dif") if name.endswith(c))
            donor = name[: -len(condition) - 1]
            meta.append((col, tissue, donor, condition, name, int(rep)))
    counts = pd.concat(frames, axis=1).T
    info = pd.DataFrame(meta, columns=["library", "tissue", "donor", "condition", "product", "rep"])
    return counts, info.set_index("library")


def ucmsc() -> pd.DataFrame:
    """UC-MSC FPKM (3 control, 3 primed) with symbols: the only shared table with Ensembl IDs and symbols."""
    path = SHARED / "ucmsc_cytokine_primed_GSE224190_FPKM" / "GSE224190_gene_FPKM.txt.gz"
    df = pd.read_csv(path, sep="\t", index_col=0)
    df["Symbol"] = df["Symbol"].fillna("").astype(str)
    return df


def load_airway() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Airway raw counts (genes × libraries) and the metadata in the same column order."""
    folder = SHARED / "airway_himes2014_GSE52778"
    air = pd.read_csv(folder / "airway_cts.tsv.gz", sep="\t", index_col=0)
    meta = pd.read_csv(folder / "airway_metadata.tsv", sep="\t", index_col=0)
    return air, meta.loc[air.columns]


def quantiles(sd: np.ndarray) -> dict[str, float]:
    sd = sd[np.isfinite(sd)]
    return {
        "n_genes": len(sd),
        "median": float(np.median(sd)),
        "p90": float(np.quantile(sd, 0.9)),
        "rms": float(np.sqrt(np.mean(sd**2))),
    }


def six_tissue_sd(
    y: np.ndarray, info: pd.DataFrame, *, by_tissue: bool = True
) -> dict[str, np.ndarray]:
    """Per-gene donor variance within tissue (and condition), technical variance from the duplicates.

    ``y`` is libraries × genes log2(normalised + 1) for the libraries in ``info``. The product value is
    the mean of its libraries; its variance is σ²_bio + σ²_tech / n_libraries.
    """
    products = info["product"].to_numpy()
    uniq = pd.unique(products)
    ybar = np.vstack([y[products == p].mean(axis=0) for p in uniq])
    nlib = np.array([(products == p).sum() for p in uniq])
    # technical: duplicate pairs
    tech_ss, tech_n = np.zeros(y.shape[1]), 0
    for p in uniq:
        rows = y[products == p]
        if len(rows) >= 2:
            tech_ss += rows.var(axis=0, ddof=1) * (len(rows) - 1)
            tech_n += len(rows) - 1
    var_tech = tech_ss / tech_n
    pinfo = info.drop_duplicates("product").set_index("product").loc[uniq]
    cell = (
        (pinfo["tissue"] + "|" + pinfo["condition"]).to_numpy()
        if by_tissue
        else np.zeros(len(uniq))
    )
    ss, df = np.zeros(y.shape[1]), 0
    for c in pd.unique(cell):
        block = ybar[cell == c]
        if len(block) >= 2:
            ss += ((block - block.mean(axis=0)) ** 2).sum(axis=0)
            df += len(block) - 1
    var_total = ss / df
    var_bio = np.maximum(var_total - var_tech * np.mean(1.0 / nlib), 0.0)
    return {"total": var_total, "tech": var_tech, "bio": var_bio, "df": df, "tech_df": tech_n}


def panel_gene_sets(
    ids: list[str], norm_mean: np.ndarray, min_mean: float
) -> dict[str, np.ndarray]:
    """Tier-1 genes per panel: positive direction, at_rest != "no", pooled mean normalised >= min_mean."""
    panels = builtin_panels()
    matched = match_genes(panels, ids, [""] * len(ids))
    keep = (matched["index"] >= 0) & (matched["direction"] == "positive")
    if "at_rest" in matched.columns:
        keep &= matched["at_rest"] != "no"
    out = {}
    for name, rows in matched[keep].groupby("panel", sort=False):
        idx = rows["index"].to_numpy()
        out[name] = idx[norm_mean[idx] >= min_mean]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sd-cpm", type=float, default=100.0, help="six-tissue SD genes: CPM floor per tissue"
    )
    parser.add_argument(
        "--list-tpm", type=float, default=10.0, help="well-expressed list: UC-MSC TPM floor"
    )
    parser.add_argument(
        "--list-cpm", type=float, default=10.0, help="well-expressed list: airway CPM floor"
    )
    parser.add_argument("--airway-min-mean", type=float, default=50.0)
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "protocol_defaults.md"
    )
    parser.add_argument(
        "--list-out",
        type=Path,
        default=REPO / "src" / "mscseq" / "panels" / "well_expressed_msc.tsv",
    )
    args = parser.parse_args(argv)
    if not (SHARED / SIX).is_dir():
        print(f"shared data not found at {SHARED}; set MSCSEQ_SHARED_DATA", file=sys.stderr)
        return 2
    lines: list[str] = ["# Protocol defaults: what the real data say", ""]
    lines.append(
        "Written by `benchmarks/derive_protocol_defaults.py` (real data only, never the simulation)."
    )
    lines.append("All SDs are in log2 units, on log2(normalised count + 1).")
    lines.append("")

    counts, info = load_six()
    ids = [str(g).split(".")[0] for g in counts.columns]
    x = counts.to_numpy(dtype=float)
    reasons = genesets.exclusion_reasons(ids, None)
    undif = (info["condition"] == "48h.undif").to_numpy()
    depth = x.sum(axis=1)
    cpm = x / depth[:, None] * 1e6
    # mean CPM per tissue over its undifferentiated libraries
    tissue = info["tissue"].to_numpy()
    tissue_cpm = np.vstack([cpm[undif & (tissue == t)].mean(axis=0) for t in TISSUES])
    min_cpm = tissue_cpm.min(axis=0)

    # --- strand check ---------------------------------------------------------------------------------
    uc = ucmsc()
    air, meta = load_airway()
    uc_tpm = uc.iloc[:, :3].mean(axis=1)
    uc_tpm = uc_tpm / uc_tpm.sum() * 1e6
    six_cpm = pd.Series(cpm[undif].mean(axis=0), index=ids)
    air_cpm = (air / air.sum() * 1e6).mean(axis=1)
    top_uc = uc_tpm.sort_values(ascending=False).index[:500]
    top_air = air_cpm.sort_values(ascending=False).index[:500]
    sym = dict(zip(uc.index, uc["Symbol"], strict=True))
    six_top = six_cpm.sort_values(ascending=False).index[:12]
    lines += [
        "## Strand check: the six-tissue counts are mostly antisense",
        "",
        f"The 500 most expressed genes of UC-MSC (GSE224190) hold {100 * uc_tpm[top_uc].sum() / 1e6:.0f} % of its "
        f"expression but {100 * six_cpm.reindex(top_uc).sum() / 1e6:.1f} % of the six-tissue counts; the airway "
        f"top 500 hold {100 * air_cpm[top_air].sum() / 1e6:.0f} % of airway and "
        f"{100 * six_cpm.reindex(top_air).sum() / 1e6:.1f} % of the six-tissue counts. The most counted six-tissue "
        "genes are antisense or opposite-strand neighbours of highly expressed genes: "
        + ", ".join(f"{g} {sym.get(g, '(lncRNA)')} {six_cpm[g]:.0f} CPM" for g in six_top[:8])
        + f"; XIST's antisense TSIX ({six_cpm.get('ENSG00000270641', 0):.0f} CPM) carries the XIST signal. "
        "The counts look like a stranded library counted on the wrong strand (a few % of sense reads leak "
        "through). They still vary between donors and tissues as transcripts do, but which gene a count "
        "belongs to is unreliable: they are used below for variability only, never to pick genes.",
        "",
    ]

    # --- the shipped list -------------------------------------------------------------------------------
    uc_ctrl = uc.iloc[:, :3]
    uc_ctrl_tpm = uc_ctrl / uc_ctrl.sum() * 1e6
    untrt = air.loc[:, meta["dex"].to_numpy() == "untrt"]
    untrt_cpm = untrt / untrt.sum() * 1e6
    both = pd.DataFrame({"ucmsc_min_tpm": uc_ctrl_tpm.min(axis=1)}).join(
        pd.DataFrame({"airway_min_cpm": untrt_cpm.min(axis=1)}), how="inner"
    )
    both_reasons = genesets.exclusion_reasons(
        list(both.index), [sym.get(g, "") for g in both.index]
    )
    expressed = (both["ucmsc_min_tpm"] >= args.list_tpm) & (both["airway_min_cpm"] >= args.list_cpm)
    keep = expressed & (both_reasons == "")
    table = both[keep].round(1).rename_axis("gene_id").reset_index()
    table.insert(1, "symbol", [sym.get(g, "") for g in table["gene_id"]])
    table = table.sort_values("gene_id")
    header = (
        f"# Genes expressed in resting mesenchymal cells: TPM >= {args.list_tpm:g} in each of the 3 control UC-MSC "
        f"(GSE224190) and CPM >= {args.list_cpm:g} in each of the 4 untreated airway smooth-muscle donors\n"
        "# (GSE52778), minus panels/excluded_genes.tsv. Written by benchmarks/derive_protocol_defaults.py "
        "(the six-tissue counts are antisense-dominated, see benchmarks/results/protocol_defaults.md).\n"
    )
    args.list_out.write_text(header + table.to_csv(sep="\t", index=False))
    lines += [
        "## Shipped list `panels/well_expressed_msc.tsv`",
        "",
        f"TPM >= {args.list_tpm:g} in each control UC-MSC sample and CPM >= {args.list_cpm:g} in each untreated "
        f"airway donor (genes present in both tables: {len(both)}): **{int(keep.sum())} genes** "
        f"({int((expressed & (both_reasons != '')).sum())} excluded genes removed). Not the six-tissue data: "
        "its counts cannot say which gene is expressed (above). Other floors (TPM = CPM): "
        + ", ".join(
            f"{f:g} → {int(((both['ucmsc_min_tpm'] >= f) & (both['airway_min_cpm'] >= f) & (both_reasons == '')).sum())}"
            for f in (5, 10, 20, 50)
        )
        + ".",
        "",
    ]

    # --- six-tissue per-gene donor SD ----------------------------------------------------------------------
    sf = size_factors(x, type="poscounts")
    norm = x / sf[:, None]
    y = np.log2(norm + 1.0)
    sd_genes = (min_cpm >= args.sd_cpm) & (reasons == "")
    lines += [
        "## Per-gene between-donor SD within a tissue (six-tissue, technical duplicates removed)",
        "",
        f"Genes: mean CPM >= {args.sd_cpm:g} in every tissue ({int(sd_genes.sum())} genes; at these depths "
        "lower-expressed genes are dominated by counting noise). Products = donor × condition, the mean "
        "of their duplicate libraries; donor variance pooled over tissue (× condition) cells; technical "
        "variance pooled over duplicate pairs and subtracted (σ²_bio = s²_products − σ²_tech · mean(1/n_lib)).",
        "",
        "| subset | df | median SD_bio | 90th pct SD_bio | RMS SD_bio | median SD_total | median SD_tech (library) |",
        "|---|---|---|---|---|---|---|",
    ]
    six_results = {}
    for label, mask, by_tissue in (
        ("undifferentiated, within tissue", undif, True),
        ("all three conditions, within tissue × condition", np.ones(len(info), bool), True),
        ("undifferentiated, six tissues as one population", undif, False),
    ):
        r = six_tissue_sd(y[mask][:, sd_genes], info[mask], by_tissue=by_tissue)
        q = quantiles(np.sqrt(r["bio"]))
        six_results[label] = q
        lines.append(
            f"| {label} | {r['df']} | {q['median']:.3f} | {q['p90']:.3f} | {q['rms']:.3f} | "
            f"{np.median(np.sqrt(r['total'])):.3f} | {np.median(np.sqrt(r['tech'])):.3f} |"
        )
    lines.append("")
    # per tissue, undifferentiated (2 df each: noisy, for the spread between tissues)
    lines += [
        "Per tissue (undifferentiated, 3 donors, 2 df per gene; RMS over genes is the stable summary):",
        "",
    ]
    lines += ["| tissue | products | RMS SD_bio | median SD_bio |", "|---|---|---|---|"]
    for t, name in TISSUES.items():
        m = undif & (tissue == t)
        r = six_tissue_sd(y[m][:, sd_genes], info[m])
        q = quantiles(np.sqrt(r["bio"]))
        lines.append(
            f"| {name} | {info[m]['product'].nunique()} | {q['rms']:.3f} | {q['median']:.3f} |"
        )
    lines.append("")
    beyond = {}
    r = six_tissue_sd(y[undif][:, sd_genes], info[undif])
    sd_bio = np.sqrt(r["bio"])
    for n in (3, 6, 10):
        # SD of a difference of two group means of n same-tissue products each
        se = sd_bio * np.sqrt(2.0 / n)
        beyond[n] = float(np.mean(2 * (1 - _norm_cdf(1.0 / np.maximum(se, 1e-9)))))
    lines += [
        "Expected fraction of genes whose true-null difference of group means (n same-tissue products per group) "
        "exceeds 1 log2 by chance, from these SDs: "
        + ", ".join(f"n = {n}: {100 * v:.2f} %" for n, v in beyond.items())
        + ".",
        "",
    ]

    # --- airway -------------------------------------------------------------------------------------------
    ax = air.to_numpy(dtype=float).T
    asf = size_factors(ax)
    anorm = ax / asf[:, None]
    ay = np.log2(anorm + 1.0)
    amean = anorm.mean(axis=0)
    areasons = genesets.exclusion_reasons(list(air.index), None)
    dex = meta["dex"].to_numpy()
    lines += [
        "## Per-gene between-donor SD, airway smooth muscle (4 donors, real depth)",
        "",
        "Donor variance pooled within treatment (untreated, dexamethasone: 6 df); the Poisson counting "
        "variance 1/(μ·ln2²) subtracted. Not MSC, but the only multi-donor data at real depth.",
        "",
        "| genes | n | median SD_bio | 90th pct SD_bio | RMS SD_bio |",
        "|---|---|---|---|---|",
    ]
    for floor in (args.airway_min_mean, 500.0):
        g = (amean >= floor) & (areasons == "")
        ss = sum(
            ((ay[dex == d][:, g] - ay[dex == d][:, g].mean(axis=0)) ** 2).sum(axis=0)
            for d in np.unique(dex)
        )
        var_total = ss / (len(dex) - len(np.unique(dex)))
        var_bio = np.maximum(var_total - LOG2E2 / amean[g], 0.0)
        q = quantiles(np.sqrt(var_bio))
        lines.append(
            f"| mean normalised >= {floor:g} | {q['n_genes']} | {q['median']:.3f} | {q['p90']:.3f} | {q['rms']:.3f} |"
        )
    lines.append("")

    # --- panel scores ---------------------------------------------------------------------------------
    lines += [
        "## Panel-score SD across donors (Tier-1 scores: mean log2 over the panel's expressed positive genes)",
        "",
        "Airway: log2(normalised + 1), SD pooled within treatment (6 df), one library per donor (the "
        "technical part of a mean over genes at 20 M reads is negligible). UC-MSC: log2(FPKM + 1) of the 3 "
        "control samples (2 df; whether they are donors is not stated). Panel genes: positive, at_rest != no, "
        f"pooled mean normalised count >= {TIER1.min_mean:g} (airway; tier1.min_mean) or mean FPKM >= 1 (UC-MSC). "
        "The six-tissue "
        "counts are not used: which gene a count belongs to is unreliable there (strand check).",
        "",
        "| panel | airway genes | airway SD | UC-MSC genes | UC-MSC SD |",
        "|---|---|---|---|---|",
    ]
    air_ids = [str(g) for g in air.index]
    air_sets = panel_gene_sets(air_ids, amean, TIER1.min_mean)
    uc_ids = [str(g) for g in uc.index]
    uc_ctrl_fpkm = uc.iloc[:, :3].to_numpy(dtype=float).T
    uc_sets = panel_gene_sets(uc_ids, uc_ctrl_fpkm.mean(axis=0), 1.0)
    panel_sd = {}
    for name in air_sets:
        ai, ui = air_sets[name], uc_sets.get(name, np.zeros(0, int))
        s_air = ay[:, ai].mean(axis=1)
        ss = sum(((s_air[dex == d] - s_air[dex == d].mean()) ** 2).sum() for d in np.unique(dex))
        sd_air = float(np.sqrt(ss / (len(dex) - len(np.unique(dex)))))
        sd_uc = (
            float(np.log2(uc_ctrl_fpkm[:, ui] + 1.0).mean(axis=1).std(ddof=1))
            if len(ui)
            else float("nan")
        )
        panel_sd[name] = (sd_air, sd_uc)
        lines.append(f"| {name} | {len(ai)} | {sd_air:.3f} | {len(ui)} | {sd_uc:.3f} |")
    lines.append("")
    # single_group.score_tau: the spread of one score in a population of donors as variable as the airway
    # donors (RMS over the panels) that also holds two equal hidden cohorts exactly at the score margin m
    # (between-cohort SD m / 2)
    rms = float(np.sqrt(np.mean([v[0] ** 2 for v in panel_sd.values()])))
    margin = TIER1.default_margin
    tol = float(np.sqrt(rms**2 + (margin / 2) ** 2))
    lines += [
        "### Score tolerance `single_group.score_tau`",
        "",
        f"RMS over the {len(panel_sd)} panels of the airway donor SD: {rms:.3f}. Two equal cohorts exactly at "
        f"the score margin m = {margin:g} add a between-cohort SD of m / 2 = {margin / 2:g}, so one score of a "
        f"product population as variable as these donors and split at the margin has SD sqrt({rms:.3f}² + "
        f"{margin / 2:g}²) = **{tol:.3f}** log2 (the default, rounded up to two decimals: {np.ceil(tol * 100) / 100:.2f}). "
        "A score whose lower 95 % bound is above it spreads more than donors and a split at the margin "
        "together explain.",
        "",
    ]

    # --- at_rest column of the licensing panel ----------------------------------------------------------
    lic = pd.read_csv(
        REPO / "src" / "mscseq" / "panels" / "licensing_potency.tsv",
        sep="\t",
        dtype=str,
        keep_default_na=False,
    )
    ctrl_fpkm = uc.iloc[:, :3].mean(axis=1)
    primed_fpkm = uc.iloc[:, 3:6].mean(axis=1)
    untrt_mean_cpm = untrt_cpm.mean(axis=1)
    lines += [
        "## `at_rest` in `panels/licensing_potency.tsv`",
        "",
        f"Rule: `yes` when the control UC-MSC mean FPKM >= {AT_REST_YES:g}; `no` when it is < {AT_REST_NO:g} and the "
        f"untreated airway mean CPM < {AT_REST_AIRWAY:g} (silent in two resting fibroblast-like cell types); blank "
        "otherwise (Tier 1 scores blank genes when they pass tier1.min_mean).",
        "",
        "| gene | UC-MSC control FPKM | UC-MSC primed FPKM | airway untreated CPM | rule | in the file |",
        "|---|---|---|---|---|---|",
    ]
    for gid, symbol, shipped in zip(
        lic["gene_id"], lic["symbol"], lic.get("at_rest", [""] * len(lic)), strict=True
    ):
        c, t, w = (
            ctrl_fpkm.get(gid, np.nan),
            primed_fpkm.get(gid, np.nan),
            untrt_mean_cpm.get(gid, np.nan),
        )
        rule = (
            "yes" if c >= AT_REST_YES else "no" if (c < AT_REST_NO and w < AT_REST_AIRWAY) else ""
        )
        lines.append(
            f"| {symbol} | {c:.1f} | {t:.1f} | {w:.1f} | {rule or '(blank)'} | {shipped or '(blank)'} |"
        )
    lines.append("")

    # --- sex ---------------------------------------------------------------------------------------------
    prod_ids = info["donor"].to_numpy()
    donors = pd.unique(prod_ids)
    dx = np.vstack([x[prod_ids == d].sum(axis=0) for d in donors])
    calls = sex.infer_sex(dx, ids, None, donors)
    ux = np.vstack([x[(prod_ids == d) & undif].sum(axis=0) for d in donors])
    ucalls = sex.infer_sex(ux, ids, None, donors)
    acalls = sex.infer_sex(
        anorm, list(air.index), None, [f"{c} ({meta.loc[c, 'cell']})" for c in air.columns]
    )
    lines += [
        "## Sex calls (`mscseq.comparability.sex.infer_sex`)",
        "",
        "Six-tissue donors: all libraries of a donor summed (three conditions), and the undifferentiated "
        "product alone (what a single-group run sees):",
        "",
        "| donor | reads | XIST locus CPM | chrY CPM | call | undifferentiated reads | call |",
        "|---|---|---|---|---|---|---|",
    ]
    for k, (d, row) in enumerate(calls.iterrows()):
        lines.append(
            f"| {d} | {int(dx[k].sum())} | {row.xist_cpm:.1f} | {row.chry_cpm:.1f} | {row.sex} | "
            f"{int(ux[k].sum())} | {ucalls['sex'].iloc[k]} |"
        )
    lines += [
        "",
        "Calls: all libraries "
        + ", ".join(f"{v} {k}" for k, v in calls["sex"].value_counts().items())
        + "; undifferentiated products "
        + ", ".join(f"{v} {k}" for k, v in ucalls["sex"].value_counts().items())
        + ".",
    ]
    lines += [
        "",
        "Airway libraries:",
        "",
        "| library | XIST locus CPM | chrY CPM | call |",
        "|---|---|---|---|",
    ]
    for d, row in acalls.iterrows():
        lines.append(f"| {d} | {row.xist_cpm:.1f} | {row.chry_cpm:.1f} | {row.sex} |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    return norm.cdf(z)


if __name__ == "__main__":
    raise SystemExit(main())
