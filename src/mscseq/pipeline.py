"""The analysis steps in order, shared by the CLI, the notebook and the Snakemake workflow."""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mscseq.checks import naming_counts
from mscseq.de.design import Contrast, formula_variables
from mscseq.options import ComparabilityOptions, DEOptions

log = logging.getLogger(__name__)


@dataclass
class CompareParams:
    """Everything a ``mscseq compare`` run depends on (recorded flat in ``run_info.json``).

    Attributes mirror the CLI options (see ``mscseq compare --help``); their defaults are those of
    :class:`~mscseq.options.DEOptions` and :class:`~mscseq.options.ComparabilityOptions`, and each step
    receives its own options object (:meth:`de_options`, :meth:`comparability_options`).
    """

    counts: list[Path]
    samples: Path
    design: str = DEOptions.design
    contrasts: list[Contrast] = field(default_factory=list)
    alpha: float = DEOptions.alpha
    threads: int = DEOptions.threads
    engine: str = DEOptions.engine
    lfc_threshold: float = DEOptions.lfc_threshold
    alt_hypothesis: str = DEOptions.alt_hypothesis
    test: str = DEOptions.test
    reduced: str | None = DEOptions.reduced
    sample_column: str = "sample"
    fill_missing_zero: bool = False
    format: str | None = None
    keep_gene_version: bool = False
    layer: str | None = None
    strandedness: str | None = None
    tx2gene: str | None = None
    report: bool = True
    group: str | None = ComparabilityOptions.group
    reference: str | None = ComparabilityOptions.reference
    margin: float | None = ComparabilityOptions.margin
    panels: list[Path] = field(default_factory=list)
    permutations: int = ComparabilityOptions.permutations
    seed: int = ComparabilityOptions.seed
    strict: bool = False
    figures: bool = True  # static figures/ (PDF and PNG)
    size_factors: str = DEOptions.size_factors
    fit_type: str = DEOptions.fit_type
    shrink: str | None = DEOptions.shrink
    contrasts_file: Path | None = None
    product: str | None = None
    protocol: Path | None = ComparabilityOptions.protocol
    batch: str | None = ComparabilityOptions.batch
    pair: str | None = ComparabilityOptions.pair

    def de_options(self) -> DEOptions:
        """The options of the differential expression step."""
        return DEOptions(
            design=self.design,
            contrasts=tuple(self.contrasts),
            alpha=self.alpha,
            engine=self.engine,
            threads=self.threads,
            lfc_threshold=self.lfc_threshold,
            alt_hypothesis=self.alt_hypothesis,
            test=self.test,
            reduced=self.reduced,
            size_factors=self.size_factors,
            fit_type=self.fit_type,
            shrink=self.shrink,
        )

    def comparability_options(self) -> ComparabilityOptions:
        """The options of the comparability step."""
        return ComparabilityOptions(
            group=self.group,
            reference=self.reference,
            protocol=self.protocol,
            margin=self.margin,
            batch=self.batch,
            pair=self.pair,
            panels=tuple(self.panels),
            permutations=self.permutations,
            seed=self.seed,
            design=self.design,
        )

    def required_columns(self) -> list[str]:
        """Sheet columns the run needs."""
        cols = formula_variables(self.design)
        for c in self.contrasts:
            extra = formula_variables(c.design) if c.design else []
            # a continuous covariate is a design term; an unknown name is the contrast's error
            own = [] if c.continuous else [c.variable]
            cols.extend(v for v in [*extra, *own] if v not in cols)
        if self.reduced and self.test == "lrt":
            from mscseq.errors import MscseqError

            try:
                extra = formula_variables(self.reduced)
            except MscseqError:  # reported as a --reduced error by validate_design
                extra = []
            cols.extend(v for v in extra if v not in cols)
        if self.group and self.group not in cols:
            cols.append(self.group)
        for extra in (self.batch, self.pair, self.product):
            if extra and extra not in cols:
                cols.append(extra)
        return cols

    def product_constant_columns(self) -> list[str]:
        """Columns that must be constant within a product: the group, design, contrast and reduced variables."""
        return [c for c in self.required_columns() if c != self.product]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the parameters."""
        d = asdict(self)
        d["counts"] = [str(p) for p in self.counts]
        d["samples"] = str(self.samples)
        # contrasts of a --contrasts sheet are recorded as the sheet (contrasts_file)
        d["contrasts"] = [c.text for c in self.contrasts if c.label is None]
        d["panels"] = [str(p) for p in self.panels]
        d["contrasts_file"] = str(self.contrasts_file) if self.contrasts_file else None
        d["protocol"] = str(self.protocol) if self.protocol else None
        return d


def load(params: CompareParams, *, light: bool = False):
    """Read and validate the inputs into an AnnData (step 1).

    ``light``: a :class:`~mscseq.io.dataset.CountData` instead (the same fields; anndata not imported),
    for ``mscseq de``, which only reads them.
    """
    from mscseq.de.design import as_covariates
    from mscseq.io import load_dataset

    adata = load_dataset(
        params.counts,
        params.samples,
        required_columns=params.required_columns(),
        sample_column=params.sample_column,
        fill_missing_zero=params.fill_missing_zero,
        format=params.format,
        keep_gene_version=params.keep_gene_version,
        layer=params.layer,
        strandedness=params.strandedness,
        tx2gene=params.tx2gene,
        light=light,
    )
    as_covariates(adata.obs, params.contrasts, source=str(params.samples))
    return adata


def collapse_step(adata, params: CompareParams):
    """Sum the libraries of each ``--product`` (step 1b; returns ``adata`` itself without ``--product``).

    From here on every statistic counts products; the per-library QC is kept in
    ``uns["products"]["library_qc"]`` (``tables/libraries.tsv``).
    """
    if not params.product:
        return adata
    from mscseq.products import collapse_products

    out = collapse_products(
        adata,
        params.product,
        keep_constant=params.product_constant_columns(),
        source=str(params.samples),
    )
    log.info(
        "--product %s: %d libraries summed into %d products", params.product, adata.n_obs, out.n_obs
    )
    return out


def validate_design(adata, params: CompareParams, *, comparability: bool = True) -> None:
    """Check the design, contrasts and test options against the sheet before any heavy computation.

    ``comparability=False`` (``mscseq de``): the options of the comparability step are not checked
    (nor its package imported); the run does not use them.
    """
    from mscseq.checks import check_analysable
    from mscseq.de.design import build_design, check_contrast_names, contrast_vector
    from mscseq.de.run import build_reduced_design, check_test_options

    check_test_options(params.de_options())
    if comparability and params.protocol is not None:  # a bad protocol file stops the run first
        from mscseq.comparability.protocol import load_protocol

        load_protocol(params.protocol)
    if comparability:
        from mscseq.comparability.permanova import check_permutations

        check_permutations(int(params.permutations))
    check_analysable(adata, params)
    if comparability and params.panels:
        from mscseq.comparability.panels import read_panel

        for panel in params.panels:
            read_panel(panel)
    check_contrast_names(params.contrasts)
    if comparability and params.group:
        from mscseq.comparability.groups import group_spec

        spec = group_spec(adata.obs, params.group, params.reference)
        check_contrast_names(
            [Contrast(spec.variable, t, spec.reference) for t in spec.targets], option="--group"
        )
    if params.design.replace(" ", "") in {"~1", "~0+1"} and not params.contrasts:
        return
    dm = build_design(params.design, adata.obs, source=str(params.samples))
    for c in params.contrasts:
        own = c.design and c.design != params.design
        dmc = build_design(c.design, adata.obs, source=str(params.samples)) if own else dm
        contrast_vector(dmc, adata.obs, c)
    if params.test == "lrt" and params.reduced:
        build_reduced_design(params.reduced, dm, adata.obs, source=str(params.samples))


def analyse(
    adata,
    params: CompareParams,
    *,
    background: bool = False,
    idle: Sequence[Callable[[], object]] = (),
):
    """QC, normalisation, exploration, DE and comparability on the loaded data (steps 2–5).

    ``adata`` is analysed in place and returned; a :class:`~mscseq.io.dataset.CountData` (``load(...,
    light=True)``) is made into the AnnData that is returned.

    ``background``: the DE runs in a forked child (:mod:`mscseq.background`) while this process builds
    the AnnData and does the QC, normalisation, exploration and comparability, which do not read the
    DE's results (on two cores the DE then costs no wall time). The results are the same; an error of
    the DE is raised before one of the comparability, as when the steps run in order.

    ``idle``: steps called one after another once this process is done, while the DE child still runs
    (none once it has finished), before waiting for it: the caller's next step can prepare there (its
    imports, say) in time that would be idle.
    """
    from mscseq.comparability import run_comparability
    from mscseq.explore import explore
    from mscseq.io.dataset import CountData
    from mscseq.normalize import normalize
    from mscseq.qc import compute_qc

    job = None
    if background and params.contrasts:
        from mscseq.background import start

        job = start(_de_results, adata, params)
    try:
        if isinstance(adata, CountData):
            adata = adata.to_anndata()
        adata.uns["mscseq"] = {"params": params.to_dict()}
        log.info("QC of %d samples × %d genes", adata.n_obs, adata.n_vars)
        compute_qc(adata)
        log.info("normalisation (%s size factors) and blind VST", params.size_factors)
        normalize(adata, size_factor_type=params.size_factors, fit_type=params.fit_type)
        log.info("PCA, correlations, clustering")
        explore(adata)
        if job is None:
            de_step(adata, params)
        log.info(
            "comparability%s",
            f" of {params.group} levels" if params.group else " of the products",
        )
        try:
            run_comparability(adata, params.comparability_options())
        except Exception:
            if job is not None:
                job.result()  # the DE's own error comes first, as when it ran first
            raise
        if job is not None:
            for step in idle:
                if not job.running():
                    break
                step()
            adata.uns.update(job.result())
    finally:
        if job is not None:
            job.cancel()  # stops the child when something failed before its result was read
    return adata


def _de_results(adata, params: CompareParams) -> dict[str, Any]:
    """What the DE step writes into ``adata.uns`` (run in the child of :func:`analyse`)."""
    de_step(adata, params)
    return {key: adata.uns[key] for key in ("de", "de_summary")}


def de_step(adata, params: CompareParams):
    """DE of every contrast (step 4), in place; returns the fit (``None`` without contrasts)."""
    if not params.contrasts:
        return None
    from mscseq.de.run import run_de

    log.info(
        "differential expression (%s engine): %s",
        params.engine,
        ", ".join(c.name for c in params.contrasts),
    )
    return run_de(adata, params.de_options())


def _refuse_input_as_output(out: Path, inputs: Sequence[str | Path]) -> None:
    """Refuse an output file that is one of the run's inputs (even with ``--force``)."""
    from mscseq.errors import MscseqError

    target = Path(os.path.realpath(out))
    for p in inputs:
        if Path(os.path.realpath(p)) == target:
            msg = f"{out}: is an input of this run; --out never overwrites an input, choose another file"
            raise MscseqError(msg)


