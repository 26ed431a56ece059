# edgeR quasi-likelihood F-test as one whole process:
#   read -> DGEList -> filterByExpr -> TMM -> estimateDisp -> glmQLFit -> glmQLFTest -> topTags -> TSV
# Usage: Rscript benchmarks/peers/edger_ql.R COUNTS SHEET DESIGN VAR,TARGET,REF OUT
source(file.path(dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE),
                                                                    value = TRUE)))), "common.R"))
suppressMessages(library(edgeR))
p <- peer_inputs()
mm <- model.matrix(p$design, p$sheet)
y <- DGEList(p$counts)
y <- y[filterByExpr(y, mm), , keep.lib.sizes = FALSE]
y <- estimateDisp(calcNormFactors(y), mm)
res <- glmQLFTest(glmQLFit(y, mm), coef = p$coef)
peer_write(topTags(res, n = Inf, sort.by = "none")$table, p$out)
