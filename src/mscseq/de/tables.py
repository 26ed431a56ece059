"""``mscseq de``: one DESeq2 results table from count files, without the rest of the pipeline."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from mscseq.de.design import Contrast, build_design, contrast_vector, formula_variables
from mscseq.errors import MscseqError

log = logging.getLogger(__name__)


def run_de_command(
    *,
    counts: Sequence[Path] | None,
    samples: Path,
    design: str,
    contrast: Contrast,
    out: Path,
    alpha: float = 0.1,
    force: bool = False,
    threads: int = 1,
    engine: str = "mscseq",
    lfc_threshold: float = 0.0,
    alt_hypothesis: str = "greaterAbs",
    test: str = "wald",
    reduced: str | None = None,
    sample_column: str = "sample",
    fill_missing_zero: bool = False,
    format: str | None = None,
    keep_gene_version: bool = False,
    layer: str | None = None,
    strandedness: str | None = None,
    tx2gene: str | Path | None = None,
) -> None:
    """Read inputs, run one contrast and write the table to ``out`` atomically (``-`` = stdout).

    Parameters
    ----------
    counts, samples, design, contrast, alpha, threads, engine, sample_column, fill_missing_zero, format, keep_gene_version, layer, strandedness, tx2gene
        As for ``mscseq compare``.
    lfc_threshold, alt_hypothesis, test, reduced
        The test (see :func:`mscseq.de.run.differential_expression`).
    out
        Output TSV path, or ``-`` for stdout.
    force
        Overwrite an existing ``out``.

    """
    from mscseq.de.run import build_reduced_design, check_test_options, differential_expression
    from mscseq.io import read_inputs
    from mscseq.io.dataset import match_samples
    from mscseq.io.readers import ReadOptions
    from mscseq.outputs import atomic_write_text, check_can_create, tsv_text

    check_test_options(
        engine=engine,
        test=test,
        reduced=reduced,
        lfc_threshold=lfc_threshold,
        alt_hypothesis=alt_hypothesis,
    )
    to_stdout = str(out) == "-"
    if not to_stdout:
        if out.exists() and not force:
            msg = f"{out}: the output file exists; choose another --out or pass --force to overwrite it"
            raise MscseqError(msg)
        check_can_create(out, option="--out")
    required = formula_variables(design)
    if contrast.variable not in required:
        required.append(contrast.variable)
    for v in formula_variables(reduced) if reduced else []:
        if v not in required:
            required.append(v)
    options = ReadOptions(
        format=format,
        keep_gene_version=keep_gene_version,
        layer=layer,
        strandedness=strandedness,
        tx2gene=tx2gene,
    )
    table, sheet = read_inputs(
        counts,
        samples,
        sample_column=sample_column,
        fill_missing_zero=fill_missing_zero,
        options=options,
    )
    mat, sheet, _ = match_samples(table, sheet, sheet_path=samples, required_columns=required)
    full = build_design(design, sheet, source=str(samples))
    contrast_vector(full, sheet, contrast)
    if test == "lrt" and reduced:
        build_reduced_design(reduced, full, sheet, source=str(samples))
    res = differential_expression(
        mat,
        sheet,
        design=design,
        contrasts=[contrast],
        alpha=alpha,
        engine=engine,
        threads=threads,
        lfc_threshold=lfc_threshold,
        alt_hypothesis=alt_hypothesis,
        test=test,
        reduced=reduced,
        gene_names=table.gene_names,
    )[contrast.name]
    text = tsv_text(res, index_label="gene_id")
    if to_stdout:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
        log.info("wrote %s (%d genes)", out, len(res))
