"""Opening possibly compressed text files with clear, one-line errors."""

from __future__ import annotations

import bz2
import codecs
import csv
import errno
import gzip
import io
import lzma
import os
import re
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mscseq.errors import MscseqError

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
}
#: Magic bytes of binary containers that are never text tables.
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"

#: Bytes read from the start of a file to detect its format and read its header.
HEAD_BYTES = 1 << 20

#: Exceptions raised by the decompressors on truncated or corrupt data.
DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (
    EOFError,
    OSError,
    zlib.error,
    lzma.LZMAError,
)

#: :func:`file_problem`'s answers for a missing file and a folder (callers word these themselves).
NOT_FOUND = "file not found; check the path (relative paths are from the current folder)"
IS_FOLDER = "is a folder, expected a file"


def file_problem(path: str | Path) -> str | None:
    """Say why ``path`` cannot be read as a regular file, without opening it (``None`` if it can).

    Only ``os.stat`` is used, so a FIFO, socket or device is refused before ``open`` could block on it.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str or None
        The problem, as the end of a one-line message (``"is a folder, expected a file"``).

    """
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop (it points back to itself); point it to the real file"
        if exc.errno == errno.ENAMETOOLONG:
            return "the path is too long for the file system"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return f"cannot be read ({exc.strerror}); check the permissions of its folders"
        if os.path.islink(p):
            return "is a symbolic link to a file that does not exist; point it to the real file"
        return NOT_FOUND
    if stat.S_ISDIR(mode):
        return IS_FOLDER
    if not stat.S_ISREG(mode):
        kind = (
            "a named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
        )
        return f"is {kind}, not a regular file; save the data to a file and give that file"
    return None


def require_regular_file(path: str | Path) -> Path:
    """Refuse anything but an existing regular file (checked with ``os.stat``, before any ``open``).

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    pathlib.Path
        The path.

    Raises
    ------
    MscseqError
        If the file is missing, a folder, a FIFO, socket or device, a symbolic link loop or a broken link.

    """
    p = Path(path)
    problem = file_problem(p)
    if problem is not None:
        msg = f"{p}: {problem}"
        raise MscseqError(msg)
    return p


def check_file(path: str | Path, *, what: str = "a count table") -> Path:
    """Check that ``path`` is an existing, non-empty, readable regular file.

    Parameters
    ----------
    path
        The file.
    what
        What the file should hold, for messages.

    Returns
    -------
    pathlib.Path
        The path.

    Raises
    ------
    MscseqError
        If the file is missing, not a regular file (folder, FIFO, device), empty or unreadable.

    """
    p = require_regular_file(path)
    try:
        size = p.stat().st_size
        with open(p, "rb"):
            pass
    except OSError as exc:
        msg = f"{p}: cannot be read ({exc.strerror}); check its permissions"
        raise MscseqError(msg) from exc
    if size == 0:
        msg = f"{p}: the file is empty (0 bytes); expected {what}"
        raise MscseqError(msg)
    return p


def read_magic(path: Path, n: int = 8) -> bytes:
    """Return the first ``n`` raw bytes of ``path``."""
    with open(path, "rb") as fh:
        return fh.read(n)


def compression_of(path: Path) -> str | None:
    """Return the compression of ``path`` from its magic bytes (``gzip``, ``bz2``, ``xz``) or ``None``."""
    head = read_magic(path, 6)
    for magic, name in _MAGIC.items():
        if head.startswith(magic):
            return name
    return None


def open_binary(path: Path) -> IO[bytes]:
    """Open ``path`` for reading bytes, decompressing gzip/bz2/xz by content."""
    kind = compression_of(path)
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "bz2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    return open(path, "rb")


def truncated_error(path: Path, exc: BaseException) -> MscseqError:
    """Build the error for a truncated or corrupt compressed file."""
    kind = compression_of(path) or "file"
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    msg = (
        f"{path}: the {kind} data is truncated or corrupt ({detail}); "
        "re-copy the file or compress it again"
    )
    return MscseqError(msg)


