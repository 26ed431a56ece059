"""Methods (``methods.html.j2``): the methods text, written from what the run actually did, and the references it cites.

Every sentence is conditional on a recorded result or parameter: a test that did not run (no ``--group``,
a skipped comparison, ``--permutations 0``) is not cited, and the engine, test, threshold, alternative,
α and permutations are read from the run's records (``summary.json``, ``run_info.json``, ``adata.uns``),
never assumed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mscseq.report.fmt import as_list, as_records, fmt, humanise, pct
from mscseq.report.records import is_tiered
from mscseq.report.tiers import ci_label, protocol_settings, score_tolerance

#: References cited in the methods, by key.
REFERENCES: dict[str, str] = {
    "deseq2": "Love MI, Huber W, Anders S (2014). Moderated estimation of fold change and dispersion for RNA-seq data with DESeq2. Genome Biology 15:550.",
    "pydeseq2": "Muzellec B, Teleńczuk M, Cabeli V, Andreux M (2023). PyDESeq2: a python package for bulk RNA-seq differential expression analysis. Bioinformatics 39:btad547.",
    "scanpy": "Wolf FA, Angerer P, Theis FJ (2018). SCANPY: large-scale single-cell gene expression data analysis. Genome Biology 19:15.",
    "bh": "Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate: a practical and powerful approach to multiple testing. Journal of the Royal Statistical Society B 57:289–300.",
    "permanova": "Anderson MJ (2001). A new method for non-parametric multivariate analysis of variance. Austral Ecology 26:32–46.",
    "permdisp": "Anderson MJ (2006). Distance-based tests for homogeneity of multivariate dispersions. Biometrics 62:245–253.",
    "tost": "Schuirmann DJ (1987). A comparison of the two one-sided tests procedure and the power approach for assessing the equivalence of average bioavailability. Journal of Pharmacokinetics and Biopharmaceutics 15:657–680.",
    "holm": "Holm S (1979). A simple sequentially rejective multiple test procedure. Scandinavian Journal of Statistics 6:65–70.",
    "isct": "Dominici M, Le Blanc K, Mueller I, et al. (2006). Minimal criteria for defining multipotent mesenchymal stromal cells. The International Society for Cellular Therapy position statement. Cytotherapy 8:315–317.",
}

#: How each permutation scheme of PERMANOVA is described.
SCHEMES = {
    "free": "labels permuted freely",
    "within_blocks": "labels permuted within donors",
    "between_blocks": "whole donors permuted",
}

Text = list[Any]
Cite = Callable[[str], dict[str, int]]


def run_parameters(run_info: Mapping[str, Any], uns: Mapping[str, Any]) -> dict[str, Any]:
    """The run's parameters: ``run_info.json``'s, else those recorded in ``adata.uns["mscseq"]``."""
    params = run_info.get("parameters")
    if not params:
        params = (uns.get("mscseq") or {}).get("params")
    return dict(params or {})


def _engine_text(engine: str | None, versions: Mapping[str, Any], ref: Cite) -> Text:
    """Which DESeq2 implementation ran (nothing is assumed when the run did not record it)."""
    if engine == "pydeseq2":
        name = f"PyDESeq2 {versions.get('pydeseq2', '')}".strip()
        return [f"{name} ", ref("pydeseq2"), ", a Python implementation of DESeq2 ", ref("deseq2")]
    if engine:
        return [
            f"mscseq's own implementation (engine '{engine}') of the DESeq2 method ",
            ref("deseq2"),
        ]
    return ["the DESeq2 method ", ref("deseq2")]


def _contrast_text(d: Mapping[str, Any]) -> str:
    if not d.get("target") and not d.get("reference"):  # a continuous covariate
        return f"the log2 fold change per unit of {d.get('variable')}"
    return f"{d.get('target')} versus {d.get('reference')} ({d.get('variable')})"


def _test_text(d: Mapping[str, Any], design: Any) -> str:
    """The test of one contrast, with its threshold and alternative as DESeq2 names them."""
    if d.get("test") == "lrt":
        return (
            f"likelihood ratio tests of the design {design} against the reduced design {d.get('reduced', '~ 1')} "
            "(log2 fold changes reported for the contrast"
        )
    t = float(d.get("lfc_threshold") or 0.0)
    alt = str(d.get("alt_hypothesis") or "greaterAbs")
    if t == 0 and alt == "greaterAbs":
        return "Wald tests for the contrast"
    alternative = {
        "greaterAbs": f"|log2 fold change| > {fmt(t)}",
        "lessAbs": f"|log2 fold change| < {fmt(t)}",
        "greater": f"log2 fold change > {fmt(t)}",
        "less": f"log2 fold change < {fmt(-t)}",
    }.get(alt, f"{alt} at {fmt(t)}")
    return f"Wald tests of the alternative {alternative} (lfcThreshold {fmt(t)}, altHypothesis {alt}) for the contrast"


def _call_text(d: Mapping[str, Any]) -> str:
    """What a gene below α means under the test used."""
    alpha = fmt(d.get("alpha"))
    if d.get("test") != "lrt" and d.get("alt_hypothesis") == "lessAbs":
        return (
            f"genes with adjusted p-value below {alpha} are shown to change by less than "
            f"{fmt(float(d.get('lfc_threshold') or 0.0))} log2 and are counted up or down by the sign of their "
            "log2 fold change."
        )
    return f"genes with adjusted p-value below {alpha} are called up or down."


def _de_groups(de: list[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Contrasts grouped by the settings they ran with (one run applies the same settings to all)."""
    keys = ("test", "reduced", "lfc_threshold", "alt_hypothesis", "alpha")
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for d in de:
        groups.setdefault(tuple(str(d.get(k)) for k in keys), []).append(d)
    return list(groups.values())


