"""Engine backends: the per-gene optimisation loops, in batched numpy or compiled numba.

Three loops of the engine run once per gene and dominate its time: DESeq2's Armijo line search
for ``log alpha`` (``fitDisp``), its two-stage grid search (``fitDispGrid``) and the NB GLM's IRLS
(``fitBeta``). A backend implements these three operations (:class:`EngineBackend`); everything
around them (starting values, bounds, which genes are refitted, the trend, the tests) is shared.

* :class:`NumpyBackend` runs each loop for all genes of a block at once, with masks for the genes
  still iterating. Single-threaded: numpy's matrix products round differently with the number
  of rows they get, so splitting a block across threads would change the last digits.
* :class:`NumbaBackend` runs the compiled per-gene kernels of :mod:`._kernels` (imported on first
  use: loading numba's cache costs ≈0.3 s). Every gene is computed on its own, so the genes of a
  call are split across ``threads`` worker threads without changing a bit of the result.

:func:`select_backend` picks one, once per fit (:func:`mscseq.de.engine.fit_deseq2`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import gammaln

from ._batched import solve_spd
from .likelihood import (
    EPSILON,
    LARGE,
    dlog_posterior,
    log_posterior,
    nb_loglike,
    outer_rows,
    sandwich,
)

#: inputs with at least this many ``genes × samples`` cells use the compiled kernels
KERNEL_MIN_CELLS = 500_000
#: the numba backend gives each worker thread at least this many genes
_MIN_ROWS_PER_TASK = 256


@dataclass
class LineSearchResult:
    """Outcome of a dispersion line search (arrays per gene)."""

    log_alpha: np.ndarray
    iterations: np.ndarray
    initial_lp: np.ndarray
    last_lp: np.ndarray


@dataclass
class IRLSResult:
    """Outcome of the NB GLM's IRLS (natural-log coefficients; arrays per gene)."""

    beta: np.ndarray
    beta_var: np.ndarray
    mu: np.ndarray
    hat: np.ndarray
    iterations: np.ndarray
    loglike: np.ndarray


class EngineBackend(Protocol):
    """The per-gene loops of the engine; ``y`` and ``mu`` are ``(G, n)``, ``x`` is ``(n, p)``."""

    name: str

    def line_search(
        self,
        y: np.ndarray,
        x: np.ndarray,
        mu: np.ndarray,
        log_alpha0: np.ndarray,
        prior_mean: np.ndarray | None,
        prior_var: float,
        *,
        min_log_alpha: float,
        kappa0: float,
        tol: float,
        maxit: int,
    ) -> LineSearchResult:
        """DESeq2's Armijo line search on ``log alpha`` (see ``dispersion.fit_dispersion_line_search``)."""
        ...

    def grid_search(
        self,
        y: np.ndarray,
        x: np.ndarray,
        mu: np.ndarray,
        grid: np.ndarray,
        prior_mean: np.ndarray | None,
        prior_var: float,
    ) -> np.ndarray:
        """Best ``log alpha`` on ``grid``, refined on 20 points over ± one grid step."""
        ...

    def irls(
        self,
        y: np.ndarray,
        size_factors: np.ndarray,
        x: np.ndarray,
        alpha: np.ndarray,
        beta0: np.ndarray,
        lam: np.ndarray,
        *,
        tol: float,
        maxit: int,
        minmu: float,
    ) -> IRLSResult:
        """DESeq2's ``fitBeta`` IRLS from ``beta0`` with ridge ``lam`` (natural-log scale)."""
        ...


def use_kernels(n_genes: int, n_samples: int) -> bool:
    """Whether an input of this size runs the compiled per-gene kernels (:mod:`._kernels`).

    Importing numba and loading its compile cache costs about 0.3 s, which only pays on large
    inputs; the environment variable ``MSCSEQ_ENGINE_KERNELS=1``/``0`` forces the choice.

    Parameters
    ----------
    n_genes, n_samples
        Input size.

    Returns
    -------
    bool
        True when the kernels should be used.

    """
    force = os.environ.get("MSCSEQ_ENGINE_KERNELS", "")
    if force in ("0", "1"):
        return force == "1"
    return n_genes * n_samples >= KERNEL_MIN_CELLS


