"""Checks on the values of read counts that every format shares (exact range, empty samples)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError, first_names
from mscseq.io.table import CountTable

#: Largest count accepted: from 2**53 on, float64 no longer holds every integer (2**53 + 1 reads as
#: 2**53), and library sizes of such counts overflow 64-bit integers.
MAX_EXACT_COUNT = 2**53 - 1


def check_count_range(table: CountTable) -> None:
    """Refuse counts, and per-sample totals, of 2**53 or more (above :data:`MAX_EXACT_COUNT`).

    Parameters
    ----------
    table
        Counts of one file (or one set of per-sample files).

    Raises
    ------
    MscseqError
        Naming the file, the first gene and sample with a count too large, or the sample whose
        counts add up to 2**53 or more.

    """
    counts = table.counts
    if counts.empty:
        return
    values = counts.to_numpy()
    column_max = values.max(axis=0)
    over = np.flatnonzero(column_max > MAX_EXACT_COUNT)
    if len(over):
        col = int(over[0])
        row = int(np.argmax(values[:, col] > MAX_EXACT_COUNT))
        msg = (
            f"{table.source}: gene '{counts.index[row]}', sample '{counts.columns[col]}': count "
            f"{values[row, col]:.6g} is 2^53 ({MAX_EXACT_COUNT + 1:,}) or more, beyond the exact range of "
            "floating-point numbers; read counts are never this large, check the file"
        )
        raise MscseqError(msg)
    with np.errstate(over="ignore"):
        totals = values.sum(axis=0)
    over = np.flatnonzero(~(totals <= MAX_EXACT_COUNT))
    if len(over):
        msg = (
            f"{table.source}: the counts of sample '{counts.columns[int(over[0])]}' add up to "
            f"2^53 ({MAX_EXACT_COUNT + 1:,}) or more, beyond the exact range of floating-point numbers; "
            "check the file"
        )
        raise MscseqError(msg)


def check_no_empty_samples(
    counts: pd.DataFrame, sources: Mapping[str, Path], default: Path
) -> None:
    """Refuse samples whose counts are all zero (an empty or failed library).

    Parameters
    ----------
    counts
        Genes × samples, the samples of the analysis.
    sources
        The count file of each sample, for messages.
    default
        The file named for samples missing from ``sources``.

    Raises
    ------
    MscseqError
        Naming the file and the samples with no reads.

    """
    if counts.empty:
        return
    empty = [
        str(s)
        for s, total in zip(counts.columns, counts.to_numpy().sum(axis=0), strict=True)
        if total == 0
    ]
    if empty:
        where = sources.get(empty[0], default)
        msg = (
            f"{where}: sample(s) {first_names(empty)} have no reads (every count is 0); remove the failed "
            "libraries from the sample sheet or check the count file"
        )
        raise MscseqError(msg)
