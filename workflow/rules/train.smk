# Stage 3: GRPO in resumable segments. step_{k} is trained from the checkpoint before it (k - seg, or an
# evaluation.extra_steps step; step 0 = the base model), carrying optimizer, scheduler, RNG and data
# position, so segments of any length equal one long run.
# Raising training.total_steps adds segments and reuses every earlier one (total_steps is not a param).


rule train_segment:
    input:
        init=previous_checkpoint,
        data=lambda w: train_file(RUNS[w.run].training["reuse_tau"]),
        prompt_lengths=prompt_lengths_input,
    output:
        directory(f"{S}/runs/{{run}}/step_{{step}}"),
    log:
        f"{S}/logs/train/{{run}}/step_{{step}}.log",
    benchmark:
        f"{S}/benchmarks/train/{{run}}/step_{{step}}.tsv"
    priority: chain_priority("run")
    conda:
        "../../envs/verl-gpu.yaml" if config["training"]["engine"] == "verl" else "../../envs/cpu.yaml"
    threads: 1
    resources:
        **resources_for("train", "run"),
    params:
        cfg=lambda w: as_json(segment_params(w.run, w.step)),
        init=lambda w: checkpoint(w.run, rc.previous_checkpoint_step(config, int(w.step))),
    shell:
        "$RLSCALING_CMD train --params-json {params.cfg:q} --init {params.init} --data {input.data}"
        " --step {wildcards.step} --threads {threads} --out {output} > {log} 2>&1"


rule run_metrics:
    """Per-step metrics of a whole run (one JSONL, the segments' metrics.jsonl concatenated), each step
    with its training-health flags (`health`)."""
    input:
        lambda w: [step_dir(w.run, s) for s in rc.checkpoint_steps(config) if s > 0],
    output:
        f"{S}/runs/{{run}}/metrics.jsonl",
    log:
        f"{S}/logs/run_metrics/{{run}}.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        health=as_json(config["training"]["health"]),
    shell:
        "$RLSCALING_CMD curves metrics {input} --health-json {params.health:q} -o {output} > {log} 2>&1"
