# Stages 5-6: the tidy curves table, then one job per scaling-law fit {law}__{x}__{scenario}.

EVAL_FILES = [
    f"{S}/eval/{run}/step_{step:06d}/{bench}.json"
    for run in RUNS
    for step in rc.eval_steps(config)
    for bench in BENCHES
]


rule curves:
    input:
        evals=EVAL_FILES,
        metrics=expand(f"{S}/runs/{{run}}/metrics.jsonl", run=RUNS),
        pretrain=expand(f"{S}/models/{{size}}/pretrain.json", size=SIZES) if TINY else [],
    output:
        f"{S}/curves.parquet",
    params:
        cfg=as_json({"study": config["study"], "models": config["models"], "sweep": config.get("sweep", {}),
                     "runs": {r.name: {"size": r.size, "variant": r.variant} for r in RUNS.values()},
                     "eval_steps": rc.eval_steps(config), "benchmarks": BENCHES}),
    conda:
        "../../envs/analysis.yaml"
    log:
        f"{S}/logs/curves.log",
    benchmark:
        f"{S}/benchmarks/curves.tsv"
    shell:
        "{RLSCALING} curves build --study-dir {S} --params-json {params.cfg:q} -o {output} > {log} 2>&1"


def fit_args(w):
    law, x, scenario = w.fit.split("__")
    f = config["fit"]
    args = [f"--law {law}", f"--x {x}", f"--scenario {scenario}", f"--where bench={f['bench']}",
            f"--bootstrap {f['bootstrap']}", f"--seed {config['seed']}", f"--min-step {f['min_step']}"]
    # grouping, never pooling: `rlscaling fit` refuses curves of one size that differ in a column,
    # so a sweep (reward, rollout_n, ...; seeds are replicates) is fitted on its first value
    for key, values in (config.get("sweep") or {}).items():
        if key != "seed" and len(values) > 1:
            args.append(f"--where {key}={values[0]}")
    if f["objective"] != "default":
        args.append(f"--objective {f['objective']}")
    if scenario == "intra" and f["fit_steps"]:
        args.append(f"--fit-steps {f['fit_steps']}")
    if scenario == "inter":
        held = f["holdout_N"] or [list(SIZES)[-1]]
        args.append("--holdout-size " + " ".join(held))
        if f.get("anchor_points", 0) and law in ("paper", "paper-parametric"):
            args.append(f"--anchor-points {f['anchor_points']}")
    return " ".join(args)


rule fit:
    input:
        f"{S}/curves.parquet",
    output:
        f"{S}/fits/{{fit}}.json",
    params:
        args=fit_args,
    conda:
        "../../envs/analysis.yaml"
    log:
        f"{S}/logs/fit/{{fit}}.log",
    benchmark:
        f"{S}/benchmarks/fit/{{fit}}.tsv"
    shell:
        "{RLSCALING} fit {input} -o {output} {params.args} > {log} 2>&1"
