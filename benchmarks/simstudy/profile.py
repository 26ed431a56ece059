"""Expression profiles for the simulation: gene means from real MSC data, and the marker genes.

The profile is the pooled composition of the undifferentiated MSC products of the six-tissue
Kuchur–Lobov data (all tissues and technical replicates summed). Those libraries have only
26k–180k reads, so the profile gives gene *means* only: spread and dispersion at real depth come
from the generator's parameters, never from these data.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
PANEL_DIR = REPO / "src" / "mscseq" / "panels"
#: Expression profile: resting umbilical-cord MSC (GSE224190 controls, FPKM). The six-tissue counts are not
#: used for profiles: most of their reads sit on the antisense strand of expressed genes (see
#: benchmarks/results/protocol_defaults.md), so their "expressed" genes are the wrong ones.
DATASET = "ucmsc_cytokine_primed_GSE224190_FPKM"
PANEL_FILES = ("isct_identity", "licensing_potency", "senescence", "proliferation")

#: Tier-1 programs: the shipped panels (their ``positive`` genes share a program effect).
TIER1_PANELS = ("isct_identity", "licensing_potency", "proliferation", "senescence")
POTENCY = "licensing_potency"

#: Sex-linked genes and their level when switched on (counts per million).
XIST = ("ENSG00000229807", "XIST", 40.0)
CHRY = (
    ("ENSG00000129824", "RPS4Y1", 60.0),
    ("ENSG00000067048", "DDX3Y", 15.0),
    ("ENSG00000012817", "KDM5D", 10.0),
    ("ENSG00000183878", "UTY", 8.0),
    ("ENSG00000198692", "EIF1AY", 10.0),
    ("ENSG00000114374", "USP9Y", 8.0),
    ("ENSG00000067646", "ZFY", 5.0),
)
#: Genotype on/off genes (homozygous deletions): ID, symbol, level when present (CPM), null frequency.
GENOTYPE = (
    ("ENSG00000134184", "GSTM1", 6.0, 0.5),
    ("ENSG00000277656", "GSTT1", 20.0, 0.2),
    ("ENSG00000197888", "UGT2B17", 3.0, 0.3),
)
#: Haematopoietic markers of a contaminating cell population (CPM in the contaminant).
CONTAMINANT = (
    ("ENSG00000081237", "PTPRC", 2000.0),
    ("ENSG00000244734", "HBB", 5000.0),
    ("ENSG00000206172", "HBA1", 3000.0),
    ("ENSG00000090382", "LYZ", 3000.0),
    ("ENSG00000204287", "HLA-DRA", 2000.0),
    ("ENSG00000169442", "CD52", 1000.0),
    ("ENSG00000102879", "CORO1A", 800.0),
    ("ENSG00000143546", "S100A8", 2000.0),
    ("ENSG00000163220", "S100A9", 2000.0),
)


@dataclass(frozen=True)
class Profile:
    """Genes of a simulated study and their baseline composition.

    Attributes
    ----------
    gene_ids, symbols
        Ensembl IDs and symbols (``""`` where unknown), one per gene.
    base
        Baseline composition (fractions summing to 1).
    programs
        Program name → gene indices (co-regulated genes). Tier-1 panels first, then synthetic ones.
    xist, chry
        Indices of XIST and of the chrY genes; ``sex_level`` their CPM when on.
    genotype
        Symbol → (index, null frequency).
    contaminant
        Composition of the contaminating population (fractions summing to 1).
    source
        Where the profile came from.

    """

    gene_ids: np.ndarray
    symbols: np.ndarray
    base: np.ndarray
    programs: dict[str, np.ndarray]
    xist: int
    chry: np.ndarray
    sex_level: np.ndarray = field(repr=False)
    genotype: dict[str, tuple[int, float]] = field(repr=False)
    contaminant: np.ndarray = field(repr=False)
    source: str = ""

    @property
    def n_genes(self) -> int:
        """Number of genes."""
        return len(self.gene_ids)


def shared_data() -> Path:
    """The shared data folder (``MSCSEQ_SHARED_DATA`` or ``../shared/data`` beside the repository)."""
    env = os.environ.get("MSCSEQ_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def read_panels() -> dict[str, list[tuple[str, str]]]:
    """Shipped panels: name → ``(gene_id, symbol)`` of their ``positive`` genes."""
    out: dict[str, list[tuple[str, str]]] = {}
    for path in (PANEL_DIR / f"{name}.tsv" for name in PANEL_FILES):
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                if row.get("direction", "positive") == "positive":
                    out.setdefault(row["panel"], []).append((row["gene_id"], row["symbol"]))
    return out


@lru_cache(maxsize=2)
def pooled_msc_counts(folder: str | None = None) -> pd.Series:
    """Mean FPKM of the three resting UC-MSC controls of GSE224190, by gene ID (relative abundances)."""
    root = Path(folder) if folder else shared_data() / DATASET
    path = root / "GSE224190_gene_FPKM.txt.gz"
    if not path.is_file():
        msg = f"{path}: the UC-MSC expression profile is not there (set MSCSEQ_SHARED_DATA)"
        raise FileNotFoundError(msg)
    table = pd.read_csv(path, sep="\t", index_col=0)
    controls = [c for c in table.columns if c.startswith("ctrl")]
    total = table[controls].mean(axis=1)
    total.index = total.index.astype(str)
    return total


def synthetic_pooled(n_genes: int = 30000, seed: int = 0) -> pd.Series:
    """A log-normal stand-in for :func:`pooled_msc_counts` (tests without the shared data)."""
    rng = np.random.default_rng(seed)
    ids = [f"ENSGSIM{i:08d}" for i in range(n_genes)]
    return pd.Series(np.floor(10 ** rng.normal(0.5, 1.0, n_genes)).clip(0), index=ids)


def build_profile(
    n_genes: int = 20000,
    *,
    pooled: pd.Series | None = None,
    n_programs: int = 40,
    program_size: int = 50,
    seed: int = 0,
) -> Profile:
    """The study's genes and baseline composition.

    Parameters
    ----------
    n_genes
        Genes in the study: the most expressed in the pooled profile, plus every panel, sex, genotype
        and contaminant gene (added if absent from the data, replacing the least expressed).
    pooled
        Pooled counts by gene ID (default: :func:`pooled_msc_counts`).
    n_programs, program_size
        Synthetic co-regulated programs drawn among the other expressed genes (≥ 10 CPM).
    seed
        Seed of the synthetic programs' membership (the profile is fixed, not per run).

    Returns
    -------
    Profile
        The genes, composition and marker indices.

    """
    source = "resting UC-MSC controls of " + DATASET
    if pooled is None:
        pooled = pooled_msc_counts()
    else:
        source = "given pooled counts"
    panels = read_panels()
    fixed: dict[str, str] = {}
    for genes in panels.values():
        fixed.update(dict(genes))
    for gid, sym, *_ in (XIST, *CHRY, *GENOTYPE, *CONTAMINANT):
        fixed[gid] = sym
    order = pooled.sort_values(ascending=False, kind="stable").index
    rest = [g for g in order if g not in fixed][: max(n_genes - len(fixed), 0)]
    ids = np.asarray(list(fixed) + rest)
    counts = pooled.reindex(ids).fillna(0.0).to_numpy(dtype=float)
    base = (counts + 0.01) / (counts + 0.01).sum() * 1e6  # CPM; silent genes keep a trace
    symbols = np.asarray([fixed.get(g, "") for g in ids])
    index = {g: i for i, g in enumerate(ids)}
    xist = index[XIST[0]]
    chry = np.asarray([index[g] for g, *_ in CHRY])
    sex_level = np.asarray([XIST[2], *(lvl for *_, lvl in CHRY)])
    base[xist] = XIST[2]
    base[chry] = sex_level[1:]
    genotype = {}
    for gid, sym, level, null in GENOTYPE:
        base[index[gid]] = level
        genotype[sym] = (index[gid], null)
    contaminant = base.copy()
    rng = np.random.default_rng(seed)
    contaminant *= 2.0 ** rng.normal(0.0, 1.5, len(base))  # another cell type's composition
    for gid, _sym, level in CONTAMINANT:
        contaminant[index[gid]] = level
    programs: dict[str, np.ndarray] = {}
    for name in TIER1_PANELS:
        programs[name] = np.asarray([index[g] for g, _ in panels.get(name, [])], dtype=int)
    for name, genes in panels.items():
        if name not in programs:
            programs[name] = np.asarray([index[g] for g, _ in genes], dtype=int)
    taken = np.zeros(len(ids), bool)
    taken[: len(fixed)] = True
    pool = np.flatnonzero(~taken & (base >= 10.0))
    n_prog = min(n_programs, len(pool) // max(program_size, 1))
    chosen = rng.permutation(pool)[: n_prog * program_size].reshape(n_prog, program_size)
    for k, genes in enumerate(chosen):
        programs[f"program{k + 1:02d}"] = np.sort(genes)
    return Profile(
        gene_ids=ids,
        symbols=symbols,
        base=base / base.sum(),
        programs=programs,
        xist=xist,
        chry=chry,
        sex_level=sex_level,
        genotype=genotype,
        contaminant=contaminant / contaminant.sum(),
        source=source,
    )


def default_profile(n_genes: int = 20000) -> Profile:
    """:func:`build_profile` on the real data, or on :func:`synthetic_pooled` when they are absent."""
    try:
        pooled_msc_counts()
    except FileNotFoundError:
        return build_profile(n_genes, pooled=synthetic_pooled(max(n_genes + 5000, 30000)))
    return build_profile(n_genes)
