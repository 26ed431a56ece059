"""AnnData ``.h5ad`` files: samples as observations, genes as variables; ``--layer`` picks the counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError, first_names
from mscseq.io.table import CountTable
from mscseq.io.textfile import check_file

#: ``var`` columns read as gene symbols, in order of preference.
SYMBOL_COLUMNS = ("gene_name", "gene_symbol", "gene_symbols", "symbol", "feature_name")


def read_h5ad(path: str | Path, *, layer: str | None = None) -> CountTable:
    """Read counts from an AnnData file.

    Parameters
    ----------
    path
        The ``.h5ad`` file (``obs`` = samples, ``var`` = genes).
    layer
        The layer holding raw counts; ``None`` uses ``layers["counts"]`` when present, else ``X``.
        ``"X"`` forces ``X``.

    Returns
    -------
    CountTable
        Genes × samples, gene symbols from ``var`` when present.

    """
    import anndata as ad

    p = check_file(path)
    try:
        adata = ad.read_h5ad(p, backed="r")
    except (OSError, KeyError, ValueError, TypeError, AttributeError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"{p}: cannot be read as an AnnData .h5ad file ({detail})"
        raise MscseqError(msg) from exc
    try:
        layers = list(adata.layers.keys())
        if layer is None:
            layer = "counts" if "counts" in layers else "X"
        if layer == "X":
            if adata.X is None:
                msg = f"{p}: X is empty; choose a layer with --layer ({first_names(layers) or 'none present'})"
                raise MscseqError(msg)
            matrix = adata.X[:]
        elif layer in layers:
            matrix = adata.layers[layer][:]
        else:
            msg = f"{p}: no layer '{layer}'; layers present: {first_names(layers) or 'none'} (or use --layer X)"
            raise MscseqError(msg)
        if hasattr(matrix, "toarray"):
            matrix = matrix.toarray()
        values = np.asarray(matrix, dtype=np.float64)
        samples = [str(s) for s in adata.obs_names]
        genes = [str(g) for g in adata.var_names]
        var = adata.var.copy()
    finally:
        if adata.isbacked:
            adata.file.close()
    where = f"{p}, layer '{layer}'"
    if values.size == 0:
        msg = f"{where}: no samples or genes"
        raise MscseqError(msg)
    if not np.isfinite(values).all():
        msg = f"{where}: missing or infinite values; give raw counts"
        raise MscseqError(msg)
    if (values < 0).any():
        msg = f"{where}: negative values; this looks like log or scaled data, give the raw-count layer with --layer"
        raise MscseqError(msg)
    if (values != np.round(values)).any():
        msg = f"{where}: non-integer values; DESeq2 needs raw counts, choose the raw-count layer with --layer"
        raise MscseqError(msg)
    if len(set(samples)) != len(samples):
        dup = pd.Index(samples)[pd.Index(samples).duplicated()].unique()
        msg = f"{p}: duplicated sample names (obs_names) {first_names(dup)}"
        raise MscseqError(msg)
    counts = pd.DataFrame(values.T, index=pd.Index(genes, name="gene_id"), columns=samples)
    gene_names = None
    for col in SYMBOL_COLUMNS:
        if col in var.columns:
            gene_names = pd.Series(var[col].astype(str).to_numpy(), index=genes, name="gene_name")
            break
    return CountTable(
        counts=counts,
        source=p,
        format="h5ad",
        gene_names=gene_names,
        notes=[f"{p}: counts from {layer}"],
    )
