"""A command's process, set up for one short run: BLAS on one thread, fewer garbage collections.

:func:`setup` is called once at the start of a command (:func:`mscseq.fastexit.run_and_exit`), never when
mscseq is imported as a library. Each setting is left alone when the user made it first.

* **BLAS on one thread** (:func:`single_thread_blas`). numpy's OpenBLAS starts a worker thread per
  core when it loads. mscseq never gives it work worth splitting (its matrix products are small: genes ×
  a few coefficients) and splits its own work across ``--threads`` and forked children
  (:mod:`mscseq.background`). The idle workers cost anyway: after each product they wait for the next by
  spinning on a core, and each forked child starts its own. On a 2-core machine that was ~0.2 s of CPU
  in ``mscseq de`` on airway and ~0.4 s in a 20-product ``compare``, taken from the run's own processes.
  The variables are read by the BLAS library when it loads, so this must run before numpy is imported.
* **Fewer garbage collections** (:func:`collect_less`). The collector runs every 700 new container
  objects and now and then walks every object of the process; a run creates millions (imports, pandas,
  matplotlib) and frees almost all of them by reference counting. A first generation of 200,000
  collects the few reference cycles as surely, ~300 times less often: ~0.2 s less CPU in a 20-product
  ``compare`` and ~0.06 s in ``mscseq de`` on airway. (mypy makes the same trade.)
* The C allocator's thresholds (:func:`mscseq.allocator.tune`).
"""

from __future__ import annotations

import gc
import os
import sys

from mscseq import allocator

#: the environment variables of the BLAS libraries numpy can be built with, set to "1"
BLAS_THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)
#: Python's own collector thresholds, which :func:`collect_less` replaces
DEFAULT_GC_THRESHOLDS = (700, 10, 10)
#: the thresholds of a command's process
GC_THRESHOLDS = (200_000, 30, 30)


def setup() -> None:
    """Set up this process for a command: :func:`single_thread_blas`, :func:`collect_less`, the allocator."""
    allocator.tune()
    single_thread_blas()
    collect_less()


def single_thread_blas(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Set :data:`BLAS_THREAD_VARIABLES` to 1 in ``environ`` for a command's process.

    Parameters
    ----------
    environ
        The environment to set (the process's own by default).

    Returns
    -------
    bool
        True when they were set; False when numpy is already imported (its BLAS has read its
        setting; :func:`mscseq.pipeline._one_blas_thread` still limits the analysis) or the user sets
        BLAS or OpenMP threads.

    """
    if "numpy" in sys.modules or "OMP_NUM_THREADS" in environ:
        return False
    if any(k in environ for k in BLAS_THREAD_VARIABLES):
        return False
    for key in BLAS_THREAD_VARIABLES:
        environ[key] = "1"
    return True


def collect_less() -> bool:
    """Raise the garbage collector's thresholds to :data:`GC_THRESHOLDS`.

    Returns
    -------
    bool
        True when they were set; False when they were not Python's defaults (someone chose them).

    """
    if gc.get_threshold() != DEFAULT_GC_THRESHOLDS:
        return False
    gc.set_threshold(*GC_THRESHOLDS)
    return True
