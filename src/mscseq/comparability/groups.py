"""The compared groups: ``--group`` and ``--reference`` checked against the sample sheet."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mscseq.errors import MscseqError, first_names


@dataclass(frozen=True)
class GroupSpec:
    """The group variable, its reference level and the levels compared with it."""

    variable: str
    reference: str
    targets: tuple[str, ...]
    sizes: dict[str, int]


def sheet_column(obs: pd.DataFrame, column: str, option: str) -> pd.Series:
    """A sheet column named by an option (``--group``, ``--batch``, ``--pair``), as text, every value present.

    Raises
    ------
    MscseqError
        The column is not in the sheet, or a product has no value in it.

    """
    if column not in obs.columns:
        msg = f"{option} {column!r}: not a column of the sample sheet (columns: {first_names(obs.columns, 8)})"
        raise MscseqError(msg)
    values = obs[column]
    if values.isna().any():
        missing = [str(s) for s in obs.index[values.isna().to_numpy()]]
        msg = f"{option} {column!r}: no value for sample(s) {first_names(missing)}; fill the column in the sample sheet"
        raise MscseqError(msg)
    return values.astype(str)


def group_spec(obs: pd.DataFrame, group: str, reference: str | None) -> GroupSpec:
    """Check ``--group``/``--reference`` against the sheet.

    Parameters
    ----------
    obs
        Sample sheet (indexed by sample).
    group
        Column of the sheet.
    reference
        Reference level; default: the level with the most products, ties broken alphabetically.

    Returns
    -------
    GroupSpec
        The validated choice.

    Raises
    ------
    MscseqError
        Unknown column, missing values, a single level or an unknown reference level.

    """
    labels = sheet_column(obs, group, "--group")
    sizes = labels.value_counts()
    levels = sorted(sizes.index)
    if len(levels) < 2:
        msg = f"--group {group!r}: the column has a single level ({levels[0]!r}); there is nothing to compare"
        raise MscseqError(msg)
    if reference is None:
        reference = sorted(levels, key=lambda lv: (-int(sizes[lv]), lv))[0]
    elif reference not in levels:
        msg = f"--reference {reference!r}: not a level of column {group!r} (levels: {first_names(levels, 8)})"
        raise MscseqError(msg)
    targets = tuple(lv for lv in levels if lv != reference)
    return GroupSpec(group, reference, targets, {lv: int(sizes[lv]) for lv in levels})
