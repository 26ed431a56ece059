"""Strict parsing of fixed-layout tool outputs (HTSeq, STAR, Salmon, kallisto, RSEM).

:func:`read_fixed_table` parses fast with pandas and, on any problem, streams the file once more to
name the first bad line and column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError
from mscseq.io.matrix import MISSING
from mscseq.io.textfile import (
    DECOMPRESS_ERRORS,
    check_file,
    compression_of,
    iter_lines,
    iter_rows,
    truncated_error,
)


def _diagnose(
    path: Path,
    *,
    columns: Sequence[str],
    numeric: Sequence[int],
    integer: Sequence[int],
    skip: int,
    what: str,
) -> MscseqError | None:
    ncol = len(columns)
    for line, row in iter_rows(path, "\t"):
        if line <= skip or not row or not "".join(row).strip():
            continue
        if len(row) != ncol:
            return MscseqError(
                f"{path}, line {line}: {len(row)} tab-separated columns, expected {ncol} for {what}; "
                "check that the file is complete and tab-separated"
            )
        if not row[0].strip():
            return MscseqError(f"{path}, line {line}: empty ID in the first column")
        for i in numeric:
            raw = row[i].strip()
            where = f"{path}, line {line}, column '{columns[i]}'"
            if raw in MISSING:
                return MscseqError(f"{where}: missing value; {what} has a number here")
            try:
                value = float(raw)
            except ValueError:
                return MscseqError(f"{where}: value {raw!r} is not a number")
            if not math.isfinite(value):
                return MscseqError(f"{where}: value {raw!r} is not a finite number")
            if value < 0:
                return MscseqError(
                    f"{where}: negative value {raw}; counts and lengths must be 0 or more"
                )
            if i in integer and value != round(value):
                return MscseqError(
                    f"{where}: non-integer count {raw}; {what} holds whole read counts"
                )
    return None


def read_fixed_table(
    path: str | Path,
    *,
    columns: Sequence[str],
    numeric: Sequence[int],
    integer: Sequence[int] = (),
    header: bool = True,
    what: str = "this format",
) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a tab-separated table whose columns are known in advance.

    Parameters
    ----------
    path
        The file (plain or compressed).
    columns
        Expected column names (the file's header when ``header`` is true, else names to use).
    numeric
        Indices of numeric columns (the rest are read as text).
    integer
        Indices of numeric columns that must hold whole numbers.
    header
        The first non-blank line is a header (skipped; the caller checked it).
    what
        The format's name, for messages (``"an HTSeq-count file"``).

    Returns
    -------
    tuple of (pandas.DataFrame, numpy.ndarray)
        Text columns (by name, as strings) and the numeric columns as a float64 array
        (rows × ``len(numeric)``).

    Raises
    ------
    MscseqError
        On wrong column counts, missing, non-numeric, non-finite, negative or non-integer values,
        with the line and column.

    """
    p = check_file(path)
    skip = 0
    if header:
        for i, line in enumerate(iter_lines(p)):
            if line.strip():
                skip = i + 1
                break
    ncol = len(columns)
    dtypes: dict[int, object] = {i: (np.float64 if i in numeric else str) for i in range(ncol)}
    kind = compression_of(p)
    diag = dict(columns=columns, numeric=numeric, integer=integer, skip=skip, what=what)
    try:
        df = pd.read_csv(
            p,
            sep="\t",
            header=None,
            names=list(range(ncol)),
            skiprows=skip,
            dtype=dtypes,
            compression={"method": kind} if kind else None,
            na_values=list(MISSING),
            keep_default_na=False,
            quoting=csv.QUOTE_NONE,
            engine="c",
            encoding="utf-8-sig",
        )
    except DECOMPRESS_ERRORS as exc:
        raise truncated_error(p, exc) from exc
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        err = _diagnose(p, **diag)  # type: ignore[arg-type]
        if err is not None:
            raise err from exc
        msg = f"{p}: cannot parse {what} ({str(exc).strip().splitlines()[0]})"
        raise MscseqError(msg) from exc
    if df.empty:
        msg = f"{p}: no data lines; {what} lists one feature per line"
        raise MscseqError(msg)
    values = df[list(numeric)].to_numpy(dtype=np.float64)
    text = df[[i for i in range(ncol) if i not in numeric]].fillna("").astype(str)
    bad = ~np.isfinite(values) | (values < 0)
    if integer:
        cols = [list(numeric).index(i) for i in integer]
        sub = values[:, cols]
        bad[:, cols] |= sub != np.round(sub)
    if bad.any() or (text[0].str.strip() == "").any():
        err = _diagnose(p, **diag)  # type: ignore[arg-type]
        raise err or MscseqError(f"{p}: missing, negative or invalid values in {what}")
    text.columns = [columns[i] for i in text.columns]
    return text, values


def split_summary_lines(
    ids: np.ndarray, values: np.ndarray, *, sample: str, prefix: str, tool: str
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Split a one-sample count file into its feature rows and the counting tool's summary lines.

    HTSeq-count (``__no_feature``, ``__ambiguous``, ...) and DEXSeq (``_empty``, ``_ambiguous``, ...)
    end their files with lines whose ID starts with ``prefix``; they become the sample's QC.

    Parameters
    ----------
    ids
        Feature IDs, one per line.
    values
        ``(lines, 1)`` counts.
    sample
        The sample's name (the QC row).
    prefix
        What a summary line's ID starts with.
    tool
        QC column prefix: ``<tool>_<name without the prefix>`` (``htseq_no_feature``).

    Returns
    -------
    tuple
        Feature IDs, their ``(features, 1)`` counts, and the QC row (no columns when the file has no
        summary lines).

    """
    special = pd.Series(ids).str.startswith(prefix).to_numpy()
    names = [f"{tool}_{name[len(prefix) :]}" for name in ids[special]]
    qc = pd.DataFrame([values[special, 0]], index=[sample], columns=names)
    return ids[~special], values[~special], qc
