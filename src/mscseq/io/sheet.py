"""The sample sheet: one row per sample, a ``sample`` column and any metadata columns."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from pathlib import Path

import pandas as pd

from mscseq.errors import MscseqError, first_names
from mscseq.io.matrix import sniff_delimiter
from mscseq.io.textfile import ZIP_MAGIC, check_file, iter_content_lines, read_head, read_magic

#: Cell values that mean "no value" in a column the analysis uses (compared without case and surrounding
#: spaces): empty, R's and pandas' ``NA``/``NaN``/``<NA>``, spreadsheets' ``N/A``/``#N/A``, databases'
#: ``NULL`` and the ``.`` of VCF/SAS. ``None``, ``none`` and ``-`` are kept as levels: they name real
#: conditions ("treatment: none", a ``+``/``-`` stimulus).
MISSING_VALUES = frozenset({"", "na", "nan", "<na>", "n/a", "#n/a", "null", "."})


def missing_mask(values: pd.Series) -> pd.Series:
    """True where a sheet value is missing (NaN or one of :data:`MISSING_VALUES`).

    Parameters
    ----------
    values
        One sheet column.

    Returns
    -------
    pandas.Series
        Boolean, same index.

    """
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    return text.isin(MISSING_VALUES)


def check_filled(sheet: pd.DataFrame, columns, *, sheet_path: object = "sample sheet") -> None:
    """Refuse missing values in the columns an analysis uses (design variables, contrasts, group).

    Parameters
    ----------
    sheet
        Sample sheet indexed by sample.
    columns
        Columns that must have a value for every sample.
    sheet_path
        The sheet, for messages.

    Raises
    ------
    MscseqError
        Naming the column, the samples and the missing-value spelling found.

    """
    for col in columns:
        mask = missing_mask(sheet[col])
        if mask.any():
            samples = [str(s) for s in sheet.index[mask.to_numpy()]]
            found = sorted({str(v).strip() for v in sheet[col][mask.to_numpy()]})
            shown = ", ".join(repr(v) if v else "empty" for v in found)
            msg = (
                f"{sheet_path}: column '{col}' has no value for sample(s) {first_names(samples)} ({shown}); "
                "fill it in, or leave those samples out of the sheet"
            )
            raise MscseqError(msg)


def _kept_lines(p: Path) -> list[tuple[int, str]]:
    """The sheet's lines that ``read_csv`` does not skip, with their line numbers, read as a stream.

    Empty and space-only lines, which ``read_csv`` skips too, are dropped as they are read (a sheet
    padded with millions of them costs no memory); a line holding a tab stays (with tabs as the
    delimiter it is a row of empty cells). Before the header, every whitespace-only line is dropped.
    """
    read_head(p)  # refuses binary files (HDF5, NUL bytes) before streaming
    kept: list[tuple[int, str]] = []
    for number, line in iter_content_lines(p):
        if line.strip(" ") if kept else line.strip():
            kept.append((number, line))
    return kept


def _parse_error(p: Path, exc: pd.errors.ParserError, kept: list[tuple[int, str]]) -> MscseqError:
    """``read_csv``'s error with its line number mapped back to the file's (blank lines were dropped)."""
    text = str(exc).strip()

    def file_line(m: re.Match) -> str:
        index = int(m.group(1)) - 1
        return f"line {kept[index][0]}" if 0 <= index < len(kept) else m.group(0)

    text = re.sub(r"line (\d+)", file_line, text)
    msg = (
        f"{p}: cannot parse the sample sheet ({text}); check that every row has as many columns as "
        "the header"
    )
    return MscseqError(msg)


def _read_delimited(p: Path, sample_column: str) -> pd.DataFrame:
    kept = _kept_lines(p)
    if not kept:
        msg = f"{p}: the sample sheet is empty; expected a header line with a '{sample_column}' column"
        raise MscseqError(msg)
    first = kept[0][1]
    sep = sniff_delimiter(first, p) if ("\t" in first or "," in first or ";" in first) else "\t"
    header = next(csv.reader([first], delimiter=sep))
    names = [h.strip() for h in header]
    dup = sorted(name for name, n in Counter(names).items() if n > 1)
    if dup:
        msg = f"{p}, line {kept[0][0]}: duplicated column names {first_names(dup)}; give each column its own name"
        raise MscseqError(msg)
    text = "\n".join(line for _, line in kept) + "\n"
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        raise _parse_error(p, exc, kept) from exc


def _read_excel(p: Path, sample_column: str) -> pd.DataFrame:
    """Read the first worksheet of an Excel ``.xlsx`` sheet as text."""
    try:
        import openpyxl  # noqa: F401  (pandas' engine for .xlsx)
    except ImportError as exc:  # pragma: no cover - openpyxl is a dependency
        msg = f"{p}: an Excel workbook; save it as CSV or TSV (or install openpyxl)"
        raise MscseqError(msg) from exc
    try:
        df = pd.read_excel(p, sheet_name=0, dtype=str, engine="openpyxl")
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"{p}: cannot be read as an Excel .xlsx workbook ({detail}); save the sheet as CSV or TSV"
        raise MscseqError(msg) from exc
    if df.columns.empty:
        msg = f"{p}: the first worksheet is empty; expected a header row with a '{sample_column}' column"
        raise MscseqError(msg)
    unnamed = [str(c) for c in df.columns if str(c).startswith("Unnamed:")]
    if unnamed and df[unnamed].isna().all().all():
        df = df.drop(columns=unnamed)
    return df.fillna("").astype(str)


def read_sheet(path: str | Path, *, sample_column: str = "sample") -> pd.DataFrame:
    """Read and check a sample sheet (CSV, TSV or the first worksheet of an Excel ``.xlsx`` file).

    Parameters
    ----------
    path
        The sheet.
    sample_column
        Name of the column holding sample names.

    Returns
    -------
    pandas.DataFrame
        Index = sample names (strings), other columns as strings (numeric-looking columns converted to
        numbers), in file order.

    Raises
    ------
    MscseqError
        Empty sheet, no sample column, duplicated samples, empty sample names.

    """
    p = check_file(path, what="a sample sheet")
    df = (
        _read_excel(p, sample_column)
        if read_magic(p, 4) == ZIP_MAGIC
        else _read_delimited(p, sample_column)
    )
    df.columns = [str(c).strip() for c in df.columns]
    if sample_column not in df.columns:
        msg = (
            f"{p}: no '{sample_column}' column; the columns are {first_names(df.columns, 8)} "
            f"(rename the sample-name column to '{sample_column}' or pass --sample-column)"
        )
        raise MscseqError(msg)
    if df.empty:
        msg = f"{p}: the sample sheet has a header but no samples"
        raise MscseqError(msg)
    df = df.apply(lambda s: s.str.strip())
    names = df[sample_column]
    if (names == "").any():
        line = int((names == "").to_numpy().nonzero()[0][0]) + 2
        msg = f"{p}, line {line}: empty sample name in column '{sample_column}'"
        raise MscseqError(msg)
    dup = names[names.duplicated()].unique().tolist()
    if dup:
        msg = f"{p}: duplicated samples in column '{sample_column}': {first_names(dup)}; list each sample once"
        raise MscseqError(msg)
    df = df.set_index(sample_column)
    df.index.name = "sample"
    for col in df.columns:
        converted = pd.to_numeric(df[col], errors="coerce")
        if df[col].ne("").all() and converted.notna().all():
            # Keep integer-looking codes (donor 1, 2, 3) as text: they are labels, not quantities.
            if not (converted == converted.round()).all():
                df[col] = converted
    return df
