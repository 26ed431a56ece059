"""The simulation study's v2 machinery: the rule adapter, resumable runs, the targets tables."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from simstudy import rules, runner, scenarios, tables

CALLS: list[dict] = []


def stub_comparability(adata, **options):
    """A stand-in for v2 ``run_comparability`` returning the contract's block shape.

    Comparable exactly when every product is one library (6 rows for 3 vs 3), the last row
    deviating; the replicate caveat when there are more rows than products.
    """
    CALLS.append({"n_obs": adata.n_obs, **options})
    names = [str(s) for s in adata.obs_names]
    replicated = adata.n_obs > 6
    statuses = ["conforming"] * (len(names) - 1) + ["deviating"]
    if replicated:
        statuses[0] = "not_assessable"
    attribute = {
        "panel": "licensing_potency",
        "n_genes": 12,
        "margin": 0.5,
        "estimate": -0.1,
        "se": 0.08,
        "df": 9.3,
        "ci_low": -0.25,
        "ci_high": 0.05,
        "p_equivalence": 0.01,
        "result": "equivalent",
        "n_needed": None,
        "method": "Welch TOST",
    }
    block = {
        "verdict": "inconclusive" if replicated else "comparable",
        "question": "groups" if options.get("group") else "single_group",
        "reasons": ["the decisive reason"],
        "comparisons": [
            {
                "name": "B_vs_A",
                "target": "B",
                "reference": "A",
                "verdict": "comparable",
                "tier1": {"result": "pass", "attributes": [attribute], "n_needed": None},
                "tier2": {
                    "result": "pass",
                    "n_genes": 900,
                    "margin": 1.0,
                    "f0": 0.01,
                    "estimate": 0.0004,
                    "lower": 0.0,
                    "upper": 0.003,
                    "n_beyond": 4,
                    "n_shown_beyond": 0,
                    "n_needed": None,
                    "method": "stub",
                },
                "n_needed": 7 if replicated else None,
            }
        ],
        "single_group": None,
        "products": [
            {"product": s, "group": "A", "status": st}
            for s, st in zip(names, statuses, strict=True)
        ],
        "confounders": {"batch": {"column": None, "status": "none"}},
        "caveats": ["libraries look like replicates; rerun with --product product"]
        if replicated
        else [],
    }
    return block


STUB_RULE = partial(rules.v2_rule, compare=stub_comparability)


def test_v2_outcome_maps_the_contract_block():
    obs = pd.DataFrame({"product": ["P01", "P01", "P02", "P02"]}, index=["a", "b", "c", "d"])
    block = {
        "verdict": "not_comparable",
        "reasons": ["x" * 500],
        "comparisons": [
            {
                "tier1": {
                    "result": "fail",
                    "attributes": [
                        {
                            "panel": "licensing_potency",
                            "estimate": -1.4,
                            "ci_low": -1.8,
                            "ci_high": -1.0,
                            "result": "different",
                        },
                        {"panel": "senescence", "result": "equivalent"},
                    ],
                },
                "tier2": {"result": "inconclusive", "lower": 0.001, "upper": 0.04, "n_genes": 10},
                "n_needed": 12,
            }
        ],
        "single_group": {
            "result": "fail",
            "split": {"p_value": 0.001, "material": True, "result": "fail"},
            "spread": {"estimate": 0.3, "lower": 0.2, "upper": 0.45, "result": "pass"},
        },
        "products": [
            {"product": "a", "status": "conforming"},
            {"product": "b", "status": "deviating"},
            {"product": "c", "status": "not_assessable"},
            {"product": "d", "status": "conforming"},
        ],
        "caveats": ["depth differs", "rerun with --product donor"],
        "confounders": {"batch": {"status": "aliased"}},
        "settle": ["about 12 products per group would give 80 % power", "screening needs peers"],
    }
    out = rules.v2_outcome(block, obs)
    assert out["verdict"] == "not_comparable"
    assert out["products"] == {"P01": "deviating", "P02": "not_assessable"}
    assert out["replicate_caveat"] is True
    d = out["diagnostics"]
    assert set(d) == set(rules.DIAGNOSTICS)
    assert d["tier1"] == "fail" and d["tier1_not_equivalent"] == "licensing_potency:different"
    assert d["potency_estimate"] == -1.4 and d["tier2_upper"] == 0.04 and d["n_needed"] == 12
    assert d["split_p"] == 0.001 and d["spread_upper"] == 0.45 and d["batch_status"] == "aliased"
    assert d["n_deviating"] == 1 and d["n_not_assessable"] == 1 and len(d["reason"]) == 160
    assert (
        d["settle"] == "about 12 products per group would give 80 % power / screening needs peers"
    )
    block["caveats"] = []
    assert rules.v2_outcome(block, obs)["replicate_caveat"] is False


def test_v2_options_follow_the_cell():
    batch = scenarios.cell("batch_aliased", 4, 0.35)
    assert rules.v2_options(batch, 5) == {
        "group": "group",
        "reference": "A",
        "batch": "batch",
        "pair": None,
        "permutations": 0,
        "descriptive": False,
        "seed": 5,
    }
    paired = rules.v2_options(scenarios.cell("paired_equivalent", 3, 0.35), 2**40 + 3)
    assert paired["pair"] == "donor" and paired["batch"] is None and paired["seed"] == 3
    single = rules.v2_options(scenarios.cell("single_homogeneous", 10, 0.35), 1)
    assert single["group"] is None and single["reference"] is None
    assert rules.product_column(scenarios.cell("replicate_libraries_x3", 3, 0.35)) == "product"
    assert (
        rules.product_column(scenarios.cell("replicate_libraries_x3_no_product", 3, 0.35)) is None
    )
    assert rules.product_column(scenarios.cell("equivalent", 3, 0.35)) is None


def test_options_unknown_to_comparability_are_dropped_only_when_optional():
    options = rules._known_options(
        {"group": "g", "product": "p", "descriptive": False, "batch": None}
    )
    from dataclasses import fields

    from mscseq.options import ComparabilityOptions

    names = {f.name for f in fields(ComparabilityOptions)}
    assert ("product" in options) == ("product" in names)
    assert ("descriptive" in options) == ("descriptive" in names)
    assert options["group"] == "g" and "batch" in options


def test_study_grid_and_paired_seeds():
    assert set(scenarios.DESCRIPTIONS) == set(scenarios.SCENARIOS)
    grid = scenarios.study_grid()
    keys = [c.key for c in grid]
    assert len(keys) == len(set(keys)) == 168
    by_key = {c.key: c for c in grid}
    for c in grid:
        if c.seed_key:  # every paired cell's base is in the grid and shares its seeds
            assert c.seed_key in by_key
            assert runner.run_seed(c, 7) == runner.run_seed(by_key[c.seed_key], 7)
    assert runner.run_seed(by_key["equivalent|n3|sd0.35"], 0) != runner.run_seed(
        by_key["equivalent|n4|sd0.35"], 0
    )
    singles = {c.spec.n_products for c in grid if c.scenario in scenarios.SINGLE}
    assert singles == {20, 40}
    assert {c.n for c in grid if c.scenario.startswith("paired_")} == {3, 4, 6}
    assert {c.donor_sd for c in grid if c.scenario == "gray_score_1.25"} == {0.2, 0.35, 0.5}
    assert {c.donor_sd for c in grid if c.scenario == "sex_imbalance"} == {0.35}
    # run r of a paired cell simulates the same donors as run r of its base
    from simstudy.generator import simulate
    from simstudy.profile import build_profile, synthetic_pooled

    profile = build_profile(3000, pooled=synthetic_pooled(6000))
    low, equal = by_key["depth_low_10M|n3|sd0.35"], by_key["depth_equal_20M|n3|sd0.35"]
    a = simulate(low.spec, profile, runner.run_seed(low, 1)).truth["donor_effects"]
    b = simulate(equal.spec, profile, runner.run_seed(equal, 1)).truth["donor_effects"]
    np.testing.assert_array_equal(a, b)


def test_tasks_are_interleaved_and_skip_done_runs():
    cells = [scenarios.cell("equivalent", n, 0.35) for n in (3, 4)]
    tasks = runner.tasks_of(cells, 5, chunk=2)
    assert [(c.n, r) for c, r in tasks] == [
        (3, 0),
        (3, 1),
        (4, 0),
        (4, 1),
        (3, 2),
        (3, 3),
        (4, 2),
        (4, 3),
        (3, 4),
        (4, 4),
    ]
    left = runner.tasks_of(cells, 5, chunk=2, done={(cells[0].key, 0), (cells[1].key, 4)})
    assert len(left) == 8 and (cells[0], 0) not in left and (cells[1], 4) not in left


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """2 runs of 3 cells through the v2 adapter with the stub, appended to a runs TSV."""
    CALLS.clear()
    cells = [
        scenarios.cell("equivalent", 3, 0.35),
        scenarios.cell("replicate_libraries_x3", 3, 0.35),
        scenarios.cell("replicate_libraries_x3_no_product", 3, 0.35),
    ]
    path = tmp_path_factory.mktemp("sim") / "runs.tsv"
    runs = runner.run_cells(cells, 2, jobs=1, rule=STUB_RULE, n_genes=3000, out=path)
    return cells, path, runs, list(CALLS)


def test_v2_adapter_collapses_products_as_the_pipeline(study):
    cells, _, runs, calls = study
    assert len(runs) == 6 and (runs["error"].fillna("") == "").all()
    assert list(runs.columns) == list(runner.COLUMNS)
    # equivalent: 6 products; --product: 18 libraries summed into 6 products; without: 18 rows
    assert [c["n_obs"] for c in calls] == [6, 6, 6, 6, 18, 18]
    assert all(
        c["group"] == "group" and c["reference"] == "A" and c["permutations"] == 0 for c in calls
    )
    by_cell = runs.set_index(["cell", "run"])
    assert (
        runs.loc[runs["scenario"] != "replicate_libraries_x3_no_product", "verdict"] == "comparable"
    ).all()
    nop = runs[runs["scenario"] == "replicate_libraries_x3_no_product"]
    assert (nop["verdict"] == "inconclusive").all() and nop["replicate_caveat"].all()
    # products take their worst library: P01 not assessable, P06 deviating -> 1 clean deviating
    assert (nop["clean_deviating"] == 1).all() and (nop["clean_not_assessable"] == 1).all()
    assert (runs["tier2_upper"] == 0.003).all() and (runs["tier1"] == "pass").all()
    assert list(nop["n_needed"]) == [7, 7]
    seeds = by_cell["seed"]
    assert seeds[(cells[0].key, 1)] == seeds[(cells[1].key, 1)] == seeds[(cells[2].key, 1)]


def test_runs_resume_without_repeating(study):
    cells, path, runs, _ = study
    text = path.read_text()
    path.write_text(text + "equivalent|n3|sd0.35\tequiv")  # a run killed mid-write
    CALLS.clear()
    more = runner.run_cells(cells, 3, jobs=1, rule=STUB_RULE, n_genes=3000, out=path)
    assert len(CALLS) == 3  # only run 2 of each cell
    assert len(more) == 9 and not more.duplicated(["cell", "run"]).any()
    assert list(more["run"]) == [0, 1, 2] * 3
    pd.testing.assert_frame_equal(
        more[more["run"] < 2].drop(columns=["seconds", "cpu_seconds"]).reset_index(drop=True),
        runs.drop(columns=["seconds", "cpu_seconds"]).reset_index(drop=True),
    )
    assert path.read_text().count("\n") == 10


def test_tables_and_targets(study):
    _, _, runs, _ = study
    table = runner.tally(runs).set_index("scenario")
    assert table.loc["equivalent", "p_comparable"] == 1.0
    assert table.loc["equivalent", "p_comparable_lo"] == pytest.approx(0.025**0.5)
    assert table.loc["replicate_libraries_x3_no_product", "replicate_caveat"] == 1.0
    assert table.loc["replicate_libraries_x3_no_product", "inconclusive_with_n_needed"] == 1.0
    assert table.loc["equivalent", "false_deviating"] == pytest.approx(1 / 6)
    assert table.loc["equivalent", "runs_false_deviating"] == 1.0
    t = tables.targets(runs)
    status = t.set_index(["target", "cell"])["status"]
    same = "--product: k libraries per product give the single-library verdict (same seeds)"
    assert status[(same, "replicate_libraries_x3|n3|sd0.35")] == "met"
    assert (
        status[
            (
                "without --product: replicate caveat ≥ 99 %",
                "replicate_libraries_x3_no_product|n3|sd0.35",
            )
        ]
        == "met"
    )
    assert (
        status[
            (
                "equivalent (gene SD ≤ 0.35): comparable ≥ 80 % at 10, ≥ 50 % at 6",
                "equivalent|n3|sd0.35",
            )
        ]
        == "reported"
    )
    assert status[("clean products called deviating ≤ 1 % (per product)", "all cells")] == "not met"
    assert status[("no run fails", "all cells")] == "met"
    text, _, _ = tables.report(runs, title="stub")
    assert text.startswith("## stub") and "| equivalent | 3 | 0.35 | comparable | 2 |" in text
    assert "| without --product: replicate caveat ≥ 99 % | 1 / 1 | — |" in text
    assert "| replicate_libraries_x3_no_product | comparable | the same libraries" in text


def test_not_higher_is_one_sided_and_paired():
    up = pd.DataFrame(
        {
            "verdict": ["comparable"] * 10 + ["inconclusive"] * 10,
            "verdict_base": ["inconclusive"] * 20,
            "seed": range(20),
            "seed_base": range(20),
        }
    )
    assert tables.not_higher_p(up) == pytest.approx(0.5**10)
    down = up.rename(columns={"verdict": "verdict_base", "verdict_base": "verdict"})
    assert tables.not_higher_p(down) == 1.0
    unpaired = up.assign(seed_base=np.arange(20) + 100)
    assert 0 < tables.not_higher_p(unpaired) < 0.01
