"""DEXSeq exon-bin counts (``dexseq_count.py``): described by ``mscseq inspect``, never analysed.

One file per sample, ``GENE:001<TAB>count`` lines without a header, ``_`` lines (``_ambiguous``,
``_empty``, ...) as the tool's QC. mscseq compares gene-level counts, so these files are refused for
analysis (see :mod:`mscseq.io.formats`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mscseq.io.parsing import read_fixed_table, split_summary_lines
from mscseq.io.table import CountTable

WHAT = "a dexseq_count.py file"


def read_dexseq(path: str | Path, *, sample: str) -> CountTable:
    """Read one ``dexseq_count.py`` output.

    Parameters
    ----------
    path
        The file.
    sample
        The sample's name.

    Returns
    -------
    CountTable
        Exon-bin counts (``level="exon"``) in one column; the ``_`` lines as QC named ``dexseq_<line>``.

    """
    p = Path(path)
    text, values = read_fixed_table(
        p, columns=["exon_bin", sample], numeric=[1], integer=[1], header=False, what=WHAT
    )
    ids, counts, qc = split_summary_lines(
        text["exon_bin"].to_numpy(), values, sample=sample, prefix="_", tool="dexseq"
    )
    counts = pd.DataFrame(counts, index=ids, columns=[sample])
    return CountTable(counts=counts, source=p, format="dexseq", level="exon", qc=qc)
