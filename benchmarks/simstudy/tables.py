"""The issue-13 targets checked on a study's runs, and the markdown for ``docs/comparability.md``.

:func:`targets` gives one row per (target, cell): the measure, its value with a 95 % Clopper–Pearson
interval, the threshold and ``met`` / ``not met`` / ``reported`` (no target, e.g. power at 3–4 per group)
/ ``no runs`` (the cell is not in the runs). Targets apply to the point estimate unless the issue
says "upper bound". Comparisons between cells (lower depth, a more heterogeneous reference, 10 M vs
30 M reads, ``--product``) pair run ``r`` of one cell with run ``r`` of its base cell: both share their
seeds (:data:`simstudy.scenarios.PAIRED_WITH`), so they simulate the same donors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from simstudy.runner import clopper_pearson, tally
from simstudy.scenarios import TAU

ALPHA = 0.05
#: Truly different scenarios: false ``comparable`` ≤ 5 % (upper bound) at every n and SD.
DIFFERENT = (
    "different_2pct_1.5",
    "different_10pct_1.5-3",
    "potency_program_-1.5",
    "paired_potency_-1.5",
    "contaminated_product",
    "single_contaminated",
)
#: Near a margin: P(comparable) ≤ α within simulation error (CP lower bound ≤ α).
GRAY_AT_MARGIN = ("gray_score_1.10", "gray_genes_1pct_1.1")
#: Beyond the margin: P(comparable) ≤ 5 % (upper bound).
GRAY_BEYOND = ("gray_score_1.25",)
COHORTS = (
    "single_cohorts_half",
    "single_cohorts_quarter",
    "single_cohorts_score_half",
    "single_cohorts_score_quarter",
)
#: (worse, base): the worse cell must not have a higher P(comparable) (one-sided paired test).
NOT_HIGHER = (
    ("depth_low_10M", "depth_equal_20M"),
    ("heterogeneous_reference_x1.5", "equivalent"),
)
TARGET_COLUMNS = ("target", "cell", "measure", "value", "interval", "threshold", "status")


def _row(
    target: str,
    cell: str,
    measure: str,
    value: float,
    interval: str,
    threshold: str,
    ok: bool | None,
) -> dict[str, Any]:
    status = "reported" if ok is None else ("met" if ok else "not met")
    return dict(
        zip(
            TARGET_COLUMNS, (target, cell, measure, value, interval, threshold, status), strict=True
        )
    )


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:.3f}, {hi:.3f}]"


def _rate_rows(
    table: pd.DataFrame, scenarios: Sequence[str], target: str, verdict: str, threshold: str, check
) -> list[dict[str, Any]]:
    rows = []
    for _, r in table[table["scenario"].isin(scenarios)].iterrows():
        p, lo, hi = r[f"p_{verdict}"], r[f"p_{verdict}_lo"], r[f"p_{verdict}_hi"]
        rows.append(
            _row(target, r["cell"], f"P({verdict})", p, _ci(lo, hi), threshold, check(r, p, lo, hi))
        )
    return rows


def paired(runs: pd.DataFrame, cell: str, base: str) -> pd.DataFrame:
    """Runs of ``cell`` beside the same-numbered runs of ``base`` (columns ``verdict``,
    ``verdict_base``, ``seed``, ``seed_base``), only runs present in both."""
    a = runs.loc[runs["cell"] == cell, ["run", "seed", "verdict"]]
    b = runs.loc[runs["cell"] == base, ["run", "seed", "verdict"]]
    return a.merge(b, on="run", suffixes=("", "_base"))


def not_higher_p(pairs: pd.DataFrame) -> float:
    """One-sided p-value of "P(comparable) is higher in the cell than in its base".

    Paired runs (same seeds): exact sign test on the discordant pairs (McNemar). Unpaired (seeds
    differ): Fisher's exact test.
    """
    from scipy.stats import binomtest, fisher_exact

    x = (pairs["verdict"] == "comparable").to_numpy()
    y = (pairs["verdict_base"] == "comparable").to_numpy()
    if len(pairs) == 0:
        return float("nan")
    if (pairs["seed"] == pairs["seed_base"]).all():
        up, down = int((x & ~y).sum()), int((~x & y).sum())
        if up + down == 0:
            return 1.0
        return float(binomtest(up, up + down, 0.5, alternative="greater").pvalue)
    table = [[int(x.sum()), int((~x).sum())], [int(y.sum()), int((~y).sum())]]
    return float(fisher_exact(table, alternative="greater")[1])


def targets(runs: pd.DataFrame, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every target of issue 13 checked on ``runs`` (one row per target and cell).

    Parameters
    ----------
    runs
        The runs table (:func:`simstudy.runner.run_cells`).
    table
        Its tally (:func:`simstudy.runner.tally`; computed when ``None``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TARGET_COLUMNS`.

    """
    table = tally(runs) if table is None else table
    rows: list[dict[str, Any]] = []
    rows += _rate_rows(
        table,
        DIFFERENT,
        "false comparable ≤ 5 % (upper bound), truly different",
        "comparable",
        "upper ≤ 0.05",
        lambda r, p, lo, hi: hi <= 0.05,
    )
    rows += _rate_rows(
        table,
        GRAY_AT_MARGIN,
        "gray zone at 1.1× margin: ≤ α within simulation error",
        "comparable",
        f"lower ≤ {ALPHA}",
        lambda r, p, lo, hi: lo <= ALPHA,
    )
    rows += _rate_rows(
        table,
        GRAY_BEYOND,
        "gray zone at 1.25× margin: ≤ 5 % (upper bound)",
        "comparable",
        "upper ≤ 0.05",
        lambda r, p, lo, hi: hi <= 0.05,
    )

    def power(r, p, lo, hi):
        if r["donor_sd"] > 0.35 or r["n"] < 6:
            return None
        return p >= (0.80 if r["n"] >= 10 else 0.50)

    eq = table[table["scenario"] == "equivalent"]
    for _, r in eq.iterrows():
        need = "≥ 0.80" if r["n"] >= 10 else "≥ 0.50" if r["n"] >= 6 else "none (power)"
        if r["donor_sd"] > 0.35:
            need = "none (SD > 0.35)"
        rows.append(
            _row(
                "equivalent (gene SD ≤ 0.35): comparable ≥ 80 % at 10, ≥ 50 % at 6",
                r["cell"],
                "P(comparable)",
                r["p_comparable"],
                _ci(r["p_comparable_lo"], r["p_comparable_hi"]),
                need,
                power(r, r["p_comparable"], 0, 0),
            )
        )
    for _, r in table[table["scenario"].isin(["equivalent", "paired_equivalent"])].iterrows():
        if r["n"] > 4 and r["scenario"] == "equivalent":
            continue
        rows.append(
            _row(
                "3–4 per group / paired: inconclusive answers say what would settle them",
                r["cell"],
                "inconclusive runs with n_needed",
                r.get("inconclusive_with_n_needed", np.nan),
                "",
                "reported",
                None,
            )
        )
        if r["scenario"] == "paired_equivalent":
            rows.append(
                _row(
                    "paired designs: power stated",
                    r["cell"],
                    "P(comparable)",
                    r["p_comparable"],
                    _ci(r["p_comparable_lo"], r["p_comparable_hi"]),
                    "none (power)",
                    None,
                )
            )
    homogeneous = table[
        (table["scenario"] == "single_homogeneous") & (table["donor_sd"] <= 0.8 * TAU)
    ]
    rows += _rate_rows(
        homogeneous,
        ["single_homogeneous"],
        "single group, homogeneous: comparable ≥ 90 %",
        "comparable",
        "≥ 0.90",
        lambda r, p, lo, hi: p >= 0.90,
    )
    rows += _rate_rows(
        table,
        COHORTS,
        "single group, hidden cohorts: not_comparable ≥ 90 %",
        "not_comparable",
        "≥ 0.90",
        lambda r, p, lo, hi: p >= 0.90,
    )
    clean = table[~table["scenario"].isin(COHORTS)]
    for _, r in clean.iterrows():
        rows.append(
            _row(
                "clean products called deviating ≤ 1 % (per product)",
                r["cell"],
                "per product (per run)",
                r["false_deviating"],
                f"≤ {r['false_deviating_hi']:.3f} (runs: {r['runs_false_deviating']:.3f})",
                "≤ 0.01",
                bool(r["false_deviating"] <= 0.01),
            )
        )
    k = int(runs.loc[~runs["scenario"].isin(COHORTS), "clean_deviating"].sum())
    m = int(runs.loc[~runs["scenario"].isin(COHORTS), "n_clean"].sum())
    if m:
        lo, hi = clopper_pearson(k, m)
        rows.append(
            _row(
                "clean products called deviating ≤ 1 % (per product)",
                "all cells",
                "per product",
                k / m,
                _ci(lo, hi),
                "≤ 0.01",
                k / m <= 0.01,
            )
        )
    for worse, base in NOT_HIGHER:
        for _, r in table[table["scenario"] == worse].iterrows():
            key = r["cell"].replace(worse, base, 1)
            pairs = paired(runs, r["cell"], key)
            if pairs.empty:
                rows.append(
                    _row(
                        f"{worse} never raises P(comparable) vs {base}",
                        r["cell"],
                        "",
                        np.nan,
                        "",
                        "",
                        None,
                    )
                    | {"status": "no runs"}
                )
                continue
            pw = float((pairs["verdict"] == "comparable").mean())
            pb = float((pairs["verdict_base"] == "comparable").mean())
            p = not_higher_p(pairs)
            rows.append(
                _row(
                    f"{worse} never raises P(comparable) vs {base}",
                    r["cell"],
                    "P(comparable) − base",
                    pw - pb,
                    f"{pw:.3f} vs {pb:.3f}, one-sided p = {p:.3g}",
                    "p ≥ 0.05",
                    bool(p >= 0.05),
                )
            )
    for scenario, base, target, need in (
        (
            "depth_10M_vs_30M",
            "depth_equal_20M",
            "depth 10 M vs 30 M agrees with equal depth ≥ 95 % (same seeds)",
            0.95,
        ),
        (
            "replicate_libraries_x3",
            "equivalent",
            "--product: k libraries per product give the single-library verdict (same seeds)",
            1.0,
        ),
    ):
        for _, r in table[table["scenario"] == scenario].iterrows():
            pairs = paired(runs, r["cell"], r["cell"].replace(scenario, base, 1))
            if pairs.empty:
                rows.append(
                    _row(target, r["cell"], "", np.nan, "", "", None) | {"status": "no runs"}
                )
                continue
            k = int((pairs["verdict"] == pairs["verdict_base"]).sum())
            lo, hi = clopper_pearson(k, len(pairs))
            rows.append(
                _row(
                    target,
                    r["cell"],
                    "same verdict",
                    k / len(pairs),
                    _ci(lo, hi),
                    f"≥ {need:.2f}",
                    k / len(pairs) >= need,
                )
            )
    rows += _rate_rows(
        table,
        ["batch_aliased"],
        "batch aliased with group: never comparable",
        "comparable",
        "= 0",
        lambda r, p, lo, hi: r["n_comparable"] == 0,
    )
    for _, r in table[table["scenario"] == "replicate_libraries_x3_no_product"].iterrows():
        rows.append(
            _row(
                "without --product: replicate caveat ≥ 99 %",
                r["cell"],
                "caveat rate",
                r["replicate_caveat"],
                f"lower {r['replicate_caveat_lo']:.3f}",
                "≥ 0.99",
                bool(r["replicate_caveat"] >= 0.99),
            )
        )
    errors = int(table["errors"].sum())
    rows.append(
        _row("no run fails", "all cells", "runs with an error", errors, "", "= 0", errors == 0)
    )
    return pd.DataFrame(rows, columns=list(TARGET_COLUMNS))


