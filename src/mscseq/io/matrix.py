"""Plain count matrices: genes as rows, samples as columns, first column the gene ID.

Also the nf-core/rnaseq merged tables (``salmon.merged.gene_counts.tsv`` and ``*.gene_counts*.tsv``
with ``gene_id`` and ``gene_name`` columns; ``*.transcript_counts.tsv`` with ``tx`` and ``gene_id``).

Reading is two-speed: a fast numeric parse (pandas' C parser with ``float64`` columns) handles
well-formed files of any size; when it meets a problem, a streaming line-by-line pass finds the first
bad line and column and says exactly what is wrong.
"""

from __future__ import annotations

import csv
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError, first_names
from mscseq.io.table import CountTable
from mscseq.io.textfile import (
    DECOMPRESS_ERRORS,
    HEAD_BYTES,
    check_file,
    compression_of,
    iter_rows,
    open_binary,
    read_head,
    truncated_error,
)

log = logging.getLogger(__name__)

#: Annotation columns kept as gene names (compared in lower case), never as samples.
NAME_COLUMNS = (
    "gene_name",
    "gene_symbol",
    "symbol",
    "genename",
    "gene",
    "hgnc_symbol",
    "external_gene_name",
    "geneid_name",
)
#: Annotation columns dropped with a note (compared in lower case).
ANNOTATION_COLUMNS = (
    "chr",
    "chrom",
    "chromosome",
    "start",
    "end",
    "strand",
    "length",
    "gene_biotype",
    "gene_type",
    "biotype",
    "description",
)
#: Texts read as a missing value.
MISSING = ("", "NA", "NaN", "nan", "na", "N/A", "null", "NULL", "None", "-")
#: Longest header or first data line read (a header of about a million samples).
MAX_LINE_BYTES = 64 << 20
_ROW_BLOCK = 8192
_CHUNK_ROWS = 4096


@dataclass
class Layout:
    """The header of a matrix: where the data start and what each column is."""

    sep: str
    header_line: int  # 1-based line number of the header
    columns: list[str]
    id_col: int = 0
    name_col: int | None = None
    gene_col: int | None = None  # nf-core transcript tables: the gene_id column
    dropped: tuple[int, ...] = ()

    @property
    def sample_cols(self) -> list[int]:
        """Indices of the sample (count) columns."""
        skip = {self.id_col, self.name_col, self.gene_col, *self.dropped}
        return [i for i in range(len(self.columns)) if i not in skip]


def sniff_delimiter(first_line: str, path: Path) -> str:
    """Choose tab or comma from the header line.

    Parameters
    ----------
    first_line
        The header line.
    path
        The file, for messages.

    Returns
    -------
    str
        ``"\\t"`` or ``","``.

    """
    if "\t" in first_line:
        return "\t"
    if "," in first_line:
        return ","
    if ";" in first_line:
        msg = f"{path}: columns are separated by ';'; save the table as CSV (',') or TSV (tab)"
        raise MscseqError(msg)
    if len(first_line.split()) > 1:
        msg = f"{path}: columns are separated by spaces; save the table as TSV (tab) or CSV (',') so names with spaces stay intact"
        raise MscseqError(msg)
    msg = (
        f"{path}: the header line has no tab or comma; expected a CSV or TSV table with the gene ID "
        "in the first column and one column per sample"
    )
    raise MscseqError(msg)


def _split(line: str, sep: str, path: Path) -> list[str]:
    try:
        return [f.strip() for f in next(csv.reader([line], delimiter=sep))]
    except csv.Error as exc:  # a field longer than the csv module allows (128 KiB)
        msg = f"{path}: cannot split a line of the table into columns ({exc}); a count table has short fields"
        raise MscseqError(msg) from exc


