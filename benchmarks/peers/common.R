# Shared input handling of the peer scripts (sourced by limma_voom.R, edger_ql.R, deseq2.R).
# Arguments of every peer script: COUNTS SHEET DESIGN CONTRAST OUT
#   COUNTS   genes x samples TSV (optionally .gz): first column gene ID, one column per sample
#   SHEET    sample sheet TSV with a 'sample' column and the design's columns
#   DESIGN   formula over sheet columns, e.g. "~ cell + dex"
#   CONTRAST VARIABLE,TARGET,REFERENCE (log2 fold change = target over reference)
#   OUT      results table (TSV) to write
peer_inputs <- function() {
  a <- commandArgs(TRUE)
  if (length(a) != 5) stop("usage: Rscript <peer>.R COUNTS SHEET DESIGN VAR,TARGET,REF OUT")
  con <- strsplit(a[4], ",", fixed = TRUE)[[1]]
  hc <- gzfile(a[1])  # gzfile reads plain and gzip files alike
  header <- strsplit(readLines(hc, n = 1), "\t", fixed = TRUE)[[1]]
  close(hc)
  # typed columns: base R's fastest reader without extra packages
  cts <- read.delim(gzfile(a[1]), colClasses = c("character", rep("numeric", length(header) - 1)),
                    check.names = FALSE)
  genes <- cts[[1]]
  cts <- as.matrix(cts[, -1, drop = FALSE])
  rownames(cts) <- genes
  sheet <- read.delim(a[2], check.names = FALSE, stringsAsFactors = FALSE)
  rownames(sheet) <- sheet$sample
  sheet <- sheet[colnames(cts), , drop = FALSE]
  for (v in names(sheet)) if (is.character(sheet[[v]]) && v != "sample") sheet[[v]] <- factor(sheet[[v]])
  sheet[[con[1]]] <- relevel(factor(sheet[[con[1]]]), con[3])
  list(counts = cts, sheet = sheet, design = as.formula(a[3]), contrast = con,
       coef = paste0(con[1], con[2]), out = a[5])
}

peer_write <- function(table, out) {
  write.table(data.frame(gene_id = rownames(table), table, check.names = FALSE), out,
              sep = "\t", quote = FALSE, row.names = FALSE)
}
