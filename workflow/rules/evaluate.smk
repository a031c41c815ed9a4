# Stage 4: every evaluated checkpoint (step 0 = base model included) on every benchmark.
# One job per checkpoint (model loaded once), one JSON summary + one per-sample parquet per benchmark.


rule evaluate:
    input:
        model=lambda w: checkpoint_input(w.run, w.step),
        bench=expand(f"{S}/data/bench/{{bench}}.parquet", bench=BENCHES),
    output:
        summary=expand(f"{S}/eval/{{{{run}}}}/step_{{{{step}}}}/{{bench}}.json", bench=BENCHES),
        samples=expand(f"{S}/eval/{{{{run}}}}/step_{{{{step}}}}/{{bench}}.samples.parquet", bench=BENCHES),
    log:
        f"{S}/logs/evaluate/{{run}}/step_{{step}}.log",
    benchmark:
        f"{S}/benchmarks/evaluate/{{run}}/step_{{step}}.tsv"
    priority: chain_priority("run", chain=False)
    conda:
        "../../envs/verl-gpu.yaml" if config["evaluation"]["engine"] == "vllm" else "../../envs/cpu.yaml"
    threads: 1
    resources:
        **resources_for("evaluate", "run"),
    params:
        cfg=as_json(EVAL_PARAMS),
        out_dir=lambda w: f"{S}/eval/{w.run}/step_{w.step}",
        model=lambda w: checkpoint(w.run, w.step),
    shell:
        "$RLSCALING_CMD evaluate --model {params.model} --bench {input.bench} --params-json {params.cfg:q}"
        " --threads {threads} --out-dir {params.out_dir} --step {wildcards.step} > {log} 2>&1"
