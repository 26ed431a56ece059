"""The comparability decision rule: metrics in, verdict and reasons out (pure, no data access).

The rule (thresholds in :class:`Thresholds`; operating characteristics in ``docs/comparability.md``):

1. Fewer than ``min_products`` products, or fewer than ``min_informative_genes`` informative genes (mean
   normalised count ≥ 10 and not the same in every sample, :func:`mscseq.checks.informative_genes_mask`)
   → **inconclusive**.
2. Any product an outlier (MAD rule of :mod:`mscseq.comparability.similarity`) → **not_comparable**.
3. With ``--group``, for each group compared with the reference:
   a. genes significantly *beyond* the margin (DESeq2 ``greaterAbs`` at ``--margin``, FDR ``alpha``)
      number at least ``max(min_beyond, beyond_fraction × testable genes)`` → **not_comparable**;
   b. otherwise, if every group has at least ``equivalent_fraction`` of its testable genes *shown
      equivalent* (``lessAbs`` at ``--margin``, FDR ``alpha``) and there are at least
      ``min_products_for_comparable`` products → **comparable**;
   c. otherwise → **inconclusive** (the data cannot show equivalence: too few products, too little depth,
      or too many genes in between).
4. Without ``--group``: every product within ``margin`` of its peers' median on at least
   ``concordance_fraction`` of informative genes and at least ``min_products_for_comparable`` products →
   **comparable**; otherwise **inconclusive**.

PERMANOVA, PERMDISP, clustering, panels and the variance partition are reported as evidence but do not
enter the rule: a permutation test's p-value measures a difference, not its size, and a non-significant
one is never evidence of sameness.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

VERDICTS = ("comparable", "not_comparable", "inconclusive")


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the decision rule (defaults chosen from the simulation study)."""

    min_products: int = 3
    #: Below it the rule's fractions are too coarse and lopsided: ``not_comparable`` needs at least
    #: ``min_beyond`` (10) genes beyond the margin, over 10 % of fewer than 100 genes, while ``comparable``
    #: needs only fractions; whole-transcriptome MSC data have thousands of informative genes.
    min_informative_genes: int = 100
    min_products_for_comparable: int = 5
    equivalent_fraction: float = 0.90
    beyond_fraction: float = 0.005
    min_beyond: int = 10
    concordance_fraction: float = 0.965

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


DEFAULT_THRESHOLDS = Thresholds()


def rule_text(
    t: Thresholds, *, margin: float, alpha: float, mad_z: float, min_ratio: float = 1.25
) -> str:
    """The decision rule in words, with the thresholds of this run."""
    return (
        f"inconclusive if fewer than {t.min_products} products or fewer than {t.min_informative_genes} informative "
        "genes (mean normalised count >= 10, not the same in every sample); "
        f"not_comparable if any product is an outlier (robust MAD z-score > {mad_z:g} on log(1 - median correlation) "
        f"or log(distance to the centroid in PCA space), and at least {min_ratio:g} x the median product's value); "
        f"with --group: not_comparable if, for any group vs the reference, the genes with |log2 FC| significantly "
        f"> {margin:g} (DESeq2 greaterAbs, FDR {alpha:g}) number at least max({t.min_beyond}, "
        f"{t.beyond_fraction:g} x testable genes); comparable if, for every group, at least "
        f"{t.equivalent_fraction:.0%} of testable genes are shown equivalent within ±{margin:g} log2 "
        f"(DESeq2 lessAbs, FDR {alpha:g}) and there are at least {t.min_products_for_comparable} products; "
        f"without --group: comparable if at least {t.min_products_for_comparable} products and every product is "
        f"within ±{margin:g} log2 of its peers' median on at least {t.concordance_fraction:.1%} of informative genes; "
        "inconclusive otherwise. PERMANOVA/PERMDISP, panels and the variance partition are evidence, not part of the rule"
    )


