# One table over all datasets: verdict, numbers of products and outliers, DE counts, report path.


rule summary:
    input:
        expand(f"{OUTDIR}/{{dataset}}", dataset=sorted(DATASETS)),
    output:
        f"{OUTDIR}/summary.tsv",
    log:
        f"{OUTDIR}/logs/summary.log",
    conda:
        "../envs/mscseq.yaml"
    shell:
        "mscseq collect {input:q} --out {output:q} 2> {log:q}"
