"""Collecting several runs' summary.json into one table (``mscseq collect``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mscseq.batch import collect_summaries
from mscseq.cli import app
from mscseq.errors import MscseqError


def _run(
    folder: Path, *, comparability: dict | None = None, de: list | None = None, report: bool = True
) -> Path:
    folder.mkdir(parents=True)
    summary = {
        "schema": "mscseq.summary/1",
        "dimensions": {"n_samples": 4, "n_genes": 10},
        "de": de or [],
    }
    if comparability is not None:
        summary["comparability"] = comparability
    (folder / "summary.json").write_text(json.dumps(summary))
    if report:
        (folder / "report.html").write_text("<html></html>")
    return folder


def test_collect_with_and_without_comparability(tmp_path: Path) -> None:
    comp = {
        "verdict": "not_comparable",
        "products": [
            {"sample": "P1", "status": "consistent", "reasons": []},
            {"sample": "P2", "status": "outlier", "reasons": ["low correlation"]},
            {"sample": "P3", "status": "outlier", "reasons": ["far from centroid"]},
        ],
    }
    a = _run(tmp_path / "a", comparability=comp, de=[{"name": "x_B_vs_A", "n_up": 3, "n_down": 1}])
    b = _run(tmp_path / "b", de=[{"name": "y_T_vs_C", "n_up": 0, "n_down": 7}], report=False)
    table = collect_summaries([a, b], relative_to=tmp_path)
    assert list(table.columns) == [
        "dataset", "schema", "verdict", "question", "n_samples", "n_products", "n_outliers", "outliers",
        "n_deviating", "deviating", "single_group", "protocol_sha256", "de_x_B_vs_A_up", "de_x_B_vs_A_down", "de_y_T_vs_C_up", "de_y_T_vs_C_down", "report",
    ]  # fmt: skip
    ra, rb = table.iloc[0], table.iloc[1]
    assert (ra["dataset"], ra["verdict"], ra["n_products"], ra["n_outliers"], ra["outliers"]) == (
        "a", "not_comparable", 3, 2, "P2,P3",
    )  # fmt: skip
    assert ra["report"] == "a/report.html"
    assert pd.isna(rb["verdict"]) and pd.isna(rb["n_products"]) and pd.isna(rb["report"])
    assert rb["de_y_T_vs_C_down"] == 7 and pd.isna(ra["de_y_T_vs_C_down"])


def test_cli_collect_writes_tsv_with_empty_cells(tmp_path: Path) -> None:
    a = _run(tmp_path / "runs" / "a", de=[{"name": "x_B_vs_A", "n_up": 3, "n_down": 1}])
    out = tmp_path / "runs" / "summary.tsv"
    res = CliRunner().invoke(app, ["collect", str(a), "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == [
        "dataset", "schema", "verdict", "question", "n_samples", "n_products", "n_outliers", "outliers",
        "n_deviating", "deviating", "single_group", "protocol_sha256",
        "de_x_B_vs_A_up", "de_x_B_vs_A_down", "report",
    ]  # fmt: skip
    assert lines[1].split("\t") == [
        "a", "mscseq.summary/1", "", "", "4", "", "", "", "", "", "", "", "3", "1", "a/report.html",
    ]  # fmt: skip


def test_collect_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MscseqError, match=r"no summary\.json here"):
        collect_summaries([tmp_path / "empty"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "summary.json").write_text("{}")
    with pytest.raises(MscseqError, match="not an mscseq summary"):
        collect_summaries([tmp_path / "bad"])
    a = _run(tmp_path / "x" / "a")
    b = _run(tmp_path / "y" / "a")
    with pytest.raises(MscseqError, match="duplicated run names: a"):
        collect_summaries([a, b])
    res = CliRunner().invoke(app, ["collect", str(tmp_path / "empty")])
    assert res.exit_code == 2
    assert "no summary.json here" in res.output
