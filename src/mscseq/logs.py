"""Logging to stderr (stdout stays clean for data)."""

from __future__ import annotations

import logging
import sys
import warnings


def setup_logging(*, quiet: bool = False, verbose: bool = False) -> None:
    """Send mscseq's log records to stderr as ``mscseq: message`` lines.

    Parameters
    ----------
    quiet
        Only warnings and errors.
    verbose
        Debug messages too.

    """
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mscseq: %(message)s"))
    root = logging.getLogger("mscseq")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    if not verbose:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", module="pydeseq2")
        warnings.filterwarnings("ignore", module="anndata")
