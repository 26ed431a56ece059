"""Report sections for the comparability results (``summary.json``'s ``comparability`` block).

The block is read as :mod:`mscseq.comparability` writes it (see ``docs/comparability.md``). Parts this
module does not know in detail are still shown, as key–value lists and tables (:func:`generic_blocks`),
so no recorded result is hidden from the reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mscseq.report import plots
from mscseq.report.sections import Figures, as_list, as_records, cell, fmt, humanise

#: Keys of the block shown by dedicated parts (everything else goes to the generic "other results").
KNOWN = {
    "verdict", "rule", "reasons", "metrics", "products", "caveats", "panels", "similarity", "equivalence",
    "permanova", "permdisp", "variance_partition", "quality_range", "settings",
}  # fmt: skip

PANEL_ABOUT = {
    "isct_identity": "ISCT identity markers: positive genes (CD73/NT5E, CD90/THY1, CD105/ENG) should be expressed; "
    "negative genes (haematopoietic and HLA class II) should be absent.",
    "licensing_potency": "Genes of the immunomodulatory (licensing) response, e.g. IDO1, PTGS2, TSG-6.",
    "senescence": "Markers of cellular senescence (p16, p21, SASP factors): a high score suggests an aged culture.",
    "proliferation": "Cell-cycle genes: a high score means a more proliferative culture.",
}

FLAG_EXPLANATION = (
    "Identity-marker flags are raised when a product expresses an ISCT negative marker well above the median product, "
    "or lacks a positive marker; panel-score flags when a product's score is far from the others (robust z-score). "
    "They are hints to follow up (for example by flow cytometry), not release results."
)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)


def pct(v: Any, digits: int = 1) -> str:
    """A fraction as a percentage text (``–`` when missing)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return f"{100 * f:.{digits}f} %" if np.isfinite(f) else "–"


def generic_blocks(obj: Any, *, title: str = "") -> list[dict[str, Any]]:
    """Display blocks for an arbitrary JSON value.

    Returns
    -------
    list of dict
        Blocks of kind ``"kv"`` (``rows`` of label/value), ``"table"`` (``header``, ``rows`` of cells)
        or ``"text"`` (``items``), each with a ``title``.

    """
    if isinstance(obj, Mapping):
        kv = [{"label": humanise(k), "value": fmt(v)} for k, v in obj.items() if _scalar(v)]
        lists = [
            (k, v) for k, v in obj.items() if isinstance(v, list) and all(_scalar(x) for x in v)
        ]
        kv += [
            {"label": humanise(k), "value": ", ".join(fmt(x) for x in v) or "–"} for k, v in lists
        ]
        blocks = [{"kind": "kv", "title": title, "rows": kv}] if kv else []
        for k, v in obj.items():
            if _scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v)):
                continue
            blocks += generic_blocks(
                v, title=humanise(k) if not title else f"{title} · {humanise(k)}"
            )
        return blocks
    if isinstance(obj, list) and obj and all(isinstance(x, Mapping) for x in obj):
        keys: list[str] = []
        for x in obj:
            keys += [k for k in x if k not in keys]
        rows = [
            [cell(x.get(k)) if _scalar(x.get(k)) else cell(None, text=fmt(x.get(k))) for k in keys]
            for x in obj
        ]
        return [
            {"kind": "table", "title": title, "header": [humanise(k) for k in keys], "rows": rows}
        ]
    if isinstance(obj, list):
        return [{"kind": "text", "title": title, "items": [fmt(x) for x in obj]}] if obj else []
    return [{"kind": "text", "title": title, "items": [fmt(obj)]}]


def _kv(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "kv",
        "title": "",
        "rows": [{"label": k, "value": v if isinstance(v, str) else fmt(v)} for k, v in pairs],
    }


def _table(header: list[str], rows: list[list[dict[str, Any]]], title: str = "") -> dict[str, Any]:
    return {"kind": "table", "title": title, "header": header, "rows": rows}


# ---------------------------------------------------------------------------- statistics


