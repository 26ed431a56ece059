"""HTSeq-count output: one file per sample, ``gene<TAB>count``, ``__`` lines as QC."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mscseq.errors import MscseqError
from mscseq.io.parsing import read_fixed_table, split_summary_lines
from mscseq.io.table import CountTable

WHAT = "an HTSeq-count file (gene<TAB>count, no header)"


def read_htseq(path: str | Path, *, sample: str) -> CountTable:
    """Read one HTSeq-count file.

    Parameters
    ----------
    path
        The file.
    sample
        The sample's name.

    Returns
    -------
    CountTable
        One column of counts; the ``__no_feature``, ``__ambiguous``, … lines as QC (one row).

    """
    p = Path(path)
    text, values = read_fixed_table(
        p, columns=["gene_id", sample], numeric=[1], integer=[1], header=False, what=WHAT
    )
    ids, counts, qc = split_summary_lines(
        text["gene_id"].str.strip().to_numpy(), values, sample=sample, prefix="__", tool="htseq"
    )
    if ids.size == 0:
        msg = f"{p}: only '__' summary lines, no genes; check that htseq-count ran on the right annotation"
        raise MscseqError(msg)
    return CountTable(
        counts=pd.DataFrame(counts, index=pd.Index(ids, name="gene_id"), columns=[sample]),
        source=p,
        format="htseq",
        qc=qc if qc.shape[1] else None,
    )
