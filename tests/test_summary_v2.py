"""summary.json version 2 (the tiered comparability block): schema, both versions validated, fixtures."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
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


def _run_folder(folder: Path, fixture: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text((FIXTURES / fixture).read_text(encoding="utf-8"))
    return folder


def test_collect_mixes_v1_and_v2(tmp_path: Path) -> None:
    from mscseq.batch import BASE_COLUMNS, collect_summaries

    runs = {
        "old": "summary_v1_example.json",
        "ok": "summary_v2_comparable.json",
        "bad": "summary_v2_not_comparable.json",
        "single": "summary_v2_single_split.json",
        "small": "summary_v2_inconclusive.json",
    }
    dirs = [_run_folder(tmp_path / name, fixture) for name, fixture in runs.items()]
    table = collect_summaries(dirs).set_index("dataset")
    tier = ["tier1_B_vs_A", "tier2_B_vs_A", "tier2_B_vs_A_lower", "tier2_B_vs_A_upper"]
    assert list(table.reset_index().columns[: len(BASE_COLUMNS) + 4]) == [*BASE_COLUMNS, *tier]
    old = table.loc["old"]
    assert (old["schema"], old["verdict"], old["n_products"], old["n_outliers"], old["outliers"]) == (
        "mscseq.summary/1", "not_comparable", 15, 1, "P09",
    )  # fmt: skip
    for col in ("question", "n_deviating", "deviating", "protocol_sha256", *tier):
        assert pd.isna(old[col]), col  # v1 rows leave the v2 columns empty
    bad = table.loc["bad"]
    assert (bad["question"], bad["n_deviating"], bad["deviating"]) == ("groups", 1, "P09")
    assert (bad["tier1_B_vs_A"], bad["tier2_B_vs_A"]) == ("fail", "inconclusive")
    assert (bad["tier2_B_vs_A_lower"], bad["tier2_B_vs_A_upper"]) == (0.002, 0.024)
    assert len(bad["protocol_sha256"]) == 64
    assert pd.isna(bad["n_outliers"]) and pd.isna(bad["outliers"])  # and the reverse
    assert table.loc["ok", "verdict"] == "comparable" and table.loc["ok", "n_deviating"] == 0
    single = table.loc["single"]
    assert (single["question"], single["single_group"]) == ("single_group", "fail")
    assert pd.isna(single["tier1_B_vs_A"])
    assert table.loc["small", "verdict"] == "inconclusive"
    assert table.loc["small", "tier1_B_vs_A"] == "inconclusive"


def test_cli_collect_mixed_tsv(tmp_path: Path) -> None:
    a = _run_folder(tmp_path / "runs" / "a", "summary_v1_example.json")
    b = _run_folder(tmp_path / "runs" / "b", "summary_v2_not_comparable.json")
    out = tmp_path / "summary.tsv"
    res = CliRunner().invoke(app, ["collect", str(a), str(b), "--out", str(out)])
    assert res.exit_code == 0, res.output
    import csv

    with open(out, newline="") as fh:
        rows = {r["dataset"]: r for r in csv.DictReader(fh, delimiter="\t")}
    assert rows["a"]["outliers"] == "P09" and rows["a"]["deviating"] == ""
    assert rows["b"]["deviating"] == "P09" and rows["b"]["outliers"] == ""
    assert rows["b"]["tier2_B_vs_A_upper"] == "0.024" and rows["a"]["tier2_B_vs_A_upper"] == ""


def test_collect_rejects_a_malformed_v2_block(tmp_path: Path) -> None:
    from mscseq.batch import collect_summaries

    s = load("summary_v2_comparable.json")
    s["comparability"]["comparisons"][0]["tier1"] = "pass"
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "summary.json").write_text(json.dumps(s))
    with pytest.raises(MscseqError, match=r"'tier1' of comparison 'B_vs_A' is not an object"):
        collect_summaries([tmp_path / "r"])


def _mqc_rows(path: Path) -> dict[str, dict[str, str]]:
    import csv

    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return {r[next(iter(r))]: r for r in csv.DictReader(lines, delimiter="\t")}


def test_multiqc_content_v2(tmp_path: Path) -> None:
    from mscseq.multiqc import QC_FILE, TIERS_FILE, VERDICT_FILE, write_multiqc

    summary = load("summary_v2_not_comparable.json")
    assert write_multiqc(summary, tmp_path) == [
        QC_FILE,
        VERDICT_FILE,
        TIERS_FILE,
        "mscseq_de_mqc.tsv",
    ]
    qc = _mqc_rows(tmp_path / QC_FILE)
    assert qc["P09"]["comparability"] == "deviating" and qc["P01"]["comparability"] == "conforming"
    section = json.loads((tmp_path / VERDICT_FILE).read_text())
    desc = section["description"]
    assert desc.index("Verdict: not comparable") < desc.index("licensing_potency score is lower")
    assert "Tier 1 fail, Tier 2 inconclusive" in desc and "bounds 0.2 %–2.4 %, f0 1 %" in desc
    assert summary["comparability"]["protocol"]["sha256"][:12] in desc
    p09 = section["data"]["P09"]
    assert (p09["status"], p09["p_adjusted"]) == ("deviating", 0.0003)
    assert (
        p09["drivers"].startswith("PTPRC; HLA-DRA") and "licensing_potency" in p09["panel_drivers"]
    )
    tiers = _mqc_rows(tmp_path / TIERS_FILE)
    assert tiers["B_vs_A Tier 1"]["result"] == "fail"
    potency = tiers["B_vs_A Tier 1 licensing_potency"]
    assert (potency["result"], potency["estimate"], potency["margin_or_threshold"]) == (
        "different",
        "-1.1",
        "0.5",
    )
    assert (tiers["B_vs_A Tier 2"]["lower"], tiers["B_vs_A Tier 2"]["upper"]) == ("0.002", "0.024")


def test_multiqc_single_group_and_settle(tmp_path: Path) -> None:
    from mscseq.multiqc import TIERS_FILE, verdict_section, write_multiqc

    write_multiqc(load("summary_v2_single_split.json"), tmp_path / "single")
    tiers = _mqc_rows(tmp_path / "single" / TIERS_FILE)
    assert tiers["single group split"]["result"] == "fail"
    assert tiers["single group spread"]["upper"] == "0.58"
    potency = tiers["single group licensing_potency spread"]
    assert (potency["result"], potency["lower"], potency["margin_or_threshold"]) == (
        "fail",
        "0.476",
        "0.35",
    )
    desc = verdict_section(load("summary_v2_inconclusive.json"))["description"]
    assert "What would settle it" in desc and "8 products per group" in desc


def test_real_multiqc_shows_the_v2_verdict(tmp_path: Path) -> None:
    import importlib.util
    import os
    import subprocess
    import sys

    from mscseq.multiqc import write_multiqc

    if importlib.util.find_spec("multiqc") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("MultiQC is not installed; CI=true, so this test must run")
        pytest.skip("MultiQC is not installed (it is in the test extra)")
    write_multiqc(load("summary_v2_not_comparable.json"), tmp_path / "run" / "multiqc")
    out = tmp_path / "mqc"
    proc = subprocess.run(
        [sys.executable, "-m", "multiqc", str(tmp_path / "run"), "-o", str(out), "--no-ansi", "--force"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = out / "multiqc_data"
    assert "P09\tdeviating" in (data / "multiqc_mscseq_verdict_table.txt").read_text()
    tiers = (data / "multiqc_mscseq_tiers_table.txt").read_text()
    assert "B_vs_A Tier 1 licensing_potency\tdifferent" in tiers
    assert "B_vs_A Tier 2\tinconclusive" in tiers
    html_text = (out / "multiqc_report.html").read_text()
    assert "mscseq comparability tiers" in html_text and "Verdict: not comparable" in html_text
