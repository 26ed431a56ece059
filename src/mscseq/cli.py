"""Command-line interface: parse options, call the library, map errors to exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from mscseq import __version__
from mscseq.errors import MscseqError, printable
from mscseq.options import ComparabilityOptions, DEOptions

app = typer.Typer(
    name="mscseq",
    help="Do donor-derived MSC products share a transcriptomic profile, and where do they differ?",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

#: Help panels of ``compare`` and ``de`` (Typer's ``rich_help_panel``).
INPUTS, DESIGN_DE, COMPARABILITY, OUTPUT_RUN = (
    "Inputs",
    "Design and DE",
    "Comparability",
    "Output and run",
)


#: Largest value of integer options that are stored in mscseq.h5ad (a signed 64-bit integer).
MAX_INT64 = 2**63 - 1


class Engine(str, Enum):
    """DESeq2 engines."""

    mscseq = "mscseq"
    pydeseq2 = "pydeseq2"


class AltHypothesis(str, Enum):
    """Alternative hypotheses of the threshold test (R ``results(altHypothesis=)``)."""

    greaterAbs = "greaterAbs"
    lessAbs = "lessAbs"
    greater = "greater"
    less = "less"


class Test(str, Enum):
    """DESeq2 tests."""

    wald = "wald"
    lrt = "lrt"


class SizeFactors(str, Enum):
    """Size-factor types (R ``estimateSizeFactors(type=)``)."""

    ratio = "ratio"
    poscounts = "poscounts"
    iterate = "iterate"


class FitType(str, Enum):
    """Dispersion trends (R ``fitType``)."""

    parametric = "parametric"
    local = "local"
    mean = "mean"


class Shrink(str, Enum):
    """Log fold-change shrinkage estimators (R ``lfcShrink(type=)``)."""

    normal = "normal"
    apeglm = "apeglm"


# the defaults of DEOptions as the CLI's choices
DEFAULT_ENGINE = Engine(DEOptions.engine)
DEFAULT_ALT_HYPOTHESIS = AltHypothesis(DEOptions.alt_hypothesis)
DEFAULT_TEST = Test(DEOptions.test)
DEFAULT_SIZE_FACTORS = SizeFactors(DEOptions.size_factors)
DEFAULT_FIT_TYPE = FitType(DEOptions.fit_type)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mscseq {__version__}")
        raise typer.Exit()


SamplesOpt = Annotated[
    Path,
    typer.Option(
        "--samples",
        "-s",
        metavar="SHEET",
        help="Sample sheet (CSV/TSV) with a 'sample' column.",
        show_default=False,
    ),
]
DesignOpt = Annotated[
    str,
    typer.Option(
        "--design",
        "-d",
        metavar="FORMULA",
        help="Design formula over sheet columns, e.g. '~ donor + condition'.",
    ),
]
ContrastOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--contrast",
        "-c",
        metavar="VAR,TARGET,REF",
        help="VARIABLE,TARGET,REFERENCE (log2 fold change = target over reference), or VARIABLE alone "
        "for a numeric column (log2 fold change per unit, R's results(name=)). Repeatable.",
    ),
]
ContrastsFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--contrasts",
        metavar="FILE",
        help="Contrasts sheet of nf-core/differentialabundance: CSV (variable,reference,target[,blocking][,id]) "
        "or YAML (contrasts: id, comparison, blocking_factors); blocking variables join the design.",
        show_default=False,
    ),
]
SizeFactorsOpt = Annotated[
    SizeFactors,
    typer.Option(
        "--size-factors",
        help="Size factors of DE, normalisation and VST (R's estimateSizeFactors(type=)): ratio "
        "(median of ratios), poscounts (for sparse data, every gene zero somewhere) or iterate.",
    ),
]
FitTypeOpt = Annotated[
    FitType,
    typer.Option(
        "--fit-type",
        help="Dispersion trend of DE and VST (R's fitType): parametric (falls back to local as R does), local or mean.",
    ),
]
ShrinkOpt = Annotated[
    Shrink | None,
    typer.Option(
        "--shrink",
        help="Add shrunken log2 fold changes (log2FoldChange_shrunk, lfcSE_shrunk; R's lfcShrink(type=)) "
        "to the DE tables; the unshrunken columns and the test stay.",
        show_default=False,
    ),
]
AlphaOpt = Annotated[
    float,
    typer.Option(
        "--alpha",
        metavar="FDR",
        min=0.0,
        max=1.0,
        help="FDR level for independent filtering and DE counts.",
    ),
]
ThreadsOpt = Annotated[
    int, typer.Option("--threads", "-t", metavar="N", min=1, help="Worker threads.")
]
EngineOpt = Annotated[
    Engine,
    typer.Option(
        "--engine",
        help="DESeq2 engine: mscseq (vectorised, matches R DESeq2) or pydeseq2 (PyDESeq2's own inference).",
    ),
]
LfcThresholdOpt = Annotated[
    float,
    typer.Option(
        "--lfc-threshold",
        metavar="LOG2FC",
        min=0.0,
        help="Test |log2 fold change| against this threshold on every contrast (R's results(lfcThreshold=)).",
    ),
]
AltHypothesisOpt = Annotated[
    AltHypothesis,
    typer.Option(
        "--alt-hypothesis",
        help="Alternative of the threshold test: greaterAbs, lessAbs (equivalence; needs --lfc-threshold > 0), greater, less.",
    ),
]
TestOpt = Annotated[
    Test,
    typer.Option(
        "--test", help="wald, or lrt (likelihood-ratio test of --design against --reduced)."
    ),
]
ReducedOpt = Annotated[
    str | None,
    typer.Option(
        "--reduced",
        metavar="FORMULA",
        help="Reduced design of --test lrt, nested in --design, e.g. '~ donor'.",
        show_default=False,
    ),
]
SampleColOpt = Annotated[
    str,
    typer.Option("--sample-column", metavar="COLUMN", help="Name of the sheet's sample column."),
]
FillOpt = Annotated[
    bool,
    typer.Option(
        "--fill-missing-zero", help="Genes missing from some count files count as 0 there."
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option("--quiet", "-q", help="Only warnings and errors on stderr (no progress display)."),
]
LogFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--log-file",
        metavar="FILE",
        dir_okay=False,
        help="Also write every message, debug included, with timestamps to this file (appended).",
        show_default=False,
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Debug messages and full tracebacks on internal errors."),
]


class Strandedness(str, Enum):
    """STAR ``ReadsPerGene.out.tab`` count columns."""

    unstranded = "unstranded"
    forward = "forward"
    reverse = "reverse"


OptCountsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="COUNTS",
        help="Count files (matrix, nf-core, featureCounts, HTSeq, STAR, Salmon, kallisto, RSEM, h5ad; format detected). "
        "Several are joined on gene ID. None: the sheet's 'path' column names them.",
        show_default=False,
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="Count file format: matrix, nfcore, featurecounts, htseq, star, salmon, kallisto, rsem, h5ad (default: detected from content).",
        show_default=False,
    ),
]
LayerOpt = Annotated[
    str | None,
    typer.Option(
        "--layer",
        metavar="LAYER",
        help=".h5ad input: the layer holding raw counts (default: 'counts' if present, else X).",
        show_default=False,
    ),
]
StrandOpt = Annotated[
    Strandedness | None,
    typer.Option(
        "--strandedness",
        help="STAR ReadsPerGene column (default: inferred from the strand sums as nf-core/rnaseq does; the choice is logged).",
        show_default=False,
    ),
]
Tx2geneOpt = Annotated[
    Path | None,
    typer.Option(
        "--tx2gene",
        metavar="FILE",
        help="Transcript-to-gene table (transcript, gene[, name]) or GTF, for Salmon/kallisto/RSEM transcripts.",
        show_default=False,
    ),
]
KeepVersionOpt = Annotated[
    bool,
    typer.Option(
        "--keep-gene-version", help="Keep Ensembl version suffixes on gene IDs (default: stripped)."
    ),
]


GroupOpt = Annotated[
    str | None,
    typer.Option(
        "--group",
        metavar="COLUMN",
        help="Sheet column whose levels are compared (processes, sites, cohorts, ...); without it, the "
        "single-group question: do all products share one profile?",
        show_default=False,
    ),
]
ProductOpt = Annotated[
    str | None,
    typer.Option(
        "--product",
        metavar="COLUMN",
        help="Sheet column naming each library's product (donor product, lot): the libraries of a product are "
        "summed before any statistic, so n counts products.",
        show_default=False,
    ),
]
ReferenceOpt = Annotated[
    str | None,
    typer.Option(
        "--reference",
        metavar="LEVEL",
        help="Reference level of --group (default: the protocol's; without one, two levels are compared "
        "symmetrically and more than two pair by pair).",
        show_default=False,
    ),
]
MarginOpt = Annotated[
    float | None,
    typer.Option(
        "--margin",
        metavar="LOG2FC",
        min=0.0,
        help="Gene margin of Tier 2, |log2 fold change|; overrides the protocol's (default 1.0 = two-fold).",
        show_default=False,
    ),
]
ProtocolOpt = Annotated[
    Path | None,
    typer.Option(
        "--protocol",
        metavar="FILE",
        help="Comparability protocol (YAML): margins, tiers, panels, thresholds, reference; recorded with its "
        "checksum (default: the shipped protocol, see docs/protocol.md).",
        show_default=False,
    ),
]
BatchOpt = Annotated[
    str | None,
    typer.Option(
        "--batch",
        metavar="COLUMN",
        help="Sequencing-batch column: adjusted for when batches bridge the groups; a group aliased with batch "
        "is never comparable.",
        show_default=False,
    ),
]
PairOpt = Annotated[
    str | None,
    typer.Option(
        "--pair",
        metavar="COLUMN",
        help="Pairing column for split-source designs (the same donor through both processes): paired tests.",
        show_default=False,
    ),
]
PanelOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--panel",
        metavar="FILE",
        help="Extra gene panel TSV (gene_id and/or symbol, panel, direction, note). Repeatable.",
        show_default=False,
    ),
]
PermutationsOpt = Annotated[
    int,
    typer.Option(
        "--permutations",
        metavar="N",
        min=0,
        max=MAX_INT64,
        help="Permutations for PERMANOVA/PERMDISP (0: none, no p-value; all labelings when fewer).",
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(
        "--seed", metavar="SEED", min=0, max=MAX_INT64, help="Seed of the permutation tests."
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Exit with code 3 when the verdict is not_comparable (after writing the outputs).",
    ),
]


class PanelCommand(TyperCommand):
    """A command whose plain (fast, no rich) ``--help`` lists its options in their help panels."""

    def format_options(self, ctx: Any, formatter: Any) -> None:
        """Arguments, then one section per ``rich_help_panel`` in order of first use."""
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            default = "Arguments" if param.param_type_name == "argument" else "Options"
            sections.setdefault(getattr(param, "rich_help_panel", None) or default, []).append(
                record
            )
        for title, rows in sections.items():
            with formatter.section(title):
                formatter.write_dl(rows)


def _in_panel(panel: str, *aliases: Any) -> None:
    for alias in aliases:
        alias.__metadata__[0].rich_help_panel = panel


_in_panel(
    INPUTS,
    OptCountsArg,
    SamplesOpt,
    SampleColOpt,
    FillOpt,
    FormatOpt,
    LayerOpt,
    StrandOpt,
    Tx2geneOpt,
    KeepVersionOpt,
)
_in_panel(
    DESIGN_DE,
    DesignOpt,
    ContrastOpt,
    ContrastsFileOpt,
    AlphaOpt,
    EngineOpt,
    LfcThresholdOpt,
    AltHypothesisOpt,
    TestOpt,
    ReducedOpt,
    SizeFactorsOpt,
    FitTypeOpt,
    ShrinkOpt,
)
_in_panel(
    COMPARABILITY,
    GroupOpt,
    ReferenceOpt,
    ProductOpt,
    ProtocolOpt,
    MarginOpt,
    BatchOpt,
    PairOpt,
    PanelOpt,
    PermutationsOpt,
    SeedOpt,
    StrictOpt,
)
_in_panel(OUTPUT_RUN, ThreadsOpt, QuietOpt, VerboseOpt, LogFileOpt)


def _guard(fn: Callable[[], Any], *, verbose: bool = False) -> Any:
    """Run a command body; print user errors as one line and exit with their code.

    Control characters in messages (which may quote file contents) are escaped (``printable``).
    An interruption (Ctrl-C, SIGTERM) exits 130 with nothing written, unless the output folder was
    already complete and in place: then it is kept and the command succeeds.
    """
    outputs = sys.modules.get("mscseq.outputs")
    if outputs is not None:
        outputs.placed_folders(clear=True)
    try:
        return fn()
    except MscseqError as exc:
        typer.echo(f"mscseq: error: {printable(exc, keep_layout=False)}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        outputs = sys.modules.get("mscseq.outputs")
        placed = outputs.placed_folders() if outputs is not None else []
        if placed:
            typer.echo(
                f"mscseq: interrupted after {printable(placed[-1], keep_layout=False)} was complete and in place; it is kept",
                err=True,
            )
            raise typer.Exit(0) from None
        typer.echo("mscseq: interrupted; no output was written", err=True)
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        first = printable(str(exc).splitlines()[0] if str(exc) else "", keep_layout=False)
        typer.echo(
            f"mscseq: internal error: {type(exc).__name__}: {first} (run with --verbose for details and report it)",
            err=True,
        )
        raise typer.Exit(1) from None


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Do donor-derived MSC products share a transcriptomic profile, and where do they differ?"""


