"""Logging to stderr, progress display, --log-file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mscseq import logs
from mscseq.errors import MscseqError

log = logging.getLogger("mscseq.test")


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger("mscseq")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    for h in root.handlers:
        h.close()
    root.handlers[:], root.level, root.propagate = saved
    logs._state["progress"] = False


def test_plain_lines_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging()  # pytest's stderr is not a terminal
    assert not logs.progress_enabled()
    log.info("normalisation")
    log.debug("hidden")
    cap = capsys.readouterr()
    assert cap.err == "mscseq: normalisation\n"
    assert cap.out == ""


def test_quiet_keeps_warnings_only(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging(quiet=True)
    log.info("step")
    log.warning("careful")
    assert capsys.readouterr().err == "mscseq: careful\n"


def test_progress_prints_finished_steps_with_durations(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging(progress=True)
    assert logs.progress_enabled()
    log.info("QC of 3 samples")
    log.info("PCA")
    log.warning("a warning stays visible")
    assert list(logs.track(range(3), "permutations")) == [0, 1, 2]
    for h in logging.getLogger("mscseq").handlers:
        h.close()
    err = capsys.readouterr().err
    assert "✓ QC of 3 samples (" in err
    assert "✓ PCA (" in err
    assert "mscseq: a warning stays visible" in err
    assert capsys.readouterr().out == ""


def test_log_file_gets_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.log"
    logs.setup_logging(quiet=True, log_file=path)
    log.debug("detail")
    log.info("step")
    for h in logging.getLogger("mscseq").handlers:
        h.flush()
    text = path.read_text()
    assert "DEBUG mscseq.test: detail" in text
    assert "INFO mscseq.test: step" in text
    assert capsys.readouterr().err == ""


def test_log_file_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(MscseqError, match="does not exist"):
        logs.setup_logging(log_file=tmp_path / "nope" / "run.log")


def test_track_without_progress_is_the_iterable() -> None:
    logs.setup_logging(progress=False)
    assert list(logs.track(iter("abc"), "letters")) == ["a", "b", "c"]


def test_cli_log_file_and_multiqc_folder(tmp_path: Path, example_dir: Path) -> None:
    from typer.testing import CliRunner

    from mscseq.cli import app

    out, log_path = tmp_path / "out", tmp_path / "run.log"
    args = [
        str(example_dir / "counts.tsv.gz"),
        "-s",
        str(example_dir / "samples.tsv"),
        "-o",
        str(out),
    ]
    res = CliRunner().invoke(
        app, ["compare", *args, "--no-report", "--quiet", "--log-file", str(log_path)]
    )
    assert res.exit_code == 0, res.output
    text = log_path.read_text()
    assert "INFO mscseq.pipeline: QC of 15 samples" in text
    assert "wrote" in text
    assert sorted(p.name for p in (out / "multiqc").iterdir()) == [
        "mscseq_qc_mqc.tsv",
        "mscseq_tiers_mqc.tsv",  # summary/2: the single-group split and spread
        "mscseq_verdict_mqc.json",
    ]


def test_cli_log_file_in_missing_folder(tmp_path: Path, example_dir: Path) -> None:
    from typer.testing import CliRunner

    from mscseq.cli import app

    args = [
        str(example_dir / "counts.tsv.gz"),
        "-s",
        str(example_dir / "samples.tsv"),
        "-o",
        str(tmp_path / "o"),
    ]
    res = CliRunner().invoke(app, ["compare", *args, "--log-file", str(tmp_path / "no" / "x.log")])
    assert res.exit_code == 2
    assert "--log-file" in res.output and "does not exist" in res.output
    assert not (tmp_path / "o").exists()
