"""A PyDESeq2 ``Inference`` backed by mscseq's batched routines (imports PyDESeq2).

Use it with PyDESeq2 directly::

    from pydeseq2.dds import DeseqDataSet
    from mscseq.de.engine.inference import MscseqInference
    dds = DeseqDataSet(counts=..., metadata=..., design="~cell + dex", inference=MscseqInference())

Every method fits all genes at once instead of one joblib task per gene. The statistics are
DESeq2's (R's line search for dispersions, R's IRLS); PyDESeq2's own steps around them (e.g. its
trend fit and prior variance) are unchanged, so results follow PyDESeq2's pipeline, not R's —
use :func:`mscseq.de.engine.fit_deseq2` for R's numbers.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from pydeseq2.inference import Inference

from .dispersion import (
    fit_dispersion_grid,
    fit_dispersion_line_search,
    linear_model_mu,
    rough_dispersion,
)
from .glm import fit_nb_glm
from .likelihood import outer_rows, sandwich
from .results import threshold_test
from .shrink import nbinom_map_apeglm
from .trend import glm_gamma_identity


class MscseqInference(Inference):
    """Batched implementation of :class:`pydeseq2.inference.Inference`."""

    n_cpus: int = 1

    def lin_reg_mu(
        self, counts: np.ndarray, size_factors: np.ndarray, design_matrix: np.ndarray, min_mu: float
    ) -> np.ndarray:
        """Linear-model means of normalised counts, times size factors, clamped at ``min_mu``."""
        x = np.asarray(design_matrix, float)
        mu = linear_model_mu((counts / size_factors[:, None]).T, x).T * size_factors[:, None]
        return np.maximum(mu, min_mu)

    def irls(
        self,
        counts: np.ndarray,
        size_factors: np.ndarray,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        min_mu: float,
        beta_tol: float,
        min_beta: float = -30,
        max_beta: float = 30,
        optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B",
        maxiter: int = 250,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Batched IRLS (R's ``fitBeta``), L-BFGS-B for the genes it cannot fit."""
        x = np.asarray(design_matrix, float)
        fit = fit_nb_glm(
            np.asarray(counts, float).T,
            size_factors,
            x,
            np.asarray(disp, float),
            tol=beta_tol,
            maxit=maxiter,
            minmu=min_mu,
        )
        return fit.beta, fit.mu.T, fit.hat.T, fit.converged

    def alpha_mle(
        self,
        counts: np.ndarray,
        design_matrix: np.ndarray,
        mu: np.ndarray,
        alpha_hat: np.ndarray,
        min_disp: float,
        max_disp: float,
        prior_disp_var: float | None = None,
        cr_reg: bool = True,
        prior_reg: bool = False,
        optimizer: Literal["BFGS", "L-BFGS-B"] = "L-BFGS-B",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dispersions by DESeq2's line search (grid search where it does not converge)."""
        if not cr_reg:
            msg = "MscseqInference.alpha_mle always applies the Cox-Reid adjustment"
            raise NotImplementedError(msg)
        x = np.asarray(design_matrix, float)
        y = np.asarray(counts, float).T
        m = np.asarray(mu, float).T
        a0 = np.log(np.clip(alpha_hat, min_disp, max_disp))
        pm = a0 if prior_reg else None
        pv = float(prior_disp_var) if prior_reg and prior_disp_var is not None else 1.0
        ls = fit_dispersion_line_search(y, x, m, a0, prior_mean=pm, prior_var=pv)
        conv = ls.iterations < 100
        disp = np.exp(ls.log_alpha)
        if (~conv).any():
            disp[~conv] = fit_dispersion_grid(
                y[~conv], x, m[~conv], prior_mean=None if pm is None else pm[~conv], prior_var=pv
            )
        return np.clip(disp, min_disp, max_disp), conv

    def wald_test(
        self,
        design_matrix: np.ndarray,
        disp: np.ndarray,
        lfc: np.ndarray,
        mu: np.ndarray,
        ridge_factor: np.ndarray,
        contrast: np.ndarray,
        lfc_null: np.ndarray,
        alt_hypothesis: Literal["greaterAbs", "lessAbs", "greater", "less"] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Wald test of ``contrast`` for all genes; thresholds as R's ``results()``."""
        from scipy.special import ndtr

        x = np.asarray(design_matrix, float)
        m = np.asarray(mu, float).T
        w = m / (1.0 + np.asarray(disp, float)[:, None] * m)
        ridge = (
            np.diag(ridge_factor) if np.ndim(ridge_factor) == 2 else np.asarray(ridge_factor, float)
        )
        _, sigma = sandwich(w, outer_rows(x), x.shape[1], ridge)
        c = np.asarray(contrast, float)
        se = np.sqrt(np.einsum("i,gij,j->g", c, sigma, c))
        est = np.asarray(lfc, float) @ c
        null = float(np.asarray(lfc_null).ravel()[0]) if np.size(lfc_null) else 0.0
        if alt_hypothesis is None:
            stat = (est - null) / se
            return 2.0 * ndtr(-np.abs(stat)), stat, se
        stat, pv = threshold_test(est, se, abs(null), alt_hypothesis)
        return pv, stat, se

    def fit_rough_dispersions(
        self, normed_counts: np.ndarray, design_matrix: np.ndarray
    ) -> np.ndarray:
        """R's ``roughDispEstimate``.

        Raises
        ------
        ValueError
            When there are no more samples than design columns: no residual degrees of freedom
            are left to estimate a dispersion (R's ``DESeq`` stops there too).

        """
        x = np.asarray(design_matrix, float)
        n, p = x.shape
        if n <= p:
            msg = (
                f"{n} samples and {p} design columns leave no residual degrees of freedom, so "
                "dispersions cannot be estimated; add replicates or use a design with fewer columns"
            )
            raise ValueError(msg)
        return rough_dispersion(np.asarray(normed_counts, float).T, x)

    def fit_moments_dispersions(
        self, normed_counts: np.ndarray, size_factors: np.ndarray
    ) -> np.ndarray:
        """R's ``momentsDispEstimate``."""
        y = np.asarray(normed_counts, float)
        bm = y.mean(axis=0)
        bv = y.var(axis=0, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (bv - np.mean(1.0 / size_factors) * bm) / bm**2

    def dispersion_trend_gamma_glm(
        self, covariates: pd.Series, targets: pd.Series
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Gamma-family identity-link GLM of dispersions on ``1/mean`` (R's ``glm.fit``)."""
        cov = np.asarray(covariates, float)
        tgt = np.asarray(targets, float)
        xm = np.column_stack([np.ones_like(cov), cov])
        try:
            coef, conv = glm_gamma_identity(xm, tgt, np.array([0.1, 1.0]))
        except Exception:
            return np.array([np.nan, np.nan]), np.array([np.nan, np.nan]), False
        return coef, xm @ coef, bool(conv)

    def lfc_shrink_nbinom_glm(
        self,
        design_matrix: np.ndarray,
        counts: np.ndarray,
        size: np.ndarray,
        offset: np.ndarray,
        prior_no_shrink_scale: float,
        prior_scale: float,
        optimizer: str,
        shrink_index: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """MAP coefficients under PyDESeq2's apeGLM-like prior, Newton steps for all genes."""
        beta, inv_h, conv = nbinom_map_apeglm(
            np.asarray(design_matrix, float),
            np.asarray(counts, float).T,
            np.asarray(size, float),
            np.asarray(offset, float),
            prior_no_shrink_scale,
            prior_scale,
            shrink_index,
        )
        return beta, inv_h, conv
