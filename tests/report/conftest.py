"""Fixtures for the report tests: full output folders built once per session with ``run_compare``."""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd
import pytest
from report_helpers import HOSTILE_GENE, HOSTILE_GENE_ID, HOSTILE_SAMPLE, HOSTILE_VALUE, load_parts


def cli_default_engine() -> str:
    """The DESeq2 engine ``mscseq compare`` uses by default."""
    from mscseq import cli

    return inspect.signature(cli.compare).parameters["engine"].default.value


def _run(counts: Path, samples: Path, out: Path) -> Path:
    from mscseq.de.design import Contrast
    from mscseq.pipeline import CompareParams, run_compare

    params = CompareParams(
        counts=[counts],
        samples=samples,
        design="~ cohort",
        contrasts=[Contrast.parse("cohort,B,A")],
        engine=cli_default_engine(),
    )
    run_compare(params, out, argv=["mscseq", "compare", "(test fixture)"])
    return out


@pytest.fixture(scope="session")
def report_dir(tmp_path_factory, example_dir: Path) -> Path:
    """Output folder of the example study (design ``~ cohort``, contrast ``cohort,B,A``)."""
    out = tmp_path_factory.mktemp("report") / "example"
    return _run(example_dir / "counts.tsv.gz", example_dir / "samples.tsv", out)


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory, example_dir: Path) -> Path:
    """The example study with a script-like sample name, gene symbol and sheet value."""
    base = tmp_path_factory.mktemp("hostile")
    counts = pd.read_csv(example_dir / "counts.tsv.gz", sep="\t")
    sheet = pd.read_csv(example_dir / "samples.tsv", sep="\t")
    counts = counts.rename(columns={"P03": HOSTILE_SAMPLE})
    sheet.loc[sheet["sample"] == "P03", "sample"] = HOSTILE_SAMPLE
    sheet.loc[sheet["sample"] == "P05", "passage"] = HOSTILE_VALUE
    counts.loc[counts["gene_id"] == HOSTILE_GENE_ID, "gene_name"] = HOSTILE_GENE
    counts.to_csv(base / "counts.tsv.gz", sep="\t", index=False)
    sheet.to_csv(base / "samples.tsv", sep="\t", index=False)
    return _run(base / "counts.tsv.gz", base / "samples.tsv", base / "out")


@pytest.fixture(scope="session")
def report_parts(report_dir: Path):
    """The example folder's AnnData, summary and run record (read-only)."""
    return load_parts(report_dir)