def _decode(raw: bytes, path: Path, offset_line: int = 0) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1 + offset_line
        msg = f"{path}, line {line}: not UTF-8 text; save the file as UTF-8 (or it is not a text table)"
        raise MscseqError(msg) from exc


def _check_not_binary(raw: bytes, path: Path) -> None:
    if raw.startswith(HDF5_MAGIC):
        msg = f"{path}: is an HDF5 file, not a text table; for AnnData files name it .h5ad or pass --format h5ad"
        raise MscseqError(msg)
    if raw.startswith(ZIP_MAGIC):
        msg = f"{path}: is a zip archive (an Excel .xlsx file?), not a text table; save it as CSV or TSV"
        raise MscseqError(msg)
    if b"\x00" in raw[:65536]:
        msg = f"{path}: looks like a binary file, not a text table of counts"
        raise MscseqError(msg)


def read_text(path: str | Path, *, what: str = "a count table") -> str:
    """Read a whole text file, decompressing gzip/bz2/xz by content.

    Parameters
    ----------
    path
        The file.
    what
        What the file should hold, for messages.

    Returns
    -------
    str
        The decoded text (UTF-8, with a BOM removed).

    Raises
    ------
    MscseqError
        If the file is missing, a folder, empty, truncated, binary or not UTF-8 text.

    """
    p = check_file(path, what=what)
    try:
        with open_binary(p) as fh:
            raw = fh.read()
    except DECOMPRESS_ERRORS as exc:
        raise truncated_error(p, exc) from exc
    _check_not_binary(raw, p)
    return _decode(raw, p)


@dataclass(frozen=True)
class Head:
    """The first complete lines of a file, read by :func:`read_head`.

    Attributes
    ----------
    lines
        The lines, without line endings (blank lines included).
    whole
        The whole file was read.
    cut
        Bytes after the last line end that were left out (the start of a line longer than the read).

    """

    lines: list[str]
    whole: bool
    cut: int


def read_head(path: str | Path, max_bytes: int = HEAD_BYTES) -> Head:
    """Read the complete lines within the first ``max_bytes`` (decompressed) bytes of a text file.

    A line ending is LF, CRLF or CR alone. When no line ends within ``max_bytes``, the start of the first
    line is returned (cut at a whole character). A truncated compressed file whose start is intact is not
    detected here (the full read reports it).

    Parameters
    ----------
    path
        The file.
    max_bytes
        Read at most this many (decompressed) bytes.

    Returns
    -------
    Head
        The lines, whether that is the whole file and how many bytes of a longer line were left out.

    Raises
    ------
    MscseqError
        Missing, empty, binary, undecodable or corrupt files.

    """
    p = check_file(path)
    try:
        with open_binary(p) as fh:
            raw = fh.read(max_bytes + 1)
    except DECOMPRESS_ERRORS as exc:
        raise truncated_error(p, exc) from exc
    whole = len(raw) <= max_bytes
    raw = raw[:max_bytes]
    _check_not_binary(raw, p)
    cut = 0
    if not whole:
        end = max(raw.rfind(b"\n"), raw.rfind(b"\r"))
        keep = end + 1 if end >= 0 else _whole_characters(raw)
        cut = len(raw) - keep  # cut at a line end (or a character) so a character is never split
        raw = raw[:keep]
    return Head(_decode(raw, p).splitlines(), whole, cut)


def _whole_characters(raw: bytes) -> int:
    """Length of ``raw`` without a UTF-8 character cut at its end."""
    for back in range(min(4, len(raw))):
        if raw[len(raw) - 1 - back] & 0xC0 != 0x80:  # the lead byte of the last character
            lead = raw[len(raw) - 1 - back]
            size = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
            return len(raw) if size == back + 1 else len(raw) - 1 - back
    return len(raw)


