"""Display formatting for the report: numbers as text, table cells, key–value and table blocks.

Every section module formats through these helpers, so a number looks the same wherever it is shown.
They also read the two shapes a recorded value can take: JSON (``summary.json``) and h5ad (where lists of
records become ``{"0": {...}, "1": {...}}`` and ``None`` values are dropped).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


def fmt(value: Any, *, digits: int = 3) -> str:
    """Display text for a value: thousands separators, ``digits`` significant digits, ``–`` for missing."""
    if value is None:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return "–"
        if v == 0:
            return "0"
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        if abs(v) < 1e-3 or abs(v) >= 1e6:
            return f"{v:.{max(digits - 1, 1)}e}"
        return f"{v:,.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}g}"
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(fmt(v, digits=digits) for v in value)
    return str(value)


def pct(v: Any, digits: int = 1) -> str:
    """A fraction as a percentage text (``–`` when missing)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return f"{100 * f:.{digits}f} %" if np.isfinite(f) else "–"


def humanise(key: str) -> str:
    """``n_outliers`` → ``n outliers``: a readable label for a machine key."""
    return str(key).replace("_", " ").strip()


def sort_key(value: Any) -> float | None:
    """Numeric sort key of a cell (``None`` when the cell sorts as text)."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        v = float(value)
        return v if math.isfinite(v) else None
    return None


def cell(value: Any, *, text: str | None = None, cls: str = "") -> dict[str, Any]:
    """A table cell: display text, numeric sort key and CSS class."""
    return {"t": fmt(value) if text is None else text, "v": sort_key(value), "c": cls}


def as_records(obj: Any) -> list[dict[str, Any]]:
    """A list of dicts from JSON (list) or h5ad (``{"0": {...}, "1": {...}}``) form."""
    if obj is None:
        return []
    if isinstance(obj, Mapping):
        keys = list(obj.keys())
        if not keys:
            return []
        if all(str(k).isdigit() for k in keys):
            return [dict(obj[k]) for k in sorted(keys, key=lambda k: int(k))]
        return [dict(obj)]
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict(orient="records")
    return [dict(o) for o in obj if isinstance(o, Mapping)]


def as_list(obj: Any) -> list[Any]:
    """A plain list from a JSON list, numpy array, scalar or ``None``."""
    if obj is None:
        return []
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Iterable) and not isinstance(obj, Mapping):
        return list(obj)
    return [obj]


# ---------------------------------------------------------------------------- display blocks


def scalar(v: Any) -> bool:
    """Whether a JSON value is shown as one text (not a list or an object)."""
    return v is None or isinstance(v, str | int | float | bool)


def kv_block(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """A key–value block: labels with formatted values (text kept as it is)."""
    return {
        "kind": "kv",
        "title": "",
        "rows": [{"label": k, "value": v if isinstance(v, str) else fmt(v)} for k, v in pairs],
    }


def table_block(
    header: list[str], rows: list[list[dict[str, Any]]], title: str = ""
) -> dict[str, Any]:
    """A table block: header labels and rows of :func:`cell`."""
    return {"kind": "table", "title": title, "header": header, "rows": rows}


def generic_blocks(obj: Any, *, title: str = "") -> list[dict[str, Any]]:
    """Display blocks for an arbitrary JSON value.

    Returns
    -------
    list of dict
        Blocks of kind ``"kv"`` (``rows`` of label/value), ``"table"`` (``header``, ``rows`` of cells)
        or ``"text"`` (``items``), each with a ``title``.

    """
    if isinstance(obj, Mapping):
        kv = [{"label": humanise(k), "value": fmt(v)} for k, v in obj.items() if scalar(v)]
        lists = [
            (k, v) for k, v in obj.items() if isinstance(v, list) and all(scalar(x) for x in v)
        ]
        kv += [
            {"label": humanise(k), "value": ", ".join(fmt(x) for x in v) or "–"} for k, v in lists
        ]
        blocks = [{"kind": "kv", "title": title, "rows": kv}] if kv else []
        for k, v in obj.items():
            if scalar(v) or (isinstance(v, list) and all(scalar(x) for x in v)):
                continue
            blocks += generic_blocks(
                v, title=humanise(k) if not title else f"{title} · {humanise(k)}"
            )
        return blocks
    if isinstance(obj, list) and obj and all(isinstance(x, Mapping) for x in obj):
        keys: list[str] = []
        for x in obj:
            keys += [k for k in x if k not in keys]
        rows = [
            [cell(x.get(k)) if scalar(x.get(k)) else cell(None, text=fmt(x.get(k))) for k in keys]
            for x in obj
        ]
        return [table_block([humanise(k) for k in keys], rows, title)]
    if isinstance(obj, list):
        return [{"kind": "text", "title": title, "items": [fmt(x) for x in obj]}] if obj else []
    return [{"kind": "text", "title": title, "items": [fmt(obj)]}]
