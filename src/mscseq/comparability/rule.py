"""The comparability decision rule: tier results and product statuses in, verdicts and reasons out.

Pure functions on the plain dicts the tiers return (no data access). The rule, with the protocol's
numbers, is :func:`rule_text`; its operating characteristics are in ``docs/comparability.md``.

Per comparison (a test level against the reference):

1. the group is aliased with ``--batch`` (no batch holds both levels) → **inconclusive**: a batch effect
   and a process effect cannot be told apart, so ``comparable`` is impossible without bridging samples;
2. a Tier-1 attribute shown different (its CI entirely beyond its margin), Tier 2 failing (the lower bound
   of the fraction of genes beyond the gene margin above f₀), or a deviating product of either level
   → **not_comparable**;
3. every Tier-1 attribute shown equivalent (intersection–union test), Tier 2 passing (its upper bound ≤ f₀)
   and every product of both levels assessed and conforming → **comparable**;
4. otherwise **inconclusive**.

The set is ``not_comparable`` when any comparison is, or any product deviates; ``comparable`` when every
comparison is; else ``inconclusive``. Without ``--group`` (the single-group question) the set is
``comparable`` only when no product deviates, every product was assessable, and the single-group test
passes (no material split, between-product spread's upper bound ≤ τ); a deviating product or a failing
single-group test gives ``not_comparable``.

Tier 3 (PERMANOVA, PERMDISP, variance partition, clustering) never enters the rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

VERDICTS = ("comparable", "not_comparable", "inconclusive")
PRODUCT_STATUSES = ("conforming", "deviating", "not_assessable")

Block = Mapping[str, Any]


def _fmt(x: Any, spec: str = ".2f") -> str:
    try:
        return format(float(x), spec)
    except (TypeError, ValueError):
        return "NA"


def _pct(x: Any) -> str:
    try:
        return f"{100 * float(x):.2g} %"
    except (TypeError, ValueError):
        return "NA"


def _deviating(products: Sequence[Block]) -> list[Block]:
    return [p for p in products if p.get("status") == "deviating"]


#: How the note of a product left unscreened for replicate libraries (no ``--product``) begins.
NOT_SCREENED = "not screened: "


def _unassessed(products: Sequence[Block]) -> list[Block]:
    return [p for p in products if p.get("status") == "not_assessable"]


def _unassessed_reason(unassessed: Sequence[Block], *, names: bool = True) -> str:
    """Why products could not be screened: too few peers, or (no ``--product``) replicate libraries."""
    listed = ", ".join(str(p["product"]) for p in unassessed[:6])
    more = f" and {len(unassessed) - 6} more" if len(unassessed) > 6 else ""
    which = f" ({listed}{more})" if names else ""
    notes = [str(p.get("note", "")) for p in unassessed]
    replicate = next((n for n in notes if n.startswith(NOT_SCREENED)), None)
    cause = replicate.removeprefix(NOT_SCREENED) if replicate else "too few peers"
    return f"{len(unassessed)} product(s) could not be screened individually{which}: {cause}"


def _deviation_reason(p: Block) -> str:
    drivers = ", ".join(list(p.get("drivers") or [])[:5])
    return (
        f"product {p['product']} deviates from its peers (Holm-adjusted p = {_fmt(p.get('p_adjusted'), '.2g')}"
        + (f"; driven by {drivers}" if drivers else "")
        + ")"
    )


def tier1_reasons(tier1: Block) -> tuple[list[str], list[str]]:
    """Reasons from Tier 1: (failures, open questions)."""
    fails, open_ = [], []
    for a in tier1.get("attributes", []):
        where = (
            f"{a['panel']} score {_fmt(a.get('estimate'), '+.2f')} log2, 90 % CI "
            f"[{_fmt(a.get('ci_low'))}, {_fmt(a.get('ci_high'))}], margin ±{_fmt(a.get('margin'), 'g')}"
        )
        result = a.get("result")
        if result == "different":
            fails.append(f"Tier 1: {where}: shown beyond the margin")
        elif result == "inconclusive":
            open_.append(f"Tier 1: {where}: not shown within the margin")
        elif result in {"not_estimable", "not_assessable"}:
            open_.append(f"Tier 1: {a['panel']}: {a.get('note') or 'not estimable'}")
    if not tier1.get("attributes") and tier1.get("result") != "pass":
        open_.append(f"Tier 1: {tier1.get('note') or 'no attribute could be tested'}")
    return fails, open_


def tier2_reasons(tier2: Block) -> tuple[list[str], list[str]]:
    """Reasons from Tier 2: (failures, open questions)."""
    result = tier2.get("result")
    if result in {"not_estimable", "not_assessable"} or tier2.get("upper") is None:
        return [], [f"Tier 2: {tier2.get('note') or 'not estimable'}"]
    where = (
        f"fraction of {tier2.get('n_genes')} genes beyond ±{_fmt(tier2.get('margin'), 'g')} log2 estimated "
        f"{_pct(tier2.get('estimate'))} (bounds {_pct(tier2.get('lower'))}–{_pct(tier2.get('upper'))}, "
        f"f0 {_pct(tier2.get('f0'))})"
    )
    if result == "fail":
        return [f"Tier 2: {where}: the lower bound exceeds f0"], []
    if result == "inconclusive":
        return [], [f"Tier 2: {where}: the upper bound exceeds f0"]
    return [], []


def comparison_verdict(
    tier1: Block, tier2: Block, products: Sequence[Block], *, batch: Block | None = None
) -> tuple[str, list[str]]:
    """The verdict of one comparison and its reasons (decisive reason first).

    Parameters
    ----------
    tier1, tier2
        The tiers' results for this comparison.
    products
        The product records of the two levels compared (``status``, ``product``, ``p_adjusted``, ``drivers``).
    batch
        The batch check (``status`` ``aliased`` makes the comparison inconclusive at best).

    """
    fails1, open1 = tier1_reasons(tier1)
    fails2, open2 = tier2_reasons(tier2)
    deviating = [_deviation_reason(p) for p in _deviating(products)]
    fails = fails1 + fails2 + deviating
    if batch is not None and batch.get("status") == "aliased":
        reason = (
            f"the group is aliased with batch column {batch.get('column')!r} (no batch holds both levels): a "
            "batch effect cannot be told from a process difference, so comparable needs bridging samples "
            "sequenced in both runs"
        )
        return ("not_comparable" if fails else "inconclusive"), [*fails, reason] if fails else [
            reason
        ]
    if fails:
        return "not_comparable", fails + open1 + open2
    unassessed = _unassessed(products)
    open_ = open1 + open2
    if unassessed:
        open_.append(_unassessed_reason(unassessed))
    if open_ or tier1.get("result") != "pass" or tier2.get("result") != "pass":
        return "inconclusive", open_ or ["a tier did not pass"]
    return "comparable", [
        "every Tier-1 attribute shown within its margin, the fraction of genes beyond the gene margin shown "
        "below f0, and every product conforming"
    ]


def single_group_verdict(single: Block, products: Sequence[Block]) -> tuple[str, list[str]]:
    """The verdict of the single-group question (no ``--group``) and its reasons."""
    fails: list[str] = [_deviation_reason(p) for p in _deviating(products)]
    open_: list[str] = []
    split = single.get("split") or {}
    spread = single.get("spread") or {}
    score_fails = [r for r in split.get("score_splits") or [] if r.get("fail")]
    if split.get("significant") and split.get("material") is True:
        fails.append(
            f"the products split into two groups of {split.get('sizes')} (split p = "
            f"{_fmt(split.get('p_value'), '.2g')}) that differ materially: {split.get('note') or 'beyond the margins'}"
        )
    for row in score_fails:
        fails.append(
            f"the {row.get('panel')} score splits the products into two groups of {row.get('sizes')} "
            f"(split p = {_fmt(row.get('p_value'), '.2g')}) {_fmt(row.get('estimate'))} log2 apart "
            f"(interval {_fmt(row.get('ci_low'))} to {_fmt(row.get('ci_high'))}, beyond the margin "
            f"{_fmt(row.get('margin'), 'g')})"
        )
    for row in single.get("score_spread") or []:
        if row.get("result") == "fail":
            fails.append(
                f"the {row.get('panel')} score spreads across products: biological SD "
                f"{_fmt(row.get('estimate'))} log2, lower 95 % bound {_fmt(row.get('lower'))} above its "
                f"tolerance {_fmt(row.get('tau'), 'g')}"
            )
    if split.get("result") == "not_estimable":
        open_.append(
            f"two-way split: not assessable ({split.get('n_genes_split', 0)} split genes; at least "
            "6 products and 2 split genes are needed)"
        )
    elif split.get("result") not in ("pass", "fail"):
        open_.append(f"two-way split: {split.get('note') or 'not settled'}")
    where = (
        f"between-product biological SD {_fmt(spread.get('estimate'))} log2 (95 % bounds "
        f"{_fmt(spread.get('lower'))}–{_fmt(spread.get('upper'))}, tolerance τ {_fmt(spread.get('tau'), 'g')})"
    )
    if spread.get("result") == "not_estimable":
        where = (
            f"between-product biological SD: not estimable ({spread.get('n_genes', 0)} well-expressed "
            "MSC genes in the data)"
        )
    if spread.get("result") == "fail":
        fails.append(f"{where}: above the tolerance")
    elif spread.get("result") != "pass":
        open_.append(f"{where}: not shown within the tolerance")
    if fails:
        return "not_comparable", fails + open_
    unassessed = _unassessed(products)
    if unassessed:
        open_.append(_unassessed_reason(unassessed, names=False))
    if open_:
        return "inconclusive", open_
    return "comparable", [
        "no product deviates, no material two-way split, no panel score spreads beyond its tolerance, and the "
        "between-product spread is shown within τ"
    ]


def set_verdict(
    comparisons: Sequence[tuple[str, list[str]]], products: Sequence[Block]
) -> tuple[str, list[str]]:
    """The set's verdict from the comparisons' verdicts and every product's status."""
    verdicts = [v for v, _ in comparisons]
    reasons = [r for v, rs in comparisons if v == "not_comparable" for r in rs[:1]]
    deviating = [_deviation_reason(p) for p in _deviating(products)]
    if "not_comparable" in verdicts or deviating:
        return "not_comparable", list(dict.fromkeys(reasons + deviating))
    if verdicts and all(v == "comparable" for v in verdicts):
        return "comparable", comparisons[0][1][:1]
    return "inconclusive", list(
        dict.fromkeys(r for v, rs in comparisons if v != "comparable" for r in rs)
    )


