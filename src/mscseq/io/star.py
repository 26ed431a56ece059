"""STAR ``ReadsPerGene.out.tab`` (``--quantMode GeneCounts``) and ``Log.final.out``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError
from mscseq.io.parsing import read_fixed_table
from mscseq.io.table import CountTable
from mscseq.io.textfile import read_text

log = logging.getLogger(__name__)

STRANDEDNESS = ("unstranded", "forward", "reverse")
_COLUMN = {"unstranded": 1, "forward": 2, "reverse": 3}
#: nf-core/rnaseq thresholds: a strand with ≥ 80 % of the stranded reads decides; a difference
#: of ≤ 10 % between the two strands means unstranded.
STRANDED_THRESHOLD = 0.8
UNSTRANDED_THRESHOLD = 0.1
WHAT = "a STAR ReadsPerGene.out.tab file (gene and three count columns, no header)"


def infer_strandedness(forward: float, reverse: float) -> tuple[str, str]:
    """Infer the library strandedness from the forward and reverse column sums, as nf-core/rnaseq does.

    Parameters
    ----------
    forward
        Sum over genes of STAR's column 3 (reads on the gene's strand).
    reverse
        Sum over genes of STAR's column 4 (reads on the opposite strand).

    Returns
    -------
    tuple of (str, str)
        The strandedness (``unstranded``, ``forward`` or ``reverse``) and a sentence explaining it.
        An undetermined library is read as unstranded (column 2 counts every read), with that said.

    """
    total = forward + reverse
    if total <= 0:
        return (
            "unstranded",
            "no reads on genes in the stranded columns; using the unstranded column",
        )
    fwd = forward / total
    rev = reverse / total
    why = f"forward {fwd:.1%} / reverse {rev:.1%} of stranded gene reads"
    if fwd >= STRANDED_THRESHOLD:
        return "forward", f"{why} ≥ {STRANDED_THRESHOLD:.0%}: forward"
    if rev >= STRANDED_THRESHOLD:
        return "reverse", f"{why} ≥ {STRANDED_THRESHOLD:.0%}: reverse"
    if abs(fwd - rev) <= UNSTRANDED_THRESHOLD:
        return "unstranded", f"{why} within {UNSTRANDED_THRESHOLD:.0%} of each other: unstranded"
    return "unstranded", (
        f"{why}: undetermined; using the unstranded column (pass --strandedness to choose)"
    )


def read_star(path: str | Path, *, sample: str, strandedness: str | None = None) -> CountTable:
    """Read one STAR ``ReadsPerGene.out.tab``.

    Parameters
    ----------
    path
        The file.
    sample
        The sample's name.
    strandedness
        ``unstranded`` (column 2), ``forward`` (column 3) or ``reverse`` (column 4); ``None`` infers it
        from the column sums (nf-core/rnaseq's rule) and logs the choice.

    Returns
    -------
    CountTable
        One column of counts; the four ``N_`` lines as QC plus the strandedness used.

    """
    p = Path(path)
    if strandedness is not None and strandedness not in STRANDEDNESS:
        msg = f"{p}: unknown strandedness '{strandedness}'; choose unstranded, forward or reverse"
        raise MscseqError(msg)
    columns = ["gene_id", "unstranded", "forward", "reverse"]
    text, values = read_fixed_table(
        p, columns=columns, numeric=[1, 2, 3], integer=[1, 2, 3], header=False, what=WHAT
    )
    ids = text["gene_id"].str.strip().to_numpy()
    special = pd.Series(ids).str.startswith("N_").to_numpy()
    if special.all():
        msg = f"{p}: only 'N_' summary lines, no genes; check the STAR run"
        raise MscseqError(msg)
    genes = values[~special]
    notes: list[str] = []
    if strandedness is None:
        strandedness, why = infer_strandedness(float(genes[:, 1].sum()), float(genes[:, 2].sum()))
        note = f"{p}: strandedness inferred as {strandedness} ({why})"
        log.info(note)
        notes.append(note)
    col = _COLUMN[strandedness] - 1
    counts = pd.DataFrame(
        genes[:, [col]], index=pd.Index(ids[~special], name="gene_id"), columns=[sample]
    )
    qc_values = {f"star_{name}": values[i, col] for i, name in enumerate(ids) if special[i]}
    qc = pd.DataFrame([qc_values], index=[sample]) if qc_values else pd.DataFrame(index=[sample])
    qc["star_strandedness"] = strandedness
    return CountTable(counts=counts, source=p, format="star", qc=qc, notes=notes)


def read_star_log(path: str | Path) -> dict[str, float | str]:
    """Read a STAR ``Log.final.out`` into ``{metric: value}`` (percentages as numbers).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    dict
        For example ``{"Number of input reads": 14971841.0, "Uniquely mapped reads %": 88.86, ...}``.

    """
    out: dict[str, float | str] = {}
    for line in read_text(path).splitlines():
        if "|" not in line:
            continue
        key, _, value = (part.strip() for part in line.partition("|"))
        value = value.rstrip("%")
        try:
            out[key] = float(value)
        except ValueError:
            out[key] = value
    if not out:
        msg = f"{path}: no 'metric | value' lines; expected a STAR Log.final.out"
        raise MscseqError(msg)
    return out


def star_log_beside(path: Path) -> Path | None:
    """Return the ``Log.final.out`` written by the same STAR run as ``path``, if present."""
    name = path.name
    prefix = name.split("ReadsPerGene.out.tab")[0] if "ReadsPerGene.out.tab" in name else None
    if prefix is None:
        return None
    candidate = path.with_name(f"{prefix}Log.final.out")
    return candidate if candidate.is_file() else None


def attach_star_log(table: CountTable) -> None:
    """Add the main STAR mapping figures from a neighbouring ``Log.final.out`` to the QC, if present."""
    log_path = star_log_beside(Path(table.source))
    if log_path is None or table.qc is None:
        return
    metrics = read_star_log(log_path)
    keep = {
        "Number of input reads": "star_input_reads",
        "Uniquely mapped reads number": "star_uniquely_mapped",
        "Uniquely mapped reads %": "star_uniquely_mapped_pct",
    }
    for key, col in keep.items():
        if isinstance(metrics.get(key), float):
            table.qc[col] = np.float64(metrics[key])