def select_backend(
    n_genes: int, n_samples: int, *, kernels: bool | None = None, threads: int = 1
) -> EngineBackend:
    """The backend for an input of this size.

    Parameters
    ----------
    n_genes, n_samples
        Input size (genes to fit × samples).
    kernels
        True for :class:`NumbaBackend`, False for :class:`NumpyBackend`, None to decide by size
        (:func:`use_kernels`).
    threads
        Worker threads of the numba backend.

    Returns
    -------
    EngineBackend
        The chosen backend.

    """
    if kernels is None:
        kernels = use_kernels(n_genes, n_samples)
    return NumbaBackend(threads) if kernels else NumpyBackend()


class NumpyBackend:
    """All genes of a block at once, with masks for the genes still iterating (single-threaded)."""

    name = "numpy"

    def line_search(
        self,
        y: np.ndarray,
        x: np.ndarray,
        mu: np.ndarray,
        log_alpha0: np.ndarray,
        prior_mean: np.ndarray | None,
        prior_var: float,
        *,
        min_log_alpha: float,
        kappa0: float,
        tol: float,
        maxit: int,
    ) -> LineSearchResult:
        """DESeq2's Armijo line search for all genes, active genes selected by index."""
        g = y.shape[0]
        p = x.shape[1]
        xx = outer_rows(x)

        def pm(idx: np.ndarray) -> np.ndarray | None:
            return None if prior_mean is None else prior_mean[idx]

        a = np.array(log_alpha0, dtype=float)
        with np.errstate(all="ignore"):
            lp = log_posterior(a, y, mu, xx, p, prior_mean, prior_var)
            dlp = dlog_posterior(a, y, mu, xx, p, prior_mean, prior_var)
        initial_lp = lp.copy()
        kappa = np.full(g, kappa0)
        iters = np.zeros(g, dtype=np.int64)
        accepts = np.zeros(g, dtype=np.int64)
        active = np.arange(g)
        for _ in range(maxit):
            if active.size == 0:
                break
            iters[active] += 1
            a_act = a[active]
            d_act = dlp[active]
            step = kappa[active]
            proposal = a_act + step * d_act
            with np.errstate(all="ignore"):
                step = np.where(proposal < -30.0, (-30.0 - a_act) / d_act, step)
                step = np.where(proposal > 10.0, (10.0 - a_act) / d_act, step)
                a_new = a_act + step * d_act
                lp_new = log_posterior(a_new, y[active], mu[active], xx, p, pm(active), prior_var)
            theta_hat = -lp[active] - step * EPSILON * d_act**2
            accept = -lp_new <= theta_hat
            # rejected proposals: halve the step
            kappa[active] = np.where(accept, step, step / 2.0)
            acc_idx = active[accept]
            accepts[acc_idx] += 1
            a[acc_idx] = a_new[accept]
            change = lp_new[accept] - lp[acc_idx]
            small = change < tol
            below = (~small) & (a_new[accept] < min_log_alpha)
            lp[acc_idx[small]] = lp_new[accept][small]
            cont = ~small & ~below
            cidx = acc_idx[cont]
            lp[cidx] = lp_new[accept][cont]
            if cidx.size:
                with np.errstate(all="ignore"):
                    dlp[cidx] = dlog_posterior(
                        a[cidx], y[cidx], mu[cidx], xx, p, pm(cidx), prior_var
                    )
                k_next = np.minimum(kappa[cidx] * 1.1, kappa0)
                k_next = np.where(accepts[cidx] % 5 == 0, k_next / 2.0, k_next)
                kappa[cidx] = k_next
            stopped = np.zeros(g, dtype=bool)
            stopped[acc_idx[~cont]] = True
            active = active[~stopped[active]]
        return LineSearchResult(a, iters, initial_lp, lp)

    def grid_search(
        self,
        y: np.ndarray,
        x: np.ndarray,
        mu: np.ndarray,
        grid: np.ndarray,
        prior_mean: np.ndarray | None,
        prior_var: float,
    ) -> np.ndarray:
        """Coarse grid then 20 points over ± one step, every gene at every point at once."""
        g = y.shape[0]
        p = x.shape[1]
        xx = outer_rows(x)
        delta = grid[1] - grid[0]

        def scan(points: np.ndarray) -> np.ndarray:
            vals = np.empty((g, points.shape[1]))
            for t in range(points.shape[1]):
                with np.errstate(all="ignore"):
                    vals[:, t] = log_posterior(points[:, t], y, mu, xx, p, prior_mean, prior_var)
            vals = np.where(np.isnan(vals), -np.inf, vals)
            return points[np.arange(g), np.argmax(vals, axis=1)]

        a_hat = scan(np.broadcast_to(grid, (g, grid.size)))
        fine = a_hat[:, None] + np.linspace(-delta, delta, 20)[None, :]
        return scan(fine)

    def irls(
        self,
        y: np.ndarray,
        size_factors: np.ndarray,
        x: np.ndarray,
        alpha: np.ndarray,
        beta0: np.ndarray,
        lam: np.ndarray,
        *,
        tol: float,
        maxit: int,
        minmu: float,
    ) -> IRLSResult:
        """IRLS for all genes: one ``W @ XX`` product and one stacked solve per iteration."""
        g = y.shape[0]
        p = x.shape[1]
        log_sf = np.log(size_factors)
        beta = np.array(beta0, dtype=float)
        xx = outer_rows(x)
        mu_hat = np.maximum(size_factors * np.exp(beta @ x.T), minmu)
        iters = np.zeros(g, dtype=np.int64)
        dev_old = np.zeros(g)
        r_all = 1.0 / alpha
        # the parts of the NB log density that do not depend on mu (for the deviance)
        const = (gammaln(y + r_all[:, None]) - gammaln(r_all)[:, None] - gammaln(y + 1.0)).sum(1)
        active = np.arange(g)
        for t in range(maxit):
            if active.size == 0:
                break
            mu_act = mu_hat[active]
            w = mu_act / (1.0 + alpha[active][:, None] * mu_act)
            z = np.log(mu_act) - log_sf + (y[active] - mu_act) / mu_act
            b = (w @ xx).reshape(-1, p, p) + np.diag(lam)
            rhs = (w * z) @ x
            with np.errstate(all="ignore"):
                beta_new = solve_spd(b, rhs)
            iters[active] += 1
            beta[active] = beta_new
            diverged = ~(np.abs(beta_new) <= LARGE).all(axis=1)
            iters[active[diverged]] = maxit
            act = active[~diverged]
            mu_new = np.maximum(size_factors * np.exp(beta_new[~diverged] @ x.T), minmu)
            mu_hat[act] = mu_new
            r = r_all[act][:, None]
            y_act = y[act]
            with np.errstate(divide="ignore", invalid="ignore"):
                dev = -2.0 * (
                    const[act]
                    + (r * np.log(r / (r + mu_new))).sum(1)
                    + np.where(y_act > 0, y_act * np.log(mu_new / (r + mu_new)), 0.0).sum(1)
                )
                conv = np.abs(dev - dev_old[act]) / (np.abs(dev) + 0.1)
            bad = np.isnan(conv)
            iters[act[bad]] = maxit
            done = bad | ((t > 0) & (conv < tol))
            dev_old[act] = dev
            active = act[~done]
        w = mu_hat / (1.0 + alpha[:, None] * mu_hat)
        binv, sigma = sandwich(w, xx, p, lam)
        hat = w * (binv.reshape(g, p * p) @ xx.T)
        beta_var = np.diagonal(sigma, axis1=1, axis2=2).copy()
        mu = size_factors * np.exp(beta @ x.T)
        return IRLSResult(beta, beta_var, mu, hat, iters, nb_loglike(y, mu, alpha))


