"""benchmarks/bench_peers.py: measurement helpers, skipping R rows without R, the results table."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_peers.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_peers", BENCH)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["bench_peers"] = mod  # dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.modules.pop("bench_peers", None)


def test_run_once_measures_the_child_not_the_parent(bench):
    grow = "b = b'x' * (300 * 2**20); import time; t = time.process_time()\nwhile time.process_time() - t < 0.2: pass"
    sec, cpu, peak = bench.run_once([sys.executable, "-c", grow], {})
    assert peak >= 300 * 2**20  # the child's own peak, with its 300 MiB buffer
    assert cpu >= 0.2
    assert sec >= cpu * 0.5


def test_run_once_failure_shows_the_childs_stderr(bench):
    cmd = [sys.executable, "-c", "import sys; sys.exit('bad input file')"]
    with pytest.raises(RuntimeError, match="bad input file"):
        bench.run_once(cmd, {})


def test_without_rscript_r_rows_are_skipped_with_a_message(bench, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)
    rv = bench.r_versions()
    assert rv == {}
    b = bench.Bench(tmp_path, repeats=1, threads=1, rv=rv)
    cmds = b.r_peers(["limma-voom", "edgeR QL"], (tmp_path, tmp_path), "~ g", "g,B,A")
    assert cmds == {}
    assert b.rows == []
    assert "Rscript not found" in capsys.readouterr().err
    assert "R not found" in bench.machine(rv)


def test_commands_take_turns_and_keep_their_best(bench, tmp_path):
    log = tmp_path / "order.txt"
    cmds = [[sys.executable, "-c", f"open({str(log)!r}, 'a').write('{c}')"] for c in "ab"]
    ms = bench.best_of(cmds, 2, {})
    assert log.read_text() == "abab"
    assert [m.runs for m in ms] == [2, 2]
    assert all(m.seconds <= m.median_seconds and m.cpu_seconds <= m.median_cpu_seconds for m in ms)
    assert all(m.cpu_seconds <= m.seconds * 2 for m in ms)


def test_ratios_and_table(bench):
    ref = bench.Measure(seconds=2.0, cpu_seconds=1.0, runs=3, load1=4.5, peak_bytes=2**30)
    ref.median_seconds, ref.median_cpu_seconds, ref.median_load1 = 2.5, 1.2, 5.0
    row = bench.Row("airway", "mscseq de", bench.Measure(3.0, 1.5, 3, 5.0, 2**29, 4.0, 1.8, 6.0))
    row.relative_to("limma-voom", ref)
    assert row.ratio == pytest.approx(1.5)
    assert row.cpu_ratio == pytest.approx(1.5)
    df = bench.table([row])
    assert list(df.columns) == [
        "work",
        "process",
        "seconds_best",
        "cpu_seconds_best",
        "runs",
        "load1_before",
        "peak_rss_mib",
        "ratio",
        "cpu_ratio",
        "ratio_to",
        "seconds_median",
        "cpu_seconds_median",
        "load1_median",
        "ratio_median",
        "cpu_ratio_median",
    ]
    assert df.loc[0, "peak_rss_mib"] == 512
    md = bench.markdown(df)
    assert row.median_ratio == pytest.approx(1.6)
    assert row.median_cpu_ratio == pytest.approx(1.5)
    assert (
        "| airway | mscseq de | 4.00 s (3.00 s) of 3 | 1.80 s (1.50 s) | 6.0 | 0.50 GiB "
        "| 1.60× (1.50×) limma-voom | 1.50× (1.50×) |" in md
    )


def test_unknown_part_is_a_usage_error(bench, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["airwya"])
    assert exc.value.code == 2
    assert "unknown part(s): airwya" in capsys.readouterr().err
