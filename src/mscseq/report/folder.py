"""Re-render ``report.html`` of an existing output folder (``mscseq report DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mscseq.errors import MscseqError
from mscseq.jsonfile import read_json

#: Files of an output folder the report is rendered from.
NEEDED = ("mscseq.h5ad", "summary.json", "run_info.json")


#: What the report reads from ``mscseq.h5ad`` besides ``X``: (attribute, key).
H5AD_KEYS = (
    ("obs", "library_size"),
    ("obs", "detected_genes"),
    ("obs", "top100_fraction"),
    ("obs", "size_factor"),
    ("var", "gene_name"),
    ("layers", "vst"),
    ("obsm", "X_pca"),
    ("obsp", "pearson"),
    ("uns", "pca"),
    ("uns", "clustering"),
)
#: Fields of ``run_info.json`` the report reads, with their JSON type.
RUN_INFO_TYPES: dict[str, type] = {
    "parameters": dict,
    "versions": dict,
    "command": list,
    "inputs": list,
    "finished": str,
}
_REBUILD = "re-run 'mscseq compare' to rebuild the folder"


def _read_json(path: Path) -> dict[str, Any]:
    data = read_json(path, advice=f"; {_REBUILD}")
    if not isinstance(data, dict):
        msg = f"{path}: expected a JSON object"
        raise MscseqError(msg)
    return data


def _check_summary(path: Path, summary: dict[str, Any]) -> None:
    from mscseq.schemas import validate_summary

    try:
        validate_summary(summary)
    except MscseqError as exc:
        msg = f"{path}: {exc}; {_REBUILD}"
        raise MscseqError(msg) from None


def _check_run_info(path: Path, run_info: dict[str, Any]) -> None:
    for key, kind in RUN_INFO_TYPES.items():
        if key in run_info and run_info[key] is not None and not isinstance(run_info[key], kind):
            msg = f"{path}: '{key}' is not a JSON {'object' if kind is dict else kind.__name__.replace('str', 'string')}; {_REBUILD}"
            raise MscseqError(msg)


def _check_adata(path: Path, adata) -> None:
    missing = [f"{attr}[{key!r}]" for attr, key in H5AD_KEYS if key not in getattr(adata, attr)]
    if missing:
        msg = f"{path}: not as mscseq writes it (missing {', '.join(missing)}); {_REBUILD}"
        raise MscseqError(msg)


def render_folder(folder: str | Path) -> Path:
    """Render ``folder/report.html`` from the folder's AnnData, summary and run record.

    The three files are checked first (``summary.json`` against its schema, the fields of
    ``run_info.json`` and the keys of ``mscseq.h5ad`` the report reads), so a damaged or edited folder
    is a one-line error. The report is written to a temporary file and renamed into place, so an
    existing report is replaced only by a complete one.

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
    _check_summary(d / "summary.json", summary)
    run_info = _read_json(d / "run_info.json")
    _check_run_info(d / "run_info.json", run_info)
    try:
        adata = ad.read_h5ad(d / "mscseq.h5ad")
    except (OSError, KeyError, ValueError, TypeError) as exc:
        msg = f"{d / 'mscseq.h5ad'}: cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        raise MscseqError(msg) from None
    _check_adata(d / "mscseq.h5ad", adata)
    html = render_report(adata, summary=summary, run_info=run_info)
    out = d / "report.html"
    atomic_write_text(out, html)
    return out
