"""Products, not libraries: sum the libraries of one product, and notice replicate libraries.

A *product* (a donor's MSC product, a lot) is the unit a comparability claim is about; a *library* is one
sequencing of it. :func:`collapse_products` sums the raw counts of the libraries of each product, as DESeq2's
``collapseReplicates`` does, so that every statistic from normalisation on counts products
(``mscseq compare --product COLUMN``). :func:`replicate_columns` finds, in a run without ``--product``,
sheet columns whose shared values look like replicate libraries of one product (the caveat of the
comparability block, :func:`replicate_caveat`).

Both are pure functions of the data; :func:`mscseq.pipeline.collapse_step` is the pipeline step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import anndata as ad
import numpy as np
import pandas as pd

from mscseq.errors import MscseqError

log = logging.getLogger(__name__)

#: Per-library QC columns of ``obs`` (written by :func:`mscseq.qc.compute_qc` and normalisation), never
#: sheet columns.
QC_COLUMNS = ("library_size", "detected_genes", "top100_fraction", "size_factor")
#: A column's shared values look like replicate libraries when the median distance between libraries
#: sharing a value is at most this fraction of the median distance between libraries of different values
#: (in the same group level). See :func:`replicate_columns`.
REPLICATE_RATIO = 0.5


def collapse_products(
    adata: ad.AnnData,
    column: str,
    *,
    keep_constant: Sequence[str] = (),
    source: str = "sample sheet",
) -> ad.AnnData:
    """Sum the raw counts of the libraries of each product (DESeq2's ``collapseReplicates``).

    Parameters
    ----------
    adata
        Loaded libraries: raw counts in ``X``, the sheet in ``obs`` (index = library name), as returned by
        :func:`mscseq.io.load_dataset`.
    column
        Sheet column naming the product of each library; the product's name is its value.
    keep_constant
        Columns that must be constant within a product (the group, design and contrast variables): one
        varying within a product is an error naming the product and the column.
    source
        The sheet's name, for error messages.

    Returns
    -------
    anndata.AnnData
        One row per product, in the order of each product's first library. ``X`` holds the summed counts;
        ``obs`` the sheet columns constant within every product (others are dropped with a logged note);
        ``layers["avg_tx_length"]`` (Salmon/kallisto/RSEM input), when present, is averaged weighted by
        each library's counts; ``uns`` is kept and gains ``uns["products"]``: ``{"column", "libraries":
        {product: [library, ...]}, "dropped_columns": [...], "library_qc": DataFrame}`` (library size,
        detected genes and the counting tool's QC of each library).

    Raises
    ------
    MscseqError
        The column is missing or has an empty value, or a ``keep_constant`` column varies within a product.

    """
    obs = adata.obs
    if column not in obs.columns:
        msg = f"{source}: --product column {column!r} is not in the sample sheet"
        raise MscseqError(msg)
    values = obs[column]
    if values.isna().any() or (values.astype(str).str.strip() == "").any():
        lib = str(obs.index[(values.isna() | (values.astype(str).str.strip() == "")).to_numpy()][0])
        msg = f"{source}: library {lib!r} has no value in the --product column {column!r}"
        raise MscseqError(msg)
    product = values.astype(str).to_numpy()
    names, first, codes = np.unique(product, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # products in the order of their first library
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    codes = rank[codes.ravel()]
    names = names[order]

    varying = _varying_columns(obs, codes, exclude={column})
    for col in keep_constant:
        if col in varying and col != column:
            p = varying[col]
            msg = (
                f"{source}: column {col!r} differs between the libraries of product {names[p]!r} "
                f"(--product {column}); a group, design or contrast variable must be constant within a product"
            )
            raise MscseqError(msg)
    sheet_cols = [c for c in obs.columns if c not in QC_COLUMNS and not str(c).startswith("tool_")]
    dropped = [c for c in sheet_cols if c in varying]
    tool_dropped = [c for c in obs.columns if str(c).startswith("tool_") and c in varying]
    if dropped:
        log.info(
            "--product %s: dropped sheet column(s) that differ between the libraries of a product: %s",
            column,
            ", ".join(map(str, dropped)),
        )
    kept = [c for c in obs.columns if c not in varying and c not in QC_COLUMNS]
    x = np.asarray(adata.X, dtype=np.float64)
    summed = np.zeros((len(names), x.shape[1]), dtype=np.float64)
    np.add.at(summed, codes, x)
    firsts = np.sort(first)
    new_obs = obs.iloc[firsts][kept].copy()
    new_obs.index = pd.Index([str(n) for n in names], name=obs.index.name)
    for c in kept:  # categories as in the library sheet, unused ones removed as the loader does
        if isinstance(new_obs[c].dtype, pd.CategoricalDtype):
            new_obs[c] = new_obs[c].cat.remove_unused_categories()
    out = ad.AnnData(X=summed, obs=new_obs, var=adata.var.copy())
    if "avg_tx_length" in adata.layers:
        out.layers["avg_tx_length"] = _weighted_lengths(
            np.asarray(adata.layers["avg_tx_length"]), x, codes, len(names)
        )
    out.uns.update(dict(adata.uns))
    out.uns["products"] = {
        "column": column,
        "dropped_columns": [str(c) for c in [*dropped, *tool_dropped]],
        "library_qc": library_qc(adata, product, column),
    }
    technical = technical_dispersion(x, codes, summed)
    if technical is not None:
        out.uns["products"]["technical"] = technical
    return out


def technical_dispersion(x: np.ndarray, codes: np.ndarray, summed: np.ndarray) -> dict | None:
    """Extra-Poisson technical dispersion per gene, from the libraries of the products that have several.

    The libraries of one product are counts of one composition: given the product, a library's count of a
    gene is modelled as negative binomial with mean ``e = S · L_j / ΣL`` (``S`` the product's summed
    count, ``L_j`` the library size) and variance ``e + α e²``: ``α`` is the library-to-library
    (technical) variation beyond counting noise. Its moment estimate pools the products' Pearson
    statistics: for a product of ``k`` libraries with shares ``s_j = L_j / ΣL``,
    ``E[Σ_j (x_j − e_j)² / e_j] = (k − 1) + α S (1 − w)`` with ``w = Σ_j s_j²`` (to first order; ``(k − 1)(1
    + α S / k)`` for equal libraries), so ``α = max(0, (Σ X² − Σ(k − 1)) / Σ S (1 − w))`` over the products
    of every gene. A product's summed count then has relative technical variance ``1 / S + α w`` (``w`` is
    1 for one library, 1/k for k equal libraries).

    Parameters
    ----------
    x
        Libraries × genes raw counts.
    codes
        Product index (row of ``summed``) of each library.
    summed
        Products × genes: the sum of each product's libraries (:func:`collapse_products` has it).

    Returns
    -------
    dict or None
        ``alpha`` (per gene), ``weights`` (``w`` per product), ``df`` (Σ(k − 1)) and ``n_replicated``
        (products with two or more libraries); None when no product has two libraries.

    """
    n_products = summed.shape[0]
    k = np.bincount(codes, minlength=n_products)
    if not (k >= 2).any():
        return None
    lib = x.sum(axis=1)
    lib_total = np.bincount(codes, weights=lib, minlength=n_products)
    weights = np.bincount(codes, weights=lib**2, minlength=n_products) / lib_total**2
    share = (lib / lib_total[codes])[:, None]  # L_j / ΣL of the library's product
    expected = summed[codes] * share
    with np.errstate(divide="ignore", invalid="ignore"):
        pearson = np.where(expected > 0, (x - expected) ** 2 / expected, 0.0)
    rep = k[codes] >= 2
    df = float(np.maximum(k - 1, 0).sum())
    x2 = pearson[rep].sum(axis=0)
    denom = (1.0 - weights) @ summed  # Σ_p S_p (1 − w_p); 0 for products of one library
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(denom > 0, (x2 - df) / denom, 0.0)
    return {
        "alpha": np.maximum(alpha, 0.0),
        "weights": weights,
        "df": int(df),
        "n_replicated": int((k >= 2).sum()),
    }


def libraries_by_product(products: dict) -> dict[str, list[str]]:
    """``{product: [library, ...]}`` from ``uns["products"]`` (products in order of their first library)."""
    table = products["library_qc"]
    out: dict[str, list[str]] = {}
    for lib, p in zip(table.index, table[products["column"]], strict=True):
        out.setdefault(str(p), []).append(str(lib))
    return out


def product_record(products: dict) -> dict:
    """The ``products`` record of ``summary.json``: the column, each product's libraries, dropped columns."""
    return {
        "column": str(products["column"]),
        "libraries": libraries_by_product(products),
        "dropped_columns": [str(c) for c in products.get("dropped_columns", [])],
    }


