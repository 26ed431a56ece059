"""Comparability statistics (``statistics.html.j2``): outliers, equivalence, PERMANOVA/PERMDISP, variance, ranges.

The block is read as :mod:`mscseq.comparability` writes it (see ``docs/comparability.md``). Parts this
module does not know in detail are still shown, as key–value lists and tables
(:func:`mscseq.report.fmt.generic_blocks`), so no recorded result is hidden from the reader. With a tiered
block (``mscseq.summary/2``) the tiers are on the first screen; here the similarity, PERMANOVA/PERMDISP and
the variance partition are shown as *descriptive, not in the rule*.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mscseq.report import figdata
from mscseq.report.fmt import (
    as_list,
    as_records,
    cell,
    fmt,
    generic_blocks,
    humanise,
    kv_block,
    pct,
    scalar,
    table_block,
)
from mscseq.report.records import is_tiered, products_status
from mscseq.report.sections import Figures

#: Keys of the block shown by dedicated parts (everything else goes to the generic "other results").
KNOWN = {
    "verdict", "rule", "reasons", "metrics", "products", "caveats", "panels", "similarity", "equivalence",
    "permanova", "permdisp", "variance_partition", "quality_range", "settings",
    # the tiered block (mscseq.summary/2): shown on the first screen, or here as descriptive
    "question", "protocol", "comparisons", "single_group", "sensitivity", "confounders", "settle",
    "descriptive",
}  # fmt: skip
#: Title prefix of the parts that are outside the tiered rule.
DESCRIPTIVE = "Descriptive (not in the rule): "


def _part(key: str, title: str, about: str, fig: str | None, blocks: list, **extra: Any) -> dict:
    return {"key": key, "title": title, "about": about, "fig": fig, **extra, "blocks": blocks}


def _outlier_rows(comp: Mapping[str, Any], samples: list[str]) -> list[list[dict[str, Any]]]:
    sim = comp["similarity"]
    status = {s: v["status"] for s, v in products_status(comp).items()}
    corr = sim.get("median_correlation") or {}
    dist = sim.get("centroid_distance") or {}
    zc, zd = sim.get("z_correlation") or {}, sim.get("z_distance") or {}
    conc = sim.get("concordance") or {}
    rows = []
    for s in samples:
        st = status.get(s, "")
        rows.append([cell(s), cell(st or "–", cls=f"status-{st}"), cell(corr.get(s), text=fmt(corr.get(s), digits=4)),
                     cell(dist.get(s)), cell(zc.get(s)), cell(zd.get(s)), cell(conc.get(s), text=pct(conc.get(s)))])  # fmt: skip
    return rows


def _outlier_part(comp: Mapping[str, Any], figs: Figures) -> dict[str, Any] | None:
    sim = comp.get("similarity")
    if not isinstance(sim, Mapping):
        return None
    metrics = comp.get("metrics") or {}
    threshold = float(metrics.get("mad_z_threshold", 3.5))
    spec = figdata.outlier_scores(comp)
    fig = figs.add("fig-outliers", spec) if spec is not None else None
    header = ["product", "status", "median correlation", "distance to centroid", "z (correlation)", "z (distance)",
              f"genes within ±{fmt(metrics.get('margin', 1))} log2 of peers"]  # fmt: skip
    blocks = [table_block(header, _outlier_rows(comp, figdata.similarity_samples(comp)))]
    clusters = sim.get("clusters")
    if isinstance(clusters, Mapping):
        sizes = ", ".join(fmt(x) for x in as_list(clusters.get("sizes"))) or "–"
        blocks.append(kv_block([("two-cluster cut: sizes", sizes), ("silhouette", clusters.get("silhouette")),
                                ("agreement with groups (adjusted Rand index)", clusters.get("adjusted_rand_index")),
                                ("genes used", sim.get("genes_used"))]))  # fmt: skip
    about = (
        "Each product is compared with its peers: a product whose median correlation with the others is unusually "
        "low, or which lies unusually far from their centre in the PCA, gets a high robust z-score. Products above "
        f"the dashed threshold ({threshold:g}) on either score are outliers."
    )
    return _part("outliers", "Outlier screening", about, fig, blocks, height=400)


def _equivalence_rows(eq: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    rows = []
    for c in eq:
        name = cell(f"{c.get('target')} vs {c.get('reference')}")
        if c.get("skipped"):
            rows.append(
                [
                    name,
                    cell(None, text=f"not tested: {c['skipped']}"),
                    *[cell(None) for _ in range(4)],
                ]
            )
            continue
        beyond = f"{fmt(c.get('n_beyond_margin'))} ({pct(c.get('fraction_beyond_margin'), 2)})"
        rows.append([name, cell(None, text=f"{fmt(c.get('n_target'))} vs {fmt(c.get('n_reference'))}"),
                     cell(c.get("n_tested")), cell(c.get("n_equivalent")),
                     cell(c.get("fraction_equivalent"), text=pct(c.get("fraction_equivalent"))),
                     cell(c.get("n_beyond_margin"), text=beyond)])  # fmt: skip
    return rows


def _beyond_table(c: Mapping[str, Any], margin: float) -> dict[str, Any] | None:
    top = as_records(c.get("top_beyond_margin"))
    if not top:
        return None
    rows = [
        [cell(t.get("gene_name") or t.get("gene_id")), cell(t.get("gene_id")), cell(t.get("log2FoldChange")),
         cell(t.get("padj"))]
        for t in top
    ]  # fmt: skip
    title = f"{c.get('target')} vs {c.get('reference')}: genes beyond ±{margin:g} log2"
    return table_block(["gene", "gene ID", "log2 FC", "padj"], rows, title=title)


def _equivalence_part(comp: Mapping[str, Any], figs: Figures) -> dict[str, Any] | None:
    eq = as_records(comp.get("equivalence"))
    if not eq:
        return None
    margin = figdata.equivalence_margin(comp)
    tested = [c for c in eq if not c.get("skipped")]
    spec = figdata.equivalence(comp)
    fig = figs.add("fig-equivalence", spec) if spec is not None else None
    header = [
        "comparison",
        "products",
        "testable genes",
        "shown equivalent",
        "% equivalent",
        "beyond the margin",
    ]
    blocks = [table_block(header, _equivalence_rows(eq))]
    blocks += [b for b in (_beyond_table(c, margin) for c in tested) if b is not None]
    about = (
        f"For each group compared with the reference, every gene gets two tests at the margin ±{margin:g} log2 "
        f"({2**margin:g}-fold): is the difference shown to be smaller than the margin (equivalent, two one-sided "
        "tests), or shown to be larger (beyond the margin)? Genes with too little evidence either way are neither."
    )
    return _part("equivalence", "Equivalence", about, fig, blocks, height=150 + 50 * len(tested))


def _p_or_none(block: Mapping[str, Any]) -> Any:
    p = block.get("p_value")
    return "not computed (no permutations)" if p is None else p


def _permutation_part(comp: Mapping[str, Any]) -> dict[str, Any] | None:
    pm, pd_ = comp.get("permanova"), comp.get("permdisp")
    if not isinstance(pm, Mapping) and not isinstance(pd_, Mapping):
        return None
    blocks = []
    if isinstance(pm, Mapping):
        blocks.append({**kv_block([
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
        blocks.append({**kv_block(pairs), "title": "PERMDISP (difference in spread)"})
    about = (
        "PERMANOVA tests whether the groups differ in their average profile, PERMDISP whether they differ in spread; "
        "both use permutations of the group labels. They are evidence, not part of the decision rule: a large p-value "
        "never shows that groups are the same."
    )
    return _part("permanova", "PERMANOVA and PERMDISP", about, None, blocks)


def _variance_part(comp: Mapping[str, Any], figs: Figures) -> dict[str, Any] | None:
    vp = comp.get("variance_partition")
    if not isinstance(vp, Mapping):
        return None
    if vp.get("skipped"):
        text = {"kind": "text", "title": "", "items": [f"Not computed: {vp['skipped']}"]}
        return _part("variance", "Variance partition", "", None, [text])
    spec = figdata.variance_partition(comp)
    fig = figs.add("fig-variance", spec) if spec is not None else None
    blocks = [kv_block([("donor column", vp.get("donor")), ("fixed effects", ", ".join(as_list(vp.get("fixed"))) or "none"),
                        ("genes", vp.get("n_genes")), ("model", vp.get("method"))])]  # fmt: skip
    about = "How much of each gene's variation comes from the donor and from the other sheet variables (median over genes, bars show the interquartile range)."
    return _part("variance", "Variance partition", about, fig, blocks, height=340)


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
    header = ["product", "panel genes in range", "genes outside the range"]
    return _part("quality", "Quality ranges", about, None, [table_block(header, rows)])


def _similarity_part(comp: Mapping[str, Any]) -> dict[str, Any] | None:
    """Tiered block: each product's similarity to its peers, descriptive.

    The status column shows the per-product test's answer (on the first screen).
    """
    part = _outlier_part({k: v for k, v in comp.items() if k != "products"}, Figures())
    if part is None:
        return None
    about = (
        "Each product's median correlation with the others and its distance to their centre in the PCA, "
        "as robust z-scores. Descriptive only: whether a product deviates is decided by the per-product "
        "test shown with the verdict."
    )
    blocks = part["blocks"]
    margin = (comp.get("similarity") or {}).get("margin")
    blocks[0]["header"][-1] = (
        f"genes within ±{fmt(margin)} log2 of peers"
        if margin is not None
        else "genes concordant with peers"
    )
    status = products_status(comp)
    for row in blocks[0]["rows"]:  # the status column shows the per-product test's answer
        st = status.get(row[0]["t"], {}).get("status", "")
        row[1] = cell(st or "–", cls=f"status-{st}")
    return _part("outliers", DESCRIPTIVE + "similarity to the peers", about, None, blocks)


def _descriptive(part: dict[str, Any] | None) -> dict[str, Any] | None:
    if part is not None:
        part["title"] = DESCRIPTIVE + part["title"]
        part["about"] = (part["about"] + " Not part of the decision rule.").strip()
    return part


def section(comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """Outlier screening, equivalence, PERMANOVA/PERMDISP, variance partition, quality ranges, settings.

    With a tiered block: the similarity, PERMANOVA/PERMDISP and variance partition, labelled descriptive.
    """
    if comp is None:
        return {"computed": False, "parts": [], "tiered": False}
    if is_tiered(comp):
        candidates = (
            _similarity_part(comp),
            _descriptive(_permutation_part(comp)),
            _descriptive(_variance_part(comp, figs)),
            _quality_part(comp),
        )
    else:
        candidates = (
            _outlier_part(comp, figs),
            _equivalence_part(comp, figs),
            _permutation_part(comp),
            _variance_part(comp, figs),
            _quality_part(comp),
        )
    parts = [p for p in candidates if p is not None]
    for key, value in comp.items():
        if key not in KNOWN and not scalar(value):
            parts.append(_part(key, humanise(key).capitalize(), "", None, generic_blocks(value)))
    settings = comp.get("settings")
    if isinstance(settings, Mapping):
        parts.append(
            _part("settings", "Settings of the assessment", "", None, generic_blocks(settings))
        )
    for p in parts:
        p.setdefault("height", 360)
    return {"computed": True, "parts": parts, "tiered": is_tiered(comp)}
