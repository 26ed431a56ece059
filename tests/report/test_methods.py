"""The methods text says what ran: each test is cited only when it produced results, with its parameters."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
from report_helpers import fake_comparability

from mscseq.report.sections.methods import section as methods

DE_WALD = {
    "name": "cohort_B_vs_A",
    "variable": "cohort",
    "target": "B",
    "reference": "A",
    "alpha": 0.1,
    "test": "wald",
    "lfc_threshold": 0.0,
    "alt_hypothesis": "greaterAbs",
}
SAMPLES = [f"P{i:02d}" for i in range(1, 16)]


def text(result: dict) -> str:
    """The methods as plain text, citations as ``[n]``."""
    out = []
    for p in result["paragraphs"]:
        parts = [f"[{t['ref']}]" if isinstance(t, dict) else t for t in p["text"]]
        out.append(f"{p['title']}: {''.join(parts)}")
    return "\n".join(out)


def cited(result: dict) -> set[str]:
    return {r["key"] for r in result["references"]}


def run_methods(*, de=(DE_WALD,), engine: str | None = "mscseq", comp=None, uns=None) -> dict:
    params = {"design": "~ cohort"} | ({"engine": engine} if engine else {})
    run_info = {"parameters": params, "versions": {"pydeseq2": "0.5.4"}}
    summary = {"design": "~ cohort", "de": [dict(d) for d in de], "dimensions": {}}
    return methods(summary, run_info, uns=uns or {}, comparability=comp)


def paragraph(result: dict, title: str) -> str:
    return next(line for line in text(result).splitlines() if line.startswith(title))


def no_group_block() -> dict:
    """A comparability block as a run without ``--group`` writes it: the group parts present but empty."""
    comp = fake_comparability(SAMPLES, verdict="comparable", outlier="none")
    comp.update(equivalence=[], permanova=None, permdisp=None, quality_range=None)
    comp["settings"].update(group=None, reference=None, permutations=999, seed=20240601)
    return comp


def test_without_group_no_group_test_is_cited():
    result = run_methods(comp=no_group_block())
    comp = paragraph(result, "Comparability")
    for absent in ("TOST", "PERMANOVA", "PERMDISP", "Equivalence of"):
        assert absent not in comp
    assert not cited(result) & {"tost", "permanova", "permdisp"}
    assert "screened for outliers" in comp and "Decision rule:" in comp


def test_with_group_the_tests_and_their_parameters():
    comp = fake_comparability(SAMPLES)
    comp["settings"].update(seed=7, engine="mscseq", design="~ cohort", alpha=0.05)
    comp["permanova"]["scheme"] = "within_blocks"
    result = run_methods(comp=comp)
    p = paragraph(result, "Comparability")
    assert (
        "Equivalence of B with the reference A was tested per gene with two one-sided tests (TOST)"
        in p
    )
    assert "margin of ±1 log2 fold change" in p and "at an adjusted p-value below 0.05" in p
    assert "PERMANOVA [5] on Euclidean distances" in p
    assert "with 999 permutations (labels permuted within donors; seed 7)" in p
    assert "were tested with PERMDISP" in p
    assert "ISCT minimal criteria" in p and "REML" in p
    assert {"tost", "permanova", "permdisp", "isct"} <= cited(result)


def test_permutations_zero_claims_no_p_value():
    comp = fake_comparability(SAMPLES)
    comp["settings"]["permutations"] = 0
    comp["permanova"].update(permutations=0, p_value=None)
    comp["permdisp"].update(permutations=0, p_value=None)
    p = paragraph(run_methods(comp=comp), "Comparability")
    assert "measured (pseudo-F and R²) with PERMANOVA" in p
    assert "tested with PERMANOVA" not in p and "tested with PERMDISP" not in p
    assert p.count("no permutations were run, so no p-value was computed") == 2
    assert "999 permutations" not in p


def test_skipped_permutation_tests_are_said_not_cited():
    comp = fake_comparability(SAMPLES)
    comp["permanova"] = {"skipped": "one product per group"}
    comp["permdisp"] = None
    result = run_methods(comp=comp)
    assert "PERMANOVA was not computed: one product per group." in text(result)
    assert not cited(result) & {"permanova", "permdisp"}


def test_skipped_equivalence_is_said_not_cited():
    comp = fake_comparability(SAMPLES)
    comp["equivalence"] = [
        {"name": "x", "target": "B", "reference": "A", "skipped": "too few products in B"}
    ]
    result = run_methods(comp=comp)
    assert "Equivalence of B with A was not tested: too few products in B." in text(result)
    assert "tost" not in cited(result)


def test_wald_default_text():
    p = paragraph(run_methods(), "Differential expression")
    assert "using the design ~ cohort and Wald tests for the contrast B versus A (cohort)." in p
    assert "genes with adjusted p-value below 0.1 are called up or down." in p
    assert "likelihood" not in p and "lfcThreshold" not in p


def test_lrt_is_not_called_wald():
    de = {**DE_WALD, "test": "lrt", "reduced": "~ 1"}
    p = paragraph(run_methods(de=[de]), "Differential expression")
    assert "Wald" not in p
    assert "likelihood ratio tests of the design ~ cohort against the reduced design ~ 1" in p
    assert "(log2 fold changes reported for the contrast B versus A (cohort))." in p


@pytest.mark.parametrize(
    ("alt", "expected", "call"),
    [
        ("greaterAbs", "|log2 fold change| > 1", "are called up or down."),
        ("lessAbs", "|log2 fold change| < 1", "are shown to change by less than 1 log2"),
    ],
)
def test_threshold_tests(alt: str, expected: str, call: str):
    de = {**DE_WALD, "lfc_threshold": 1.0, "alt_hypothesis": alt, "alpha": 0.05}
    p = paragraph(run_methods(de=[de]), "Differential expression")
    assert f"Wald tests of the alternative {expected} (lfcThreshold 1, altHypothesis {alt})" in p
    assert f"genes with adjusted p-value below 0.05 {call}" in p


def test_engine_comes_from_the_run():
    pyd = run_methods(engine="pydeseq2")
    assert "PyDESeq2 0.5.4 [3], a Python implementation of DESeq2 [1]" in text(pyd)
    assert "pydeseq2" in cited(pyd)
    own = run_methods(engine="mscseq")
    assert "engine 'mscseq'" in text(own) and "pydeseq2" not in cited(own)
    unknown = run_methods(engine=None)  # nothing recorded: no engine is named
    assert "PyDESeq2" not in text(unknown) and "engine '" not in text(unknown)
    assert "tested with the DESeq2 method [1]" in text(unknown)


def test_pydeseq2_threshold_caveat():
    de = {**DE_WALD, "lfc_threshold": 1.0, "alt_hypothesis": "lessAbs"}
    assert "to a design coefficient" in text(run_methods(de=[de], engine="pydeseq2"))
    for kw in ({"de": [de], "engine": "mscseq"}, {"engine": "pydeseq2"}):
        assert "design coefficient" not in text(run_methods(**kw))


def test_engine_from_anndata_when_run_info_has_no_parameters():
    summary = {"design": "~ cohort", "de": [DE_WALD], "dimensions": {}}
    uns = {"mscseq": {"params": {"engine": "pydeseq2", "design": "~ cohort"}}}
    result = methods(summary, {}, uns=uns, comparability=None)
    assert "PyDESeq2" in text(result)
    assert "not part of this run" in paragraph(result, "Comparability")


def test_no_contrast_no_de_paragraph():
    result = run_methods(de=())
    assert "Differential expression" not in text(result) and "bh" not in cited(result)


def test_h5ad_form_of_the_block():
    """From ``mscseq.h5ad``: ``None`` parts are dropped and lists of records become ``{"0": ...}``."""
    comp = copy.deepcopy(fake_comparability(SAMPLES))
    comp["equivalence"] = {str(i): e for i, e in enumerate(comp["equivalence"])}
    result = run_methods(comp=comp)
    assert "tost" in cited(result)


def test_report_of_an_lrt_run_without_group(tmp_path: Path, example_dir: Path):
    """Through the real CLI: ``--test lrt`` and no ``--group`` (the block holds empty group parts)."""
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "mscseq", "compare", str(example_dir / "counts.tsv.gz"),
           "--samples", str(example_dir / "samples.tsv"), "--design", "~ cohort",
           "--contrast", "cohort,B,A", "--test", "lrt", "--reduced", "~ 1",
           "--outdir", str(out), "--quiet"]  # fmt: skip
    subprocess.run(cmd, check=True)
    html = (out / "report.html").read_text(encoding="utf-8")
    methods_html = html[html.index('<section id="methods"') :]
    methods_html = methods_html[: methods_html.index("</section>")]
    plain = re.sub(r"<[^>]+>", "", methods_html).split("Decision rule:")[
        0
    ]  # the rule names every test
    assert "likelihood ratio tests of the design ~ cohort against the reduced design ~ 1" in plain
    assert "Wald" not in plain
    for absent in ("TOST", "PERMANOVA", "PERMDISP"):
        assert absent not in plain
    for reference in ("Schuirmann", "Anderson MJ"):
        assert reference not in html


def test_the_score_tolerance_is_one_value_or_each_panel_s_own():
    """A protocol that gives a panel its own score tolerance is not reported with the first panel's."""
    from mscseq.report.tiers import score_tolerance

    same = [{"panel": "senescence", "tau": 0.35}, {"panel": "isct_identity", "tau": 0.35}]
    assert score_tolerance(same) == "0.35"
    own = [{"panel": "senescence", "tau": 0.5}, {"panel": "isct_identity", "tau": 0.35}]
    text = score_tolerance(own)
    assert "0.5" in text and "0.35" in text and text.index("0.5") < text.index("0.35")
    assert score_tolerance([]) is None and score_tolerance(None) is None
