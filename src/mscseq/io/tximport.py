"""Salmon, kallisto and RSEM estimates summarised to genes, as tximport does by default.

tximport's default (``countsFromAbundance = "no"``): per gene and sample, the counts are the sum of the
transcripts' estimated counts, the abundance is the sum of their TPM, and the length is the
abundance-weighted mean of their effective lengths. Where a gene has no abundance in a sample, its
length is the geometric mean of its lengths in the other samples, or, when it has no abundance in any
sample, the mean transcript length (averaged over samples). Estimated counts are then rounded for
DESeq2, with a note; the lengths are kept for length offsets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError, first_names
from mscseq.io.parsing import read_fixed_table
from mscseq.io.table import CountTable
from mscseq.io.textfile import head_lines, read_text

log = logging.getLogger(__name__)

#: Per format: (ID column, counts column, abundance column, length column, gene column or None).
_COLUMNS = {
    ("salmon", "transcript"): ("Name", "NumReads", "TPM", "EffectiveLength", None),
    ("salmon", "gene"): ("Name", "NumReads", "TPM", "EffectiveLength", None),
    ("kallisto", "transcript"): ("target_id", "est_counts", "tpm", "eff_length", None),
    ("rsem", "gene"): ("gene_id", "expected_count", "TPM", "effective_length", None),
    ("rsem", "transcript"): (
        "transcript_id",
        "expected_count",
        "TPM",
        "effective_length",
        "gene_id",
    ),
}
_VERSION = re.compile(r"\.\d+$")


@dataclass
class Quant:
    """One sample's quantifier estimates, as read."""

    path: Path
    sample: str
    format: str
    level: str
    ids: np.ndarray
    counts: np.ndarray
    abundance: np.ndarray
    length: np.ndarray
    genes: np.ndarray | None = None  # RSEM isoforms: the file's own gene_id column


def read_quant(path: str | Path, *, sample: str, fmt: str, level: str) -> Quant:
    """Read a Salmon ``quant.sf``/``quant.genes.sf``, kallisto ``abundance.tsv`` or RSEM ``*.results`` file.

    Parameters
    ----------
    path
        The file.
    sample
        The sample's name.
    fmt, level
        Format (``salmon``, ``kallisto`` or ``rsem``) and level (``gene`` or ``transcript``), as
        :func:`mscseq.io.detect.detect_format` found them.

    Returns
    -------
    Quant
        Estimated counts, abundance (TPM) and effective lengths per feature.

    """
    p = Path(path)
    if (fmt, level) not in _COLUMNS:
        msg = f"{p}: not a Salmon, kallisto or RSEM quantification file (detected {fmt})"
        raise MscseqError(msg)
    id_col, count_col, abund_col, len_col, gene_col = _COLUMNS[(fmt, level)]
    header = next(ln for ln in head_lines(p, 5) if ln.strip()).split("\t")
    wanted = [count_col, abund_col, len_col]
    missing = [c for c in [id_col, *wanted] if c not in header]
    if missing:
        msg = f"{p}: column(s) {first_names(missing)} missing from the {fmt} header"
        raise MscseqError(msg)
    numeric = [i for i, c in enumerate(header) if c in wanted]
    what = {"salmon": "a Salmon quant.sf file", "kallisto": "a kallisto abundance.tsv file"}.get(
        fmt, "an RSEM results file"
    )
    text, values = read_fixed_table(p, columns=header, numeric=numeric, what=what)
    by_name = {header[i]: values[:, k] for k, i in enumerate(numeric)}
    ids = text[id_col].str.strip().to_numpy()
    if pd.Index(ids).has_duplicates:
        dup = pd.Index(ids)[pd.Index(ids).duplicated()].unique()
        msg = f"{p}: duplicated IDs {first_names(dup)}; a quantifier writes each transcript once"
        raise MscseqError(msg)
    genes = text[gene_col].str.strip().to_numpy() if gene_col else None
    return Quant(
        path=p,
        sample=sample,
        format=fmt,
        level=level,
        ids=ids,
        counts=by_name[count_col],
        abundance=by_name[abund_col],
        length=by_name[len_col],
        genes=genes,
    )


