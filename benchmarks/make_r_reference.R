# R DESeq2 references for mscseq's engine tests (run once where R + DESeq2 are installed):
#   Rscript benchmarks/make_r_reference.R ../shared/data benchmarks/reference
# Writes small gzipped TSVs (8 significant digits, NA as NA). DESeq2 1.38.3 / R 4.2.2 (Debian).
suppressMessages(library(DESeq2))
args <- commandArgs(TRUE)
D <- if (length(args) >= 1) args[1] else "../shared/data"
OUT <- if (length(args) >= 2) args[2] else "benchmarks/reference"
fmt <- function(df) { for (c in names(df)) if (is.numeric(df[[c]])) df[[c]] <- signif(df[[c]], 8); df }
save <- function(df, name) write.table(fmt(df), gzfile(file.path(OUT, name)), sep = "\t", quote = FALSE, row.names = FALSE)

## 1. multi-donor MSC data: gingival fibroblast-derived MSC (gf), ~ donor + condition
msc <- file.path(D, "msc_six_sources_osteogenic_kuchur_lobov")
st <- read.delim(file.path(msc, "samples_derived_from_column_names.tsv"))
st <- st[st$file == "gf_transcriptomes_total.csv.gz", ]
cts <- as.matrix(read.csv(gzfile(file.path(msc, "gf_transcriptomes_total.csv.gz")), row.names = 1, check.names = FALSE))
cts <- cts[, st$sample]
st$donor <- factor(st$donor_id); st$condition <- factor(st$condition)
rownames(st) <- st$sample
dds <- DESeq(DESeqDataSetFromMatrix(cts, st, ~ donor + condition), quiet = TRUE)
con <- c("condition", "48h.dif", "48h.undif")          # neither level is the reference
r <- results(dds, contrast = con)
eq <- results(dds, contrast = con, lfcThreshold = 1, altHypothesis = "lessAbs")
gt <- results(dds, contrast = con, lfcThreshold = 0.5, altHypothesis = "greater")
lrt <- results(DESeq(dds, test = "LRT", reduced = ~ donor, quiet = TRUE))
save(data.frame(gene = rownames(r), as.data.frame(r), dispersion = mcols(dds)$dispersion,
                eq_pvalue = eq$pvalue, eq_padj = eq$padj, gt_pvalue = gt$pvalue, gt_padj = gt$padj,
                lrt_stat = lrt$stat, lrt_pvalue = lrt$pvalue, lrt_padj = lrt$padj), "msc_gf.results.tsv.gz")

## 2. simulated 2 x 8 design with injected outliers (exercises Cook's replacement and refit)
set.seed(42)
n <- 16; g <- 1500
cond <- factor(rep(c("A", "B"), each = 8))
mu <- rexp(g, 1 / 200) + 1
lfc <- ifelse(runif(g) < 0.15, rnorm(g, 0, 1.5), 0)
disp <- 0.02 + 2 / mu
sf <- exp(rnorm(n, 0, 0.3))
m <- outer(mu, sf) * 2^(outer(lfc, as.numeric(cond == "B")))
y <- matrix(rnbinom(g * n, mu = m, size = 1 / disp), g, n)
out <- sample(g * n, 60); y[out] <- y[out] * 20 + 50
rownames(y) <- sprintf("g%04d", seq_len(g)); colnames(y) <- sprintf("s%02d", seq_len(n))
write.table(data.frame(gene = rownames(y), y), gzfile(file.path(OUT, "sim_outliers.counts.tsv.gz")), sep = "\t", quote = FALSE, row.names = FALSE)
dds <- DESeq(DESeqDataSetFromMatrix(y, data.frame(cond = cond), ~ cond), quiet = TRUE)
r <- results(dds, contrast = c("cond", "B", "A"))
save(data.frame(gene = rownames(r), as.data.frame(r), dispersion = mcols(dds)$dispersion,
                replace = mcols(dds)$replace, maxCooks = mcols(dds)$maxCooks), "sim_outliers.results.tsv.gz")

## 3. two more MSC tissues (fat: parametric trend; ob: R falls back to locfit), ~ donor + condition, same
##    tests as gf; only genes with baseMean >= 10
##    are kept (what the agreement figures use) to keep the file small
for (tissue in c("fat", "ob")) {
  f <- paste0(tissue, "_transcriptomes_total.csv.gz")
  st <- read.delim(file.path(msc, "samples_derived_from_column_names.tsv"))
  st <- st[st$file == f, ]
  cts <- as.matrix(read.csv(gzfile(file.path(msc, f)), row.names = 1, check.names = FALSE))[, st$sample]
  st$donor <- factor(st$donor_id); st$condition <- factor(st$condition); rownames(st) <- st$sample
  dds <- DESeq(DESeqDataSetFromMatrix(cts, st, ~ donor + condition), quiet = TRUE)
  cat(tissue, "trend:", attr(dispersionFunction(dds), "fitType"), "\n")
  r <- results(dds, contrast = con)
  eq <- results(dds, contrast = con, lfcThreshold = 1, altHypothesis = "lessAbs")
  lrt <- results(DESeq(dds, test = "LRT", reduced = ~ donor, quiet = TRUE))
  out <- data.frame(gene = rownames(r), baseMean = r$baseMean, pvalue = r$pvalue, padj = r$padj,
                    dispersion = mcols(dds)$dispersion, eq_pvalue = eq$pvalue, eq_padj = eq$padj,
                    lrt_pvalue = lrt$pvalue, lrt_padj = lrt$padj)
  save(out[!is.na(out$baseMean) & out$baseMean >= 10, ], paste0("msc_", tissue, ".results.tsv.gz"))
}

## 4. R's locfit fallback on small synthetic data: the trend (locfit at and beyond the data) and a blind
##    vst() whose parametric trend fails (dispersion growing with the mean), transformed numerically
suppressMessages(library(locfit))
set.seed(11)
lm <- rnorm(400, 5, 2.5); ld <- log(0.05 + 2 / exp(lm)) + rnorm(400, 0, 0.8)
fit <- locfit(logDisps ~ logMeans, data = data.frame(logDisps = ld, logMeans = lm), weights = exp(lm))
at <- seq(min(lm) - 1, max(lm) + 1, length.out = 200)
save(data.frame(x = lm, y = ld), "locfit_synthetic.data.tsv.gz")
save(data.frame(at = at, fit = predict(fit, data.frame(logMeans = at))), "locfit_synthetic.predict.tsv.gz")
set.seed(7)
g <- 1200; n <- 6
mu <- exp(runif(g, log(3), log(20000)))
sf <- exp(rnorm(n, 0, 0.2))
y <- matrix(rnbinom(g * n, mu = outer(mu, sf), size = 1 / (2e-4 * mu^0.7)), g, n)
rownames(y) <- sprintf("g%04d", seq_len(g)); colnames(y) <- sprintf("s%d", seq_len(n))
write.table(data.frame(gene = rownames(y), y), gzfile(file.path(OUT, "vst_local.counts.tsv.gz")), sep = "\t", quote = FALSE, row.names = FALSE)
v <- vst(DESeqDataSetFromMatrix(y, data.frame(row.names = colnames(y)), ~ 1), blind = TRUE)
save(data.frame(gene = rownames(y), assay(v)), "vst_local.vst.tsv.gz")
cat("done\n")
