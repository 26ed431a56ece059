"""Run one step in a forked child while the parent goes on with the next (a second core at work).

:func:`start` forks: the child runs the function on its copy of the parent's memory (nothing is pickled
on the way in; the parent's objects are frozen for the garbage collector across the fork, so the
child's collections do not copy their pages), pickles what it returns, or the exception it raised,
into a pipe and ends with ``os._exit`` (it never runs the parent's clean-up code). :meth:`Job.result` reads that and returns the
value, or raises the child's exception here. Without ``os.fork`` (Windows), or with ``background=False``,
the function runs at once in the caller and :meth:`Job.result` gives its outcome.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import select
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any


class Job:
    """A function running in a child process (:func:`start`); read its outcome once with :meth:`result`."""

    def __init__(
        self,
        pid: int | None,
        fd: int | None,
        value: Any = None,
        error: BaseException | None = None,
    ):
        self._pid, self._fd, self._value, self._error = pid, fd, value, error

    def result(self) -> Any:
        """Wait for the child and return the function's value.

        Raises
        ------
        BaseException
            The exception the function raised in the child (its traceback there as a note), or a
            ``RuntimeError`` when the child ended without a result (e.g. killed).

        """
        if self._pid is not None:
            with os.fdopen(self._fd, "rb") as fh:
                data = fh.read()
            _, status = os.waitpid(self._pid, 0)
            self._pid = self._fd = None
            try:
                kind, payload, where = pickle.loads(data)
            except Exception:  # no complete record: the child died
                code = os.waitstatus_to_exitcode(status)
                kind, payload, where = (
                    "error",
                    RuntimeError(f"a background step ended ({code})"),
                    "",
                )
            if kind == "value":
                self._value = payload
            else:
                if where:
                    payload.add_note(f"(in the background process)\n{where}")
                self._error = payload
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._value

    def running(self) -> bool:
        """Whether the child is still at work (it has not sent its outcome); never waits."""
        if self._pid is None:
            return False
        ready, _, _ = select.select([self._fd], [], [], 0)
        return not ready

    def cancel(self) -> None:
        """Stop the child if it still runs and reap it; nothing is raised."""
        if self._pid is None:
            return
        with contextlib.suppress(OSError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.close(self._fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self._pid, 0)
        self._pid = self._fd = None


def start(func: Callable[..., Any], *args: Any, background: bool = True) -> Job:
    """Start ``func(*args)`` in a forked child; the caller must read :meth:`Job.result` or :meth:`Job.cancel`.

    Parameters
    ----------
    func, args
        The step. It sees the arguments as they are now; what it changes in them stays in the child,
        so it returns what the parent needs (picklable).
    background
        Fork (default) or run it here.

    Returns
    -------
    Job
        The running step.

    """
    if not background or not hasattr(os, "fork"):
        try:
            return Job(None, None, value=func(*args))
        except Exception as exc:  # raised by Job.result, as from the child
            return Job(None, None, error=exc)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()  # nothing buffered is written twice
    read_fd, write_fd = os.pipe()
    # Ctrl-C and SIGTERM wait until the fork is done: Python runs its handlers (here: raise
    # KeyboardInterrupt) in whatever code runs next, and during a fork that is the at-fork hooks
    # (logging's among them), whose exceptions Python drops ("Exception ignored"), losing the signal
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    # the parent's objects out of the collector's reach: a collection in the child would otherwise
    # write to every one of them and copy their memory pages (~5 % of a compare run's CPU)
    gc.freeze()
    try:
        pid = os.fork()
    except BaseException:
        gc.unfreeze()
        os.close(read_fd)
        os.close(write_fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    if pid == 0:  # pragma: no cover - the child (its result is checked through the parent)
        status = 1
        try:
            os.close(read_fd)
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            try:
                record = ("value", func(*args), "")
                status = 0
            except BaseException as exc:  # sent to the parent, which raises it
                record = ("error", exc, traceback.format_exc())
            try:
                data = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # an unpicklable value or error
                error = RuntimeError(f"{type(record[1]).__name__}: {record[1]} ({exc})")
                data = pickle.dumps(("error", error, record[2]))
                status = 1
            with os.fdopen(write_fd, "wb") as fh:
                fh.write(data)
        finally:
            os._exit(status)
    gc.unfreeze()
    os.close(write_fd)
    job = Job(pid, read_fd)
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        _checkpoint()  # a signal held during the fork raises here, where the child can be stopped
    except BaseException:
        job.cancel()
        raise
    return job


#: the signals that stop a run, held while a child is forked (:func:`start`)
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _checkpoint() -> None:
    """Nothing: calling a Python function lets the interpreter run the handlers of pending signals."""