def _capitalise_rest(sentences: list[str]) -> list[str]:
    return sentences[:1] + [t[:1].upper() + t[1:] for t in sentences[1:]]


def de_paragraph(
    de: list[Mapping[str, Any]],
    params: Mapping[str, Any],
    design: Any,
    versions: Mapping[str, Any],
    ref: Cite,
) -> dict[str, Any] | None:
    """Differential expression: engine, design, test (Wald/LRT, threshold, alternative) and α as run."""
    if not de:
        return None
    text: Text = ["Differential expression was tested with "]
    text += _engine_text(params.get("engine"), versions, ref)
    tests = []
    for same in _de_groups(de):
        plural = "s" if len(same) > 1 else ""
        names = "; ".join(_contrast_text(d) for d in same)
        close = ")" if same[0].get("test") == "lrt" else ""
        tests.append(f"{_test_text(same[0], design)}{plural} {names}{close}")
    calls = list(dict.fromkeys(_call_text(same[0]) for same in _de_groups(de)))
    text += [
        f", using the design {design} and {'. '.join(_capitalise_rest(tests))}. P-values were adjusted with the "
        "Benjamini–Hochberg procedure ",
        ref("bh"),
        f" after independent filtering, and {' '.join(calls)}",
    ]
    text += _de_options_text(de)
    thresholded = any(d.get("test") != "lrt" and float(d.get("lfc_threshold") or 0) > 0 for d in de)
    if params.get("engine") == "pydeseq2" and thresholded:
        text.append(
            " PyDESeq2 applies lfcThreshold to a design coefficient rather than to the contrast, which is "
            "exact only when the contrast is that one coefficient."
        )
    return {"title": "Differential expression", "text": text}


def _de_options_text(de: list[Mapping[str, Any]]) -> list[str]:
    """Clauses for the DE options that differ from DESeq2's defaults (none for a default run)."""
    out = []
    fit_types = sorted({str(d["fit_type"]) for d in de if d.get("fit_type")})
    if fit_types:
        out.append(f" The dispersion–mean trend was fitted with fitType {', '.join(fit_types)}.")
    own = [f"{d.get('name')} ({d['design']})" for d in de if d.get("design")]
    if own:
        out.append(
            f" Contrasts of a contrasts sheet were fitted with their own designs: {'; '.join(own)}."
        )
    shrink = sorted({str(d["shrink"]) for d in de if d.get("shrink")})
    if shrink:
        out.append(
            f" Shrunken log2 fold changes (DESeq2's lfcShrink, type {', '.join(shrink)}) are reported as "
            "log2FoldChange_shrunk and lfcSE_shrunk beside the unshrunken estimates, which the tests use."
        )
    return out


def _permutations_text(block: Mapping[str, Any], seed: Any) -> str:
    """``with 999 permutations (…; seed 1)``, or that no p-value was computed."""
    n = block.get("permutations")
    if not n or block.get("p_value") is None:
        return "; no permutations were run, so no p-value was computed"
    scheme = SCHEMES.get(str(block.get("scheme")), "")
    how = "; ".join(x for x in (scheme, f"seed {seed}" if seed is not None else "") if x)
    return f", with {fmt(n)} permutations" + (f" ({how})" if how else "")


