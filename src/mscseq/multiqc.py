"""MultiQC custom-content files, so mscseq's QC and verdict appear in a facility's MultiQC report.

Written into ``OUTDIR/multiqc/`` by every ``mscseq compare`` run:

``mscseq_qc_mqc.tsv``
    General-statistics columns per sample: library size, detected genes, top-100 share, size factor
    and, when the comparability analysis ran, the product's status.
``mscseq_verdict_mqc.json``
    A table section: the verdict, its reasons, each comparison's tier results, what would settle an
    inconclusive answer, the protocol and the rule in the description; one row per product (status,
    p-value and drivers with ``mscseq.summary/2``; status and reasons with ``/1``), panel flags.
    Written only when the comparability analysis ran.
``mscseq_tiers_mqc.tsv``
    A table section (``mscseq.summary/2`` only): one row per comparison and tier, and one per Tier-1
    attribute, with its result, estimate and bounds against the margin (or f₀); for the single-group
    question, the split and the spread.
``mscseq_de_mqc.tsv``
    A table section: genes up and down per contrast. Written only when DE ran.

MultiQC finds them by their ``_mqc`` suffix: ``multiqc OUTDIR`` (or a folder of many runs).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from mscseq.outputs import spreadsheet_safe

QC_FILE = "mscseq_qc_mqc.tsv"
VERDICT_FILE = "mscseq_verdict_mqc.json"
TIERS_FILE = "mscseq_tiers_mqc.tsv"
DE_FILE = "mscseq_de_mqc.tsv"

_QC_HEADERS: dict[str, dict[str, Any]] = {
    "library_size": {
        "title": "Counts (M)",
        "description": "mscseq: total raw counts (millions)",
        "scale": "Blues",
        "format": "{:,.2f}",
    },
    "detected_genes": {
        "title": "Genes detected",
        "description": "mscseq: genes with a count > 0",
        "scale": "Greens",
        "format": "{:,.0f}",
    },
    "top100_fraction": {
        "title": "Top-100 share",
        "description": "mscseq: share of counts in the sample's 100 most counted genes (%)",
        "max": 100,
        "min": 0,
        "suffix": "%",
        "scale": "OrRd",
        "format": "{:,.1f}",
    },
    "size_factor": {
        "title": "Size factor",
        "description": "mscseq: DESeq2 median-of-ratios size factor",
        "scale": "Purples",
        "format": "{:,.3f}",
    },
    "comparability": {
        "title": "Product status",
        "description": "mscseq comparability: conforming, deviating or not assessable (see the mscseq verdict section)",
    },
}
#: The status column's description for a ``mscseq.summary/1`` block (its statuses).
_V1_STATUS = "mscseq comparability: consistent or outlier (see the mscseq verdict section)"
#: Factors applied to the values so they read as the headers say (MultiQC's own 'modify' needs code).
_FACTORS = {"library_size": 1e-6, "top100_fraction": 100.0}


def _yaml_comment(config: dict[str, Any]) -> str:
    """A MultiQC header block: the configuration as YAML (JSON is YAML) after ``#``."""
    lines = [f"# {key}: {json.dumps(value, ensure_ascii=False)}" for key, value in config.items()]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    """One TSV cell: whitespace collapsed, formula-like text neutralised (``spreadsheet_safe``)."""
    if value is None:
        return ""
    text = str(value)
    return spreadsheet_safe(" ".join(text.replace("\t", " ").split()))


