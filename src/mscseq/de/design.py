"""Design formulas and contrasts: parsing and validation with clear messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mscseq.de.formula import Formula, parse_formula
from mscseq.errors import MscseqError, first_names
from mscseq.io.sheet import check_filled

_SAFE = re.compile(r"[^A-Za-z0-9.\-]+")


@dataclass(frozen=True)
class Contrast:
    """A two-level comparison: log2 fold change of ``target`` over ``reference`` in ``variable``.

    ``target`` and ``reference`` empty: a continuous covariate (log2 fold change per unit). ``design``
    is the contrast's own design formula (nf-core contrasts sheets with blocking; ``None``: the run's
    ``--design``) and ``label`` its name from such a sheet (``None``: built from the levels).
    """

    variable: str
    target: str
    reference: str
    design: str | None = None
    label: str | None = None

    @property
    def continuous(self) -> bool:
        """True for a continuous covariate: the log2 fold change per unit of ``variable``."""
        return not self.target and not self.reference

    @property
    def text(self) -> str:
        """The ``--contrast`` text: ``VAR,TARGET,REFERENCE``, or ``VAR`` for a continuous covariate."""
        if self.continuous:
            return self.variable
        return f"{self.variable},{self.target},{self.reference}"

    @property
    def name(self) -> str:
        """File-safe name ``<VAR>_<TARGET>_vs_<REFERENCE>`` (``<VAR>`` for a continuous covariate)."""
        if self.label:
            return _SAFE.sub("_", self.label)
        if self.continuous:
            return _SAFE.sub("_", self.variable)
        parts = [_SAFE.sub("_", p) for p in (self.variable, self.target, self.reference)]
        return f"{parts[0]}_{parts[1]}_vs_{parts[2]}"

    @classmethod
    def parse(cls, text: str) -> Contrast:
        """Parse ``"VAR,TARGET,REFERENCE"``, or ``"VAR"`` for a numeric (continuous) sheet column.

        Raises
        ------
        MscseqError
            When the text does not have three (or one) non-empty comma-separated parts.

        """
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) == 1 and parts[0]:
            return cls(parts[0], "", "")
        if len(parts) != 3 or not all(parts):
            msg = (
                f"--contrast {text!r}: expected VARIABLE,TARGET,REFERENCE (three names separated by commas, "
                "e.g. 'condition,treated,control'), or VARIABLE alone for a numeric column (the log2 fold "
                "change per unit, e.g. 'days')"
            )
            raise MscseqError(msg)
        if parts[1] == parts[2]:
            msg = f"--contrast {text!r}: target and reference are the same level"
            raise MscseqError(msg)
        return cls(*parts)


def check_contrast_names(contrasts, *, option: str = "--contrast") -> None:
    """Refuse contrasts whose file names (:attr:`Contrast.name`) would be the same.

    ``'x,a b,c'`` and ``'x,a_b,c'`` both become ``x_a_b_vs_c``, and ``x_A_vs_c`` and ``x_a_vs_c`` are one file
    on case-insensitive file systems (macOS, Windows): one table would overwrite the other.

    Parameters
    ----------
    contrasts
        The run's contrasts (``Contrast`` objects).
    option
        The option the contrasts come from, for messages (``--contrast``, ``--group``).

    Raises
    ------
    MscseqError
        Naming both contrasts and the name they share.

    """
    seen: dict[str, Contrast] = {}
    for c in contrasts:
        key = c.name.casefold()
        other = seen.get(key)
        if other is None:
            seen[key] = c
            continue
        a = other.text
        b = c.text
        why = (
            "(characters other than letters, digits, '.' and '-' become '_', and file names ignore case on "
            "macOS and Windows); rename a level in the sample sheet so that the two differ"
        )
        if a == b:
            msg = f"{option} {a!r} is given twice; list each contrast once"
        elif option == "--group":
            msg = (
                f"--group {c.variable!r}: levels {other.target!r} and {c.target!r} would both be written as "
                f"{c.name!r} {why}"
            )
        else:
            msg = f"{option} {a!r} and {b!r} would both be written as {c.name!r} {why}"
        raise MscseqError(msg)


def formula_variables(formula: str, *, option: str = "--design") -> list[str]:
    """Sheet columns a formula refers to, in order of appearance (syntax checked).

    Parameters
    ----------
    formula
        A Wilkinson formula such as ``"~ donor + condition"`` (grammar in :mod:`mscseq.de.formula`).
    option
        Where the formula came from, for messages.

    Returns
    -------
    list of str
        Variable names.

    Raises
    ------
    MscseqError
        When the formula is not in mscseq's formula grammar.

    """
    return parse_formula(formula, option=option).variables


def build_design(
    formula: str, obs: pd.DataFrame, *, source: str = "sample sheet", option: str = "--design"
) -> pd.DataFrame:
    """Model matrix of a formula over the sample sheet, checked for full rank.

    The formula is parsed by :func:`mscseq.de.formula.parse_formula`; formulaic only ever sees the
    formula rebuilt from the parsed tree over names checked to be sheet columns, so no text of the
    user's is evaluated.

    Parameters
    ----------
    formula
        Design formula (``"~ donor + condition"``).
    obs
        Sample sheet indexed by sample.
    source
        Name of the sheet for messages.
    option
        Where the formula came from, for messages.

    Returns
    -------
    pandas.DataFrame
        Samples × coefficients, with the model spec in ``attrs["model_spec"]``.

    Raises
    ------
    MscseqError
        Unknown columns, missing values (see :data:`mscseq.io.sheet.MISSING_VALUES`), syntax errors, rank-deficient (confounded) designs, no residual degrees of freedom.

    """
    parsed = parse_formula(formula, option=option)
    variables = parsed.variables
    missing = [v for v in variables if v not in obs.columns]
    if missing:
        msg = (
            f"{source}: design {formula!r} uses column(s) {first_names(missing)} that are not in the sheet "
            f"(columns: {first_names(obs.columns, 8)})"
        )
        raise MscseqError(msg)
    check_filled(obs, variables, sheet_path=source)
    data = obs[variables].copy()
    for col in variables:
        if isinstance(data[col].dtype, pd.CategoricalDtype):
            data[col] = data[col].astype(str)
    spec = _AdditiveSpec.build(parsed, data)
    if spec is not None:
        x = spec.get_model_matrix(data)
        columns = spec.columns
        model_spec: object = spec
    else:
        from formulaic import model_matrix

        try:
            mm = model_matrix(parsed.to_formulaic(), data, na_action="raise", context={})
        except Exception as exc:  # formulaic raises many error types
            detail = (str(exc).splitlines() or [""])[0]
            msg = f"{option} {formula!r}: cannot build the model matrix ({type(exc).__name__}: {detail})"
            raise MscseqError(msg) from exc
        x = np.asarray(mm, dtype=np.float64)
        columns = [str(c) for c in mm.columns]
        model_spec = mm.model_spec
    df = pd.DataFrame(x, index=obs.index, columns=columns)
    df.attrs["model_spec"] = model_spec
    df.attrs["formula"] = formula
    rank = np.linalg.matrix_rank(x)
    if rank < x.shape[1]:
        culprits = _dependent_columns(x, list(df.columns))
        msg = (
            f"{option} {formula!r}: the design is confounded (rank {rank} < {x.shape[1]} coefficients); "
            f"{first_names(culprits)} can be written from the other terms — drop or merge one of the variables "
            "(e.g. a donor that appears in only one group with a group variable)"
        )
        raise MscseqError(msg)
    if x.shape[0] <= x.shape[1]:
        msg = (
            f"{option} {formula!r}: {x.shape[0]} samples for {x.shape[1]} coefficients leaves no residual "
            "degrees of freedom to estimate dispersion; use a simpler design or more samples"
        )
        raise MscseqError(msg)
    return df


@dataclass(frozen=True)
class _AdditiveSpec:
    """Model spec of ``~ f1 + f2 + ...`` over string factors, coded as formulaic codes it.

    Intercept, then per factor (in formula order) one treatment-coded column ``f[T.level]`` for every
    level but the first in sorted order. Only built where the result is the same as formulaic's.
    """

    factors: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def build(cls, formula: Formula, data: pd.DataFrame) -> _AdditiveSpec | None:
        """Spec for ``formula`` over ``data``, or None when formulaic must build it.

        Parameters
        ----------
        formula
            Parsed design formula.
        data
            The formula's variables (categorical columns already converted to ``str``).

        Returns
        -------
        _AdditiveSpec or None
            None unless the formula is a sum of distinct plain names and every column holds only
            strings with at least two distinct values.

        """
        names = formula.additive_names()
        if names is None:
            return None
        factors = []
        for name in names:
            col = data[name]
            if col.dtype != object:
                return None
            values = col.tolist()
            if not all(type(v) is str for v in values):
                return None
            levels = tuple(sorted(set(values)))
            if len(levels) < 2:
                return None
            factors.append((name, levels))
        return cls(tuple(factors))

    @property
    def columns(self) -> list[str]:
        """Coefficient names, formulaic style."""
        out = ["Intercept"]
        for name, levels in self.factors:
            out.extend(f"{name}[T.{lv}]" for lv in levels[1:])
        return out

    def get_model_matrix(self, data: pd.DataFrame) -> np.ndarray:
        """Model matrix rows for ``data`` (string values of the factors).

        Parameters
        ----------
        data
            Rows with one column per factor.

        Returns
        -------
        numpy.ndarray
            ``(rows, coefficients)`` float matrix.

        """
        blocks = [np.ones((len(data), 1))]
        for name, levels in self.factors:
            values = np.asarray(data[name].astype(str), dtype=object)
            blocks.append(
                (values[:, None] == np.array(levels[1:], dtype=object)[None, :]).astype(np.float64)
            )
        return np.hstack(blocks)


def _dependent_columns(x: np.ndarray, names: list[str]) -> list[str]:
    """Columns that are linear combinations of the columns before them."""
    out = []
    kept: list[int] = []
    for j in range(x.shape[1]):
        cols = [*kept, j]
        if np.linalg.matrix_rank(x[:, cols]) == len(cols):
            kept.append(j)
        else:
            out.append(names[j])
    return out


def contrast_vector(design: pd.DataFrame, obs: pd.DataFrame, contrast: Contrast) -> np.ndarray:
    """Numeric contrast over the design's coefficients for ``target`` vs ``reference``.

    Built as the difference of the model-matrix rows of two samples that differ only in the contrast
    variable (other variables at a sample's values), so it works for any coding of the factor.

    Parameters
    ----------
    design
        Output of :func:`build_design`.
    obs
        The sample sheet.
    contrast
        The comparison.

    Returns
    -------
    numpy.ndarray
        One weight per design column.

    """
    var = contrast.variable
    formula = design.attrs.get("formula", "")
    what = f"--contrast {contrast.text}"
    if var not in obs.columns:
        if contrast.continuous:
            msg = (
                f"--contrast {contrast.text!r}: expected VARIABLE,TARGET,REFERENCE (e.g. 'condition,treated,control'), "
                f"or the name of a numeric sheet column; '{var}' is not a sheet column"
            )
        else:
            msg = f"{what}: '{var}' is not a sheet column"
        raise MscseqError(msg)
    parsed = parse_formula(formula)
    variables = parsed.variables
    if var not in variables:
        msg = f"{what}: '{var}' is not in the design {formula!r}; add it"
        raise MscseqError(msg)
    column = obs[var]
    numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    )
    if contrast.continuous:
        return _covariate_vector(design, var, numeric=numeric and var in parsed.bare, what=what)
    if numeric and var in parsed.bare:
        msg = (
            f"{what}: column '{var}' holds numbers, so the design {formula!r} treats it as a continuous "
            f"covariate; to compare its values as groups write C({var}) in the design "
            f"(e.g. '~ C({var})'), or use text levels in the sheet"
        )
        raise MscseqError(msg)
    # Levels are matched by their text ("2.5" is the value 2.5 of a numeric column).
    by_text: dict[str, object] = {}
    for v in column:
        by_text.setdefault(str(v), v)
    levels = sorted(by_text)
    absent = [lv for lv in (contrast.target, contrast.reference) if lv not in by_text]
    if absent:
        msg = f"{what}: level(s) {first_names(absent)} not found in column '{var}' (levels: {first_names(levels, 8)})"
        raise MscseqError(msg)
    spec = design.attrs["model_spec"]
    base = obs[variables].iloc[[0, 0]].copy()
    for col in variables:
        if isinstance(base[col].dtype, pd.CategoricalDtype) or base[col].dtype == object:
            base[col] = base[col].astype(str)
    if numeric:
        base[var] = [by_text[contrast.target], by_text[contrast.reference]]
    else:
        base[var] = [contrast.target, contrast.reference]
    try:
        rows = np.asarray(spec.get_model_matrix(base), dtype=np.float64)
    except Exception as exc:  # formulaic raises many error types
        detail = (str(exc).splitlines() or [""])[0]
        msg = f"{what}: cannot be coded in the design {formula!r} ({type(exc).__name__}: {detail})"
        raise MscseqError(msg) from exc
    return rows[0] - rows[1]


def _covariate_vector(design: pd.DataFrame, var: str, *, numeric: bool, what: str) -> np.ndarray:
    """The unit vector of a continuous covariate's coefficient (R's ``results(name = VAR)``)."""
    formula = design.attrs.get("formula", "")
    if not numeric:
        msg = (
            f"{what}: a contrast of one name is the log2 fold change per unit of a numeric column, "
            f"but '{var}' is not a numeric term of the design {formula!r}; give VARIABLE,TARGET,REFERENCE "
            "to compare two of its levels"
        )
        raise MscseqError(msg)
    if var not in design.columns:
        msg = (
            f"{what}: the design {formula!r} has no coefficient '{var}' alone (it enters an interaction "
            "or a transformation); use a design with the bare covariate, e.g. '~ donor + "
            + var
            + "'"
        )
        raise MscseqError(msg)
    out = np.zeros(design.shape[1])
    out[list(design.columns).index(var)] = 1.0
    return out


def as_covariates(obs: pd.DataFrame, contrasts, *, source: str = "sample sheet") -> None:
    """Make the sheet columns of one-name (continuous) contrasts numeric, in place.

    The sheet reader keeps integer-looking columns as text (donor 1, 2, 3 are labels); a contrast
    ``--contrast days`` says that ``days`` is a quantity, so its column is read as numbers.

    Parameters
    ----------
    obs
        Sample sheet indexed by sample.
    contrasts
        The run's contrasts.
    source
        Name of the sheet for messages.

    Raises
    ------
    MscseqError
        When such a column holds a value that is not a number.

    """
    for c in contrasts:
        if not c.continuous or c.variable not in obs.columns:
            continue
        column = obs[c.variable]
        if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
            column.dtype
        ):
            continue
        text = column.astype(str)
        values = pd.to_numeric(text, errors="coerce")
        bad = text[values.isna() | ~np.isfinite(values.fillna(0))]
        if len(bad):
            msg = (
                f"{source}: --contrast {c.text}: column '{c.variable}' must hold numbers for a per-unit "
                f"log2 fold change, but has {first_names(bad.unique().tolist())}"
            )
            raise MscseqError(msg)
        obs[c.variable] = values.astype(np.float64)
