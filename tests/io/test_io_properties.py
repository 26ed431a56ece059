"""Property-based tests (Hypothesis) for the readers and the sheet join."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mscseq.errors import MscseqError
from mscseq.io import load_dataset, read_counts
from mscseq.io.dataset import to_anndata
from mscseq.io.table import CountTable

SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# Names as users write them: letters, digits, '.', '_', '-' (no delimiters, no leading/trailing space).
name = st.text(
    alphabet=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0123456789._-"),
    min_size=1,
    max_size=12,
).filter(
    lambda s: (
        s.strip() == s and s not in {"NA", "nan", "NaN", "na", "null", "NULL", "None", "-", "N/A"}
    )
)


@st.composite
def count_matrix(draw):
    n_samples = draw(st.integers(1, 6))
    n_genes = draw(st.integers(1, 30))
    samples = draw(st.lists(name, min_size=n_samples, max_size=n_samples, unique=True))
    genes = draw(
        st.lists(name.map(lambda s: "g" + s), min_size=n_genes, max_size=n_genes, unique=True)
    )
    values = draw(
        st.lists(
            st.lists(st.integers(0, 10**9), min_size=n_samples, max_size=n_samples),
            min_size=n_genes,
            max_size=n_genes,
        )
    )
    return genes, samples, np.array(values, dtype=np.float64)


def _write(path: Path, genes, samples, values, sep: str, compress: bool) -> Path:
    lines = [sep.join(["gene_id", *samples])]
    lines += [
        sep.join([g, *(str(int(v)) for v in row)]) for g, row in zip(genes, values, strict=True)
    ]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@SETTINGS
@given(m=count_matrix(), sep=st.sampled_from(["\t", ","]), compress=st.booleans())
def test_matrix_round_trip(m, sep, compress):
    genes, samples, values = m
    with tempfile.TemporaryDirectory() as d:
        p = _write(Path(d) / "m.txt", genes, samples, values, sep, compress)
        t = read_counts(p, keep_gene_version=True)
    assert list(t.counts.columns) == samples
    assert list(t.counts.index) == genes
    np.testing.assert_array_equal(t.counts.to_numpy(), values)


@SETTINGS
@given(m=count_matrix(), data=st.data())
def test_one_bad_cell_is_named(m, data):
    """Any single bad value is reported with its exact line and column."""
    genes, samples, values = m
    r = data.draw(st.integers(0, len(genes) - 1))
    c = data.draw(st.integers(0, len(samples) - 1))
    bad, expect = data.draw(
        st.sampled_from(
            [
                ("-1", "negative count"),
                ("x1", "is not a number"),
                ("", "missing value"),
                ("2.5", "non-integer"),
            ]
        )
    )
    cells = [[str(int(v)) for v in row] for row in values]
    cells[r][c] = bad
    text = "\t".join(["gene_id", *samples]) + "\n"
    text += "".join("\t".join([g, *row]) + "\n" for g, row in zip(genes, cells, strict=True))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.tsv"
        p.write_text(text)
        try:
            read_counts(p)
        except MscseqError as exc:
            msg = str(exc)
        else:
            raise AssertionError("bad value accepted")
    assert msg.startswith(f"{p}, line {r + 2}, column '{samples[c]}': ")
    assert expect in msg


@SETTINGS
@given(
    genes=st.lists(name, min_size=1, max_size=20, unique=True),
    counts=st.data(),
    special=st.lists(
        st.sampled_from(
            [
                "__no_feature",
                "__ambiguous",
                "__too_low_aQual",
                "__not_aligned",
                "__alignment_not_unique",
            ]
        ),
        unique=True,
    ),
)
def test_htseq_round_trip(genes, counts, special):
    genes = ["G" + g for g in genes]
    vals = counts.draw(st.lists(st.integers(0, 10**7), min_size=len(genes), max_size=len(genes)))
    qc = counts.draw(st.lists(st.integers(0, 10**7), min_size=len(special), max_size=len(special)))
    text = "".join(f"{g}\t{v}\n" for g, v in zip(genes, vals, strict=True)) + "".join(
        f"{s}\t{v}\n" for s, v in zip(special, qc, strict=True)
    )
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "s.txt"
        p.write_text(text)
        t = read_counts(p, sample="S", keep_gene_version=True)
    assert list(t.counts.index) == genes
    assert t.counts["S"].tolist() == vals
    for s, v in zip(special, qc, strict=True):
        assert t.qc.loc["S", f"htseq{s[1:]}"] == v


@st.composite
def sheet_and_counts(draw):
    count_samples = draw(st.lists(name, min_size=1, max_size=8, unique=True))
    listed = draw(
        st.lists(
            st.sampled_from(count_samples), min_size=1, max_size=len(count_samples), unique=True
        )
    )
    order = draw(st.permutations(listed))
    return count_samples, list(order)


@SETTINGS
@given(sc=sheet_and_counts())
def test_sheet_join_follows_the_sheet(sc):
    """obs follows the sheet's order; each row of X is the count column of that sample's name."""
    count_samples, sheet_samples = sc
    values = np.arange(3 * len(count_samples), dtype=np.float64).reshape(3, len(count_samples))
    counts = pd.DataFrame(
        values, index=pd.Index(["g1", "g2", "g3"], name="gene_id"), columns=count_samples
    )
    sheet = pd.DataFrame(
        {"group": ["a"] * len(sheet_samples)}, index=pd.Index(sheet_samples, name="sample")
    )
    adata = to_anndata(CountTable(counts=counts, source=Path("c.tsv")), sheet)
    assert list(adata.obs_names) == sheet_samples
    for i, s in enumerate(sheet_samples):
        np.testing.assert_array_equal(adata.X[i], counts[s].to_numpy())
    assert sorted(adata.uns["input"]["samples_left_out"]) == sorted(
        set(count_samples) - set(sheet_samples)
    )


@SETTINGS
@given(sc=sheet_and_counts(), extra=name)
def test_sheet_sample_not_in_counts_fails(sc, extra):
    count_samples, sheet_samples = sc
    if extra in count_samples:
        return
    with tempfile.TemporaryDirectory() as d:
        c = _write(
            Path(d) / "c.tsv", ["g1"], count_samples, np.ones((1, len(count_samples))), "\t", False
        )
        s = Path(d) / "s.tsv"
        s.write_text("sample\tgroup\n" + "".join(f"{x}\ta\n" for x in [*sheet_samples, extra]))
        try:
            load_dataset([c], s)
        except MscseqError as exc:
            assert str(exc).startswith(
                f"{s}: 1 sample(s) in the sheet are not in the count files: '{extra}'"
            )
        else:
            raise AssertionError("missing sample accepted")


@st.composite
def quants(draw):
    n_tx = draw(st.integers(1, 25))
    n_samples = draw(st.integers(1, 3))
    genes = draw(st.lists(st.sampled_from(["GA", "GB", "GC", "GD"]), min_size=n_tx, max_size=n_tx))
    counts = draw(
        st.lists(
            st.lists(st.integers(0, 10**6), min_size=n_tx, max_size=n_tx),
            min_size=n_samples,
            max_size=n_samples,
        )
    )
    tpm = draw(
        st.lists(
            st.lists(st.sampled_from([0.0, 0.5, 3.0, 100.0]), min_size=n_tx, max_size=n_tx),
            min_size=n_samples,
            max_size=n_samples,
        )
    )
    length = draw(
        st.lists(
            st.lists(st.floats(10, 1e4), min_size=n_tx, max_size=n_tx),
            min_size=n_samples,
            max_size=n_samples,
        )
    )
    return genes, np.array(counts, float), np.array(tpm), np.array(length)


@SETTINGS
@given(q=quants())
def test_tximport_summary_properties(q):
    """Counts are conserved; a gene's length lies within its transcripts' lengths; no gaps or NaNs."""
    from mscseq.io.tximport import Quant, summarize_to_gene

    genes, counts, tpm, length = q
    ids = np.array([f"T{i}" for i in range(len(genes))], dtype=object)
    tx2gene = pd.DataFrame(
        {"gene_id": genes, "gene_name": ""}, index=pd.Index(ids, name="transcript_id")
    )
    qs = [
        Quant(
            path=Path(f"s{j}/quant.sf"),
            sample=f"s{j}",
            format="salmon",
            level="transcript",
            ids=ids,
            counts=counts[j],
            abundance=tpm[j],
            length=length[j],
        )
        for j in range(len(counts))
    ]
    t = summarize_to_gene(qs, tx2gene=tx2gene, tx2gene_path="t2g")
    np.testing.assert_allclose(t.counts.sum(axis=0).to_numpy(), counts.sum(axis=1))
    assert np.isfinite(t.lengths.to_numpy()).all()
    g = np.array(genes)
    for j in range(len(counts)):
        for gene in t.counts.index:
            mine = g == gene
            lo, hi = length[:, mine].min(), length[:, mine].max()
            assert lo * (1 - 1e-9) <= t.lengths.loc[gene, f"s{j}"] <= hi * (1 + 1e-9)
