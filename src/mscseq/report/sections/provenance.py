"""Software & inputs (``provenance.html.j2``): command, parameters, versions, input files with checksums."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mscseq.report.fmt import as_list, as_records, fmt


def section(run_info: Mapping[str, Any]) -> dict[str, Any]:
    """Command, parameters, software versions and input files with checksums."""
    params = run_info.get("parameters", {}) or {}
    return {
        "command": " ".join(str(a) for a in as_list(run_info.get("command"))),
        "parameters": [
            {"key": k, "value": fmt(v) if not isinstance(v, str) else v} for k, v in params.items()
        ],
        "versions": [
            {"name": k, "version": str(v)} for k, v in (run_info.get("versions") or {}).items()
        ],
        "inputs": [
            {
                "path": str(f.get("path", "")),
                "sha256": str(f.get("sha256", "")),
                "bytes": fmt(f.get("bytes")),
            }
            for f in as_records(run_info.get("inputs"))
        ],
        "started": run_info.get("started"),
        "finished": run_info.get("finished"),
        "elapsed": run_info.get("elapsed_seconds"),
    }
