"""Writing the output folder atomically: tables, summary.json, run_info.json, mscseq.h5ad.

An output folder is only ever replaced (``--force``) when it is recognisably mscseq's own: see
:func:`foreign_content`. The replacement is a lock-protected pair of renames with SIGINT/SIGTERM deferred
in between (:func:`atomic_folder`), so an interruption never leaves ``DIR`` missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from mscseq.errors import MscseqError

log = logging.getLogger(__name__)

SUMMARY_SCHEMA = "mscseq.summary/2"
#: The previous version: a comparability block of the per-gene rule (``metrics``, products with ``sample``).
RUN_INFO_SCHEMA = "mscseq.run_info/1"
TMP_TAG = ".mscseq-tmp-"
OLD_TAG = ".mscseq-old-"
LOCK_TAG = TMP_TAG + "lock"  # a hidden temporary sibling, like the others a SIGKILL may leave
PROBE_TAG = ".mscseq-probe-"

#: Files mscseq writes at the top of an output folder.
OUTPUT_FILES = frozenset({"report.html", "summary.json", "run_info.json", "mscseq.h5ad"})
#: Sub-folders mscseq writes, with the endings of the files it puts in them.
OUTPUT_FOLDERS: dict[str, tuple[str, ...]] = {
    "tables": (".tsv",),
    "multiqc": ("_mqc.tsv", "_mqc.json"),
    "figures": (".pdf", ".png"),
}
#: ``run_info.json`` larger than this is not one mscseq wrote.
_RUN_INFO_MAX_BYTES = 64 << 20


def _protected(out: Path, inputs: Iterable[str | Path]) -> str | None:
    """Why ``out`` (resolved) must never be written or replaced, or ``None``."""
    if out == Path(out.anchor):
        return "it is the root folder"
    home = Path(os.path.expanduser("~")).resolve()
    if home == out or home.is_relative_to(out):
        return "it is your home folder or contains it"
    cwd = Path.cwd().resolve()
    if cwd == out or cwd.is_relative_to(out):
        return "it is the current folder or contains it"
    for p in inputs:
        if not str(p) or str(p) == "-":
            continue
        src = Path(
            os.path.realpath(p)
        )  # realpath: no error on a symlink loop (reported by the reader)
        if src == out or src.is_relative_to(out):
            return f"it holds the input {p}"
    return None


def foreign_content(out: Path) -> str | None:
    """What makes ``out`` not an mscseq output folder, or ``None`` when it is one.

    An mscseq output folder has a ``run_info.json`` whose ``schema`` is ``mscseq.run_info/...`` and
    holds nothing mscseq did not write: only the files :data:`OUTPUT_FILES`, the folders
    :data:`OUTPUT_FOLDERS` with files of the listed endings in them, and hidden temporary files
    ``.<file>.mscseq-tmp-*`` of an interrupted ``mscseq report``. Symbolic links, other files and
    deeper folders make it foreign.

    Parameters
    ----------
    out
        An existing folder.

    Returns
    -------
    str or None
        A short reason (``"it holds 'thesis.docx', which mscseq did not write"``), or ``None``.

    """
    info = out / "run_info.json"
    if info.is_symlink() or not info.is_file():
        return "it has no run_info.json"
    try:
        if info.stat().st_size > _RUN_INFO_MAX_BYTES:
            raise ValueError
        data = json.loads(info.read_text(encoding="utf-8"))
        schema = str(data.get("schema", ""))
    except (OSError, ValueError, RecursionError, AttributeError):
        return "its run_info.json is not one mscseq wrote"
    if not schema.startswith(RUN_INFO_SCHEMA.split("/")[0] + "/"):
        return "its run_info.json is not one mscseq wrote"
    for entry in sorted(out.iterdir()):
        name = entry.name
        if entry.is_symlink():
            return f"it holds the link {name!r}, which mscseq did not write"
        if name in OUTPUT_FILES and entry.is_file():
            continue
        if name.startswith(".") and TMP_TAG in name and name[1:].split(TMP_TAG)[0] in OUTPUT_FILES:
            continue
        endings = OUTPUT_FOLDERS.get(name)
        if endings is not None and entry.is_dir():
            for sub in sorted(entry.iterdir()):
                if sub.is_symlink() or not sub.is_file() or not sub.name.endswith(endings):
                    return f"it holds {name}/{sub.name!r}, which mscseq did not write"
            continue
        return f"it holds {name!r}, which mscseq did not write"
    return None


def check_outdir(outdir: str | Path, *, force: bool, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse an output folder that must not be written; an existing non-empty one unless ``force``.

    Always refused: a path that is a file, the root folder, the home folder, the current folder,
    a folder containing any of them or any input. With ``force`` an existing non-empty folder is
    accepted only when it is an mscseq output folder (:func:`foreign_content`).

    Parameters
    ----------
    outdir
        The requested output folder.
    force
        Allow replacing an existing mscseq output folder.
    inputs
        The run's input files (count files, sheet, ``path`` column files, panels, tx2gene).

    Returns
    -------
    pathlib.Path
        The folder path.

    """
    out = Path(outdir)
    if out.exists() and not out.is_dir():
        msg = f"{out}: exists and is not a folder; choose another --outdir"
        raise MscseqError(msg)
    why = _protected(Path(os.path.realpath(out)), inputs)
    if why is not None:
        msg = f"{out}: refused as output folder: {why}; choose a new folder for --outdir"
        raise MscseqError(msg)
    if out.is_dir() and any(out.iterdir()):
        if not force:
            msg = f"{out}: the output folder exists and is not empty; choose another --outdir or pass --force to replace it"
            raise MscseqError(msg)
        why = foreign_content(out)
        if why is not None:
            msg = (
                f"{out}: not an mscseq output folder ({why}), and --force replaces nothing else; "
                "choose another --outdir or empty the folder yourself"
            )
            raise MscseqError(msg)
    check_can_create(out, option="--outdir")
    return out