def _outlier_part(comp: Mapping[str, Any], figs: Figures) -> dict[str, Any] | None:
    sim = comp.get("similarity")
    if not isinstance(sim, Mapping):
        return None
    metrics = comp.get("metrics") or {}
    products = as_records(comp.get("products"))
    samples = [str(p.get("sample")) for p in products] or list(sim.get("median_correlation", {}))
    status = {str(p.get("sample")): str(p.get("status", "")) for p in products}
    zc = sim.get("z_correlation") or {}
    zd = sim.get("z_distance") or {}
    threshold = float(metrics.get("mad_z_threshold", 3.5))
    outliers = [s for s in samples if status.get(s) == "outlier"]
    fig = None
    if any(zc.get(s) is not None for s in samples):
        fig = figs.add(
            "fig-outliers",
            plots.outlier_figure(
                samples,
                [zc.get(s) for s in samples],
                [zd.get(s) for s in samples],
                threshold=threshold,
                outliers=outliers,
            ),
        )
    rows = []
    for s in samples:
        st = status.get(s, "")
        rows.append(
            [
                cell(s),
                cell(st or "–", cls=f"status-{st}"),
                cell(
                    (sim.get("median_correlation") or {}).get(s),
                    text=fmt((sim.get("median_correlation") or {}).get(s), digits=4),
                ),
                cell((sim.get("centroid_distance") or {}).get(s)),
                cell(zc.get(s)),
                cell(zd.get(s)),
                cell(
                    (sim.get("concordance") or {}).get(s),
                    text=pct((sim.get("concordance") or {}).get(s)),
                ),
            ]
        )
    header = ["product", "status", "median correlation", "distance to centroid", "z (correlation)", "z (distance)",
              f"genes within ±{fmt(metrics.get('margin', 1))} log2 of peers"]  # fmt: skip
    blocks = [_table(header, rows)]
    clusters = sim.get("clusters")
    if isinstance(clusters, Mapping):
        blocks.append(
            _kv(
                [
                    (
                        "two-cluster cut: sizes",
                        ", ".join(fmt(x) for x in as_list(clusters.get("sizes"))) or "–",
                    ),
                    ("silhouette", clusters.get("silhouette")),
                    (
                        "agreement with groups (adjusted Rand index)",
                        clusters.get("adjusted_rand_index"),
                    ),
                    ("genes used", sim.get("genes_used")),
                ]
            )
        )
    about = (
        "Each product is compared with its peers: a product whose median correlation with the others is unusually "
        "low, or which lies unusually far from their centre in the PCA, gets a high robust z-score. Products above "
        f"the dashed threshold ({threshold:g}) on either score are outliers."
    )
    return {
        "key": "outliers",
        "title": "Outlier screening",
        "about": about,
        "fig": fig,
        "height": 400,
        "blocks": blocks,
    }