def qc_table(summary: dict[str, Any]) -> str:
    """Text of ``mscseq_qc_mqc.tsv`` (MultiQC general statistics) from a ``summary.json`` dict.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary`.

    Returns
    -------
    str
        TSV with a YAML header in ``#`` comments.

    """
    status = {
        _product_name(p): p.get("status")
        for p in (summary.get("comparability") or {}).get("products", [])
    }
    cols = ["library_size", "detected_genes", "top100_fraction", "size_factor"] + (
        ["comparability"] if status else []
    )
    rows = []
    for q in summary.get("qc", []):
        vals = []
        for c in cols:
            v = status.get(q["sample"]) if c == "comparability" else q.get(c)
            if c in _FACTORS and v is not None:
                v = v * _FACTORS[c]
            vals.append(_cell(v))
        rows.append("\t".join([_cell(q["sample"]), *vals]))
    headers = dict(_QC_HEADERS)
    if "question" not in (summary.get("comparability") or {}):
        headers["comparability"] = {**headers["comparability"], "description": _V1_STATUS}
    config = {
        "id": "mscseq_qc",
        "section_name": "mscseq QC",
        "plot_type": "generalstats",
        "pconfig": [{c: headers[c]} for c in cols],
    }
    return _yaml_comment(config) + "\t".join(["Sample", *cols]) + "\n" + "\n".join(rows) + "\n"


def _product_name(p: dict[str, Any]) -> Any:
    """A product record's name: ``product`` (``mscseq.summary/2``) or ``sample`` (``/1``)."""
    return p.get("product", p.get("sample"))


def _num(value: Any, digits: int = 3) -> str:
    """A number for the description text (``–`` when missing)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value:.{digits}g}"


def _pct(value: Any) -> str:
    """A fraction as a percentage for the description text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{100 * value:.2g} %"


def _tier_lines(comp: dict[str, Any]) -> list[str]:
    """One plain line per comparison (or the single-group question) with its tier results."""
    lines = []
    for c in comp.get("comparisons") or []:
        t1, t2 = c.get("tier1") or {}, c.get("tier2") or {}
        line = (
            f"{c.get('target')} vs {c.get('reference')}: {str(c.get('verdict', '')).replace('_', ' ')}"
            f" — Tier 1 {t1.get('result', '–')}, Tier 2 {t2.get('result', '–')}"
        )
        if t2.get("upper") is not None:
            line += (
                f" (genes beyond ±{_num(t2.get('margin'))} log2: {_pct(t2.get('estimate'))},"
                f" bounds {_pct(t2.get('lower'))}–{_pct(t2.get('upper'))}, f0 {_pct(t2.get('f0'))})"
            )
        lines.append(line)
    single = comp.get("single_group")
    if isinstance(single, dict):
        split, spread = single.get("split") or {}, single.get("spread") or {}
        lines.append(
            f"single group: {single.get('result', '–')} — split {split.get('result', '–')}"
            f" (p {_num(split.get('p_value'))}), spread {spread.get('result', '–')}"
            f" (upper bound {_num(spread.get('upper'))} vs τ {_num(spread.get('tau'))} log2)"
        )
    return lines


def _list(text: str, items: list[str]) -> str:
    """An HTML paragraph and list (empty without items)."""
    if not items:
        return ""
    return (
        f"<p><em>{text}</em></p><ul>"
        + "".join(f"<li>{html.escape(i)}</li>" for i in items)
        + "</ul>"
    )


def _description(comp: dict[str, Any]) -> str:
    """The verdict section's description: verdict and reasons first, then tiers, settle, protocol, rule."""
    verdict = str(comp.get("verdict", ""))
    reasons = [str(r) for r in comp.get("reasons", [])]
    caveats = [str(c) for c in comp.get("caveats", [])]
    desc = f"<p><strong>Verdict: {html.escape(verdict.replace('_', ' '))}</strong>"
    if reasons:
        desc += " — " + html.escape("; ".join(reasons))
    desc += "</p>"
    desc += _list("Tiers:", _tier_lines(comp))
    desc += _list("What would settle it:", [str(x) for x in comp.get("settle") or []])
    protocol = comp.get("protocol")
    if isinstance(protocol, dict):
        desc += (
            f"<p><em>Protocol:</em> {html.escape(str(protocol.get('source', '')))}"
            f" (sha256 {html.escape(str(protocol.get('sha256', ''))[:12])}…)</p>"
        )
    if comp.get("rule"):
        desc += f"<p><em>Rule:</em> {html.escape(str(comp['rule']))}</p>"
    if caveats:
        desc += "<p><em>Caveats:</em> " + html.escape("; ".join(caveats)) + "</p>"
    return desc


