"""BLAS on one thread for a command's whole process, set before numpy loads its BLAS.

numpy's OpenBLAS starts a worker thread per core when it is loaded. mscseq never gives it work worth
splitting (its matrix products are small: genes × a few coefficients), and it splits its own work across
``--threads`` and forked children instead (:mod:`mscseq.background`). The idle workers cost anyway:
after each product they wait for the next one by spinning on a core, and each forked child starts its
own. On a 2-core machine that was ~0.2 s of CPU in ``mscseq de`` on airway and ~0.4 s in a 20-product
``compare``, taken from the run's own processes.

:func:`single_thread` sets the thread count of the BLAS libraries numpy may be built with (OpenBLAS,
MKL, BLIS, Accelerate) to 1 in the environment, which they read when they load. It leaves everything
alone when the user sets one of them (or ``OMP_NUM_THREADS``), and does nothing once numpy is imported
(the library has read its setting then; :func:`mscseq.pipeline._one_blas_thread` still limits the
analysis through ``threadpoolctl`` when mscseq runs as a library).
"""

from __future__ import annotations

import os
import sys

#: the environment variables of the BLAS libraries numpy can be built with, set to "1"
BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def single_thread(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Set :data:`BLAS_THREAD_VARIABLES` to 1 in ``environ`` for a command's process.

    Parameters
    ----------
    environ
        The environment to set (the process's own by default).

    Returns
    -------
    bool
        True when they were set; False when numpy is already imported or the user sets BLAS or
        OpenMP threads.

    """
    if "numpy" in sys.modules or "OMP_NUM_THREADS" in environ:
        return False
    if any(k in environ for k in BLAS_THREAD_VARIABLES):
        return False
    for key in BLAS_THREAD_VARIABLES:
        environ[key] = "1"
    return True
