"""The options of each analysis step, with every default defined once.

The CLI (``mscseq compare``, ``mscseq de``), :class:`~mscseq.pipeline.CompareParams`, the Python API
(:func:`~mscseq.de.run.run_de`, :func:`~mscseq.comparability.run_comparability`) and the docs take their
defaults from these classes; ``tests/test_options.py`` checks that the CLI's defaults equal them. Reading
options are :class:`mscseq.io.readers.ReadOptions`.

This module imports nothing heavy: the CLI reads it to show its defaults in ``--help``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mscseq.comparability.verdict import Thresholds
    from mscseq.de.design import Contrast

__all__ = ["ComparabilityOptions", "DEOptions", "with_changes"]


@dataclass(frozen=True)
class DEOptions:
    """How differential expression is fitted and tested (``mscseq compare``/``mscseq de`` options).

    Attributes
    ----------
    design
        Design formula over sheet columns (``--design``).
    contrasts
        Comparisons to test (``--contrast``); lists are stored as tuples.
    alpha
        FDR level of independent filtering and of the counts of DE genes (``--alpha``).
    engine
        DESeq2 engine: ``"mscseq"`` (vectorised, matches R DESeq2) or ``"pydeseq2"`` (``--engine``).
    threads
        Worker threads (``--threads``).
    lfc_threshold
        Log2 fold-change threshold of the test on each contrast, R's ``lfcThreshold`` (``--lfc-threshold``).
    alt_hypothesis
        ``greaterAbs``, ``lessAbs``, ``greater`` or ``less``, R's ``altHypothesis`` (``--alt-hypothesis``).
    test
        ``"wald"`` or ``"lrt"``, the likelihood-ratio test against ``reduced`` (``--test``).
    reduced
        Reduced design of the LRT, nested in ``design`` (``--reduced``).
    size_factors
        ``ratio`` (median of ratios), ``poscounts`` or ``iterate``, R's
        ``estimateSizeFactors(type=)`` (``--size-factors``; also the normalisation and VST's).
    fit_type
        Dispersion trend ``parametric``, ``local`` or ``mean``, R's ``fitType`` (``--fit-type``;
        also the VST's).
    shrink
        ``None``, ``"normal"`` or ``"apeglm"``: adds shrunken log2 fold changes, R's
        ``lfcShrink(type=)`` (``--shrink``).

    """

    design: str = "~ 1"
    contrasts: tuple[Contrast, ...] = ()
    alpha: float = 0.1
    engine: str = "mscseq"
    threads: int = 1
    lfc_threshold: float = 0.0
    alt_hypothesis: str = "greaterAbs"
    test: str = "wald"
    reduced: str | None = None
    size_factors: str = "ratio"
    fit_type: str = "parametric"
    shrink: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "contrasts", tuple(self.contrasts))
        object.__setattr__(self, "alt_hypothesis", self.alt_hypothesis or "greaterAbs")


def _default_thresholds() -> Thresholds:
    from mscseq.comparability.verdict import DEFAULT_THRESHOLDS

    return DEFAULT_THRESHOLDS


@dataclass(frozen=True)
class ComparabilityOptions:
    """How the products are compared (the comparability options of ``mscseq compare``).

    Attributes
    ----------
    group
        Sheet column whose levels are compared (``--group``); ``None`` compares products only.
    reference
        Reference level of ``group`` (``--reference``; ``None``: the level with the most products).
    margin
        Equivalence margin, |log2 fold change| (``--margin``).
    alpha
        FDR level of the equivalence and beyond-margin tests (``--alpha``, shared with DE).
    panels
        Extra panel TSV files (``--panel``); lists are stored as tuples.
    permutations
        Permutations of PERMANOVA and PERMDISP (``--permutations``).
    seed
        Seed of the permutations (``--seed``).
    engine
        DESeq2 engine of the equivalence tests (``--engine``, shared with DE).
    threads
        Worker threads (``--threads``).
    design
        The run's design; the equivalence tests use it when it contains ``group`` (else ``~ <group>``).
    donor
        Donor column (``None``: found by name, see :data:`mscseq.comparability.variance.DONOR_COLUMNS`).
    thresholds
        Thresholds of the decision rule (:class:`mscseq.comparability.verdict.Thresholds`).
    size_factors, fit_type
        Size-factor type and dispersion trend of the equivalence fits (``--size-factors``,
        ``--fit-type``, shared with DE).

    """

    group: str | None = None
    reference: str | None = None
    margin: float = 1.0
    alpha: float = DEOptions.alpha
    panels: tuple[str | Path, ...] = ()
    permutations: int = 999
    seed: int = 20240601
    engine: str = DEOptions.engine
    threads: int = DEOptions.threads
    design: str | None = None
    donor: str | None = None
    thresholds: Thresholds = field(default_factory=_default_thresholds)
    size_factors: str = DEOptions.size_factors
    fit_type: str = DEOptions.fit_type

    def __post_init__(self) -> None:
        object.__setattr__(self, "panels", tuple(self.panels))


_Options = TypeVar("_Options", DEOptions, ComparabilityOptions)


def with_changes(
    options: _Options | None, cls: type[_Options], changes: dict[str, Any]
) -> _Options:
    """``options`` (default: ``cls()``) with the fields named in ``changes`` replaced.

    Lets the API be called either with an options object or with keyword arguments, e.g.
    ``run_de(adata, design="~ cohort", contrasts=[...])``, without a second list of defaults.

    Raises
    ------
    TypeError
        A keyword that is not a field of ``cls``.

    """
    base = cls() if options is None else options
    if not isinstance(base, cls):
        msg = f"expected {cls.__name__}, got {type(base).__name__}"
        raise TypeError(msg)
    unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        msg = f"{cls.__name__} has no option(s) {', '.join(unknown)}"
        raise TypeError(msg)
    return dataclasses.replace(base, **changes) if changes else base
