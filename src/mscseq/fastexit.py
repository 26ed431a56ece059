"""End the process as soon as a command is done, without the interpreter's teardown.

After a run, Python's normal exit frees every object and unloads the ~2,400 modules a ``compare`` run
imports (pandas, anndata, scipy, scikit-learn, numba, matplotlib): about 0.8 s of CPU on a 20-product ×
61,533-gene study, for nothing the user sees. :func:`exit_now` does what that exit does that matters
(the ``atexit`` handlers, which include logging's flush and the clean-up of temporary folders and child
processes, then flushing stdout and stderr) and ends the process with ``os._exit``. It falls back to the
normal exit whenever that would not be the same: another Python thread still running, or a stream that
cannot be flushed (e.g. a closed pipe, which the normal exit reports as it always did).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn


def _status(code: object) -> int:
    """Exit status of ``SystemExit(code)``; a message (not an int) is printed, as Python does."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def exit_now(code: object = 0) -> NoReturn:
    """Exit with ``code`` (as ``sys.exit`` takes it) without tearing the interpreter down.

    Parameters
    ----------
    code
        ``None`` or an int status, or a message (printed to stderr, status 1).

    """
    if threading.active_count() > 1:
        sys.exit(code)  # a non-daemon thread would be joined by the normal exit: keep it
    status = _status(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # e.g. BrokenPipeError: the normal exit handles and reports it
        sys.exit(status)
    os._exit(status)


def run_and_exit(main: Callable[[], object]) -> NoReturn:
    """Run a command's entry point, then :func:`exit_now` with its status.

    The process is first set up as a command's (:func:`mscseq.process.setup`: BLAS threads, the
    garbage collector's thresholds, the C allocator).
    Exceptions other than ``SystemExit`` (a bug's traceback, Ctrl-C) propagate as usual.

    Parameters
    ----------
    main
        The entry point (e.g. :func:`mscseq.cli.main`).

    """
    from mscseq.process import setup

    setup()  # before numpy is imported (BLAS reads its thread count when it loads)
    try:
        main()
    except SystemExit as exc:
        exit_now(exc.code)
    exit_now(0)
