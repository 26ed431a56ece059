"""Shared fixtures: the project's example data and the real datasets in ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "test_data"
SHARED_DATA = Path(os.environ.get("MSCSEQ_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ``../shared/data`` (real public datasets); skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"real datasets not available: {SHARED_DATA} does not exist (it sits beside the repo in CI)"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def example_dir() -> Path:
    """The simulated comparability study (``test_data/example``)."""
    return TEST_DATA / "example"


@pytest.fixture(scope="session")
def example_args(example_dir: Path):
    """Builder of CLI arguments for the example study: ``COMMAND counts --samples sheet --design '~ cohort'
    --contrast cohort,B,A`` followed by the extra arguments given."""

    def build(command: str, *extra: str) -> list[str]:
        return [
            command,
            str(example_dir / "counts.tsv.gz"),
            "--samples",
            str(example_dir / "samples.tsv"),
            "--design",
            "~ cohort",
            "--contrast",
            "cohort,B,A",
            *extra,
        ]

    return build


@pytest.fixture(scope="session")
def example_params(example_dir: Path):
    """``compare`` parameters of the example study: ``~ cohort``, contrast ``cohort,B,A``, group cohort vs A."""
    from mscseq.de.design import Contrast
    from mscseq.pipeline import CompareParams

    return CompareParams(
        counts=[example_dir / "counts.tsv.gz"],
        samples=example_dir / "samples.tsv",
        design="~ cohort",
        contrasts=[Contrast.parse("cohort,B,A")],
        group="cohort",
        reference="A",
    )


@pytest.fixture(scope="session")
def licensing_dir() -> Path:
    """The simulated donor × IFN-γ × replicate study (``test_data/licensing``)."""
    return TEST_DATA / "licensing"


@pytest.fixture(scope="session")
def example_adata(example_dir: Path):
    """The example study loaded, QC'd, normalised and explored (read-only: copy before changing)."""
    from mscseq.explore import explore
    from mscseq.io import load_dataset
    from mscseq.normalize import normalize
    from mscseq.qc import compute_qc

    adata = load_dataset([example_dir / "counts.tsv.gz"], example_dir / "samples.tsv")
    compute_qc(adata)
    normalize(adata)
    explore(adata)
    return adata
