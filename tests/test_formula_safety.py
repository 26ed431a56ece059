"""Design formulas are parsed by mscseq, never evaluated: grammar, refusals, equality with formulaic."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mscseq.de.design import Contrast, build_design, contrast_vector, formula_variables
from mscseq.de.formula import parse_formula
from mscseq.errors import MscseqError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def sheet() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "a": list("ppqqrrpq"),
            "b": list("uvuvuvvu"),
            "cell type": list("kkkkllll"),
            "x": [0.5, 1.5, 2.5, 0.5, 1.5, 2.5, 3.5, 0.5],
            "log": list("mnmnmnmn"),
        },
        index=[f"s{i}" for i in range(8)],
    )


# --- the grammar --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "variables", "rebuilt"),
    [
        ("~ donor + condition", ["donor", "condition"], "~ donor + condition"),
        ("~donor+condition", ["donor", "condition"], "~ donor + condition"),
        ("~ C(donor) + condition:donor", ["donor", "condition"], "~ C(donor) + condition : donor"),
        ("~ 0 + a", ["a"], "~ 0 + a"),
        ("~ (0 + a)", ["a"], "~ (0 + a)"),
        ("~ a - 1", ["a"], "~ a - 1"),
        ("~ -1 + a", ["a"], "~ - 1 + a"),
        ("~ a*b - a:b", ["a", "b"], "~ a * b - a : b"),
        ("~ `cell type` + `cell.type`", ["cell type", "cell.type"], "~ `cell type` + `cell.type`"),
        ("~ `donor`", ["donor"], "~ donor"),
        ("~ True + `class`", ["True", "class"], "~ `True` + `class`"),
        ("~ 1", [], "~ 1"),
        ("\t~ a\t+ b ", ["a", "b"], "~ a + b"),
    ],
)
def test_grammar_accepts_and_rebuilds(formula, variables, rebuilt):
    parsed = parse_formula(formula)
    assert parsed.variables == variables
    assert parsed.to_formulaic() == rebuilt
    assert parse_formula(rebuilt).to_formulaic() == rebuilt


@pytest.mark.parametrize(
    ("formula", "token", "position"),
    [
        ("~ I(cohort.__class__.__init__.__globals__['os'].system('id'))", "I(...)", 3),
        ("~ I(open('CANARY', 'w'))", "I(...)", 3),
        ("~ np.savetxt('x', [1])", "attribute access", 5),
        ("~ __import__('os').system('id')", "__import__(...)", 3),
        ("~ log(a)", "log(...)", 3),
        ("~ C(a, b)", "','", 6),
        ("~ a + 'b'", "quoted strings", 7),
        ('~ a + "b"', "quoted strings", 7),
        ("~ a[0]", "subscripts", 4),
        ("~ a.b", "attribute access", 4),
        ("~ .", "'.'", 3),
        ("~ a ** 2", "'**'", 5),
        ("~ a ^ 2", "'^'", 5),
        ("~ a / b", "'/'", 5),
        ("~ a | b", "'|'", 5),
        ("~ a %in% b", "'%'", 5),
        ("~ a + 2", "number '2'", 7),
        ("~ a + 1.0", "number '1.0'", 7),
        ("~ lambda: 1", "keyword 'lambda'", 3),
        ("~ a; import os", "';'", 4),
        ("~ a\n+ b", "control character", 4),
        ("~ a + `b\x1b[31m`", "control character", 7),
        ("~ a + `b", "unterminated", 7),
        ("~ a + ``", "empty", 7),
        ("~ a b", "'b'", 5),
        ("~ (a + b", "')'", 9),
        ("~ a + b)", "')'", 8),
        ("~ a +", "ends", 6),
        ("~", "ends", 2),
        ("~ é", "backticks", 3),
        ("~ a ~ b", "'~'", 5),
    ],
)
def test_everything_else_is_refused_with_the_token_and_position(formula, token, position):
    with pytest.raises(MscseqError) as err:
        parse_formula(formula, option="--reduced")
    msg = str(err.value)
    assert msg.startswith(f"--reduced {formula!r}: not a valid formula: "), msg
    assert token in msg
    assert f"(character {position})" in msg
    assert "\n" not in msg and "\x1b" not in msg


@pytest.mark.parametrize("formula", ["donor + condition", "y ~ a", "", "   "])
def test_a_formula_starts_with_tilde(formula):
    with pytest.raises(MscseqError, match="starts with '~'"):
        formula_variables(formula)


_NAMES = st.sampled_from(["a", "b", "`cell type`", "x", "log"])


def _formulas():
    atom = st.one_of(_NAMES, st.just("1"), st.just("0"), _NAMES.map(lambda n: f"C({n})"))

    def extend(inner):
        return st.one_of(
            st.tuples(inner, st.sampled_from([" + ", " - ", " * ", ":", "+", "*"]), inner).map(
                "".join
            ),
            inner.map(lambda t: f"({t})"),
            inner.map(lambda t: f"- {t}"),
        )

    return st.recursive(atom, extend, max_leaves=5).map(lambda t: f"~ {t}")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(formula=_formulas())
def test_model_matrix_equals_formulaic_on_the_text(formula, sheet):
    """For every formula of the grammar, mscseq's matrix is formulaic's on the same text.

    (formulaic is handed the generated text here only: it is made of the grammar's tokens.)
    """
    from formulaic import model_matrix

    try:
        expected = model_matrix(formula, sheet, na_action="raise")
    except Exception:  # formulaic refuses it: so must mscseq, cleanly
        with pytest.raises(MscseqError):
            build_design(formula, sheet)
        return
    x = np.asarray(expected, dtype=float)
    try:
        ours = build_design(formula, sheet)
    except MscseqError as err:
        if re.search(
            r"[*:]\s*[-+]", formula
        ):  # a sign after * or : is outside mscseq's (stricter) grammar
            assert "not a valid formula" in str(err)
            return
        assert "confounded" in str(err) or "residual" in str(err), str(err)
        assert x.shape[1] == 0 or np.linalg.matrix_rank(x) < x.shape[1] or x.shape[0] <= x.shape[1]
        return
    assert list(ours.columns) == [str(c) for c in expected.columns]
    np.testing.assert_array_equal(ours.to_numpy(), x)


@settings(max_examples=500, deadline=None)
@given(text=st.text(max_size=40))
def test_any_text_parses_or_is_refused_in_one_line(text):
    try:
        parsed = parse_formula(text)
    except MscseqError as err:
        assert "\n" not in str(err)
        return
    rebuilt = parsed.to_formulaic()
    assert parse_formula(rebuilt).to_formulaic() == rebuilt
    # only names (possibly quoted), operators, 0/1, parentheses and C( reach formulaic
    stripped = re.sub(r"`[^`]*`", "N", rebuilt)
    assert re.fullmatch(r"[~A-Za-z0-9_ +\-*:()]*", stripped), rebuilt


# --- model matrices and contrasts -----------------------------------------------------------------


def test_unknown_column_is_refused_before_formulaic(sheet):
    with pytest.raises(MscseqError, match=r"'nope'.*not in the sheet"):
        build_design("~ a + nope", sheet)


def test_names_of_transforms_and_odd_names_are_sheet_columns(sheet):
    dm = build_design("~ log + `cell type`", sheet)
    assert list(dm.columns) == ["Intercept", "log[T.n]", "cell type[T.l]"]


def test_numeric_column_as_factor_with_c_matches_levels_by_text(sheet):
    dm = build_design("~ C(x)", sheet)
    vec = contrast_vector(dm, sheet, Contrast("x", "2.5", "0.5"))
    assert vec[list(dm.columns).index("C(x)[T.2.5]")] == 1
    assert vec.sum() == 1


def test_numeric_column_as_covariate_refuses_a_two_level_contrast(sheet):
    dm = build_design("~ x", sheet)
    with pytest.raises(MscseqError, match=r"holds numbers.*continuous.*C\(x\)"):
        contrast_vector(dm, sheet, Contrast("x", "2.5", "0.5"))


# --- through the real command line -------------------------------------------------------------------


def _study(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(3)
    samples = [f"s{i}" for i in range(1, 9)]
    rows = ["gene_id\t" + "\t".join(samples)]
    rows += [f"G{g}\t" + "\t".join(map(str, rng.poisson(50, 8))) for g in range(150)]
    (d / "counts.tsv").write_text("\n".join(rows) + "\n")
    doses = ["1.5", "2.5"] * 4
    (d / "samples.tsv").write_text(
        "sample\tgroup\tdose\n"
        + "".join(f"{s}\t{'AB'[i // 4]}\t{doses[i]}\n" for i, s in enumerate(samples))
    )
    return d


def _compare(d: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *(sys.executable, "-m", "mscseq", "compare", str(d / "counts.tsv")),
            *("-s", str(d / "samples.tsv"), "-o", str(d.parent / "out")),
            *("--no-report", "--quiet", "--permutations", "9", *args),
        ],
        capture_output=True,
        text=True,
        cwd=d,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--design", "~ I(open('CANARY', 'w'))"],
        ["--design", "~ group + I(__import__('pathlib').Path('CANARY').touch())"],
        [
            "--design",
            "~ group",
            "-c",
            "group,B,A",
            "--test",
            "lrt",
            "--reduced",
            "~ I(open('CANARY','w'))",
        ],
    ],
)
def test_code_in_a_formula_is_refused_and_never_runs(tmp_path, args):
    d = _study(tmp_path)
    proc = _compare(d, *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "function call I(...) is not allowed" in proc.stderr
    assert not list(tmp_path.rglob("CANARY"))
    assert not (tmp_path / "out").exists()


def test_float_levels_contrast_through_the_cli(tmp_path):
    d = _study(tmp_path)
    proc = _compare(d, "--design", "~ dose", "-c", "dose,2.5,1.5")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "write C(dose) in the design" in proc.stderr
    proc = _compare(d, "--design", "~ C(dose)", "-c", "dose,2.5,1.5")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "tables" / "de_dose_2.5_vs_1.5.tsv").is_file()


# --- every formula the project shows parses -----------------------------------------------------------

# a quoted or backticked string starting with "~" (in notebooks, quotes are escaped)
_SHOWN = re.compile(r"""(?<![\w~])(["'])(~[^\n]*?)\\?\1|(?<![\w~`])`(~[^`\n]*)`""")
# files whose formulas are hostile or invalid on purpose
_SKIP = {"test_formula_safety.py", "test_security_properties.py", "test_workflow_design.py"}


def _shown_formulas() -> list[tuple[str, str]]:
    found = []
    files = [REPO / "README.md", *REPO.glob("docs/*.md"), *REPO.glob("notebooks/*.ipynb")]
    files += [
        *REPO.glob("tests/**/*.py"),
        *REPO.glob("workflows/**/*.md"),
    ]
    for f in files:
        if f.name in _SKIP:
            continue
        for m in _SHOWN.finditer(f.read_text(encoding="utf-8")):
            found.append((f"{f.relative_to(REPO)}", (m.group(2) or m.group(3)).strip()))
    for f in REPO.glob("workflows/**/datasets*.csv"):
        with f.open(newline="") as fh:
            found += [
                (str(f.relative_to(REPO)), r["design"])
                for r in csv.DictReader(fh)
                if r.get("design")
            ]
    return found


# written invalid on purpose by tests of the error messages
_INVALID_ON_PURPOSE = {"~ group +", "~ sex +", "~ donor +", "~ (donor", "~"}


def test_every_formula_in_the_docs_tests_and_workflows_parses():
    shown = _shown_formulas()
    assert len(shown) > 30, shown
    bad = []
    for where, formula in shown:
        if formula in _INVALID_ON_PURPOSE or "..." in formula:
            continue
        try:
            parse_formula(formula)
        except MscseqError as err:
            bad.append((where, formula, str(err)))
    assert not bad, json.dumps(bad, indent=1)


@pytest.mark.parametrize(
    ("formula", "what"),
    [
        ("~ " + "(" * 60 + "a" + ")" * 60, "nested more than 50 levels"),
        ("~ " + "- " * 80 + "a", "nested more than 50 levels"),
        ("~ " + " + ".join(f"a{i}" for i in range(300)), "too long"),
    ],
)
def test_formulas_are_bounded(formula, what):
    with pytest.raises(MscseqError, match=what) as err:
        parse_formula(formula)
    assert len(str(err.value)) < 500
