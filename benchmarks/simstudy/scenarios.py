"""The issue-13 scenarios and the design grid (truths in absolute log2 units, never the tool's margins).

A *cell* is one scenario at one design point (products per group, donor SD). Each scenario has an
expected answer used by the tallies: ``comparable`` (equivalent truth), ``not_comparable``
(a real difference, a contaminated product, an aliased batch, a hidden cohort) or ``gray`` (near a
margin: reported, with the target "P(comparable) ≤ α").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from simstudy.generator import StudySpec
from simstudy.profile import POTENCY

SIZES = (3, 4, 6, 10, 20)
DONOR_SDS = (0.2, 0.35, 0.5)
#: Gray-zone truths, written in log2 units: the default protocol's margins are 0.5 (score) and 1.0 (gene).
SCORE_GRAY = {"gray_score_1.10": 0.55, "gray_score_1.25": 0.625}
GENE_GRAY = 1.10
#: The single-group tolerance of the default protocol (log2); "homogeneous" means donor SD <= 0.8 tau.
TAU = 0.5


@dataclass(frozen=True)
class Cell:
    """One cell of the study: a scenario at a design point.

    Attributes
    ----------
    scenario
        Scenario name (see :data:`SCENARIOS`).
    n
        Products per group (two groups) or in the single group.
    donor_sd
        Donor SD per gene, log2.
    expected
        ``comparable``, ``not_comparable`` or ``gray``.
    spec
        The generator's parameters.
    seed_key
        Key of the cell whose run seeds this cell shares (``None``: its own); see :data:`PAIRED_WITH`.
    use_product
        Whether the user of the study names the product column (``--product``) when products have
        several libraries (``False``: the replicate-caveat scenario).

    """

    scenario: str
    n: int
    donor_sd: float
    expected: str
    spec: StudySpec
    seed_key: str | None = None
    use_product: bool = True

    @property
    def key(self) -> str:
        """A short unique name of the cell."""
        return f"{self.scenario}|n{self.n}|sd{self.donor_sd:g}"

    @property
    def seeds_from(self) -> str:
        """The key the run seeds derive from: the cell's own, or its paired base cell's
        (:data:`PAIRED_WITH`), so that run ``r`` of both simulates the same donors."""
        return self.seed_key or self.key


def _two(n: int, sd: float, **kw) -> StudySpec:
    return StudySpec(n_a=n, n_b=n, donor_sd=sd, **kw)


def _equivalent(n: int, sd: float, **kw) -> StudySpec:
    """Every gene's group difference within ±0.25 log2 (so every score too)."""
    return _two(n, sd, small_shift=0.25, **kw)


def _cohorts(n: int, sd: float, first: int, **kw) -> StudySpec:
    """One group of ``n`` products in two hidden cohorts, the first of ``first`` products."""
    return StudySpec(n_a=n, n_b=0, donor_sd=sd, cohort_sizes=(first, n - first), **kw)


