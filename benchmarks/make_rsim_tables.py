"""Make the table of R's simulated log-dispersion residuals (``src/mscseq/de/engine/_rsim_tables.py``).

For designs with 1–3 residual degrees of freedom, DESeq2 (``estimateDispersionsPriorVar``)
calls ``set.seed(2)`` and matches the histogram of log dispersion residuals to simulated
``log(rchisq(1e4, df)) + rnorm(1e4, 0, sqrt(v)) - log(df)`` on 200 values of ``v``, then smooths
the KL divergences with ``loess(span = 0.2)``. The result feeds every MAP dispersion, and it is
sensitive to the simulated draws, so these draws must be R's exact stream: R's seeding of the
Mersenne Twister, ``unif_rand``, inversion ``norm_rand``, ``exp_rand`` and the Ahrens–Dieter
``rgamma`` algorithms (GS for shape < 1, GD otherwise), written here from the published
algorithms and checked draw-for-draw against R in ``tests/de/test_engine_units.py``.

The histograms do not depend on the data, so mscseq never runs this at analysis time: it reads
them from ``_rsim_tables.py``. This tool regenerates that table (needs numba)::

    python benchmarks/make_rsim_tables.py check   # the stored table equals the generator's
    python benchmarks/make_rsim_tables.py print   # the base64 text of ``_DATA``
"""

from __future__ import annotations

import math
import sys

import numpy as np
from numba import njit

_N = 624
_M = 397
_I2_32M1 = 2.328306437080797e-10
_BIG = 134217728.0

# q[k-1] = sum_{j<=k} log(2)^j / j!
_EXP_Q = np.cumsum(
    [np.log(2.0) ** k / np.prod(np.arange(1, k + 1, dtype=float)) for k in range(1, 17)]
)
_EXP_Q[-1] = 1.0


def r_seed_state(seed: int) -> np.ndarray:
    """Mersenne-Twister state after R's ``set.seed(seed)`` (624 words; index = 624).

    Parameters
    ----------
    seed
        Integer seed.

    Returns
    -------
    numpy.ndarray
        ``uint32`` state vector.

    """
    s = seed & 0xFFFFFFFF
    for _ in range(50):
        s = (69069 * s + 1) & 0xFFFFFFFF
    out = np.empty(625, dtype=np.uint32)
    for j in range(625):
        s = (69069 * s + 1) & 0xFFFFFFFF
        out[j] = s
    return out[1:].copy()


@njit(cache=True)
def _refill(mt: np.ndarray, buf: np.ndarray) -> None:
    """Twist the Mersenne-Twister state and store the next 624 uniforms (R's fixup applied)."""
    upper = np.uint32(0x80000000)
    lower = np.uint32(0x7FFFFFFF)
    matrix = np.uint32(0x9908B0DF)
    one = np.uint32(1)
    for kk in range(_N):
        y = (mt[kk] & upper) | (mt[(kk + 1) % _N] & lower)
        mag = matrix if (y & one) else np.uint32(0)
        mt[kk] = mt[(kk + _M) % _N] ^ (y >> one) ^ mag
    for kk in range(_N):
        y = mt[kk]
        y ^= y >> np.uint32(11)
        y ^= (y << np.uint32(7)) & np.uint32(0x9D2C5680)
        y ^= (y << np.uint32(15)) & np.uint32(0xEFC60000)
        y ^= y >> np.uint32(18)
        v = float(y) * 2.3283064365386963e-10
        if v <= 0.0:
            v = 0.5 * _I2_32M1
        elif 1.0 - v <= 0.0:
            v = 1.0 - 0.5 * _I2_32M1
        buf[kk] = v


@njit(cache=True)
def _unif(mt: np.ndarray, buf: np.ndarray, pos: np.ndarray) -> float:
    if pos[0] >= _N:
        _refill(mt, buf)
        pos[0] = 0
    v = buf[pos[0]]
    pos[0] += 1
    return v


_QA = np.array(
    [
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    ]
)
_QB = np.array(
    [
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    ]
)
_QC = np.array(
    [
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549671010233500e00,
        4.374664141464968e00,
        2.938163982698783e00,
    ]
)
_QD = np.array(
    [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00]
)