def _equivalence_text(
    comp: Mapping[str, Any], engine: str | None, versions: Mapping[str, Any], ref: Cite
) -> Text:
    settings = comp.get("settings") or {}
    records = as_records(comp.get("equivalence"))
    tested = [c for c in records if not c.get("skipped")]
    text: Text = []
    if tested:
        margin = fmt(settings.get("margin", tested[0].get("margin")))
        targets = ", ".join(str(c.get("target")) for c in tested)
        text += [
            f"Equivalence of {targets} with the reference {settings.get('reference', tested[0].get('reference'))} "
            "was tested per gene with two one-sided tests (TOST) ",
            ref("tost"),
            f" at a margin of ±{margin} log2 fold change: DESeq2 Wald tests with lfcThreshold {margin} and "
            "altHypothesis lessAbs (shown equivalent) and greaterAbs (shown beyond the margin), with ",
            *_engine_text(settings.get("engine") or engine, versions, ref),
            f" and the design {settings.get('design')}, at an adjusted p-value below "
            f"{fmt(settings.get('alpha', tested[0].get('alpha')))}. ",
        ]
    for c in records:
        if c.get("skipped"):
            text.append(
                f"Equivalence of {c.get('target')} with {c.get('reference')} was not tested: {c['skipped']}. "
            )
    return text


def _permutation_test_text(
    name: str, block: Any, what: str, where: str, seed: Any, ref: Cite
) -> Text:
    """One permutation test (PERMANOVA or PERMDISP) as it ran: tested, measured only, or not computed."""
    if not isinstance(block, Mapping):
        return []
    if block.get("skipped"):
        return [f"{name} was not computed: {block['skipped']}. "]
    tested = block.get("p_value") is not None and block.get("permutations")
    verb = (
        "tested"
        if tested
        else ("measured (pseudo-F and R²)" if name == "PERMANOVA" else "measured")
    )
    return [
        f"Differences in {what} were {verb} with {name} ",
        ref(name.lower()),
        f"{where}{_permutations_text(block, seed)}. ",
    ]


def _permutation_tests_text(comp: Mapping[str, Any], ref: Cite) -> Text:
    seed = (comp.get("settings") or {}).get("seed")
    return [
        *_permutation_test_text("PERMANOVA", comp.get("permanova"), "multivariate location between the groups",
                                " on Euclidean distances between the products' transformed profiles", seed, ref),
        *_permutation_test_text("PERMDISP", comp.get("permdisp"), "spread (distance to the group median)", "",
                                seed, ref),
    ]  # fmt: skip


def _other_parts_text(comp: Mapping[str, Any], ref: Cite) -> Text:
    """Variance partition and gene panels, as far as they were computed."""
    text: Text = []
    vp = comp.get("variance_partition")
    if isinstance(vp, Mapping) and vp.get("skipped"):
        text.append(f"The donor variance partition was not computed: {vp['skipped']}. ")
    elif isinstance(vp, Mapping):
        fixed = ", ".join(str(v) for v in as_list(vp.get("fixed"))) or "none"
        text.append(
            f"The share of each gene's variance due to the donor ({vp.get('donor')}) was estimated with a "
            f"per-gene linear mixed model fitted by REML on the transformed data (fixed effects: {fixed}). "
        )
    panels = comp.get("panels")
    names = (
        [str(p.get("panel")) for p in as_records((panels or {}).get("panels"))]
        if isinstance(panels, Mapping)
        else []
    )
    if names:
        text.append(
            f"Each product was scored on the MSC gene panels {', '.join(map(humanise, names))}"
        )
        if "isct_identity" in names:
            text += ["; the identity markers follow the ISCT minimal criteria ", ref("isct")]
        text.append(". ")
    return text


def _unique(values: Any) -> list[str]:
    out: list[str] = []
    for v in values:
        if v is not None and str(v) not in out:
            out.append(str(v))
    return out


