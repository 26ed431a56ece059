"""Output safety through the real command line: what ``--force`` may replace, the atomic swap, locks,
``collect --out``, formula cells, terminal escapes and the CLI's one-line errors (issue 11)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SAMPLES = ["s1", "s2", "s3", "s4", "s5", "s6"]


def mscseq(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mscseq", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


def write_study(folder: Path, samples: list[str] = SAMPLES, genes: list[str] | None = None) -> Path:
    """counts.tsv and samples.tsv of a small valid study in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    genes = genes or [f"G{g}" for g in range(100)]
    rows = ["gene_id\t" + "\t".join(samples)]
    rows += [f"{g}\t" + "\t".join(str(v) for v in rng.poisson(40, len(samples))) for g in genes]
    (folder / "counts.tsv").write_text("\n".join(rows) + "\n")
    (folder / "samples.tsv").write_text(
        "sample\tgroup\n" + "".join(f"{s}\t{'AB'[i % 2]}\n" for i, s in enumerate(samples))
    )
    return folder


def compare_args(study: Path, out: Path | str, *extra: str) -> list[str]:
    return [
        "compare",
        str(study / "counts.tsv"),
        "-s",
        str(study / "samples.tsv"),
        "-o",
        str(out),
        "--no-report",
        "--quiet",
        "--permutations",
        "9",
        *extra,
    ]