def run_de_table(params: CompareParams, out: Path, *, force: bool = False) -> None:
    """``mscseq de``: load → validate → DE of the one contrast, its table written to ``out`` (``-`` = stdout).

    Parameters
    ----------
    params
        The inputs and DE options (exactly one contrast).
    out
        Output TSV path, or ``-`` for stdout; written atomically.
    force
        Overwrite an existing ``out``.

    """
    from mscseq.de.run import check_test_options
    from mscseq.errors import MscseqError
    from mscseq.outputs import atomic_write_text, check_can_create, tsv_text

    check_test_options(params.de_options())
    to_stdout = str(out) == "-"
    if not to_stdout:
        if out.exists() and not force:
            msg = f"{out}: the output file exists; choose another --out or pass --force to overwrite it"
            raise MscseqError(msg)
        check_can_create(out, option="--out")
        sheet = [params.contrasts_file] if params.contrasts_file else []
        _refuse_input_as_output(out, [*params.counts, params.samples, *sheet])
    adata = load_while_importing(params, light=True)
    if not to_stdout:
        _refuse_input_as_output(out, adata.uns.get("input", {}).get("files", []))
    validate_design(adata, params, comparability=False)
    with naming_counts(params), _one_blas_thread():
        de_step(adata, params)
    (contrast,) = params.contrasts
    res = adata.uns["de"][contrast.name]
    text = tsv_text(res, index_label="gene_id")
    if to_stdout:
        sys.stdout.write(text)
    else:
        atomic_write_text(out, text)
        log.info("wrote %s (%d genes)", out, len(res))


