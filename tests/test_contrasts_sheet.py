"""``--contrasts FILE``: nf-core/differentialabundance contrasts sheets (CSV and YAML), read as they are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mscseq.cli import app
from mscseq.de.contrasts import read_contrasts_sheet
from mscseq.errors import MscseqError

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in divide:RuntimeWarning")

NFCORE = "nfcore_SRP254919_mouse_differentialabundance"


def test_csv_names_and_designs_as_the_pipeline_builds_them(tmp_path):
    path = tmp_path / "contrasts.csv"
    path.write_text(
        "variable,reference,target,blocking\n"
        "treatment,mCherry,hND6,\n"
        "treatment,mCherry,hND6,sample_number\n"
        "treatment,mCherry,hND6,batch;sex\n"
    )
    a, b, c = read_contrasts_sheet(path)
    assert (a.variable, a.target, a.reference) == ("treatment", "hND6", "mCherry")
    assert (a.name, a.design) == ("treatment_mCherry_hND6_", "~ treatment")
    assert (b.name, b.design) == (
        "treatment_mCherry_hND6_sample_number",
        "~ sample_number + treatment",
    )
    assert c.design == "~ batch + sex + treatment"


def test_csv_id_column_names_the_contrast(tmp_path):
    path = tmp_path / "contrasts.csv"
    path.write_text("id,variable,reference,target\nko_vs_wt,genotype,WT,KO\n")
    (c,) = read_contrasts_sheet(path)
    assert (c.name, c.target, c.reference, c.design) == ("ko_vs_wt", "KO", "WT", "~ genotype")


def test_yaml_comparison_blocking_and_two_level_make_contrasts(tmp_path):
    path = tmp_path / "contrasts.yaml"
    path.write_text(
        "contrasts:\n"
        "  - id: plain\n"
        "    comparison: [treatment, mCherry, hND6]\n"
        "    blocking_factors: [sample_number]\n"
        "  - id: limma\n"
        '    make_contrasts_str: "treatmenthND6 - treatmentmCherry"\n'
        '    formula: "~ 0 + treatment + sample_number"\n'
    )
    a, b = read_contrasts_sheet(path)
    assert (a.name, a.design) == ("plain", "~ sample_number + treatment")
    assert (b.variable, b.target, b.reference) == ("treatment", "hND6", "mCherry")
    assert b.design == "~ 0 + treatment + sample_number"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("c.csv", "variable,target\nx,a\n", "lacks column(s) reference"),
        ("c.csv", "variable,reference,target\nx,a,a\n", "same level"),
        ("c.csv", "variable,reference,target\nx,,b\n", "empty reference"),
        ("c.csv", "variable,reference,target\n", "no contrast"),
        ("c.yaml", "contrasts: 3\n", "'contrasts:' list"),
        ("c.yaml", "contrasts:\n  - id: a\n", "needs 'comparison"),
        (
            "c.yaml",
            "contrasts:\n  - id: a\n    comparison: [x, y]\n",
            "[variable, reference, target]",
        ),
        (
            "c.yaml",
            'contrasts:\n  - id: a\n    make_contrasts_str: "(a+b)/2 - c"\n    formula: "~ 0 + g"\n',
            "make_contrasts_str '(a+b)/2 - c' is not supported",
        ),
        ("c.yaml", "contrasts: [\n", "not valid YAML"),
    ],
)
def test_bad_sheets_are_one_line_errors(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(MscseqError) as err:
        read_contrasts_sheet(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.shared
@pytest.mark.parametrize("sheet", ["SRP254919.contrasts.csv", "SRP254919_dream.contrasts.yaml"])
def test_nfcore_test_files_run_as_they_are(shared_data: Path, tmp_path, sheet):
    d = shared_data / NFCORE
    out = tmp_path / "out"
    args = [
        "compare",
        str(d / "SRP254919.salmon.merged.gene_counts.top1000cov.tsv"),
        "-s",
        str(d / "SRP254919.samplesheet.csv"),
        "--contrasts",
        str(d / sheet),
        "-o",
        str(out),
        "--no-report",
        "--permutations",
        "0",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    de = json.loads((out / "summary.json").read_text())["de"]
    names = [e["name"] for e in de]
    assert names == ["treatment_mCherry_hND6_", "treatment_mCherry_hND6_sample_number"]
    for name in names:
        assert (out / "tables" / f"de_{name}.tsv").is_file()
    # the blocked contrast is fitted with the blocking variable in its design; the paired design
    # and the cell-means formula of the YAML are one model, so the results agree
    assert de[0]["design"] == "~ treatment"
    assert "sample_number" in de[1]["design"]
    assert de[1]["n_up"] + de[1]["n_down"] > 0
    params = json.loads((out / "run_info.json").read_text())
    assert params["parameters"]["contrasts_file"] == str(d / sheet)
    assert str(d / sheet) in [i["path"] for i in params["inputs"]]


@pytest.mark.shared
def test_de_refuses_a_sheet_of_two_contrasts(shared_data: Path, tmp_path):
    d = shared_data / NFCORE
    tables = {}
    for sheet in ("SRP254919.contrasts.csv", "SRP254919_dream.contrasts.yaml"):
        res = runner.invoke(
            app,
            [
                "de",
                str(d / "SRP254919.salmon.merged.gene_counts.top1000cov.tsv"),
                "-s",
                str(d / "SRP254919.samplesheet.csv"),
                "--contrasts",
                str(d / sheet),
                "--out",
                "-",
            ],
        )
        tables[sheet] = res
    # 'mscseq de' writes one table: a sheet with two contrasts is refused clearly
    for res in tables.values():
        assert res.exit_code == 2
        assert "exactly one contrast" in res.output
