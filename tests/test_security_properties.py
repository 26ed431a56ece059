"""Hostile formulas and names through the real CLI (Hypothesis): nothing a user writes is executed,
nothing outside ``--outdir`` changes, the exit code is 0 or 2 and no traceback is printed.

A canary: the hostile formulas would create a file named ``CANARY`` (in the working directory, the
inputs' folder or an absolute path inside the temporary tree) if any part of them were evaluated.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from mscseq.de.formula import parse_formula
from mscseq.errors import MscseqError

# Python that would leave a canary if evaluated (formulaic evaluates terms as Python)
PAYLOADS = [
    "I(open('CANARY', 'w'))",
    "I(__import__('pathlib').Path('CANARY').touch())",
    "group.__class__.__init__.__globals__['__builtins__']['open']('CANARY', 'w')",
    "I(np.savetxt('CANARY', [1]))",
    "__import__('os').system('touch CANARY')",
    "(lambda: open('CANARY', 'w'))()",
    "exec(\"open('CANARY','w')\")",
    'eval(\'open("CANARY", "w")\')',
    "C(group, open('CANARY', 'w'))",
    "[open('CANARY', 'w') for _ in 'x']",
    "{open('CANARY', 'w')}",
    "`group`(open('CANARY', 'w'))",
    "getattr(group, '__class__')",
    "open('CANARY','w').close() or group",
    "group; open('CANARY', 'w')",
    "group\nopen('CANARY', 'w')",
    'f\'{open("CANARY", "w")}\'',
]
GRAMMAR = [
    "group",
    "batch",
    "`group`",
    "C(group)",
    "C(batch)",
    "+",
    "-",
    "*",
    ":",
    "1",
    "0",
    "(",
    ")",
]
FRAGMENTS = [
    "I(",
    "np.",
    ".",
    "__",
    "'",
    '"',
    "[",
    "]",
    "**",
    "|",
    "/",
    ";",
    "\n",
    "\r",
    "\x00",
    "\x1b",
    "`",
    ",",
    "=",
    "lambda",
    "import",
    "%in%",
    "2",
    "1.0",
    "é",
    "\\",
]

HOSTILE_NAMES = [
    "=cmd|' /C calc'!A0",
    "@SUM(1)",
    "+SUM(1+1)",
    "-2+3",
    '=HYPERLINK("http://x")',
    "\x1b[31mred\x1b[0m",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "&amp;",
    "../../outside/x",
    "/etc/passwd",
    "a/b",
    "a\\b",
    "é漢字🧬",
    'it\'s "quoted"',
    "`tick`",
    "{{ 7*7 }}",
    "${HOME}",
    "$(touch CANARY)",
    "NUL",
    " spaced ",
    "\u202eevil",
    "x" * 300,
]


# each example is a subprocess: no shrinking (a failure is reported as generated)
CLI_PHASES = [Phase.explicit, Phase.reuse, Phase.generate]


def _formula_strategy() -> st.SearchStrategy[str]:
    token = st.one_of(
        st.sampled_from(GRAMMAR),
        st.sampled_from(FRAGMENTS),
        st.sampled_from(PAYLOADS),
    )
    body = st.lists(token, min_size=1, max_size=6).map(" ".join)
    return st.one_of(
        st.sampled_from(PAYLOADS).map(lambda p: f"~ {p}"),
        st.tuples(st.sampled_from(["~ group + ", "~ ", "~ group:", "~ (", ""]), body).map("".join),
    )


def _name_strategy() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_NAMES),
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
            min_size=1,
            max_size=12,
        ),
    )


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if p == skip or skip in p.parents:
            continue
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[str(p.relative_to(root))] = "dir" if p.is_dir() else "other"
    return out


def _write_study(root: Path, samples: list[str], genes: list[str], levels: tuple[str, str]) -> Path:
    d = root / "in"
    d.mkdir()
    rng = np.random.default_rng(11)
    rows = ["gene_id\t" + "\t".join(samples)]
    rows += [f"{g}\t" + "\t".join(map(str, rng.poisson(80, len(samples)))) for g in genes]
    (d / "counts.tsv").write_bytes(("\n".join(rows) + "\n").encode("utf-8", "surrogatepass"))
    half = len(samples) // 2
    lines = ["sample\tgroup\tbatch"]
    for i, s in enumerate(samples):
        lines.append(f"{s}\t{levels[0] if i < half else levels[1]}\t{'xy'[i % 2]}")
    (d / "samples.tsv").write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    outside = root / "outside"
    outside.mkdir()
    (outside / "thesis.txt").write_text("do not touch\n")
    return d


def _run(root: Path, d: Path, *args: str) -> subprocess.CompletedProcess:
    assume(not any("\x00" in a for a in args))  # no shell can pass a NUL byte in an argument
    cmd = [
        sys.executable,
        "-m",
        "mscseq",
        "compare",
        str(d / "counts.tsv"),
        "-s",
        str(d / "samples.tsv"),
    ]
    cmd += ["-o", str(root / "out"), "--no-report", "--quiet", "--permutations", "9", *args]
    return subprocess.run(cmd, cwd=d, capture_output=True, text=True, check=False, timeout=300)


def _check(root: Path, proc: subprocess.CompletedProcess, before: dict[str, str]) -> None:
    assert proc.returncode in (0, 2), (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    # the hostile text would create a file named exactly CANARY; a sanitised level name inside an output
    # file name (de_group__touch_CANARY__vs_....tsv) is not an execution
    assert not list(root.rglob("CANARY")), "a formula or name was executed"
    assert _snapshot(root, root / "out") == before, "a file outside --outdir changed"
    if proc.returncode == 2:  # one error line (warnings before it are allowed)
        errors = [ln for ln in proc.stderr.split("\n") if ln.startswith("mscseq: error: ")]
        assert len(errors) == 1, proc.stderr
        assert proc.stderr.rstrip("\n").split("\n")[-1] == errors[0], proc.stderr


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=CLI_PHASES
)
@given(formula=_formula_strategy(), reduced=st.booleans())
def test_hostile_formulas_never_execute(formula, reduced):
    samples = [f"S{i}" for i in range(8)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        d = _write_study(root, samples, [f"G{g}" for g in range(60)], ("A", "B"))
        before = _snapshot(root, root / "out")
        args = ["--design", "~ group", "-c", "group,B,A", "--test", "lrt", "--reduced", formula]
        proc = _run(root, d, *(args if reduced else ["--design", formula, "-c", "group,B,A"]))
        _check(root, proc, before)


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=CLI_PHASES
)
@given(
    samples=st.lists(_name_strategy(), min_size=6, max_size=6, unique=True),
    genes=st.lists(_name_strategy(), min_size=3, max_size=3, unique=True),
    levels=st.lists(_name_strategy(), min_size=2, max_size=2, unique=True),
)
def test_hostile_names_never_execute_or_escape(samples, genes, levels):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        genes = genes + [f"G{g}" for g in range(50)]
        d = _write_study(root, samples, genes, (levels[0], levels[1]))
        before = _snapshot(root, root / "out")
        contrast = f"group,{levels[1]},{levels[0]}"
        proc = _run(root, d, "--design", "~ group", "-c", contrast, "--group", "group")
        _check(root, proc, before)


@settings(max_examples=3000, deadline=None)
@given(formula=_formula_strategy())
def test_parser_refuses_every_python_fragment(formula):
    """In process, many more hostile formulas: accepted ones hold only grammar tokens."""
    try:
        parsed = parse_formula(formula)
    except MscseqError as err:
        assert "\n" not in str(err) and "\x1b" not in str(err) and "\x00" not in str(err)
        return
    # a payload may survive only as a backtick-quoted name, which must then be a sheet column
    assert not any(p in re.sub(r"`[^`]*`", "N", formula) for p in PAYLOADS)
    # outside backticks (names checked against the sheet's columns) only grammar characters remain
    outside = re.sub(r"`[^`]*`", "N", parsed.to_formulaic())
    assert re.fullmatch(r"[~A-Za-z0-9_ +\-*:()]*", outside), outside
    assert all(name in outside or f"`{name}`" in parsed.to_formulaic() for name in parsed.variables)


def test_a_column_named_like_code_is_only_a_name(tmp_path, monkeypatch):
    """Even a sheet column whose name is a payload is looked up, not run."""
    import pandas as pd

    from mscseq.de.design import Contrast, build_design, contrast_vector

    monkeypatch.chdir(tmp_path)
    name = "I(open('CANARY', 'w'))"
    sheet = pd.DataFrame({name: list("aabbaabb"), "b": list("xyxyxyxy")}, index=list("stuvwxyz"))
    for formula in (f"~ `{name}`", f"~ `{name}` + b:`{name}`", f"~ C(`{name}`)"):
        dm = build_design(formula, sheet)
        assert dm.shape[0] == 8
        contrast_vector(dm, sheet, Contrast(name, "b", "a"))
    assert not list(tmp_path.rglob("CANARY"))
    with pytest.raises(MscseqError, match="not in the sheet"):
        build_design("~ `__import__('os')`", sheet)
