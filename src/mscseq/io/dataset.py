"""Join count tables and the sample sheet into one validated AnnData."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError, first_names
from mscseq.io.limits import check_no_empty_samples
from mscseq.io.sheet import check_filled
from mscseq.io.table import CountTable

log = logging.getLogger(__name__)


def join_tables(tables: Sequence[CountTable], *, fill_missing_zero: bool = False) -> CountTable:
    """Join several count tables on gene ID.

    Parameters
    ----------
    tables
        Count tables, for example one per production batch.
    fill_missing_zero
        Fill genes missing from some tables with 0 instead of failing.

    Returns
    -------
    CountTable
        One table with the union of samples, genes in the order of the first table.

    """
    if not tables:
        msg = "no count files given"
        raise MscseqError(msg)
    if len(tables) == 1:
        return tables[0]
    seen: dict[str, Path] = {}
    for t in tables:
        for s in t.counts.columns:
            if s in seen:
                msg = f"{t.source}: sample '{s}' is also in {seen[s]}; sample names must be unique across count files"
                raise MscseqError(msg)
            seen[s] = t.source
    all_genes = pd.Index(tables[0].counts.index)
    for t in tables[1:]:
        all_genes = all_genes.append(t.counts.index.difference(all_genes))
    if not fill_missing_zero:
        for t in tables:
            missing = all_genes.difference(t.counts.index)
            if len(missing):
                msg = (
                    f"{t.source}: {len(missing)} genes present in other count files are missing here "
                    f"({first_names(missing)}); use the same annotation for all files or pass --fill-missing-zero"
                )
                raise MscseqError(msg)
    counts = pd.concat([t.counts.reindex(all_genes, fill_value=0.0) for t in tables], axis=1)
    counts.index.name = "gene_id"
    names = [t.gene_names for t in tables if t.gene_names is not None]
    gene_names = None
    if names:
        merged = pd.concat(names)
        gene_names = merged[~merged.index.duplicated()]
    qcs = [t.qc for t in tables if t.qc is not None]
    qc = pd.concat(qcs) if qcs else None
    notes = [n for t in tables for n in t.notes]
    lengths = None
    with_lengths = [t for t in tables if t.lengths is not None]
    if with_lengths and len(with_lengths) == len(tables):
        lengths = pd.concat([t.lengths.reindex(all_genes) for t in tables], axis=1)  # type: ignore[union-attr]
        lengths.index.name = "gene_id"
    elif with_lengths:
        notes.append("transcript lengths are known for only some count files; lengths not kept")
    formats = sorted({t.format for t in tables})
    return CountTable(
        counts=counts,
        source=tables[0].source,
        format=",".join(formats),
        level=tables[0].level,
        gene_names=gene_names,
        qc=qc,
        notes=notes,
        lengths=lengths,
        sample_files={
            str(s): t.sample_files.get(str(s), t.source) for t in tables for s in t.counts.columns
        },
    )


def match_samples(
    table: CountTable,
    sheet: pd.DataFrame,
    *,
    sheet_path: str | Path = "sample sheet",
    required_columns: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Match samples between counts and sheet.

    Parameters
    ----------
    table
        Joined counts.
    sheet
        Sample sheet indexed by sample name (see :func:`mscseq.io.sheet.read_sheet`).
    sheet_path
        The sheet's path, for messages.
    required_columns
        Sheet columns the analysis needs (design variables, group).

    Returns
    -------
    tuple
        Counts (genes × samples, in sheet order), the sheet, and the count columns left out because
        the sheet does not list them.

    """
    missing_cols = [c for c in required_columns if c not in sheet.columns]
    if missing_cols:
        msg = (
            f"{sheet_path}: column(s) {first_names(missing_cols)} used in the design or options are not in "
            f"the sheet (its columns: {first_names(sheet.columns, 8)})"
        )
        raise MscseqError(msg)
    counts = table.counts
    not_in_counts = [s for s in sheet.index if s not in counts.columns]
    if not_in_counts:
        msg = (
            f"{sheet_path}: {len(not_in_counts)} sample(s) in the sheet are not in the count files: "
            f"{first_names(not_in_counts)} (count columns: {first_names(counts.columns)})"
        )
        raise MscseqError(msg)
    extra = [s for s in counts.columns if s not in sheet.index]
    if extra:
        log.warning(
            "%d sample(s) in the counts are not in the sheet and are left out: %s",
            len(extra),
            first_names(extra),
        )
    check_filled(sheet, required_columns, sheet_path=sheet_path)  # empty, NA, NaN, N/A, NULL, ...
    if list(counts.columns) != list(sheet.index):
        counts = counts[
            list(sheet.index)
        ]  # in sheet order (no copy when it already is: large matrices)
    check_no_empty_samples(counts, table.sample_files, table.source)
    return counts, sheet, extra


