"""Helpers for the I/O tests: small files written on the fly."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """Write ``text`` (or bytes) to ``tmp_path/name``; gzip it when the name ends in ``.gz``."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        if name.endswith(".gz"):
            data = gzip.compress(data, mtime=0)
        path.write_bytes(data)
        return path

    return _write


@pytest.fixture
def small_matrix(write: Callable[..., Path]) -> Path:
    """A 3-gene × 3-sample raw-count TSV."""
    return write(
        "counts.tsv",
        "gene_id\tA\tB\tC\nENSG00000000001.5\t1\t2\t3\nENSG00000000002.1\t0\t5\t7\nENSG00000000003\t10\t0\t1\n",
    )


@pytest.fixture
def small_sheet(write: Callable[..., Path]) -> Path:
    """A sheet for :func:`small_matrix`."""
    return write("samples.tsv", "sample\tgroup\nA\tx\nB\ty\nC\ty\n")