def _contrasts(values: list[str] | None, sheet: Path | None = None):
    from mscseq.de.design import Contrast

    out = [Contrast.parse(v) for v in values or []]
    if sheet is not None:
        from mscseq.de.contrasts import read_contrasts_sheet

        out.extend(read_contrasts_sheet(sheet))
    return out


#: Command options whose CompareParams field has another name.
_RENAMED = {"contrast": "contrasts", "panel": "panels"}


def _params(values: dict[str, Any], **fixed: Any):
    """The run's :class:`~mscseq.pipeline.CompareParams` from a command's option values.

    One builder for ``compare`` and ``de``: every option named as a ``CompareParams`` field (or
    renamed in :data:`_RENAMED`) is taken, enum choices as their values; ``fixed`` overrides.
    """
    import dataclasses

    from mscseq.pipeline import CompareParams

    fields = {f.name for f in dataclasses.fields(CompareParams)}
    kw: dict[str, Any] = {}
    for name, value in values.items():
        key = _RENAMED.get(name, name)
        if key in fields:
            kw[key] = value.value if isinstance(value, Enum) else value
    kw["counts"] = list(values.get("counts") or [])
    kw["contrasts"] = _contrasts(values.get("contrast"), values.get("contrasts_file"))
    kw["panels"] = list(values.get("panel") or [])
    kw["tx2gene"] = str(kw["tx2gene"]) if kw.get("tx2gene") else None
    if kw.get("design") is None:
        designs = [c.design for c in kw["contrasts"] if c.design]
        if not designs:
            msg = "--design: give the design formula (or a --contrasts sheet, whose contrasts carry theirs)"
            raise MscseqError(msg)
        kw["design"] = designs[0]
    kw.update(fixed)
    return CompareParams(**kw)


