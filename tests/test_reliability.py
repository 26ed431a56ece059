"""Reliability of outputs: killed and interrupted runs leave no output folder; runs are deterministic."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

TMP_MARK = ".mscseq-tmp-"


def make_study(
    folder: Path, *, n_genes: int, n_samples: int = 12, seed: int = 3
) -> tuple[Path, Path]:
    """A synthetic two-cohort study with donors; returns (counts, sheet)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    samples = [f"P{i:02d}" for i in range(n_samples)]
    cohort = ["A" if i < n_samples // 2 else "B" for i in range(n_samples)]
    mu = rng.lognormal(3, 1.5, n_genes)
    fold = np.where(rng.random(n_genes) < 0.1, rng.choice([0.25, 4.0], n_genes), 1.0)
    rows = ["gene_id\t" + "\t".join(samples)]
    for g in range(n_genes):
        means = [mu[g] * (fold[g] if c == "B" else 1.0) for c in cohort]
        rows.append(
            f"ENSG{g:011d}\t"
            + "\t".join(str(v) for v in rng.negative_binomial(10, 10 / (10 + np.array(means))))
        )
    counts = folder / "counts.tsv"
    counts.write_text("\n".join(rows) + "\n")
    sheet = folder / "samples.tsv"
    sheet.write_text(
        "sample\tcohort\tdonor\n"
        + "".join(
            f"{s}\t{c}\tD{i:02d}\n" for i, (s, c) in enumerate(zip(samples, cohort, strict=True))
        )
    )
    return counts, sheet


class Run:
    """A ``mscseq compare`` subprocess whose stderr lines are collected as they come."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mscseq", "compare", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for_line(self, text: str, timeout: float = 120) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            if any(text in ln for ln in self.lines):
                return True
            time.sleep(0.01)
        return any(text in ln for ln in self.lines)

    def wait_for_tmp(self, parent: Path, name: str, timeout: float = 180) -> Path | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.proc.poll() is None:
            for p in parent.iterdir():
                # the temporary output folder, not the lock file beside it (held from the start)
                if p.name.startswith(f".{name}{TMP_MARK}") and p.is_dir():
                    return p
            time.sleep(0.002)
        return None

    def finish(self, timeout: float = 120) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:  # only on a timeout: end the child we started
                self.proc.kill()
                self.proc.wait()
            self._reader.join(timeout=10)
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        return code


def leftovers(parent: Path, name: str) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.name.startswith(f".{name}."))


@pytest.fixture(scope="module")
def big_study(tmp_path_factory) -> tuple[Path, Path]:
    # Large enough that writing the tables takes a noticeable moment (the window a kill must hit).
    return make_study(tmp_path_factory.mktemp("big"), n_genes=40000, n_samples=16)


def test_sigkill_while_writing_leaves_no_output_folder(tmp_path, big_study):
    counts, sheet = big_study
    for _attempt in range(3):
        out = tmp_path / f"out{_attempt}"
        run = Run(str(counts), "-s", str(sheet), "-o", str(out), "--no-report", cwd=tmp_path)
        tmp = run.wait_for_tmp(tmp_path, out.name)
        if tmp is None:  # finished before we saw the temporary folder: try again
            run.finish()
            continue
        run.proc.send_signal(signal.SIGKILL)
        code = run.finish()
        if code == 0:  # the run won the race and completed before the kill
            continue
        assert code == -signal.SIGKILL
        assert not out.exists(), "a killed run must not leave a (partial) output folder"
        left = leftovers(tmp_path, out.name)
        # SIGKILL cannot be caught: the temporary sibling stays, clearly named as mscseq's temporary folder.
        assert all(TMP_MARK in p.name and p.name.startswith(f".{out.name}") for p in left)
        # ... and it does not block the next run into the same folder.
        again = subprocess.run(
            [
                sys.executable,
                "-m",
                "mscseq",
                "compare",
                str(counts),
                "-s",
                str(sheet),
                "-o",
                str(out),
                "--no-report",
                "--quiet",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert again.returncode == 0, again.stderr
        assert (out / "summary.json").is_file()
        return
    pytest.skip(
        "the run finished before the kill could land three times (machine too fast for this data size)"
    )


def test_sigkill_during_analysis_leaves_nothing(tmp_path, big_study):
    counts, sheet = big_study
    out = tmp_path / "out"
    run = Run(str(counts), "-s", str(sheet), "-o", str(out), "--no-report", cwd=tmp_path)
    assert run.wait_for_line("QC of"), run.lines
    run.proc.send_signal(signal.SIGKILL)
    assert run.finish() == -signal.SIGKILL
    assert not out.exists()
    # the folder's lock is held from before loading; a SIGKILL cannot remove its (empty) file, which
    # blocks nothing (the kernel drops the lock with the process) and the next run reuses and removes it
    lock = tmp_path / f".{out.name}.mscseq-tmp-lock"
    assert leftovers(tmp_path, out.name) in ([], [lock])
    assert not lock.exists() or lock.stat().st_size == 0
    again = Run(str(counts), "-s", str(sheet), "-o", str(out), "--no-report", cwd=tmp_path)
    assert again.finish() == 0, again.lines
    assert out.is_dir() and leftovers(tmp_path, out.name) == []


@pytest.mark.parametrize("when", ["analysis", "writing"])
def test_sigint_exits_130_cleanly(tmp_path, big_study, when):
    counts, sheet = big_study
    out = tmp_path / "out"
    run = Run(str(counts), "-s", str(sheet), "-o", str(out), "--no-report", cwd=tmp_path)
    if when == "analysis":
        assert run.wait_for_line("QC of"), run.lines
    elif run.wait_for_tmp(tmp_path, out.name) is None:
        run.finish()
        pytest.skip("the run finished before the interrupt could land")
    run.proc.send_signal(signal.SIGINT)
    code = run.finish()
    if code == 0 and when == "writing":
        pytest.skip("the run finished before the interrupt could land")
    assert code == 130, run.lines
    assert not any("Traceback" in ln for ln in run.lines)
    assert run.lines[-1] == "mscseq: interrupted; no output was written"
    assert not out.exists()
    assert leftovers(tmp_path, out.name) == [], (
        "an interrupted run must remove its temporary folder"
    )


def test_two_runs_are_byte_identical(tmp_path):
    counts, sheet = make_study(tmp_path / "in", n_genes=1500, n_samples=12)
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "mscseq",
        "compare",
        str(counts),
        "-s",
        str(sheet),
        "-o",
        str(out),
    ]
    args += ["--design", "~ cohort", "-c", "cohort,B,A", "--no-report", "--quiet"]
    first = tmp_path / "first"
    for i in range(2):
        proc = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, check=False)
        assert proc.returncode == 0, proc.stderr
        if i == 0:
            out.rename(first)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    tables = [f for f in files if f.parts[0] == "tables"]
    assert tables, files
    for rel in [*tables, Path("summary.json")]:
        assert (first / rel).read_bytes() == (out / rel).read_bytes(), (
            f"{rel} differs between two identical runs"
        )
    a = json.loads((first / "run_info.json").read_text())
    b = json.loads((out / "run_info.json").read_text())
    differing = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
    assert differing <= {"started", "finished", "elapsed_seconds"}, differing


def test_sigterm_while_writing_cleans_up(tmp_path, big_study):
    counts, sheet = big_study
    out = tmp_path / "out"
    run = Run(str(counts), "-s", str(sheet), "-o", str(out), "--no-report", cwd=tmp_path)
    if run.wait_for_tmp(tmp_path, out.name) is None:
        run.finish()
        pytest.skip("the run finished before the signal could land")
    run.proc.send_signal(signal.SIGTERM)
    code = run.finish()
    assert not out.exists() or code == 0
    assert leftovers(tmp_path, out.name) == []
