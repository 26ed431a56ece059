"""The count-format registry: for every format, its reader, level, one-file-per-sample, counts-or-not.

Reading (:func:`mscseq.io.readers.read_count_files`) and describing (:func:`mscseq.io.inspect.inspect_file`)
both dispatch through :data:`FORMATS`; neither has a chain of ``if format == ...``.

A new count format goes in two places: a reader module in ``io/`` (text tables parse with
:func:`mscseq.io.parsing.read_fixed_table`) and one :class:`CountFormat` entry here. A format with a
header of its own is detected from the entry's :class:`HeaderSignature`; one without needs a rule in
:func:`mscseq.io.detect.detect_format` (whose order decides between look-alike formats).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mscseq.io.dexseq import read_dexseq
from mscseq.io.featurecounts import read_featurecounts, read_featurecounts_summary
from mscseq.io.h5ad import read_h5ad
from mscseq.io.htseq import read_htseq
from mscseq.io.matrix import read_matrix
from mscseq.io.star import attach_star_log, read_star, read_star_log
from mscseq.io.table import CountTable


@dataclass(frozen=True)
class ReadOptions:
    """Options shared by every reader.

    Attributes
    ----------
    format
        Declared format (``None`` = detect from content).
    keep_gene_version
        Keep Ensembl version suffixes on gene IDs.
    layer
        AnnData layer holding raw counts (``.h5ad`` only; default ``counts`` if present, else ``X``).
    strandedness
        STAR column: ``unstranded``, ``forward``, ``reverse`` (``None`` = infer as nf-core/rnaseq does).
    tx2gene
        Transcript-to-gene table or GTF for transcript-level Salmon/kallisto/RSEM files.

    """

    format: str | None = None
    keep_gene_version: bool = False
    layer: str | None = None
    strandedness: str | None = None
    tx2gene: str | Path | None = None


@dataclass(frozen=True)
class ReadRequest:
    """What a table reader needs besides the path.

    Attributes
    ----------
    sample
        The sample's name (one-sample-per-file formats; ``None`` for the others).
    options
        Reader options.
    as_is
        Describe, do not prepare for DESeq2 (``mscseq inspect``: no rounding, no TPM refusal).

    """

    sample: str | None
    options: ReadOptions
    as_is: bool = False


@dataclass(frozen=True)
class HeaderSignature:
    """A header line that identifies a format: its first columns, exactly.

    Attributes
    ----------
    columns
        The first tab-separated fields of the first non-blank line.
    level
        The level of the features (``None``: told from the IDs, Salmon's quant.sf vs quant.genes.sf).
    why
        The evidence, for messages and ``mscseq inspect``.

    """

    columns: tuple[str, ...]
    level: str | None
    why: str


TableReader = Callable[[Path, ReadRequest], CountTable]
QCReader = Callable[[Path, str], pd.DataFrame]


@dataclass(frozen=True)
class CountFormat:
    """One entry of the registry.

    Attributes
    ----------
    name
        The format's name (the value of ``--format`` for count formats).
    level
        Level of its features as usually written: ``gene``, ``transcript``, ``exon`` or ``qc``
        (detection may find the other level for Salmon, RSEM and nf-core files).
    per_sample
        A file holds one sample, named by the sheet or the file name.
    counts
        The file holds counts mscseq analyses (``False``: QC or exon bins, described by ``inspect`` only).
    hint
        How :func:`mscseq.io.detect.detect_format` recognises it, for documentation.
    headers
        Header lines that identify the format on their own (formats without one are told apart by
        the ordered rules of :func:`mscseq.io.detect.detect_format`).
    read
        Reader of a table format (``None`` for quantifiers and QC files).
    quantifier
        Estimated counts read with :func:`mscseq.io.tximport.read_quant` and summarised to genes
        together (tximport), not table by table.
    read_qc
        Reader of a QC-only file: path and sample name → samples × metrics.
    refusal
        Why the file cannot be analysed and what to give instead (formats without counts);
        ``{why}`` is replaced by the detection evidence.
    note
        Said by ``mscseq inspect`` about files of this format.

    """

    name: str
    level: str
    per_sample: bool
    counts: bool
    hint: str
    headers: tuple[HeaderSignature, ...] = ()
    read: TableReader | None = None
    quantifier: bool = False
    read_qc: QCReader | None = None
    refusal: str = ""
    note: str = ""


def _matrix(path: Path, req: ReadRequest) -> CountTable:
    return read_matrix(path, as_is=req.as_is)


def _nfcore(path: Path, req: ReadRequest) -> CountTable:
    return read_matrix(path, nfcore=True, as_is=req.as_is)


def _featurecounts(path: Path, req: ReadRequest) -> CountTable:
    return read_featurecounts(path)


def _htseq(path: Path, req: ReadRequest) -> CountTable:
    assert req.sample is not None
    return read_htseq(path, sample=req.sample)


def _star(path: Path, req: ReadRequest) -> CountTable:
    assert req.sample is not None
    table = read_star(path, sample=req.sample, strandedness=req.options.strandedness)
    attach_star_log(table)
    return table


def _h5ad(path: Path, req: ReadRequest) -> CountTable:
    return read_h5ad(path, layer=req.options.layer)


def _dexseq(path: Path, req: ReadRequest) -> CountTable:
    assert req.sample is not None
    return read_dexseq(path, sample=req.sample)


def _star_log_qc(path: Path, sample: str) -> pd.DataFrame:
    metrics = read_star_log(path)
    return pd.DataFrame(
        [list(metrics.values())], index=[sample], columns=list(metrics), dtype=object
    )


def _featurecounts_summary_qc(path: Path, sample: str) -> pd.DataFrame:
    return read_featurecounts_summary(path)


_ENTRIES = (
    CountFormat("matrix", "gene", False, True, "a CSV/TSV table with a header line", read=_matrix),
    CountFormat(
        "nfcore",
        "gene",
        False,
        True,
        "the nf-core/rnaseq 'gene_id gene_name' or 'tx gene_id' columns",
        read=_nfcore,
        note="nf-core merged table: estimated counts are rounded when analysed",
    ),
    CountFormat(
        "featurecounts",
        "gene",
        False,
        True,
        "the '# Program:featureCounts' line or its 'Geneid Chr Start End Strand Length' header",
        headers=(
            HeaderSignature(
                ("Geneid", "Chr", "Start", "End", "Strand", "Length"),
                "gene",
                "the featureCounts header 'Geneid Chr Start End Strand Length'",
            ),
        ),
        read=_featurecounts,
    ),
    CountFormat(
        "htseq", "gene", True, True, "two tab-separated columns, gene and count", read=_htseq
    ),
    CountFormat(
        "star",
        "gene",
        True,
        True,
        "the 'N_unmapped' line and four columns (ReadsPerGene)",
        read=_star,
    ),
    CountFormat(
        "salmon",
        "transcript",
        True,
        True,
        "the quant.sf header",
        headers=(
            HeaderSignature(
                ("Name", "Length", "EffectiveLength", "TPM", "NumReads"),
                None,
                "the Salmon quant.sf header",
            ),
        ),
        quantifier=True,
    ),
    CountFormat(
        "kallisto",
        "transcript",
        True,
        True,
        "the abundance.tsv header",
        headers=(
            HeaderSignature(
                ("target_id", "length", "eff_length", "est_counts", "tpm"),
                "transcript",
                "the kallisto abundance.tsv header",
            ),
        ),
        quantifier=True,
    ),
    CountFormat(
        "rsem",
        "gene",
        True,
        True,
        "the genes.results / isoforms.results header",
        headers=(
            HeaderSignature(
                ("gene_id", "transcript_id(s)", "length", "effective_length", "expected_count"),
                "gene",
                "the RSEM genes.results header",
            ),
            HeaderSignature(
                ("transcript_id", "gene_id", "length", "effective_length", "expected_count"),
                "transcript",
                "the RSEM isoforms.results header",
            ),
        ),
        quantifier=True,
    ),
    CountFormat("h5ad", "gene", False, True, "the HDF5 signature (AnnData)", read=_h5ad),
    CountFormat(
        "featurecounts_summary",
        "qc",
        False,
        False,
        "the 'Status'/'Assigned' lines of a featureCounts .summary",
        read_qc=_featurecounts_summary_qc,
        refusal="a featureCounts .summary holds QC, not counts; give the counts file (its .summary beside it is read as QC)",
        note="featureCounts summary: QC only; it is read automatically beside its counts file",
    ),
    CountFormat(
        "star_log",
        "qc",
        True,
        False,
        "the 'Started job on |' lines of a STAR Log.final.out",
        read_qc=_star_log_qc,
        refusal="a STAR Log.final.out holds mapping QC, not counts; give the ReadsPerGene.out.tab file",
        note="STAR Log.final.out: mapping QC only",
    ),
    CountFormat(
        "dexseq",
        "exon",
        True,
        False,
        "exon-bin IDs such as 'GENE:001' (dexseq_count.py)",
        read=_dexseq,
        refusal="exon-bin counts from dexseq_count.py ({why}); mscseq compares gene-level counts: give htseq-count or featureCounts gene counts",
        note="exon-bin counts (DEXSeq): not usable as gene counts by mscseq",
    ),
)

#: Every format :func:`mscseq.io.detect.detect_format` recognises, by name.
FORMATS: dict[str, CountFormat] = {f.name: f for f in _ENTRIES}

#: Header lines that identify a format on their own: (format name, signature).
HEADER_SIGNATURES: tuple[tuple[str, HeaderSignature], ...] = tuple(
    (f.name, h) for f in _ENTRIES for h in f.headers
)

#: Formats that hold counts (valid values of ``--format``).
COUNT_FORMATS = tuple(name for name, f in FORMATS.items() if f.counts)
#: Formats recognised that carry QC or other data but no gene counts.
OTHER_FORMATS = tuple(name for name, f in FORMATS.items() if not f.counts)
#: Count formats with one sample per file (the sample name comes from the sheet or the file name).
PER_SAMPLE_FORMATS = tuple(name for name in COUNT_FORMATS if FORMATS[name].per_sample)
