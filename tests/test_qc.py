import anndata as ad
import numpy as np
import pytest

from mscseq.qc import compute_qc


def test_qc_metrics_by_hand():
    x = np.zeros((2, 150))
    x[0, :10] = 10  # 100 counts in 10 genes
    x[1, :] = 1  # 150 counts, 150 genes
    a = ad.AnnData(X=x)
    compute_qc(a)
    assert a.obs["library_size"].tolist() == [100, 150]
    assert a.obs["detected_genes"].tolist() == [10, 150]
    assert a.obs["top100_fraction"].tolist() == pytest.approx([1.0, 100 / 150])
