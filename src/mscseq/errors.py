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


#: Control characters a terminal may act on: C0 (but newline and tab), DEL and C1, ESC included.
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_KEEP_LAYOUT = str.maketrans({k: v for k, v in _CONTROL.items() if chr(k) not in "\n\t"})
_ESCAPE_ALL = str.maketrans(_CONTROL)


def printable(text: object, *, keep_layout: bool = True) -> str:
    """Text safe to print on a terminal: control characters shown as ``\\xNN`` escapes.

    Escape sequences in file headers, sample names or paths would otherwise reach the terminal
    (colours, cursor moves, window titles, ...). Everything mscseq prints to the terminal (error
    messages, ``mscseq inspect``, log lines) goes through this function.

    Parameters
    ----------
    text
        The text (converted with ``str``).
    keep_layout
        Keep newlines and tabs; ``False`` escapes them too (for one-line messages).

    Returns
    -------
    str
        ``text`` with C0 controls (except newline and tab when ``keep_layout``), DEL and C1
        controls replaced by ``\\xNN``.

    """
    return str(text).translate(_KEEP_LAYOUT if keep_layout else _ESCAPE_ALL)
