"""The options of each analysis step, with every default defined once.

The CLI (``mscseq compare``, ``mscseq de``), :class:`~mscseq.pipeline.CompareParams`, the Python API
(:func:`~mscseq.de.run.run_de`, :func:`~mscseq.comparability.run_comparability`) and the docs take their
defaults from these classes; ``tests/test_options.py`` checks that the CLI's defaults equal them. Reading
options are :class:`mscseq.io.readers.ReadOptions`.

This module imports nothing heavy: the CLI reads it to show its defaults in ``--help``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
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


@dataclass(frozen=True)
class ComparabilityOptions:
    """How the products are compared (the comparability options of ``mscseq compare``).

    The margins, tiers and thresholds of the verdict are the comparability *protocol*
    (:class:`mscseq.comparability.protocol.Protocol`), written before the data are seen; these options
    say which protocol, which columns, and the run's seed.

    Attributes
    ----------
    group
        Sheet column whose levels are compared (``--group``); ``None`` asks the single-group question.
    reference
        Reference level of ``group`` (``--reference``; overrides the protocol's). Without one, two levels
        are compared symmetrically and more than two level by level.
    protocol
        Comparability protocol YAML (``--protocol``; ``None``: the shipped default protocol).
    margin
        Gene margin, |log2 fold change| (``--margin``; ``None``: the protocol's, 1.0 by default).
    batch
        Sequencing-batch column (``--batch``): adjusted for when it bridges the groups, and no
        ``comparable`` when it is aliased with them.
    pair
        Pairing column (``--pair``): the same donor through both processes (paired tests).
    panels
        Extra panel TSV files (``--panel``); lists are stored as tuples.
    permutations
        Permutations of PERMANOVA and PERMDISP (``--permutations``; descriptive only).
    seed
        Seed of the permutations and bootstraps (``--seed``).
    design
        The run's design (its variables are the variance partition's fixed effects).
    donor
        Donor column (``None``: found by name, see :data:`mscseq.comparability.variance.DONOR_COLUMNS`).
    descriptive
        Run the descriptive Tier 3 (similarity, PERMANOVA/PERMDISP, variance partition); never in the rule.

    """

    group: str | None = None
    reference: str | None = None
    protocol: str | Path | None = None
    margin: float | None = None
    batch: str | None = None
    pair: str | None = None
    panels: tuple[str | Path, ...] = ()
    permutations: int = 999
    seed: int = 20240601
    design: str | None = None
    donor: str | None = None
    descriptive: bool = True

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
