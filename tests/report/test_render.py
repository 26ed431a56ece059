"""Tests of the assembled report: self-contained, escaped, every section present, robust to missing parts."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_helpers import (
    HOSTILE_GENE,
    HOSTILE_SAMPLE,
    HOSTILE_VALUE,
    fake_comparability,
    load_parts,
)

from mscseq.errors import MscseqError
from mscseq.report import render_report

SECTIONS = [
    "overview",
    "samples",
    "similarity",
    "panels",
    "statistics",
    "de",
    "methods",
    "provenance",
]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    p = _Tags()
    p.feed(html)
    return p.tags


def figures(html: str) -> dict:
    """The page's figures with the shared arrays resolved (as the page's script does)."""
    from mscseq.report.pack import unpack

    blocks = {}
    for name in ("figures", "shared"):
        m = re.search(
            rf'<script type="application/json" id="mscseq-{name}">(.*?)</script>', html, re.S
        )
        assert m, f"{name} data block missing"
        blocks[name] = json.loads(m.group(1))
    return unpack(blocks["figures"], blocks["shared"])


@pytest.fixture(scope="module")
def html(report_parts) -> str:
    adata, summary, run_info = report_parts
    return render_report(adata, summary=summary, run_info=run_info)


def test_report_folder_has_a_report(report_dir: Path):
    text = (report_dir / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and 'id="overview"' in text


def test_self_contained(html: str):
    for tag, attrs in tags(html):
        for key in ("src", "href", "srcset", "data", "action", "poster"):
            value = (attrs.get(key) or "").strip().lower()
            assert not value.startswith(("http:", "https:", "//", "ftp:")), (tag, key, value)
        if tag == "script":
            assert "src" not in attrs, "scripts must be inline"
        if tag == "link":
            assert attrs.get("rel") != "stylesheet", "styles must be inline"
    assert not re.search(r"@import|url\(\s*['\"]?https?:", html.split("<script", 1)[0]), (
        "CSS loads nothing"
    )
    # figure data, shared arrays, plotly.js (once), the report's script
    assert html.count("<script") == 4


def test_every_section_and_nav_link(html: str):
    ids = {a.get("id") for _, a in tags(html)}
    hrefs = {a.get("href") for t, a in tags(html) if t == "a"}
    for s in SECTIONS:
        assert s in ids
        assert f"#{s}" in hrefs


def test_one_section_module_per_template():
    from importlib.resources import files

    from mscseq.report.render import NAV

    here = files("mscseq.report")
    modules = {p.name[:-3] for p in (here / "sections").iterdir() if p.name.endswith(".py")}
    templates = {p.name.split(".")[0] for p in (here / "templates" / "sections").iterdir()}
    assert modules - {"__init__"} == templates == {i for i, _ in NAV} == set(SECTIONS)


def test_every_plot_has_its_figure(html: str):
    figs = figures(html)
    divs = [a["data-fig"] for t, a in tags(html) if t == "div" and "data-fig" in a]
    assert divs and set(divs) == set(figs)
    assert {"fig-qc", "fig-pca", "fig-scree", "fig-corr", "fig-volcano-0", "fig-ma-0"} <= set(figs)


def test_content_read_from_the_run(html: str, report_parts):
    adata, summary, run_info = report_parts
    d = summary["de"][0]
    assert "B versus A" in html
    assert f'<div class="tile-value up">{d["n_up"]:,}</div>' in html
    assert f'<div class="tile-value down">{d["n_down"]:,}</div>' in html
    for f in run_info["inputs"]:
        assert f["sha256"] in html
    assert run_info["versions"]["mscseq"] in html
    for s in adata.obs_names:
        assert f"<td>{s}</td>" in html
    top = adata.uns["de"][d["name"]].index[0]
    assert f"<td>{top}</td>" in html


def test_methods_cite_the_methods_used(html: str):
    for ref in ("Genome Biology 15:550", "Genome Biology 19:15", "Benjamini"):
        assert ref in html
    assert "~ cohort" in html


def test_without_comparability(report_parts):
    adata, summary, run_info = report_parts
    a = adata.copy()
    a.uns.pop("comparability", None)
    html = render_report(
        a, summary={k: v for k, v in summary.items() if k != "comparability"}, run_info=run_info
    )
    assert "Comparability not computed" in html
    assert "MSC panel scores were not computed in this run" in html
    assert "comparability statistics (equivalence, PERMANOVA" in html
    assert "The comparability assessment was not part of this run" in html


def test_hostile_names_are_escaped(hostile_dir: Path):
    adata, summary, run_info = load_parts(hostile_dir)
    html = render_report(adata, summary=summary, run_info=run_info)
    assert HOSTILE_SAMPLE in list(adata.obs_names)
    assert HOSTILE_GENE in set(adata.var["gene_name"])
    for raw in (HOSTILE_SAMPLE, HOSTILE_GENE, "<img src=x", "<svg onload", HOSTILE_VALUE):
        assert raw not in html
    assert "P03&lt;img src=x onerror=alert(1)&gt;" in html  # shown as text in tables
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # script blocks: the JSON never closes its element early; figure data keep the names (escaped for plotly)
    figs = figures(html)
    assert html.lower().count("</script") == 4  # figures, shared arrays, plotly.js, report.js
    names = json.dumps(figs)
    assert "P03&lt;img src=x onerror=alert(1)&gt;" in names
    assert "&lt;/script&gt;" in names
    assert not [t for t, a in tags(html) if t in {"img", "svg", "iframe", "object", "embed"}]
    assert not any(k.startswith("on") for _, a in tags(html) for k in a)


def test_without_de(report_parts):
    adata, summary, run_info = report_parts
    a = adata.copy()
    a.uns.pop("de", None)
    a.uns.pop("de_summary", None)
    html = render_report(a, summary={**summary, "de": []}, run_info=run_info)
    assert "No contrast was requested" in html
    assert "fig-volcano-0" not in html


def test_with_comparability(report_parts):
    adata, summary, run_info = report_parts
    comp = fake_comparability([str(s) for s in adata.obs_names])
    html = render_report(adata, summary={**summary, "comparability": comp}, run_info=run_info)
    assert "verdict-not_comparable" in html and "Not comparable" in html
    assert "1 of 15 products stands out as an outlier" in html
    assert "outlier product(s): P09" in html  # the reasons
    assert "96.2 %" in html  # key number: fraction shown equivalent
    for clause in comp["rule"].split("; "):
        assert f"<li>{clause}</li>" in html
    assert "negative marker(s) PTPRC, CD34 expressed" in html
    for title in (
        "Outlier screening",
        "Equivalence",
        "PERMANOVA and PERMDISP",
        "Variance partition",
        "Quality ranges",
    ):
        assert f"<h3>{title}</h3>" in html
    assert "shown generically" in html  # unknown parts of the block are still shown
    assert "Anderson MJ (2001)" in html and "Schuirmann" in html and "Dominici" in html
    assert "Comparability not computed" not in html
    figs = figures(html)
    assert {
        "fig-outliers",
        "fig-equivalence",
        "fig-variance",
        "fig-panel-scores",
        "fig-panel-genes",
    } <= set(figs)
    assert figs["fig-pca"]["layout"]["meta"]["colorings"][0]["column"] == "comparability"


def test_comparability_from_anndata_when_summary_lacks_it(report_parts):
    adata, summary, run_info = report_parts
    a = adata.copy()
    comp = fake_comparability([str(s) for s in a.obs_names], verdict="comparable", outlier="none")
    # h5ad form: lists of records become {"0": ..., "1": ...}
    a.uns["comparability"] = {
        **comp,
        "products": {str(i): p for i, p in enumerate(comp["products"])},
    }
    without = {k: v for k, v in summary.items() if k != "comparability"}
    html = render_report(a, summary=without, run_info=run_info)
    assert "verdict-comparable" in html and "None of the 15 products stands out" in html


def test_render_folder_rewrites_the_report(tmp_path: Path, report_dir: Path):
    import shutil

    from mscseq.report.folder import render_folder

    d = tmp_path / "copy"
    shutil.copytree(report_dir, d)
    (d / "report.html").unlink()
    out = render_folder(d)
    assert out == d / "report.html" and out.read_text(encoding="utf-8").startswith(
        "<!DOCTYPE html>"
    )
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == []


def test_render_folder_errors(tmp_path: Path):
    from mscseq.report.folder import render_folder

    with pytest.raises(MscseqError, match="no such folder"):
        render_folder(tmp_path / "absent")
    (tmp_path / "summary.json").write_text("{}", encoding="utf-8")
    with pytest.raises(MscseqError, match=r"missing mscseq.h5ad, run_info.json"):
        render_folder(tmp_path)


def test_report_command(tmp_path: Path, report_dir: Path):
    import shutil

    from typer.testing import CliRunner

    from mscseq.cli import app

    d = tmp_path / "run"
    shutil.copytree(report_dir, d)
    (d / "report.html").write_text("stale", encoding="utf-8")
    res = CliRunner().invoke(app, ["report", str(d)])
    assert res.exit_code == 0, res.output
    assert (d / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    res = CliRunner().invoke(app, ["report", str(tmp_path / "nope")])
    assert res.exit_code == 2
    assert "no such folder" in res.output
