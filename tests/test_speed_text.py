"""Bulk number formatting (issue 15): the same text as Python's ``repr``, cell for cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyarrow")

from mscseq import floattext
from mscseq.outputs import tsv_blocks, tsv_text


def _expected(values: np.ndarray) -> list[str]:
    return ["NA" if x != x else repr(x) for x in values.astype(np.float64).tolist()]


def _edges() -> np.ndarray:
    """Values at and next to the ends of the range Arrow formats, and the special values."""
    out = [0.0, -0.0, np.nan, np.inf, -np.inf, 5e-324, -5e-324, 1.7976931348623157e308, 2.0**53]
    for v in (floattext.SMALLEST, floattext.LARGEST, 1.0, 1e16, 1e-5, 0.5):
        for direction in (np.inf, -np.inf):
            x = v
            for _ in range(20):
                out += [x, -x]
                x = np.nextafter(x, direction)
    return np.array(out)


def test_float_text_is_repr_on_random_bits_and_edges():
    rng = np.random.default_rng(15)
    bits = rng.integers(0, 2**63, 200_000, dtype=np.uint64) | (
        rng.integers(0, 2, 200_000, dtype=np.uint64) << np.uint64(63)
    )
    values = np.concatenate([bits.view(np.float64), _edges()])
    assert floattext.float_text(values).to_pylist() == _expected(values)


@pytest.mark.parametrize("digits", [0, 1, 3, 6, 9, 12, 15])
def test_float_text_is_repr_on_decimals_of_every_size(digits):
    rng = np.random.default_rng(digits)
    scale = 10.0 ** rng.integers(-8, 14, 50_000)
    values = np.round(rng.standard_normal(50_000) * scale, digits)
    values[::7] = np.trunc(values[::7])  # whole numbers get ".0"
    assert floattext.float_text(values).to_pylist() == _expected(values)


def test_float_text_of_float32_is_repr_of_the_double():
    values = np.array([0.1, 1e-6, 3.4e38, np.nan, 7.0, 123456.7], dtype=np.float32)
    assert floattext.float_text(values).to_pylist() == _expected(values)


def test_int_text_and_join_lines():
    ints = np.array([0, -5, 2**62, 17], dtype=np.int64)
    assert floattext.int_text(ints).to_pylist() == ["0", "-5", str(2**62), "17"]
    uints = np.array([0, 2**64 - 1], dtype=np.uint64)
    assert floattext.int_text(uints).to_pylist() == ["0", str(2**64 - 1)]
    a = floattext.float_text(np.array([1.5, np.nan]))
    b = floattext.int_text(np.array([3, 4]))
    assert floattext.join_lines([a, b]) == "1.5\t3\nNA\t4\n"
    assert floattext.join_lines([a[1:], b[1:]]) == "NA\t4\n"  # a slice: offsets start later
    assert floattext.join_lines([a[:0]]) == ""


def _mixed(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-12, 14, n)
    x[::11] = np.nan
    x[::13] = 0.0
    x[::17] = -np.inf
    names = np.array(["GAPDH", "=cmd()", "-1.5", "+x", "", "µ-gene", "@SUM", "NA"], dtype=object)
    text = names[rng.integers(0, len(names), n)]
    text[::5] = None
    df = pd.DataFrame(
        {
            "x": x,
            "x32": x.astype(np.float32),
            "whole": np.round(x),
            "count": rng.integers(-1000, 10**9, n),
            "u8": rng.integers(0, 255, n).astype(np.uint8),
            "flag": rng.random(n) < 0.5,
            "name": text,
            "level": pd.Categorical(rng.choice(["a", "-b"], n)),
            "symbol": names[rng.integers(0, len(names), n)],
            "mixed": np.array([i if i % 3 else f"=x{i}" for i in range(n)], dtype=object),
            "odd": np.array(["\ud800" if i == 5 else "-inf" for i in range(n)], dtype=object),
            "nullable": pd.array(rng.integers(0, 9, n), dtype="Int64"),
        },
        index=pd.Index([f"ENSG{i:011d}" for i in range(n)], name="gene_id"),
    )
    df.loc[df.index[::9], "nullable"] = pd.NA
    return df


@pytest.mark.parametrize("index_label", ["gene_id", None])
def test_tsv_blocks_bulk_and_python_paths_write_the_same_text(index_label):
    df = _mixed(3000)
    slow = "".join(tsv_blocks(df, index_label=index_label, block_rows=700, fast=False))
    fast = "".join(tsv_blocks(df, index_label=index_label, block_rows=700))
    assert fast == slow
    assert "\t'=cmd()\t" in fast and "\t-1.5\t" in fast and "\tNA\t" in fast


def test_str_text_neutralises_only_formula_cells():
    from mscseq.outputs import FORMULA_TRIGGERS, spreadsheet_safe

    cells = np.array(["GAPDH", "=1+1", "-2.5", "-x", "@A1", "\tTAB", "µ", "", "+3"], dtype=object)
    got = floattext.str_text(cells, FORMULA_TRIGGERS, spreadsheet_safe).to_pylist()
    assert got == [spreadsheet_safe(c) for c in cells]
    assert got[1] == "'=1+1" and got[2] == "-2.5" and got[3] == "'-x"
    for other in ([None, "a"], [float("nan"), "a"], [1, "a"], ["\ud800"]):
        assert floattext.str_text(np.array(other, dtype=object), "=", spreadsheet_safe) is None


def test_tsv_blocks_without_columns_or_rows():
    for df in (
        pd.DataFrame(index=pd.Index(["a", "b"], name="gene_id")),
        _mixed(10).iloc[:0],
    ):
        for label in ("gene_id", None):
            slow = "".join(tsv_blocks(df, index_label=label, fast=False))
            assert tsv_text(df, index_label=label) == slow
    assert tsv_text(pd.DataFrame(index=pd.Index(["a"])), index_label="id") == "id\na\n"
