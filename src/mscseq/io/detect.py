"""Detect the format of a count file from its content (never from its name alone)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mscseq.errors import MscseqError
from mscseq.io.formats import COUNT_FORMATS, HEADER_SIGNATURES, OTHER_FORMATS
from mscseq.io.textfile import (
    HDF5_MAGIC,
    ZIP_MAGIC,
    check_file,
    compression_of,
    head_lines,
    read_magic,
)

STAR_QC = ("N_unmapped", "N_multimapping", "N_noFeature", "N_ambiguous")

#: First-column names that mark a header line (a headerless HTSeq/STAR file starts with a gene ID).
HEADER_WORDS = frozenset(
    {
        "",
        "gene_id",
        "gene",
        "geneid",
        "genes",
        "gene_name",
        "id",
        "ids",
        "ensembl_id",
        "ensembl_gene_id",
        "feature",
        "features",
        "feature_id",
        "name",
        "symbol",
        "target_id",
        "transcript_id",
        "tx",
        "row.names",
    }
)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DEXSEQ_BIN = re.compile(r'^"?[^\s:]+:\d{3}"?$')


@dataclass(frozen=True)
class Detected:
    """What :func:`detect_format` found.

    Attributes
    ----------
    format
        A name in :data:`mscseq.io.formats.FORMATS`.
    level
        ``"gene"``, ``"transcript"``, ``"exon"`` or ``"qc"``.
    why
        Short evidence, for messages (e.g. ``"the '# Program:featureCounts' line"``).

    """

    format: str
    level: str
    why: str


def is_number(text: str) -> bool:
    """Return whether ``text`` looks like a plain decimal number."""
    return bool(_NUMBER.match(text.strip()))


def _fields(line: str) -> list[str]:
    return line.split("\t")


def _quant_level_from_ids(ids: list[str], path: Path) -> str:
    """Guess gene vs transcript level for salmon files (``quant.genes.sf`` has gene IDs)."""
    if "genes" in path.name.lower():
        return "gene"
    gene_like = sum(bool(re.match(r"^(ENS[A-Z]*G\d|FBgn|WBGene)", i)) for i in ids)
    return "gene" if ids and gene_like > len(ids) / 2 else "transcript"


def _check_hdf5_is_anndata(path: Path) -> None:
    """Refuse HDF5 files that are not AnnData (kallisto ``abundance.h5``, 10x matrices) with a hint."""
    import h5py

    try:
        with h5py.File(path, "r") as fh:
            keys = set(fh.keys())
    except OSError as exc:
        msg = f"{path}: an HDF5 file that cannot be opened ({exc}); re-copy it"
        raise MscseqError(msg) from exc
    if {"est_counts", "aux"} <= keys:
        msg = f"{path}: a kallisto abundance.h5; give the abundance.tsv kallisto writes beside it (with --tx2gene)"
        raise MscseqError(msg)
    if not ({"X", "obs", "var"} & keys):
        msg = f"{path}: an HDF5 file but not an AnnData .h5ad (no X/obs/var); export the counts as .h5ad, CSV or TSV"
        raise MscseqError(msg)


def detect_format(path: str | Path) -> Detected:
    """Detect the format of a count (or QC) file from its first lines.

    Parameters
    ----------
    path
        The file (plain or gzip/bz2/xz compressed).

    Returns
    -------
    Detected
        The format, the level of its features and the evidence.

    Raises
    ------
    MscseqError
        If the file is missing, empty, binary, or has no recognisable table.

    """
    p = check_file(path)
    magic = read_magic(p)
    if magic.startswith(HDF5_MAGIC):
        _check_hdf5_is_anndata(p)
        return Detected("h5ad", "gene", "the HDF5 signature")
    if magic.startswith(ZIP_MAGIC) and compression_of(p) is None:
        msg = f"{p}: is a zip archive (an Excel .xlsx file?), not a count table; save it as CSV or TSV"
        raise MscseqError(msg)
    lines = head_lines(p, 40)
    body = [ln for ln in lines if ln.strip()]
    if not body:
        msg = f"{p}: the file has no text lines (only blank lines); expected a count table"
        raise MscseqError(msg)
    first = body[0]
    f0 = _fields(first)
    if first.startswith("# Program:featureCounts"):
        return Detected("featurecounts", "gene", "the '# Program:featureCounts' line")
    for name, sig in HEADER_SIGNATURES:
        if tuple(f0[: len(sig.columns)]) == sig.columns:
            level = sig.level or _quant_level_from_ids([_fields(ln)[0] for ln in body[1:]], p)
            return Detected(name, level, sig.why)
    if f0[0] == "Status" and len(body) > 1 and body[1].startswith(("Assigned", "Unassigned_")):
        return Detected(
            "featurecounts_summary",
            "qc",
            "the 'Status'/'Assigned' lines of a featureCounts .summary",
        )
    if any(
        "|" in ln and ("Started job on" in ln or "Uniquely mapped reads number" in ln)
        for ln in body
    ):
        return Detected("star_log", "qc", "the 'Started job on |' lines of a STAR Log.final.out")
    if f0[0] in STAR_QC and len(f0) == 4:
        return Detected("star", "gene", "the STAR 'N_unmapped' line and four columns")
    headerless = f0[0].strip().strip('"').lower() not in HEADER_WORDS
    if len(f0) == 2 and is_number(f0[1]) and headerless:
        if _DEXSEQ_BIN.match(f0[0]):
            return Detected("dexseq", "exon", "exon-bin IDs such as 'GENE:001' (dexseq_count.py)")
        return Detected(
            "htseq", "gene", "two tab-separated columns, gene and count, without a header"
        )
    if len(f0) == 4 and all(is_number(x) for x in f0[1:]) and headerless and len(body) > 1:
        return Detected("star", "gene", "four columns without a header (STAR ReadsPerGene)")
    lowered = [x.strip().strip('"').lower() for x in re.split(r"[\t,]", first)]
    if lowered[:2] == ["gene_id", "gene_name"]:
        return Detected("nfcore", "gene", "the nf-core/rnaseq 'gene_id gene_name' columns")
    if lowered[:2] in (["tx", "gene_id"], ["transcript_id", "gene_id"]):
        return Detected("nfcore", "transcript", "the nf-core/rnaseq 'tx gene_id' columns")
    return Detected("matrix", "gene", "a table with a header line")


def check_declared(path: str | Path, declared: str, detected: Detected) -> None:
    """Check that a user-declared ``--format`` agrees with the file's content.

    Parameters
    ----------
    path
        The file, for messages.
    declared
        The format the user gave.
    detected
        What :func:`detect_format` found.

    Raises
    ------
    MscseqError
        If the declared format is unknown or contradicts the content.

    """
    if declared not in COUNT_FORMATS:
        msg = f"{path}: unknown format '{declared}'; choose one of {', '.join(COUNT_FORMATS)}"
        raise MscseqError(msg)
    if declared == detected.format:
        return
    # A plain matrix may be declared as nf-core merged counts (estimated counts, rounded) and back.
    if {declared, detected.format} <= {"matrix", "nfcore"}:
        return
    if detected.format in OTHER_FORMATS:
        msg = (
            f"{path}: --format {declared} was given but the file is a {detected.format} file "
            f"({detected.why}), which holds no gene counts; give the count file instead"
        )
        raise MscseqError(msg)
    msg = (
        f"{path}: --format {declared} was given but the file looks like {detected.format} "
        f"({detected.why}); drop --format to detect it, or give the right file"
    )
    raise MscseqError(msg)
