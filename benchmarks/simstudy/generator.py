"""One simulated MSC product study: seeded, vectorised negative-binomial counts with known truth.

Model, per product ``p`` and gene ``g`` (log2 scale)::

    log2 m[p, g] = log2 base[g] + b[p, g] + delta[g]·[p in group B] + cohort[g]·[p in hidden cohort 2]
                   + batch[g]·[p in batch 2] + program shifts
    b[p, g] = sd · (sqrt(rho_k) · z[p, k] + sqrt(1 − rho_k) · e[p, g])   (g in program k)
    b[p, g] = sd · e[p, g]                                                 (other genes)

``z`` and ``e`` are Student t with ``df`` degrees of freedom scaled to unit variance (heavy tails), so
the donor SD is ``sd`` for every gene and the within-program correlation of donor effects is ``rho_k``
(drawn in ``rho_range`` per program). Sex (XIST / chrY on or off) and genotype (GSTM1, GSTT1, UGT2B17
present or deleted) are switched per product. The composition is renormalised and multiplied by the
product's depth; a contaminated product is a mixture with another cell population. Counts are
negative binomial with a DESeq2-like *technical* dispersion trend ``a0 + a1 / mean`` (mean in counts
per 20 M reads). Replicate libraries of a product split its counts (gene-wise Dirichlet–multinomial
thinning), so summing a product's libraries gives exactly the product's counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simstudy.profile import Profile

MILLION = 1e6


@dataclass(frozen=True)
class StudySpec:
    """Everything one simulated study depends on (all effects in log2 units, depths in reads).

    Attributes
    ----------
    n_a, n_b
        Products in group A (reference) and group B; ``n_b = 0`` is a single group (no ``group``
        column in the sheet).
    donor_sd
        Between-product (donor) SD of every gene, log2.
    df
        Degrees of freedom of the t-distributed donor effects (``None``: normal).
    rho_range
        Range of the within-program correlation (one value per program per study).
    depth_a, depth_b
        Range of each product's total reads (uniform), per group.
    libraries
        Libraries per product (technical replicates; the product's reads are split among them).
    shift_fraction, shift_range
        Fraction of genes shifted in group B and the range of |shift| (random sign).
    small_shift
        Every gene of group B shifted by a uniform value in ``(-small_shift, small_shift)``
        (the "equivalent" truth: all within this bound).
    program_shift
        Program name → shift of its genes in group B (e.g. ``{"licensing_potency": -1.5}``).
    cohort_sizes
        Hidden cohorts within a single group, e.g. ``(10, 10)``; the second cohort carries
        ``cohort_fraction`` of genes shifted by ``cohort_range`` and ``cohort_program_shift``.
    batch
        ``"none"``, ``"aliased"`` (batch = group) or ``"random"`` (each product's batch at random).
    batch_fraction, batch_shift
        Fraction of genes shifted by ``batch_shift`` in batch 2.
    sex
        ``"random"`` (each product male or female with probability ½) or ``"imbalanced"``
        (group A all male, group B all female).
    reference_sd_factor
        Group A's donor SD is ``donor_sd × reference_sd_factor`` (a more heterogeneous reference).
    paired, pair_sd
        Split-source design: group B's product ``i`` comes from the same donor as group A's product ``i``
        (same donor effects plus a donor × process effect with SD ``pair_sd``); the sheet gets a ``donor``
        column. Needs ``n_a == n_b``.
    contaminated
        Number of contaminated products (the last ones of group B, or of the single group).
    contamination
        Fraction of the contaminated product's reads from the contaminating population.
    tech_a0, tech_a1, tech_scatter
        Technical dispersion trend ``a0 + a1 / mean`` (mean in counts at 20 M reads) and the log-normal
        scatter (SD of log) of gene-wise technical dispersions around it.
    split_concentration
        Dirichlet concentration of the split of a product's counts among its libraries (higher =
        closer to binomial thinning).

    """

    n_a: int
    n_b: int
    donor_sd: float = 0.35
    df: float | None = 5.0
    rho_range: tuple[float, float] = (0.3, 0.6)
    depth_a: tuple[float, float] = (10e6, 30e6)
    depth_b: tuple[float, float] = (10e6, 30e6)
    libraries: int = 1
    shift_fraction: float = 0.0
    shift_range: tuple[float, float] = (0.0, 0.0)
    small_shift: float = 0.0
    program_shift: tuple[tuple[str, float], ...] = ()
    cohort_sizes: tuple[int, int] | None = None
    cohort_fraction: float = 0.0
    cohort_range: tuple[float, float] = (2.0, 3.0)
    cohort_program_shift: tuple[tuple[str, float], ...] = ()
    batch: str = "none"
    batch_fraction: float = 0.10
    batch_shift: float = 0.3
    sex: str = "random"
    reference_sd_factor: float = 1.0
    paired: bool = False
    pair_sd: float = 0.1
    contaminated: int = 0
    contamination: float = 0.15
    tech_a0: float = 0.005
    tech_a1: float = 0.3
    tech_scatter: float = 0.25
    split_concentration: float = 200.0

    @property
    def n_products(self) -> int:
        """Products in the study."""
        return self.n_a + self.n_b

    @property
    def grouped(self) -> bool:
        """Whether the sheet has a ``group`` column."""
        return self.n_b > 0


@dataclass
class Study:
    """A simulated study.

    Attributes
    ----------
    counts
        Genes × libraries raw counts (index = gene ID).
    sheet
        Libraries × columns (index = sample name): ``product``, ``group`` (two groups only),
        ``batch`` (with a batch effect). Hidden truths are not in the sheet.
    gene_names
        Symbols by gene ID (``""`` where unknown).
    truth
        Per-product and per-gene truths: ``delta`` (group B − A, log2, per gene), ``rho`` (per program),
        ``products`` (DataFrame: group, cohort, sex, genotypes, contaminated, depth, batch),
        ``donor_effects`` (products × genes), ``product_counts`` (products × genes, before the split).

    """

    counts: pd.DataFrame
    sheet: pd.DataFrame
    gene_names: pd.Series
    truth: dict[str, Any] = field(default_factory=dict)


def unit_t(rng: np.random.Generator, df: float | None, size) -> np.ndarray:
    """Draws with unit variance: Student t with ``df`` degrees of freedom (> 2), or normal."""
    if df is None:
        return rng.standard_normal(size)
    return rng.standard_t(df, size) / np.sqrt(df / (df - 2.0))


def donor_effects(
    rng: np.random.Generator, profile: Profile, n: int, sd: float, df: float | None, rho: np.ndarray
) -> np.ndarray:
    """Products × genes donor effects (log2) with program correlation ``rho`` (one per program)."""
    b = unit_t(rng, df, (n, profile.n_genes))
    z = unit_t(rng, df, (n, len(profile.programs)))
    for k, idx in enumerate(profile.programs.values()):
        if len(idx):
            b[:, idx] = np.sqrt(rho[k]) * z[:, k, None] + np.sqrt(1.0 - rho[k]) * b[:, idx]
    return sd * b


def _shift(
    rng: np.random.Generator, g: int, fraction: float, lo: float, hi: float, exclude: np.ndarray
) -> np.ndarray:
    """A vector with ``fraction`` of the genes (not in ``exclude``) shifted by ±U(lo, hi)."""
    out = np.zeros(g)
    k = round(fraction * g)
    if k <= 0:
        return out
    pool = np.setdiff1d(np.arange(g), exclude)
    idx = rng.choice(pool, size=min(k, len(pool)), replace=False)
    out[idx] = rng.uniform(lo, hi, len(idx)) * rng.choice([-1.0, 1.0], len(idx))
    return out


def _program_vector(profile: Profile, shifts: tuple[tuple[str, float], ...]) -> np.ndarray:
    out = np.zeros(profile.n_genes)
    for name, value in shifts:
        out[profile.programs[name]] += value
    return out


def nb_counts(
    rng: np.random.Generator, mean: np.ndarray, dispersion: np.ndarray | float
) -> np.ndarray:
    """Negative-binomial counts (gamma–Poisson) with the given means and dispersions."""
    shape = 1.0 / np.asarray(dispersion, dtype=float)
    lam = rng.gamma(np.broadcast_to(shape, mean.shape), mean / shape)
    return rng.poisson(lam).astype(np.float64)


def technical_dispersion(
    mean20: np.ndarray, spec: StudySpec, rng: np.random.Generator
) -> np.ndarray:
    """Gene-wise technical dispersions around ``a0 + a1 / mean`` (mean in counts at 20 M reads)."""
    trend = spec.tech_a0 + spec.tech_a1 / np.maximum(mean20, 1e-3)
    return trend * np.exp(rng.normal(0.0, spec.tech_scatter, mean20.shape))


def split_libraries(
    rng: np.random.Generator, counts: np.ndarray, k: int, concentration: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split products × genes counts among ``k`` libraries per product (exact sums).

    Returns the libraries (products·k × genes, product-major) and each library's share of reads.
    """
    p, g = counts.shape
    if k == 1:
        return counts.copy(), np.ones(p)
    shares = rng.dirichlet(np.full(k, 8.0), size=p)  # library sizes vary around 1/k
    weights = rng.gamma(concentration * shares[:, None, :], 1.0, (p, g, k))
    weights /= weights.sum(axis=2, keepdims=True)
    libs = rng.multinomial(counts.astype(np.int64), weights)  # (p, g, k)
    return libs.transpose(0, 2, 1).reshape(p * k, g).astype(np.float64), shares.reshape(-1)


def simulate(spec: StudySpec, profile: Profile, seed: int) -> Study:
    """Simulate one study.

    Parameters
    ----------
    spec
        The study's design and truths.
    profile
        Genes and baseline composition (:func:`simstudy.profile.build_profile`).
    seed
        Seed; the same seed and spec give the same study.

    Returns
    -------
    Study
        Counts, sheet, gene names and truth.

    """
    root = np.random.SeedSequence(seed)
    rng, split_rng = (np.random.default_rng(s) for s in root.spawn(2))
    n, g = spec.n_products, profile.n_genes
    in_b = np.arange(n) >= spec.n_a
    rho = rng.uniform(*spec.rho_range, len(profile.programs))
    b = donor_effects(rng, profile, n, spec.donor_sd, spec.df, rho)
    b[~in_b] *= spec.reference_sd_factor
    if spec.paired:
        if spec.n_a != spec.n_b:
            msg = f"a paired design needs as many products in B as in A ({spec.n_a} vs {spec.n_b})"
            raise ValueError(msg)
        b[in_b] = b[~in_b] + spec.pair_sd * rng.standard_normal((spec.n_b, g))
    markers = np.concatenate(
        [[profile.xist], profile.chry, [i for i, _ in profile.genotype.values()]]
    ).astype(int)
    delta = _shift(rng, g, spec.shift_fraction, *spec.shift_range, markers)
    if spec.small_shift > 0:
        delta += rng.uniform(-spec.small_shift, spec.small_shift, g)
    delta += _program_vector(profile, spec.program_shift)
    log2m = np.log2(profile.base)[None, :] + b + delta[None, :] * in_b[:, None]
    cohort = np.zeros(n, dtype=int)
    cohort_delta = np.zeros(g)
    if spec.cohort_sizes is not None:
        first, second = spec.cohort_sizes
        if first + second != n:
            msg = f"cohort sizes {spec.cohort_sizes} do not add up to {n} products"
            raise ValueError(msg)
        cohort[first:] = 1
        cohort_delta = _shift(rng, g, spec.cohort_fraction, *spec.cohort_range, markers)
        cohort_delta += _program_vector(profile, spec.cohort_program_shift)
        log2m += cohort_delta[None, :] * cohort[:, None]
    batch = np.zeros(n, dtype=int)
    batch_delta = np.zeros(g)
    if spec.batch != "none":
        batch = in_b.astype(int) if spec.batch == "aliased" else rng.integers(0, 2, n)
        idx = rng.choice(g, round(spec.batch_fraction * g), replace=False)
        batch_delta[idx] = spec.batch_shift
        log2m += batch_delta[None, :] * batch[:, None]
    if spec.sex == "imbalanced":
        male = ~in_b
    else:
        male = rng.random(n) < 0.5
    m = 2.0**log2m
    sex_genes = [profile.xist, *profile.chry]
    male_on = np.asarray([0.0] + [1.0] * len(profile.chry))
    m[:, sex_genes] *= np.where(male[:, None], male_on, 1.0 - male_on)
    genotypes = {}
    for sym, (i, null) in profile.genotype.items():
        present = rng.random(n) >= null
        genotypes[sym] = present
        m[:, i] *= present
    m /= m.sum(axis=1, keepdims=True)
    contaminated = np.zeros(n, dtype=bool)
    if spec.contaminated:
        contaminated[n - spec.contaminated :] = True
        w = spec.contamination
        m[contaminated] = (1 - w) * m[contaminated] + w * profile.contaminant[None, :]
    lo = np.where(in_b, spec.depth_b[0], spec.depth_a[0])
    hi = np.where(in_b, spec.depth_b[1], spec.depth_a[1])
    depth = rng.uniform(lo, hi)
    mean = m * depth[:, None]
    disp = technical_dispersion(profile.base * 20 * MILLION, spec, rng)
    product_counts = nb_counts(rng, mean, disp[None, :])
    libs, shares = split_libraries(
        split_rng, product_counts, spec.libraries, spec.split_concentration
    )
    k = spec.libraries
    products = [f"P{i + 1:02d}" for i in range(n)]
    samples = [f"{p}_L{j + 1}" if k > 1 else p for p in products for j in range(k)]
    sheet = pd.DataFrame(
        {"product": np.repeat(products, k)}, index=pd.Index(samples, name="sample")
    )
    if spec.paired:
        donors = [f"D{i % spec.n_a + 1:02d}" for i in range(n)]
        sheet["donor"] = np.repeat(donors, k)
    if spec.grouped:
        sheet["group"] = np.repeat(np.where(in_b, "B", "A"), k)
    if spec.batch != "none":
        sheet["batch"] = np.repeat(np.where(batch == 1, "run2", "run1"), k)
    truth_products = pd.DataFrame(
        {
            "group": np.where(in_b, "B", "A"),
            "cohort": cohort,
            "sex": np.where(male, "M", "F"),
            "batch": batch,
            "contaminated": contaminated,
            "depth": depth,
            **{f"has_{s}": v for s, v in genotypes.items()},
        },
        index=pd.Index(products, name="product"),
    )
    counts = pd.DataFrame(libs.T, index=pd.Index(profile.gene_ids, name="gene_id"), columns=samples)
    return Study(
        counts=counts,
        sheet=sheet,
        gene_names=pd.Series(profile.symbols, index=profile.gene_ids),
        truth={
            "delta": delta,
            "cohort_delta": cohort_delta,
            "batch_delta": batch_delta,
            "rho": dict(zip(profile.programs, rho, strict=True)),
            "products": truth_products,
            "library_share": shares,
            "donor_effects": b,
            "product_counts": product_counts,
        },
    )


def collapse(study: Study, column: str = "product") -> pd.DataFrame:
    """Genes × products counts: the libraries of each product summed (``collapseReplicates``)."""
    keys = study.sheet[column]
    return study.counts.T.groupby(keys.to_numpy(), sort=False).sum().T


def to_anndata(study: Study):
    """The study as ``mscseq compare`` loads it (:func:`mscseq.io.dataset.to_anndata`)."""
    from pathlib import Path

    from mscseq.io.dataset import to_anndata as build
    from mscseq.io.table import CountTable

    table = CountTable(
        counts=study.counts,
        source=Path("simulated_counts.tsv"),
        gene_names=study.gene_names,
    )
    sheet = study.sheet.astype(object)
    return build(
        table, sheet, sheet_path="simulated_samples.tsv", required_columns=list(sheet.columns)
    )
