"""Gene sets of the comparability tiers: exclusions, the Tier-2 genes and the single-group spread genes.

* ``panels/excluded_genes.tsv`` lists genes whose expression differs between donors for reasons that are
  not a product's quality: sex (XIST and chrY genes, and the X gametologs that escape X-inactivation),
  classical HLA genes (allele-specific read mapping; any symbol starting ``HLA-`` also counts), common
  homozygous deletions (``genotype``: GSTM1, GSTT1, UGT2B17, ...) and common copy-number variation
  (``cnv``). A 3 male vs 3 female comparison must not look like a process difference.
* The Tier-2 genes are fixed without the group labels: pooled mean normalised count over all products at
  least ``min_mean`` (never the reference alone, never independent filtering), or the protocol's list.
* ``panels/well_expressed_msc.tsv`` lists genes expressed in MSC of every tissue of the six-tissue data
  (written by ``benchmarks/derive_protocol_defaults.py``); the single-group spread is measured on them.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from mscseq.comparability.panels import strip_version
from mscseq.errors import MscseqError
from mscseq.io.textfile import NOT_FOUND, file_problem

#: Exclusion classes, in the order the reasons are given when a gene is in several.
EXCLUSION_CLASSES = ("sex", "hla", "genotype", "cnv")
#: Symbols starting with this prefix are HLA genes (class I/II, pseudogenes, antisense RNAs).
HLA_PREFIX = "HLA-"


def _read_package_tsv(name: str) -> pd.DataFrame:
    with resources.as_file(resources.files("mscseq") / "panels" / name) as path:
        return pd.read_csv(
            path, sep="\t", dtype=str, keep_default_na=False, comment="#", quoting=csv.QUOTE_NONE
        )


@cache
def excluded_genes() -> pd.DataFrame:
    """The shipped exclusion list (``gene_id``, ``symbol``, ``reason``, ``note``); cached, do not modify."""
    return _read_package_tsv("excluded_genes.tsv")


@cache
def well_expressed_msc() -> pd.DataFrame:
    """The shipped list of genes expressed in MSC of every tissue (``gene_id``, ``symbol``, ...); cached."""
    return _read_package_tsv("well_expressed_msc.tsv")


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: one object per data set
class GeneKeys:
    """A data set's genes as the gene lists match them (one entry per gene)."""

    #: IDs with the Ensembl version dropped (:func:`~mscseq.comparability.panels.strip_version`)
    ids: pd.Series
    #: the same, upper-case (data whose IDs are symbols)
    ids_upper: pd.Series
    #: symbols, stripped and upper-case; ``""`` where unknown
    names: pd.Series


def gene_keys(gene_ids: Sequence[str], gene_names: Sequence[str] | None) -> GeneKeys:
    """The genes' match keys (:class:`GeneKeys`), worked out once per data set.

    The exclusions, the gene lists, the sex genes and the panels all match the same genes; the last few
    data sets' keys are kept (by value), so each consumer does not redo 60,000 string operations.
    """
    names = None if gene_names is None else tuple(gene_names)
    return _gene_keys(tuple(str(g) for g in gene_ids), names)


@lru_cache(maxsize=2)
def _gene_keys(gene_ids: tuple[str, ...], gene_names: tuple[str, ...] | None) -> GeneKeys:
    ids = pd.Series([strip_version(g) if "." in g else g.strip() for g in gene_ids], dtype=object)
    if gene_names is None:
        names = pd.Series(np.full(len(ids), "", dtype=object))
    else:
        names = pd.Series(np.asarray(gene_names, dtype=object)).fillna("").astype(str)
        names = names.str.strip().str.upper()
    return GeneKeys(ids, ids.str.upper(), names)


def _wanted(wanted: Sequence[str]) -> tuple[frozenset[str], frozenset[str]]:
    """A gene list as (IDs without version, upper-case names)."""
    return (
        frozenset(strip_version(w) for w in wanted if w),
        frozenset(str(w).strip().upper() for w in wanted if w),
    )