def _num(x: Any) -> str:
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    return f"{float(x):.3f}"


def _md(text: Any) -> str:
    """A table cell's text with its pipes escaped (cell keys are ``scenario|n3|sd0.35``)."""
    return str(text).replace("|", "\\|")


def markdown_targets(t: pd.DataFrame) -> str:
    """The targets table as markdown, with a summary line per target (cells met / checked)."""
    lines = ["| target | met / checked | not met |", "|---|---|---|"]
    for target, df in t.groupby("target", sort=False):
        checked = df[df["status"].isin(["met", "not met"])]
        bad = [_md(c) for c in checked.loc[checked["status"] == "not met", "cell"]]
        met = int((checked["status"] == "met").sum())
        lines.append(
            f"| {target} | {met} / {len(checked)} | {', '.join(bad) or '—'} |"
            if len(checked)
            else f"| {target} | reported | — |"
        )
    lines += [
        "",
        "| target | cell | measure | value | 95 % CI / detail | threshold | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for _, r in t.iterrows():
        lines.append(
            f"| {r['target']} | {_md(r['cell'])} | {r['measure']} | {_num(r['value'])} | "
            f"{r['interval']} | {r['threshold']} | {r['status']} |"
        )
    return "\n".join(lines)


def markdown_cells(table: pd.DataFrame) -> str:
    """Per cell: the three verdict rates with 95 % CP intervals, false deviating per product and per
    run, the replicate caveat rate, the CPU seconds per run."""
    head = (
        "| scenario | n/group | donor SD | expected | runs | comparable | not_comparable | "
        "inconclusive | false deviating / product (/ run) | caveat | CPU s/run |"
    )
    lines = [head, "|" + "---|" * 11]
    for _, r in table.iterrows():
        rates = [
            f"{r[f'p_{v}']:.3f} [{r[f'p_{v}_lo']:.3f}, {r[f'p_{v}_hi']:.3f}]"
            for v in ("comparable", "not_comparable", "inconclusive")
        ]
        lines.append(
            f"| {r['scenario']} | {r['n']} | {r['donor_sd']:g} | {r['expected']} | {r['runs']} | "
            + " | ".join(rates)
            + f" | {r['false_deviating']:.4f} ({r['runs_false_deviating']:.3f}) | "
            f"{r['replicate_caveat']:.2f} | {r['cpu_seconds_per_run']:.2f} |"
        )
    return "\n".join(lines)


def markdown_scenarios(scenarios: Sequence[str]) -> str:
    """The scenarios in the runs and their truths (:data:`simstudy.scenarios.DESCRIPTIONS`)."""
    from simstudy.scenarios import DESCRIPTIONS, SCENARIOS

    lines = ["| scenario | expected | truth |", "|---|---|---|"]
    for s in scenarios:
        lines.append(f"| {s} | {SCENARIOS[s][0]} | {DESCRIPTIONS.get(s, '')} |")
    return "\n".join(lines)


def report(
    runs: pd.DataFrame, *, title: str, notes: Sequence[str] = ()
) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The markdown (scenarios, targets, then every cell), the cell table and the targets table."""
    table = tally(runs)
    t = targets(runs, table)
    cpu = float(pd.to_numeric(runs["cpu_seconds"], errors="coerce").sum())
    parts = [
        f"## {title}",
        "",
        *notes,
        "",
        f"{len(runs)} runs in {len(table)} cells, {cpu / 3600:.2f} CPU hours in the runs "
        f"({int(table['errors'].sum())} errors). Rates with 95 % Clopper–Pearson intervals.",
        "",
        "### Scenarios",
        "",
        markdown_scenarios(list(dict.fromkeys(runs["scenario"]))),
        "",
        "### Targets",
        "",
        markdown_targets(t),
        "",
        "### Every cell",
        "",
        markdown_cells(table),
        "",
    ]
    return "\n".join(parts), table, t
