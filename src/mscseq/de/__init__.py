"""Differential expression: designs, contrasts and DESeq2 fits."""

from mscseq.de.design import Contrast, build_design, contrast_vector
from mscseq.de.run import DE_COLUMNS, differential_expression, run_de

__all__ = [
    "DE_COLUMNS",
    "Contrast",
    "build_design",
    "contrast_vector",
    "differential_expression",
    "run_de",
]