def beyond_limit(n_tested: int, t: Thresholds) -> float:
    """Number of beyond-margin genes at which a contrast is ``not_comparable``."""
    return max(float(t.min_beyond), t.beyond_fraction * n_tested)


def decide(metrics: dict[str, Any], t: Thresholds = DEFAULT_THRESHOLDS) -> tuple[str, list[str]]:
    """Apply the rule.

    Parameters
    ----------
    metrics
        ``n_products``, ``outliers`` (list of samples), ``group`` (name or None), ``contrasts`` (list of
        dicts with ``name``, ``n_tested``, ``fraction_equivalent``, ``n_tested_beyond``,
        ``n_beyond_margin`` and optionally ``skipped``), ``min_concordance``, ``margin`` and
        ``n_informative_genes`` (not checked when absent).
    t
        Thresholds.

    Returns
    -------
    tuple
        Verdict (one of :data:`VERDICTS`) and the reasons, in words.

    """
    n = int(metrics["n_products"])
    if n < t.min_products:
        return "inconclusive", [
            f"only {n} product(s): at least {t.min_products} are needed to judge comparability"
        ]
    n_genes = metrics.get("n_informative_genes")
    if n_genes is not None and int(n_genes) < t.min_informative_genes:
        return "inconclusive", [
            f"only {int(n_genes)} informative gene(s) (mean normalised count >= 10 and not the same in every "
            f"sample): at least {t.min_informative_genes} are needed to judge comparability"
        ]
    outliers = list(metrics.get("outliers", []))
    if outliers:
        return "not_comparable", [f"outlier product(s): {', '.join(outliers)}"]
    if metrics.get("group"):
        contrasts = metrics.get("contrasts", [])
        reasons: list[str] = []
        beyond = [
            c
            for c in contrasts
            if not c.get("skipped")
            and c["n_beyond_margin"] >= beyond_limit(c["n_tested_beyond"], t)
        ]
        if beyond:
            for c in beyond:
                reasons.append(
                    f"{c['name']}: {c['n_beyond_margin']} genes differ by more than ±{metrics['margin']:g} log2 "
                    f"(limit {beyond_limit(c['n_tested_beyond'], t):.0f} of {c['n_tested_beyond']} testable)"
                )
            return "not_comparable", reasons
        skipped = [c for c in contrasts if c.get("skipped")]
        if skipped or not contrasts:
            return "inconclusive", [
                f"{c['name']}: equivalence not tested ({c['skipped']})" for c in skipped
            ] or ["no group comparison could be made"]
        short = [c for c in contrasts if c["fraction_equivalent"] < t.equivalent_fraction]
        if short:
            return "inconclusive", [
                f"{c['name']}: {c['fraction_equivalent']:.1%} of {c['n_tested']} testable genes shown equivalent "
                f"within ±{metrics['margin']:g} log2 (needs {t.equivalent_fraction:.0%})"
                for c in short
            ]
        if n < t.min_products_for_comparable:
            return "inconclusive", [
                f"only {n} products: outlier screening needs at least {t.min_products_for_comparable}"
            ]
        return "comparable", [
            f"{c['name']}: {c['fraction_equivalent']:.1%} of {c['n_tested']} testable genes shown equivalent, "
            f"{c['n_beyond_margin']} beyond the margin"
            for c in contrasts
        ]
    if n < t.min_products_for_comparable:
        return "inconclusive", [
            f"only {n} products: outlier screening needs at least {t.min_products_for_comparable}"
        ]
    conc = metrics.get("min_concordance")
    if conc is None or conc < t.concordance_fraction:
        shown = "not computed" if conc is None else f"{conc:.1%}"
        return "inconclusive", [
            f"the least concordant product is within ±{metrics['margin']:g} log2 of its peers on {shown} of informative "
            f"genes (needs {t.concordance_fraction:.1%}); without --group there is no formal equivalence test"
        ]
    return "comparable", [
        f"no outlier among {n} products; every product within ±{metrics['margin']:g} log2 of its peers on at least "
        f"{conc:.1%} of informative genes"
    ]
