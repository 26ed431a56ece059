"""Design formulas and contrasts: parsing and validation with clear messages."""

from __future__ import annotations

import builtins
import keyword
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError, first_names

_SAFE = re.compile(r"[^A-Za-z0-9.\-]+")
# "~ a + b + c" with plain identifiers: handled without importing formulaic (≈ 0.18 s)
_ADDITIVE = re.compile(r"~\s*[A-Za-z_][A-Za-z0-9_]*(\s*\+\s*[A-Za-z_][A-Za-z0-9_]*)*\s*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# names formulaic resolves to transforms (formulaic.transforms.TRANSFORMS), Python names and keywords:
# formulas using them go through formulaic
_RESERVED = (
    frozenset(
        "C Diff Helmert I Poly Q Sum Treatment bs cc center contr cr cs exp exp10 exp2 hashed lag log "
        "log10 log2 np numpy poly scale standardize".split()
    )
    | frozenset(dir(builtins))
    | frozenset(keyword.kwlist)
)


@dataclass(frozen=True)
class Contrast:
    """A two-level comparison: log2 fold change of ``target`` over ``reference`` in ``variable``."""

    variable: str
    target: str
    reference: str

    @property
    def name(self) -> str:
        """File-safe name ``<VAR>_<TARGET>_vs_<REFERENCE>``."""
        parts = [_SAFE.sub("_", p) for p in (self.variable, self.target, self.reference)]
        return f"{parts[0]}_{parts[1]}_vs_{parts[2]}"

    @classmethod
    def parse(cls, text: str) -> Contrast:
        """Parse ``"VAR,TARGET,REFERENCE"``.

        Raises
        ------
        MscseqError
            When the text does not have three non-empty comma-separated parts.

        """
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 3 or not all(parts):
            msg = (
                f"--contrast {text!r}: expected VARIABLE,TARGET,REFERENCE (three names separated by commas, "
                "e.g. 'condition,treated,control')"
            )
            raise MscseqError(msg)
        if parts[1] == parts[2]:
            msg = f"--contrast {text!r}: target and reference are the same level"
            raise MscseqError(msg)
        return cls(*parts)


def _additive_names(text: str) -> list[str] | None:
    """Names of a ``~ a + b + ...`` formula of plain (non-reserved) names, else None."""
    if not _ADDITIVE.fullmatch(text):
        return None
    names = _NAME.findall(text)
    return None if any(n in _RESERVED for n in names) else names


def formula_variables(formula: str) -> list[str]:
    """Sheet columns a formula refers to, in order of appearance (syntax checked).

    Parameters
    ----------
    formula
        A Wilkinson formula such as ``"~ donor + condition"``.

    Returns
    -------
    list of str
        Variable names.

    """
    text = formula.strip()
    if not text.startswith("~"):
        msg = f"--design {formula!r}: a design formula starts with '~', e.g. '~ donor + condition'"
        raise MscseqError(msg)
    try:
        names = _additive_names(text)
        if names is not None:
            required = set(names)
        else:
            from formulaic import Formula

            required = {str(v) for v in Formula(text).required_variables}
    except Exception as exc:  # formulaic raises many parser error types
        msg = f"--design {formula!r}: not a valid formula ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        raise MscseqError(msg) from exc
    # Keep the order in which the variables are written, for stable messages and tables.
    positions = {v: text.find(v) for v in required}
    names = sorted(required, key=lambda v: (positions[v] if positions[v] >= 0 else len(text), v))
    return names


def build_design(formula: str, obs: pd.DataFrame, *, source: str = "sample sheet") -> pd.DataFrame:
    """Model matrix of a formula over the sample sheet, checked for full rank.

    Parameters
    ----------
    formula
        Design formula (``"~ donor + condition"``).
    obs
        Sample sheet indexed by sample.
    source
        Name of the sheet for messages.

    Returns
    -------
    pandas.DataFrame
        Samples × coefficients, with the formulaic model spec in ``attrs["model_spec"]``.

    Raises
    ------
    MscseqError
        Unknown columns, syntax errors, rank-deficient (confounded) designs, no residual degrees of freedom.

    """
    variables = formula_variables(formula)
    missing = [v for v in variables if v not in obs.columns]
    if missing:
        msg = (
            f"{source}: design {formula!r} uses column(s) {first_names(missing)} that are not in the sheet "
            f"(columns: {first_names(obs.columns, 8)})"
        )
        raise MscseqError(msg)
    data = obs[variables].copy()
    for col in variables:
        if isinstance(data[col].dtype, pd.CategoricalDtype):
            data[col] = data[col].astype(str)
    spec = _AdditiveSpec.build(formula, data)
    if spec is not None:
        x = spec.get_model_matrix(data)
        columns = spec.columns
        model_spec: object = spec
    else:
        from formulaic import model_matrix

        try:
            mm = model_matrix(formula, data, na_action="raise")
        except Exception as exc:
            msg = f"--design {formula!r}: cannot build the model matrix ({type(exc).__name__}: {str(exc).splitlines()[0]})"
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
            f"--design {formula!r}: the design is confounded (rank {rank} < {x.shape[1]} coefficients); "
            f"{first_names(culprits)} can be written from the other terms — drop or merge one of the variables "
            "(e.g. a donor that appears in only one group with a group variable)"
        )
        raise MscseqError(msg)
    if x.shape[0] <= x.shape[1]:
        msg = (
            f"--design {formula!r}: {x.shape[0]} samples for {x.shape[1]} coefficients leaves no residual "
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
    def build(cls, formula: str, data: pd.DataFrame) -> _AdditiveSpec | None:
        """Spec for ``formula`` over ``data``, or None when formulaic must build it.

        Parameters
        ----------
        formula
            Design formula.
        data
            The formula's variables (categorical columns already converted to ``str``).

        Returns
        -------
        _AdditiveSpec or None
            None unless the formula is a sum of distinct plain names and every column holds only
            strings with at least two distinct values.

        """
        names = _additive_names(formula.strip())
        if names is None or len(set(names)) != len(names):
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
    if var not in obs.columns:
        msg = f"--contrast {var},{contrast.target},{contrast.reference}: '{var}' is not a sheet column"
        raise MscseqError(msg)
    if var not in formula_variables(formula):
        msg = f"--contrast {var},{contrast.target},{contrast.reference}: '{var}' is not in the design {formula!r}; add it"
        raise MscseqError(msg)
    levels = sorted({str(v) for v in obs[var]})
    absent = [lv for lv in (contrast.target, contrast.reference) if lv not in levels]
    if absent:
        msg = (
            f"--contrast {var},{contrast.target},{contrast.reference}: level(s) {first_names(absent)} not found "
            f"in column '{var}' (levels: {first_names(levels, 8)})"
        )
        raise MscseqError(msg)
    spec = design.attrs["model_spec"]
    variables = formula_variables(formula)
    base = obs[variables].iloc[[0, 0]].copy()
    for col in variables:
        if isinstance(base[col].dtype, pd.CategoricalDtype) or base[col].dtype == object:
            base[col] = base[col].astype(str)
    base[var] = [contrast.target, contrast.reference]
    rows = np.asarray(spec.get_model_matrix(base), dtype=np.float64)
    return rows[0] - rows[1]