def _parse_gtf_attributes(attrs: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in attrs.split(";"):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition(" ")
        out.setdefault(key, value.strip().strip('"'))
    return out


def read_tx2gene(path: str | Path) -> pd.DataFrame:
    """Read a transcript-to-gene table (CSV/TSV: transcript, gene[, gene name]) or a GTF file.

    Parameters
    ----------
    path
        A table with the transcript ID in the first column and the gene ID in the second (an optional
        third column holds gene symbols; a header line is recognised and skipped), or a GTF/GFF2 file
        with ``transcript_id`` and ``gene_id`` attributes.

    Returns
    -------
    pandas.DataFrame
        Index = transcript ID; columns ``gene_id`` and ``gene_name`` (``""`` when unknown).

    """
    p = Path(path)
    text = read_text(p, what="a tx2gene table or GTF")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        msg = f"{p}: the tx2gene file has no data lines"
        raise MscseqError(msg)
    first = lines[0].split("\t")
    if len(first) == 9 and "gene_id" in first[8]:
        return _tx2gene_from_gtf(p, lines)
    sep = "\t" if "\t" in lines[0] else ","
    rows = [[f.strip().strip('"') for f in ln.split(sep)] for ln in lines]
    head = [x.lower() for x in rows[0]]
    if head and head[0] in (
        "tx",
        "txname",
        "tx_id",
        "transcript",
        "transcript_id",
        "target_id",
        "name",
        "enst",
    ):
        rows = rows[1:]
    short = next((i for i, r in enumerate(rows) if len(r) < 2 or not r[0] or not r[1]), None)
    if short is not None:
        msg = f"{p}: a row has fewer than two filled columns (transcript, gene): {sep.join(rows[short])!r}"
        raise MscseqError(msg)
    if not rows:
        msg = f"{p}: the tx2gene table has a header but no rows"
        raise MscseqError(msg)
    df = pd.DataFrame(
        {
            "gene_id": [r[1] for r in rows],
            "gene_name": [r[2] if len(r) > 2 else "" for r in rows],
        },
        index=pd.Index([r[0] for r in rows], name="transcript_id"),
    )
    return _dedupe_tx(df, p)


def _tx2gene_from_gtf(path: Path, lines: list[str]) -> pd.DataFrame:
    records: dict[str, tuple[str, str]] = {}
    for line in lines:
        fields = line.split("\t")
        if len(fields) != 9 or fields[2] not in ("transcript", "exon"):
            continue
        attrs = _parse_gtf_attributes(fields[8])
        tx, gene = attrs.get("transcript_id"), attrs.get("gene_id")
        if tx and gene and tx not in records:
            records[tx] = (gene, attrs.get("gene_name", ""))
    if not records:
        msg = f"{path}: no transcript or exon lines with transcript_id and gene_id attributes in this GTF"
        raise MscseqError(msg)
    df = pd.DataFrame.from_dict(records, orient="index", columns=["gene_id", "gene_name"])
    df.index.name = "transcript_id"
    return df


def _dedupe_tx(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    dup = df.index[df.index.duplicated()]
    if len(dup):
        conflicting = [t for t in dup.unique() if df.loc[[t], "gene_id"].nunique() > 1]
        if conflicting:
            msg = f"{path}: transcript(s) {first_names(conflicting)} map to more than one gene; keep one gene per transcript"
            raise MscseqError(msg)
        df = df[~df.index.duplicated()]
    return df


def _match(ids: np.ndarray, tx2gene: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """Map quantifier IDs to tx2gene rows; try as given, without ``|…`` tails, then without versions."""

    def strip_bar(x: pd.Index) -> pd.Index:
        return pd.Index([s.split("|", 1)[0] for s in x])

    def strip_version(x: pd.Index) -> pd.Index:
        return pd.Index([_VERSION.sub("", s) for s in x])

    q = pd.Index(ids)
    ref = pd.Index(tx2gene.index.astype(str))
    best = (np.zeros(len(q), dtype=bool), np.zeros(len(q), dtype=np.int64), "as given")
    for how, qi, ri in (
        ("as given", q, ref),
        ("before '|'", strip_bar(q), strip_bar(ref)),
        ("without version suffixes", strip_version(strip_bar(q)), strip_version(strip_bar(ref))),
    ):
        if ri.has_duplicates:
            keep = ~ri.duplicated()
            ri_u = ri[keep]
            pos_map = np.flatnonzero(keep)
        else:
            ri_u, pos_map = ri, np.arange(len(ri))
        pos = ri_u.get_indexer(qi)
        found = pos >= 0
        if found.sum() > best[0].sum():
            best = (found, np.where(found, pos_map[np.maximum(pos, 0)], -1), how)
        if found.all():
            break
    return best


def summarize_to_gene(
    quants: Sequence[Quant],
    *,
    tx2gene: pd.DataFrame | None = None,
    tx2gene_path: str | Path | None = None,
) -> CountTable:
    """Combine per-sample estimates into gene-level counts and lengths (tximport's default).

    Parameters
    ----------
    quants
        One :class:`Quant` per sample, all of the same format, level and features.
    tx2gene
        Transcript → gene table (:func:`read_tx2gene`); needed for transcript-level files unless they
        carry the gene themselves (RSEM ``isoforms.results``, GENCODE ``ENST…|ENSG…|`` names).
    tx2gene_path
        Its path, for messages.

    Returns
    -------
    CountTable
        Rounded gene counts (genes × samples), ``lengths`` (average transcript length), gene names
        from the tx2gene table when it has them.

    """
    first = quants[0]
    kinds = {(q.format, q.level) for q in quants}
    if len(kinds) > 1:
        msg = f"{quants[-1].path}: mixes formats with {first.path}; give files of one quantifier and level"
        raise MscseqError(msg)
    ids = first.ids
    ref = pd.Index(ids)
    counts = np.empty((len(ids), len(quants)))
    abundance = np.empty_like(counts)
    length = np.empty_like(counts)
    for j, q in enumerate(quants):
        if len(q.ids) == len(ids) and np.array_equal(q.ids, ids):
            order = slice(None)
        else:
            pos = ref.get_indexer(pd.Index(q.ids))
            if len(q.ids) != len(ids) or (pos < 0).any():
                msg = (
                    f"{q.path}: its {len(q.ids)} features differ from the {len(ids)} of {first.path}; "
                    "quantify all samples against the same index"
                )
                raise MscseqError(msg)
            order = np.argsort(pos)
        counts[:, j] = q.counts[order]
        abundance[:, j] = q.abundance[order]
        length[:, j] = q.length[order]
    samples = [q.sample for q in quants]
    notes: list[str] = []
    gene_names = None
    if first.level == "gene":
        gene_ids = ids
        gene_counts, gene_length = counts, length
    else:
        genes, gene_names, how = _genes_for(first, tx2gene, tx2gene_path)
        keep = genes != ""
        if not keep.all():
            miss = ids[~keep]
            note = (
                f"{first.path}: {len(miss)} of {len(ids)} transcripts are not in {tx2gene_path or 'the tx2gene table'} "
                f"and were left out ({first_names(miss, 3)})"
            )
            log.warning(note)
            notes.append(note)
        if how:
            notes.append(f"{first.path}: transcripts matched to {tx2gene_path} {how}")
        gene_ids, gene_counts, gene_length = _aggregate(
            genes[keep], counts[keep], abundance[keep], length[keep]
        )
        notes.append(
            f"{first.path}: {int(keep.sum())} transcripts summarised to {len(gene_ids)} genes (tximport method)"
        )
        if gene_names is not None:
            gene_names = gene_names[~gene_names.index.duplicated()].reindex(gene_ids).fillna("")
    frac = gene_counts != np.round(gene_counts)
    if frac.any():
        n = int(frac.any(axis=1).sum())
        note = f"{first.path}: {n} genes had non-integer estimated counts; rounded to integers for DESeq2"
        log.info(note)
        notes.append(note)
        gene_counts = np.round(gene_counts)
    index = pd.Index(gene_ids, name="gene_id")
    return CountTable(
        counts=pd.DataFrame(gene_counts, index=index, columns=samples),
        source=first.path,
        format=first.format,
        level="gene",
        gene_names=gene_names,
        notes=notes,
        lengths=pd.DataFrame(gene_length, index=index.copy(), columns=samples),
    )


def _genes_for(
    quant: Quant, tx2gene: pd.DataFrame | None, tx2gene_path: str | Path | None
) -> tuple[np.ndarray, pd.Series | None, str]:
    """The gene of each transcript ("" when unknown), gene names if known, and how IDs were matched."""
    ids = quant.ids
    if tx2gene is not None:
        found, pos, how = _match(ids, tx2gene)
        if not found.any():
            msg = (
                f"{tx2gene_path}: none of the transcripts of {quant.path} (e.g. {first_names(ids, 2)}) are in "
                f"this tx2gene table (e.g. {first_names(tx2gene.index, 2)}); use the annotation the index was built from"
            )
            raise MscseqError(msg)
        genes = np.where(found, tx2gene["gene_id"].to_numpy()[np.maximum(pos, 0)], "").astype(
            object
        )
        names = tx2gene["gene_name"]
        names = pd.Series(names.to_numpy(), index=tx2gene["gene_id"].to_numpy())
        has_names = bool((names != "").any())
        return genes, (names if has_names else None), ("" if how == "as given" else how)
    if quant.genes is not None:
        return quant.genes.astype(object), None, ""
    if all("|" in i for i in ids[:100]):
        parts = [i.split("|") for i in ids]
        if all(len(x) > 5 and x[1] for x in parts):
            genes = np.array([x[1] for x in parts], dtype=object)
            names = pd.Series([x[5] for x in parts], index=genes)
            return genes, names, ""
    msg = (
        f"{quant.path}: transcript-level estimates need a transcript-to-gene map; pass --tx2gene with a "
        "table (transcript, gene) or the GTF the index was built from"
    )
    raise MscseqError(msg)


def _aggregate(
    genes: np.ndarray, counts: np.ndarray, abundance: np.ndarray, length: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum counts and abundance per gene; abundance-weighted mean length with tximport's gap filling."""
    codes, uniques = pd.factorize(genes, sort=False)
    n_genes = len(uniques)

    def by_gene(x: np.ndarray) -> np.ndarray:
        cols = [np.bincount(codes, weights=x[:, j], minlength=n_genes) for j in range(x.shape[1])]
        return np.column_stack(cols)

    gene_counts = by_gene(counts)
    gene_abund = by_gene(abundance)
    weighted = by_gene(abundance * length)
    with np.errstate(invalid="ignore", divide="ignore"):
        gene_length = weighted / gene_abund
    gene_length[gene_abund == 0] = np.nan
    # tximport's aveLengthSampGene: mean over the gene's transcripts of their mean length over samples.
    tx_mean = length.mean(axis=1)
    ave_len = np.bincount(codes, weights=tx_mean, minlength=n_genes) / np.bincount(
        codes, minlength=n_genes
    )
    missing = np.isnan(gene_length)
    rows = np.flatnonzero(missing.any(axis=1))
    for r in rows:
        gap = missing[r]
        if gap.all():
            gene_length[r] = ave_len[r]
        else:
            gene_length[r, gap] = np.exp(np.mean(np.log(gene_length[r, ~gap])))
    return np.asarray(uniques, dtype=object), gene_counts, gene_length
