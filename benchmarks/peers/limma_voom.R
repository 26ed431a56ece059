# limma-voom, the standard edgeR/limma workflow, as one whole process:
#   read -> DGEList -> filterByExpr -> TMM -> voom -> lmFit -> eBayes -> topTable (all genes) -> TSV
# Usage: Rscript benchmarks/peers/limma_voom.R COUNTS SHEET DESIGN VAR,TARGET,REF OUT
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                                    value = TRUE)))), "common.R"))
suppressMessages({library(limma); library(edgeR)})
p <- peer_inputs()
mm <- model.matrix(p$design, p$sheet)
y <- DGEList(p$counts)
y <- y[filterByExpr(y, mm), , keep.lib.sizes = FALSE]
y <- calcNormFactors(y)
fit <- eBayes(lmFit(voom(y, mm), mm))
peer_write(topTable(fit, coef = p$coef, number = Inf, sort.by = "none"), p$out)
