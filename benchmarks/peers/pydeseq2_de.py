"""PyDESeq2 as one whole process, with the peer scripts' arguments (optional peer: it is slow).

Usage::

    python benchmarks/peers/pydeseq2_de.py COUNTS SHEET DESIGN VAR,TARGET,REF OUT [N_CPUS]

Reads the genes × samples TSV and the sample sheet, drops all-zero genes (PyDESeq2 needs it), runs
PyDESeq2's default inference (``deseq2()``, Cook's refit) and writes ``results_df`` for the contrast.
"""

from __future__ import annotations

import sys

import pandas as pd
from pydeseq2.dds import DeseqDataSet
from pydeseq2.ds import DeseqStats


def main(argv: list[str]) -> None:
    """Run PyDESeq2 on the files named in ``argv`` and write its results table."""
    counts_path, sheet_path, design, contrast, out = argv[:5]
    n_cpus = int(argv[5]) if len(argv) > 5 else 1
    cts = pd.read_csv(counts_path, sep="\t", index_col=0)
    sheet = pd.read_csv(sheet_path, sep="\t", dtype=str).set_index("sample").loc[cts.columns]
    cts = cts[cts.sum(axis=1) > 0]
    dds = DeseqDataSet(
        counts=cts.T, metadata=sheet, design=design, refit_cooks=True, n_cpus=n_cpus, quiet=True
    )
    dds.deseq2()
    stats = DeseqStats(dds, contrast=contrast.split(","), quiet=True, n_cpus=n_cpus)
    stats.summary()
    stats.results_df.to_csv(out, sep="\t", index_label="gene_id")


if __name__ == "__main__":
    main(sys.argv[1:])
