"""Numbers as text in bulk, character for character as Python writes them (``repr``), without a Python loop.

The tables mscseq writes show every float as Python's shortest round-trip ``repr`` (``0.1``,
``1e-05``, ``123.0``), ``NA`` when missing. Calling ``repr`` on millions of values costs about a
second per few million; Arrow's float-to-text cast computes the same shortest round-trip digits in C++
but lays them out differently in places (``1e-05`` as ``0.00001``, ``123.0`` as ``123``, exponent
notation from 1e10). :func:`float_text` uses Arrow's text where it equals ``repr`` and ``repr`` itself
for the rest:

* values with 1e-4 ≤ |x| < 1e10 and a fractional part: Arrow's digits, identical;
* whole numbers (and zeros) with |x| < 1e10: Arrow's digits followed by ``.0``, identical;
* everything else (smaller than 1e-4 in magnitude, 1e10 and above, infinities, NaN → ``NA``): ``repr``.

The equality of the first two rules was checked on millions of values (random bit patterns over the whole
range, decimals of 1–16 digits, neighbours of the range ends); ``tests/test_speed_text.py`` keeps checking
it on a sample. :func:`str_text` does the same for columns of strings (gene IDs and names): Arrow holds them,
and only the few cells a spreadsheet could read as a formula go through the caller's Python function.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: Arrow's shortest text equals ``repr`` for 1e-4 ≤ |x| < 1e10 (with ``.0`` added to whole numbers).
SMALLEST = 1e-4
#: Upper end (exclusive) of the magnitudes Arrow writes as ``repr`` does.
LARGEST = 1e10


def float_text(values: np.ndarray) -> pa.StringArray:
    """Each value as ``repr(float(x))``, or ``NA`` when it is NaN.

    Parameters
    ----------
    values
        One-dimensional numbers (any real numpy dtype; converted to float64 exactly).

    Returns
    -------
    pyarrow.StringArray
        One string per value, no nulls.

    """
    v = np.ascontiguousarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore"):  # NaN (signalling ones too) compare False
        mag = np.abs(v)
        inside = mag < LARGEST  # False for NaN and infinities
        whole = inside & (v == np.trunc(v))
        plain = whole | (inside & (mag >= SMALLEST))
    text = pc.cast(pa.array(v), pa.string())
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, ".0", ""), text)
    if not plain.all():
        other = ~plain
        rest = ["NA" if x != x else repr(x) for x in v[other].tolist()]
        text = pc.replace_with_mask(text, pa.array(other), pa.array(rest, pa.string()))
    return text


def int_text(values: np.ndarray) -> pa.StringArray:
    """Each integer as ``str(int(x))``.

    Parameters
    ----------
    values
        One-dimensional signed or unsigned integers (numpy).

    Returns
    -------
    pyarrow.StringArray
        One string per value, no nulls.

    """
    return pc.cast(pa.array(np.ascontiguousarray(values)), pa.string())


def str_text(
    values: np.ndarray, triggers: Iterable[str], neutralise: Callable[[str], str]
) -> pa.StringArray | None:
    """Strings as they are, except those starting with a trigger character, which go through ``neutralise``.

    Parameters
    ----------
    values
        One-dimensional object array; only arrays of ``str`` alone are handled (no missing values).
    triggers
        First characters that send a cell through ``neutralise``.
    neutralise
        The Python function for those cells (e.g. :func:`mscseq.outputs.spreadsheet_safe`).

    Returns
    -------
    pyarrow.StringArray or None
        One string per value; ``None`` when ``values`` holds anything but strings (or a string Arrow cannot
        hold), so that the caller formats the column itself.

    """
    if pd.api.types.infer_dtype(values, skipna=False) != "string":
        return None
    try:
        text = pa.array(values, type=pa.string())
    except (pa.ArrowException, UnicodeError):
        return None
    first = pc.utf8_slice_codeunits(text, 0, 1)
    risky = pc.is_in(first, value_set=pa.array(sorted(triggers), pa.string()))
    if pc.any(risky).as_py():
        where = np.flatnonzero(risky.to_numpy(zero_copy_only=False))
        fixed = [neutralise(values[i]) for i in where]
        text = pc.replace_with_mask(text, risky, pa.array(fixed, pa.string()))
    return text


def join_lines(columns: list[pa.Array]) -> str:
    """Rows of the string columns joined by tabs, each row ending in ``\\n``, as one text.

    Parameters
    ----------
    columns
        At least one string array, all of the same length, without nulls.

    Returns
    -------
    str
        ``"a\\tb\\n"`` per row.

    """
    rows = pc.binary_join_element_wise(*columns, "\t")
    lines = pc.binary_join_element_wise(rows, "", "\n")
    if len(lines) == 0:
        return ""
    _, offsets, data = lines.buffers()
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    ends = np.frombuffer(
        offsets, dtype=width, count=len(lines) + 1, offset=lines.offset * width().itemsize
    )
    start, stop = int(ends[0]), int(ends[-1])
    return data.slice(start, stop - start).to_pybytes().decode("utf-8")
