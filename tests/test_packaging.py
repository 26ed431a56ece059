"""Built artifacts: the sdist and the wheel hold every package file, and mscseq installed from them works.

The suite's own environment installs mscseq in editable mode, which reads templates and other data files
straight from ``src/``; it cannot see a file missing from the wheel. These tests build the sdist and the
wheel (``python -m build``: the sdist first, then the wheel from the sdist), compare their file lists with
the source tree, install the wheel (not editable, with its dependencies from the package index) into a
fresh virtual environment outside the checkout and run the command-line tool from there, with the working
directory outside the checkout too. Last, the same environment reinstalls mscseq from the sdist.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "mscseq"
EXAMPLE = REPO / "test_data" / "example"
CACHE_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
CACHE_SUFFIXES = (".pyc", ".pyo")


def _skip_or_fail(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where the test extra must provide everything."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: install the test extra, pip install -e '.[test]')")
    pytest.skip(reason)


def source_files() -> set[str]:
    """Every file under ``src/mscseq`` except caches, as ``mscseq/...`` paths."""
    found = set()
    for path in PACKAGE.rglob("*"):
        rel = path.relative_to(PACKAGE.parent)
        if (
            path.is_file()
            and not CACHE_PARTS & set(rel.parts)
            and path.suffix not in CACHE_SUFFIXES
        ):
            found.add(rel.as_posix())
    return found


def run(
    cmd: Sequence[str | Path], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; fail the test with its output tail when it exits non-zero."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}\n"
            f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}"
        )
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel, built from a copy of the checkout (the checkout itself stays untouched)."""
    try:
        import build  # noqa: F401
    except ImportError:
        _skip_or_fail("the 'build' package is not installed")
    tree = tmp_path_factory.mktemp("tree")
    for item in REPO.iterdir():
        if item.is_file():
            shutil.copy2(item, tree / item.name)
    shutil.copytree(
        REPO / "src", tree / "src", ignore=shutil.ignore_patterns(*CACHE_PARTS, "*.egg-info")
    )
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, tree], cwd=out)
    (sdist,) = out.glob("mscseq-*.tar.gz")
    (wheel,) = out.glob("mscseq-*.whl")
    return {"sdist": sdist, "wheel": wheel}


def test_wheel_holds_every_package_file(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = {n for n in whl.namelist() if n.startswith("mscseq/")}
    expected = source_files()
    assert "mscseq/report/templates/sections/overview.html.j2" in expected
    assert sorted(expected - names) == [], "package files missing from the wheel"
    assert sorted(names - expected) == [], "files in the wheel that are not in src/mscseq"


def test_sdist_holds_every_package_file(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as tar:
        root = tar.getnames()[0].split("/")[0]
        prefix = f"{root}/src/"
        names = {
            m.name.removeprefix(prefix)
            for m in tar.getmembers()
            if m.isfile() and m.name.startswith(prefix + "mscseq/")
        }
    assert sorted(source_files() - names) == [], "package files missing from the sdist"
    assert not [n for n in names if n.endswith(CACHE_SUFFIXES)]


class Venv:
    """A virtual environment outside the checkout and the commands run in it."""

    def __init__(self, root: Path, work: Path) -> None:
        self.root = root
        self.work = work
        self.bin = root / ("Scripts" if os.name == "nt" else "bin")
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
        }
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(root)
        env["PYTHONNOUSERSITE"] = "1"
        self.env = env

    def __call__(self, *args: str | Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run a program of the environment (``mscseq``, ``python``, ``pip``) in the work folder."""
        return run(
            [self.bin / str(args[0]), *args[1:]], cwd=self.work, env=self.env, timeout=timeout
        )

    def mscseq_location(self) -> Path:
        """Where the environment's Python imports mscseq from."""
        code = "import mscseq; print(mscseq.__file__)"
        return Path(self("python", "-c", code).stdout.strip()).resolve()

    def site_packages(self) -> Path:
        """The environment's site-packages folder."""
        code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        return Path(self("python", "-c", code).stdout.strip()).resolve()


@pytest.fixture(scope="module")
def venv(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with mscseq installed from the wheel (not editable) and its dependencies.

    About 1 GB; it stays in pytest's temporary folder, which pytest prunes itself (deleting it here would
    only move that time into every run).
    """
    root = tmp_path_factory.mktemp("venv")
    work = tmp_path_factory.mktemp("work")
    for place in (root, work):
        assert REPO not in place.resolve().parents, f"{place} must lie outside the checkout"
    run([sys.executable, "-m", "venv", root], cwd=work)
    env = Venv(root, work)
    env("python", "-m", "pip", "install", "--quiet", dist["wheel"], timeout=1800)
    assert env.site_packages() in env.mscseq_location().parents
    return env


def test_compare_from_the_wheel_writes_the_report(venv: Venv) -> None:
    venv(
        "mscseq", "compare", EXAMPLE / "counts.tsv.gz", "--samples", EXAMPLE / "samples.tsv",
        "--design", "~ cohort", "--contrast", "cohort,B,A", "--group", "cohort",
        "--reference", "A", "--outdir", "results/example", "--force",
    )  # fmt: skip
    out = venv.work / "results" / "example"
    report = out / "report.html"
    text = report.read_text(encoding="utf-8")
    assert len(text) > 100_000
    assert "Differential expression" in text and "Methods" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["comparability"]["verdict"]

    report.unlink()
    venv("mscseq", "report", out)
    assert report.stat().st_size > 100_000


def test_inspect_schema_and_de_from_the_wheel(venv: Venv) -> None:
    (info,) = json.loads(venv("mscseq", "inspect", "--json", EXAMPLE / "counts.tsv.gz").stdout)
    assert info["n_samples"] == 15 and info["n_features"] == 3000

    schema = json.loads(venv("mscseq", "schema").stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")

    venv(
        "mscseq", "de", EXAMPLE / "counts.tsv.gz", "--samples", EXAMPLE / "samples.tsv",
        "--design", "~ cohort", "--contrast", "cohort,B,A", "--out", "de.tsv",
    )  # fmt: skip
    lines = (venv.work / "de.tsv").read_text().splitlines()
    assert lines[0].split("\t")[0] == "gene_id" and len(lines) == 3001


def test_install_from_the_sdist(venv: Venv, dist: dict[str, Path]) -> None:
    """Runs last: replaces the wheel's mscseq by one built from the sdist in the same environment."""
    venv(
        "python", "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
        dist["sdist"], timeout=1800,
    )  # fmt: skip
    location = venv.mscseq_location()
    assert venv.site_packages() in location.parents
    direct_url = next(location.parents[1].glob("mscseq-*.dist-info")) / "direct_url.json"
    assert dist["sdist"].name in json.loads(direct_url.read_text())["url"]
    venv(
        "mscseq", "compare", EXAMPLE / "counts.tsv.gz", "--samples", EXAMPLE / "samples.tsv",
        "--group", "cohort", "--outdir", "from-sdist",
    )  # fmt: skip
    assert (venv.work / "from-sdist" / "report.html").stat().st_size > 100_000