#: inputs up to this size on disk are read ahead by a forked child (:func:`load_while_importing`)
LOAD_AHEAD_BYTES = 8 * 2**20
#: what ``de`` and ``compare`` import while their inputs are read: the DE engine, which
#: :func:`validate_design` needs next (``compare`` forks the DE right after it; importing more here
#: would only delay that)
DE_MODULES = ("mscseq.de.run", "mscseq.normalize")


def load_while_importing(params: CompareParams, *, light: bool = False):
    """:func:`load` in a forked child while this process imports :data:`DE_MODULES` (the next step's code).

    Reading the inputs and importing what the run needs next (:data:`DE_MODULES`: the DE engine and
    scipy.special, ~0.1 s) then take one core each: -0.06 s for ``mscseq de`` on airway, -0.1 s for a
    20-product ``compare``. The loaded data come back pickled: 10 MB and ~0.03 s for the 20-product
    study, 95 MB and ~0.15 s (more than the overlap saves) for 200 products × 61,533 genes (a 31 MB
    text file). So only count files of at most :data:`LOAD_AHEAD_BYTES` together are read ahead
    (count files named by the sheet: never); otherwise this is :func:`load`.
    An input error is raised here as the child raised it.
    """
    import importlib

    paths = [Path(p) for p in params.counts]
    try:
        small = bool(paths) and sum(p.stat().st_size for p in paths) <= LOAD_AHEAD_BYTES
        small = small and all(p.is_file() for p in paths)
    except OSError:  # a missing file: load reports it
        small = False
    if not small:
        return load(params, light=light)
    import functools

    from mscseq.background import start

    job = start(functools.partial(load, params, light=light))
    try:
        for name in DE_MODULES:
            importlib.import_module(name)
        return job.result()
    finally:
        job.cancel()


