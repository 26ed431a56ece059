"""Re-render ``report.html`` of an existing output folder (``mscseq report DIR``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mscseq.errors import MscseqError

#: Files of an output folder the report is rendered from.
NEEDED = ("mscseq.h5ad", "summary.json", "run_info.json")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        msg = f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); re-run 'mscseq compare' to rebuild it"
        raise MscseqError(msg) from None
    if not isinstance(data, dict):
        msg = f"{path}: expected a JSON object"
        raise MscseqError(msg)
    return data


def render_folder(folder: str | Path) -> Path:
    """Render ``folder/report.html`` from the folder's AnnData, summary and run record.

    The report is written to a temporary file and renamed into place, so an existing report is
    replaced only by a complete one.

    Parameters
    ----------
    folder
        An output folder of ``mscseq compare``.

    Returns
    -------
    pathlib.Path
        Path of the written report.

    """
    import anndata as ad

    from mscseq.outputs import atomic_write_text
    from mscseq.report.render import render_report

    d = Path(folder)
    if not d.is_dir():
        msg = f"{d}: no such folder; give an output folder of 'mscseq compare'"
        raise MscseqError(msg)
    missing = [n for n in NEEDED if not (d / n).is_file()]
    if missing:
        msg = f"{d}: not an mscseq output folder (missing {', '.join(missing)})"
        raise MscseqError(msg)
    summary = _read_json(d / "summary.json")
    run_info = _read_json(d / "run_info.json")
    try:
        adata = ad.read_h5ad(d / "mscseq.h5ad")
    except (OSError, KeyError, ValueError) as exc:
        msg = f"{d / 'mscseq.h5ad'}: cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        raise MscseqError(msg) from None
    html = render_report(adata, summary=summary, run_info=run_info)
    out = d / "report.html"
    atomic_write_text(out, html)
    return out