def library_qc(adata: ad.AnnData, product: Sequence[str], column: str) -> pd.DataFrame:
    """Per-library QC before collapsing: product, library size, detected genes and the tool's QC columns."""
    x = np.asarray(adata.X, dtype=np.float64)
    table = pd.DataFrame(
        {
            column: [str(p) for p in product],
            "library_size": x.sum(axis=1).astype(np.int64),
            "detected_genes": (x > 0).sum(axis=1).astype(np.int64),
        },
        index=pd.Index([str(s) for s in adata.obs_names], name="library"),
    )
    for c in adata.obs.columns:
        if str(c).startswith("tool_"):
            table[c] = adata.obs[c].to_numpy()
    return table


def _varying_columns(obs: pd.DataFrame, codes: np.ndarray, *, exclude: set[str]) -> dict[str, int]:
    """Columns whose value differs within a product → the index of the first such product."""
    out: dict[str, int] = {}
    for c in obs.columns:
        if c in exclude:
            continue
        v = obs[c].astype(object).where(obs[c].notna(), None).astype(str).to_numpy()
        frame = pd.DataFrame({"p": codes, "v": v})
        n = frame.groupby("p", sort=True)["v"].nunique()
        bad = n.index[n.to_numpy() > 1]
        if len(bad):
            out[c] = int(bad.min())
    return out