@app.command(cls=PanelCommand)
def compare(
    counts: OptCountsArg = None,
    samples: SamplesOpt = ...,  # type: ignore[assignment]  # required (Typer: ... = no default)
    sample_column: SampleColOpt = "sample",
    fill_missing_zero: FillOpt = False,
    format: FormatOpt = None,
    layer: LayerOpt = None,
    strandedness: StrandOpt = None,
    tx2gene: Tx2geneOpt = None,
    keep_gene_version: KeepVersionOpt = False,
    design: DesignOpt = DEOptions.design,
    contrast: ContrastOpt = None,
    contrasts_file: ContrastsFileOpt = None,
    alpha: AlphaOpt = DEOptions.alpha,
    engine: EngineOpt = DEFAULT_ENGINE,
    lfc_threshold: LfcThresholdOpt = DEOptions.lfc_threshold,
    alt_hypothesis: AltHypothesisOpt = DEFAULT_ALT_HYPOTHESIS,
    test: TestOpt = DEFAULT_TEST,
    reduced: ReducedOpt = DEOptions.reduced,
    size_factors: SizeFactorsOpt = DEFAULT_SIZE_FACTORS,
    fit_type: FitTypeOpt = DEFAULT_FIT_TYPE,
    shrink: ShrinkOpt = None,
    group: GroupOpt = ComparabilityOptions.group,
    reference: ReferenceOpt = ComparabilityOptions.reference,
    product: ProductOpt = None,
    margin: MarginOpt = ComparabilityOptions.margin,
    protocol: ProtocolOpt = None,
    batch: BatchOpt = ComparabilityOptions.batch,
    pair: PairOpt = ComparabilityOptions.pair,
    panel: PanelOpt = None,
    permutations: PermutationsOpt = ComparabilityOptions.permutations,
    seed: SeedOpt = ComparabilityOptions.seed,
    strict: StrictOpt = False,
    outdir: Annotated[
        Path,
        typer.Option(
            "--outdir",
            "-o",
            metavar="DIR",
            help="Output folder (must not exist or be empty, unless --force).",
            rich_help_panel=OUTPUT_RUN,
        ),
    ] = ...,  # type: ignore[assignment]
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace an existing mscseq output folder (only once the new one is complete; never a folder holding inputs or files mscseq did not write).",
            rich_help_panel=OUTPUT_RUN,
        ),
    ] = False,
    threads: ThreadsOpt = DEOptions.threads,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Skip report.html.", rich_help_panel=OUTPUT_RUN)
    ] = False,
    figures: Annotated[
        bool,
        typer.Option(
            "--figures/--no-figures",
            help="Write figures/ (PDF and PNG: correlation clustermap, PCA, panel scores, volcano and MA per contrast).",
            rich_help_panel=OUTPUT_RUN,
        ),
    ] = True,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    log_file: LogFileOpt = None,
) -> None:
    """Compare products: QC, normalisation, PCA, correlation, DE and comparability, into OUTDIR.

    \b
    Example:
      mscseq compare counts.tsv -s samples.tsv -d '~ donor + condition' \\
        -c condition,treated,control --group site -o results

    Options are grouped below: inputs, design and DE, comparability, output and run.
    """
    from mscseq.logs import setup_logging

    _guard(lambda: setup_logging(quiet=quiet, verbose=verbose, log_file=log_file), verbose=verbose)

    values = dict(locals())

    def body() -> None:
        from mscseq.pipeline import run_compare

        params = _params(values, report=not no_report)
        run_compare(params, outdir, force=force, argv=sys.argv)

    _guard(body, verbose=verbose)