def versions() -> dict[str, str]:
    """Versions of Python, mscseq and its key dependencies."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in (
        "mscseq",
        "numpy",
        "scipy",
        "pandas",
        "anndata",
        "scanpy",
        "pydeseq2",
        "formulaic",
        "plotly",
        "jinja2",
        "typer",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def run_info(
    params: CompareParams,
    *,
    started: float,
    argv: list[str] | None = None,
    files: Sequence[str | Path] = (),
) -> dict[str, Any]:
    """The ``run_info.json`` record: command, parameters, versions, input checksums, times.

    Every file the run read is checksummed: the count files and sheet given on the command line, the
    ``files`` the readers report (per-sample files from the sheet's ``path`` column, ``--tx2gene``,
    featureCounts ``.summary``, STAR ``Log.final.out``) and user panels.
    """
    from mscseq.outputs import RUN_INFO_SCHEMA, sha256sum

    seen: dict[str, Path] = {}
    sheet = [params.contrasts_file] if getattr(params, "contrasts_file", None) else []
    sheet += [params.protocol] if getattr(params, "protocol", None) else []
    for p in [*params.counts, params.samples, *files, *getattr(params, "panels", []), *sheet]:
        key = os.path.realpath(p)
        if key not in seen and Path(p).is_file():
            seen[key] = Path(p)
    inputs = list(seen.values())
    return {
        "schema": RUN_INFO_SCHEMA,
        "command": list(argv if argv is not None else sys.argv),
        "parameters": params.to_dict(),
        "versions": versions(),
        "inputs": [
            {"path": str(p), "sha256": sha256sum(p), "bytes": Path(p).stat().st_size}
            for p in inputs
        ],
        "started": _iso(started),
        "finished": _iso(time.time()),
        "elapsed_seconds": round(time.time() - started, 3),
    }


def _output_preparations(params: CompareParams) -> list[Callable[[], object]]:
    """What writing the outputs will need, as steps :func:`analyse` runs while the DE child works.

    :func:`write_outputs` does each anyway: matplotlib's import (before forking the figure processes,
    which inherit it: ~0.2 s of CPU on this process's critical path), then the report's templates and
    assets (~0.1 s). Done while the DE still runs, they take time this process would spend waiting.
    Each step imports its module when it runs, not before the DE is forked.
    """
    steps: list[Callable[[], object]] = []
    if params.figures:
        steps.append(_prepare_figures)
    elif params.report and params.contrasts:
        steps.append(_prepare_matplotlib)
    if params.report:
        steps.append(_prepare_report)
    return steps


def _prepare_figures() -> None:
    from mscseq.report.static import warm_up

    warm_up()


def _prepare_matplotlib() -> None:
    import matplotlib.figure  # noqa: F401 - the report's DE plots draw their dense points with it


def _prepare_report() -> None:
    from mscseq.report.render import prepare

    prepare()


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t))


def _one_blas_thread():
    """BLAS on one thread for the analysis.

    The same bytes on any machine whatever its core count (a multi-threaded BLAS sums in a
    machine-dependent order), and no second thread waiting on a busy core; ``--threads`` still splits
    mscseq's own work.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def write_outputs(adata, params: CompareParams, folder: Path, *, info: dict[str, Any]) -> None:
    """Write every output file into ``folder`` (the temporary folder of an atomic write)."""
    import contextlib

    from mscseq.background import start
    from mscseq.outputs import build_summary, dump_json, write_h5ad, write_tables

    summary = build_summary(adata)
    # mscseq.h5ad (~0.7 s of CPU on a 20-product study) is written by a forked child, started first,
    # then the figures' children, beside the tables and the report (this process is the run's
    # critical path; the children finish first)
    h5ad = start(write_h5ad, adata, folder / "mscseq.h5ad")
    try:
        figures = contextlib.nullcontext()
        if params.figures:
            from mscseq.report.static import start_figures

            if params.report and params.contrasts:
                _prepare_matplotlib()  # once, before the fork, not in both processes (done if idle ran)
            figures = start_figures(adata, folder / "figures", summary=summary)
        with figures:
            write_tables(adata, folder / "tables")
            (folder / "summary.json").write_text(dump_json(summary), encoding="utf-8")
            (folder / "run_info.json").write_text(dump_json(info), encoding="utf-8")
            from mscseq.multiqc import write_multiqc

            write_multiqc(summary, folder / "multiqc")
            if params.report:
                from mscseq.report import render_report

                html = render_report(adata, summary=summary, run_info=info)
                (folder / "report.html").write_text(html, encoding="utf-8")
            h5ad.result()
    finally:
        h5ad.cancel()  # stops the child when something failed before its result was read