def _joined(value: Any) -> str:
    """A list (or text) as one ``; ``-separated cell."""
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return "" if value is None else str(value)


def verdict_section(summary: dict[str, Any]) -> dict[str, Any] | None:
    """Content of ``mscseq_verdict_mqc.json`` (a MultiQC table section), or ``None`` without comparability.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary` (``mscseq.summary/2``, or a ``/1`` file).

    Returns
    -------
    dict or None
        MultiQC custom-content dictionary.

    """
    comp = summary.get("comparability")
    if not isinstance(comp, dict):
        return None
    v2 = "question" in comp
    data = {}
    for p in comp.get("products", []):
        row = {"status": str(p.get("status", ""))}
        if v2:
            row |= {
                "group": "" if p.get("group") is None else str(p.get("group")),
                "p_value": p.get("p_value"),
                "p_adjusted": p.get("p_adjusted"),
                "drivers": _joined(p.get("drivers")),
                "panel_drivers": _joined(p.get("panel_drivers")),
            }
        else:
            row["reasons"] = _joined(p.get("reasons"))
        row["flags"] = _joined(p.get("flags"))
        data[str(_product_name(p))] = row
    if v2:
        headers = {
            "status": {"title": "Status", "description": "conforming, deviating or not_assessable"},
            "group": {"title": "Group", "description": "the product's --group level"},
            "p_value": {"title": "p", "description": "calibrated p-value of deviation from its peers", "format": "{:,.3g}"},
            "p_adjusted": {"title": "Holm p", "description": "Holm-adjusted over the assessable products", "format": "{:,.3g}"},
            "drivers": {"title": "Driver genes", "description": "genes that drive the deviation"},
            "panel_drivers": {"title": "Driver panels", "description": "panel scores that drive the deviation"},
        }  # fmt: skip
    else:
        headers = {
            "status": {"title": "Status", "description": "consistent or outlier"},
            "reasons": {"title": "Reasons", "description": "why a product is an outlier"},
        }
    headers["flags"] = {"title": "Panel flags", "description": "MSC gene-panel flags"}
    return {
        "id": "mscseq_verdict",
        "section_name": "mscseq comparability verdict",
        "description": _description(comp),
        "plot_type": "table",
        "pconfig": {
            "id": "mscseq_verdict_table",
            "title": "mscseq: products",
            "col1_header": "Product",
        },
        "headers": headers,
        "data": data,
    }


def _tier_rows(comp: dict[str, Any]) -> list[list[Any]]:
    """Rows of the tiers table: name, result, estimate, lower, upper, margin or threshold."""
    rows: list[list[Any]] = []
    for c in comp.get("comparisons") or []:
        name = c.get("name") or f"{c.get('target')}_vs_{c.get('reference')}"
        t1, t2 = c.get("tier1") or {}, c.get("tier2") or {}
        rows.append([f"{name} verdict", c.get("verdict"), None, None, None, None])
        rows.append([f"{name} Tier 1", t1.get("result"), None, None, None, None])
        for a in t1.get("attributes") or []:
            rows.append([f"{name} Tier 1 {a.get('panel')}", a.get("result"), a.get("estimate"),
                         a.get("ci_low"), a.get("ci_high"), a.get("margin")])  # fmt: skip
        rows.append([f"{name} Tier 2", t2.get("result"), t2.get("estimate"), t2.get("lower"),
                     t2.get("upper"), t2.get("f0")])  # fmt: skip
    single = comp.get("single_group")
    if isinstance(single, dict):
        split, spread = single.get("split") or {}, single.get("spread") or {}
        rows.append(["single group", single.get("result"), None, None, None, None])
        rows.append(
            ["single group split", split.get("result"), split.get("p_value"), None, None, None]
        )
        rows.append(["single group spread", spread.get("result"), spread.get("estimate"),
                     spread.get("lower"), spread.get("upper"), spread.get("tau")])  # fmt: skip
        for r in single.get("score_spread") or []:
            rows.append([f"single group {r.get('panel')} spread", r.get("result"), r.get("estimate"),
                         r.get("lower"), r.get("upper"), r.get("tau")])  # fmt: skip
    return rows


