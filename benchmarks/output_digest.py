"""Fingerprint the outputs of three studies, to prove a restructuring leaves them byte-identical.

Runs ``mscseq compare`` on the README example, the licensing example and airway (``../shared/data``), and
``mscseq de`` on airway, then hashes every table, the MultiQC files and ``summary.json``. Fields that change
from run to run by nature (timestamps, versions, elapsed time) are left out of the JSON before hashing.

    python benchmarks/output_digest.py record benchmarks/results/output_digest.json
    python benchmarks/output_digest.py check benchmarks/results/output_digest.json

``check`` exits 1 and lists every file whose bytes changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MSCSEQ_SHARED_DATA", REPO.parent / "shared" / "data"))
VOLATILE = {
    "started",
    "finished",
    "elapsed_seconds",
    "versions",
    "mscseq_version",
    "version",
    "created",
}

STUDIES: dict[str, list[str]] = {
    "example": [
        "compare",
        str(REPO / "test_data/example/counts.tsv.gz"),
        "--samples",
        str(REPO / "test_data/example/samples.tsv"),
        "--design",
        "~ cohort",
        "--contrast",
        "cohort,B,A",
        "--group",
        "cohort",
        "--reference",
        "A",
    ],
    "licensing": [
        "compare",
        str(REPO / "test_data/licensing/counts.tsv.gz"),
        "--samples",
        str(REPO / "test_data/licensing/samples.tsv"),
        "--design",
        "~ donor + condition",
        "--contrast",
        "condition,IFNg,control",
        "--group",
        "condition",
        "--reference",
        "control",
    ],
    "airway": [
        "compare",
        str(SHARED / "airway_himes2014_GSE52778/airway_cts.tsv.gz"),
        "--samples",
        str(SHARED / "airway_himes2014_GSE52778/airway_metadata.tsv"),
        "--sample-column",
        "ID",
        "--design",
        "~ cell + dex",
        "--contrast",
        "dex,trt,untrt",
        "--group",
        "dex",
        "--reference",
        "untrt",
    ],
}


def _strip(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_folder(out: Path) -> dict[str, str]:
    """Hash of every table, MultiQC file and the stable part of ``summary.json`` in ``out``."""
    files: dict[str, str] = {}
    for p in sorted(out.rglob("*")):
        rel = p.relative_to(out).as_posix()
        if p.is_file() and (rel.startswith(("tables/", "multiqc/")) or rel == "summary.json"):
            data = p.read_bytes()
            if p.suffix == ".json":
                data = json.dumps(_strip(json.loads(data)), sort_keys=True).encode()
            files[rel] = _sha(data)
    return files


def run_all() -> dict[str, dict[str, str]]:
    """Run every study whose inputs exist and return its digests."""
    result: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in STUDIES.items():
            if not Path(args[1]).exists():
                print(f"skip {name}: {args[1]} not found", file=sys.stderr)
                continue
            out = Path(tmp) / name
            cmd = [sys.executable, "-m", "mscseq", *args, "--outdir", str(out), "--quiet"]
            subprocess.run([*cmd, "--no-report"], check=True)
            result[name] = digest_folder(out)
        airway = STUDIES["airway"]
        if Path(airway[1]).exists():
            table = Path(tmp) / "airway_de.tsv"
            cmd = [sys.executable, "-m", "mscseq", "de", *airway[1:10]]
            subprocess.run([*cmd, "--out", str(table), "--quiet"], check=True)
            result["airway_de"] = {"table": _sha(table.read_bytes())}
    return result


def main(argv: list[str]) -> int:
    """``record FILE`` or ``check FILE``."""
    if len(argv) != 2 or argv[0] not in {"record", "check"}:
        print(__doc__, file=sys.stderr)
        return 2
    action, path = argv[0], Path(argv[1])
    now = run_all()
    if action == "record":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"recorded {sum(len(v) for v in now.values())} files of {len(now)} studies in {path}")
        return 0
    then = json.loads(path.read_text())
    changed = [
        f"{study}/{f}"
        for study in sorted(set(then) | set(now))
        for f in sorted(set(then.get(study, {})) | set(now.get(study, {})))
        if then.get(study, {}).get(f) != now.get(study, {}).get(f)
    ]
    for c in changed:
        print(f"changed: {c}")
    print(
        f"{len(changed)} changed of {sum(len(v) for v in then.values())} files"
        if changed
        else "all files identical"
    )
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