def _tier1_text(comps: list[dict[str, Any]], comp: Mapping[str, Any], ref: Cite) -> Text:
    attrs = [a for c in comps for a in as_records((c.get("tier1") or {}).get("attributes"))]
    if not attrs:
        return []
    margins = _unique(
        f"{humanise(str(a.get('panel')))} ±{fmt(a.get('margin'))} log2" for a in attrs
    )
    methods = _unique(a.get("method") for a in attrs)
    alpha = protocol_settings(comp).get("alpha")
    level = f" at a one-sided level of {fmt(alpha)}" if alpha is not None else ""
    text: Text = [
        "Tier 1 (critical quality attributes): each product's panel scores (the mean transformed expression "
        "of the panel's genes) were compared between the groups (target − reference, log2) with two one-sided "
        "tests (TOST) ",
        ref("tost"),
        f"{level}; an attribute is equivalent when its {ci_label(comp)} lies within its margin "
        f"({'; '.join(margins)}) and different when the interval excludes 0 and the estimate exceeds the "
        "margin. Any attribute shown different fails the tier (intersection–union test); it passes only when "
        "every attribute is shown equivalent. ",
    ]
    if methods:
        text.append(f"Test: {', '.join(methods)}. ")
    return text


def _tier2_text(comps: list[dict[str, Any]]) -> Text:
    t2s = [c.get("tier2") or {} for c in comps if isinstance(c.get("tier2"), Mapping)]
    if not t2s:
        return []
    t2 = t2s[0]
    genes = _unique(fmt(t.get("n_genes")) for t in t2s)
    methods = _unique(t.get("method") for t in t2s)
    return [
        f"Tier 2 (transcriptome-wide): on {' / '.join(genes)} genes chosen without the group labels, the "
        f"fraction of genes whose group difference exceeds ±{fmt(t2.get('margin'))} log2 was estimated with "
        f"its interval{' (' + '; '.join(methods) + ')' if methods else ''}; the tier passes when the upper "
        f"bound is at most f₀ = {pct(t2.get('f0'), 2)} and fails when the lower bound exceeds it. "
    ]


def _single_group_text(comp: Mapping[str, Any]) -> Text:
    sg = comp.get("single_group")
    if not isinstance(sg, Mapping):
        return []
    split, spread = sg.get("split") or {}, sg.get("spread") or {}
    text: Text = [
        "Single group: the products' best two-way split was tested for significance, allowing for the split "
        "having been chosen from the data"
        + (f" ({split['method']})" if split.get("method") else "")
        + ", and judged material when a panel score or more than f₀ of the genes differ beyond their margins. "
    ]
    if spread:
        text.append(
            "The between-product biological spread"
            + (
                f" on {fmt(spread.get('n_genes'))} well-expressed genes"
                if spread.get("n_genes")
                else ""
            )
            + f" had to have its upper bound at most τ = {fmt(spread.get('tau'))} log2. "
        )
    tolerance = score_tolerance(sg.get("score_spread"))
    if tolerance:
        text.append(
            "Each panel score also got its own best two-way split (failing when significant and beyond its "
            "margin), and its between-product biological SD (χ² bounds, technical SD removed) failed the "
            f"group when its lower bound exceeded {tolerance} log2. "
        )
    return text


def _range(values: list[Any]) -> str:
    lo, hi = min(values), max(values)
    return fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}"


def _products_text(comp: Mapping[str, Any], ref: Cite) -> Text:
    records = as_records(comp.get("products"))
    if not records:
        return []
    adjust = (protocol_settings(comp).get("products") or {}).get("adjust")
    peers = [p.get("n_peers") for p in records if p.get("n_peers") is not None]
    text: Text = [
        "Each product was tested against its peers for deviation"
        + (f" ({_range(peers)} peers)" if peers else "")
        + ", with p-values adjusted across the assessable products"
    ]
    if str(adjust or "holm").lower() == "holm":
        text += [" by Holm's method ", ref("holm")]
    text.append(
        "; products with too few peers are not assessable. Any deviating product means the set is not comparable. "
    )
    if isinstance(comp.get("sensitivity"), Mapping):
        text.append(
            "The answer with the deviating products set aside is reported as a sensitivity analysis only. "
        )
    return text


def tiered_paragraph(comp: Mapping[str, Any], ref: Cite) -> dict[str, Any]:
    """Comparability under the tiered rule (``mscseq.summary/2``), every number read from the block."""
    text: Text = []
    record = comp.get("protocol")
    if isinstance(record, Mapping):
        text.append(
            f"Comparability followed the protocol {record.get('source', '')} (SHA-256 "
            f"{str(record.get('sha256', ''))[:16]}…), fixed before the data were analysed. "
        )
    comps = as_records(comp.get("comparisons"))
    text += _tier1_text(comps, comp, ref)
    text += _tier2_text(comps)
    text += _single_group_text(comp)
    text += _products_text(comp, ref)
    descriptive = _permutation_tests_text(comp, ref) + _other_parts_text(comp, ref)
    if descriptive:
        text += ["Descriptive analyses, not part of the decision rule: ", *descriptive]
    if comp.get("rule"):
        text.append(f"Decision rule: {comp['rule']}")
    return {"title": "Comparability", "text": text}