def tiers_table(summary: dict[str, Any]) -> str | None:
    """Text of ``mscseq_tiers_mqc.tsv`` (each tier's result with its numbers), or ``None``.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary`.

    Returns
    -------
    str or None
        TSV with a YAML header in ``#`` comments; ``None`` without a ``mscseq.summary/2``
        comparability block.

    """
    comp = summary.get("comparability")
    if not isinstance(comp, dict) or "question" not in comp:
        return None
    rows = _tier_rows(comp)
    if not rows:
        return None
    config = {
        "id": "mscseq_tiers",
        "section_name": "mscseq comparability tiers",
        "description": (
            "Each comparison's tiers: Tier 1 attributes (panel scores; estimate target − reference "
            "in log2 with its confidence interval, against the margin), Tier 2 (fraction of genes beyond "
            "the gene margin with its bounds, against f0); for one group, the split (p-value) and the "
            "between-product spread (log2, against tau)."
        ),
        "plot_type": "table",
        "pconfig": {"id": "mscseq_tiers_table", "title": "mscseq: tiers", "col1_header": "Tier"},
    }
    header = "Tier\tresult\testimate\tlower\tupper\tmargin_or_threshold\n"
    text = "\n".join("\t".join(_cell(v) for v in r) for r in rows)
    return _yaml_comment(config) + header + text + "\n"


def de_table(summary: dict[str, Any]) -> str | None:
    """Text of ``mscseq_de_mqc.tsv`` (genes up/down per contrast), or ``None`` without DE.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary`.

    Returns
    -------
    str or None
        TSV with a YAML header in ``#`` comments.

    """
    de = summary.get("de") or []
    if not de:
        return None
    config = {
        "id": "mscseq_de",
        "section_name": "mscseq differential expression",
        "description": "Genes with adjusted p-value below alpha, per contrast (DESeq2).",
        "plot_type": "table",
        "pconfig": {
            "id": "mscseq_de_table",
            "title": "mscseq: DE genes",
            "col1_header": "Contrast",
        },
    }
    rows = [
        "\t".join(
            _cell(v)
            for v in (
                d.get("name"),
                d.get("n_up"),
                d.get("n_down"),
                d.get("n_tested"),
                d.get("alpha"),
            )
        )
        for d in de
    ]
    return _yaml_comment(config) + "Contrast\tup\tdown\ttested\talpha\n" + "\n".join(rows) + "\n"


def write_multiqc(summary: dict[str, Any], folder: str | Path) -> list[str]:
    """Write the MultiQC custom-content files of one run into ``folder``.

    Parameters
    ----------
    summary
        Output of :func:`mscseq.outputs.build_summary`.
    folder
        Destination (created), normally ``OUTDIR/multiqc``.

    Returns
    -------
    list of str
        Names of the files written.

    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / QC_FILE).write_text(qc_table(summary), encoding="utf-8")
    written = [QC_FILE]
    section = verdict_section(summary)
    if section is not None:
        (out / VERDICT_FILE).write_text(
            json.dumps(section, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        written.append(VERDICT_FILE)
    tiers = tiers_table(summary)
    if tiers is not None:
        (out / TIERS_FILE).write_text(tiers, encoding="utf-8")
        written.append(TIERS_FILE)
    de = de_table(summary)
    if de is not None:
        (out / DE_FILE).write_text(de, encoding="utf-8")
        written.append(DE_FILE)
    return written
