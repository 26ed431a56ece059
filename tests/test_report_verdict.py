"""The report's first screen for the tiered verdict (mscseq.summary/2), rendered from the fixtures.

The fixtures in ``tests/fixtures`` are written by hand from the summary/2 contract; the report must show
verdict first, read every number from the block, and stay tolerant of missing optional keys.
"""

from __future__ import annotations

import copy
import html as htmllib
import json
import re
from pathlib import Path

import pytest

from mscseq.report.render import render_report

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> dict:
    """A fixture summary, parsed."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def text_of(html: str, section: str) -> str:
    """The visible text of one report section, tags stripped, whitespace collapsed."""
    m = re.search(rf'<section id="{section}".*?</section>', html, re.S)
    assert m, f"section {section} missing"
    text = " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", m.group(0))).split())
    return re.sub(r"\(\s+", "(", re.sub(r"\s+([,.:;)])", r"\1", text))


@pytest.fixture(scope="module")
def render(example_adata):
    """Render a summary dict through the report renderer (the example study's AnnData)."""

    def _render(summary: dict) -> str:
        return render_report(example_adata.copy(), summary=summary, run_info={})

    return _render


@pytest.fixture(scope="module")
def not_comparable(render) -> str:
    return render(load("summary_v2_not_comparable"))


def test_verdict_first_then_tiers_products_confounders(not_comparable: str) -> None:
    first = text_of(not_comparable, "overview")
    order = [
        "Not comparable",
        "Decisive: B vs A: licensing_potency score is lower in B by 1.10 log2",
        "product P09 deviates from its peers",
        "Tier 1 · critical quality attributes",
        "Tier 2 · transcriptome-wide",
        "Products",
        "Confounders",
        "Protocol",
        "sensitivity analysis",
    ]
    positions = [first.find(s) for s in order]
    assert -1 not in positions, [s for s, p in zip(order, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert "<title>mscseq report · Not comparable</title>" in not_comparable


def test_tier_tables_show_the_numbers(not_comparable: str) -> None:
    first = text_of(not_comparable, "overview")
    assert "90 % CI" in first  # from the protocol's alpha 0.05
    assert "licensing potency 12 -1.1 -1.39 to -0.807 0.5 different" in first
    assert "identity 14 0.05 -0.0598 to 0.16 0.5 equivalent" in first
    assert "fraction beyond ±1 log2" in first
    assert "9,012 0.90 % 0.20 % to 2.40 % 1.00 % inconclusive 12 14" in first


def test_products_deviating_first_with_p_values_and_drivers(not_comparable: str) -> None:
    first = text_of(not_comparable, "overview")
    assert "15 products: 14 conforming, 1 deviating, 0 not assessable (P09)" in first
    rows = re.findall(r"<tr>(.*?)</tr>", not_comparable.split('id="products-table"')[1], re.S)
    cells = [" ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in rows[1:3]]
    assert cells[0].startswith(
        "P09 B deviating 2.00e-05 3.00e-04 14 PTPRC, HLA-DRA, CD74, CIITA, IDO1"
    )
    assert "licensing potency, identity" in cells[0]
    assert cells[1].startswith("P01 A conforming")


def test_protocol_confounders_and_sensitivity(not_comparable: str) -> None:
    summary = load("summary_v2_not_comparable")
    first = text_of(not_comparable, "overview")
    assert summary["comparability"]["protocol"]["sha256"] in first
    assert "licensing potency ±0.5 log2" in first and "genes ±1 log2 with f₀ 1.00 %" in first
    assert "sequencing batch (batch): bridged" in first
    assert "ratio of median counts 1.12 (A: 21.3 M; B: 23.9 M)" in first
    assert "With P09 set aside the answer would be not comparable" in first
    assert "sensitivity analysis only; the verdict above uses every product" in first


def test_descriptive_analyses_are_labelled_outside_the_rule(not_comparable: str) -> None:
    stats = text_of(not_comparable, "statistics")
    assert "Descriptive (not in the rule): PERMANOVA and PERMDISP" in stats
    assert "Descriptive (not in the rule): similarity to the peers" in stats
    assert "Equivalence" not in stats.split("Descriptive")[0]
    assert "Outlier screening" not in stats


def test_inconclusive_says_what_would_settle_it(render) -> None:
    first = text_of(render(load("summary_v2_inconclusive")), "overview")
    assert first.index("What would settle it") < first.index("Tier 1 · critical")
    assert "8 products per group would give 80 % power at these margins" in first
    assert "licensing potency 12 -0.15 -0.534 to 0.234 0.5 inconclusive 8" in first
    assert "ratio of median counts 2.46" in first and "— unequal" in first
    assert "imbalanced between groups" in first
    assert "paired by donor: 3 pairs in both levels" in first
    assert "0 conforming, 0 deviating, 6 not assessable" in first


def test_single_group_split_and_spread(render) -> None:
    first = text_of(render(load("summary_v2_single_split")), "overview")
    assert "one group: do the products share one profile?" in first.lower()
    assert "Best two-way split result fail sizes of the two sets 7 and 8" in first
    assert "p-value (calibrated for a split chosen from the data) 0.001" in first
    assert "bounds 0.39 to 0.58 tolerance τ (log2) 0.5" in first
    assert "set 1: P01, P02, P03, P04, P05, P06, P07" in first
    assert "Tier 1 ·" not in first


def test_comparable(render) -> None:
    page = render(load("summary_v2_comparable"))
    first = text_of(page, "overview")
    assert 'class="verdict verdict-comparable"' in page
    assert "15 conforming, 0 deviating," in first
    assert "sensitivity" not in first.lower() and "What would settle it" not in first


def test_methods_text_reads_thresholds_from_the_block(render) -> None:
    s = load("summary_v2_not_comparable")
    comp = s["comparability"]
    comp["protocol"]["protocol"]["alpha"] = 0.025
    for a in comp["comparisons"][0]["tier1"]["attributes"]:
        a["margin"] = 0.7
    comp["comparisons"][0]["tier2"].update(margin=0.8, f0=0.02, n_genes=7777)
    page = render(s)
    methods = text_of(page, "methods")
    assert "95 % CI lies within its margin (identity ±0.7 log2;" in methods
    assert "one-sided level of 0.025" in methods
    assert "on 7,777 genes chosen without the group labels" in methods
    assert "exceeds ±0.8 log2" in methods and "f₀ = 2.00 %" in methods
    assert "Holm" in methods and "Descriptive analyses, not part of the decision rule" in methods
    assert "±0.5" not in methods.split("Decision rule:")[0]  # no default margin leaks in
    first = text_of(page, "overview")
    assert "95 % CI" in first and "fraction beyond ±0.8 log2" in first


def test_missing_optional_keys_still_render(render) -> None:
    s = load("summary_v2_not_comparable")
    comp = s["comparability"]
    for key in (
        "protocol",
        "confounders",
        "settle",
        "sensitivity",
        "descriptive",
        "rule",
        "caveats",
    ):
        comp.pop(key)
    comp["products"] = [
        {"product": "P01", "status": "conforming"},
        {"product": "P09", "status": "deviating"},
    ]
    comp["comparisons"][0]["tier2"] = {"result": "pass"}
    first = text_of(render(s), "overview")
    assert "Not comparable" in first
    assert (
        "attribute genes estimate (log2) CI margin" in first
    )  # no alpha recorded: no level invented
    assert "No confounder check was recorded" in first
    comp["comparisons"][0]["tier1"] = {"result": "fail"}
    assert "No attribute was recorded" in text_of(render(s), "overview")


def test_h5ad_form_of_the_block(render, example_adata) -> None:
    from mscseq.outputs import _h5ad_safe

    s = load("summary_v2_inconclusive")
    adata = example_adata.copy()
    adata.uns["comparability"] = _h5ad_safe(copy.deepcopy(s["comparability"]))
    page = render_report(
        adata, summary={k: v for k, v in s.items() if k != "comparability"}, run_info={}
    )
    first = text_of(page, "overview")
    assert "Inconclusive" in first and "8 products per group" in first
    assert "licensing potency 12 -0.15 -0.534 to 0.234 0.5 inconclusive 8" in first


def test_v1_summary_renders_the_previous_screen(render) -> None:
    first = text_of(render(load("summary_v1_example")), "overview")
    assert "1 of 15 products stands out as an outlier: P09" in first
    assert "Tier 1" not in first


def test_batch_aliased_with_group_is_shown_as_a_concern() -> None:
    from mscseq.report.tiers import confounders

    comp = {
        "confounders": {"batch": {"column": "run", "status": "aliased", "table": {}}, "pair": None}
    }
    batch, pair = confounders(comp)
    assert batch["name"] == "sequencing batch (run)" and batch["cls"] == "bad"
    assert "no comparable answer without bridging samples" in batch["text"]
    assert pair["text"] == "unpaired design (no --pair)"
    assert confounders({}) == []
