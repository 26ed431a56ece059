"""featureCounts output (``# Program:featureCounts`` line, six annotation columns) and its ``.summary``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mscseq.errors import MscseqError, first_names
from mscseq.io.matrix import read_matrix
from mscseq.io.names import clean_alignment_names
from mscseq.io.table import CountTable
from mscseq.io.textfile import read_text

ANNOTATION = ("Chr", "Start", "End", "Strand", "Length")


def read_featurecounts(path: str | Path) -> CountTable:
    """Read a featureCounts count file.

    Sample names are cleaned from the BAM paths (``/x/HBR_1/HBR_1.bam`` → ``HBR_1``); the annotation
    columns are dropped; a ``<file>.summary`` beside the file is read as QC.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    CountTable
        Genes × samples.

    """
    p = Path(path)
    table = read_matrix(p)
    cols = list(table.counts.columns)
    missing = [c for c in ANNOTATION if c in cols]
    if missing:
        msg = f"{p}: annotation column(s) {first_names(missing)} read as samples; the featureCounts header is malformed"
        raise MscseqError(msg)
    names = clean_alignment_names(cols)
    table.counts.columns = names
    table.format = "featurecounts"
    table.notes = [n for n in table.notes if "annotation columns" not in n]
    summary = Path(f"{p}.summary")
    if summary.is_file():
        qc = read_featurecounts_summary(summary)
        if list(qc.index) == names or set(qc.index) == set(names):
            table.qc = qc
        else:
            table.notes.append(f"{summary}: its samples differ from {p.name}'s; not used as QC")
    return table


def read_featurecounts_summary(path: str | Path) -> pd.DataFrame:
    """Read a featureCounts ``.summary`` file as QC.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    pandas.DataFrame
        Samples × ``featurecounts_<Status>`` (``featurecounts_Assigned``, ``featurecounts_Unassigned_NoFeatures``, ...),
        plus ``featurecounts_assigned_fraction``.

    """
    p = Path(path)
    lines = [ln.split("\t") for ln in read_text(p).splitlines() if ln.strip()]
    if not lines or lines[0][0] != "Status":
        msg = f"{p}: not a featureCounts summary (the first line should start with 'Status')"
        raise MscseqError(msg)
    header = lines[0]
    samples = clean_alignment_names(header[1:])
    data: dict[str, list[float]] = {}
    for lineno, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(header):
            msg = f"{p}, line {lineno}: {len(fields)} columns, the header has {len(header)}"
            raise MscseqError(msg)
        try:
            data[f"featurecounts_{fields[0]}"] = [float(x) for x in fields[1:]]
        except ValueError as exc:
            msg = f"{p}, line {lineno}: a value of '{fields[0]}' is not a number"
            raise MscseqError(msg) from exc
    qc = pd.DataFrame(data, index=pd.Index(samples, name="sample"))
    total = qc.sum(axis=1)
    if "featurecounts_Assigned" in qc:
        qc["featurecounts_assigned_fraction"] = (
            qc["featurecounts_Assigned"] / total.where(total > 0)
        ).fillna(0.0)
    return qc