class NumbaBackend:
    """The compiled per-gene kernels of :mod:`._kernels`, genes split across worker threads.

    Parameters
    ----------
    threads
        Worker threads; each gets at least 256 genes, and a few tasks each to balance the load.

    """

    name = "numba"

    def __init__(self, threads: int = 1) -> None:
        self.threads = max(1, int(threads))

    def _each_part(self, g: int, fn: Callable[[slice], None]) -> None:
        """Call ``fn`` on consecutive row ranges covering ``0..g`` (in worker threads)."""
        parts = min(4 * self.threads, g // _MIN_ROWS_PER_TASK) if self.threads > 1 else 1
        if parts <= 1:
            fn(slice(0, g))
            return
        edges = np.linspace(0, g, parts + 1).astype(np.int64)
        ranges = [slice(int(a), int(b)) for a, b in itertools.pairwise(edges)]
        with ThreadPoolExecutor(max_workers=self.threads) as ex:
            list(ex.map(fn, ranges))

    def line_search(
        self,
        y: np.ndarray,
        x: np.ndarray,
        mu: np.ndarray,
        log_alpha0: np.ndarray,
        prior_mean: np.ndarray | None,
        prior_var: float,
        *,
        min_log_alpha: float,
        kappa0: float,
        tol: float,
        maxit: int,
    ) -> LineSearchResult:
        """:func:`._kernels.line_search` on parts of the genes."""
        from ._kernels import design_cells, line_search

        g = y.shape[0]
        xc, cell = design_cells(x)
        out = LineSearchResult(np.empty(g), np.empty(g, dtype=np.int64), np.empty(g), np.empty(g))
        has_prior = prior_mean is not None
        pmean = np.ascontiguousarray(prior_mean, dtype=float) if has_prior else np.zeros(g)
        y = np.ascontiguousarray(y, dtype=float)
        mu = np.ascontiguousarray(mu, dtype=float)
        a0 = np.ascontiguousarray(log_alpha0, dtype=float)

        def run(s: slice) -> None:
            line_search(
                y[s],
                mu[s],
                cell,
                xc,
                a0[s],
                has_prior,
                pmean[s],
                float(prior_var),
                float(min_log_alpha),
                float(kappa0),
                float(tol),
                int(maxit),
                out.log_alpha[s],
                out.iterations[s],
                out.initial_lp[s],
                out.last_lp[s],
            )

        self._each_part(g, run)
        return out

    def grid_search(
        self,
        y: np.ndarray,
        x: np.ndarray,
        mu: np.ndarray,
        grid: np.ndarray,
        prior_mean: np.ndarray | None,
        prior_var: float,
    ) -> np.ndarray:
        """:func:`._kernels.grid_search` on parts of the genes."""
        from ._kernels import design_cells, grid_search

        g = y.shape[0]
        xc, cell = design_cells(x)
        out = np.empty(g)
        has_prior = prior_mean is not None
        pmean = np.ascontiguousarray(prior_mean, dtype=float) if has_prior else np.zeros(g)
        y = np.ascontiguousarray(y, dtype=float)
        mu = np.ascontiguousarray(mu, dtype=float)

        def run(s: slice) -> None:
            grid_search(y[s], mu[s], cell, xc, grid, has_prior, pmean[s], float(prior_var), out[s])

        self._each_part(g, run)
        return out

    def irls(
        self,
        y: np.ndarray,
        size_factors: np.ndarray,
        x: np.ndarray,
        alpha: np.ndarray,
        beta0: np.ndarray,
        lam: np.ndarray,
        *,
        tol: float,
        maxit: int,
        minmu: float,
    ) -> IRLSResult:
        """:func:`._kernels.irls` on parts of the genes."""
        from ._kernels import design_cells, irls

        g, n = y.shape
        p = x.shape[1]
        xc, cell = design_cells(x)
        log_sf = np.ascontiguousarray(np.log(size_factors), dtype=float)
        y = np.ascontiguousarray(y, dtype=float)
        alpha = np.ascontiguousarray(alpha, dtype=float)
        lam = np.ascontiguousarray(lam, dtype=float)
        out = IRLSResult(
            beta=np.array(beta0, dtype=float, order="C"),
            beta_var=np.empty((g, p)),
            mu=np.empty((g, n)),
            hat=np.empty((g, n)),
            iterations=np.empty(g, dtype=np.int64),
            loglike=np.empty(g),
        )

        def run(s: slice) -> None:
            irls(
                y[s],
                log_sf,
                cell,
                xc,
                alpha[s],
                out.beta[s],
                lam,
                float(tol),
                int(maxit),
                float(minmu),
                LARGE,
                out.beta_var[s],
                out.mu[s],
                out.hat[s],
                out.iterations[s],
                out.loglike[s],
            )

        self._each_part(g, run)
        return out
