"""Gene identifier clean-up: Ensembl version suffixes, PAR_Y rows, duplicated IDs."""

from __future__ import annotations

import logging
import re

import pandas as pd

from mscseq.io.table import CountTable

log = logging.getLogger(__name__)

_ENSEMBL_VERSION = re.compile(r"^(ENS[A-Z]*[GT]\d{6,})\.\d+(_PAR_Y)?$")


def strip_version(gene_id: str) -> str:
    """Strip an Ensembl version suffix, keeping a ``_PAR_Y`` tag (``ENSG..1.5_PAR_Y`` → ``ENSG..1_PAR_Y``)."""
    m = _ENSEMBL_VERSION.match(gene_id)
    if not m:
        return gene_id
    return m.group(1) + (m.group(2) or "")


def clean_gene_ids(table: CountTable, *, keep_version: bool = False) -> CountTable:
    """Strip versions (unless ``keep_version``) and sum duplicated IDs with a warning.

    Parameters
    ----------
    table
        Counts as read.
    keep_version
        Keep Ensembl version suffixes.

    Returns
    -------
    CountTable
        The same table with clean, unique gene IDs.

    """
    counts = table.counts
    old = counts.index
    ids = counts.index.astype(str)
    if not keep_version:
        # the regular expression only where a version can be (most IDs of most files have none)
        ids = pd.Index([strip_version(g) if "." in g else g for g in ids], name="gene_id")
    counts.index = ids  # in place: set_axis would copy the whole matrix
    if table.lengths is not None and not ids.has_duplicates:
        table.lengths = table.lengths.set_axis(ids, axis=0)
    names = table.gene_names
    if names is not None:
        names = (
            names[~names.index.duplicated()]
            .reindex(old)
            .fillna("")
            .astype(str)
            .set_axis(ids, axis=0)
        )
    if ids.has_duplicates:
        dup = ids[ids.duplicated()].unique()
        msg = f"{table.source}: {len(dup)} duplicated gene IDs summed ({', '.join(map(str, dup[:5]))}{' ...' if len(dup) > 5 else ''})"
        log.warning(msg)
        table.notes.append(msg)
        lengths = table.lengths
        if lengths is not None:
            # Length of the merged gene: count-weighted mean of the parts (plain mean where no counts).
            lengths = lengths.set_axis(ids, axis=0)
            weights = counts.to_numpy() + 1e-12
            weighted = pd.DataFrame(
                lengths.to_numpy() * weights, index=ids, columns=lengths.columns
            )
            wsum = (
                pd.DataFrame(weights, index=ids, columns=lengths.columns)
                .groupby(level=0, sort=False)
                .sum()
            )
            table.lengths = weighted.groupby(level=0, sort=False).sum() / wsum
            table.lengths.index.name = "gene_id"
        counts = counts.groupby(level=0, sort=False).sum()
        if names is not None:
            names = names[~names.index.duplicated()]
    counts.index.name = "gene_id"
    table.counts = counts
    table.gene_names = names
    return table