@dataclass
class CountData:
    """The loaded inputs in AnnData's layout, without importing anndata.

    The fields an :class:`anndata.AnnData` of :func:`to_anndata` holds, under the same names, for the
    steps that only read them (the design checks and :func:`mscseq.de.run.run_de` of ``mscseq de``):
    importing anndata (with zarr and h5py) costs about 0.2 s of CPU, a sixth of a whole ``mscseq de``
    run. :meth:`to_anndata` gives the AnnData.

    Attributes
    ----------
    X
        Raw counts, samples × genes (float64).
    obs
        The sheet rows in sheet order, indexed by sample name (text).
    var
        ``gene_name`` per gene, indexed by gene ID (text).
    layers
        ``avg_tx_length`` for quantifier estimates.
    uns
        ``input``: format, level, notes, samples left out, files read.

    """

    X: np.ndarray
    obs: pd.DataFrame
    var: pd.DataFrame
    layers: dict[str, np.ndarray] = field(default_factory=dict)
    uns: dict[str, Any] = field(default_factory=dict)

    @property
    def obs_names(self) -> pd.Index:
        """Sample names."""
        return self.obs.index

    @property
    def var_names(self) -> pd.Index:
        """Gene IDs."""
        return self.var.index

    @property
    def n_obs(self) -> int:
        """Number of samples."""
        return self.X.shape[0]

    @property
    def n_vars(self) -> int:
        """Number of genes."""
        return self.X.shape[1]

    def to_anndata(self):
        """The same data as an :class:`anndata.AnnData` (arrays and tables shared, not copied)."""
        import anndata as ad

        adata = ad.AnnData(X=self.X, obs=self.obs, var=self.var)
        for key, value in self.layers.items():
            adata.layers[key] = value
        adata.uns.update(self.uns)
        return adata


def to_anndata(
    table: CountTable,
    sheet: pd.DataFrame,
    *,
    sheet_path: str | Path = "sample sheet",
    required_columns: Sequence[str] = (),
):
    """Match samples between counts and sheet and build the AnnData.

    Parameters
    ----------
    table, sheet, sheet_path, required_columns
        As :func:`match_samples`.

    Returns
    -------
    anndata.AnnData
        ``X`` = raw counts (samples × genes, float64), ``obs`` = sheet rows in sheet order,
        ``var["gene_name"]`` = symbols where known.

    """
    data = to_count_data(table, sheet, sheet_path=sheet_path, required_columns=required_columns)
    return data.to_anndata()


def to_count_data(
    table: CountTable,
    sheet: pd.DataFrame,
    *,
    sheet_path: str | Path = "sample sheet",
    required_columns: Sequence[str] = (),
) -> CountData:
    """Match samples between counts and sheet: what :func:`to_anndata` holds, without anndata.

    Parameters
    ----------
    table, sheet, sheet_path, required_columns
        As :func:`match_samples`.

    Returns
    -------
    CountData
        The fields of the AnnData of :func:`to_anndata`.

    """
    counts, sheet, extra = match_samples(
        table, sheet, sheet_path=sheet_path, required_columns=required_columns
    )
    x = np.ascontiguousarray(counts.to_numpy(dtype=np.float64).T)
    obs = sheet.copy()
    for col in obs.columns:
        if obs[col].dtype == object:
            obs[col] = obs[col].astype("category")
    obs.index = obs.index.astype(str)
    var = pd.DataFrame(index=pd.Index(counts.index.astype(str), name="gene_id"))
    names = table.gene_names.reindex(var.index) if table.gene_names is not None else None
    var["gene_name"] = names.fillna("").astype(str).to_numpy() if names is not None else ""
    data = CountData(X=x, obs=obs, var=var)
    if table.lengths is not None:
        lengths = table.lengths.reindex(index=counts.index, columns=list(sheet.index))
        data.layers["avg_tx_length"] = np.ascontiguousarray(lengths.to_numpy(dtype=np.float64).T)
    data.uns["input"] = {
        "format": table.format,
        "level": table.level,
        "notes": list(table.notes),
        "samples_left_out": extra,
        "files": [str(f) for f in table.files],
    }
    if table.qc is not None:
        qc = table.qc.reindex(data.obs_names)
        for col in qc.columns:
            values = qc[col].to_numpy()
            if (
                values.dtype.kind == "f"
                and np.isfinite(values).all()
                and (values == np.round(values)).all()
            ):
                values = values.astype(
                    np.int64
                )  # read counts stay integers in tables and the report
            data.obs[f"tool_{col}"] = values
    return data
