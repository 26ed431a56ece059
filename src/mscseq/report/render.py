"""Assemble ``report.html``: section data and figures into the Jinja2 template, assets inlined."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.resources import files
from typing import Any

from mscseq.report import fmt
from mscseq.report.pack import pack
from mscseq.report.records import comparability_block
from mscseq.report.sections import (
    Figures,
    de,
    methods,
    overview,
    panels,
    provenance,
    samples,
    similarity,
    statistics,
)

#: Sections of the report, in order: (element id, navigation label). Each id names a module of
#: :mod:`mscseq.report.sections` and its template ``templates/sections/<id>.html.j2``.
NAV = [
    ("overview", "Verdict"),
    ("samples", "Inputs & samples"),
    ("similarity", "Similarity"),
    ("panels", "MSC panels"),
    ("statistics", "Comparability statistics"),
    ("de", "Differential expression"),
    ("methods", "Methods"),
    ("provenance", "Software & inputs"),
]


@functools.lru_cache(maxsize=1)
def _assets() -> dict[str, str]:
    """The CSS, the report's JavaScript and plotly.js, read once per process."""
    from plotly.offline import get_plotlyjs

    here = files("mscseq.report") / "assets"
    out = {
        "css": (here / "report.css").read_text(encoding="utf-8"),
        "js": (here / "report.js").read_text(encoding="utf-8"),
        "plotly": get_plotlyjs(),
    }
    for name, text in out.items():
        if "</script" in text.lower() or "</style" in text.lower():
            msg = f"report asset {name} contains a closing tag and cannot be inlined"
            raise RuntimeError(msg)
    return out


@functools.lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("mscseq", "report/templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.policies["json.dumps_kwargs"] = {
        "sort_keys": False,
        "separators": (",", ":"),
        "allow_nan": False,
    }
    env.filters["fmt"] = fmt.fmt
    env.filters["humanise"] = fmt.humanise
    return env


def build_context(
    adata, *, summary: Mapping[str, Any], run_info: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything the template shows, read from the run's outputs (no statistics are computed).

    Parameters
    ----------
    adata
        Analysed AnnData.
    summary
        Content of ``summary.json``.
    run_info
        Content of ``run_info.json``.

    Returns
    -------
    dict
        Template context; ``figures`` maps element ids to plotly figure specifications.

    """
    figs = Figures()
    comp = comparability_block(adata, summary)
    return {
        "title": "mscseq report",
        "version": summary.get("mscseq_version", ""),
        "finished": run_info.get("finished", ""),
        "nav": NAV,
        "overview": overview.section(adata, summary, comp),
        "samples": samples.section(adata, comp, figs),
        "similarity": similarity.section(adata, comp, figs),
        "panels": panels.section(adata, comp, figs),
        "statistics": statistics.section(comp, figs),
        "de": de.section(adata, summary, figs),
        "methods": methods.section(summary, run_info, uns=adata.uns, comparability=comp),
        "provenance": provenance.section(run_info),
        "figures": figs.specs,
    }


def prepare() -> None:
    """Compile the templates and read the assets now (each is done once per process anyway).

    A run does it while its DE child still works (:func:`mscseq.pipeline.analyse`'s ``idle``): ~0.1 s
    of CPU off the busiest part of the run.
    """
    env = _environment()
    for name in env.list_templates():
        env.get_template(name)
    _assets()


def render_report(adata, *, summary: dict[str, Any], run_info: dict[str, Any]) -> str:
    """Render the self-contained HTML report.

    Parameters
    ----------
    adata
        Analysed AnnData (see ``docs/architecture.md`` for the keys read).
    summary
        Content of ``summary.json``.
    run_info
        Content of ``run_info.json``.

    Returns
    -------
    str
        One HTML document with every script, style and image inlined; it loads nothing at view time.
        Long figure arrays are embedded once, as base64 typed arrays (:mod:`mscseq.report.pack`).

    """
    ctx = build_context(adata, summary=summary, run_info=run_info)
    ctx["figures"], shared = pack(ctx["figures"])
    return (
        _environment().get_template("report.html.j2").render(assets=_assets(), shared=shared, **ctx)
    )