def rule_text(protocol: Any) -> str:
    """The decision rule in words, with the protocol's numbers."""
    t1, t2, pr, sg = protocol.tier1, protocol.tier2, protocol.products, protocol.single_group
    alpha = protocol.alpha
    return (
        f"Per comparison: not_comparable if a Tier-1 panel score (identity, potency at rest, senescence, "
        f"proliferation, user panels; margin ±{t1.default_margin:g} log2 unless the protocol says otherwise) differs "
        f"with its {100 * (1 - 2 * alpha):g} % CI entirely beyond its margin, if the lower bound of the fraction of "
        f"genes beyond ±{t2.gene_margin:g} log2 exceeds f0 = {100 * t2.f0:g} %, or if any product deviates; "
        f"comparable only if every Tier-1 score is shown within its margin (TOST at one-sided {alpha:g}, "
        f"intersection–union), the upper bound of that fraction is ≤ f0, and every product was screened (≥ "
        f"{pr.min_peers} peers) and conforms; inconclusive otherwise, and whenever the group is aliased with "
        f"batch. Products: leave-one-out PCA Hotelling T² and Q against their peers, Holm-adjusted at "
        f"{pr.alpha:g}. Without --group: comparable only if no product deviates, the best two-way split is not "
        f"both significant (p < {sg.split_alpha:g}) and material (nor any panel score's own best split), no "
        f"panel score's between-product biological SD has its 95 % lower bound above {sg.score_tau:g} log2 (unless "
        f"the protocol sets the panel's own score_tau), and "
        f"the between-product biological SD over the well-expressed genes has its 95 % upper bound ≤ τ = "
        f"{sg.tau:g} log2; not_comparable on a deviating product, a material split, a panel score's spread "
        f"above {sg.score_tau:g} or a lower bound above τ. PERMANOVA, PERMDISP, the variance partition and clustering are descriptive only."
    )
