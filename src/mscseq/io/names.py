"""Sample names from file names and alignment paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

_COMPRESSION = (".gz", ".bz2", ".xz")
#: File-name endings that are not part of a sample name (longest first).
_TOOL_SUFFIXES = (
    ".Aligned.sortedByCoord.out",
    "Aligned.sortedByCoord.out",
    ".Aligned.toTranscriptome.out",
    ".Aligned.out",
    "Aligned.out",
    "ReadsPerGene.out",
    ".ReadsPerGene.out",
    ".markdup",
    ".dedup",
    ".sorted",
    ".sort",
    ".genes.results",
    ".isoforms.results",
    ".genes",
    ".isoforms",
    ".htseq",
    ".counts",
    "_counts",
    ".count",
    "_count",
)
_GENERIC = {"quant", "quant.genes", "abundance", "readspergene.out", "readspergene", "counts", ""}
_EXT = re.compile(r"\.(bam|sam|cram|tab|tsv|txt|csv|sf|results|out)$", re.IGNORECASE)


def _strip(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for ext in _COMPRESSION:
            if name.endswith(ext):
                name, changed = name[: -len(ext)], True
        m = _EXT.search(name)
        if m:
            name, changed = name[: m.start()], True
        for suf in _TOOL_SUFFIXES:
            if name.endswith(suf) and len(name) > len(suf):
                name, changed = name[: -len(suf)], True
    return name.rstrip("._-")


def clean_alignment_names(paths: Sequence[str]) -> list[str]:
    """Turn BAM/SAM paths from a featureCounts header into sample names.

    ``/data/HBR_1/HBR_1.bam`` → ``HBR_1``; ``s1.Aligned.sortedByCoord.out.bam`` → ``s1``. When cleaning
    would make two names equal, the parent folder names are used; failing that, the paths as given.

    Parameters
    ----------
    paths
        The column names.

    Returns
    -------
    list of str
        One name per path, unique when the paths were.

    """
    names = [_strip(PurePosixPath(p.replace("\\", "/")).name) or p for p in paths]
    if len(set(names)) == len(names):
        return names
    parents = [PurePosixPath(p.replace("\\", "/")).parent.name for p in paths]
    if all(parents) and len(set(parents)) == len(parents):
        return parents
    return list(paths)


def sample_name_from_file(path: str | Path) -> str:
    """Name a per-sample file's sample from its name, or its folder when the name is generic.

    ``SRR1039508_all_counts.txt.gz`` → ``SRR1039508_all``; ``ERR188297/quant.sf.gz`` → ``ERR188297``;
    ``s1.ReadsPerGene.out.tab`` → ``s1``.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    str
        The sample name.

    """
    p = Path(path)
    name = _strip(p.name)
    if name.lower() in _GENERIC:
        return p.resolve().parent.name
    return name
