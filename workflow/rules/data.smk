# Stage 1: train / held-out / benchmark parquet files in verl's RL schema (+ the synthetic
# pre-training corpus). One job: the splits must be made together so no problem is in two of them.

DATA_OUTPUTS = {
    "train": f"{S}/data/train.parquet",
    "heldout": f"{S}/data/heldout.parquet",
    "report": f"{S}/data/report.json",
}


rule data:
    output:
        **DATA_OUTPUTS,
        bench=expand(f"{S}/data/bench/{{bench}}.parquet", bench=BENCHES),
        reuse=REUSE_FILES,
        corpus=[CORPUS] if config["data"]["source"] == "synthetic" else [],
    log:
        f"{S}/logs/data.log",
    benchmark:
        f"{S}/benchmarks/data.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        **resources_for("light"),
    params:
        cfg=as_json(
            {
                "data": {**config["data"], "reuse_taus": REUSE_TAUS},
                "benchmarks": {b: config["benchmarks"][b] for b in BENCHES},
                "seed": config["seed"],
                "rewards": sorted({r.training["reward"] for r in RUNS.values()}),
            }
        ),
        out_dir=lambda w, output: os.path.dirname(output.train),
    shell:
        "$RLSCALING_CMD data --params-json {params.cfg:q} --out-dir {params.out_dir} > {log} 2>&1"


rule prompt_lengths:
    """A run's train file measured in tokens with its tokenizer's chat template; refused when the run's
    max_prompt_tokens would cut a prompt. The run's first segment waits for it; its params are the run's
    check only, so a change to one run's limit reruns that run's check alone."""
    input:
        train=lambda w: train_file(RUNS[w.run].training["reuse_tau"]),
        tokenizer=[f"{S}/models/tokenizer"] if TINY else [],
    output:
        PROMPT_LENGTHS,
    log:
        f"{S}/logs/prompt_lengths/{{run}}.log",
    benchmark:
        f"{S}/benchmarks/prompt_lengths/{{run}}.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        **resources_for("light"),
    params:
        cfg=lambda w: as_json({"checks": [prompt_length_check(w.run)]}),
    shell:
        "$RLSCALING_CMD prompt-lengths --params-json {params.cfg:q} -o {output} > {log} 2>&1"