@app.command(cls=PanelCommand)
def de(
    counts: OptCountsArg = None,
    samples: SamplesOpt = ...,  # type: ignore[assignment]  # required (Typer: ... = no default)
    sample_column: SampleColOpt = "sample",
    fill_missing_zero: FillOpt = False,
    format: FormatOpt = None,
    layer: LayerOpt = None,
    strandedness: StrandOpt = None,
    tx2gene: Tx2geneOpt = None,
    keep_gene_version: KeepVersionOpt = False,
    design: Annotated[
        str | None,
        typer.Option(
            "--design",
            "-d",
            metavar="FORMULA",
            help="Design formula over sheet columns (required unless --contrasts gives it).",
            show_default=False,
            rich_help_panel=DESIGN_DE,
        ),
    ] = None,
    contrast: Annotated[
        list[str] | None,
        typer.Option(
            "--contrast",
            "-c",
            metavar="VAR,TARGET,REF",
            help="VARIABLE,TARGET,REFERENCE, or VARIABLE for a numeric column (exactly one contrast, "
            "here or in --contrasts).",
            show_default=False,
            rich_help_panel=DESIGN_DE,
        ),
    ] = None,
    contrasts_file: ContrastsFileOpt = None,
    alpha: AlphaOpt = DEOptions.alpha,
    engine: EngineOpt = DEFAULT_ENGINE,
    lfc_threshold: LfcThresholdOpt = DEOptions.lfc_threshold,
    alt_hypothesis: AltHypothesisOpt = DEFAULT_ALT_HYPOTHESIS,
    test: TestOpt = DEFAULT_TEST,
    reduced: ReducedOpt = DEOptions.reduced,
    size_factors: SizeFactorsOpt = DEFAULT_SIZE_FACTORS,
    fit_type: FitTypeOpt = DEFAULT_FIT_TYPE,
    shrink: ShrinkOpt = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Output table (TSV); '-' writes to stdout.",
            show_default=False,
            rich_help_panel=OUTPUT_RUN,
        ),
    ] = ...,  # type: ignore[assignment]
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite an existing --out file.", rich_help_panel=OUTPUT_RUN
        ),
    ] = False,
    threads: ThreadsOpt = DEOptions.threads,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    log_file: LogFileOpt = None,
) -> None:
    """Differential expression only: write one DESeq2 results table (first column gene_id)."""
    from mscseq.logs import setup_logging

    _guard(lambda: setup_logging(quiet=quiet, verbose=verbose, log_file=log_file), verbose=verbose)

    values = dict(locals())

    def body() -> None:
        from mscseq.pipeline import run_de_table

        params = _params(values, report=False)
        if len(params.contrasts) != 1:
            msg = "--contrast: 'mscseq de' writes one table; give exactly one contrast (use 'compare' for several)"
            raise MscseqError(msg)
        run_de_table(params, out, force=force)

    _guard(body, verbose=verbose)