def _member(
    gene_ids: Sequence[str],
    gene_names: Sequence[str] | None,
    wanted: Sequence[str] | tuple[frozenset[str], frozenset[str]],
) -> np.ndarray:
    """Boolean mask: the gene's ID (version stripped) or its symbol (any case) is in ``wanted``."""
    keys = gene_keys(gene_ids, gene_names)
    want_ids, want_syms = wanted if isinstance(wanted, tuple) else _wanted(wanted)
    hit = keys.ids.isin(want_ids).to_numpy()
    hit |= keys.names.isin(want_syms).to_numpy() & (keys.names != "").to_numpy()
    # a list of symbols also matches data whose IDs are symbols (the GSC salmon file)
    hit |= keys.ids_upper.isin(want_syms).to_numpy()
    return hit


@cache
def _well_expressed_sets() -> tuple[frozenset[str], frozenset[str]]:
    table = well_expressed_msc()
    return _wanted(list(table["gene_id"]))


@cache
def _reason_lookup() -> tuple[dict[str, int], dict[str, int]]:
    """Exclusion class rank (index in :data:`EXCLUSION_CLASSES`) by gene ID and by upper-case symbol."""
    by_id: dict[str, int] = {}
    by_symbol: dict[str, int] = {}
    for gid, sym, reason in excluded_genes()[["gene_id", "symbol", "reason"]].itertuples(
        index=False
    ):
        rank = EXCLUSION_CLASSES.index(reason)
        if gid:
            by_id[strip_version(gid)] = min(rank, by_id.get(strip_version(gid), rank))
        if sym:
            by_symbol[sym.upper()] = min(rank, by_symbol.get(sym.upper(), rank))
    return by_id, by_symbol


def exclusion_reasons(gene_ids: Sequence[str], gene_names: Sequence[str] | None) -> np.ndarray:
    """The exclusion class of each gene (``""`` when the gene is kept).

    A gene is matched by its Ensembl ID (version stripped) or by its symbol (case-insensitive; a data set
    whose IDs are symbols matches through the IDs); any symbol starting with ``HLA-`` is ``"hla"``.

    Parameters
    ----------
    gene_ids
        The data's gene IDs.
    gene_names
        The data's symbols (``""`` where unknown), or ``None``.

    Returns
    -------
    numpy.ndarray
        One string per gene: ``""``, ``"sex"``, ``"hla"``, ``"genotype"`` or ``"cnv"`` (the first of
        :data:`EXCLUSION_CLASSES` that applies).

    """
    return _exclusion_reasons(gene_keys(gene_ids, gene_names)).copy()


@lru_cache(maxsize=2)
def _exclusion_reasons(keys: GeneKeys) -> np.ndarray:
    by_id, by_symbol = _reason_lookup()
    none = len(EXCLUSION_CLASSES)
    hla = EXCLUSION_CLASSES.index("hla")
    ranks = np.empty(len(keys.ids), dtype=int)
    rows = zip(keys.ids.tolist(), keys.ids_upper.tolist(), keys.names.tolist(), strict=True)
    for i, (gid, up, sym) in enumerate(rows):
        rank = min(by_id.get(gid, none), by_symbol.get(sym, none), by_symbol.get(up, none))
        if rank > hla and (sym.startswith(HLA_PREFIX) or up.startswith(HLA_PREFIX)):
            rank = hla
        ranks[i] = rank
    names = np.array([*EXCLUSION_CLASSES, ""], dtype=object)
    return names[ranks].astype(str)


def excluded_mask(
    gene_ids: Sequence[str],
    gene_names: Sequence[str] | None,
    exclude: Sequence[str] = EXCLUSION_CLASSES,
) -> np.ndarray:
    """Boolean mask of the genes in the exclusion classes ``exclude`` (protocol ``tier2.exclude``)."""
    unknown = sorted(set(exclude) - set(EXCLUSION_CLASSES))
    if unknown:
        msg = (
            f"unknown exclusion class(es) {', '.join(unknown)}; use {', '.join(EXCLUSION_CLASSES)}"
        )
        raise MscseqError(msg)
    reasons = exclusion_reasons(gene_ids, gene_names)
    return np.isin(reasons, list(exclude))


