"""Compact figure data (``report/pack.py``): long arrays once, as base64 typed arrays; short ones untouched."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from mscseq.report import plots
from mscseq.report.pack import MIN_LENGTH, pack, unpack


def _de(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 1, n) ** 3
    return pd.DataFrame(
        {"gene_name": [f"G{i}" for i in range(n)], "baseMean": rng.lognormal(4, 2, n),
         "log2FoldChange": rng.normal(0, 1, n), "pvalue": p, "padj": np.minimum(p * 5, 1)},
        index=pd.Index([f"ENSG{i:011d}" for i in range(n)], name="gene_id"),
    )  # fmt: skip


def test_pack_round_trip_keeps_the_figures() -> None:
    de = _de(3 * MIN_LENGTH)
    figs = {
        "v": plots.volcano_figure(de, alpha=0.1, max_points=10**6),
        "m": plots.ma_figure(de, alpha=0.1, max_points=10**6),
        "s": plots.scree_figure([0.5, 0.3, 0.2]),
    }
    packed, shared = pack(figs)
    assert packed["s"] == figs["s"]  # short arrays stay plain lists
    back = unpack(packed, shared)
    for fig_id in ("v", "m"):
        for got, want in zip(back[fig_id]["data"], figs[fig_id]["data"], strict=True):
            assert got["text"] == want["text"] and got["hovertext"] == want["hovertext"]
            for key in ("x", "y"):
                assert np.allclose(got[key], want[key], rtol=1e-6)
            assert np.allclose(got["customdata"], want["customdata"], rtol=1e-6)
    ns = next(t for t in packed["v"]["data"] if t["meta"]["class"] == "ns")
    assert set(ns["x"]) == {"ref"} and set(ns["text"]) == {"ref"}  # the long trace is packed
    # every gene's name is stored once although two plots show it
    assert len(shared["strings"]) == len(set(shared["strings"]))
    names = [s for s in shared["strings"] if s.startswith("G")]
    assert sorted(names) == sorted(set(names))
    # the volcano's x and the MA plot's y are the same log2 fold changes: stored once
    v_x = {t["meta"]["class"]: t["x"] for t in packed["v"]["data"]}
    m_y = {t["meta"]["class"]: t["y"] for t in packed["m"]["data"]}
    packed_keys = [k for k in v_x if isinstance(v_x[k], dict)]
    assert packed_keys and all(v_x[k] == m_y[k] for k in packed_keys)


def test_many_contrasts_pack_to_a_fraction() -> None:
    figs = {}
    for k in range(3):  # three contrasts of the same genes: names stored once, not six times
        de = _de(20_000, seed=k)
        figs[f"v{k}"] = plots.volcano_figure(de, alpha=0.1, max_points=10**6)
        figs[f"m{k}"] = plots.ma_figure(de, alpha=0.1, max_points=10**6)
    plain = len(json.dumps(figs, separators=(",", ":")))
    packed, shared = pack(figs)
    small = len(json.dumps([packed, shared], separators=(",", ":"), allow_nan=False))
    assert small < plain / 2, (small, plain)


def test_every_significant_gene_stays_interactive() -> None:
    de = _de(60_000)
    sig = int((de["padj"] < 0.1).sum())
    assert sig > 2 * plots.MAX_POINTS // 5  # more significant genes than the interactive top list
    fig = plots.volcano_figure(de, alpha=0.1)
    shown = {t["meta"]["class"]: len(t["x"]) for t in fig["data"]}
    assert shown["up"] + shown["down"] == sig
    assert fig["layout"]["meta"]["static"] is True and fig["layout"]["images"]
    assert fig["layout"]["meta"]["n_interactive"] == sum(shown.values())
    hover = fig["data"][1]["hovertemplate"]
    assert "%{text}" in hover and "%{hovertext}" in hover and "%{x:.3g}" in hover
    assert "%{y:.3g}" in plots.ma_figure(de, alpha=0.1)["data"][1]["hovertemplate"]


def test_report_with_many_large_contrasts(report_parts) -> None:
    """Six 8,000-gene contrasts: the page says which genes are an image, every significant gene is in the
    figure data, tables shrink to stay within the size budget, and each gene name is embedded once."""
    import re

    from mscseq.report import render_report
    from mscseq.report.sections.de import table_rows

    adata, summary, run_info = report_parts
    a = adata.copy()
    a.uns["de"], a.uns["de_summary"] = {}, {}
    n_sig = {}
    for k in range(6):
        de = _de(8_000, seed=k).assign(lfcSE=0.2).sort_values("padj")
        name = f"cohort_B_vs_A_{k}"
        a.uns["de"][name] = de
        a.uns["de_summary"][name] = {
            "variable": "cohort",
            "target": "B",
            "reference": "A",
            "alpha": 0.1,
        }
        n_sig[name] = int((de["padj"] < 0.1).sum())
    html = render_report(a, summary={**summary, "de": []}, run_info=run_info)
    assert html.count("are drawn as a static image and cannot be hovered") == 6
    assert table_rows(6) == 333 and table_rows(1) == 500 and table_rows(50) == 100
    assert len(re.findall(r'<table[^>]*id="de-table-0"', html)) == 1
    assert f"The {table_rows(6)} genes with the smallest adjusted p-values" in html
    blocks = {
        name: json.loads(re.search(rf'id="mscseq-{name}">(.*?)</script>', html, re.S).group(1))
        for name in ("figures", "shared")
    }
    figs = unpack(blocks["figures"], blocks["shared"])
    for k, name in enumerate(n_sig):
        for kind in ("volcano", "ma"):
            traces = {t["meta"]["class"]: t for t in figs[f"fig-{kind}-{k}"]["data"]}
            assert len(traces["up"]["x"]) + len(traces["down"]["x"]) == n_sig[name], (kind, k)
    labels = [s for s in blocks["shared"]["strings"] if s.startswith("G")]
    assert len(labels) == len(set(labels)) > 1000


def test_arrays_with_gaps_stay_plain() -> None:
    gaps = [float(i) if i % 3 else None for i in range(3 * MIN_LENGTH)]
    figs = {
        "d": {"data": [{"type": "scatter", "mode": "lines", "x": gaps, "y": gaps}], "layout": {}}
    }
    packed, shared = pack(figs)
    assert packed == figs and shared["arrays"] == []