@app.command("inspect")
def inspect_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Count files (or featureCounts .summary / STAR Log.final.out).", show_default=False
        ),
    ],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a JSON list (one object per file) on stdout.")
    ] = False,
    format: FormatOpt = None,
    layer: LayerOpt = None,
    strandedness: StrandOpt = None,
    tx2gene: Tx2geneOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Tell what count files are: format, level, features, samples, library sizes, QC lines found."""
    from mscseq.logs import setup_logging

    setup_logging(quiet=not verbose, verbose=verbose)

    def body() -> None:
        import json

        from mscseq.io.inspect import format_report, inspect_file

        infos = [
            inspect_file(
                p,
                format=format,
                tx2gene=tx2gene,
                strandedness=strandedness.value if strandedness else None,
                layer=layer,
            )
            for p in files
        ]
        typer.echo(  # JSON escapes control characters itself
            json.dumps(infos, indent=2)
            if json_output
            else printable("\n".join(format_report(i) for i in infos))
        )

    _guard(body, verbose=verbose)


@app.command()
def collect(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="'mscseq compare' output folders.", show_default=False)
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="Output table (TSV); '-' writes to stdout."),
    ] = Path("-"),
    name: Annotated[
        list[str] | None,
        typer.Option(
            "--name",
            metavar="NAME",
            help="Run name, once per folder in the same order (default: the folder names).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing --out file.")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Collect several runs' summary.json into one table: verdict, products, outliers, DE counts, report."""

    def body() -> None:
        from mscseq.batch import check_collect_out, collect_summaries, write_collected

        check_collect_out(out, run_dirs, force=force)
        rel = Path.cwd() if str(out) == "-" else out.resolve().parent
        table = collect_summaries(run_dirs, names=name or None, relative_to=rel)
        write_collected(table, out)

    _guard(body, verbose=verbose)


