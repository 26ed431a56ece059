"""Static figures written by a forked child while the parent writes the rest (issue 15)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mscseq.report import static

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")


def test_background_figures_are_the_files_save_figures_writes(report_parts, tmp_path: Path) -> None:
    adata, summary, _ = report_parts
    here = static.save_figures(adata, tmp_path / "here", summary=summary)
    with static.start_figures(adata, tmp_path / "child", summary=summary) as job:
        assert len(job._children) == (2 if (os.cpu_count() or 1) >= 2 else 1)  # children draw them
    written = job.wait()  # already waited on leaving the block: the same list again
    assert [p.name for p in written] == [p.name for p in here] and len(here) >= 8
    for a, b in zip(here, written, strict=True):
        assert b.parent == tmp_path / "child"
        assert a.read_bytes() == b.read_bytes(), f"{b.name} differs from the one drawn in-process"


def test_not_in_background_draws_before_returning(report_parts, tmp_path: Path) -> None:
    adata, summary, _ = report_parts
    job = static.start_figures(adata, tmp_path / "f", summary=summary, background=False)
    assert not job._children and (tmp_path / "f" / "pca.png").is_file()
    assert {p.name for p in job.wait()} >= {"pca.pdf", "pca.png"}


def test_a_failure_in_the_child_is_raised_in_the_parent(report_parts, tmp_path, monkeypatch):
    adata, summary, _ = report_parts

    def broken(*args, **kwargs):
        raise ValueError("cannot draw")

    monkeypatch.setattr(static, "save_figures", broken)  # the forked child sees the patch
    job = static.start_figures(adata, tmp_path / "f", summary=summary)
    with pytest.raises(RuntimeError, match="ValueError: cannot draw"):
        job.wait()

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "f" / "pca.pdf"))

    monkeypatch.setattr(static, "save_figures", full)
    with pytest.raises(OSError, match="No space left on device") as err:
        static.start_figures(adata, tmp_path / "f", summary=summary).wait()
    assert err.value.errno == 28 and err.value.filename.endswith("pca.pdf")


def test_an_error_in_the_parent_stops_the_child(report_parts, tmp_path, monkeypatch):
    adata, summary, _ = report_parts

    def slow(*args, **kwargs):
        import time

        time.sleep(60)

    monkeypatch.setattr(static, "save_figures", slow)
    with (
        pytest.raises(KeyError),
        static.start_figures(adata, tmp_path / "f", summary=summary) as job,
    ):
        pids = [child._pid for child in job._children]
        raise KeyError("the tables failed")
    for pid in pids:
        with pytest.raises(ChildProcessError):  # killed and reaped: no zombie left behind
            os.waitpid(pid, os.WNOHANG)


def test_the_child_does_not_repeat_buffered_output(report_parts, tmp_path, capfd):
    adata, summary, _ = report_parts
    sys.stdout.write("printed once")  # buffered, not flushed yet
    static.start_figures(adata, tmp_path / "f", summary=summary).wait()
    assert capfd.readouterr().out.count("printed once") == 1


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_figures_shared_by_several_children_are_all_written_in_order(
    report_parts, tmp_path: Path, processes: int
) -> None:
    adata, summary, _ = report_parts
    here = static.save_figures(adata, tmp_path / "here", summary=summary)
    job = static.start_figures(adata, tmp_path / "c", summary=summary, processes=processes)
    written = job.wait()
    assert [p.name for p in written] == [p.name for p in here]
    assert all(p.is_file() for p in written)
