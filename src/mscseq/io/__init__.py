"""Reading count files and sample sheets into one validated AnnData.

Formats (detected from content; ``format=`` overrides; the registry is :data:`mscseq.io.formats.FORMATS`):
plain CSV/TSV matrices (``matrix``), nf-core/rnaseq merged tables (``nfcore``), featureCounts, HTSeq-count,
STAR ``ReadsPerGene.out.tab``, Salmon, kallisto and RSEM estimates (summarised to genes as tximport does)
and AnnData ``.h5ad``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mscseq.io.dataset import CountData, to_anndata, to_count_data
from mscseq.io.detect import detect_format
from mscseq.io.formats import COUNT_FORMATS, FORMATS, ReadOptions
from mscseq.io.readers import paths_from_sheet, read_count_files
from mscseq.io.sheet import read_sheet
from mscseq.io.table import CountTable

__all__ = [
    "COUNT_FORMATS",
    "FORMATS",
    "CountData",
    "CountTable",
    "ReadOptions",
    "detect_format",
    "load_dataset",
    "read_count_files",
    "read_counts",
    "read_sheet",
]


def read_counts(
    path: str | Path,
    *,
    format: str | None = None,
    keep_gene_version: bool = False,
    layer: str | None = None,
    strandedness: str | None = None,
    tx2gene: str | Path | None = None,
    sample: str | None = None,
) -> CountTable:
    """Read one count file.

    Parameters
    ----------
    path
        The count file.
    format, keep_gene_version, layer, strandedness, tx2gene
        Reader options, the fields of :class:`~mscseq.io.formats.ReadOptions` (documented there).
    sample
        Per-sample formats: the sample's name (default: from the file name or folder).

    Returns
    -------
    CountTable
        The counts and what the reader found beside them.

    """
    opts = ReadOptions(
        format=format,
        keep_gene_version=keep_gene_version,
        layer=layer,
        strandedness=strandedness,
        tx2gene=tx2gene,
    )
    return read_count_files([path], samples=[sample], options=opts)


def read_inputs(
    counts: Sequence[str | Path] | None,
    samples: str | Path,
    *,
    sample_column: str = "sample",
    fill_missing_zero: bool = False,
    options: ReadOptions | None = None,
    path_column: str = "path",
) -> tuple[CountTable, pd.DataFrame]:
    """Read the sample sheet and the count files (given, or named by the sheet's ``path`` column).

    Parameters
    ----------
    counts
        Count files; empty or ``None`` reads the files the sheet's ``path_column`` names.
    samples
        The sample sheet.
    sample_column
        Name of the sheet's sample column.
    fill_missing_zero
        Fill genes missing from some count files with zeros.
    options
        Reader options (see :class:`~mscseq.io.formats.ReadOptions`).
    path_column
        The sheet column with per-sample file paths.

    Returns
    -------
    tuple
        The joined counts and the sheet (indexed by sample), not yet matched to each other.

    """
    sheet = read_sheet(samples, sample_column=sample_column)
    opts = options or ReadOptions()
    if counts:
        table = read_count_files(list(counts), options=opts, fill_missing_zero=fill_missing_zero)
    else:
        paths, names = paths_from_sheet(sheet, samples, column=path_column)
        table = read_count_files(
            paths,
            samples=names,
            options=opts,
            fill_missing_zero=fill_missing_zero,
            sheet_path=samples,
        )
    return table, sheet


def load_dataset(
    counts: Sequence[str | Path] | None,
    samples: str | Path,
    *,
    required_columns: Sequence[str] = (),
    sample_column: str = "sample",
    fill_missing_zero: bool = False,
    format: str | None = None,
    keep_gene_version: bool = False,
    layer: str | None = None,
    strandedness: str | None = None,
    tx2gene: str | Path | None = None,
    path_column: str = "path",
    light: bool = False,
):
    """Read count files and the sample sheet and return the validated AnnData.

    Parameters
    ----------
    counts
        Count files, joined on gene ID. Empty or ``None``: the files come from the sheet's ``path``
        column (relative to the sheet's folder), one per sample or a shared multi-sample file.
    samples
        The sample sheet (CSV/TSV with a ``sample`` column).
    required_columns
        Sheet columns the analysis needs (design variables, group).
    sample_column
        Name of the sheet's sample column.
    fill_missing_zero
        Fill genes missing from some count files with zeros.
    format, keep_gene_version, layer, strandedness, tx2gene
        Reader options, the fields of :class:`~mscseq.io.formats.ReadOptions` (documented there).
    path_column
        The sheet column with per-sample file paths.
    light
        Return the AnnData's fields as a :class:`~mscseq.io.dataset.CountData` (anndata not imported;
        for steps that only read ``X``, ``obs`` and ``var``, like ``mscseq de``).

    Returns
    -------
    anndata.AnnData or CountData
        Raw counts in ``X`` (samples × genes), the sheet in ``obs``; ``layers["avg_tx_length"]`` for
        quantifier estimates.

    """
    table, sheet = read_inputs(
        counts,
        samples,
        sample_column=sample_column,
        fill_missing_zero=fill_missing_zero,
        options=ReadOptions(
            format=format,
            keep_gene_version=keep_gene_version,
            layer=layer,
            strandedness=strandedness,
            tx2gene=tx2gene,
        ),
        path_column=path_column,
    )
    build = to_count_data if light else to_anndata
    return build(table, sheet, sheet_path=samples, required_columns=required_columns)