def check_can_create(path: Path, *, option: str) -> None:
    """Refuse a path that cannot be created: a parent is a file, or the nearest folder is not writable.

    Missing parent folders are fine: they are made when the output is written (like ``mkdir -p``).
    Writability is probed by creating and removing a hidden folder, before any work is done.

    Parameters
    ----------
    path
        The output file or folder.
    option
        The option that named it, for the message.

    """
    ancestor = next(p for p in path.absolute().parents if p.exists())
    if not ancestor.is_dir():
        msg = f"{ancestor}: is a file, so {option} {path} cannot be written under it"
        raise MscseqError(msg)
    probe = ancestor / f".{path.name}{PROBE_TAG}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        msg = f"{option} {path}: cannot write in {ancestor} ({exc.strerror or type(exc).__name__})"
        raise MscseqError(msg) from None


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the hidden sibling ``.<DIR>.mscseq-tmp-lock`` while writing ``out``.

    Raises
    ------
    MscseqError
        When another process holds the lock (another mscseq run writing the same folder).

    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no lock
        yield
        return
    path = out.parent / f".{out.name}{LOCK_TAG}"
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _write_error(out, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            msg = f"{out}: another mscseq run is writing this folder; wait for it to finish or choose another --outdir"
            raise MscseqError(msg) from None
        try:  # the previous holder may have removed the file between our open and flock
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


_DEFERRED = (signal.SIGINT, signal.SIGTERM)
_PLACED: list[Path] = []


def placed_folders(*, clear: bool = False) -> list[Path]:
    """Output folders this process has put in place (complete) since the list was last cleared.

    The CLI clears it when a command starts and reads it when the command is interrupted, so an
    interruption after the output is in place is not reported as "no output was written".

    Parameters
    ----------
    clear
        Empty the list (after returning its content).

    Returns
    -------
    list of pathlib.Path
        The folders, oldest first.

    """
    placed = list(_PLACED)
    if clear:
        _PLACED.clear()
    return placed


@contextlib.contextmanager
def signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM back in the block: they are recorded, not acted on.

    Python runs signal handlers in the main thread, whichever thread the signal reached, so the
    handlers are swapped for one that only records the signal, and put back afterwards. Off the
    main thread (where handlers cannot be changed) the block runs unprotected.

    Yields
    ------
    list of int
        The signals that arrived during the block (filled as they come).

    """
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        yield arrived
        return

    def record(signum: int, frame: object) -> None:
        arrived.append(signum)

    previous = {s: signal.signal(s, record) for s in _DEFERRED}
    try:
        yield arrived
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def swap_into_place(tmp: Path, out: Path) -> None:
    """Move the complete folder ``tmp`` to ``out``, replacing an existing ``out``.

    The two renames (``out`` aside, ``tmp`` in) run with SIGINT and SIGTERM deferred. If anything
    stops them half-way, the previous folder is put back on its path and ``tmp`` removed. Once the
    new folder is in place an interruption is not a failure: it is logged and ignored.

    Parameters
    ----------
    tmp
        The new, complete folder (a sibling of ``out``).
    out
        The final path.

    """
    old = out.parent / f".{out.name}{OLD_TAG}{os.getpid()}-{secrets.token_hex(4)}"
    with signals_deferred() as arrived:
        try:
            if out.exists():
                out.rename(old)
            tmp.rename(out)
        except BaseException as exc:
            if tmp.exists():  # the new folder did not get into place: put the old one back
                if old.exists() and not out.exists():
                    old.rename(out)
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            if not isinstance(exc, KeyboardInterrupt):
                raise
            arrived.append(signal.SIGINT)
        _PLACED.append(out)
        try:
            shutil.rmtree(old, ignore_errors=True)
        except KeyboardInterrupt:
            arrived.append(signal.SIGINT)
            shutil.rmtree(old, ignore_errors=True)
    if arrived:
        log.warning(
            "%s: interrupted after the new output was complete and in place; it is kept", out
        )


@contextlib.contextmanager
def reserved_folder(
    outdir: str | Path, *, force: bool, inputs: Iterable[str | Path] = ()
) -> Iterator[Path]:
    """Check ``outdir`` and hold its lock (:func:`folder_lock`) for the block.

    ``run_compare`` holds it from before the analysis to the end of writing, so a second run on the
    same folder stops at once (exit 2) instead of after its whole analysis. Missing parent folders
    are made (like ``mkdir -p``); runs interrupted earlier are cleaned up (:func:`recover_stale`).

    Parameters
    ----------
    outdir
        Final folder.
    force
        Replace an existing mscseq output folder.
    inputs
        The run's input files, which ``outdir`` must not contain (see :func:`check_outdir`).

    Yields
    ------
    pathlib.Path
        The resolved folder path, for :func:`atomic_folder` with ``locked=True``.

    """
    out = check_outdir(outdir, force=force, inputs=inputs).resolve()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # like mkdir -p: missing parents are made
    except OSError as exc:
        raise _write_error(out, exc) from None
    with folder_lock(out):
        recover_stale(out)
        yield out


@contextlib.contextmanager
def atomic_folder(
    outdir: str | Path, *, force: bool, inputs: Iterable[str | Path] = (), locked: bool = False
) -> Iterator[Path]:
    """Yield a temporary folder beside ``outdir``; move it into place only if the block succeeds.

    On any exception (including ``KeyboardInterrupt``) the temporary folder is deleted and ``outdir``
    is left as it was; an ``OSError`` (disk full, permissions) becomes an :class:`MscseqError` naming
    the path. With ``force``, an existing mscseq output folder is replaced only after the new one is
    complete (:func:`swap_into_place`). A lock (:func:`folder_lock`) keeps two runs from writing the
    same folder at once.

    Parameters
    ----------
    outdir
        Final folder.
    force
        Replace an existing mscseq output folder.
    inputs
        The run's input files, which ``outdir`` must not contain (see :func:`check_outdir`).
    locked
        The caller already holds the folder's lock (``outdir`` from :func:`reserved_folder`).

    Yields
    ------
    pathlib.Path
        The temporary folder to write into.

    """
    inputs = list(inputs)
    with contextlib.ExitStack() as stack:
        if locked:
            out = Path(outdir)
        else:
            out = stack.enter_context(reserved_folder(outdir, force=force, inputs=inputs))
        out = check_outdir(out, force=force, inputs=inputs)
        tmp = out.parent / f".{out.name}{TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
            yield tmp
            check_outdir(out, force=force, inputs=inputs)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _write_error(out, exc) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        try:
            swap_into_place(tmp, out)
        except OSError as exc:
            raise _write_error(out, exc) from None


def _write_error(out: Path, exc: OSError) -> MscseqError:
    where = f" ({exc.filename})" if exc.filename else ""
    reason = exc.strerror or str(exc) or type(exc).__name__
    return MscseqError(
        f"{out}: cannot write the output folder: {reason}{where}; nothing was written"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_stale(out: Path) -> list[Path]:
    """Clean up after an earlier run of this folder that was killed (SIGKILL, power loss).

    Siblings ``.<DIR>.mscseq-tmp-<pid>-*`` of a process that no longer runs are deleted. A
    ``.<DIR>.mscseq-old-<pid>-*`` sibling means the run died between moving the previous results aside
    and moving the new ones in: when ``DIR`` is missing the previous results are put back.

    Parameters
    ----------
    out
        The output folder.

    Returns
    -------
    list of pathlib.Path
        What was removed or restored.

    """
    done = []
    for tag in (OLD_TAG, TMP_TAG):
        for p in sorted(out.parent.glob(f".{out.name}{tag}*")):
            pid_text = p.name[len(f".{out.name}{tag}") :].split("-", 1)[0]
            if not pid_text.isdigit() or _pid_alive(int(pid_text)):
                continue
            if tag == OLD_TAG and not out.exists():
                p.rename(out)
                log.warning(
                    "%s: restored the previous results left aside by an interrupted run", out
                )
            else:
                shutil.rmtree(p, ignore_errors=True)
                log.warning("%s: removed %s left by an interrupted run", out, p.name)
            done.append(p)
    return done


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}{TMP_TAG}{secrets.token_hex(4)}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


#: First characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = frozenset("=+-@\t\r")


def spreadsheet_safe(text: str) -> str:
    """``text`` with a ``'`` in front when a spreadsheet would read it as a formula.

    Cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return are prefixed with a
    single quote (OWASP's advice against CSV injection), unless the whole cell is a number such as
    ``-1.5`` or ``-inf``, which stays as it is.

    Parameters
    ----------
    text
        A cell, header or name as it would be written.

    Returns
    -------
    str
        The text to write.

    """
    if text[:1] not in FORMULA_TRIGGERS:
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text


def _column_text(values: pd.Series | pd.Index) -> list[str]:
    """One column as text: shortest round-trip floats (``repr``), ``NA`` for missing values.

    Text cells that a spreadsheet would run as formulas are neutralised (:func:`spreadsheet_safe`).
    """
    if values.dtype.kind == "f":
        return ["NA" if x != x else repr(x) for x in values.tolist()]
    if values.dtype.kind in "iub":
        return [str(x) for x in values.tolist()]
    return [
        "NA" if x is None or (isinstance(x, float) and x != x) else spreadsheet_safe(str(x))
        for x in values.tolist()
    ]


def _bulk_formatter() -> ModuleType | None:
    """:mod:`mscseq.floattext` when pyarrow is installed (it formats in bulk), else ``None``."""
    try:
        from mscseq import floattext
    except ImportError:  # pragma: no cover - pyarrow is optional; the Python loop writes the same
        return None
    return floattext


def _column_arrow(arrow: ModuleType, values: pd.Series | pd.Index) -> Any:
    """One column as an Arrow string array holding the text of :func:`_column_text`.

    numpy float and integer columns and object columns of strings are formatted in bulk by ``arrow``
    (:mod:`mscseq.floattext`, the same text); other columns go through :func:`_column_text`.
    """
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        return arrow.float_text(values.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return arrow.int_text(values.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind == "O":
        text = arrow.str_text(values.to_numpy(), FORMULA_TRIGGERS, spreadsheet_safe)
        if text is not None:
            return text
    return arrow.pa.array(_column_text(values), arrow.pa.string())


#: Rows formatted at a time when a table is written: bounds the text held in memory (a few MB).
BLOCK_ROWS = 8192


def tsv_blocks(
    df: pd.DataFrame,
    *,
    index_label: str | None = None,
    block_rows: int | None = None,
    fast: bool = True,
) -> Iterator[str]:
    """A table as TSV text in pieces: the header line, then blocks of ``block_rows`` rows.

    The pieces joined are byte-identical to pandas' ``to_csv(sep="\t", na_rep="NA")`` (shortest
    round-trip floats), except that text cells and headers a spreadsheet would read as formulas get a
    leading ``'`` (:func:`spreadsheet_safe`); numbers are never changed.

    Parameters
    ----------
    df
        The table (no tabs or newlines inside values).
    index_label
        Name of the index column; ``None`` leaves the index out.
    block_rows
        Rows per piece (default :data:`BLOCK_ROWS`).
    fast
        Format numeric columns in bulk with pyarrow when it is installed (:mod:`mscseq.floattext`);
        ``False`` formats every cell in Python. The text is the same either way.

    Yields
    ------
    str
        Lines, each ending in ``\n``.

    """
    header = [spreadsheet_safe(str(c)) for c in df.columns]
    if index_label is not None:
        header.insert(0, spreadsheet_safe(index_label))
    yield "\t".join(header) + "\n"
    block_rows = block_rows or BLOCK_ROWS
    arrow = _bulk_formatter() if fast else None
    for start in range(0, len(df), block_rows):
        part = df.iloc[start : start + block_rows]
        if arrow is not None and (part.shape[1] or index_label is not None):
            try:
                columns = [_column_arrow(arrow, part.iloc[:, j]) for j in range(part.shape[1])]
                if index_label is not None:
                    columns.insert(0, _column_arrow(arrow, part.index))
            except (UnicodeError, arrow.pa.ArrowException):  # e.g. a lone surrogate: Python's text
                pass
            else:
                yield arrow.join_lines(columns)
                continue
        columns = [_column_text(part.iloc[:, j]) for j in range(part.shape[1])]
        if index_label is not None:
            columns.insert(0, _column_text(part.index))
        yield "".join([row + "\n" for row in map("\t".join, zip(*columns, strict=True))])


def tsv_text(df: pd.DataFrame, *, index_label: str | None = None) -> str:
    """A table as TSV text, byte-identical to pandas' ``to_csv(sep="\\t", na_rep="NA")`` but about twice as fast.

    Except that text cells and headers a spreadsheet would read as formulas get a leading ``'``
    (:func:`spreadsheet_safe`); numbers are never changed. See :func:`tsv_blocks`.

    Parameters
    ----------
    df
        The table (no tabs or newlines inside values).
    index_label
        Name of the index column; ``None`` leaves the index out.

    Returns
    -------
    str
        Header line and one line per row, each ending in ``\\n``.

    """
    return "".join(tsv_blocks(df, index_label=index_label))


def write_tsv(df: pd.DataFrame, path: Path, *, index_label: str | None = None) -> None:
    """Write a table as TSV (full float precision, ``NA`` for missing values) block by block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        for piece in tsv_blocks(df, index_label=index_label):
            fh.write(piece)


def sha256sum(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/pandas values to plain JSON types (NaN and inf become ``None``)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, pd.DataFrame):
        return to_jsonable(obj.to_dict(orient="records"))
    if obj is None or isinstance(obj, str | int):
        return obj
    return str(obj)


def dump_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys kept in insertion order, two-space indent)."""
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_tables(adata, tables: Path) -> list[str]:
    """Write every table of the output contract into ``tables``; returns the file names."""
    tables.mkdir(parents=True, exist_ok=True)
    samples = pd.Index(adata.obs_names, name="sample")
    genes = pd.Index(adata.var_names, name="gene_id")
    written = []

    def put(name: str, df: pd.DataFrame, index_label: str | None) -> None:
        write_tsv(df, tables / name, index_label=index_label)
        written.append(name)

    put(
        "size_factors.tsv",
        pd.DataFrame({"size_factor": adata.obs["size_factor"].to_numpy()}, index=samples),
        "sample",
    )
    put(
        "normalized_counts.tsv",
        pd.DataFrame(np.asarray(adata.layers["normalized"]).T, index=genes, columns=samples),
        "gene_id",
    )
    put(
        "vst.tsv",
        pd.DataFrame(np.asarray(adata.layers["vst"]).T, index=genes, columns=samples),
        "gene_id",
    )
    qc_cols = [
        c
        for c in ("library_size", "detected_genes", "top100_fraction", "size_factor")
        if c in adata.obs
    ]
    qc_cols += [c for c in adata.obs.columns if c.startswith("tool_")]
    put("qc.tsv", adata.obs[qc_cols].set_axis(samples, axis=0), "sample")
    pcs = np.asarray(adata.obsm["X_pca"])
    pc_names = [f"PC{i + 1}" for i in range(pcs.shape[1])]
    put("pca.tsv", pd.DataFrame(pcs, index=samples, columns=pc_names), "sample")
    pv = adata.uns["pca"]
    put(
        "pca_variance.tsv",
        pd.DataFrame(
            {
                "variance": np.asarray(pv["variance"]),
                "variance_ratio": np.asarray(pv["variance_ratio"]),
            },
            index=pd.Index(pc_names, name="pc"),
        ),
        "pc",
    )
    corr = pd.DataFrame(np.asarray(adata.obsp["pearson"]), index=samples, columns=samples)
    put("sample_correlation.tsv", corr, "sample")
    put(
        "sample_correlation_spearman.tsv",
        pd.DataFrame(np.asarray(adata.obsp["spearman"]), index=samples, columns=samples),
        "sample",
    )
    for name, res in adata.uns.get("de", {}).items():
        put(f"de_{name}.tsv", res, "gene_id")
    comp = adata.uns.get("comparability_tables", {})
    for key in ("products", "panel_scores"):
        if key in comp:
            put(f"{key}.tsv", comp[key], "sample")
    if "tier1" in comp and len(comp["tier1"]):
        put("tier1.tsv", comp["tier1"].set_index("comparison"), "comparison")
    for name, res in comp.get("tier2_genes", {}).items():
        put(f"tier2_{name}.tsv", res, "gene_id")
    if "variance_partition" in comp:
        put("variance_partition.tsv", comp["variance_partition"], "gene_id")
    if "products" in adata.uns:  # --product: QC of each library before summing
        put("libraries.tsv", adata.uns["products"]["library_qc"], "library")
    return written


def build_summary(adata) -> dict[str, Any]:
    """The machine-readable summary of a run (``summary.json``)."""
    from mscseq import __version__

    x = np.asarray(adata.X)
    obs = adata.obs
    qc = [
        {
            "sample": str(s),
            "library_size": int(obs.at[s, "library_size"]),
            "detected_genes": int(obs.at[s, "detected_genes"]),
            "top100_fraction": float(obs.at[s, "top100_fraction"]),
            "size_factor": float(obs.at[s, "size_factor"]),
        }
        for s in adata.obs_names
    ]
    pv = adata.uns["pca"]
    summary: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "mscseq_version": __version__,
        "dimensions": {
            "n_samples": int(adata.n_obs),
            "n_genes": int(adata.n_vars),
            "n_genes_expressed": int((x.sum(axis=0) > 0).sum()),
        },
        "design": adata.uns.get("mscseq", {}).get("params", {}).get("design", "~ 1"),
        "qc": qc,
        "pca": {
            "n_top_genes": int(pv["n_top"]),
            # a share of the variance: rounding can exceed 1 by an ulp when one PC holds it all
            "variance_ratio": [min(float(v), 1.0) for v in np.asarray(pv["variance_ratio"])[:10]],
        },
        "clustering_order": list(adata.uns["clustering"]["order"]),
        "de": [{"name": k, **v} for k, v in adata.uns.get("de_summary", {}).items()],
    }
    if "products" in adata.uns:  # --product: n counts products; the libraries summed into each
        from mscseq.products import product_record

        record = product_record(adata.uns["products"])
        summary["dimensions"]["n_libraries"] = sum(len(v) for v in record["libraries"].values())
        summary["dimensions"]["n_products"] = len(record["libraries"])
        summary["products"] = record
    if "comparability" in adata.uns:
        comp = adata.uns["comparability"]
        summary["comparability"] = comp
    return summary


def write_h5ad(adata, path: Path) -> None:
    """Write the AnnData, with DE tables stored as data frames in ``uns["de"]``.

    The matrices are written from ``adata``'s own arrays (no copy of the data: with 200 samples ×
    60,000 genes each of ``X`` and the two layers is ~100 MB); ``obs``, ``var`` and ``uns`` are
    copied, as writing turns string columns into categoricals.
    """
    import anndata as ad

    out = ad.AnnData(
        X=adata.X,
        obs=adata.obs.copy(),
        var=adata.var.copy(),
        uns=_h5ad_safe(dict(adata.uns)),
        obsm=dict(adata.obsm),
        varm=dict(adata.varm),
        obsp=dict(adata.obsp),
        layers=dict(adata.layers),
    )
    # gzip level 1: ~15 % less CPU than h5py's default level 4 for a file ~5 % larger
    out.write_h5ad(path, compression="gzip", compression_opts=1)


def _h5ad_safe(obj: Any) -> Any:
    """Make ``uns`` writable by h5ad: empty lists and ``None`` are dropped, tuples become lists."""
    if isinstance(obj, dict):
        return {
            str(k): _h5ad_safe(v)
            for k, v in obj.items()
            if v is not None and not (isinstance(v, list | tuple) and len(v) == 0)
        }
    if isinstance(obj, list | tuple):
        items = [_h5ad_safe(v) for v in obj]
        if items and all(isinstance(v, str) for v in items):
            return np.asarray(items, dtype=object)
        if items and all(isinstance(v, dict) for v in items):
            return {str(i): v for i, v in enumerate(items)}
        try:
            arr = np.asarray(items)
        except ValueError:  # ragged (lists of unequal length): one entry per index
            arr = None
        if arr is None or arr.dtype == object:
            return {str(i): v for i, v in enumerate(items) if v is not None}
        return arr
    return obj
