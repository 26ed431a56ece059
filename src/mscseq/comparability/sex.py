"""Donor sex from XIST and chrY genes, to report sex balance between groups.

The call uses the XIST locus (XIST plus its antisense TSIX: unstranded and 3'-tag libraries count XIST
reads on TSIX, as in the six-tissue data) and the sum of chrY genes expressed in fibroblast-like cells
(RPS4Y1, DDX3Y, KDM5D, UTY, EIF1AY, USP9Y, ZFY, NLGN4Y, TXLNGY, PRKY, TMSB4Y), both as counts per million
of the product's normalised library, so the thresholds hold at any depth:

* ``female``: XIST locus ≥ :data:`XIST_HIGH` CPM and chrY < :data:`CHRY_LOW` CPM;
* ``male``: chrY ≥ :data:`CHRY_HIGH` CPM and XIST locus < :data:`XIST_LOW` CPM;
* ``unknown`` otherwise: both high (a mixture, such as maternal cells in a cord product), both low, the
  genes absent from the annotation, or too little evidence. A female call needs at least
  :data:`MIN_XIST_READS` reads of the XIST locus; a male call needs at least :data:`MIN_CHRY_READS` chrY
  reads *and* a library deep enough that a female's XIST (≥ :data:`XIST_HIGH` CPM) would have given
  :data:`MIN_XIST_READS` reads, so that the absence of XIST means something.

Measured (``benchmarks/derive_protocol_defaults.py``): six-tissue donors (all libraries, 0.3–0.7 M reads)
— 9 females at 1,100–9,500 CPM XIST locus and ≤ 2 CPM chrY, 8 males at ≤ 4.3 CPM XIST and 16–30 CPM chrY,
one Wharton's-jelly donor with both (unknown); airway (~20 M reads) — three males at 0–0.1 CPM XIST and
430–560 CPM chrY, the female donor N061011 at 140–210 CPM XIST and 1 CPM chrY.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mscseq.comparability.genesets import gene_keys

#: The XIST locus: XIST and its antisense TSIX (Ensembl ID, symbol).
XIST_GENES = (("ENSG00000229807", "XIST"), ("ENSG00000270641", "TSIX"))
#: chrY genes expressed in fibroblast-like cells (male-specific region, outside the pseudo-autosomal regions).
CHRY_GENES = (
    ("ENSG00000129824", "RPS4Y1"),
    ("ENSG00000067048", "DDX3Y"),
    ("ENSG00000012817", "KDM5D"),
    ("ENSG00000183878", "UTY"),
    ("ENSG00000198692", "EIF1AY"),
    ("ENSG00000114374", "USP9Y"),
    ("ENSG00000067646", "ZFY"),
    ("ENSG00000165246", "NLGN4Y"),
    ("ENSG00000131002", "TXLNGY"),
    ("ENSG00000099725", "PRKY"),
    ("ENSG00000154620", "TMSB4Y"),
)
#: XIST locus "high" (CPM): ≥ 30× the highest male value measured (4.3), < the lowest female (140).
XIST_HIGH = 50.0
#: XIST locus "low" (CPM).
XIST_LOW = 10.0
#: chrY sum "high" (CPM): half the lowest male value measured (16), 4× the highest female (2).
CHRY_HIGH = 8.0
#: chrY sum "low" (CPM).
CHRY_LOW = 4.0
#: A female call needs this many XIST-locus reads; a male call needs the depth at which a female gives them.
MIN_XIST_READS = 5.0
#: A male call needs this many chrY reads (undifferentiated six-tissue males: 2-10 reads at 50-260 k reads).
MIN_CHRY_READS = 2.0


def _columns(gene_ids: Sequence[str], gene_names: Sequence[str] | None, genes) -> np.ndarray:
    keys = gene_keys(gene_ids, gene_names)
    want_ids = {g for g, _ in genes}
    want_syms = {s for _, s in genes}
    by_id = keys.ids.isin(want_ids).to_numpy()
    # symbols only where the ID did not match any of the genes (data keyed by symbol)
    by_sym = (keys.names.isin(want_syms) | keys.ids_upper.isin(want_syms)).to_numpy()
    return np.flatnonzero(by_id) if by_id.any() else np.flatnonzero(by_sym)


def infer_sex(
    norm: np.ndarray,
    gene_ids: Sequence[str],
    gene_names: Sequence[str] | None,
    samples: Sequence[str],
    *,
    library_sizes: np.ndarray | None = None,
) -> pd.DataFrame:
    """Infer each product's sex from the XIST locus and chrY genes.

    Parameters
    ----------
    norm
        Products × genes normalised counts over all genes (CPM is taken relative to each row's sum).
    gene_ids, gene_names
        The data's gene IDs (Ensembl, version optional, or symbols) and symbols.
    samples
        Product names (the index of the result).
    library_sizes
        Raw reads per product, to turn CPM into reads for the evidence rules; default: the row sums of
        ``norm`` (close to the raw sizes when the size factors are near 1).

    Returns
    -------
    pandas.DataFrame
        Index ``samples``; columns ``xist`` and ``chry`` (log2(normalised count + 1) of the XIST locus and of
        the chrY sum), ``xist_cpm``, ``chry_cpm`` (what the call uses) and ``sex`` (``"female"``, ``"male"``
        or ``"unknown"``).

    """
    x = np.asarray(norm, dtype=float)
    xi = _columns(gene_ids, gene_names, XIST_GENES)
    yi = _columns(gene_ids, gene_names, CHRY_GENES)
    xist = x[:, xi].sum(axis=1)
    chry = x[:, yi].sum(axis=1)
    total = x.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(total > 0, 1e6 / total, np.nan)
    xist_cpm, chry_cpm = xist * scale, chry * scale
    depth = total if library_sizes is None else np.asarray(library_sizes, dtype=float)
    reads = depth / 1e6  # reads per CPM
    female = (xist_cpm >= XIST_HIGH) & (xist_cpm * reads >= MIN_XIST_READS) & (chry_cpm < CHRY_LOW)
    male = (
        (chry_cpm >= CHRY_HIGH)
        & (chry_cpm * reads >= MIN_CHRY_READS)
        & (xist_cpm < XIST_LOW)
        & (XIST_HIGH * reads >= MIN_XIST_READS)
    )
    if len(xi) == 0:  # no XIST in the annotation: nothing to call either way
        female[:] = male[:] = False
    if len(yi) == 0:
        female[:] = male[:] = False
    sex = np.where(female, "female", np.where(male, "male", "unknown"))
    return pd.DataFrame(
        {
            "xist": np.log2(xist + 1.0),
            "chry": np.log2(chry + 1.0),
            "xist_cpm": xist_cpm,
            "chry_cpm": chry_cpm,
            "sex": sex,
        },
        index=pd.Index([str(s) for s in samples], name="sample"),
    )