def _weighted_lengths(lengths: np.ndarray, x: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """Average transcript lengths of a product: library lengths weighted by counts (plain mean at 0 counts)."""
    num = np.zeros((n, x.shape[1]))
    den = np.zeros((n, x.shape[1]))
    plain = np.zeros((n, x.shape[1]))
    k = np.bincount(codes, minlength=n).astype(np.float64)[:, None]
    np.add.at(num, codes, lengths * x)
    np.add.at(den, codes, x)
    np.add.at(plain, codes, lengths)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), plain / k)


@dataclass(frozen=True)
class ReplicateFinding:
    """A sheet column whose shared values look like replicate libraries of one product."""

    column: str
    n_values_shared: int  # values carried by ≥ 2 libraries
    within: float  # median 1 − Pearson r between libraries sharing a value
    between: float  # median 1 − Pearson r between libraries of different values (same group level)


def replicate_columns(
    vst: np.ndarray,
    obs: pd.DataFrame,
    *,
    group: str | None = None,
    constant: Sequence[str] = (),
    ratio: float = REPLICATE_RATIO,
) -> list[ReplicateFinding]:
    """Sheet columns whose shared values look like replicate libraries of one product.

    A column qualifies when

    1. it is a sheet column (not a QC or ``tool_`` column, not ``group``), some value is carried by ≥ 2
       libraries and it has ≥ 2 values;
    2. the group and the ``constant`` columns (design variables) are the same for every library sharing a
       value: replicates of one product share its group and its conditions (so a donor treated two ways is
       not taken for a replicated product);
    3. libraries sharing a value are much closer than libraries of different values: the median distance
       (1 − Pearson r of the VST of ``vst``'s genes) between libraries sharing a value is at most ``ratio``
       × the median distance between libraries of different values within the same group level;
    4. no other qualifying column is finer (a product column nests in tissue or site, not the reverse: a
       column whose values group whole values of another qualifying one is left out).

    Why the ratio: two libraries of one product differ by technical noise only (distance ≈ 2σ²_t), two
    products also by their biological difference (≈ 2σ²_t + 2σ²_b). A ratio ≤ 0.5 means the biological
    part is at least as large as the technical one, which replicate libraries at usual depth show clearly;
    products that only share a covariate (sex, passage, tissue) differ biologically within a value too and
    rarely come near it. Its rates on simulated studies are in ``benchmarks/replicate_caveat.py``.

    Parameters
    ----------
    vst
        Libraries × genes on a log scale (the VST of the informative genes).
    obs
        The sheet (``adata.obs``), rows in the order of ``vst``.
    group
        The ``--group`` column, if any.
    constant
        Other columns that replicate libraries must share (design variables).
    ratio
        The within/between distance ratio at or below which libraries look like replicates.

    Returns
    -------
    list of ReplicateFinding
        The qualifying columns, in sheet order.

    """
    n = len(obs)
    if n < 3 or vst.shape[0] != n or vst.shape[1] < 2:
        return []
    with np.errstate(invalid="ignore", divide="ignore"):
        dist = 1.0 - np.corrcoef(np.asarray(vst, dtype=np.float64))
    if not np.isfinite(dist).all():
        return []
    level = obs[group].astype(str).to_numpy() if group and group in obs else np.zeros(n, dtype=str)
    upper = np.triu(np.ones((n, n), dtype=bool), k=1)
    same_level = (level[:, None] == level[None, :]) & upper
    must_share = [c for c in [group, *constant] if c and c in obs.columns]
    found = []
    for col in obs.columns:
        if col == group or col in QC_COLUMNS or str(col).startswith("tool_"):
            continue
        if obs[col].isna().any():
            continue
        v = obs[col].astype(str).to_numpy()
        counts = pd.Series(v).value_counts()
        if len(counts) < 2 or counts.max() < 2:
            continue
        if any(
            pd.DataFrame({"v": v, "c": obs[c].astype(str).to_numpy()})
            .groupby("v")["c"]
            .nunique()
            .max()
            > 1
            for c in must_share
            if c != col
        ):
            continue
        same = (v[:, None] == v[None, :]) & upper
        between = same_level & ~same
        if not between.any():
            continue
        w, b = float(np.median(dist[same])), float(np.median(dist[between]))
        if w <= ratio * b:
            found.append(ReplicateFinding(str(col), int((counts >= 2).sum()), w, b))
    return [f for f in found if not any(_coarser(obs, f.column, g.column) for g in found)]


def _coarser(obs: pd.DataFrame, coarse: str, fine: str) -> bool:
    """``coarse`` groups whole values of ``fine`` and has fewer values (tissue over donor): not the product."""
    if coarse == fine:
        return False
    pairs = pd.DataFrame(
        {"c": obs[coarse].astype(str).to_numpy(), "f": obs[fine].astype(str).to_numpy()}
    )
    nested = bool((pairs.groupby("f")["c"].nunique() == 1).all())
    return nested and pairs["c"].nunique() < pairs["f"].nunique()


def replicate_caveat(findings: Sequence[ReplicateFinding]) -> str | None:
    """The comparability caveat for :func:`replicate_columns`' findings (``None`` when there are none)."""
    if not findings:
        return None
    f = findings[0]
    others = "".join(f" (or --product {g.column})" for g in findings[1:])
    return (
        f"libraries sharing a value of {f.column!r} look like replicates of one product (median distance "
        f"{f.within:.3g} between them vs {f.between:.3g} between values, 1 − Pearson r on VST): each is "
        f"counted as a product here; if they are one product's libraries, rerun with --product {f.column}"
        f"{others} so that n counts products"
    )
