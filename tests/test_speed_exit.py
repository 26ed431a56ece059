"""``python -m mscseq`` ends without the interpreter's teardown (issue 15): same statuses, output, clean-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "test_data" / "example"


def run(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "mscseq", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=300)


def test_version_reaches_a_pipe():
    from mscseq import __version__

    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    assert __version__ in proc.stdout  # stdout to a pipe is block-buffered: flushed before the exit


def test_de_writes_its_table_and_exits_zero(tmp_path):
    out = tmp_path / "de.tsv"
    proc = run(
        "de", str(EXAMPLE / "counts.tsv.gz"), "--samples", str(EXAMPLE / "samples.tsv"),
        "--design", "~ cohort", "--contrast", "cohort,B,A", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out, sep="\t", index_col=0)
    assert len(table) > 1000 and "padj" in table.columns


def test_de_to_stdout_is_flushed_whole(tmp_path):
    args = [
        "de", str(EXAMPLE / "counts.tsv.gz"), "--samples", str(EXAMPLE / "samples.tsv"),
        "--design", "~ cohort", "--contrast", "cohort,B,A",
    ]  # fmt: skip
    piped = run(*args, "--out", "-")
    assert piped.returncode == 0, piped.stderr
    written = run(*args, "--out", str(tmp_path / "de.tsv"))
    assert written.returncode == 0, written.stderr
    assert len(piped.stdout) > 100_000  # more than a pipe's buffer: all of it reached the reader
    assert piped.stdout == (tmp_path / "de.tsv").read_text()


def test_user_error_keeps_status_2_and_its_one_line(tmp_path):
    proc = run("de", str(tmp_path / "missing.tsv"), "--samples", str(EXAMPLE / "samples.tsv"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("mscseq: error: ") and "Traceback" not in proc.stderr


def test_exit_now_runs_atexit_handlers_and_keeps_the_status(tmp_path):
    mark = tmp_path / "ran"
    code = (
        "import atexit, pathlib, sys\n"
        f"atexit.register(pathlib.Path({str(mark)!r}).write_text, 'yes')\n"
        "print('buffered', end='')\n"
        "from mscseq.fastexit import exit_now\n"
        "exit_now(5)\n"
    )
    proc = run(code=code)
    assert proc.returncode == 5 and proc.stdout == "buffered"
    assert mark.read_text() == "yes"


def test_exit_now_with_a_message_prints_it_and_exits_1():
    proc = run(code="from mscseq.fastexit import exit_now\nexit_now('stopped: reason')\n")
    assert proc.returncode == 1 and proc.stderr.strip() == "stopped: reason"


def test_exit_now_waits_for_a_running_thread(tmp_path):
    mark = tmp_path / "thread"
    code = (
        "import pathlib, threading, time\n"
        "def work():\n"
        "    time.sleep(0.5)\n"
        f"    pathlib.Path({str(mark)!r}).write_text('done')\n"
        "threading.Thread(target=work).start()\n"
        "from mscseq.fastexit import exit_now\n"
        "exit_now(0)\n"
    )
    proc = run(code=code)
    assert proc.returncode == 0, proc.stderr
    assert mark.read_text() == "done"  # the normal exit joined the thread


def test_run_and_exit_lets_a_bug_show_its_traceback():
    code = (
        "from mscseq.fastexit import run_and_exit\n"
        "def main():\n"
        "    raise ValueError('a bug')\n"
        "run_and_exit(main)\n"
    )
    proc = run(code=code)
    assert proc.returncode == 1 and "ValueError: a bug" in proc.stderr
