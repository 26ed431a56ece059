"""User-facing errors.

Every problem a user can fix (bad input, bad options) is raised as :class:`MscseqError` with a
one-line message naming the file and what is wrong. The CLI prints the message and exits with code 2;
anything else is an internal error (exit code 1).
"""

from __future__ import annotations


class MscseqError(Exception):
    """A problem with the user's input or options, described in one line.

    Parameters
    ----------
    message
        One line: which file (and line or column where it applies), what is wrong, how to fix it.
    exit_code
        Process exit code the CLI uses for this error (2 = bad usage or input).

    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


class NotComparableError(MscseqError):
    """Raised by ``--strict`` runs whose verdict is ``not_comparable`` (exit code 3)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=3)


def first_names(names: object, n: int = 5) -> str:
    """Format the first ``n`` names of a collection for an error message.

    Parameters
    ----------
    names
        Iterable of names.
    n
        How many to show before summarising the rest.

    Returns
    -------
    str
        For example ``"'a', 'b', 'c' and 4 more"``.

    """
    items = [str(x) for x in names]  # type: ignore[attr-defined]
    shown = ", ".join(repr(x) for x in items[:n])
    if len(items) > n:
        shown += f" and {len(items) - n} more"
    return shown
