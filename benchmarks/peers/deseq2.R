# R DESeq2 as one whole process: read -> DESeq() -> results(contrast) -> TSV (no prefilter, as mscseq).
# Usage: Rscript benchmarks/peers/deseq2.R COUNTS SHEET DESIGN VAR,TARGET,REF OUT
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                                    value = TRUE)))), "common.R"))
suppressMessages(library(DESeq2))
p <- peer_inputs()
storage.mode(p$counts) <- "integer"
dds <- DESeqDataSetFromMatrix(p$counts, p$sheet, p$design)
dds <- DESeq(dds, quiet = TRUE)
peer_write(as.data.frame(results(dds, contrast = p$contrast)), p$out)
