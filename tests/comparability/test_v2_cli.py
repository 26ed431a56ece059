"""Comparability v2 through the real CLI: the licensing example, the protocol record, batch and pairing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
LICENSING = ROOT / "test_data" / "licensing"
EXAMPLE = ROOT / "test_data" / "example"

pytestmark = pytest.mark.slow


def _run(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def licensing_sheet(tmp_path_factory) -> Path:
    sheet = pd.read_csv(LICENSING / "samples.tsv", sep="\t")
    sheet["product"] = sheet["donor"] + "_" + sheet["condition"]
    path = tmp_path_factory.mktemp("sheet") / "samples.tsv"
    sheet.to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize("paired", [False, True])
def test_licensing_not_comparable_through_potency(tmp_path, licensing_sheet, paired):
    """Control vs IFN-γ-licensed products of the same donors: the potency tier says no."""
    out = tmp_path / "out"
    extra = ["--pair", "donor"] if paired else []
    r = _run(
        "compare",
        LICENSING / "counts.tsv.gz",
        "-s",
        licensing_sheet,
        "--group",
        "condition",
        "--reference",
        "control",
        "--product",
        "product",
        *extra,
        "--no-report",
        "--no-figures",
        "--permutations",
        "0",
        "-q",
        "-o",
        out,
    )
    assert r.returncode == 0, r.stderr
    comp = _summary(out)["comparability"]
    assert comp["verdict"] == "not_comparable"
    (c,) = comp["comparisons"]
    assert c["n_target"] == 6 and c["n_reference"] == 6  # products, not the 24 libraries
    potency = {a["panel"]: a for a in c["tier1"]["attributes"]}["licensing_potency"]
    assert potency["result"] == "different"
    assert potency["estimate"] > potency["margin"]  # IFN-γ raises the resting potency genes
    assert c["tier1"]["result"] == "fail"
    assert any("licensing_potency" in reason for reason in comp["reasons"])
    if paired:
        assert comp["confounders"]["pair"]["column"] == "donor"


def test_protocol_recorded_with_checksum(tmp_path):
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text("tier2:\n  gene_margin: 0.8\n  f0: 0.02\ntier1:\n  default_margin: 0.4\n")
    out = tmp_path / "out"
    r = _run(
        "compare",
        EXAMPLE / "counts.tsv.gz",
        "-s",
        EXAMPLE / "samples.tsv",
        "--group",
        "cohort",
        "--reference",
        "A",
        "--protocol",
        protocol,
        "--no-report",
        "--no-figures",
        "--permutations",
        "0",
        "-q",
        "-o",
        out,
    )
    assert r.returncode == 0, r.stderr
    digest = hashlib.sha256(protocol.read_bytes()).hexdigest()
    info = json.loads((out / "run_info.json").read_text())
    assert info["protocol"]["sha256"] == digest
    assert any(i["sha256"] == digest for i in info["inputs"])
    comp = _summary(out)["comparability"]
    assert comp["protocol"]["sha256"] == digest
    assert comp["protocol"]["protocol"]["tier2"]["gene_margin"] == 0.8
    (c,) = comp["comparisons"]
    assert c["tier2"]["margin"] == 0.8 and c["tier2"]["f0"] == 0.02


def test_default_protocol_recorded(tmp_path):
    out = tmp_path / "out"
    r = _run(
        "compare",
        EXAMPLE / "counts.tsv.gz",
        "-s",
        EXAMPLE / "samples.tsv",
        "--no-report",
        "--no-figures",
        "--permutations",
        "0",
        "-q",
        "-o",
        out,
    )
    assert r.returncode == 0, r.stderr
    comp = _summary(out)["comparability"]
    assert comp["question"] == "single_group"
    assert comp["protocol"]["source"] == "default"
    assert len(comp["protocol"]["sha256"]) == 64
    assert (
        comp["single_group"]["spread"]["tau"] == comp["protocol"]["protocol"]["single_group"]["tau"]
    )
    score_tau = comp["protocol"]["protocol"]["single_group"]["score_tau"]
    rows = comp["single_group"]["score_spread"]
    assert {r["panel"] for r in rows} >= {"isct_identity", "licensing_potency"}
    assert all(r["tau"] == score_tau and r["lower"] <= r["estimate"] <= r["upper"] for r in rows)
    assert f"lower bound above {score_tau:g} log2" in comp["rule"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("tier2:\n  gene_margn: 1.0\n", "gene_margn"),
        ("tier2:\n  gene_margin: -1\n", "gene_margin"),
        ("alpha: [1, 2\n", "protocol.yaml"),
        ("tier1:\n  panels:\n    senescence: {}\n", "margin and/or score_tau"),
    ],
)
def test_bad_protocol_one_line(tmp_path, text, needle):
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(text)
    out = tmp_path / "out"
    r = _run(
        "compare",
        EXAMPLE / "counts.tsv.gz",
        "-s",
        EXAMPLE / "samples.tsv",
        "--group",
        "cohort",
        "--protocol",
        protocol,
        "-q",
        "-o",
        out,
    )
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


def test_batch_aliased_never_comparable(tmp_path):
    sheet = pd.read_csv(EXAMPLE / "samples.tsv", sep="\t")
    sheet["run"] = sheet["cohort"].map({"A": "run1", "B": "run2"})
    path = tmp_path / "samples.tsv"
    sheet.to_csv(path, sep="\t", index=False)
    out = tmp_path / "out"
    r = _run(
        "compare",
        EXAMPLE / "counts.tsv.gz",
        "-s",
        path,
        "--group",
        "cohort",
        "--reference",
        "A",
        "--batch",
        "run",
        "--no-report",
        "--no-figures",
        "--permutations",
        "0",
        "-q",
        "-o",
        out,
    )
    assert r.returncode == 0, r.stderr
    comp = _summary(out)["comparability"]
    assert comp["verdict"] != "comparable"
    assert comp["confounders"]["batch"]["status"] == "aliased"
    assert any("batch" in reason for reason in comp["comparisons"][0]["reasons"])


def test_unknown_batch_column_one_line(tmp_path):
    out = tmp_path / "out"
    r = _run(
        "compare",
        EXAMPLE / "counts.tsv.gz",
        "-s",
        EXAMPLE / "samples.tsv",
        "--group",
        "cohort",
        "--batch",
        "nope",
        "-q",
        "-o",
        out,
    )
    assert r.returncode == 2
    assert "nope" in r.stderr and "Traceback" not in r.stderr
