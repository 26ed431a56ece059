"""Atomic output folders and recovery after killed runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mscseq.errors import MscseqError
from mscseq.outputs import atomic_folder, dump_json, recover_stale

DEAD_PID = 2**22 + 12345  # above Linux's default pid_max, so never a running process


def test_atomic_folder_moves_into_place(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out, force=False) as tmp:
        (tmp / "a.txt").write_text("x")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_atomic_folder_failure_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_folder(out, force=False) as tmp:
        (tmp / "a.txt").write_text("x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_force_replaces_only_when_complete(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "run_info.json").write_text('{"schema": "mscseq.run_info/1"}')
    (out / "summary.json").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(out, force=True) as tmp:
        (tmp / "report.html").write_text("new")
        raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == ["run_info.json", "summary.json"]
    with atomic_folder(out, force=True) as tmp:
        (tmp / "report.html").write_text("new")
    assert [p.name for p in out.iterdir()] == ["report.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_existing_folder_refused_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("k")
    with pytest.raises(MscseqError, match="--force"), atomic_folder(out, force=False):
        pass
    assert (out / "keep.txt").read_text() == "k"


def test_stale_temporary_folder_of_a_dead_run_is_removed(tmp_path):
    out = tmp_path / "out"
    stale = tmp_path / f".out.mscseq-tmp-{DEAD_PID}-abcd1234"
    stale.mkdir()
    (stale / "half.tsv").write_text("partial")
    with atomic_folder(out, force=False) as tmp:
        (tmp / "a.txt").write_text("x")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_results_moved_aside_by_a_killed_run_are_restored(tmp_path):
    out = tmp_path / "out"
    old = tmp_path / f".out.mscseq-old-{DEAD_PID}-abcd1234"
    old.mkdir()
    (old / "summary.json").write_text("{}")
    restored = recover_stale(out)
    assert restored == [old]
    assert (out / "summary.json").exists() and not old.exists()


def test_temporary_folder_of_a_live_run_is_kept(tmp_path):
    import os

    live = tmp_path / f".out.mscseq-tmp-{os.getpid()}-abcd1234"
    live.mkdir()
    assert recover_stale(tmp_path / "out") == []
    assert live.exists()


def test_dump_json_plain_and_deterministic():
    text = dump_json({"b": np.float64(1.5), "a": [np.int64(2), np.nan], "c": np.array([True])})
    assert json.loads(text) == {"b": 1.5, "a": [2, None], "c": [True]}
    assert text == dump_json(
        {"b": np.float64(1.5), "a": [np.int64(2), np.nan], "c": np.array([True])}
    )


def test_tsv_text_is_byte_identical_to_pandas():
    import pandas as pd

    from mscseq.outputs import tsv_text

    df = pd.DataFrame(
        {
            "gene_name": ["A", "", None, "D"],
            "baseMean": [1.0, 1e-300, np.nan, 123456789.123456789],
            "count": np.array([1, 2, 3, 4], dtype=np.int64),
            "flag": [True, False, True, False],
            "level": pd.Categorical(["x", "y", "x", None]),
            "tiny": [0.1 + 0.2, -0.0, np.inf, 5e-324],
        },
        index=pd.Index(["g1", "g2", "g3", "g4"], name="gene_id"),
    )
    expected = df.to_csv(sep="\t", na_rep="NA", index_label="gene_id", lineterminator="\n")
    assert tsv_text(df, index_label="gene_id") == expected
    assert tsv_text(df) == df.to_csv(sep="\t", na_rep="NA", index=False, lineterminator="\n")


def test_missing_parent_folders_are_made(tmp_path):
    out = tmp_path / "results" / "batch1" / "example"
    with atomic_folder(out, force=False) as tmp:
        (tmp / "a.txt").write_text("x")
    assert (out / "a.txt").read_text() == "x"


def test_outdir_under_a_file_is_refused(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    with (
        pytest.raises(MscseqError, match="is a file"),
        atomic_folder(blocker / "example", force=False),
    ):
        pass
