"""MSC panels (``panels.html.j2``): panel scores and marker heatmaps, flags with their explanation, coverage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mscseq.report import figdata
from mscseq.report.fmt import as_list, as_records, cell, generic_blocks, humanise, table_block
from mscseq.report.records import panel_flag_list
from mscseq.report.sections import Figures

PANEL_ABOUT = {
    "isct_identity": "MSC identity markers: positive genes (the ISCT markers CD73/NT5E, CD90/THY1, CD105/ENG and the "
    "established CD44, CD29/ITGB1, CD166/ALCAM, CD13/ANPEP) should be expressed; "
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

SCORES_ABOUT = (
    "Mean log2 difference from the median product over each panel's genes (negative genes counted with opposite "
    "sign): 0 is a typical product, positive means more of what the panel measures."
)
GENES_ABOUT = (
    "Each gene's expression (VST, log2) minus its median over the products; (+) genes should be present, (−) genes "
    "absent for the identity panel."
)


def _figures(adata, comp: Mapping[str, Any], figs: Figures) -> list[dict[str, Any]]:
    out = []
    scores = figdata.panel_scores(adata, comp)
    if scores is not None:
        height = scores["layout"]["height"]
        out.append({"id": figs.add("fig-panel-scores", scores), "label": "Panel scores per product", "height": height,
                    "title": "Panel scores", "about": SCORES_ABOUT})  # fmt: skip
    genes = figdata.panel_genes(adata, comp)
    if genes is not None:
        out.append({"id": figs.add("fig-panel-genes", genes), "label": "Panel genes per product",
                    "height": genes["layout"]["height"], "title": "Panel genes", "about": GENES_ABOUT})  # fmt: skip
    return out


def _blocks(panels: Mapping[str, Any]) -> list[dict[str, Any]]:
    coverage = [
        [cell(humanise(p.get("panel", ""))), cell(None, text=PANEL_ABOUT.get(str(p.get("panel")), "user panel")),
         cell(p.get("n_genes")), cell(p.get("n_found")), cell(None, text=", ".join(as_list(p.get("missing"))) or "–")]
        for p in as_records(panels.get("panels"))
    ]  # fmt: skip
    header = ["panel", "what it measures", "genes", "found in the data", "not found"]
    blocks = [table_block(header, coverage, title="Panels")] if coverage else []
    variability = as_records(panels.get("potency_variability"))
    if variability:
        rows = [
            [cell(r.get("symbol") or r.get("gene_id")), cell(r.get("gene_id")), cell(r.get("sd_log2")),
             cell(r.get("range_log2"))]
            for r in variability
        ]  # fmt: skip
        header = ["gene", "gene ID", "SD across products (log2)", "range (log2)"]
        blocks.append(
            table_block(header, rows, title="Variability of the potency genes across products")
        )
    shown = {"flags", "scores", "panels", "potency_variability", "user_panels"}
    rest = {k: v for k, v in panels.items() if k not in shown}
    return blocks + (generic_blocks(rest) if rest else [])


def section(adata, comp: Mapping[str, Any] | None, figs: Figures) -> dict[str, Any]:
    """MSC gene panels: per-product scores and marker heatmap, flags with their explanation, coverage."""
    panels = (comp or {}).get("panels")
    if comp is None or not isinstance(panels, Mapping):
        return {"computed": False, "blocks": [], "flags": [], "figs": []}
    return {
        "computed": True,
        "figs": _figures(adata, comp, figs),
        "flags": panel_flag_list(comp),
        "explanation": FLAG_EXPLANATION,
        "blocks": _blocks(panels),
    }