#: scenario name → (expected answer, builder(n, donor_sd) → StudySpec).
SCENARIOS = {
    "equivalent": ("comparable", lambda n, sd: _equivalent(n, sd)),
    "different_2pct_1.5": (
        "not_comparable",
        lambda n, sd: _two(n, sd, shift_fraction=0.02, shift_range=(1.5, 1.5)),
    ),
    "different_10pct_1.5-3": (
        "not_comparable",
        lambda n, sd: _two(n, sd, shift_fraction=0.10, shift_range=(1.5, 3.0)),
    ),
    "potency_program_-1.5": (
        "not_comparable",
        lambda n, sd: _equivalent(n, sd, program_shift=((POTENCY, -1.5),)),
    ),
    "contaminated_product": ("not_comparable", lambda n, sd: _equivalent(n, sd, contaminated=1)),
    "replicate_libraries_x3": ("comparable", lambda n, sd: _equivalent(n, sd, libraries=3)),
    "replicate_libraries_x3_no_product": (
        "comparable",
        lambda n, sd: _equivalent(n, sd, libraries=3),
    ),
    "batch_aliased": ("not_comparable", lambda n, sd: _equivalent(n, sd, batch="aliased")),
    "depth_10M_vs_30M": (
        "comparable",
        lambda n, sd: _equivalent(n, sd, depth_a=(10e6, 10e6), depth_b=(30e6, 30e6)),
    ),
    "depth_equal_20M": (
        "comparable",
        lambda n, sd: _equivalent(n, sd, depth_a=(20e6, 20e6), depth_b=(20e6, 20e6)),
    ),
    "depth_low_10M": (
        "comparable",
        lambda n, sd: _equivalent(n, sd, depth_a=(10e6, 10e6), depth_b=(10e6, 10e6)),
    ),
    "sex_imbalance": ("comparable", lambda n, sd: _equivalent(n, sd, sex="imbalanced")),
    "heterogeneous_reference_x1.5": (
        "gray",  # target: P(comparable) never above the "equivalent" cell's
        lambda n, sd: _equivalent(n, sd, reference_sd_factor=1.5),
    ),
    "paired_equivalent": ("comparable", lambda n, sd: _equivalent(n, sd, paired=True)),
    "paired_potency_-1.5": (
        "not_comparable",
        lambda n, sd: _equivalent(n, sd, paired=True, program_shift=((POTENCY, -1.5),)),
    ),
    "gray_score_1.10": (
        "gray",
        lambda n, sd: _two(n, sd, program_shift=((POTENCY, -SCORE_GRAY["gray_score_1.10"]),)),
    ),
    "gray_score_1.25": (
        "gray",
        lambda n, sd: _two(n, sd, program_shift=((POTENCY, -SCORE_GRAY["gray_score_1.25"]),)),
    ),
    "gray_genes_1pct_1.1": (
        "gray",
        lambda n, sd: _two(n, sd, shift_fraction=0.01, shift_range=(GENE_GRAY, GENE_GRAY)),
    ),
    "single_homogeneous": ("comparable", lambda n, sd: StudySpec(n_a=n, n_b=0, donor_sd=sd)),
    "single_cohorts_half": (
        "not_comparable",
        lambda n, sd: _cohorts(n, sd, n // 2, cohort_fraction=0.05),
    ),
    "single_cohorts_quarter": (
        "not_comparable",
        lambda n, sd: _cohorts(n, sd, n // 4, cohort_fraction=0.05),
    ),
    "single_contaminated": (
        "not_comparable",
        lambda n, sd: StudySpec(n_a=n, n_b=0, donor_sd=sd, contaminated=1),
    ),
    "single_cohorts_score_half": (
        "not_comparable",
        lambda n, sd: _cohorts(n, sd, n // 2, cohort_program_shift=((POTENCY, -1.0),)),
    ),
    "single_cohorts_score_quarter": (
        "not_comparable",
        lambda n, sd: _cohorts(n, sd, n // 4, cohort_program_shift=((POTENCY, -1.0),)),
    ),
}

#: One line per scenario: its truth, for the report (all effects in log2 units, group B − A).
DESCRIPTIONS = {
    "equivalent": "every gene's group difference uniform in ±0.25 (so every score within 0.25)",
    "different_2pct_1.5": "2 % of genes shifted by ±1.5",
    "different_10pct_1.5-3": "10 % of genes shifted by ±U(1.5, 3)",
    "potency_program_-1.5": "equivalent, and the whole licensing/potency program 1.5 lower",
    "contaminated_product": "equivalent, and one product of B 15 % another cell population",
    "replicate_libraries_x3": "equivalent, each product sequenced as 3 libraries, --product given "
    "(same seeds as equivalent)",
    "replicate_libraries_x3_no_product": "the same libraries without --product (the caveat)",
    "batch_aliased": "equivalent, group = sequencing batch, 10 % of genes +0.3 in batch 2",
    "depth_10M_vs_30M": "equivalent, A at 10 M and B at 30 M reads (same seeds as equal depth)",
    "depth_equal_20M": "equivalent, every product at 20 M reads",
    "depth_low_10M": "equivalent, every product at 10 M reads (same seeds as equal depth)",
    "sex_imbalance": "equivalent, A all male and B all female",
    "heterogeneous_reference_x1.5": "equivalent, A's donor SD 1.5× (same seeds as equivalent)",
    "paired_equivalent": "equivalent, B's product i from A's donor i (--pair), donor × process SD 0.1",
    "paired_potency_-1.5": "paired, and the potency program 1.5 lower",
    "gray_score_1.10": "potency program 0.55 lower (1.1× the 0.5 score margin)",
    "gray_score_1.25": "potency program 0.625 lower (1.25× the score margin)",
    "gray_genes_1pct_1.1": "1 % of genes shifted by ±1.1 (1.1× the 1.0 gene margin)",
    "single_homogeneous": "one group, no structure",
    "single_cohorts_half": "one group, two hidden cohorts n/2 + n/2, 5 % of genes ±U(2, 3) apart",
    "single_cohorts_quarter": "one group, hidden cohorts n/4 + 3n/4, 5 % of genes ±U(2, 3) apart",
    "single_contaminated": "one group, one product 15 % another cell population",
    "single_cohorts_score_half": "one group, hidden cohorts n/2 + n/2, the potency program 1.0 apart "
    "(nothing else)",
    "single_cohorts_score_quarter": "one group, hidden cohorts n/4 + 3n/4, the potency program 1.0 apart",
}

#: Single-group scenarios are run at 2n products (n "per group" → the same total as two groups).
SINGLE = {name for name in SCENARIOS if name.startswith("single_")}
#: Paired cells: scenario → the base scenario whose run seeds it shares (same donors, same draws up to
#: the one change), so that the two cells are compared run by run (same n and donor SD).
PAIRED_WITH = {
    "depth_10M_vs_30M": "depth_equal_20M",
    "depth_low_10M": "depth_equal_20M",
    "heterogeneous_reference_x1.5": "equivalent",
    "replicate_libraries_x3": "equivalent",
    "replicate_libraries_x3_no_product": "equivalent",
}
#: Scenarios whose user does not name the product column (the replicate caveat's scenario).
NO_PRODUCT = {"replicate_libraries_x3_no_product"}
#: Scenarios also run at donor SD 0.2 and 0.5 in :func:`study_grid`.
SD_SCENARIOS = (
    "equivalent",
    "different_2pct_1.5",
    "different_10pct_1.5-3",
    "potency_program_-1.5",
    "gray_score_1.10",
    "gray_score_1.25",
    "gray_genes_1pct_1.1",
)
PAIRED_SIZES = (3, 4, 6)
#: Single-group scenarios of :func:`study_grid`: n = 10 and 20 "per group", i.e. 20 and 40 products.
SINGLE_SIZES = (10, 20)


def cell(scenario: str, n: int, donor_sd: float, **changes) -> Cell:
    """The cell of ``scenario`` with ``n`` products per group (single group: ``2n`` products)."""
    expected, build = SCENARIOS[scenario]
    if scenario == "single_homogeneous" and donor_sd > 0.8 * TAU:
        expected = "gray"  # beyond the "homogeneous" (SD <= 0.8 tau): no target
    spec = build(2 * n if scenario in SINGLE else n, donor_sd)
    if changes:
        spec = replace(spec, **changes)
    base = PAIRED_WITH.get(scenario)
    seed_key = f"{base}|n{n}|sd{donor_sd:g}" if base else None
    return Cell(scenario, n, donor_sd, expected, spec, seed_key, scenario not in NO_PRODUCT)


def study_grid() -> list[Cell]:
    """The grid of the operating characteristics (issue 13 targets), about 160 cells.

    Every two-group scenario at n = 3, 4, 6, 10, 20 per group and donor SD 0.35; the equivalent,
    different, potency and gray-zone scenarios (:data:`SD_SCENARIOS`) also at SD 0.2 and 0.5; the
    paired scenarios at 3, 4 and 6 donors; the single-group scenarios at 20 and 40 products.
    """
    cells = []
    for s in SCENARIOS:
        if s in SINGLE:
            sizes = SINGLE_SIZES
        elif s.startswith("paired_"):
            sizes = PAIRED_SIZES
        else:
            sizes = SIZES
        sds = DONOR_SDS if s in SD_SCENARIOS else (0.35,)
        cells += [cell(s, n, sd) for sd in sds for n in sizes]
    return cells


def full_grid() -> list[Cell]:
    """Every scenario at every size and donor SD (single group at 2n: 6–40 products, incl. 20)."""
    return [cell(s, n, sd) for s in SCENARIOS for n in SIZES for sd in DONOR_SDS]


def fast_grid() -> list[Cell]:
    """A subset for a quick baseline (31 cells, donor SD 0.35 unless stated): the equivalent scenario
    at 3, 6, 10 and 20 per group, the potency scenario at 3, 6 and 10 (both also at SD 0.2 / 0.5 with
    6), the other two-group scenarios at one or two sizes, the single-group scenarios at 20 products."""
    picks = {
        "equivalent": (3, 6, 10, 20),
        "potency_program_-1.5": (3, 6, 10),
        "different_2pct_1.5": (3, 10),
        "different_10pct_1.5-3": (3,),
        "contaminated_product": (6,),
        "replicate_libraries_x3": (3,),
        "batch_aliased": (6,),
        "depth_10M_vs_30M": (6,),
        "depth_equal_20M": (6,),
        "sex_imbalance": (3,),
        "heterogeneous_reference_x1.5": (6,),
        "paired_equivalent": (3, 6),
        "paired_potency_-1.5": (3,),
        "gray_score_1.10": (10,),
        "gray_score_1.25": (10,),
        "gray_genes_1pct_1.1": (10,),
        "single_homogeneous": (10,),
        "single_cohorts_half": (10,),
        "single_cohorts_quarter": (10,),
        "single_contaminated": (10,),
    }
    cells = [cell(s, n, 0.35) for s, sizes in picks.items() for n in sizes]
    cells += [cell(s, 6, sd) for s in ("equivalent", "potency_program_-1.5") for sd in (0.2, 0.5)]
    return cells