@njit(cache=True)
def _qnorm(p: float, qa: np.ndarray, qb: np.ndarray, qc: np.ndarray, qd: np.ndarray) -> float:
    """Standard normal quantile: rational start (rel. error ~1e-9) and one Halley step."""
    if p < 0.02425 or p > 1.0 - 0.02425:
        pp = p if p < 0.5 else 1.0 - p
        q = math.sqrt(-2.0 * math.log(pp))
        x = (((((qc[0] * q + qc[1]) * q + qc[2]) * q + qc[3]) * q + qc[4]) * q + qc[5]) / (
            (((qd[0] * q + qd[1]) * q + qd[2]) * q + qd[3]) * q + 1.0
        )
        if p >= 0.5:
            x = -x
    else:
        q = p - 0.5
        r = q * q
        x = (
            (((((qa[0] * r + qa[1]) * r + qa[2]) * r + qa[3]) * r + qa[4]) * r + qa[5])
            * q
            / (((((qb[0] * r + qb[1]) * r + qb[2]) * r + qb[3]) * r + qb[4]) * r + 1.0)
        )
    # Halley refinement on the smaller tail
    for _ in range(2):
        if x < 0:
            e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
        else:
            e = (1.0 - p) - 0.5 * math.erfc(x / math.sqrt(2.0))
        u = e * math.sqrt(2.0 * math.pi) * math.exp(0.5 * x * x)
        x = x - u / (1.0 + 0.5 * x * u)
    return x


@njit(cache=True)
def _norm(mt: np.ndarray, buf: np.ndarray, pos: np.ndarray) -> float:
    u = _unif(mt, buf, pos)
    u = float(int(_BIG * u)) + _unif(mt, buf, pos)
    return _qnorm(u / _BIG, _QA, _QB, _QC, _QD)


@njit(cache=True)
def _exp(mt: np.ndarray, buf: np.ndarray, pos: np.ndarray, q: np.ndarray) -> float:
    a = 0.0
    u = _unif(mt, buf, pos)
    while u <= 0.0 or u >= 1.0:
        u = _unif(mt, buf, pos)
    while True:
        u += u
        if u > 1.0:
            break
        a += q[0]
    u -= 1.0
    if u <= q[0]:
        return a + u
    i = 0
    ustar = _unif(mt, buf, pos)
    umin = ustar
    while True:
        ustar = _unif(mt, buf, pos)
        if umin > ustar:
            umin = ustar
        i += 1
        if u <= q[i]:
            break
    return a + umin * q[0]


@njit(cache=True)
def _q_small_v(q0: float, t: float, v: float) -> float:
    """The series for ``q`` in Ahrens–Dieter's gamma sampler when ``|v| <= 0.25`` (as R's rgamma)."""
    series = (
        ((((0.1233795 * v - 0.1367177) * v + 0.1423657) * v - 0.1662921) * v + 0.2000062) * v
        - 0.250003
    ) * v + 0.3333333
    return q0 + 0.5 * t * t * series * v


@njit(cache=True)
def _rgamma(
    a: float, scale: float, mt: np.ndarray, buf: np.ndarray, pos: np.ndarray, q: np.ndarray
) -> float:
    if a < 1.0:
        e = 1.0 + 0.36787944117144233 * a
        while True:
            p = e * _unif(mt, buf, pos)
            if p >= 1.0:
                x = -np.log((e - p) / a)
                if _exp(mt, buf, pos, q) >= (1.0 - a) * np.log(x):
                    break
            else:
                x = np.exp(np.log(p) / a)
                if _exp(mt, buf, pos, q) >= x:
                    break
        return scale * x
    s2 = a - 0.5
    s = np.sqrt(s2)
    d = 5.656854 - s * 12.0
    t = _norm(mt, buf, pos)
    x = s + 0.5 * t
    ret = x * x
    if t >= 0.0:
        return scale * ret
    u = _unif(mt, buf, pos)
    if d * u <= t * t * t:
        return scale * ret
    r = 1.0 / a
    q0 = (
        (
            ((((2.424e-4 * r + 2.4511e-4) * r - 7.388e-5) * r + 0.00144121) * r + 0.00801191) * r
            + 0.02083148
        )
        * r
        + 0.04166669
    ) * r
    if a <= 3.686:
        b = 0.463 + s + 0.178 * s2
        si = 1.235
        c = 0.195 / s - 0.079 + 0.16 * s
    elif a <= 13.022:
        b = 1.654 + 0.0076 * s2
        si = 1.68 / s + 0.275
        c = 0.062 / s + 0.024
    else:
        b = 1.77
        si = 0.75
        c = 0.1515 / s
    if x > 0.0:
        v = t / (s + s)
        if abs(v) <= 0.25:
            qq = _q_small_v(q0, t, v)
        else:
            qq = q0 - s * t + 0.25 * t * t + (s2 + s2) * np.log(1.0 + v)
        if np.log(1.0 - u) <= qq:
            return scale * ret
    while True:
        e = _exp(mt, buf, pos, q)
        u = _unif(mt, buf, pos)
        u = u + u - 1.0
        if u < 0.0:
            t = b - si * e
        else:
            t = b + si * e
        if t >= -0.71874483771719:
            v = t / (s + s)
            if abs(v) <= 0.25:
                qq = _q_small_v(q0, t, v)
            else:
                qq = q0 - s * t + 0.25 * t * t + (s2 + s2) * np.log(1.0 + v)
            if qq > 0.0:
                w = np.expm1(qq)
                if c * abs(u) <= w * np.exp(e - 0.5 * t * t):
                    break
    x = s + 0.5 * t
    return scale * x * x


