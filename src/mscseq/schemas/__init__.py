"""JSON Schemas of mscseq's machine-readable outputs (shipped as package data).

``summary.schema.json`` describes ``summary.json`` as mscseq writes it now (``"schema":
"mscseq.summary/2"``); print it with ``mscseq schema``. ``summary_v1.schema.json`` is kept to check summaries
written before the tiered comparability rule (``"mscseq.summary/1"``); :func:`validate_summary` picks the schema
by the file's ``schema`` field. The changes between versions are listed in ``docs/summary.md``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from mscseq.errors import MscseqError

SCHEMAS = {"summary": "summary.schema.json", "summary/1": "summary_v1.schema.json"}
#: ``summary.json`` ``schema`` value → the name of its schema in :data:`SCHEMAS`.
SUMMARY_VERSIONS = {"mscseq.summary/2": "summary", "mscseq.summary/1": "summary/1"}


def schema_text(name: str = "summary") -> str:
    """The JSON text of a shipped schema.

    Parameters
    ----------
    name
        Which schema (``"summary"``, the current one, or ``"summary/1"``).

    Returns
    -------
    str
        The schema file's contents.

    """
    if name not in SCHEMAS:
        msg = f"unknown schema {name!r}; choose from {', '.join(SCHEMAS)}"
        raise MscseqError(msg)
    return files(__name__).joinpath(SCHEMAS[name]).read_text(encoding="utf-8")


@cache
def load_schema(name: str = "summary") -> dict[str, Any]:
    """A shipped schema as a dict (see :func:`schema_text`)."""
    return json.loads(schema_text(name))


def validate_summary(summary: dict[str, Any]) -> None:
    """Check a parsed ``summary.json`` against the schema of its version (``jsonschema``, a dependency).

    The version is the file's ``schema`` field (``mscseq.summary/2`` or ``mscseq.summary/1``).

    Parameters
    ----------
    summary
        The parsed file.

    Raises
    ------
    MscseqError
        Naming the first invalid field, if the summary does not match, or the version if it is unknown.

    """
    import jsonschema

    version = summary.get("schema") if isinstance(summary, dict) else None
    if isinstance(version, str) and version.startswith("mscseq.summary/"):
        if version not in SUMMARY_VERSIONS:
            known = ", ".join(sorted(SUMMARY_VERSIONS))
            msg = f"summary.json has schema {version!r}, which this mscseq does not read (it reads {known})"
            raise MscseqError(msg)
    name = SUMMARY_VERSIONS.get(
        str(version), "summary"
    )  # anything else: the current schema names the error
    validator = jsonschema.Draft202012Validator(load_schema(name))
    # a wrong 'schema' field first: it explains every other mismatch
    errors = sorted(
        validator.iter_errors(summary),
        key=lambda e: (list(e.absolute_path) != ["schema"], list(e.absolute_path)),
    )
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        label = next(k for k, v in SUMMARY_VERSIONS.items() if v == name)
        msg = f"summary.json does not match schema {label} at {where}: {err.message}{more}"
        raise MscseqError(msg)
