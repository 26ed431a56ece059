"""Differential expression: designs, contrasts, one DESeq2 fit per design and its tests."""

from mscseq.de.design import Contrast, build_design, contrast_vector
from mscseq.de.model import Fit, contrast_test, fit_model, lrt_test
from mscseq.de.run import DE_COLUMNS, differential_expression, run_de

__all__ = [
    "DE_COLUMNS",
    "Contrast",
    "Fit",
    "build_design",
    "contrast_test",
    "contrast_vector",
    "differential_expression",
    "fit_model",
    "lrt_test",
    "run_de",
]
