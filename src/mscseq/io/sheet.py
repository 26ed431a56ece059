"""The sample sheet: one row per sample, a ``sample`` column and any metadata columns."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from mscseq.errors import MscseqError, first_names
from mscseq.io.matrix import sniff_delimiter
from mscseq.io.textfile import read_text


def read_sheet(path: str | Path, *, sample_column: str = "sample") -> pd.DataFrame:
    """Read and check a sample sheet (CSV or TSV).

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
    p = Path(path)
    text = read_text(p, what="a sample sheet")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        msg = f"{p}: the sample sheet is empty; expected a header line with a '{sample_column}' column"
        raise MscseqError(msg)
    sep = sniff_delimiter(lines[0], p) if ("\t" in lines[0] or "," in lines[0] or ";" in lines[0]) else "\t"
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.ParserError as exc:
        msg = f"{p}: cannot parse the sample sheet ({str(exc).strip()})"
        raise MscseqError(msg) from exc
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