@app.command()
def schema() -> None:
    """Print the JSON Schema of summary.json (mscseq.summary/1) to stdout."""

    def body() -> None:
        from mscseq.schemas import schema_text

        sys.stdout.write(schema_text("summary"))

    _guard(body)


@app.command("report")
def report_cmd(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Output folder of 'mscseq compare' (with mscseq.h5ad, summary.json, run_info.json).",
            show_default=False,
        ),
    ],
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Re-render FOLDER/report.html from the folder's mscseq.h5ad, summary.json and run_info.json."""
    from mscseq.logs import setup_logging

    setup_logging(quiet=quiet, verbose=verbose)

    def body() -> None:
        from mscseq.report.folder import render_folder

        render_folder(folder)

    _guard(body, verbose=verbose)


def _on_sigterm(signum: int, frame: object) -> None:
    """Turn SIGTERM (scheduler cancel, ``kill``) into the same clean stop as Ctrl-C."""
    raise KeyboardInterrupt


def console() -> None:
    """The ``mscseq`` console script: :func:`main` without the interpreter's teardown.

    The process ends as ``python -m mscseq`` does (:mod:`mscseq.fastexit`).
    """
    from mscseq.fastexit import run_and_exit

    run_and_exit(main)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``mscseq`` command.

    Usage errors (unknown or missing options, values out of range) are printed as one line,
    ``mscseq: error: ...``, with exit code 2, like every other user error.

    Parameters
    ----------
    argv
        Arguments (default: ``sys.argv[1:]``).

    """
    import signal

    try:
        from typer._click import exceptions as click_errors  # typer >= 0.26 vendors click
    except ImportError:  # pragma: no cover - older typer
        from click import exceptions as click_errors

    no_args = getattr(click_errors, "NoArgsIsHelpError", ())  # click >= 8.2
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(args=argv, standalone_mode=False)
    except no_args as exc:
        exc.show()  # bare 'mscseq' or a bare group: the help text
        sys.exit(exc.exit_code)
    except click_errors.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        text = printable(" ".join(exc.format_message().split()), keep_layout=False)
        typer.echo(f"mscseq: error: {text}{hint}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("mscseq: interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
