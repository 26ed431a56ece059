"""Read a JSON file mscseq wrote (``summary.json``, ``run_info.json``) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mscseq.errors import MscseqError


def read_json(path: Path, *, what: str = "written by mscseq", advice: str = "") -> Any:
    """Parse a JSON file; any problem is a one-line :class:`~mscseq.errors.MscseqError` naming it.

    Used by ``mscseq collect`` (:func:`mscseq.batch.read_summary`) and ``mscseq report``
    (:mod:`mscseq.report.folder`), which read files a user may have edited or damaged.

    Parameters
    ----------
    path
        The file.
    what
        What the file should be, ending "not UTF-8 text, so not <what>".
    advice
        Appended to the messages about the content (``"; re-run ..."``).

    Returns
    -------
    Any
        The parsed JSON value (the caller checks its shape).

    Raises
    ------
    MscseqError
        Unreadable, not UTF-8, not JSON, or nested beyond Python's recursion limit.

    """
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        msg = f"{path}: not UTF-8 text, so not {what}{advice}"
    except json.JSONDecodeError as exc:
        msg = f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}){advice}"
    except RecursionError:
        msg = f"{path}: JSON nested too deeply, so not {what}{advice}"
    except OSError as exc:
        msg = f"{path}: cannot be read ({exc.strerror or type(exc).__name__})"
    raise MscseqError(msg)