def run_compare(
    params: CompareParams, outdir: str | Path, *, force: bool = False, argv: list[str] | None = None
):
    """Run the whole comparison and write the output folder atomically.

    Parameters
    ----------
    params
        The run's inputs and options.
    outdir
        Output folder (refused if it exists and is not empty, unless ``force``; see
        :func:`mscseq.outputs.check_outdir` for what is never accepted).
    force
        Replace an existing mscseq output folder once the new one is complete.
    argv
        Command line to record (defaults to ``sys.argv``).

    Returns
    -------
    anndata.AnnData
        The analysed data.

    """
    from mscseq.outputs import atomic_folder, check_outdir, reserved_folder

    started = time.time()
    inputs = [*params.counts, params.samples, *params.panels]
    inputs += [params.tx2gene] if params.tx2gene else []
    inputs += [params.contrasts_file] if params.contrasts_file else []
    inputs += [params.protocol] if params.protocol else []
    # before any work: refusals, writability, and the folder's lock (a second run stops here)
    with reserved_folder(outdir, force=force, inputs=inputs) as out:
        # without --product the AnnData is built in analyse, once the DE runs beside it
        adata = load_while_importing(params, light=not params.product)
        files = list(adata.uns.get("input", {}).get("files", []))
        inputs += files
        check_outdir(outdir, force=force, inputs=inputs)  # the sheet's 'path' files are known now
        adata = collapse_step(adata, params)
        validate_design(adata, params)
        with naming_counts(params), _one_blas_thread():
            adata = analyse(adata, params, background=True, idle=_output_preparations(params))
        with atomic_folder(out, force=force, inputs=inputs, locked=True) as tmp:
            info = run_info(params, started=started, argv=argv, files=files)
            info["protocol"] = adata.uns.get("comparability", {}).get("protocol")
            write_outputs(adata, params, tmp, info=info)
    log.info("wrote %s", outdir)
    verdict = adata.uns.get("comparability", {}).get("verdict")
    if params.strict and verdict == "not_comparable":
        from mscseq.errors import NotComparableError

        reasons = "; ".join(adata.uns["comparability"].get("reasons", []))
        msg = f"{outdir}: verdict not_comparable ({reasons}); outputs were written (--strict exits with code 3)"
        raise NotComparableError(msg)
    return adata