@njit(cache=True)
def _bin_index(v: float) -> int:
    # R's hist(breaks = -20:20/2, right = TRUE) with its 1e-7 * bin-width fuzz
    return int(np.ceil((v - 5e-8 + 10.0) / 0.5)) - 1


@njit(cache=True)
def _simulated_hists(
    mt: np.ndarray, df: int, sds: np.ndarray, ndraw: int, q: np.ndarray
) -> np.ndarray:
    pos = np.full(1, _N, dtype=np.int64)
    buf = np.empty(_N)
    out = np.zeros((sds.size, 40), dtype=np.int64)
    chis = np.empty(ndraw)
    ldf = np.log(float(df))
    for k in range(sds.size):
        for i in range(ndraw):
            chis[i] = _rgamma(df / 2.0, 2.0, mt, buf, pos, q)
        sd = sds[k]
        for i in range(ndraw):
            v = np.log(chis[i])
            if sd != 0.0:
                v = v + sd * _norm(mt, buf, pos)
            v = v - ldf
            if v > -10.0 and v < 10.0:
                out[k, _bin_index(v)] += 1
    return out


def r_rchisq(n: int, df: float, seed: int) -> np.ndarray:
    """``set.seed(seed); rchisq(n, df)`` as R computes it (for tests).

    Parameters
    ----------
    n
        Number of draws.
    df
        Degrees of freedom.
    seed
        R seed.

    Returns
    -------
    numpy.ndarray
        The draws.

    """
    mt = r_seed_state(seed)
    return _rchisq_many(mt, n, df / 2.0, _EXP_Q)


@njit(cache=True)
def _rchisq_many(mt: np.ndarray, n: int, a: float, q: np.ndarray) -> np.ndarray:
    pos = np.full(1, _N, dtype=np.int64)
    buf = np.empty(_N)
    out = np.empty(n)
    for i in range(n):
        out[i] = _rgamma(a, 2.0, mt, buf, pos, q)
    return out


def simulated_histograms(df: int, variances: np.ndarray, ndraw: int = 10_000) -> np.ndarray:
    """Counts per bin of R's simulated residual distributions, one row per variance.

    Parameters
    ----------
    df
        Residual degrees of freedom (1–3).
    variances
        Grid of prior variances (R: ``seq(0, 8, length = 200)``).
    ndraw
        Draws per grid value.

    Returns
    -------
    numpy.ndarray
        ``(len(variances), 40)`` bin counts on breaks ``-10, -9.5, ..., 10``.

    """
    mt = r_seed_state(2)
    return _simulated_hists(mt, int(df), np.sqrt(np.asarray(variances, float)), ndraw, _EXP_Q)


def _all_histograms() -> np.ndarray:
    return np.stack([simulated_histograms(df, np.linspace(0, 8, 200)) for df in (1, 2, 3)])


def main(argv: list[str]) -> int:
    """``check`` (exit 1 when the stored table differs) or ``print``."""
    import base64
    import zlib

    if argv not in (["check"], ["print"]):
        print(__doc__, file=sys.stderr)
        return 2
    arr = _all_histograms()
    if argv == ["print"]:
        print(base64.b64encode(zlib.compress(arr.astype("<u2").tobytes(), 9)).decode())
        return 0
    from mscseq.de.engine._rsim_tables import simulated_counts

    same = all(np.array_equal(arr[df - 1], simulated_counts(df)) for df in (1, 2, 3))
    print(
        "stored table equals the generator" if same else "stored table DIFFERS from the generator"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
