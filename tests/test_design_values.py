"""Sheet values in design columns: missing-value spellings, colliding contrast names, numeric levels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mscseq.de.design import Contrast, build_design, check_contrast_names
from mscseq.errors import MscseqError
from mscseq.io.sheet import MISSING_VALUES, check_filled, missing_mask

SAMPLES = [f"s{i}" for i in range(1, 9)]


@pytest.mark.parametrize(
    "value",
    ["", " ", "NA", "na", "NaN", "nan", "N/A", "n/a", "#N/A", "NULL", "null", "<NA>", ".", " NA "],
)
def test_missing_spellings(value):
    assert missing_mask(pd.Series(["x", value])).tolist() == [False, True]


@pytest.mark.parametrize("value", ["None", "none", "-", "+", "0", "NAT", "nana", "Na+", "control"])
def test_levels_that_are_not_missing(value):
    assert not missing_mask(pd.Series([value])).any()


def test_float_nan_is_missing():
    assert missing_mask(pd.Series([1.5, np.nan])).tolist() == [False, True]
    assert "" in MISSING_VALUES


def test_check_filled_names_column_samples_and_spelling():
    sheet = pd.DataFrame({"g": ["a", "NA", "b", "N/A"], "other": ["NA"] * 4}, index=list("pqrs"))
    check_filled(sheet, ["other"][:0])  # nothing required: nothing refused
    with pytest.raises(MscseqError) as err:
        check_filled(sheet, ["g"], sheet_path="sheet.tsv")
    msg = str(err.value)
    assert msg.startswith("sheet.tsv: column 'g' has no value for sample(s) 'q', 's'")
    assert "'N/A', 'NA'" in msg


def test_build_design_refuses_na_levels():
    sheet = pd.DataFrame({"g": ["a", "a", "b", "NA", "b", "a"]}, index=SAMPLES[:6])
    with pytest.raises(MscseqError, match=r"column 'g' has no value for sample\(s\) 's4'"):
        build_design("~ g", sheet)


def test_colliding_contrast_names():
    with pytest.raises(MscseqError) as err:
        check_contrast_names([Contrast("x", "a b", "c"), Contrast("x", "a_b", "c")])
    assert "'x,a b,c' and 'x,a_b,c' would both be written as 'x_a_b_vs_c'" in str(err.value)
    with pytest.raises(MscseqError, match="case"):
        check_contrast_names([Contrast("x", "A", "c"), Contrast("x", "a", "c")])
    with pytest.raises(MscseqError, match="given twice"):
        check_contrast_names([Contrast("x", "a", "c"), Contrast("x", "a", "c")])
    check_contrast_names(
        [Contrast("x", "a", "c"), Contrast("x", "c", "a"), Contrast("y", "a", "c")]
    )


def test_colliding_group_levels_message():
    with pytest.raises(MscseqError, match=r"--group 'lv': levels 'a b' and 'a/b' would both"):
        check_contrast_names(
            [Contrast("lv", "a b", "c"), Contrast("lv", "a/b", "c")], option="--group"
        )


# --- through the real command line -------------------------------------------------------------------


@pytest.fixture
def study(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(5)
    rows = ["gene_id\t" + "\t".join(SAMPLES)]
    rows += [f"G{g}\t" + "\t".join(map(str, rng.poisson(60, 8))) for g in range(150)]
    (d / "counts.tsv").write_text("\n".join(rows) + "\n")
    cols = {
        "group": list("AAAABBBB"),
        "treat": ["x", "NA", "x", "y", "x", "nan", "y", "y"],
        "lv": ["a b", "a_b", "c", "c", "a b", "a_b", "c", "c"],
        "stim": ["-", "+", "-", "+", "-", "+", "-", "+"],
    }
    (d / "samples.tsv").write_text(
        "sample\t"
        + "\t".join(cols)
        + "\n"
        + "".join(
            s + "\t" + "\t".join(cols[c][i] for c in cols) + "\n" for i, s in enumerate(SAMPLES)
        )
    )
    return d


def _compare(d: Path, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
    out = d.parent / "out"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "mscseq", "compare", str(d / "counts.tsv")),
            *("-s", str(d / "samples.tsv"), "-o", str(out), "--no-report", "--quiet"),
            *("--permutations", "9", *args),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc, out


def _fails(result: tuple[subprocess.CompletedProcess, Path], *must: str) -> None:
    proc, out = result
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for text in must:
        assert text in lines[0], (text, lines[0])
    assert not out.exists()


def test_na_in_a_design_column_is_refused(study):
    _fails(
        _compare(study, "--design", "~ treat"),
        str(study / "samples.tsv"),
        "column 'treat' has no value for sample(s) 's2', 's6'",
        "'NA', 'nan'",
    )


def test_na_in_the_group_column_is_refused(study):
    _fails(_compare(study, "--group", "treat"), "column 'treat' has no value")


def test_na_in_an_unused_column_is_fine_and_minus_is_a_level(study):
    proc, out = _compare(study, "--design", "~ stim", "-c", "stim,+,-")
    assert proc.returncode == 0, proc.stderr
    assert (out / "tables" / "de_stim___vs_-.tsv").is_file()


def test_colliding_contrasts_are_refused(study):
    _fails(
        _compare(study, "--design", "~ lv", "-c", "lv,a b,c", "-c", "lv,a_b,c"),
        "--contrast 'lv,a b,c' and 'lv,a_b,c' would both be written as 'lv_a_b_vs_c'",
    )


def test_colliding_group_levels_are_refused(study):
    _fails(
        _compare(study, "--group", "lv", "--reference", "c"),
        "--group 'lv': levels 'a b' and 'a_b' would both be written as 'lv_a_b_vs_c'",
    )


def test_column_names_with_spaces_and_dashes_in_backticks(tmp_path):
    """Backtick-quoted names reach DE, the tiers (--group with a space) and the variance partition."""
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(9)
    samples = [f"s{i}" for i in range(12)]
    rows = ["gene_id\t" + "\t".join(samples)]
    rows += [f"G{g}\t" + "\t".join(map(str, rng.poisson(60, 12))) for g in range(200)]
    (d / "counts.tsv").write_text("\n".join(rows) + "\n")
    (d / "samples.tsv").write_text(
        "sample\tcell type\tdonor\ttreat-ment\n"
        + "".join(f"{s}\t{'AB'[i // 6]}\tD{i // 2}\t{'xy'[i % 2]}\n" for i, s in enumerate(samples))
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "mscseq", "compare", str(d / "counts.tsv")),
            *("-s", str(d / "samples.tsv"), "-o", str(out), "--no-report", "--quiet"),
            *("--permutations", "9", "--design", "~ `treat-ment`", "-c", "treat-ment,y,x"),
            *("--group", "cell type"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    tables = out / "tables"
    assert (tables / "de_treat-ment_y_vs_x.tsv").is_file()
    assert (tables / "tier2_B_vs_A.tsv").is_file()
    assert (tables / "variance_partition.tsv").is_file()
