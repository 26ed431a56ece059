# One `mscseq compare` run per dataset, into OUTDIR/<dataset>/ (written atomically by mscseq itself).


rule compare:
    input:
        counts=dataset_counts,
        samples=dataset_samples,
        protocol=dataset_protocol,
    output:
        directory(f"{OUTDIR}/{{dataset}}"),
    params:
        args=compare_args,
    log:
        f"{OUTDIR}/logs/compare/{{dataset}}.log",
    benchmark:
        f"{OUTDIR}/benchmarks/compare/{{dataset}}.tsv"
    threads: config["threads"]
    resources:
        mem_mb=lambda wildcards, attempt: config["resources"]["mem_mb"] * attempt,
        runtime=lambda wildcards, attempt: config["resources"]["runtime"] * attempt,
    conda:
        "../envs/mscseq.yaml"
    shell:
        "mscseq compare {input.counts:q} --samples {input.samples:q} --outdir {output:q} --force"
        " --threads {threads} {params.args} 2> {log:q}"