def _equivalence_part(comp: Mapping[str, Any], figs: Figures) -> dict[str, Any] | None:
    eq = as_records(comp.get("equivalence"))
    if not eq:
        return None
    settings = comp.get("settings") or {}
    margin = float(settings.get("margin", (comp.get("metrics") or {}).get("margin", 1.0)))
    tested = [c for c in eq if not c.get("skipped")]
    req = ((comp.get("metrics") or {}).get("thresholds") or {}).get("equivalent_fraction")
    spec = plots.equivalence_figure(
        tested, margin=margin, required=None if req is None else float(req)
    )
    fig = figs.add("fig-equivalence", spec) if tested else None
    rows = []
    for c in eq:
        if c.get("skipped"):
            rows.append([cell(f"{c.get('target')} vs {c.get('reference')}"), cell(None, text=f"not tested: {c['skipped']}"),
                         *[cell(None) for _ in range(4)]])  # fmt: skip
            continue
        rows.append(
            [
                cell(f"{c.get('target')} vs {c.get('reference')}"),
                cell(None, text=f"{fmt(c.get('n_target'))} vs {fmt(c.get('n_reference'))}"),
                cell(c.get("n_tested")),
                cell(c.get("n_equivalent")),
                cell(c.get("fraction_equivalent"), text=pct(c.get("fraction_equivalent"))),
                cell(
                    c.get("n_beyond_margin"),
                    text=f"{fmt(c.get('n_beyond_margin'))} ({pct(c.get('fraction_beyond_margin'), 2)})",
                ),
            ]
        )
    header = [
        "comparison",
        "products",
        "testable genes",
        "shown equivalent",
        "% equivalent",
        "beyond the margin",
    ]
    blocks = [_table(header, rows)]
    for c in tested:
        top = as_records(c.get("top_beyond_margin"))
        if top:
            blocks.append(
                _table(
                    ["gene", "gene ID", "log2 FC", "padj"],
                    [
                        [
                            cell(t.get("gene_name") or t.get("gene_id")),
                            cell(t.get("gene_id")),
                            cell(t.get("log2FoldChange")),
                            cell(t.get("padj")),
                        ]
                        for t in top
                    ],
                    title=f"{c.get('target')} vs {c.get('reference')}: genes beyond ±{margin:g} log2",
                )
            )
    about = (
        f"For each group compared with the reference, every gene gets two tests at the margin ±{margin:g} log2 "
        f"({2**margin:g}-fold): is the difference shown to be smaller than the margin (equivalent, two one-sided "
        "tests), or shown to be larger (beyond the margin)? Genes with too little evidence either way are neither."
    )
    return {
        "key": "equivalence",
        "title": "Equivalence",
        "about": about,
        "fig": fig,
        "height": 150 + 50 * len(tested),
        "blocks": blocks,
    }


def _p_or_none(block: Mapping[str, Any]) -> Any:
    p = block.get("p_value")
    return "not computed (no permutations)" if p is None else p


def _permutation_part(comp: Mapping[str, Any]) -> dict[str, Any] | None:
    pm, pd_ = comp.get("permanova"), comp.get("permdisp")
    if not isinstance(pm, Mapping) and not isinstance(pd_, Mapping):
        return None
    blocks = []
    if isinstance(pm, Mapping):
        blocks.append({**_kv([
            ("pseudo-F", pm.get("pseudo_f")),
            ("R² (share of distance variation between groups)", pct(pm.get("r2"))),
            ("p-value", _p_or_none(pm)),
            ("permutations", f"{fmt(pm.get('permutations'))} ({pm.get('scheme', '')}{', exact' if pm.get('exact') else ''})"),
            ("smallest attainable p-value", pm.get("min_p_value")),
            ("samples, groups", f"{fmt(pm.get('n_samples'))}, {fmt(pm.get('n_groups'))}"),
        ]), "title": "PERMANOVA (difference in location)"})  # fmt: skip
    if isinstance(pd_, Mapping):
        pairs = [
            ("F", pd_.get("f")),
            ("p-value", _p_or_none(pd_)),
            ("permutations", pd_.get("permutations")),
        ]
        pairs += [
            (f"mean distance to the group median: {k}", v)
            for k, v in (pd_.get("mean_distance") or {}).items()
        ]
        blocks.append({**_kv(pairs), "title": "PERMDISP (difference in spread)"})
    about = (
        "PERMANOVA tests whether the groups differ in their average profile, PERMDISP whether they differ in spread; "
        "both use permutations of the group labels. They are evidence, not part of the decision rule: a large p-value "
        "never shows that groups are the same."
    )
    return {
        "key": "permanova",
        "title": "PERMANOVA and PERMDISP",
        "about": about,
        "fig": None,
        "blocks": blocks,
    }


def _variance_part(comp: Mapping[str, Any], figs: Figures) -> dict[str, Any] | None:
    vp = comp.get("variance_partition")
    if not isinstance(vp, Mapping):
        return None
    if vp.get("skipped"):
        return {"key": "variance", "title": "Variance partition", "about": "", "fig": None,
                "blocks": [{"kind": "text", "title": "", "items": [f"Not computed: {vp['skipped']}"]}]}  # fmt: skip
    fr = vp.get("fractions") or {}
    fig = figs.add("fig-variance", plots.variance_partition_figure(fr)) if fr else None
    blocks = [_kv([("donor column", vp.get("donor")), ("fixed effects", ", ".join(as_list(vp.get("fixed"))) or "none"),
                   ("genes", vp.get("n_genes")), ("model", vp.get("method"))])]  # fmt: skip
    about = "How much of each gene's variation comes from the donor and from the other sheet variables (median over genes, bars show the interquartile range)."
    return {
        "key": "variance",
        "title": "Variance partition",
        "about": about,
        "fig": fig,
        "height": 340,
        "blocks": blocks,
    }


