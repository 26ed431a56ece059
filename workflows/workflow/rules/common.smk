# Configuration and datasets sheet: validation against the schemas, path resolution, CLI arguments.

import re
import shlex
from pathlib import Path

import pandas as pd
import yaml
from jsonschema import Draft202012Validator
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

try:  # mscseq's own formula parser and contrast checks (mscseq is in the rules' environment; usually here too)
    from mscseq.de.design import Contrast, check_contrast_names
    from mscseq.de.formula import parse_formula
    from mscseq.errors import MscseqError
except ImportError:  # the schema's pattern still limits the design to the grammar's characters
    parse_formula = None

validate(config, schema="../schemas/config.schema.yaml")

OUTDIR = os.path.normpath(str(config["outdir"]))
SHEET_COLUMNS = [
    "dataset", "counts", "samples", "design", "contrast", "group", "reference",
    "product", "batch", "pair", "protocol", "args",
]
#: Sheet columns passed as `mscseq compare --COLUMN VALUE` (the comparability design of issue 13).
OPTION_COLUMNS = ["group", "reference", "product", "batch", "pair"]


def _schema_validator():
    path = Path(workflow.basedir) / "schemas" / "datasets.schema.yaml"
    with open(path, encoding="utf-8") as fh:
        return Draft202012Validator(yaml.safe_load(fh))


def _resolve(value, base):
    """Absolute path of a sheet entry (relative entries are relative to the sheet's folder)."""
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def mscseq_checks(rec, where):
    """Problems mscseq itself would refuse: a design outside its formula grammar, colliding contrast names.

    Checked when the sheet is loaded, before Snakemake runs anything (needs mscseq importable here).
    """
    if parse_formula is None:
        return []
    problems = []
    if "design" in rec:
        try:
            parse_formula(rec["design"], option="design")
        except MscseqError as exc:
            problems.append(f"{where}: {exc}")
    contrasts = [c.strip() for c in rec.get("contrast", "").split(";") if c.strip()]
    try:
        check_contrast_names([Contrast.parse(c) for c in contrasts], option="contrast")
    except MscseqError as exc:
        problems.append(f"{where}: {exc}")
    return problems


def load_datasets(path):
    """Read and validate the datasets sheet; one row per dataset, paths made absolute.

    Every problem is reported with the sheet's path, the row (1 = first dataset) and the column.
    """
    sheet = Path(path)
    if not sheet.is_file():
        raise WorkflowError(
            f"datasets sheet {sheet}: file not found; pass one with --config datasets=FILE "
            "(CSV with columns dataset,counts,samples,design,contrast,group)"
        )
    try:
        df = pd.read_csv(sheet, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise WorkflowError(f"datasets sheet {sheet}: cannot be read as CSV ({exc})")
    df.columns = [str(c).strip() for c in df.columns]
    problems = []
    unknown = [c for c in df.columns if c not in SHEET_COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(map(repr, unknown))}; allowed: {','.join(SHEET_COLUMNS)}")
    missing = [c for c in ("dataset", "counts", "samples") if c not in df.columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(map(repr, missing))}")
    if problems:
        raise WorkflowError(f"datasets sheet {sheet}: " + "; ".join(problems))
    if df.empty:
        raise WorkflowError(f"datasets sheet {sheet}: no datasets (the sheet has a header but no rows)")

    validator = _schema_validator()
    base = sheet.resolve().parent
    records = []
    for i, raw in enumerate(df.to_dict("records")):
        rec = {k: v.strip() for k, v in raw.items() if isinstance(v, str) and v.strip()}
        where = f"datasets sheet {sheet}, row {i + 1}" + (f" (dataset {rec['dataset']!r})" if "dataset" in rec else "")
        for err in sorted(validator.iter_errors(rec), key=lambda e: list(e.path)):
            column = err.path[0] if err.path else None
            if err.validator == "required":
                problems.append(f"{where}: {err.message.replace(' is a required property', '')} is empty; it is required")
                continue
            hint = validator.schema["properties"].get(column, {}).get("description", "")
            if err.validator == "additionalProperties":  # cannot happen: unknown columns are caught above
                problems.append(f"{where}: {err.message}")
            elif err.validator in ("pattern", "minLength") and hint:
                problems.append(f"{where}, column {column!r}: {err.instance!r} is not valid; expected {hint}")
            else:
                problems.append(f"{where}, column {column!r}: {err.message}" + (f" ({hint})" if hint else ""))
        if not any(p.startswith(where) for p in problems):
            problems += mscseq_checks(rec, where)
        if any(p.startswith(where) for p in problems):
            continue
        rec["counts"] = [_resolve(c.strip(), base) for c in rec["counts"].split(";") if c.strip()]
        rec["samples"] = _resolve(rec["samples"], base)
        if "protocol" in rec:
            rec["protocol"] = _resolve(rec["protocol"], base)
        for f in [*rec["counts"], rec["samples"], *([rec["protocol"]] if "protocol" in rec else [])]:
            if not Path(f).is_file():
                problems.append(f"{where}: file not found: {f}")
        records.append(rec)
    names = [r["dataset"] for r in records]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"datasets sheet {sheet}: duplicated dataset name(s) {', '.join(dupes)}; each needs its own output folder")
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise WorkflowError("the datasets sheet is not valid:\n  " + "\n  ".join(shown))
    return {r["dataset"]: r for r in records}


DATASETS = load_datasets(config["datasets"])


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),


def dataset_counts(wildcards):
    return DATASETS[wildcards.dataset]["counts"]


def dataset_samples(wildcards):
    return DATASETS[wildcards.dataset]["samples"]


def dataset_protocol(wildcards):
    """The dataset's comparability protocol (an input, so editing it reruns the dataset), or none."""
    d = DATASETS[wildcards.dataset]
    return [d["protocol"]] if "protocol" in d else []


def compare_args(wildcards):
    """Options of `mscseq compare` for one dataset (shell-quoted), from its sheet row and the config."""
    d = DATASETS[wildcards.dataset]
    args = []
    if "design" in d:
        args += ["--design", d["design"]]
    for c in d.get("contrast", "").split(";"):
        if c.strip():
            args += ["--contrast", c.strip()]
    for column in OPTION_COLUMNS:
        if column in d:
            args += [f"--{column}", d[column]]
    if "protocol" in d:
        args += ["--protocol", d["protocol"]]
    if config.get("alpha") is not None:
        args += ["--alpha", str(config["alpha"])]
    if config.get("engine"):
        args += ["--engine", str(config["engine"])]
    if not config.get("report", True):
        args += ["--no-report"]
    args += shlex.split(str(config.get("extra") or "")) + shlex.split(d.get("args", ""))
    return " ".join(shlex.quote(a) for a in args)
