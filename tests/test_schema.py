"""summary.json against its shipped JSON Schema; ``mscseq schema``."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mscseq.cli import app
from mscseq.errors import MscseqError
from mscseq.schemas import load_schema, schema_text, validate_summary

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def real_summary(example_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """summary.json of a real run on the example study (with a contrast)."""
    from mscseq.de.design import Contrast
    from mscseq.pipeline import CompareParams, run_compare

    out = tmp_path_factory.mktemp("schema") / "run"
    params = CompareParams(
        counts=[example_dir / "counts.tsv.gz"],
        samples=example_dir / "samples.tsv",
        design="~ cohort",
        contrasts=[Contrast.parse("cohort,B,A")],
        engine="mscseq",  # the fast engine: this test is about the file's shape, not the statistics
        report=False,
    )
    run_compare(params, out, argv=["mscseq", "compare"])
    return json.loads((out / "summary.json").read_text())


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_real_summary_validates(real_summary: dict) -> None:
    validate_summary(real_summary)
    # mscseq.summary/1 while the comparability block is the per-gene rule's, /2 with the tiered block
    v2 = "question" in real_summary.get("comparability", {"question": None})
    assert real_summary["schema"] == ("mscseq.summary/2" if v2 else "mscseq.summary/1")
    assert real_summary["de"][0]["name"] == "cohort_B_vs_A"
    if "comparability" in real_summary:  # present once the comparability analysis runs in compare
        assert real_summary["comparability"]["verdict"] in {
            "comparable",
            "not_comparable",
            "inconclusive",
        }


COMPARABILITY = {
    "verdict": "not_comparable",
    "rule": "outlier if robust z > 3.5",
    "metrics": {"n_products": 2, "fraction_equivalent": 0.93},
    "products": [
        {"sample": "P01", "status": "consistent", "reasons": []},
        {
            "sample": "P09",
            "status": "outlier",
            "reasons": ["median correlation 4.1 MADs below the others"],
        },
    ],
    "caveats": ["one product per donor: donor effect and noise cannot be separated"],
    "permanova": None,
    "equivalence": {"margin": 1.0},
}


def test_comparability_block_optional_and_checked(real_summary: dict) -> None:
    s = copy.deepcopy(real_summary)
    s.pop("comparability", None)
    validate_summary(s)  # optional
    s["schema"] = (
        "mscseq.summary/1"  # the block below is the v1 rule's (v2: tests/test_summary_v2.py)
    )
    s["comparability"] = copy.deepcopy(COMPARABILITY)
    validate_summary(s)
    s["comparability"]["verdict"] = "probably fine"
    with pytest.raises(
        MscseqError, match=r"at comparability/verdict: 'probably fine' is not one of"
    ):
        validate_summary(s)
    s["comparability"] = {
        **COMPARABILITY,
        "products": [{"sample": "P01", "status": "ok", "reasons": []}],
    }
    with pytest.raises(MscseqError, match=r"at comparability/products/0/status"):
        validate_summary(s)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("schema",), 2, "schema"),
        (("dimensions", "n_samples"), "15", "dimensions/n_samples"),
        (("qc", 0, "top100_fraction"), 1.5, "qc/0/top100_fraction"),
        (("de", 0, "n_up"), -1, "de/0/n_up"),
    ],
)
def test_bad_summaries_are_rejected(
    real_summary: dict, path: tuple, value: object, where: str
) -> None:
    s = copy.deepcopy(real_summary)
    node = s
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(MscseqError, match=f"at {where}:"):
        validate_summary(s)


def test_missing_required_field(real_summary: dict) -> None:
    s = {k: v for k, v in real_summary.items() if k != "qc"}
    with pytest.raises(MscseqError, match="'qc' is a required property"):
        validate_summary(s)


def test_cli_schema_prints_the_schema() -> None:
    res = CliRunner().invoke(app, ["schema"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == load_schema()
    assert res.stdout == schema_text()
