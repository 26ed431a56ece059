"""MSC gene panels: loading (package data and ``--panel`` files), matching, per-product scores and flags.

A panel is a table with one row per gene: ``gene_id`` (Ensembl, version optional) and/or ``symbol``,
``panel`` (name), ``direction`` (``positive`` or ``negative``) and a free-text ``note``. For an identity
panel (``isct_identity``) *positive* genes must be expressed and *negative* genes must be absent; for the
other panels a *positive* gene rises with the property the panel measures and a *negative* gene falls.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from mscseq.comparability.similarity import robust_z
from mscseq.errors import MscseqError, first_names
from mscseq.io.textfile import NOT_FOUND, file_problem

#: Panels shipped with mscseq (``src/mscseq/panels/<name>.tsv``).
BUILTIN_PANELS = ("isct_identity", "licensing_potency", "senescence", "proliferation")
#: Panels whose negative genes are release *absence* markers (flagged when present).
IDENTITY_PANELS = ("isct_identity",)
#: A marker is flagged when its log2(normalised count + 1) differs from the median product by at least this many
#: log2 units (not the VST, which compresses the low counts where negative markers sit).
MARKER_SHIFT = 2.0
#: A marker counts as expressed at or above this mean-of-ratios normalised count.
EXPRESSED_COUNT = 10.0
#: A panel score is flagged when its robust z-score (MAD-based) exceeds this in absolute value.
SCORE_Z = 3.5
#: Quality ranges: two-sided normal tolerance intervals on the VST covering this fraction of reference lots …
QR_COVERAGE = 0.99
#: … with this confidence (the factor k depends on the number of reference products; see tolerance_factor).
QR_CONFIDENCE = 0.95
#: Below this many reference products a quality range is wide and says little (noted in the block).
QR_MIN_INFORMATIVE = 6
DIRECTIONS = ("positive", "negative")
#: Values of the optional ``at_rest`` column: is the gene expressed in resting (unlicensed) MSC? Blank = unknown.
AT_REST = ("yes", "no", "")


def strip_version(gene_id: str) -> str:
    """Drop an Ensembl version suffix (``ENSG00000135318.12`` → ``ENSG00000135318``)."""
    text = str(gene_id).strip()
    head, _, tail = text.partition(".")
    return head if head.startswith("ENS") and tail.split("_")[0].isdigit() else text


def read_panel(path: str | Path) -> pd.DataFrame:
    """Read and validate one panel TSV.

    Parameters
    ----------
    path
        Tab-separated file with a header: ``gene_id`` and/or ``symbol``, ``panel``, optional
        ``direction`` (``positive`` default, or ``negative``), ``note`` and ``at_rest`` (``yes``, ``no`` or
        blank: whether the gene is expressed in resting MSC; Tier 1 leaves ``no`` genes out of a score).

    Returns
    -------
    pandas.DataFrame
        Columns ``gene_id``, ``symbol``, ``panel``, ``direction``, ``note``, ``at_rest`` (empty strings where
        absent).

    Raises
    ------
    MscseqError
        Missing or not a regular file (folder, FIFO, device), unreadable file, missing columns,
        empty rows or unknown directions, naming the file.

    """
    p = Path(path)
    problem = file_problem(p)  # os.stat only: a FIFO would block open() for ever
    if problem == NOT_FOUND:
        msg = f"{p}: --panel file not found; give a TSV with columns gene_id or symbol, panel, direction"
        raise MscseqError(msg)
    if problem is not None:
        msg = f"{p}: --panel {problem}"
        raise MscseqError(msg)
    try:
        df = pd.read_csv(
            p, sep="\t", dtype=str, keep_default_na=False, comment="#", quoting=csv.QUOTE_NONE
        )
    except OSError as exc:
        msg = f"{p}: --panel cannot be read ({exc.strerror or exc}); check its permissions"
        raise MscseqError(msg) from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"{p}: cannot read the panel as a tab-separated table ({first})"
        raise MscseqError(msg) from exc
    df.columns = [str(c).strip().lower() for c in df.columns]
    if "gene_id" not in df.columns and "symbol" not in df.columns:
        msg = f"{p}: a panel needs a 'gene_id' or a 'symbol' column (columns found: {first_names(df.columns)})"
        raise MscseqError(msg)
    if "panel" not in df.columns:
        msg = f"{p}: a panel needs a 'panel' column naming the panel of each gene"
        raise MscseqError(msg)
    if df.empty:
        msg = f"{p}: the panel has no genes"
        raise MscseqError(msg)
    for col in ("gene_id", "symbol", "direction", "note", "at_rest"):
        if col not in df.columns:
            df[col] = ""
    df = df.assign(
        **{
            c: df[c].astype(str).str.strip()
            for c in ("gene_id", "symbol", "panel", "direction", "note", "at_rest")
        }
    )
    df["at_rest"] = df["at_rest"].str.lower()
    df["direction"] = df["direction"].str.lower().replace("", "positive")
    no_gene = (df["gene_id"] == "") & (df["symbol"] == "")
    if no_gene.any():
        line = int(np.flatnonzero(no_gene.to_numpy())[0]) + 2
        msg = f"{p}: line {line} has neither a gene_id nor a symbol"
        raise MscseqError(msg)
    if (df["panel"] == "").any():
        line = int(np.flatnonzero((df["panel"] == "").to_numpy())[0]) + 2
        msg = f"{p}: line {line} has an empty 'panel'"
        raise MscseqError(msg)
    bad = sorted(set(df["direction"]) - set(DIRECTIONS))
    if bad:
        msg = f"{p}: unknown direction(s) {first_names(bad)}; use 'positive' or 'negative'"
        raise MscseqError(msg)
    bad = sorted(set(df["at_rest"]) - set(AT_REST))
    if bad:
        msg = f"{p}: unknown at_rest value(s) {first_names(bad)}; use 'yes', 'no' or leave it blank"
        raise MscseqError(msg)
    df["gene_id"] = df["gene_id"].map(strip_version)
    return df[["gene_id", "symbol", "panel", "direction", "note", "at_rest"]].reset_index(drop=True)


def builtin_panels() -> pd.DataFrame:
    """The panels shipped with mscseq, concatenated in :data:`BUILTIN_PANELS` order."""
    base = resources.files("mscseq") / "panels"
    frames = []
    for name in BUILTIN_PANELS:
        with resources.as_file(base / f"{name}.tsv") as path:
            frames.append(read_panel(path))
    return pd.concat(frames, ignore_index=True)


def load_panels(extra: Sequence[str | Path] = ()) -> pd.DataFrame:
    """Built-in panels plus user panels (a user panel with a built-in name replaces it)."""
    df = builtin_panels()
    for path in extra:
        user = read_panel(path)
        df = pd.concat([df[~df["panel"].isin(set(user["panel"]))], user], ignore_index=True)
    return df


def match_genes(
    panels: pd.DataFrame, gene_ids: Sequence[str], symbols: Sequence[str]
) -> pd.DataFrame:
    """Find each panel gene in the data, by Ensembl ID (versions stripped) or else by symbol.

    Parameters
    ----------
    panels
        Output of :func:`load_panels`.
    gene_ids
        The data's gene IDs (``var_names``).
    symbols
        The data's gene symbols (``var["gene_name"]``; empty where unknown).

    Returns
    -------
    pandas.DataFrame
        ``panels`` with an added ``index`` column: position of the gene in the data, ``-1`` when absent.

    """
    by_id, by_symbol = _gene_positions(tuple(gene_ids), tuple(symbols))
    idx = []
    for gid, sym in zip(panels["gene_id"], panels["symbol"], strict=True):
        hit = by_id.get(gid, -1) if gid else -1
        if hit < 0 and sym:
            hit = by_id.get(sym, by_symbol.get(sym, by_symbol.get(sym.upper(), -1)))
        idx.append(hit)
    return panels.assign(index=np.asarray(idx, dtype=int))


@functools.lru_cache(maxsize=2)
def _gene_positions(
    gene_ids: tuple[str, ...], symbols: tuple[str, ...]
) -> tuple[dict[str, int], dict[str, int]]:
    """First position of each gene ID (as given and without version) and symbol (as given and upper-case).

    Kept for the last data sets: the comparability and the report match the panels to the same genes.
    """
    by_id: dict[str, int] = {}
    for i, g in enumerate(gene_ids):
        by_id.setdefault(strip_version(g), i)
        by_id.setdefault(str(g), i)
    by_symbol: dict[str, int] = {}
    for i, s in enumerate(symbols):
        if s:
            by_symbol.setdefault(str(s), i)
            by_symbol.setdefault(str(s).upper(), i)
    return by_id, by_symbol


def panel_scores(vst: np.ndarray, matched: pd.DataFrame) -> pd.DataFrame:
    """Per-product panel scores on the VST.

    The score of a panel is the mean over its genes found in the data of ``sign × (VST − median VST of
    the gene over products)``, with ``sign`` +1 for positive and −1 for negative genes: in log2 units,
    0 for a typical product, positive when the product has more of what the panel measures.

    Parameters
    ----------
    vst
        Samples × genes VST.
    matched
        Output of :func:`match_genes`.

    Returns
    -------
    pandas.DataFrame
        Samples (positional) × panels.

    """
    found = matched[matched["index"] >= 0]
    centred = vst - np.median(vst, axis=0)
    out = {}
    for name, rows in found.groupby("panel", sort=False):
        sign = np.where(rows["direction"].to_numpy() == "negative", -1.0, 1.0)
        out[name] = (centred[:, rows["index"].to_numpy()] * sign).mean(axis=1)
    return pd.DataFrame(out)


def marker_flags(
    normalized: np.ndarray, matched: pd.DataFrame, samples: Sequence[str]
) -> dict[str, list[str]]:
    """Identity-panel marker flags per product (text), for products that have any.

    Shifts are measured on ``log2(normalised count + 1)``, which, unlike the VST, does not compress the
    low counts at which negative markers sit. A negative marker is flagged when the product expresses it (normalised count ≥
    :data:`EXPRESSED_COUNT`) at least :data:`MARKER_SHIFT` log2 units above the median product: possible
    haematopoietic carry-over *or* IFN-γ licensing (HLA-DRA, CD74 rise on licensing), not a failure. A
    positive marker is flagged when it is not expressed or :data:`MARKER_SHIFT` below the median.
    """
    flags: dict[str, list[str]] = {}
    ident = matched[(matched["index"] >= 0) & matched["panel"].isin(IDENTITY_PANELS)]
    if ident.empty:
        return flags
    idx = ident["index"].to_numpy()
    norm = normalized[:, idx]
    v = np.log2(norm + 1.0)
    shift = v - np.median(v, axis=0)
    neg = ident["direction"].to_numpy() == "negative"
    labels = [s if s else g for s, g in zip(ident["symbol"], ident["gene_id"], strict=True)]
    for i, sample in enumerate(samples):
        high = [
            labels[j]
            for j in np.flatnonzero(neg)
            if norm[i, j] >= EXPRESSED_COUNT and shift[i, j] >= MARKER_SHIFT
        ]
        low = [
            labels[j]
            for j in np.flatnonzero(~neg)
            if norm[i, j] < EXPRESSED_COUNT or shift[i, j] <= -MARKER_SHIFT
        ]
        msgs = []
        if high:
            msgs.append(
                f"negative marker(s) {', '.join(high)} expressed ≥ {2**MARKER_SHIFT:g}-fold above the median product: "
                "possible haematopoietic carry-over or IFN-γ licensing (check flow cytometry)"
            )
        if low:
            msgs.append(f"identity positive marker(s) {', '.join(low)} low or not expressed")
        if msgs:
            flags[str(sample)] = msgs
    return flags


def score_flags(scores: pd.DataFrame, samples: Sequence[str]) -> dict[str, list[str]]:
    """Flag products whose non-identity panel score is a robust outlier (|z| > :data:`SCORE_Z`)."""
    flags: dict[str, list[str]] = {}
    if len(samples) < 5:
        return flags
    for name in scores.columns:
        if name in IDENTITY_PANELS:
            continue
        z = robust_z(scores[name].to_numpy())
        for i in np.flatnonzero(np.abs(z) > SCORE_Z):
            word = "high" if z[i] > 0 else "low"
            flags.setdefault(str(samples[i]), []).append(
                f"{word} {name} score ({scores[name].iloc[i]:+.2f} log2 vs the median product, robust z {z[i]:+.1f})"
            )
    return flags


def tolerance_factor(
    n: int, *, coverage: float = QR_COVERAGE, confidence: float = QR_CONFIDENCE
) -> float:
    """Two-sided normal tolerance factor k (Howe's approximation, with its small-sample factor).

    ``x̄ ± k·s`` from ``n`` reference values covers a fraction ``coverage`` of the population with probability
    ``confidence``: ``k = z_{(1+P)/2} · sqrt((n − 1)(1 + 1/n) / χ²_{1−γ; n−1})`` with ``χ²_{1−γ; n−1}`` the
    lower ``1 − confidence`` quantile. For 99 % coverage at 95 % confidence k is 13.1 at n = 3, 5.8 at n = 6,
    4.4 at n = 10 and 3.6 at n = 20.

    Parameters
    ----------
    n
        Number of reference values (at least 2).
    coverage
        Fraction ``P`` of the population to cover.
    confidence
        Confidence ``γ`` of the coverage.

    Returns
    -------
    float
        The factor k.

    """
    if n < 2:
        msg = f"a tolerance interval needs at least 2 values, got {n}"
        raise ValueError(msg)
    nu = n - 1
    z = special.ndtri((1 + coverage) / 2)
    chi = special.chdtri(nu, confidence)  # upper-tail inverse: the lower 1 − confidence quantile
    return float(z * np.sqrt(nu * (1 + 1 / n) / chi))


def quality_range(
    vst: np.ndarray,
    matched: pd.DataFrame,
    is_reference: np.ndarray,
    samples: Sequence[str],
    *,
    coverage: float = QR_COVERAGE,
    confidence: float = QR_CONFIDENCE,
) -> dict[str, object] | None:
    """Quality ranges: each non-reference product's panel genes within the reference lots' tolerance interval.

    Per gene the range is ``x̄_R ± k·s_R`` over the reference products (VST), with k the two-sided normal
    tolerance factor (:func:`tolerance_factor`) covering ``coverage`` of reference lots with ``confidence``.
    A lot from the reference distribution falls outside on fewer than ``1 − coverage`` of genes on average
    (``± 3·s_R`` from 3 lots, the older rule, left out about 12 %).

    Parameters
    ----------
    vst
        Samples × genes VST.
    matched
        Output of :func:`match_genes`.
    is_reference
        Boolean mask of the reference products (at least 3 are needed).
    samples
        Sample names.
    coverage, confidence
        Of the tolerance interval.

    Returns
    -------
    dict or None
        ``{"method", "k", "coverage", "confidence", "n_reference", "n_genes", "fraction_in_range",
        "products": [{"sample", "fraction_in_range", "outside": [...]}], "note"}``; ``None`` when there are
        fewer than 3 reference products.

    """
    is_reference = np.asarray(is_reference, dtype=bool)
    n_ref = int(is_reference.sum())
    if n_ref < 3:
        return None
    k = tolerance_factor(n_ref, coverage=coverage, confidence=confidence)
    found = matched[matched["index"] >= 0].drop_duplicates("index")
    idx = found["index"].to_numpy()
    labels = [s if s else g for s, g in zip(found["symbol"], found["gene_id"], strict=True)]
    ref = vst[np.ix_(is_reference, idx)]
    mean, sd = ref.mean(axis=0), ref.std(axis=0, ddof=1)
    lo, hi = mean - k * sd, mean + k * sd
    others = np.flatnonzero(~is_reference)
    values = vst[np.ix_(others, idx)]
    inside = (values >= lo) & (values <= hi)
    products = [
        {
            "sample": str(samples[i]),
            "fraction_in_range": float(inside[r].mean()) if idx.size else None,
            "outside": [labels[j] for j in np.flatnonzero(~inside[r])],
        }
        for r, i in enumerate(others)
    ]
    what = f"{100 * coverage:g} % of reference lots with {100 * confidence:g} % confidence"
    if n_ref < QR_MIN_INFORMATIVE:
        note = (
            f"only {n_ref} reference products: the range (mean ± {k:.1f} SD, a tolerance interval covering "
            f"{what}) is wide and says little; {QR_MIN_INFORMATIVE} or more make it informative"
        )
    else:
        note = (
            f"mean ± {k:.2f} SD of {n_ref} reference products: a tolerance interval covering {what}"
        )
    return {
        "method": "two-sided normal tolerance interval (Howe)",
        "k": k,
        "coverage": coverage,
        "confidence": confidence,
        "n_reference": n_ref,
        "n_genes": len(idx),
        "fraction_in_range": float(inside.mean()) if inside.size else None,
        "products": products,
        "note": note,
    }
