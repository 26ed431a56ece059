"""Reading count files and sample sheets into one validated AnnData."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mscseq.io.dataset import join_tables, to_anndata
from mscseq.io.genes import clean_gene_ids
from mscseq.io.matrix import read_matrix
from mscseq.io.sheet import read_sheet
from mscseq.io.table import CountTable

__all__ = ["CountTable", "load_dataset", "read_counts", "read_sheet"]


def read_counts(path: str | Path, *, format: str | None = None, keep_gene_version: bool = False) -> CountTable:
    """Read one count file.

    Parameters
    ----------
    path
        The count file.
    format
        Format name; ``None`` detects it from the content.
    keep_gene_version
        Keep Ensembl version suffixes on gene IDs.

    Returns
    -------
    CountTable
        The counts and what the reader found beside them.

    """
    table = read_matrix(path)
    return clean_gene_ids(table, keep_version=keep_gene_version)


def load_dataset(
    counts: Sequence[str | Path],
    samples: str | Path,
    *,
    required_columns: Sequence[str] = (),
    sample_column: str = "sample",
    fill_missing_zero: bool = False,
    format: str | None = None,
    keep_gene_version: bool = False,
):
    """Read count files and the sample sheet and return the validated AnnData.

    Parameters
    ----------
    counts
        One or more count files, joined on gene ID.
    samples
        The sample sheet (CSV/TSV with a ``sample`` column).
    required_columns
        Sheet columns the analysis needs (design variables, group).
    sample_column
        Name of the sheet's sample column.
    fill_missing_zero
        Fill genes missing from some count files with zeros.
    format
        Count file format (``None`` = detect).
    keep_gene_version
        Keep Ensembl gene version suffixes.

    Returns
    -------
    anndata.AnnData
        Raw counts in ``X`` (samples × genes), the sheet in ``obs``.

    """
    sheet = read_sheet(samples, sample_column=sample_column)
    tables = [read_counts(p, format=format, keep_gene_version=keep_gene_version) for p in counts]
    table = join_tables(tables, fill_missing_zero=fill_missing_zero)
    return to_anndata(table, sheet, sheet_path=samples, required_columns=required_columns)
