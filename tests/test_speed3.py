"""Issue 15, the third speed round: a command's process set-up, idle time while the DE runs, figure shares."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith(("_NUM_THREADS", "_MAXIMUM_THREADS")) and k != "OMP_NUM_THREADS"
    }
    return {**env, **extra}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [({}, "True 1 1"), ({"OMP_NUM_THREADS": "2"}, "False None None")],
)
def test_blas_threads_are_set_to_one_unless_the_user_sets_threads(extra, expected):
    """Before numpy is imported the BLAS variables are set to 1; the user's own setting is kept."""
    code = (
        "import os, mscseq.process as p; ok = p.single_thread_blas(); "
        "print(ok, os.environ.get('OPENBLAS_NUM_THREADS'), os.environ.get('MKL_NUM_THREADS'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(**extra), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == expected.split()


def test_blas_threads_are_left_alone_once_numpy_is_imported():
    """numpy has read its setting then: nothing is changed (mscseq used as a library)."""
    from mscseq.process import single_thread_blas

    env: dict[str, str] = {}
    assert "numpy" in sys.modules
    assert single_thread_blas(env) is False and env == {}


@pytest.mark.parametrize("user_gc", [False, True])
def test_a_command_process_runs_blas_on_one_thread_and_collects_less(user_gc):
    """A command's process set-up (``fastexit.run_and_exit``): OpenBLAS on one thread, the collector's
    thresholds raised, unless something set them first."""
    code = textwrap.dedent(
        f"""
        import gc
        if {user_gc}:
            gc.set_threshold(5000, 10, 10)
        from mscseq.fastexit import run_and_exit

        def main():
            import numpy  # noqa: F401
            from threadpoolctl import threadpool_info

            blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
            print(max(blas), *gc.get_threshold())

        run_and_exit(main)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    expected = "1 5000 10 10" if user_gc else "1 200000 30 30"
    assert out.stdout.split() == expected.split()


@needs_fork
def test_a_job_says_whether_its_child_still_runs():
    """``Job.running`` is True while the child works, False once it has sent its outcome; it never waits."""
    from mscseq.background import start

    job = start(time.sleep, 0.5)
    t0 = time.perf_counter()
    assert job.running() is True
    assert time.perf_counter() - t0 < 0.1
    job.result()
    assert job.running() is False
    quick = start(int, "7")
    deadline = time.monotonic() + 10
    while quick.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert quick.running() is False and quick.result() == 7
    assert start(int, "3", background=False).running() is False


def _slow_down(monkeypatch, module, name: str, seconds: float) -> None:
    """Make ``module.name`` take ``seconds`` longer (patched before a fork, the child sees it too)."""
    real = getattr(module, name)

    def slowed(*args, **kwargs):
        time.sleep(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, slowed)


@needs_fork
@pytest.mark.parametrize("de_seconds", [0.0, 1.5])
def test_idle_runs_only_while_the_de_child_still_works(example_params, monkeypatch, de_seconds):
    """``analyse(idle=...)`` prepares the next step only in time the process would spend waiting."""
    import mscseq.comparability
    import mscseq.pipeline
    from mscseq.io import load_dataset

    _slow_down(monkeypatch, mscseq.pipeline, "_de_results", de_seconds)
    if de_seconds == 0.0:
        # a DE that is done first: the run waits for nothing, so there is no idle time to fill
        _slow_down(monkeypatch, mscseq.comparability, "run_comparability", 1.5)
    calls = []
    adata = load_dataset(example_params.counts, example_params.samples)
    out = mscseq.pipeline.analyse(
        adata,
        example_params,
        background=True,
        idle=[lambda: calls.append(1), lambda: calls.append(2)],
    )
    assert "de" in out.uns and "comparability" in out.uns
    assert calls == ([1, 2] if de_seconds else [])


def test_the_figure_shares_put_the_clustermap_apart():
    """Two processes: the clustermap (seaborn's import included) against the other figures."""
    from mscseq.report.static import figure_shares

    stems = ["correlation_clustermap", "pca", "panel_scores", "volcano_c", "ma_c"]
    shares = figure_shares(stems, 2)
    assert sorted(i for s in shares for i in s) == list(range(5))
    clustermap = next(s for s in shares if 0 in s)
    assert [stems[i] for i in clustermap] == ["correlation_clustermap", "pca"]


def test_gene_keys_are_worked_out_once_per_data_set_and_match_as_before():
    """The exclusions, gene lists and sex genes share one set of match keys per data set (by value)."""
    from mscseq.comparability import genesets, sex

    ids = ["ENSG00000229807.12", "ENSG00000012817", "XIST", " ENSG00000204287.14 ", "GSTM1"]
    names = ["XIST", "KDM5D", None, "HLA-DRA", ""]
    keys = genesets.gene_keys(ids, names)
    assert genesets.gene_keys(list(ids), list(names)) is keys  # equal values: the same keys
    assert keys.ids.tolist() == [
        "ENSG00000229807",
        "ENSG00000012817",
        "XIST",
        "ENSG00000204287",
        "GSTM1",
    ]
    assert keys.names.tolist() == ["XIST", "KDM5D", "", "HLA-DRA", ""]
    reasons = genesets.exclusion_reasons(ids, names)
    assert reasons.tolist() == ["sex", "sex", "sex", "hla", "genotype"]
    reasons[:] = ""  # the caller's copy: the next call is not affected
    assert genesets.exclusion_reasons(ids, names).tolist() == [
        "sex",
        "sex",
        "sex",
        "hla",
        "genotype",
    ]
    assert genesets.exclusion_reasons(ids, None).tolist() == [
        "sex",
        "sex",
        "sex",
        "hla",
        "genotype",
    ]
    assert sex._columns(ids, names, sex.XIST_GENES).tolist() == [0]


@needs_fork
def test_de_reads_small_inputs_ahead_with_the_same_data_and_errors(
    example_params, tmp_path, monkeypatch
):
    """``mscseq de`` reads small inputs in a forked child while it imports the engine: same data, same errors."""
    import dataclasses

    import numpy as np
    import pandas as pd

    import mscseq.background
    from mscseq import pipeline
    from mscseq.errors import MscseqError

    ahead = pipeline.load_while_importing(example_params, light=True)
    here = pipeline.load(example_params, light=True)
    assert np.array_equal(ahead.X, here.X)
    pd.testing.assert_frame_equal(ahead.obs, here.obs)
    pd.testing.assert_frame_equal(ahead.var, here.var)
    assert ahead.uns == here.uns

    bad = tmp_path / "ragged.tsv"
    bad.write_text("gene_id\tS1\tS2\ng1\t1\n")
    params = dataclasses.replace(example_params, counts=[bad])
    with pytest.raises(MscseqError, match=r"ragged\.tsv") as err:
        pipeline.load_while_importing(params, light=True)
    assert err.value.exit_code == 2

    def no_fork(*args, **kwargs):
        raise AssertionError("large inputs are read here, not ahead")

    monkeypatch.setattr(pipeline, "LOAD_AHEAD_BYTES", 10)
    monkeypatch.setattr(mscseq.background, "start", no_fork)
    assert np.array_equal(pipeline.load_while_importing(example_params, light=True).X, here.X)


@needs_fork
def test_a_stop_signal_during_a_fork_is_not_lost():
    """Ctrl-C arriving while ``start`` forks is raised once the fork is done, and the child is stopped.

    Python runs signal handlers in whatever code runs next; during a fork that would be the at-fork hooks,
    whose exceptions it drops. The hook below sends the signal at exactly that moment.
    """
    code = textwrap.dedent(
        """
        import os, signal
        from mscseq.background import start

        os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGINT))
        try:
            start(sum, [1, 2])
            print("lost")
        except KeyboardInterrupt:
            try:
                os.waitpid(-1, os.WNOHANG)
                print("raised, a child is left")
            except ChildProcessError:
                print("raised")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "raised", out.stderr
    assert "Exception ignored" not in out.stderr


@needs_fork
def test_idle_steps_stop_once_the_de_child_has_finished(example_params, monkeypatch):
    """A preparation that outlasts the DE child is the last one run; the rest are left to the output step."""
    import mscseq.pipeline
    from mscseq.io import load_dataset

    _slow_down(monkeypatch, mscseq.pipeline, "_de_results", 0.5)
    calls = []
    adata = load_dataset(example_params.counts, example_params.samples)
    mscseq.pipeline.analyse(
        adata,
        example_params,
        background=True,
        idle=[lambda: (calls.append(1), time.sleep(3)), lambda: calls.append(2)],
    )
    assert calls == [1]
