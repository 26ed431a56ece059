"""Compact form of the report's figure data: long arrays as base64 typed arrays, each stored once.

A report with many contrasts carries tens of thousands of hoverable genes per plot; as JSON number and
string lists that is ~1 MB per 60,000-gene contrast. :func:`pack` rewrites the long arrays of the figure
specifications (the figures themselves are unchanged):

- numbers (``x``, ``y``, numeric ``customdata``) become little-endian ``float32`` (the values were already
  rounded to at most 5 significant digits) encoded in base64, as plotly.js's typed-array specification
  ``{"dtype", "bdata", "shape"}``;
- strings (``text``, ``hovertext``) become indices (``uint16``/``uint32``, base64) into one table of
  distinct strings, so a gene's name is stored once however many plots show it;
- every packed array is stored once in a shared list and referenced as ``{"ref": k}``: the volcano and the
  MA plot of a contrast show the same genes, so their labels and numbers are stored once.

The page's script (``assets/report.js``) resolves the references before drawing. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

#: Arrays shorter than this stay plain JSON lists (small figures stay readable and exactly as built).
MIN_LENGTH = 1000
#: Trace keys holding numbers.
NUMERIC = ("x", "y", "customdata")
#: Trace keys holding strings.
TEXT = ("text", "hovertext")


class _Shared:
    """The shared strings and arrays of one report, each stored once."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._string_index: dict[str, int] = {}
        self.arrays: list[dict[str, Any]] = []
        self._array_index: dict[tuple[str, str, str | None], int] = {}

    def array(self, spec: dict[str, Any]) -> dict[str, int]:
        key = (spec["dtype"], spec["bdata"], spec.get("shape"))
        if key not in self._array_index:
            self._array_index[key] = len(self.arrays)
            self.arrays.append(spec)
        return {"ref": self._array_index[key]}

    def string_indices(self, values: list[str]) -> np.ndarray:
        out = np.empty(len(values), dtype=np.uint32)
        for i, v in enumerate(values):
            k = self._string_index.get(v)
            if k is None:
                k = self._string_index[v] = len(self.strings)
                self.strings.append(v)
            out[i] = k
        return out


def typed(values: np.ndarray) -> dict[str, Any]:
    """plotly.js's typed-array specification of a 1-D or 2-D array (little-endian)."""
    a = np.ascontiguousarray(values)
    spec: dict[str, Any] = {
        "dtype": {"float32": "f4", "uint16": "u2", "uint32": "u4"}[a.dtype.name],
        "bdata": base64.b64encode(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()).decode(
            "ascii"
        ),
    }
    if a.ndim == 2:
        spec["shape"] = f"{a.shape[0]},{a.shape[1]}"
    return spec


def _numbers(values: Any) -> np.ndarray | None:
    """``values`` as a float32 array when it is a list of numbers (or of equal-length number rows).

    Lists with missing values (``None``: gaps between line segments, e.g. a dendrogram) stay JSON lists,
    where plotly's meaning of ``null`` is certain.
    """
    if any(isinstance(v, str | bool) for v in values[:1]):
        return None
    try:
        a = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if a.ndim not in (1, 2) or not np.isfinite(a).all():
        return None
    return a.astype(np.float32)


def _strings(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def pack_trace(trace: dict[str, Any], shared: _Shared) -> dict[str, Any]:
    """A trace with its long number and string arrays replaced by references into ``shared``."""
    out = dict(trace)
    for key in NUMERIC:
        values = trace.get(key)
        if not isinstance(values, list) or len(values) < MIN_LENGTH:
            continue
        if key == "customdata" and not all(isinstance(r, list) for r in values):
            continue
        a = _numbers(values)
        if a is not None:
            out[key] = shared.array(typed(a))
    for key in TEXT:
        values = trace.get(key)
        if isinstance(values, list) and len(values) >= MIN_LENGTH and _strings(values):
            idx = shared.string_indices(values)
            dtype = np.uint16 if len(shared.strings) <= np.iinfo(np.uint16).max + 1 else np.uint32
            out[key] = shared.array({**typed(idx.astype(dtype)), "strings": True})
    return out


def pack(figures: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The figures with long arrays as references, and the shared ``{"strings", "arrays"}`` they point into.

    Parameters
    ----------
    figures
        Figure id → plotly specification (as built by :mod:`mscseq.report.figdata`).

    Returns
    -------
    tuple of dict
        The packed figures and the shared data (embedded once in the page).

    """
    shared = _Shared()
    packed = {
        fig_id: {**spec, "data": [pack_trace(t, shared) for t in spec.get("data", [])]}
        for fig_id, spec in figures.items()
    }
    return packed, {"strings": shared.strings, "arrays": shared.arrays}


def unpack(figures: dict[str, dict[str, Any]], shared: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Inverse of :func:`pack` (numbers as float32 values), for tests and tools reading a report."""
    strings = shared["strings"]

    def resolve(value: Any) -> Any:
        if not (isinstance(value, dict) and set(value) == {"ref"}):
            return value
        spec = shared["arrays"][value["ref"]]
        dtype = np.dtype({"f4": "<f4", "u2": "<u2", "u4": "<u4"}[spec["dtype"]])
        a = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=dtype)
        if "shape" in spec:
            a = a.reshape([int(n) for n in spec["shape"].split(",")])
        if spec.get("strings"):
            return [strings[i] for i in a]
        return (
            [None if not np.isfinite(v) else float(v) for v in a]
            if a.ndim == 1
            else [[None if not np.isfinite(v) else float(v) for v in row] for row in a]
        )

    return {
        fig_id: {
            **spec,
            "data": [{k: resolve(v) for k, v in t.items()} for t in spec.get("data", [])],
        }
        for fig_id, spec in figures.items()
    }
