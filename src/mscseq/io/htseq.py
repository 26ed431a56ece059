"""HTSeq-count output: one file per sample, ``gene<TAB>count``, ``__`` lines as QC."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mscseq.errors import MscseqError
from mscseq.io.parsing import read_fixed_table
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
    ids = text["gene_id"].str.strip().to_numpy()
    special = pd.Series(ids).str.startswith("__").to_numpy()
    if special.all():
        msg = f"{p}: only '__' summary lines, no genes; check that htseq-count ran on the right annotation"
        raise MscseqError(msg)
    counts = pd.DataFrame(
        values[~special], index=pd.Index(ids[~special], name="gene_id"), columns=[sample]
    )
    qc = None
    if special.any():
        qc = pd.DataFrame(
            [values[special, 0]],
            index=[sample],
            columns=[f"htseq{name[1:]}" for name in ids[special]],
        )
    return CountTable(counts=counts, source=p, format="htseq", qc=qc)