def comparability_paragraph(
    comp: Mapping[str, Any] | None, engine: str | None, versions: Mapping[str, Any], ref: Cite
) -> dict[str, Any]:
    """Comparability: only the tests that produced results, with their parameters."""
    if comp is None:
        return {
            "title": "Comparability",
            "text": [
                "The comparability assessment was not part of this run, so no verdict is given."
            ],
        }
    if is_tiered(comp):
        return tiered_paragraph(comp, ref)
    text: Text = ["Product comparability was assessed from the same transformed data. "]
    if isinstance(comp.get("similarity"), Mapping):
        text.append(
            "Each product was screened for outliers with robust (median absolute deviation) z-scores of its median "
            "correlation with its peers and of its distance to their centroid in PCA space. "
        )
    text += _equivalence_text(comp, engine, versions, ref)
    text += _permutation_tests_text(comp, ref)
    text += _other_parts_text(comp, ref)
    if comp.get("rule"):
        text.append(f"Decision rule: {comp['rule']}")
    return {"title": "Comparability", "text": text}


def _input_paragraph(summary: Mapping[str, Any], uns: Mapping[str, Any]) -> dict[str, Any]:
    dims = summary.get("dimensions", {})
    inp = uns.get("input", {}) or {}
    fmt_name = inp.get("format")
    return {
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


def _exploration_paragraph(uns: Mapping[str, Any], ref: Cite) -> dict[str, Any]:
    vst = uns.get("vst", {}) or {}
    pca = uns.get("pca", {}) or {}
    clustering = uns.get("clustering", {}) or {}
    sf_type = ((uns.get("mscseq") or {}).get("params") or {}).get("size_factors") or "ratio"
    sf_method = {
        "poscounts": "the median-of-ratios method over positive counts (DESeq2's type poscounts)",
        "iterate": "DESeq2's iterative method (type iterate)",
    }.get(sf_type, "the median-of-ratios method")
    return {
        "title": "Normalisation and exploration",
        "text": [
            f"Size factors were estimated with {sf_method} and counts divided by them ",
            ref("deseq2"),
            f". A blind variance-stabilising transformation with a {vst.get('fit_type', 'parametric')} "
            "dispersion–mean trend was applied ",
            ref("deseq2"),
            f". Principal component analysis used the {fmt(pca.get('n_top'))} genes with the highest variance "
            "after transformation, centred and not scaled, computed by singular value decomposition as in scanpy ",
            ref("scanpy"),
            f". Samples were ordered by hierarchical clustering ({clustering.get('method', 'average')} linkage) on "
            f"the distance {clustering.get('metric', '1 − Pearson r')} between their transformed profiles.",
        ],
    }


def de_records(summary: Mapping[str, Any], uns: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The contrasts that ran, with their settings: ``summary.json``'s ``de``, else ``uns["de_summary"]``."""
    de = [d for d in as_records(summary.get("de")) if d]
    if de:
        return de
    return [{"name": k, **dict(v)} for k, v in (uns.get("de_summary") or {}).items()]


def section(
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
        ``adata.uns`` (VST, PCA, clustering and input details; the parameters when ``run_info`` has none).
    comparability
        The comparability block, or ``None`` when it was not computed.

    Returns
    -------
    dict
        ``paragraphs``: list of ``{"title", "text"}`` where ``text`` is a list of plain strings and
        ``{"ref": n}`` citation markers; ``references``: list of ``{"n", "key", "text"}``.

    """
    cited: list[str] = []

    def ref(key: str) -> dict[str, int]:
        if key not in cited:
            cited.append(key)
        return {"ref": cited.index(key) + 1}

    params = run_parameters(run_info, uns)
    versions = run_info.get("versions", {}) or {}
    design = params.get("design", summary.get("design"))
    paras = [_input_paragraph(summary, uns), _exploration_paragraph(uns, ref)]
    de = de_paragraph(de_records(summary, uns), params, design, versions, ref)
    if de is not None:
        paras.append(de)
    paras.append(comparability_paragraph(comparability, params.get("engine"), versions, ref))
    references = [{"n": i + 1, "key": k, "text": REFERENCES[k]} for i, k in enumerate(cited)]
    return {"paragraphs": paras, "references": references}
