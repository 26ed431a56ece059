"""JSON Schemas of mscseq's machine-readable outputs (shipped as package data).

``summary.schema.json`` describes ``summary.json`` (``"schema": "mscseq.summary/1"``); print it with
``mscseq schema``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from mscseq.errors import MscseqError

SCHEMAS = {"summary": "summary.schema.json"}


def schema_text(name: str = "summary") -> str:
    """The JSON text of a shipped schema.

    Parameters
    ----------
    name
        Which schema (``"summary"``).

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
    """Check a parsed ``summary.json`` against its schema (``jsonschema``, a dependency).

    Parameters
    ----------
    summary
        The parsed file.

    Raises
    ------
    MscseqError
        Naming the first invalid field, if the summary does not match.

    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema("summary"))
    errors = sorted(validator.iter_errors(summary), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        msg = f"summary.json does not match schema mscseq.summary/1 at {where}: {err.message}{more}"
        raise MscseqError(msg)