def _quality_part(comp: Mapping[str, Any]) -> dict[str, Any] | None:
    qr = comp.get("quality_range")
    if not isinstance(qr, Mapping):
        return None
    rows = [
        [cell(str(p.get("sample"))), cell(p.get("fraction_in_range"), text=pct(p.get("fraction_in_range"))),
         cell(None, text=", ".join(str(g) for g in as_list(p.get("outside"))) or "–")]
        for p in as_records(qr.get("products"))
    ]  # fmt: skip
    about = (
        f"Each product's panel genes against the range of the {fmt(qr.get('n_reference'))} reference products "
        f"(mean ± {fmt(qr.get('k'))} SD, {fmt(qr.get('n_genes'))} genes). Overall {pct(qr.get('fraction_in_range'))} in range."
    )
    return {"key": "quality", "title": "Quality ranges", "about": about, "fig": None,
            "blocks": [_table(["product", "panel genes in range", "genes outside the range"], rows)]}  # fmt: skip


def statistics_section(comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """Outlier screening, equivalence, PERMANOVA/PERMDISP, variance partition, quality ranges, settings."""
    if comp is None:
        return {"computed": False, "parts": []}
    parts = [
        p
        for p in (
            _outlier_part(comp, figs),
            _equivalence_part(comp, figs),
            _permutation_part(comp),
            _variance_part(comp, figs),
            _quality_part(comp),
        )
        if p is not None
    ]
    for key, value in comp.items():
        if key not in KNOWN and not _scalar(value):
            parts.append(
                {
                    "key": key,
                    "title": humanise(key).capitalize(),
                    "about": "",
                    "fig": None,
                    "blocks": generic_blocks(value),
                }
            )
    settings = comp.get("settings")
    if isinstance(settings, Mapping):
        parts.append(
            {
                "key": "settings",
                "title": "Settings of the assessment",
                "about": "",
                "fig": None,
                "blocks": generic_blocks(settings),
            }
        )
    for p in parts:
        p.setdefault("height", 360)
    return {"computed": True, "parts": parts}


# ---------------------------------------------------------------------------- panels


def panel_flag_list(comp: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Panel flags as ``[{"sample", "message"}]`` from ``{sample: [messages]}`` or a list of records."""
    panels = (comp or {}).get("panels")
    raw = panels.get("flags") if isinstance(panels, Mapping) else None
    out: list[dict[str, str]] = []
    if isinstance(raw, Mapping) and not all(str(k).isdigit() for k in raw):
        for sample, msgs in raw.items():
            out += [{"sample": str(sample), "message": str(m)} for m in as_list(msgs)]
        return out
    for f in as_records(raw):
        msg = f.get("message") or f.get("reason") or f.get("explanation") or ""
        out.append({"sample": str(f.get("sample", "")), "message": str(msg)})
    return out


def _gene_matrix(adata, comp: Mapping[str, Any]) -> tuple[np.ndarray, list[str], list[str]] | None:
    """Panel genes × products: VST minus the gene's median over products (log2), for display."""
    try:
        from mscseq.comparability.panels import load_panels, match_genes
    except ImportError:
        return None
    from pathlib import Path

    from mscseq.errors import MscseqError

    user = [
        p for p in as_list((comp.get("settings") or {}).get("panels")) if Path(str(p)).is_file()
    ]
    try:
        panels = load_panels(user)
    except MscseqError:
        return None
    names = (
        adata.var["gene_name"].astype(str).tolist()
        if "gene_name" in adata.var
        else [""] * adata.n_vars
    )
    matched = match_genes(panels, [str(g) for g in adata.var_names], names)
    matched = matched[matched["index"] >= 0]
    if matched.empty or "vst" not in adata.layers:
        return None
    vst = np.asarray(adata.layers["vst"])[:, matched["index"].to_numpy()]
    centred = (vst - np.median(vst, axis=0)).T
    sign = np.where(matched["direction"].to_numpy() == "negative", "−", "+")
    sym = [s or g for s, g in zip(matched["symbol"], matched["gene_id"], strict=True)]
    rows = [
        f"{humanise(p)} · {s} ({d})" for p, s, d in zip(matched["panel"], sym, sign, strict=True)
    ]
    hover = [f"{r}: {n}" if n else r for r, n in zip(rows, matched["note"], strict=True)]
    return centred, rows, hover


def panels_section(adata, comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """MSC gene panels: per-product scores and marker heatmap, flags with their explanation, coverage."""
    panels = (comp or {}).get("panels")
    if not isinstance(panels, Mapping):
        return {"computed": False, "blocks": [], "flags": [], "figs": []}
    samples = [str(s) for s in adata.obs_names]
    fig_list = []
    scores = panels.get("scores") or {}
    if isinstance(scores, Mapping) and scores:
        names = [s for s in samples if s in scores] or list(scores)
        keys: list[str] = []
        for s in names:
            keys += [k for k in scores[s] if k not in keys]
        m = np.array(
            [
                [np.nan if scores[s].get(k) is None else float(scores[s][k]) for s in names]
                for k in keys
            ]
        )
        spec = plots.diverging_heatmap(
            m,
            [humanise(k) for k in keys],
            names,
            label="score (log2)",
            show_values=len(names) <= 24,
            height=140 + 46 * len(keys),
        )
        fig_list.append({"id": figs.add("fig-panel-scores", spec), "label": "Panel scores per product", "height": 140 + 46 * len(keys),
                         "title": "Panel scores", "about": "Mean log2 difference from the median product over each panel's genes "
                         "(negative genes counted with opposite sign): 0 is a typical product, positive means more of what the panel measures."})  # fmt: skip
    genes = _gene_matrix(adata, comp or {})
    if genes is not None:
        mat, rows, hover = genes
        pos = {s: i for i, s in enumerate(samples)}
        spec = plots.diverging_heatmap(
            mat[:, [pos[s] for s in samples]],
            rows,
            samples,
            label="log2 vs median",
            hover_rows=hover,
        )
        fig_list.append({"id": figs.add("fig-panel-genes", spec), "label": "Panel genes per product", "height": spec["layout"]["height"],
                         "title": "Panel genes", "about": "Each gene's expression (VST, log2) minus its median over the products; "
                         "(+) genes should be present, (−) genes absent for the identity panel."})  # fmt: skip
    coverage = [
        [cell(humanise(p.get("panel", ""))), cell(None, text=PANEL_ABOUT.get(str(p.get("panel")), "user panel")),
         cell(p.get("n_genes")), cell(p.get("n_found")), cell(None, text=", ".join(as_list(p.get("missing"))) or "–")]
        for p in as_records(panels.get("panels"))
    ]  # fmt: skip
    blocks = (
        [
            _table(
                ["panel", "what it measures", "genes", "found in the data", "not found"],
                coverage,
                title="Panels",
            )
        ]
        if coverage
        else []
    )
    pv = as_records(panels.get("potency_variability"))
    if pv:
        blocks.append(
            _table(
                ["gene", "gene ID", "SD across products (log2)", "range (log2)"],
                [
                    [
                        cell(r.get("symbol") or r.get("gene_id")),
                        cell(r.get("gene_id")),
                        cell(r.get("sd_log2")),
                        cell(r.get("range_log2")),
                    ]
                    for r in pv
                ],
                title="Variability of the potency genes across products",
            )
        )
    rest = {
        k: v
        for k, v in panels.items()
        if k not in {"flags", "scores", "panels", "potency_variability", "user_panels"}
    }
    blocks += generic_blocks(rest) if rest else []
    return {
        "computed": True,
        "figs": fig_list,
        "flags": panel_flag_list(comp),
        "explanation": FLAG_EXPLANATION,
        "blocks": blocks,
    }
