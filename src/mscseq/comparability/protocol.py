"""The comparability protocol: margins, tiers and thresholds written down before the data are seen.

A protocol is a YAML file (``--protocol FILE.yaml``); the shipped default is
``src/mscseq/protocols/default.yaml``, whose comments and ``docs/protocol.md`` give the reason for every
value. A user file states only what it changes: it is merged key by key over the defaults (mappings merge,
lists and values replace). The resolved protocol and the SHA-256 of the file's bytes are recorded with
every run (ICH Q5E: the criteria are fixed in advance, and the record shows which criteria were used).

Every problem is one :class:`~mscseq.errors.MscseqError` line naming the file and the key.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from mscseq.errors import MscseqError
from mscseq.io.textfile import NOT_FOUND, file_problem

#: Gene classes a protocol may exclude from Tier 2 and the split (see :mod:`mscseq.comparability.genesets`).
EXCLUSION_CLASSES = ("sex", "hla", "genotype", "cnv")
#: The only protocol format version so far.
VERSION = 1
#: The fewest reference products from which a variability-derived margin may be computed (issue 13).
MIN_REFERENCE_PRODUCTS = 6


#: How Tier 2's lower bound is computed (``mscseq.comparability.tier2``): ``counting`` (Katsevich–Ramdas
#: bound on the count of small p-values with the genes' dependence allowed for, combined with Holm, each
#: at α/2), ``holm`` (genes shown beyond the margin with family-wise control; valid under any
#: dependence, weakest) or ``simes`` (closed testing; positive dependence).
LOWER_BOUNDS = ("counting", "holm", "simes")


@dataclass(frozen=True)
class PanelMargin:
    """One panel's own settings (log2 units); ``None`` takes the protocol-wide value.

    ``margin`` is the Tier-1 equivalence margin (else ``tier1.default_margin``); ``score_tau`` the
    single-group tolerance of the score's between-product SD (else ``single_group.score_tau``), for a
    user panel of few genes whose score spreads more than a panel of many.
    """

    name: str
    margin: float | None = None
    score_tau: float | None = None


@dataclass(frozen=True)
class Tier1:
    """Tier 1: equivalence tests (TOST) of the panel scores, combined as an intersection–union test."""

    min_mean: float = 50.0
    default_margin: float = 0.5
    required: tuple[str, ...] = ("isct_identity", "licensing_potency")
    panels: tuple[PanelMargin, ...] = ()


@dataclass(frozen=True)
class Tier2:
    """Tier 2: the fraction of genes beyond the gene margin, with its interval, against ``f0``."""

    gene_margin: float = 1.0
    f0: float = 0.01
    min_mean: float = 50.0
    gene_list: str | None = None
    exclude: tuple[str, ...] = EXCLUSION_CLASSES
    lower_bound: str = "counting"


@dataclass(frozen=True)
class Products:
    """Per-product deviation tests (leave-one-out, Holm-adjusted across products)."""

    min_peers: int = 6
    alpha: float = 0.05


@dataclass(frozen=True)
class SingleGroup:
    """The single-group question (no ``--group``): split test and between-product spread."""

    tau: float = 0.5
    score_tau: float = 0.35
    split_alpha: float = 0.05
    spread_min_mean: float = 50.0


@dataclass(frozen=True)
class VariabilityMargins:
    """Tier-1 margins from reference variability, ``k·σ_R`` clamped to ``[floor, cap]`` (off by default)."""

    enabled: bool = False
    k: float = 1.5
    min_reference: int = MIN_REFERENCE_PRODUCTS
    floor: float = 0.25
    cap: float = 1.0


@dataclass(frozen=True)
class Protocol:
    """A resolved comparability protocol (every value present; see ``docs/protocol.md``).

    Attributes
    ----------
    version
        Protocol format version (1).
    alpha
        One-sided level of each TOST (0.05 gives a 90 % two-sided confidence interval).
    power
        Power at which ``n_needed`` (products per group that would settle an inconclusive answer) is computed.
    reference
        The reference level of ``--group`` (``None``: no natural reference; the answer is symmetric).
    tier1, tier2, products, single_group, variability_margins
        The sections.

    """

    version: int = VERSION
    alpha: float = 0.05
    power: float = 0.8
    reference: str | None = None
    tier1: Tier1 = field(default_factory=Tier1)
    tier2: Tier2 = field(default_factory=Tier2)
    products: Products = field(default_factory=Products)
    single_group: SingleGroup = field(default_factory=SingleGroup)
    variability_margins: VariabilityMargins = field(default_factory=VariabilityMargins)

    def to_dict(self) -> dict[str, Any]:
        """The protocol as a plain JSON-ready dict, in the layout of the YAML file."""
        out = asdict(self)
        out["tier1"]["required"] = list(self.tier1.required)
        out["tier1"]["panels"] = {
            p.name: {
                k: v for k, v in (("margin", p.margin), ("score_tau", p.score_tau)) if v is not None
            }
            for p in self.tier1.panels
        }
        out["tier2"]["exclude"] = list(self.tier2.exclude)
        return out

    def margin_for(self, panel: str) -> float:
        """The Tier-1 margin of ``panel``: its own when the protocol lists it, else ``tier1.default_margin``."""
        for p in self.tier1.panels:
            if p.name == panel and p.margin is not None:
                return p.margin
        return self.tier1.default_margin

    def score_tau_for(self, panel: str) -> float:
        """The single-group score tolerance of ``panel``: its own, else ``single_group.score_tau``."""
        for p in self.tier1.panels:
            if p.name == panel and p.score_tau is not None:
                return p.score_tau
        return self.single_group.score_tau


def default_protocol_path() -> Path:
    """Path of the shipped default protocol (``mscseq/protocols/default.yaml``)."""
    return Path(str(resources.files("mscseq") / "protocols" / "default.yaml"))


# --- validation -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    """One scalar key: its kind (``float``, ``int``, ``bool``, ``str``, ``strlist``, ``path``) and its check."""

    kind: str
    check: Callable[[Any], bool] | None = None
    rule: str = ""
    nullable: bool = False


def _between(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: lo < v < hi


def _positive(v: float) -> bool:
    return v > 0


def _non_negative(v: float) -> bool:
    return v >= 0


_POS = _Field("float", _positive, "must be > 0")
_NONNEG = _Field("float", _non_negative, "must be >= 0")
_ALPHA = _Field("float", _between(0, 0.5), "must be between 0 and 0.5 (exclusive)")

#: The keys of a protocol file, section by section; ``tier1.panels`` maps panel names to ``{margin}``.
_SPEC: dict[str, Any] = {
    "version": _Field("int", lambda v: v == VERSION, f"must be {VERSION}"),
    "alpha": _ALPHA,
    "power": _Field("float", _between(0, 1), "must be between 0 and 1 (exclusive)"),
    "reference": _Field("str", nullable=True),
    "tier1": {
        "min_mean": _NONNEG,
        "default_margin": _POS,
        "required": _Field("strlist"),
        "panels": "panels",
    },
    "tier2": {
        "gene_margin": _POS,
        "f0": _Field("float", _between(0, 0.5), "must be between 0 and 0.5 (exclusive)"),
        "min_mean": _NONNEG,
        "gene_list": _Field("path", nullable=True),
        "exclude": _Field(
            "strlist",
            lambda v: set(v) <= set(EXCLUSION_CLASSES),
            f"may hold only {', '.join(EXCLUSION_CLASSES)}",
        ),
        "lower_bound": _Field(
            "str", lambda v: v in LOWER_BOUNDS, f"must be one of {', '.join(LOWER_BOUNDS)}"
        ),
    },
    "products": {
        "min_peers": _Field("int", lambda v: v >= 3, "must be >= 3"),
        "alpha": _ALPHA,
    },
    "single_group": {
        "tau": _POS,
        "score_tau": _POS,
        "split_alpha": _ALPHA,
        "spread_min_mean": _NONNEG,
    },
    "variability_margins": {
        "enabled": _Field("bool"),
        "k": _POS,
        "min_reference": _Field(
            "int",
            lambda v: v >= MIN_REFERENCE_PRODUCTS,
            f"must be >= {MIN_REFERENCE_PRODUCTS} (variability margins need at least "
            f"{MIN_REFERENCE_PRODUCTS} reference products)",
        ),
        "floor": _POS,
        "cap": _POS,
    },
}
_PANEL_KEYS = {"margin": _POS, "score_tau": _POS}


class _Problem(Exception):
    """A validation problem at a key (turned into one MscseqError line naming the file)."""

    def __init__(self, key: str, text: str) -> None:
        super().__init__(f"{key}: {text}" if key else text)


def _unknown(key: str, allowed: Mapping[str, Any], where: str) -> _Problem:
    near = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.5)
    known = f"known keys: {', '.join(sorted(allowed))}"
    hint = f"; did you mean '{near[0]}'? ({known})" if near else f"; {known}"
    return _Problem(f"{where}{key}", f"unknown key{hint}")


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text"}.get(
        type(value), type(value).__name__
    )


def _check_value(key: str, spec: _Field, value: Any, folder: Path | None) -> Any:
    if value is None:
        if spec.nullable:
            return None
        raise _Problem(key, "is empty (null); give a value or leave the key out")
    kind = spec.kind
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Problem(key, f"must be a number, got {_type_name(value)} {value!r}")
        value = float(value)
        if not np.isfinite(value):
            raise _Problem(key, f"must be a finite number, got {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Problem(key, f"must be a whole number, got {_type_name(value)} {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise _Problem(key, f"must be true or false, got {_type_name(value)} {value!r}")
    elif kind in ("str", "path"):
        if kind == "str" and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # a level such as 2019 reads as a number in YAML
        if not isinstance(value, str) or not value.strip():
            raise _Problem(key, f"must be non-empty text, got {_type_name(value)} {value!r}")
        value = value.strip()
        if kind == "path":
            path = Path(value).expanduser()
            if not path.is_absolute() and folder is not None:
                path = folder / path
            problem = file_problem(path)
            if problem == NOT_FOUND:
                raise _Problem(
                    key, f"file {path} not found (relative paths are from the protocol's folder)"
                )
            if problem is not None:
                raise _Problem(key, f"{path} {problem}")
            value = str(path)
    elif kind == "strlist":
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise _Problem(key, f"must be a list of names, got {_type_name(value)} {value!r}")
        value = [v.strip() for v in value]
    if spec.check is not None and not spec.check(value):
        raise _Problem(key, f"{spec.rule}, got {value!r}")
    return value


def _validate(
    data: Mapping[str, Any], spec: Mapping[str, Any], where: str, folder: Path | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise _Problem(f"{where}{key!r}", "keys must be text")
        if key not in spec:
            raise _unknown(key, spec, where)
        sub = spec[key]
        name = f"{where}{key}"
        if isinstance(sub, dict):
            if not isinstance(value, dict):
                raise _Problem(
                    name, f"must be a section (key: value lines), got {_type_name(value)}"
                )
            out[key] = _validate(value, sub, f"{name}.", folder)
        elif sub == "panels":
            out[key] = _validate_panels(value, name, folder)
        else:
            out[key] = _check_value(name, sub, value, folder)
    return out


def _validate_panels(value: Any, where: str, folder: Path | None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Problem(where, f"must map panel names to {{margin: ...}}, got {_type_name(value)}")
    out = {}
    for panel, entry in value.items():
        name = f"{where}.{panel}"
        if not isinstance(entry, dict):
            raise _Problem(
                name, f"must be a section such as {{margin: 0.5}}, got {_type_name(entry)}"
            )
        out[str(panel)] = _validate(entry, _PANEL_KEYS, f"{name}.", folder)
        if not out[str(panel)]:
            raise _Problem(name, "must set margin and/or score_tau, e.g. {margin: 0.5}")
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, everything else in ``over`` replaces ``base``."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _build(d: Mapping[str, Any]) -> Protocol:
    t1 = dict(d["tier1"])
    t1["required"] = tuple(t1["required"])
    t1["panels"] = tuple(
        PanelMargin(name, v.get("margin"), v.get("score_tau")) for name, v in t1["panels"].items()
    )
    t2 = dict(d["tier2"])
    t2["exclude"] = tuple(t2["exclude"])
    return Protocol(
        version=d["version"],
        alpha=d["alpha"],
        power=d["power"],
        reference=d["reference"],
        tier1=Tier1(**t1),
        tier2=Tier2(**t2),
        products=Products(**d["products"]),
        single_group=SingleGroup(**d["single_group"]),
        variability_margins=VariabilityMargins(**d["variability_margins"]),
    )


def parse_protocol(
    text: str | bytes, *, source: str = "protocol", folder: Path | None = None
) -> Protocol:
    """Validate protocol YAML text and merge it over the defaults.

    Parameters
    ----------
    text
        The YAML document (an empty document means "all defaults").
    source
        Name used in error messages (the file's path).
    folder
        Folder against which a relative ``tier2.gene_list`` path is resolved (``None``: the current folder).

    Returns
    -------
    Protocol
        The resolved protocol.

    Raises
    ------
    MscseqError
        Invalid YAML, unknown keys (with a close-match suggestion), wrong types, out-of-range values, a
        missing gene list: one line naming ``source`` and the key.

    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or type(exc).__name__
        msg = f"{source}: not valid YAML{where} ({what})"
        raise MscseqError(msg) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        msg = f"{source}: a protocol must be a YAML mapping of sections (tier1:, tier2:, ...), got {_type_name(data)}"
        raise MscseqError(msg)
    try:
        given = _validate(data, _SPEC, "", folder)
        merged = _merge(Protocol().to_dict(), given)
        vm = merged["variability_margins"]
        if vm["cap"] < vm["floor"]:
            raise _Problem(
                "variability_margins.cap",
                f"({vm['cap']!r}) must be >= variability_margins.floor ({vm['floor']!r})",
            )
    except _Problem as exc:
        msg = f"{source}: {exc}"
        raise MscseqError(msg) from None
    return _build(merged)


def load_protocol(path: str | Path | None) -> tuple[Protocol, dict[str, Any]]:
    """Read a protocol file (or the shipped default) and record what was used.

    Parameters
    ----------
    path
        The user's ``--protocol`` YAML file; ``None`` for the shipped default.

    Returns
    -------
    tuple
        ``(protocol, record)`` with ``record = {"source": "default" or the path, "sha256": hex digest of the
        file's bytes (the shipped default's when ``path`` is None), "protocol": protocol.to_dict()}``.

    Raises
    ------
    MscseqError
        The file is missing or unreadable, or its content is invalid (one line naming the file and key).

    """
    if path is None:
        file, source = default_protocol_path(), "default"
    else:
        file, source = Path(path), str(path)
        problem = file_problem(file)
        if problem is not None:
            msg = f"{file}: --protocol {problem}"
            raise MscseqError(msg)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        msg = f"{file}: --protocol cannot be read ({exc.strerror or exc}); check its permissions"
        raise MscseqError(msg) from exc
    protocol = parse_protocol(raw, source=str(file), folder=file.resolve().parent)
    if protocol.tier2.gene_list is not None:
        from mscseq.comparability.genesets import read_gene_list

        read_gene_list(
            protocol.tier2.gene_list
        )  # an empty or unreadable list fails now, before any analysis
    record = {
        "source": source,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "protocol": protocol.to_dict(),
    }
    return protocol, record


def variability_margin(
    sd_total: float,
    sd_technical: float,
    n_reference: int,
    *,
    k: float,
    floor: float,
    cap: float,
    min_reference: int = MIN_REFERENCE_PRODUCTS,
) -> float:
    """A margin from reference variability: ``k·σ_R`` clamped to ``[floor, cap]``.

    ``σ_R = sqrt(max(sd_total² − sd_technical², 0))`` is the biological SD of the reference products: the
    technical part (from technical replicates; 0 when there are none) is removed so that noisy sequencing
    does not widen the margin.

    Parameters
    ----------
    sd_total
        SD of the attribute (a panel score, log2) over the reference products.
    sd_technical
        Technical SD of the attribute (from replicate libraries of one product), 0 when unknown.
    n_reference
        Number of reference products behind ``sd_total``.
    k
        Margin in biological SDs.
    floor, cap
        The margin is clamped to ``[floor, cap]`` (log2).
    min_reference
        Fewest reference products allowed (at least :data:`MIN_REFERENCE_PRODUCTS`).

    Returns
    -------
    float
        The margin, log2 units.

    Raises
    ------
    MscseqError
        Fewer than ``min_reference`` reference products, or a non-finite SD.

    """
    if n_reference < max(min_reference, MIN_REFERENCE_PRODUCTS):
        msg = (
            f"a margin from reference variability needs at least {max(min_reference, MIN_REFERENCE_PRODUCTS)} "
            f"reference products, got {n_reference}; use fixed margins (variability_margins.enabled: false)"
        )
        raise MscseqError(msg)
    if not (np.isfinite(sd_total) and np.isfinite(sd_technical)):
        msg = f"a margin from reference variability needs finite SDs, got {sd_total!r} and {sd_technical!r}"
        raise MscseqError(msg)
    sigma = float(np.sqrt(max(float(sd_total) ** 2 - float(sd_technical) ** 2, 0.0)))
    return float(min(max(k * sigma, floor), cap))