def one_line_error(proc: subprocess.CompletedProcess, *must: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mscseq: error: "), lines[0]
    for text in must:
        assert text in lines[0], (text, lines[0])
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return write_study(tmp_path_factory.mktemp("study") / "in")


@pytest.fixture(scope="module")
def genuine(tmp_path_factory, study) -> Path:
    """A real output folder of 'mscseq compare' (copy it before changing it)."""
    out = tmp_path_factory.mktemp("genuine") / "out"
    proc = mscseq(*compare_args(study, out))
    assert proc.returncode == 0, proc.stderr
    return out


# --- item 1: --force replaces only an mscseq output folder -------------------------------------------


def test_force_refuses_the_folder_holding_the_inputs(tmp_path, study):
    before = snapshot(study)
    proc = mscseq(*compare_args(study, study, "--force"), cwd=tmp_path)
    one_line_error(proc, str(study), "holds the input")
    assert snapshot(study) == before


@pytest.mark.parametrize("outdir", [".", ".."])
def test_force_refuses_the_current_folder_and_its_parents(tmp_path, outdir):
    here = write_study(tmp_path / "work" / "in")
    (here / "notes.txt").write_text("mine")
    before = snapshot(tmp_path)
    proc = mscseq(*compare_args(here, outdir, "--force"), cwd=here)
    one_line_error(proc, "current folder")
    assert snapshot(tmp_path) == before


def test_force_refuses_root(tmp_path, study):
    proc = mscseq(*compare_args(study, "/", "--force"), cwd=tmp_path)
    one_line_error(proc, "root folder")


def test_force_refuses_a_folder_of_the_user(tmp_path, study):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_bytes(b"years of work")
    proc = mscseq(*compare_args(study, mine, "--force"), cwd=tmp_path)
    one_line_error(proc, str(mine), "not an mscseq output folder")
    assert (mine / "thesis.docx").read_bytes() == b"years of work"


def test_force_refuses_an_output_folder_with_a_foreign_file(tmp_path, study, genuine):
    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    (out / "thesis.docx").write_bytes(b"years of work")
    before = snapshot(out)
    proc = mscseq(*compare_args(study, out, "--force"), cwd=tmp_path)
    one_line_error(proc, "'thesis.docx'", "mscseq did not write")
    assert snapshot(out) == before


def test_force_refuses_an_output_folder_holding_an_input(tmp_path, study, genuine):
    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    shutil.copy(study / "counts.tsv", out / "tables" / "counts.tsv")  # looks like a table of ours
    proc = mscseq(
        "compare",
        str(out / "tables" / "counts.tsv"),
        "-s",
        str(study / "samples.tsv"),
        "-o",
        str(out),
        "--force",
        "--quiet",
        cwd=tmp_path,
    )
    one_line_error(proc, "holds the input")
    assert (out / "tables" / "counts.tsv").exists()


def test_force_refuses_a_folder_holding_a_path_column_file(tmp_path, genuine):
    study = write_study(tmp_path / "in")
    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    # per-sample HTSeq files named by the sheet's 'path' column, one of them inside the output folder
    rng = np.random.default_rng(1)
    lines = []
    for i, s in enumerate(SAMPLES):
        where = out / "tables" / f"{s}.tsv" if i == 0 else study / f"{s}.tsv"
        where.write_text("".join(f"G{g}\t{rng.poisson(40)}\n" for g in range(100)))
        lines.append(f"{s}\t{'AB'[i % 2]}\t{where}\n")
    sheet = study / "paths.tsv"
    sheet.write_text("sample\tgroup\tpath\n" + "".join(lines))
    proc = mscseq("compare", "-s", str(sheet), "-o", str(out), "--force", "-q", cwd=tmp_path)
    one_line_error(proc, "holds the input", "s1.tsv")
    assert (out / "tables" / "s1.tsv").exists()


def test_force_replaces_a_genuine_output_folder(tmp_path, study, genuine):
    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    (out / "report.html").write_text("an old report")
    proc = mscseq(*compare_args(study, out, "--force"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "report.html").exists()  # replaced by the new (--no-report) run
    assert json.loads((out / "run_info.json").read_text())["schema"].startswith("mscseq.run_info/")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- item 4: names that a spreadsheet would run as formulas are neutralised in every table ----------

HOSTILE_SAMPLES = ["=cmd|' /C calc'!A0", "@SUM(1)", "+SUM(1+1)", "-2+3", "s5", "s6"]
HOSTILE_GENES = ['=HYPERLINK("http://x")', "-G1", "@G2"]


def formula_cells(text: str) -> list[str]:
    """Cells (outside '#' comment lines) a spreadsheet would read as a formula."""
    bad = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        for cell in line.split("\t"):
            if cell and cell[0] in "=+-@":
                try:
                    float(cell)
                except ValueError:
                    bad.append(cell)
    return bad


def test_formula_names_are_neutralised_in_tables_multiqc_and_collect(tmp_path):
    study = write_study(
        tmp_path / "in",
        samples=HOSTILE_SAMPLES,
        genes=[*HOSTILE_GENES, *(f"G{g}" for g in range(100))],
    )
    sheet = study / "samples.tsv"
    sheet.write_text(
        "sample\tgroup\n"
        + "".join(f"{s}\t{'=A' if i < 3 else 'B'}\n" for i, s in enumerate(HOSTILE_SAMPLES))
    )
    out = tmp_path / "-run"
    proc = mscseq(
        *compare_args(study, out, "--design", "~ group", "-c", "group,B,=A", "--group", "group"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    tsvs = sorted(out.rglob("*.tsv"))
    assert {p.parent.name for p in tsvs} == {"tables", "multiqc"}
    negative_numbers = 0
    for p in tsvs:
        text = p.read_text()
        assert formula_cells(text) == [], p.name
        negative_numbers += sum(
            c.startswith("-") for ln in text.splitlines() for c in ln.split("\t")
        )
    assert negative_numbers > 0, "numbers such as -1.5 must stay numbers"
    products = (out / "tables" / "products.tsv").read_text()
    assert "'=cmd|' /C calc'!A0\t'=A\t" in products
    assert "'@SUM(1)" in (out / "multiqc" / "mscseq_qc_mqc.tsv").read_text()
    assert "'=HYPERLINK(" in (out / "tables" / "normalized_counts.tsv").read_text()
    collected = mscseq("collect", str(out), "--out", "-", cwd=tmp_path)
    assert collected.returncode == 0, collected.stderr
    assert formula_cells(collected.stdout) == []
    assert "'-run\t" in collected.stdout


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(1)", "'+SUM(1)"),
        ("-x", "'-x"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-1.5", "-1.5"),
        ("-inf", "-inf"),
        ("+3e-5", "+3e-5"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_spreadsheet_safe(cell, written):
    from mscseq.outputs import spreadsheet_safe

    assert spreadsheet_safe(cell) == written


# --- item 3: collect --out never overwrites without --force, never a run's own files ----------------


def test_collect_refuses_an_existing_file_without_force(tmp_path, genuine):
    table = tmp_path / "summary.tsv"
    table.write_text("my notes\n")
    proc = mscseq("collect", str(genuine), "--out", str(table), cwd=tmp_path)
    one_line_error(proc, str(table), "--force")
    assert table.read_text() == "my notes\n"
    proc = mscseq("collect", str(genuine), "--out", str(table), "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert table.read_text().startswith("dataset\tschema\tverdict\t")
    assert [p.name for p in tmp_path.iterdir()] == ["summary.tsv"]  # no temporary file left


@pytest.mark.parametrize("target", ["summary.json", "run_info.json", "tables/new.tsv", "."])
def test_collect_never_writes_into_a_run_folder(tmp_path, genuine, target):
    run = tmp_path / "run"
    shutil.copytree(genuine, run)
    before = snapshot(run)
    proc = mscseq("collect", str(run), "--out", str(run / target), "--force", cwd=tmp_path)
    one_line_error(proc, "--out")
    assert snapshot(run) == before


@pytest.mark.parametrize("target", ["counts.tsv", "samples.tsv"])
def test_de_out_never_overwrites_an_input(tmp_path, target):
    study = write_study(tmp_path / "in")
    before = snapshot(study)
    args = ["de", str(study / "counts.tsv"), "-s", str(study / "samples.tsv"), "-d", "~ group"]
    proc = mscseq(*args, "-c", "group,B,A", "--out", str(study / target), "--force", "--quiet")
    one_line_error(proc, "input", "--out")
    assert snapshot(study) == before


# --- item 11: malformed summaries are bad input (exit 2), not internal errors --------------------------

MALFORMED = {
    "non_utf8": b'{"schema": "mscseq.summary/1", "x": "\xff\xfe"}',
    "nested": b"[" * 100_000 + b"]" * 100_000,
    "dimensions": b'{"schema": "mscseq.summary/1", "dimensions": [1, 2]}',
    "comparability": b'{"schema": "mscseq.summary/1", "comparability": "comparable"}',
    "products": b'{"schema": "mscseq.summary/1", "comparability": {"products": [1]}}',
    "de": b'{"schema": "mscseq.summary/1", "de": {"name": "x"}}',
    "n_up": b'{"schema": "mscseq.summary/1", "de": [{"name": "x", "n_up": "many"}]}',
    "n_samples": b'{"schema": "mscseq.summary/1", "dimensions": {"n_samples": "six"}}',
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_collect_on_malformed_summary_exits_2(tmp_path, kind):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_bytes(MALFORMED[kind])
    proc = mscseq("collect", str(run), cwd=tmp_path)
    one_line_error(proc, str(run / "summary.json"))


# --- item 11: 'mscseq report' on a damaged folder is bad input (exit 2) --------------------------------


def _drop_obs_columns(folder: Path) -> None:
    import anndata as ad

    adata = ad.read_h5ad(folder / "mscseq.h5ad")
    adata.obs = adata.obs.iloc[:, :0]
    adata.write_h5ad(folder / "mscseq.h5ad")


def _edit_json(name: str, change: dict) -> object:
    def edit(folder: Path) -> None:
        data = json.loads((folder / name).read_text())
        data.update(change)
        (folder / name).write_text(json.dumps(data))

    return edit


DAMAGES = {
    "summary_non_utf8": lambda f: (f / "summary.json").write_bytes(b'{"schema": "\xff"}'),
    "summary_nested": lambda f: (f / "summary.json").write_bytes(b"[" * 100_000 + b"]" * 100_000),
    "summary_mistyped": _edit_json("summary.json", {"qc": "none", "dimensions": [1]}),
    "run_info_mistyped": _edit_json("run_info.json", {"parameters": [1, 2], "versions": "x"}),
    "h5ad_without_obs_columns": _drop_obs_columns,
    "h5ad_not_hdf5": lambda f: (f / "mscseq.h5ad").write_bytes(b"not hdf5"),
}


def test_report_rerenders_a_genuine_folder(tmp_path, genuine):
    run = tmp_path / "run"
    shutil.copytree(genuine, run)
    proc = mscseq("report", str(run), "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (run / "report.html").stat().st_size > 10_000


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_report_on_a_damaged_folder_exits_2(tmp_path, genuine, damage):
    run = tmp_path / "run"
    shutil.copytree(genuine, run)
    DAMAGES[damage](run)
    proc = mscseq("report", str(run), "--quiet", cwd=tmp_path)
    one_line_error(proc, str(run))
    assert not (run / "report.html").exists()


# --- item 13: the interruption window of the swap --------------------------------------------------


def _invoke_compare(study: Path, out: Path, *extra: str):
    from typer.testing import CliRunner

    from mscseq.cli import app

    return CliRunner().invoke(app, compare_args(study, out, "--force", *extra))


def _patch_rename(monkeypatch, action) -> None:
    """Call ``action(src, dst, real_rename)`` for every rename the swap makes."""
    real = Path.rename

    def rename(self, target):
        if ".mscseq-" in self.name or ".mscseq-" in Path(target).name:
            return action(self, Path(target), real)
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)


def test_interruption_between_the_renames_restores_the_old_folder(
    tmp_path, study, genuine, monkeypatch
):
    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    before = snapshot(out)

    def action(src, dst, real):
        if ".mscseq-tmp-" in src.name:  # the second rename: new folder into place
            raise KeyboardInterrupt
        return real(src, dst)

    _patch_rename(monkeypatch, action)
    res = _invoke_compare(study, out)
    assert res.exit_code == 130, res.output
    assert "interrupted; no output was written" in res.output
    assert snapshot(out) == before, "the previous results must be back on their path"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_interruption_once_the_new_folder_is_in_place_is_not_a_failure(
    tmp_path, study, genuine, monkeypatch
):
    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    (out / "report.html").write_text("old")

    def action(src, dst, real):
        real(src, dst)
        if ".mscseq-tmp-" in src.name:
            raise KeyboardInterrupt

    _patch_rename(monkeypatch, action)
    res = _invoke_compare(study, out)
    assert res.exit_code == 0, res.output
    assert "complete and in place" in res.output
    assert not (out / "report.html").exists() and (out / "run_info.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_real_signal_between_the_renames_is_deferred(tmp_path, study, genuine, monkeypatch):
    import os
    import signal

    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    (out / "report.html").write_text("old")

    def action(src, dst, real):
        real(src, dst)
        if ".mscseq-old-" in dst.name:  # the first rename: old folder aside; now a Ctrl-C arrives
            os.kill(os.getpid(), signal.SIGINT)

    _patch_rename(monkeypatch, action)
    res = _invoke_compare(study, out)
    assert res.exit_code == 0, res.output
    assert "complete and in place" in res.output
    assert not (out / "report.html").exists() and (out / "run_info.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_interruption_after_the_swap_keeps_the_output_and_succeeds(tmp_path, study, monkeypatch):
    import logging

    from mscseq import pipeline

    real = pipeline.log

    class StopAfterWriting(logging.LoggerAdapter):
        def info(self, msg, *args, **kwargs):
            if str(msg).startswith("wrote"):
                raise KeyboardInterrupt
            real.info(msg, *args, **kwargs)

    monkeypatch.setattr(pipeline, "log", StopAfterWriting(real, {}))
    out = tmp_path / "out"
    res = _invoke_compare(study, out)
    assert res.exit_code == 0, res.output
    assert "was complete and in place; it is kept" in res.output
    assert (out / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- item 14: two runs writing one folder --------------------------------------------------------------


def test_a_run_finding_the_folder_locked_exits_2(tmp_path, study, genuine):
    import fcntl

    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    before = snapshot(out)
    lock = tmp_path / ".out.mscseq-tmp-lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = mscseq(*compare_args(study, out, "--force"), cwd=tmp_path)
    one_line_error(proc, "another mscseq run is writing", str(out))
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mscseq-tmp-lock", "out"]


def test_concurrent_force_runs_on_one_folder(tmp_path, study, genuine):
    out = tmp_path / "out"
    shutil.copytree(genuine, out)
    cmd = [sys.executable, "-m", "mscseq", *compare_args(study, out, "--force")]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    for code, err in results:
        assert code in (0, 2), err
        assert "Traceback" not in err
        if code == 2:
            assert "another mscseq run is writing" in err
    assert 0 in [code for code, _ in results]
    assert (out / "run_info.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- item 5: control characters never reach the terminal raw --------------------------------------------

ESC = "\x1b]0;pwned\x07\x1b[2J\x9b"


def no_raw_controls(text: str) -> None:
    raw = [c for c in text if (ord(c) < 0x20 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0]
    assert raw == [], repr(text)


def test_error_messages_escape_control_characters(tmp_path, study):
    proc = mscseq(
        "compare", str(tmp_path / f"counts{ESC}.tsv"), "-s", str(study / "samples.tsv"), "-o", "x"
    )
    line = one_line_error(proc)
    no_raw_controls(proc.stderr)
    assert "\\x1b]0;pwned\\x07" in line


def test_inspect_escapes_control_characters(tmp_path):
    study = write_study(tmp_path / "in", samples=[f"s{i}{ESC}" for i in range(6)])
    proc = mscseq("inspect", str(study / "counts.tsv"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    no_raw_controls(proc.stdout + proc.stderr)
    assert "\\x1b[2J" in proc.stdout
    as_json = mscseq("inspect", "--json", str(study / "counts.tsv"), cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    no_raw_controls(as_json.stdout)
    assert json.loads(as_json.stdout)[0]["samples"][0] == f"s0{ESC}"


def test_log_lines_escape_control_characters(tmp_path, study):
    out = tmp_path / f"out{ESC}"
    args = [a for a in compare_args(study, out) if a != "--quiet"]
    proc = mscseq(*args, "--log-file", str(tmp_path / "run.log"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "mscseq: wrote" in proc.stderr and "\\x1b[2J" in proc.stderr
    no_raw_controls(proc.stderr)
    no_raw_controls((tmp_path / "run.log").read_text())


def test_printable():
    from mscseq.errors import printable

    assert printable("a\x1b[31mb\x00\x7f\x85\u00e9\n\t") == "a\\x1b[31mb\\x00\\x7f\\x85\u00e9\n\t"
    assert printable("a\nb\tc", keep_layout=False) == "a\\x0ab\\x09c"


# --- item 16 and 11: usage errors, option bounds and --log-file ------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        ["--seed", "-1"],
        ["--seed", str(2**64)],
        ["--permutations", str(2**64)],
        ["--permutations", "-5"],
        ["--bogus"],
        ["--alpha", "2"],
        ["--log-file", "."],
    ],
)
def test_usage_errors_are_one_line_before_any_work(tmp_path, study, extra):
    out = tmp_path / "out"
    proc = mscseq(*compare_args(study, out), *extra, cwd=tmp_path)
    one_line_error(proc, "--help")
    assert proc.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_missing_option_and_unknown_command_are_one_line(tmp_path):
    one_line_error(mscseq("compare", "x.tsv", "-o", "out", cwd=tmp_path), "--samples")
    one_line_error(mscseq("frobnicate", cwd=tmp_path), "frobnicate")


def test_help_and_version_still_work(tmp_path):
    version = mscseq("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("mscseq ")
    helped = mscseq("compare", "--help", cwd=tmp_path)
    assert helped.returncode == 0 and "--outdir" in helped.stdout and helped.stderr == ""
    bare = mscseq(cwd=tmp_path)
    assert bare.returncode == 2 and "compare" in bare.stderr + bare.stdout


def test_log_file_dev_full_is_refused_before_work(tmp_path, study):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    out = tmp_path / "out"
    proc = mscseq(*compare_args(study, out, "--log-file", "/dev/full"), cwd=tmp_path)
    one_line_error(proc, "/dev/full", "cannot write")
    assert not out.exists()


def test_log_file_failing_later_warns_once(tmp_path, capsys):
    import logging

    from mscseq import logs

    logs.setup_logging(quiet=True, log_file=tmp_path / "run.log")
    handler = logging.getLogger("mscseq").handlers[-1]

    class Full:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

    handler.stream.close()
    handler.stream = Full()
    log = logging.getLogger("mscseq.test")
    for _ in range(3):
        log.info("a step")
    err = capsys.readouterr().err
    assert err.count("mscseq: warning: --log-file") == 1, err
    assert "No space left on device" in err and "Traceback" not in err
    logs.setup_logging(quiet=True)


def test_runtime_warnings_do_not_leak_under_quiet(tmp_path, study):
    out = tmp_path / "out"
    log_path = tmp_path / "run.log"
    code = (
        "import sys, warnings, numpy as np, mscseq.qc as q\n"
        "real = q.compute_qc\n"
        "def noisy(adata):\n"
        "    np.log(np.zeros(1))\n"
        "    warnings.warn('a library warning', UserWarning)\n"
        "    return real(adata)\n"
        "q.compute_qc = noisy\n"
        "from mscseq.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    args = compare_args(study, out, "--log-file", str(log_path))
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    text = log_path.read_text()
    assert "RuntimeWarning: divide by zero" in text and "UserWarning: a library warning" in text


# --- item 11: unwritable places and write errors -----------------------------------------------------


def test_unwritable_outdir_parent_is_refused_before_work(tmp_path, study):
    import os

    if os.geteuid() == 0:  # root writes anywhere chmod forbids: use a folder nobody can create in
        target = Path("/proc/mscseq-test/out")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "out"
    proc = mscseq(*compare_args(study, target), cwd=tmp_path)
    one_line_error(proc, "--outdir", "cannot write in")
    assert not target.exists()


def test_write_error_while_writing_exits_2_and_leaves_nothing(tmp_path, study, monkeypatch):
    import errno

    from typer.testing import CliRunner

    from mscseq import outputs
    from mscseq.cli import app

    def full(adata, path):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(outputs, "write_h5ad", full)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, compare_args(study, out))
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mscseq: error: "), res.output
    assert "No space left on device" in lines[0] and str(out) in lines[0]
    assert list(tmp_path.iterdir()) == []


# --- properties: any name is written formula-free and printed control-free ---------------------------

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True))
def test_any_names_are_written_formula_free(names):
    import pandas as pd

    from mscseq.outputs import tsv_text

    names = [n for n in names if "\n" not in n and "\t" not in n]  # TSV cannot hold these
    hypothesis.assume(names)
    df = pd.DataFrame(
        {"name": names, "value": [-1.5] * len(names)}, index=pd.Index(names, name="gene_id")
    )
    df.columns = pd.Index(["name", names[0]])
    text = tsv_text(df, index_label="gene_id")
    cells = [c for line in text.split("\n")[:-1] for c in line.split("\t")]
    for c in cells:
        if c and c[0] in "=+-@":
            float(c)  # only numbers may start a cell with a formula character
    assert "-1.5" in cells
    body = [line.split("\t")[0] for line in text.split("\n")[1:-1]]
    assert [b[1:] if b.startswith("'") and b[1:] in names else b for b in body] == names


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.text())
def test_printable_leaves_no_control_characters(text):
    from mscseq.errors import printable

    shown = printable(text, keep_layout=False)
    no_raw_controls(shown.replace("\n", "").replace("\t", ""))
    assert "\n" not in shown and "\t" not in shown
    assert printable(text).count("\n") == text.count("\n")
