"""Dispatch count files to the reader of their format and join them into one table."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mscseq.errors import MscseqError
from mscseq.io.dataset import join_tables
from mscseq.io.detect import Detected, check_declared, detect_format
from mscseq.io.formats import COUNT_FORMATS, FORMATS, CountFormat, ReadOptions, ReadRequest
from mscseq.io.genes import clean_gene_ids
from mscseq.io.limits import check_count_range
from mscseq.io.names import sample_name_from_file
from mscseq.io.star import star_log_beside
from mscseq.io.table import CountTable
from mscseq.io.textfile import IS_FOLDER, NOT_FOUND, check_file, file_problem
from mscseq.io.tximport import Quant, read_quant, read_tx2gene, summarize_to_gene

__all__ = ["ReadOptions", "paths_from_sheet", "read_count_files", "resolve_format"]

log = logging.getLogger(__name__)


def resolve_format(path: Path, declared: str | None) -> Detected:
    """Detect the format of ``path`` and check it against a declared one.

    Parameters
    ----------
    path
        The file.
    declared
        The user's ``--format`` (``None``/``"auto"`` = detect).

    Returns
    -------
    Detected
        The format to read it with.

    """
    det = detect_format(path)
    if declared in (None, "auto"):
        spec = FORMATS[det.format]
        if not spec.counts:
            msg = f"{path}: {spec.refusal.format(why=det.why)}"
            raise MscseqError(msg)
        return det
    check_declared(path, declared, det)
    return Detected(declared, det.level, "--format")


def read_count_files(
    paths: Sequence[str | Path],
    *,
    samples: Sequence[str | None] | None = None,
    options: ReadOptions | None = None,
    fill_missing_zero: bool = False,
    sheet_path: str | Path | None = None,
) -> CountTable:
    """Read count files of any supported format and join them on gene ID.

    Parameters
    ----------
    paths
        Count files. A multi-sample file (matrix, featureCounts, h5ad) may be listed once; per-sample files
        (HTSeq, STAR, Salmon, kallisto, RSEM) once per sample.
    samples
        Sample name for each path (used for per-sample files; ``None`` entries are named from the file).
    options
        Reader options.
    fill_missing_zero
        Fill genes missing from some files with zeros instead of failing.
    sheet_path
        The sheet the paths came from (its ``path`` column), for messages.

    Returns
    -------
    CountTable
        Genes × samples with clean gene IDs; estimated counts from quantifiers summarised to genes with
        tximport's method and rounded, their average transcript lengths in ``lengths``.

    """
    opts = options or ReadOptions()
    if not paths:
        msg = "no count files given; pass count files or give a 'path' column in the sample sheet"
        raise MscseqError(msg)
    if opts.format not in (None, "auto", *COUNT_FORMATS):
        msg = f"unknown --format '{opts.format}'; choose one of {', '.join(COUNT_FORMATS)}"
        raise MscseqError(msg)
    names = list(samples) if samples is not None else [None] * len(paths)
    tx2gene = (
        read_tx2gene(check_file(opts.tx2gene, what="a tx2gene table or GTF"))
        if opts.tx2gene is not None
        else None
    )
    tables: list[CountTable] = []
    quants: dict[tuple[str, str], list[Quant]] = {}
    seen: dict[str, Path] = {}
    for raw, sample in zip(paths, names, strict=True):
        path = check_file(raw)
        det = resolve_format(path, opts.format)
        spec = FORMATS[det.format]
        if spec.per_sample:
            if sheet_path is not None and sample is None:
                msg = (
                    f"{sheet_path}: several samples share the path {path}, but this {det.format} file holds "
                    "one sample; give each sample its own file"
                )
                raise MscseqError(msg)
            name = sample or sample_name_from_file(path)
            if name in seen:
                msg = (
                    f"{path}: gives sample name '{name}', as does {seen[name]}; name the samples in the sheet "
                    "(sample and path columns)"
                )
                raise MscseqError(msg)
            seen[name] = path
            if spec.quantifier:
                quants.setdefault((det.format, det.level), []).append(
                    read_quant(path, sample=name, fmt=det.format, level=det.level)
                )
                continue
            tables.append(_read_table(path, spec, ReadRequest(name, opts)))
        else:
            tables.append(_read_table(path, spec, ReadRequest(None, opts)))
    for group in quants.values():
        tables.append(summarize_to_gene(group, tx2gene=tx2gene, tx2gene_path=opts.tx2gene))
    for t in tables:
        check_count_range(t)
    _check_strandedness_agrees(tables)
    tables = [clean_gene_ids(t, keep_version=opts.keep_gene_version) for t in tables]
    for t in tables:
        for note in t.notes:
            log.info(note)
    table = join_tables(tables, fill_missing_zero=fill_missing_zero)
    table.files = _files_read([check_file(p) for p in paths], opts)
    return table


def _read_table(path: Path, spec: CountFormat, request: ReadRequest) -> CountTable:
    if spec.read is None:  # pragma: no cover - every count format but the quantifiers has a reader
        msg = f"{path}: format '{spec.name}' cannot be read on its own here"
        raise MscseqError(msg)
    return spec.read(path, request)


def _check_strandedness_agrees(tables: list[CountTable]) -> None:
    """Warn when STAR samples were inferred with different strandedness (mixed library preparations?)."""
    chosen: dict[str, list[str]] = {}
    for t in tables:
        if t.format == "star" and t.qc is not None and "star_strandedness" in t.qc:
            for sample, value in t.qc["star_strandedness"].items():
                chosen.setdefault(str(value), []).append(str(sample))
    if len(chosen) > 1:
        detail = "; ".join(
            f"{k}: {', '.join(v[:5])}{' ...' if len(v) > 5 else ''}"
            for k, v in sorted(chosen.items())
        )
        note = (
            f"STAR samples differ in strandedness ({detail}); check the library preparations or pass "
            "--strandedness to use one column for all"
        )
        log.warning(note)
        tables[0].notes.append(note)


def _files_read(paths: list[Path], opts: ReadOptions) -> list[Path]:
    """The count files plus the side files the readers used (tx2gene, .summary, Log.final.out)."""
    files: list[Path] = []
    for p in paths:
        files.append(p)
        summary = Path(f"{p}.summary")
        if summary.is_file():
            files.append(summary)
        star_log = star_log_beside(p)
        if star_log is not None:
            files.append(star_log)
    if opts.tx2gene is not None:
        files.append(Path(opts.tx2gene))
    return list(dict.fromkeys(files))


def paths_from_sheet(
    sheet: pd.DataFrame, sheet_path: str | Path, *, column: str = "path"
) -> tuple[list[Path], list[str | None]]:
    """Resolve the sheet's ``path`` column (relative to the sheet's folder) into files and sample names.

    Rows pointing to the same multi-sample file are read once.

    Parameters
    ----------
    sheet
        The sheet, indexed by sample.
    sheet_path
        The sheet file (paths are relative to its folder).
    column
        The column holding paths.

    Returns
    -------
    tuple of (list of pathlib.Path, list of str or None)
        Unique files in sheet order, and for each the sample it holds (``None`` for files listed by
        several rows, which must then be multi-sample files).

    """
    base = Path(sheet_path).parent
    if column not in sheet.columns:
        msg = (
            f"{sheet_path}: no count files given and no '{column}' column in the sheet; pass the count files "
            f"or add a '{column}' column (one file per sample, relative to the sheet's folder)"
        )
        raise MscseqError(msg)
    order: list[Path] = []
    owners: dict[Path, list[str]] = {}
    for lineno, (sample, value) in enumerate(sheet[column].astype(str).items(), start=2):
        text = value.strip()
        where = f"{sheet_path}, line {lineno}, column '{column}'"
        if not text:
            msg = f"{where}: empty path for sample '{sample}'; give its count file"
            raise MscseqError(msg)
        p = Path(text).expanduser()
        p = p if p.is_absolute() else base / p
        problem = file_problem(p)
        if problem == NOT_FOUND:
            msg = f"{where}: file '{text}' does not exist (looked for {p}; paths are relative to the sheet's folder)"
            raise MscseqError(msg)
        if problem == IS_FOLDER:
            msg = f"{where}: '{text}' is a folder; give the count file inside it (e.g. quant.sf)"
            raise MscseqError(msg)
        if problem is not None:
            msg = f"{where}: '{text}' {problem}"
            raise MscseqError(msg)
        key = p.resolve()
        if key not in owners:
            owners[key] = []
            order.append(p)
        owners[key].append(str(sample))
    samples = [owners[p.resolve()][0] if len(owners[p.resolve()]) == 1 else None for p in order]
    return order, samples
