"""summary.json version 2 (the tiered comparability block): schema, both versions validated, fixtures."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mscseq.cli import app
from mscseq.errors import MscseqError
from mscseq.schemas import load_schema, validate_summary

jsonschema = pytest.importorskip("jsonschema")

FIXTURES = Path(__file__).parent / "fixtures"
V2 = sorted(FIXTURES.glob("summary_v2_*.json"))


def load(name: str) -> dict:
    """A fixture summary, parsed."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_both_schemas_are_valid_draft_2020_12() -> None:
    for name in ("summary", "summary/1"):
        jsonschema.Draft202012Validator.check_schema(load_schema(name))
    assert load_schema()["properties"]["schema"]["const"] == "mscseq.summary/2"
    assert load_schema("summary/1")["properties"]["schema"]["const"] == "mscseq.summary/1"


def test_cli_schema_prints_version_2() -> None:
    res = CliRunner().invoke(app, ["schema"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["$id"] == "urn:mscseq:schema:summary:2"


@pytest.mark.parametrize("path", V2, ids=lambda p: p.stem)
def test_v2_fixtures_validate(path: Path) -> None:
    summary = json.loads(path.read_text(encoding="utf-8"))
    assert summary["schema"] == "mscseq.summary/2"
    validate_summary(summary)


def test_v1_summary_still_validates_by_its_version() -> None:
    v1 = load("summary_v1_example.json")
    validate_summary(v1)  # the v1 schema: products with 'sample', statuses consistent/outlier
    relabelled = {**copy.deepcopy(v1), "schema": "mscseq.summary/2"}
    with pytest.raises(MscseqError, match=r"schema mscseq.summary/2 at comparability"):
        validate_summary(relabelled)


def test_v2_block_is_not_a_v1_block() -> None:
    s = {**load("summary_v2_comparable.json"), "schema": "mscseq.summary/1"}
    with pytest.raises(MscseqError, match=r"schema mscseq.summary/1 at comparability/products/0"):
        validate_summary(s)


def test_unknown_version_is_named() -> None:
    s = {**load("summary_v2_comparable.json"), "schema": "mscseq.summary/7"}
    with pytest.raises(
        MscseqError, match=r"'mscseq.summary/7'.*reads mscseq.summary/1, mscseq.summary/2"
    ):
        validate_summary(s)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("comparability", "verdict"), "fine", "comparability/verdict"),
        (("comparability", "question"), "pairs", "comparability/question"),
        (("comparability", "products", 0, "status"), "outlier", "comparability/products/0/status"),
        (("comparability", "comparisons", 0, "tier1", "result"), "equivalent", "comparability/comparisons/0/tier1/result"),
        (("comparability", "comparisons", 0, "tier1", "attributes", 0, "result"), "pass", "comparability/comparisons/0/tier1/attributes/0/result"),
        (("comparability", "comparisons", 0, "tier2", "upper"), "0.1", "comparability/comparisons/0/tier2/upper"),
        (("comparability", "protocol", "sha256"), "abc", "comparability/protocol/sha256"),
    ],
)  # fmt: skip
def test_v2_fields_are_checked(path: tuple, value: object, where: str) -> None:
    s = load("summary_v2_not_comparable.json")
    node = s
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(MscseqError, match=f"mscseq.summary/2 at {where}:"):
        validate_summary(s)


def test_optional_v2_keys_may_be_missing_or_null() -> None:
    s = load("summary_v2_comparable.json")
    comp = s["comparability"]
    for key in (
        "protocol",
        "confounders",
        "settle",
        "descriptive",
        "sensitivity",
        "rule",
        "caveats",
    ):
        comp.pop(key)
    comp["single_group"] = None
    comp["products"] = [{"product": "P01", "status": "conforming"}]
    validate_summary(s)
    for key in ("verdict", "question", "comparisons"):
        broken = copy.deepcopy(s)
        broken["comparability"].pop(key)
        with pytest.raises(MscseqError, match=f"'{key}' is a required property"):
            validate_summary(broken)


def test_build_summary_writes_v2_for_a_v2_block(example_adata) -> None:
    from mscseq.outputs import SUMMARY_SCHEMA, build_summary

    adata = example_adata.copy()
    adata.uns["pca"] = {"n_top": 500, "variance_ratio": [0.5, 0.2]}
    adata.uns["clustering"] = {"order": list(adata.obs_names)}
    adata.uns["comparability"] = load("summary_v2_comparable.json")["comparability"]
    summary = build_summary(adata)
    assert summary["schema"] == SUMMARY_SCHEMA == "mscseq.summary/2"
    validate_summary(json.loads(json.dumps(summary)))
