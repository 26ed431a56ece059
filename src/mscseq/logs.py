"""Logging and progress on stderr (stdout stays clean for data), and an optional log file.

Library code only logs (``logging.getLogger(__name__).info("normalisation ...")``): each INFO message
of the ``mscseq`` logger announces the start of a step. :func:`setup_logging` decides how they are shown:

- stderr is a terminal (and not ``--quiet``): a rich spinner shows the running step and its elapsed
  time; when the next step starts, the finished one is printed with its duration (``✓ PCA ... 0.4 s``);
- stderr is not a terminal (pipes, CI, Snakemake logs) or ``--quiet``: plain ``mscseq: message``
  lines (none with ``--quiet``), no escape codes;
- ``--log-file FILE``: every message, DEBUG included, with timestamps, whatever the console shows.
  A file that cannot be written is refused up front (exit 2); one that fails later (disk full) is
  reported once on stderr and no longer written to.

Python warnings (numpy's ``RuntimeWarning`` and the like) are routed to the ``mscseq.warnings`` logger
at DEBUG level: they appear with ``--verbose`` and in the log file, never as raw stderr lines.
Control characters in messages are escaped (:func:`mscseq.errors.printable`) on every handler.

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

from mscseq.errors import MscseqError, printable

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

            msg = escape(printable(record.getMessage()))
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


class _SafeFormatter(logging.Formatter):
    """A formatter whose output has its control characters escaped (no terminal escapes)."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


class _LogFile(logging.FileHandler):
    """The ``--log-file`` handler: a write failure is reported once on stderr, not as tracebacks."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, encoding="utf-8")
        self.failure: str | None = None
        self.announce = True

    def emit(self, record: logging.LogRecord) -> None:
        if self.failure is None:
            super().emit(record)

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the unwritable buffer is flushed again on close
            self.stream = None  # type: ignore[assignment]

    def handleError(self, record: logging.LogRecord) -> None:
        if self.failure is not None:
            return
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):  # a bad log call, not a bad file: logging's usual report
            super().handleError(record)
            return
        self.failure = getattr(exc, "strerror", None) or type(exc).__name__
        if self.announce:
            sys.stderr.write(
                f"mscseq: warning: --log-file {printable(self.baseFilename)}: cannot write "
                f"({self.failure}); nothing more is written to it\n"
            )


def _open_log_file(path: Path) -> _LogFile:
    """Open ``--log-file`` and write its first line, or raise a one-line :class:`MscseqError`."""
    from mscseq import __version__

    if path.is_dir():
        msg = f"--log-file {path}: is a folder; give the path of a file"
        raise MscseqError(msg)
    if not path.parent.is_dir():
        msg = f"--log-file {path}: the folder {path.parent} does not exist"
        raise MscseqError(msg)
    try:
        fh = _LogFile(path)
    except OSError as exc:
        msg = f"--log-file {path}: cannot be opened ({exc.strerror or type(exc).__name__})"
        raise MscseqError(msg) from None
    fh.setFormatter(_SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    fh.setLevel(logging.DEBUG)
    fh.announce = False
    first = logging.LogRecord(
        __name__, logging.DEBUG, __file__, 0, "mscseq %s: %s", (__version__, sys.argv), None
    )
    fh.handle(
        first
    )  # written and flushed now: a full disk or /dev/full fails here, before any work
    fh.announce = True
    if fh.failure is not None:
        fh.close()
        msg = f"--log-file {path}: cannot write ({fh.failure})"
        raise MscseqError(msg)
    return fh


def _warning_to_log(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """``warnings.showwarning`` replacement: a DEBUG record of ``mscseq.warnings``."""
    logging.getLogger("mscseq.warnings").debug(
        "%s: %s (%s:%d)", category.__name__, message, filename, lineno
    )


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
        console.setFormatter(_SafeFormatter("mscseq: %(message)s"))
    console.setLevel(level)
    handlers = [console]
    if log_file is not None:
        handlers.append(_open_log_file(Path(log_file)))
    root.handlers[:] = handlers
    root.setLevel(min(h.level for h in handlers))
    root.propagate = False
    warnings.showwarning = _warning_to_log
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
