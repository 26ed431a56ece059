import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mscseq.de.design import Contrast, build_design, contrast_vector, formula_variables
from mscseq.errors import MscseqError


@pytest.fixture
def sheet():
    return pd.DataFrame(
        {"donor": ["d1", "d1", "d2", "d2", "d3", "d3"], "condition": ["ctl", "ifn"] * 3},
        index=[f"s{i}" for i in range(6)],
    )


def test_contrast_parse_and_name():
    c = Contrast.parse("condition, ifn ,ctl")
    assert (c.variable, c.target, c.reference) == ("condition", "ifn", "ctl")
    assert Contrast("cell type", "IFN-γ", "ctl/1").name == "cell_type_IFN-__vs_ctl_1"


@pytest.mark.parametrize("text", ["condition,ifn", "a,b,c,d", "condition,,ctl", "condition,x,x"])
def test_malformed_contrast(text):
    with pytest.raises(MscseqError, match="--contrast"):
        Contrast.parse(text)


def test_formula_variables():
    assert formula_variables("~ donor + condition") == ["donor", "condition"]
    assert formula_variables("~ C(donor) + condition:donor") == ["donor", "condition"]


@pytest.mark.parametrize("formula", ["donor + condition", "~ donor +", "~ (donor"])
def test_bad_formula(formula, sheet):
    with pytest.raises(MscseqError, match="--design"):
        build_design(formula, sheet)


def test_missing_design_column(sheet):
    with pytest.raises(MscseqError, match="'batch'"):
        build_design("~ batch + condition", sheet)


def test_confounded_design_names_the_column(sheet):
    sheet = sheet.assign(site=["x", "x", "y", "y", "z", "z"])
    with pytest.raises(MscseqError, match=r"confounded.*site"):
        build_design("~ donor + site + condition", sheet)


def test_no_residual_df():
    sheet = pd.DataFrame({"g": ["a", "b"]}, index=["s1", "s2"])
    with pytest.raises(MscseqError, match="residual degrees of freedom"):
        build_design("~ g", sheet)


def test_contrast_vector_either_reference(sheet):
    dm = build_design("~ donor + condition", sheet)
    vec = contrast_vector(dm, sheet, Contrast("condition", "ifn", "ctl"))
    col = list(dm.columns).index("condition[T.ifn]")
    expected = np.zeros(len(dm.columns))
    expected[col] = 1
    np.testing.assert_allclose(vec, expected)
    rev = contrast_vector(dm, sheet, Contrast("condition", "ctl", "ifn"))
    np.testing.assert_allclose(rev, -expected)
    dvec = contrast_vector(dm, sheet, Contrast("donor", "d3", "d2"))
    assert dvec[list(dm.columns).index("donor[T.d3]")] == 1
    assert dvec[list(dm.columns).index("donor[T.d2]")] == -1


def test_contrast_level_missing(sheet):
    dm = build_design("~ donor + condition", sheet)
    with pytest.raises(MscseqError, match=r"'lps'.*not found"):
        contrast_vector(dm, sheet, Contrast("condition", "lps", "ctl"))


def test_contrast_variable_not_in_design(sheet):
    dm = build_design("~ condition", sheet)
    with pytest.raises(MscseqError, match="not in the design"):
        contrast_vector(dm, sheet, Contrast("donor", "d1", "d2"))


@settings(max_examples=60, deadline=None)
@given(
    levels=st.lists(
        st.lists(
            st.sampled_from(["a", "B", "ctl", "ifn", "x1", "Z", "10", "2"]), min_size=8, max_size=8
        ),
        min_size=1,
        max_size=3,
    )
)
def test_additive_designs_are_coded_exactly_as_formulaic_codes_them(levels):
    """The formulaic-free path for '~ f1 + f2 ...' must give formulaic's columns, values and contrasts."""
    from formulaic import model_matrix

    names = ["donor", "cohort", "site"][: len(levels)]
    sheet = pd.DataFrame(dict(zip(names, levels, strict=True)), index=[f"s{i}" for i in range(8)])
    formula = "~ " + " + ".join(names)
    expected = model_matrix(formula, sheet)
    try:
        ours = build_design(formula, sheet)
    except MscseqError:
        # confounded or no residual df: formulaic's matrix must then be rank-deficient or too wide
        x = np.asarray(expected, dtype=float)
        assert np.linalg.matrix_rank(x) < x.shape[1] or x.shape[0] <= x.shape[1]
        return
    assert list(ours.columns) == [str(c) for c in expected.columns]
    np.testing.assert_array_equal(ours.to_numpy(), np.asarray(expected, dtype=float))
    var = names[0]
    lv = sorted(set(levels[0]))
    if len(lv) >= 2:
        c = Contrast(var, lv[-1], lv[0])
        vec = contrast_vector(ours, sheet, c)
        rows = np.asarray(
            expected.model_spec.get_model_matrix(
                sheet.iloc[[0, 0]].assign(**{var: [lv[-1], lv[0]]})
            ),
            dtype=float,
        )
        np.testing.assert_array_equal(vec, rows[0] - rows[1])


def test_additive_designs_do_not_import_formulaic():
    """'~ a + b' (the common case) is coded by mscseq: formulaic's import (~0.2 s+) is skipped."""
    import subprocess
    import sys

    code = (
        "import sys, pandas as pd\n"
        "from mscseq.de.design import Contrast, build_design, contrast_vector\n"
        "s = pd.DataFrame({'a': list('ppqqrrpq'), 'b c': list('uvuvuvvu')}, index=list('abcdefgh'))\n"
        "dm = build_design('~ a + `b c`', s)\n"
        "contrast_vector(dm, s, Contrast('a', 'q', 'p'))\n"
        "print(list(dm.columns), 'formulaic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['Intercept', 'a[T.q]', 'a[T.r]', 'b c[T.v]'] False"