def read_gene_list(path: str | Path) -> list[str]:
    """Read a protocol gene list: one gene ID or symbol per line, or a TSV with a ``gene_id``/``symbol`` column.

    Parameters
    ----------
    path
        The file (``tier2.gene_list`` of the protocol, already resolved).

    Returns
    -------
    list of str
        The genes (IDs and/or symbols), blank lines and ``#`` comments dropped.

    Raises
    ------
    MscseqError
        Missing or unreadable file, or a file with no genes.

    """
    p = Path(path)
    problem = file_problem(p)
    if problem is not None:
        what = "not found" if problem == NOT_FOUND else problem
        msg = f"{p}: protocol tier2.gene_list {what}"
        raise MscseqError(msg)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{p}: protocol tier2.gene_list cannot be read ({exc})"
        raise MscseqError(msg) from exc
    rows = [
        line.split("\t") for line in lines if line.strip() and not line.lstrip().startswith("#")
    ]
    if rows:
        header = [c.strip().lower() for c in rows[0]]
        for col in ("gene_id", "symbol", "gene", "gene_name"):
            if col in header:
                j = header.index(col)
                rows = [r[j : j + 1] for r in rows[1:]]
                break
    genes = [r[0].strip() for r in rows if r and r[0].strip()]
    if not genes:
        msg = f"{p}: protocol tier2.gene_list holds no genes; give one gene ID or symbol per line"
        raise MscseqError(msg)
    return genes


def _pooled_mean(norm: np.ndarray) -> np.ndarray:
    return np.asarray(norm, dtype=float).mean(axis=0)


def tier2_genes(
    norm: np.ndarray,
    gene_ids: Sequence[str],
    gene_names: Sequence[str] | None,
    *,
    min_mean: float,
    gene_list: Sequence[str] | None = None,
    exclude: Sequence[str] = EXCLUSION_CLASSES,
) -> np.ndarray:
    """The Tier-2 genes, fixed without group labels.

    Parameters
    ----------
    norm
        Products × genes normalised counts (all products of the comparison, every group).
    gene_ids, gene_names
        The data's gene IDs and symbols.
    min_mean
        Pooled mean normalised count over all products a gene needs (protocol ``tier2.min_mean``).
    gene_list
        The protocol's list (IDs or symbols); when given it replaces the expression filter.
    exclude
        Exclusion classes to remove (protocol ``tier2.exclude``).

    Returns
    -------
    numpy.ndarray
        Sorted integer indices into the genes.

    """
    keep = ~excluded_mask(gene_ids, gene_names, exclude)
    if gene_list is not None:
        keep &= _member(gene_ids, gene_names, list(gene_list))
    else:
        keep &= _pooled_mean(norm) >= min_mean
    return np.flatnonzero(keep)


def spread_genes(
    norm: np.ndarray,
    gene_ids: Sequence[str],
    gene_names: Sequence[str] | None,
    *,
    min_mean: float,
) -> np.ndarray:
    """The genes of the single-group spread: the shipped well-expressed MSC list ∩ data ∩ expressed.

    Parameters
    ----------
    norm
        Products × genes normalised counts.
    gene_ids, gene_names
        The data's gene IDs and symbols.
    min_mean
        Pooled mean normalised count a gene needs in these data (protocol ``single_group.spread_min_mean``).

    Returns
    -------
    numpy.ndarray
        Sorted integer indices into the genes (exclusions never included).

    """
    keep = _member(gene_ids, gene_names, _well_expressed_sets())
    keep &= _pooled_mean(norm) >= min_mean
    keep &= exclusion_reasons(gene_ids, gene_names) == ""
    return np.flatnonzero(keep)
