"""The C allocator's thresholds set, at the start of a command, where glibc would move them anyway.

glibc's ``malloc`` serves a block of 128 KiB or more with its own ``mmap`` and returns it to the system
when freed, so the next array of that size is faulted in page by page again; it raises that threshold
(up to 32 MiB, the trim threshold to twice that) only after such a block has been freed. A run allocates
and frees many arrays of a few MiB (a gene × sample matrix of airway is 4 MiB), and the faults are ~6 %
of ``mscseq de``'s CPU. :func:`tune` sets the thresholds glibc adapts to from the start: blocks below
32 MiB come from the heap and up to 64 MiB of freed heap is kept for reuse (larger arrays are still
mapped and returned to the system, so the peak memory of a large study stays what it was).

Only on Linux with glibc, and not when the user tunes the allocator through the environment
(``MALLOC_*_`` variables or ``GLIBC_TUNABLES``); elsewhere nothing happens.
"""

from __future__ import annotations

import os
import sys

#: ``mallopt`` parameters (glibc's ``malloc.h``) and the values set.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's own ceiling for its adaptive threshold
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc sets with it


def user_tuned(environ: os._Environ[str] | dict[str, str] = os.environ) -> bool:
    """Whether the environment tunes glibc's allocator (then :func:`tune` leaves it alone)."""
    return "GLIBC_TUNABLES" in environ or any(
        k.startswith("MALLOC_") and k.endswith("_") for k in environ
    )


def tune() -> bool:
    """Set glibc's mmap and trim thresholds (:data:`MMAP_THRESHOLD`, :data:`TRIM_THRESHOLD`).

    Returns
    -------
    bool
        True when both were set; False on another platform or C library, or when the user tunes
        the allocator.

    """
    if not sys.platform.startswith("linux") or user_tuned():
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt  # glibc's, already loaded in the process
        mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        done = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        return done and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):  # no mallopt (another C library)
        return False
