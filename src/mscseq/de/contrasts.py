"""Contrasts sheets of nf-core/differentialabundance (``--contrasts FILE``), read as they are.

Two formats, told apart by the file's suffix (``.yml``/``.yaml``) or, failing that, its first line:

* CSV (or TSV): columns ``variable``, ``reference``, ``target``, optional ``blocking`` (several
  variables separated by ``;``) and ``id``. Without ``id`` the name is built as the pipeline builds it:
  ``variable_reference_target_blocking`` (an empty blocking leaves the trailing ``_``).
* YAML: ``contrasts:`` a list of entries with ``id`` and ``comparison: [variable, reference, target]``,
  optional ``blocking_factors`` (list) and ``formula``. An entry with ``make_contrasts_str`` is read when
  it is the difference of two levels of one factor of its ``formula`` (``"treatmenthND6 -
  treatmentmCherry"``); any other limma expression is refused with a message.

Each contrast keeps its own design, as the pipeline fits each: ``~ blocking + variable`` (or the
entry's ``formula``); :func:`mscseq.de.run.run_de` fits each distinct design once.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from mscseq.de.design import Contrast
from mscseq.errors import MscseqError

__all__ = ["read_contrasts_sheet"]

_REQUIRED = ("variable", "reference", "target")


def read_contrasts_sheet(path: str | Path) -> list[Contrast]:
    """The contrasts of an nf-core/differentialabundance contrasts file.

    Parameters
    ----------
    path
        CSV/TSV or YAML contrasts file.

    Returns
    -------
    list of Contrast
        One per row or entry, each with its name (``label``) and design.

    Raises
    ------
    MscseqError
        Unreadable file, missing columns or fields, empty values, unsupported ``make_contrasts_str``.

    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read the contrasts file ({exc.__class__.__name__}: {exc})"
        raise MscseqError(msg) from None
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    is_yaml = path.suffix.lower() in {".yml", ".yaml"} or first.strip().startswith("contrasts:")
    contrasts = _read_yaml(path, text) if is_yaml else _read_csv(path, text)
    if not contrasts:
        msg = f"{path}: the contrasts file lists no contrast"
        raise MscseqError(msg)
    return contrasts


def _design(variable: str, blocking: list[str]) -> str:
    """The pipeline's model: ``~ blocking1 + ... + variable``."""
    return "~ " + " + ".join([*blocking, variable])


def _contrast(
    path: Path, where: str, variable: str, reference: str, target: str, blocking: list[str]
) -> tuple[str, str, str, list[str]]:
    values = {"variable": variable, "reference": reference, "target": target}
    empty = [k for k, v in values.items() if not v]
    if empty:
        msg = f"{path}: {where}: empty {', '.join(empty)}"
        raise MscseqError(msg)
    if reference == target:
        msg = f"{path}: {where}: reference and target are the same level ({target!r})"
        raise MscseqError(msg)
    if variable in blocking:
        msg = f"{path}: {where}: blocking variable {variable!r} is the contrast's variable"
        raise MscseqError(msg)
    return variable, reference, target, blocking


def _read_csv(path: Path, text: str) -> list[Contrast]:
    first = text.splitlines()[0] if text else ""
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        msg = f"{path}: the contrasts file is empty"
        raise MscseqError(msg)
    header = [c.strip() for c in rows[0]]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        msg = (
            f"{path}: contrasts CSV lacks column(s) {', '.join(missing)} "
            f"(nf-core/differentialabundance: variable,reference,target[,blocking][,id]; found: {', '.join(header)})"
        )
        raise MscseqError(msg)
    col = {name: header.index(name) for name in header}
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            msg = f"{path}: line {line}: {len(row)} fields for {len(header)} columns"
            raise MscseqError(msg)
        row = [c.strip() for c in row] + [""] * (len(header) - len(row))

        def get(name: str, row: list[str] = row) -> str:
            return row[col[name]] if name in col else ""

        blocking = [b.strip() for b in get("blocking").split(";") if b.strip()]
        variable, reference, target, blocking = _contrast(
            path, f"line {line}", get("variable"), get("reference"), get("target"), blocking
        )
        label = get("id") or "_".join([variable, reference, target, get("blocking")])
        out.append(
            Contrast(variable, target, reference, design=_design(variable, blocking), label=label)
        )
    return out


def _read_yaml(path: Path, text: str) -> list[Contrast]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML comes with mscseq's dependencies
        msg = f"{path}: reading a YAML contrasts file needs PyYAML (pip install pyyaml), or use the CSV format"
        raise MscseqError(msg) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        msg = f"{path}: not valid YAML ({detail})"
        raise MscseqError(msg) from None
    entries = doc.get("contrasts") if isinstance(doc, dict) else None
    if not isinstance(entries, list):
        msg = f"{path}: expected a top-level 'contrasts:' list (nf-core/differentialabundance YAML)"
        raise MscseqError(msg)
    out = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            msg = f"{path}: contrast {i}: expected a mapping with 'id' and 'comparison'"
            raise MscseqError(msg)
        cid = str(entry.get("id") or "").strip()
        where = f"contrast {cid!r}" if cid else f"contrast {i}"
        formula = entry.get("formula")
        blocking = entry.get("blocking_factors") or []
        if isinstance(blocking, str):
            blocking = [blocking]
        blocking = [str(b).strip() for b in blocking if str(b).strip()]
        if "comparison" in entry:
            comp = entry["comparison"]
            if not (isinstance(comp, list) and len(comp) == 3):
                msg = f"{path}: {where}: 'comparison' must be [variable, reference, target]"
                raise MscseqError(msg)
            variable, reference, target = (str(c).strip() for c in comp)
        elif "make_contrasts_str" in entry:
            variable, reference, target = _two_level_difference(path, where, entry, formula)
        else:
            msg = f"{path}: {where}: needs 'comparison: [variable, reference, target]'"
            raise MscseqError(msg)
        variable, reference, target, blocking = _contrast(
            path, where, variable, reference, target, blocking
        )
        design = str(formula).strip() if formula else _design(variable, blocking)
        label = cid or "_".join([variable, reference, target, ";".join(blocking)])
        out.append(Contrast(variable, target, reference, design=design, label=label))
    return out


def _two_level_difference(
    path: Path, where: str, entry: dict, formula: object
) -> tuple[str, str, str]:
    """``make_contrasts_str: "<var><A> - <var><B>"`` over a factor of ``formula``: A over B."""
    expr = str(entry["make_contrasts_str"]).strip()
    refuse = (
        f"{path}: {where}: make_contrasts_str {expr!r} is not supported; mscseq reads the difference "
        "of two levels of one factor of the entry's formula (e.g. 'treatmentB - treatmentA'); write "
        "other comparisons as 'comparison: [variable, reference, target]'"
    )
    m = re.fullmatch(r"([A-Za-z0-9._]+)\s*-\s*([A-Za-z0-9._]+)", expr)
    if not formula or m is None:
        raise MscseqError(refuse)
    from mscseq.de.design import formula_variables

    try:
        variables = formula_variables(str(formula), option="formula")
    except MscseqError as exc:
        msg = f"{path}: {where}: {exc}"
        raise MscseqError(msg) from None
    a, b = m.groups()
    for var in sorted(variables, key=len, reverse=True):
        if a.startswith(var) and b.startswith(var) and len(a) > len(var) and len(b) > len(var):
            return var, b[len(var) :], a[len(var) :]
    raise MscseqError(refuse)
