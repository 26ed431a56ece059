"""The report's methods text, written from the parameters the run actually used, and its references."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mscseq.report.sections import as_list, fmt

#: References cited in the methods, by key.
REFERENCES: dict[str, str] = {
    "deseq2": "Love MI, Huber W, Anders S (2014). Moderated estimation of fold change and dispersion for RNA-seq data with DESeq2. Genome Biology 15:550.",
    "pydeseq2": "Muzellec B, Teleńczuk M, Cabeli V, Andreux M (2023). PyDESeq2: a python package for bulk RNA-seq differential expression analysis. Bioinformatics 39:btad547.",
    "scanpy": "Wolf FA, Angerer P, Theis FJ (2018). SCANPY: large-scale single-cell gene expression data analysis. Genome Biology 19:15.",
    "bh": "Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate: a practical and powerful approach to multiple testing. Journal of the Royal Statistical Society B 57:289–300.",
    "permanova": "Anderson MJ (2001). A new method for non-parametric multivariate analysis of variance. Austral Ecology 26:32–46.",
    "permdisp": "Anderson MJ (2006). Distance-based tests for homogeneity of multivariate dispersions. Biometrics 62:245–253.",
    "tost": "Schuirmann DJ (1987). A comparison of the two one-sided tests procedure and the power approach for assessing the equivalence of average bioavailability. Journal of Pharmacokinetics and Biopharmaceutics 15:657–680.",
    "isct": "Dominici M, Le Blanc K, Mueller I, et al. (2006). Minimal criteria for defining multipotent mesenchymal stromal cells. The International Society for Cellular Therapy position statement. Cytotherapy 8:315–317.",
}


def methods(
    summary: Mapping[str, Any],
    run_info: Mapping[str, Any],
    *,
    uns: Mapping[str, Any],
    comparability: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Methods paragraphs and the numbered references they cite.

    Parameters
    ----------
    summary
        Content of ``summary.json``.
    run_info
        Content of ``run_info.json``.
    uns
        ``adata.uns`` (VST, PCA, clustering and input details).
    comparability
        The comparability block, or ``None`` when it was not computed.

    Returns
    -------
    dict
        ``paragraphs``: list of ``{"title", "text"}`` where ``text`` is a list of plain strings and
        ``{"ref": n}`` citation markers; ``references``: list of ``{"n", "text"}``.

    """
    cited: list[str] = []

    def ref(key: str) -> dict[str, int]:
        if key not in cited:
            cited.append(key)
        return {"ref": cited.index(key) + 1}

    params = run_info.get("parameters", {}) or {}
    versions = run_info.get("versions", {}) or {}
    dims = summary.get("dimensions", {})
    inp = uns.get("input", {}) or {}
    vst = uns.get("vst", {}) or {}
    pca = uns.get("pca", {}) or {}
    clus = uns.get("clustering", {}) or {}
    paras: list[dict[str, Any]] = []

    fmt_name = inp.get("format")
    paras.append(
        {
            "title": "Input and quality control",
            "text": [
                f"Counts for {fmt(dims.get('n_genes'))} genes in {fmt(dims.get('n_samples'))} samples were read"
                + (f" from {fmt_name} files" if fmt_name else "")
                + (f" at {inp.get('level')} level" if inp.get("level") else "")
                + f" ({fmt(dims.get('n_genes_expressed'))} genes with at least one count). "
                "For each sample the library size (total counts), the number of detected genes (at least one "
                "count) and the share of counts in its 100 most counted genes were recorded.",
            ],
        }
    )
    fit = vst.get("fit_type", "parametric")
    paras.append(
        {
            "title": "Normalisation and exploration",
            "text": [
                "Size factors were estimated with the median-of-ratios method and counts divided by them ",
                ref("deseq2"),
                f". A blind variance-stabilising transformation with a {fit} dispersion–mean trend was applied ",
                ref("deseq2"),
                f". Principal component analysis used the {fmt(pca.get('n_top'))} genes with the highest variance "
                "after transformation, centred and not scaled, computed with scanpy ",
                ref("scanpy"),
                f". Samples were ordered by hierarchical clustering ({clus.get('method', 'average')} linkage) on the "
                f"distance {clus.get('metric', '1 − Pearson r')} between their transformed profiles.",
            ],
        }
    )
    contrasts = [str(c) for c in as_list(params.get("contrasts"))]
    if contrasts:
        engine = str(params.get("engine", "pydeseq2"))
        if engine == "pydeseq2":
            how = [f"PyDESeq2 {versions.get('pydeseq2', '')} ".replace("  ", " "), ref("pydeseq2"),
                   ", a Python implementation of DESeq2 ", ref("deseq2")]  # fmt: skip
        else:
            how = [
                f"mscseq's own implementation (engine '{engine}') of the DESeq2 method ",
                ref("deseq2"),
            ]
        pretty = []
        for c in contrasts:
            parts = c.split(",")
            pretty.append(f"{parts[1]} versus {parts[2]} ({parts[0]})" if len(parts) == 3 else c)
        paras.append(
            {
                "title": "Differential expression",
                "text": [
                    "Differential expression was tested with ",
                    *how,
                    f", using the design {params.get('design', summary.get('design'))} and Wald tests for the "
                    f"contrast{'s' if len(pretty) > 1 else ''} {'; '.join(pretty)}. P-values were adjusted with the "
                    "Benjamini–Hochberg procedure ",
                    ref("bh"),
                    f" after independent filtering, and genes with adjusted p-value below {fmt(params.get('alpha'))} "
                    "are called up or down.",
                ],
            }
        )
    if comparability is not None:
        text: list[Any] = ["Product comparability was assessed from the same transformed data. "]
        keys = set(comparability)
        if "equivalence" in keys:
            text += ["Equivalence was tested with two one-sided tests (TOST) ", ref("tost"), ". "]
        perms = (comparability.get("settings") or {}).get("permutations")
        tested = "were tested with" if perms != 0 else "were measured (no permutation test) with"
        if comparability.get("permanova"):
            text += [
                f"Differences in multivariate location between groups {tested} PERMANOVA ",
                ref("permanova"),
                ". ",
            ]
        if comparability.get("permdisp"):
            text += [f"Differences in dispersion {tested} PERMDISP ", ref("permdisp"), ". "]
        if "panels" in keys:
            text += [
                "MSC identity markers follow the ISCT minimal criteria ",
                ref("isct"),
                ". ",
            ]
        if comparability.get("rule"):
            text += [f"Decision rule: {comparability['rule']}"]
        paras.append({"title": "Comparability", "text": text})
    else:
        paras.append(
            {
                "title": "Comparability",
                "text": [
                    "The comparability assessment was not part of this run, so no verdict is given."
                ],
            }
        )
    references = [{"n": i + 1, "key": k, "text": REFERENCES[k]} for i, k in enumerate(cited)]
    return {"paragraphs": paras, "references": references}
