"""The workflow's conda environment installs the mscseq checkout that holds it, not a PyPI release.

No conda here: the tests do what conda does with the file's ``pip:`` section (write it to a requirements
file beside a copy of the environment file, as Snakemake's ``.snakemake/conda/`` copy, and run pip on it)
and check that the Snakefile names the checkout in ``MSCSEQ_SOURCE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("snakemake", reason="snakemake is not installed (pip install -e '.[workflow]')")
yaml = pytest.importorskip("yaml")  # comes with snakemake

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
ENV_FILE = WORKFLOWS / "workflow" / "envs" / "mscseq.yaml"
SNAKEFILE = WORKFLOWS / "workflow" / "Snakefile"


def pip_specs() -> list[str]:
    """The ``pip:`` entries of the environment file."""
    deps = yaml.safe_load(ENV_FILE.read_text())["dependencies"]
    (pip,) = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    return pip


def test_the_env_file_installs_the_checkout_editable() -> None:
    assert pip_specs() == ["-e ${MSCSEQ_SOURCE}"]


@pytest.mark.slow
def test_pip_resolves_the_specs_to_this_checkout(tmp_path: Path) -> None:
    copy = (
        tmp_path / ".snakemake" / "conda"
    )  # where Snakemake copies the file before conda reads it
    copy.mkdir(parents=True)
    requirements = copy / "condaenv.requirements.txt"
    requirements.write_text("\n".join(pip_specs()) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"MSCSEQ_SOURCE": str(REPO)}
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet",
         "--report", str(report), "-r", str(requirements)],
        cwd=copy, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (item,) = json.loads(report.read_text())["install"]
    assert item["metadata"]["name"] == "mscseq"
    assert item["download_info"]["dir_info"] == {"editable": True}
    assert Path(item["download_info"]["url"].removeprefix("file://")).resolve() == REPO.resolve()


def test_the_snakefile_names_the_checkout(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from snakemake.cli import main\n"
        f"sys.argv = ['snakemake', '-s', {str(SNAKEFILE)!r}, '--list-rules']\n"
        "try:\n    main()\n"
        "finally:\n    print('MSCSEQ_SOURCE=' + os.environ.get('MSCSEQ_SOURCE', ''))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "MSCSEQ_SOURCE"}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=WORKFLOWS, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    source = proc.stdout.strip().splitlines()[-1].removeprefix("MSCSEQ_SOURCE=")
    assert Path(source).is_absolute(), f"MSCSEQ_SOURCE is not set to a path: {source!r}"
    assert Path(source).resolve() == REPO.resolve()