def head_lines(path: str | Path, n: int = 30, *, max_bytes: int = HEAD_BYTES) -> list[str]:
    """Return up to ``n`` first lines of a (possibly compressed) text file, without line endings.

    Only the start of the file is decompressed, so this is cheap on large files (see :func:`read_head`).

    Parameters
    ----------
    path
        The file.
    n
        Number of lines.
    max_bytes
        Read at most this many (decompressed) bytes.

    Returns
    -------
    list of str
        The lines (blank lines included).

    Raises
    ------
    MscseqError
        Missing, empty, binary, undecodable or corrupt files.

    """
    return read_head(path, max_bytes).lines[:n]


def iter_lines(path: Path) -> Iterator[str]:
    """Yield the decoded lines of ``path`` one at a time (for low-memory diagnosis of large files).

    Parameters
    ----------
    path
        The file (checked by the caller).

    Yields
    ------
    str
        Each line without its line ending.

    """
    try:
        with open_binary(path) as fh:
            stream = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="strict", newline="")
            lineno = 0
            try:
                for line in stream:
                    lineno += 1
                    yield line.rstrip("\r\n")
            except UnicodeDecodeError as exc:
                msg = f"{path}, line {lineno + 1}: not UTF-8 text; save the file as UTF-8"
                raise MscseqError(msg) from exc
    except DECOMPRESS_ERRORS as exc:
        raise truncated_error(path, exc) from exc


#: A line's characters (no line ends): what :func:`iter_content_lines` yields.
_CONTENT = re.compile(r"[^\r\n]+")


def _line_ends(text: str) -> int:
    """Number of line ends (LF, CRLF or CR alone) in ``text``."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def iter_content_lines(path: Path, *, block: int = 1 << 20) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` for the lines holding a character other than a line end.

    The file is decompressed and decoded in blocks and empty lines are skipped by a regular
    expression, never one by one in Python, so millions of blank lines cost neither memory nor much
    time. Line ends may be LF, CRLF or CR alone; numbers are the file's 1-based line numbers.

    Parameters
    ----------
    path
        The file (checked by the caller).
    block
        Bytes read at a time.

    Yields
    ------
    tuple of (int, str)
        The line number and the line without its line end.

    Raises
    ------
    MscseqError
        Text that is not UTF-8 (naming the line), or truncated or corrupt compressed data.

    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
    number, pending = 1, ""  # the line number at the start of ``pending``
    try:
        with open_binary(path) as fh:
            while True:
                raw = fh.read(block)
                try:
                    text = pending + decoder.decode(raw, final=not raw)
                except UnicodeDecodeError as exc:
                    line = number + _line_ends(pending) + raw[: exc.start].count(b"\n")
                    msg = f"{path}, line {line}: not UTF-8 text; save the file as UTF-8 (or it is not a text table)"
                    raise MscseqError(msg) from exc
                cut = len(text) if not raw else max(text.rfind("\n"), text.rfind("\r")) + 1
                if raw and cut == len(text) and text.endswith("\r"):
                    cut -= 1  # a CR at the end of a block may be the first half of a CRLF
                done, pending = text[:cut], text[cut:]
                pos = 0
                for m in _CONTENT.finditer(done):
                    number += _line_ends(done[pos : m.start()])
                    yield number, m.group()
                    pos = m.end()
                number += _line_ends(done[pos:])
                if not raw:
                    return
    except DECOMPRESS_ERRORS as exc:
        raise truncated_error(path, exc) from exc


def iter_rows(path: Path, sep: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, fields)`` of a delimited text file, streaming it (for diagnosis).

    Parameters
    ----------
    path
        The file (checked by the caller).
    sep
        The delimiter.

    Yields
    ------
    tuple of (int, list of str)
        The 1-based line number and the fields of each line (blank lines give no fields).

    Raises
    ------
    MscseqError
        When a line cannot be split (a field longer than the csv module allows), naming the line.

    """
    reader = csv.reader(iter_lines(path), delimiter=sep)
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:
        msg = f"{path}, line {reader.line_num}: cannot split the line into columns ({exc})"
        raise MscseqError(msg) from exc
