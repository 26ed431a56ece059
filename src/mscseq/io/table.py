"""The common result of every count-file reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class CountTable:
    """Counts read from one file (or one set of per-sample files), before joining with the sheet.

    Attributes
    ----------
    counts
        Genes × samples, index = gene ID (string), columns = sample names, numeric values.
    source
        The file the counts came from (for messages); the first file for per-sample formats.
    format
        Detected or declared format name (``"matrix"``, ``"featurecounts"``, ...).
    level
        ``"gene"`` or ``"transcript"``.
    gene_names
        Optional gene symbols indexed by gene ID.
    qc
        Optional per-sample QC metrics from the tool (samples × metrics), e.g. HTSeq ``__no_feature``.
    notes
        Human-readable notes on what the reader did (rounding, version stripping, ...).
    lengths
        Optional average transcript length per gene and sample (genes × samples, like ``counts``),
        from transcript-level quantifiers (tximport's ``length``), for length offsets.
    files
        Every file read to make the table (count files, tx2gene, QC files found beside them), for
        provenance (checksums in ``run_info.json``).
    sample_files
        The count file of each sample, when the table joins several files (else every sample's file is
        ``source``), for messages.

    """

    counts: pd.DataFrame
    source: Path
    format: str = "matrix"
    level: str = "gene"
    gene_names: pd.Series | None = None
    qc: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    lengths: pd.DataFrame | None = None
    files: list[Path] = field(default_factory=list)
    sample_files: dict[str, Path] = field(default_factory=dict)

    @property
    def samples(self) -> list[str]:
        """Sample names in column order."""
        return [str(c) for c in self.counts.columns]