def _header_index(lines: list[str]) -> int | None:
    return next((i for i, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")), None)


def _head_with_data(path: Path) -> tuple[list[str], int]:
    """The first lines of a matrix (up to 200) and the index of its header; at least one data line follows.

    The head read grows from 1 MiB to :data:`MAX_LINE_BYTES` when the header and a first data line do not
    fit, so very wide tables are read; longer lines are refused with the line number.
    """
    limit = HEAD_BYTES
    while True:
        head = read_head(path, limit)
        idx = _header_index(head.lines)
        has_data = idx is not None and any(ln.strip() for ln in head.lines[idx + 1 :])
        if has_data or head.whole or limit >= MAX_LINE_BYTES:
            break
        limit *= 8
    if has_data:
        assert idx is not None
        # The header and up to 200 lines in all (the first data lines show R's write.table layout).
        return head.lines[: max(200, idx + 2)], idx
    if head.whole and idx is None:
        msg = f"{path}: no header line found (only blank or '#' lines); expected a count table"
        raise MscseqError(msg)
    if head.whole:
        msg = f"{path}: only a header line, no genes; check that the file was written completely"
        raise MscseqError(msg)
    if head.cut > limit // 2:
        msg = (
            f"{path}, line {len(head.lines) + 1}: longer than {limit >> 20} MiB with no line end; a count "
            "table has one gene per line (check the line endings, or that this is a text table)"
        )
        raise MscseqError(msg)
    msg = f"{path}: no gene lines in the first {limit >> 20} MiB, only blank or '#' lines; remove them"
    raise MscseqError(msg)


def read_layout(path: Path, *, nfcore: bool = False) -> Layout:
    """Read the header of a matrix and classify its columns.

    Parameters
    ----------
    path
        The file.
    nfcore
        The file is an nf-core merged table (``gene_id``/``gene_name`` or ``tx``/``gene_id``).

    Returns
    -------
    Layout
        Delimiter, header position and column roles.

    """
    lines, idx = _head_with_data(path)
    sep = sniff_delimiter(lines[idx], path)
    columns = _split(lines[idx], sep, path)
    rows = [_split(ln, sep, path) for ln in lines[idx + 1 :] if ln.strip()]
    widths = {len(r) for r in rows}
    trailing_empty = False
    if widths == {len(columns) + 1} and all(r[-1] != "" for r in rows):
        # R's write.table leaves the row-name column out of the header.
        columns = ["gene_id", *columns]
    elif (
        len(columns) > 2
        and columns[-1] == ""
        and all(len(r) == len(columns) and r[-1] == "" for r in rows)
    ):
        # A trailing delimiter on every line (spreadsheet exports): an empty last column, ignored.
        trailing_empty = True
    if len(columns) < 2:
        msg = f"{path}: the header has one column; expected the gene ID column and at least one sample column"
        raise MscseqError(msg)
    named = columns[:-1] if trailing_empty else columns
    empty = [i + 1 for i, c in enumerate(named) if i > 0 and c == ""]
    if empty:
        msg = f"{path}, line {idx + 1}: column {empty[0]} of the header has no name; name every sample column"
        raise MscseqError(msg)
    layout = Layout(sep=sep, header_line=idx + 1, columns=columns)
    lower = [c.lower() for c in columns]
    if nfcore and lower[1] == "gene_id" and lower[0] in ("tx", "transcript_id"):
        layout.gene_col = 1
    else:
        for i in range(1, len(columns)):
            if lower[i] in NAME_COLUMNS:
                layout.name_col = i
                break
    layout.dropped = tuple(
        i for i in range(1, len(columns)) if lower[i] in ANNOTATION_COLUMNS and i != layout.name_col
    ) + ((len(columns) - 1,) if trailing_empty else ())
    samples = [columns[i] for i in layout.sample_cols]
    if not samples:
        msg = f"{path}: no sample columns after the gene ID and annotation columns"
        raise MscseqError(msg)
    dup = sorted(s for s, k in Counter(samples).items() if k > 1)
    if dup:
        msg = f"{path}, line {idx + 1}: duplicated sample names in the header: {first_names(dup)}; make each sample column name unique"
        raise MscseqError(msg)
    return layout


def count_text_lines(path: Path) -> int:
    """Count the non-blank lines of a (possibly compressed) file, streaming it in blocks.

    Line ends may be LF, CRLF or CR alone; lines with no bytes between their line ends are not counted,
    so a file padded with millions of blank lines reserves no room for them.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    int
        The number of lines holding at least one byte other than a line end.

    """
    n = 0
    after_end = True  # the start of the file is like the start of a line
    with open_binary(path) as fh:
        while block := fh.read(1 << 22):
            if b"\r" not in block and b"\n\n" not in block:  # the usual case, counted fast
                n += block.count(b"\n") - (block[0] == 10 and after_end)
                after_end = block[-1] == 10
                continue
            data = np.frombuffer(block, dtype=np.uint8)
            ends = (data == 10) | (data == 13)
            # A line end closes a line when the byte before it is not a line end itself.
            n += int(np.count_nonzero(ends[1:] & ~ends[:-1])) + int(bool(ends[0]) and not after_end)
            after_end = bool(ends[-1])
    return n + (not after_end)


def _fast_parse(path: Path, layout: Layout) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Parse with pandas' C parser in row chunks, sample columns as float64; raises on any irregularity.

    The counts go straight into one preallocated (rows × samples) array, so the peak memory stays close
    to the size of the result.

    Returns
    -------
    tuple of (dict, numpy.ndarray)
        Text columns by index (object arrays) and the counts (rows × samples, a Fortran-ordered view of a
        samples × rows array).

    """
    ncol = len(layout.columns)
    sample_cols = layout.sample_cols
    is_sample = set(sample_cols)
    text_cols = [i for i in range(ncol) if i not in is_sample]
    dtypes: dict[int, object] = dict.fromkeys(sample_cols, np.float64)
    for i in text_cols:
        dtypes[i] = str
    kind = compression_of(path)
    capacity = max(count_text_lines(path) - 1, 0)  # every line but the header, at most
    # Stored samples × genes (the AnnData layout), so building X later needs no transposed copy.
    by_sample = np.empty((len(sample_cols), capacity), dtype=np.float64)
    texts: dict[int, list[np.ndarray]] = {i: [] for i in text_cols}
    n = 0
    reader = pd.read_csv(
        path,
        sep=layout.sep,
        header=None,
        names=list(range(ncol)),
        skiprows=layout.header_line,
        dtype=dtypes,
        compression={"method": kind} if kind else None,
        comment=None,
        skip_blank_lines=True,
        na_values=list(MISSING),
        keep_default_na=False,
        engine="c",
        encoding="utf-8-sig",
        chunksize=_CHUNK_ROWS,
    )
    with reader:
        for chunk in reader:
            rows = len(chunk)
            if n + rows > capacity:  # pragma: no cover - line count is an upper bound
                msg = "more rows than lines"
                raise ValueError(msg)
            for i in text_cols:
                texts[i].append(chunk[i].to_numpy(dtype=object))
            by_sample[:, n : n + rows] = chunk[sample_cols].to_numpy(dtype=np.float64).T
            n += rows
    text = {
        i: (np.concatenate(parts) if parts else np.array([], dtype=object))
        for i, parts in texts.items()
    }
    if n < capacity:  # blank lines: compact so the array stays contiguous
        by_sample = np.ascontiguousarray(by_sample[:, :n])
    return text, by_sample.T


def diagnose(path: Path, layout: Layout, *, integer: bool) -> MscseqError | None:
    """Find the first bad line of a matrix by streaming it; return the error (``None`` if all is well).

    Parameters
    ----------
    path
        The file.
    layout
        Its header layout.
    integer
        Non-integer counts are an error.

    Returns
    -------
    MscseqError or None
        An error naming the line and column.

    """
    ncol = len(layout.columns)
    sample_cols = layout.sample_cols
    for line, row in iter_rows(path, layout.sep):
        if line <= layout.header_line or not row or not "".join(row).strip():
            continue
        if len(row) != ncol:
            return MscseqError(
                f"{path}, line {line}: {len(row)} columns but the header has {ncol}; "
                f"check the delimiter ({'tab' if layout.sep == chr(9) else 'comma'}) and that no field contains a stray one"
            )
        if not row[layout.id_col].strip():
            return MscseqError(f"{path}, line {line}: empty gene ID in the first column")
        for i in sample_cols:
            raw = row[i].strip()
            col = layout.columns[i]
            where = f"{path}, line {line}, column '{col}'"
            if raw in MISSING:
                return MscseqError(
                    f"{where}: missing value; every gene needs a count in every sample (write 0 for no reads)"
                )
            try:
                value = float(raw)
            except ValueError:
                return MscseqError(
                    f"{where}: value {raw!r} is not a number; the count columns must hold numbers only"
                )
            if not math.isfinite(value):
                return MscseqError(f"{where}: value {raw!r} is not a finite number")
            if value < 0:
                return MscseqError(f"{where}: negative count {raw}; counts must be 0 or more")
            if integer and value != round(value):
                return MscseqError(f"{where}: {non_integer_advice(raw, col)}")
    return None


def non_integer_advice(value: str, column: str = "") -> str:
    """Say what to do about a non-integer value in a raw-count matrix."""
    lowered = column.lower()
    kind = next((k.upper() for k in ("fpkm", "rpkm", "tpm", "cpm") if k in lowered), None)
    if kind:
        return (
            f"non-integer value {value}: the column looks like {kind}, not raw counts; DESeq2 needs the raw "
            "read counts the values were computed from (e.g. featureCounts or HTSeq output)"
        )
    return (
        f"non-integer value {value} in a raw-count matrix; DESeq2 needs raw read counts, not "
        "TPM/FPKM/normalised values: give the raw counts, or if these are Salmon/RSEM estimated "
        "counts pass --format nfcore to round them (or the quantifier's own files with --tx2gene)"
    )


def _scan(values: np.ndarray) -> tuple[bool, bool, bool]:
    """Return (all finite, any negative, any non-integer), scanning in row blocks to bound memory."""
    finite, negative, fractional = True, False, False
    for start in range(0, values.shape[0], _ROW_BLOCK):
        block = values[start : start + _ROW_BLOCK]
        if not np.isfinite(block).all():
            finite = False
            break
        negative = negative or bool((block < 0).any())
        fractional = fractional or bool((block != np.round(block)).any())
    return finite, negative, fractional


def read_matrix(
    path: str | Path,
    *,
    integer: bool = True,
    nfcore: bool = False,
    as_is: bool = False,
) -> CountTable:
    """Read a plain count matrix (CSV/TSV, optionally gzip/bz2/xz compressed).

    Parameters
    ----------
    path
        The file.
    integer
        Require integer-valued counts (raw counts for DESeq2). Ignored when ``nfcore`` is true.
    nfcore
        The file holds quantifier estimated counts (nf-core/rnaseq merged tables): non-integer values
        are rounded with a note instead of rejected.
    as_is
        Describe, do not prepare for DESeq2: accept any non-negative numbers, round nothing, refuse no
        TPM table (for :func:`mscseq.io.inspect.inspect_file`).

    Returns
    -------
    CountTable
        Counts, genes × samples, with gene names when a ``gene_name``-like column is present.

    """
    p = check_file(path)
    layout = read_layout(p, nfcore=nfcore)
    strict_integer = integer and not nfcore and not as_is
    try:
        text, values = _fast_parse(p, layout)
    except DECOMPRESS_ERRORS as exc:
        raise truncated_error(p, exc) from exc
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        err = diagnose(p, layout, integer=strict_integer)
        if err is not None:
            raise err from exc
        msg = f"{p}: cannot parse the table ({str(exc).strip().splitlines()[0]})"
        raise MscseqError(msg) from exc
    if len(values) == 0:
        msg = f"{p}: only a header line, no genes; check that the file was written completely"
        raise MscseqError(msg)
    ids = pd.Series(text[layout.id_col]).fillna("").astype(str).str.strip().str.strip('"')
    if (ids == "").any():
        err = diagnose(p, layout, integer=strict_integer)
        raise err or MscseqError(f"{p}: empty gene ID in the first column")
    gene_names = None
    if layout.name_col is not None:
        names = pd.Series(text[layout.name_col]).fillna("").astype(str).str.strip()
        gene_names = pd.Series(names.to_numpy(), index=ids.to_numpy(), name="gene_name")
    gene_of_tx = (
        pd.Series(text[layout.gene_col]).fillna("").astype(str)
        if layout.gene_col is not None
        else None
    )
    samples = [layout.columns[i] for i in layout.sample_cols]
    finite, negative, fractional = _scan(values)
    if not finite or negative or (fractional and strict_integer):
        err = diagnose(p, layout, integer=strict_integer)
        if err is not None:
            raise err
        msg = f"{p}: the counts contain missing, infinite or negative values"
        raise MscseqError(msg)
    notes: list[str] = []
    if layout.dropped:
        notes.append(
            f"{p}: annotation columns {first_names([layout.columns[i] for i in layout.dropped])} ignored"
        )
    fmt = "nfcore" if nfcore else "matrix"
    if nfcore and not as_is:
        _check_not_tpm(p, values)
    if fractional and nfcore and not as_is:
        if not values.flags.writeable:
            values = values.copy()
        n_frac = 0
        for start in range(0, values.shape[0], _ROW_BLOCK):
            block = values[start : start + _ROW_BLOCK]
            rounded = np.round(block)
            n_frac += int((rounded != block).any(axis=1).sum())
            values[start : start + _ROW_BLOCK] = rounded
        note = (
            f"{p}: {n_frac} genes had non-integer estimated counts; rounded to integers for DESeq2"
        )
        log.info(note)
        notes.append(note)
    counts = pd.DataFrame(values, index=pd.Index(ids.to_numpy(), name="gene_id"), columns=samples)
    level = "gene"
    if gene_of_tx is not None:
        counts, gene_names = _sum_transcripts(counts, gene_of_tx.to_numpy(), p, notes)
    return CountTable(
        counts=counts, source=p, format=fmt, level=level, gene_names=gene_names, notes=notes
    )


def _check_not_tpm(path: Path, values: np.ndarray) -> None:
    sums = values.sum(axis=0)
    name = path.name.lower()
    if any(k in name for k in ("tpm", "fpkm", "rpkm", "cpm")) or (
        len(sums) and np.all(np.abs(sums - 1e6) < 0.005 * 1e6)
    ):
        msg = (
            f"{path}: the values look like TPM/FPKM (file name or columns summing to one million), "
            "not counts; give the *gene_counts* table instead"
        )
        raise MscseqError(msg)
    if any(k in name for k in ("normalized", "normalised", "vst", "rlog", "log2")):
        msg = (
            f"{path}: the file name says normalised or transformed values, not counts; DESeq2 needs the raw "
            "or estimated counts (nf-core: salmon.merged.gene_counts.tsv)"
        )
        raise MscseqError(msg)


def _sum_transcripts(
    counts: pd.DataFrame, genes: np.ndarray, path: Path, notes: list[str]
) -> tuple[pd.DataFrame, pd.Series | None]:
    """Sum a transcript-level nf-core table to genes with its own ``gene_id`` column."""
    if (genes == "").any():
        msg = f"{path}: some transcripts have an empty gene_id; fill the gene_id column"
        raise MscseqError(msg)
    n_tx = len(counts)
    summed = counts.groupby(genes, sort=False).sum()
    summed.index.name = "gene_id"
    notes.append(
        f"{path}: {n_tx} transcripts summed to {len(summed)} genes with the file's gene_id column"
    )
    return summed, None
