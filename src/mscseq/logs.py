"""Logging and progress on stderr (stdout stays clean for data), and an optional log file.

Library code only logs (``logging.getLogger(__name__).info("normalisation ...")``): each INFO message
of the ``mscseq`` logger announces the start of a step. :func:`setup_logging` decides how they are shown:

- stderr is a terminal (and not ``--quiet``): a rich spinner shows the running step and its elapsed
  time; when the next step starts, the finished one is printed with its duration (``✓ PCA ... 0.4 s``);
- stderr is not a terminal (pipes, CI, Snakemake logs) or ``--quiet``: plain ``mscseq: message``
  lines (none with ``--quiet``), no escape codes;
- ``--log-file FILE``: every message, DEBUG included, with timestamps, whatever the console shows.

Loops that take a while can show a bar with :func:`track`, which falls back to the bare iterable when
progress is off.
"""

from __future__ import annotations

import atexit
import logging
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

_state: dict[str, bool] = {"progress": False}
_handlers: list[_StepHandler] = []


def progress_enabled() -> bool:
    """Whether progress displays are on (set by :func:`setup_logging`)."""
    return _state["progress"]


class _StepHandler(logging.Handler):
    """Shows the current step under a rich spinner; prints each finished step with its duration."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self.status = None
        self.step: str | None = None
        self.started = 0.0
        _handlers[:] = [self]
        atexit.register(self.close)

    def pause(self) -> None:
        """Stop the spinner (rich shows one live display at a time), keeping the current step."""
        if self.status is not None:
            self.status.stop()

    def resume(self) -> None:
        """Restart the spinner after :meth:`pause`."""
        if self.status is not None:
            self.status.start()

    def _finish_step(self) -> None:
        if self.step is not None:
            elapsed = time.monotonic() - self.started
            self.console.print(
                f"[green]✓[/] {self.step} [dim]({_duration(elapsed)})[/]",
                markup=True,
                soft_wrap=True,
            )
            self.step = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from rich.markup import escape

            msg = escape(record.getMessage())
            if record.levelno >= logging.WARNING:
                colour = "red" if record.levelno >= logging.ERROR else "yellow"
                self.console.print(f"[{colour}]mscseq: {msg}[/]", markup=True, soft_wrap=True)
                return
            self._finish_step()
            self.step, self.started = msg, time.monotonic()
            if self.status is None:
                self.status = self.console.status(msg, spinner="dots")
                self.status.start()
            else:
                self.status.update(msg)
        except Exception:  # pragma: no cover - a display problem must never stop an analysis
            self.handleError(record)

    def close(self) -> None:
        """Print the last step and stop the spinner (at exit, or when logging is set up again)."""
        if self.status is not None:
            self.status.stop()
            self.status = None
        self._finish_step()
        super().close()


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(round(seconds), 60)
    return f"{minutes} min {sec:02d} s"


def setup_logging(
    *,
    quiet: bool = False,
    verbose: bool = False,
    log_file: str | Path | None = None,
    progress: bool | None = None,
) -> None:
    """Send mscseq's log records to stderr, with progress when stderr is a terminal.

    Parameters
    ----------
    quiet
        Only warnings and errors on stderr; no progress.
    verbose
        Debug messages too (as plain lines: no spinner).
    log_file
        Also write every message (DEBUG and up, with timestamps) to this file (appended).
    progress
        Force the spinner on or off; default: on when stderr is a terminal and neither ``quiet`` nor
        ``verbose``.

    """
    root = logging.getLogger("mscseq")
    for old in root.handlers:
        old.close()
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    if progress is None:
        progress = not quiet and not verbose and _is_terminal(sys.stderr)
    _state["progress"] = bool(progress)
    console: logging.Handler
    if progress:
        console = _StepHandler()
    else:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("mscseq: %(message)s"))
    console.setLevel(level)
    handlers = [console]
    if log_file is not None:
        path = Path(log_file)
        if not path.parent.is_dir():
            from mscseq.errors import MscseqError

            msg = f"--log-file {path}: the folder {path.parent} does not exist"
            raise MscseqError(msg)
        fh = logging.FileHandler(path, encoding="utf-8")
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        fh.setLevel(logging.DEBUG)
        handlers.append(fh)
    root.handlers[:] = handlers
    root.setLevel(min(h.level for h in handlers))
    root.propagate = False
    if not verbose:
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", module="pydeseq2")
        warnings.filterwarnings("ignore", module="anndata")


def _is_terminal(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def track(items: Iterable[T], description: str, *, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr when progress is on; plainly otherwise.

    Parameters
    ----------
    items
        The iterable.
    description
        Label of the bar.
    total
        Number of items, when ``items`` has no length.

    Yields
    ------
    object
        The items, unchanged.

    """
    if not progress_enabled():
        yield from items
        return
    from rich.progress import track as rich_track

    step = _handlers[0] if _handlers else None
    if step is not None:
        step.pause()
    try:
        console = step.console if step is not None else None
        yield from rich_track(
            items, description=description, total=total, console=console, transient=True
        )
    finally:
        if step is not None:
            step.resume()
