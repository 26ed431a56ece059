"""MscseqInference plugged into PyDESeq2's own pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pydeseq2")


def _data(seed: int = 3, g: int = 200, n: int = 8):
    rng = np.random.default_rng(seed)
    cond = np.repeat(["A", "B"], n // 2)
    mu = np.exp(rng.normal(4, 1.5, g))
    lfc = np.where(rng.random(g) < 0.3, rng.normal(0, 2, g), 0)
    m = mu * np.exp(np.outer(cond == "B", lfc))
    disp = 0.05 + 1 / mu
    y = rng.negative_binomial(1 / disp, 1 / (1 + m * disp))
    counts = pd.DataFrame(y, index=[f"s{i}" for i in range(n)], columns=[f"g{j}" for j in range(g)])
    meta = pd.DataFrame({"condition": cond}, index=counts.index)
    return counts, meta


@pytest.mark.slow
def test_pipeline_close_to_default_inference() -> None:
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.ds import DeseqStats

    from mscseq.de.engine.inference import MscseqInference

    counts, meta = _data()
    out = {}
    for name, kw in (("default", {}), ("mscseq", {"inference": MscseqInference()})):
        dds = DeseqDataSet(
            counts=counts,
            metadata=meta,
            design="~condition",
            quiet=True,
            **({"n_cpus": 1} if not kw else kw),
        )
        dds.deseq2()
        st = DeseqStats(
            dds, contrast=["condition", "B", "A"], quiet=True, **({"n_cpus": 1} if not kw else kw)
        )
        st.summary()
        st.lfc_shrink(coeff="condition[T.B]")
        out[name] = st.results_df
    a, b = out["default"], out["mscseq"]
    ok = a["baseMean"] > 20
    # different optimisers (L-BFGS-B vs DESeq2's line search): close, not identical
    assert np.corrcoef(np.log10(a.pvalue[ok]), np.log10(b.pvalue[ok]))[0, 1] > 0.99
    np.testing.assert_allclose(a.log2FoldChange[ok], b.log2FoldChange[ok], atol=0.05)


def test_wald_and_trend_methods() -> None:
    from mscseq.de.engine.inference import MscseqInference

    inf = MscseqInference()
    rng = np.random.default_rng(0)
    m = np.exp(rng.uniform(0, 8, 500))
    d = (0.05 + 2 / m) * rng.gamma(5, 1 / 5, 500)
    coef, pred, conv = inf.dispersion_trend_gamma_glm(pd.Series(1 / m), pd.Series(d))
    assert conv and np.all(coef > 0) and pred.shape == (500,)
    x = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    mu = np.full((6, 3), 50.0)
    p, stat, se = inf.wald_test(
        x,
        np.full(3, 0.1),
        np.array([[3.0, 0.5]] * 3),
        mu,
        np.full(2, 1e-6),
        np.array([0, 1.0]),
        np.array([0.0]),
    )
    assert np.allclose(stat, 0.5 / se) and np.all((p > 0) & (p < 1))


def test_rough_dispersions_refuse_no_residual_df() -> None:
    """As many samples as design columns: a ValueError, as PyDESeq2 and R (no silent clamping)."""
    from mscseq.de.engine.inference import MscseqInference

    inf = MscseqInference()
    x = np.column_stack([np.ones(2), [0.0, 1.0]])
    with pytest.raises(ValueError, match="no residual degrees of freedom"):
        inf.fit_rough_dispersions(np.array([[10.0, 3.0], [20.0, 5.0]]), x)
    x3 = np.column_stack([np.ones(3), [0.0, 1.0, 1.0]])
    rough = inf.fit_rough_dispersions(np.array([[10.0, 3.0], [20.0, 5.0], [18.0, 7.0]]), x3)
    assert rough.shape == (2,) and np.all(np.isfinite(rough))


def test_pipeline_raises_without_replicates() -> None:
    from pydeseq2.dds import DeseqDataSet

    from mscseq.de.engine.inference import MscseqInference

    counts, meta = _data(n=2)
    dds = DeseqDataSet(
        counts=counts, metadata=meta, design="~condition", quiet=True, inference=MscseqInference()
    )
    with pytest.raises(ValueError, match="no residual degrees of freedom"):
        dds.deseq2()
