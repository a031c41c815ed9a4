# Stages 5-6: the tidy curves table, then one job per scaling-law fit {law}__{x}__{scenario}.


rule curves:
    input:
        evals=EVAL_FILES,
        metrics=expand(f"{S}/runs/{{run}}/metrics.jsonl", run=RUNS),
        pretrain=pretrain_records(),
    output:
        f"{S}/curves.parquet",
    log:
        f"{S}/logs/curves.log",
    benchmark:
        f"{S}/benchmarks/curves.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        study_dir=lambda w, output: os.path.dirname(output[0]),
        cfg=as_json(
            {
                "study": config["study"],
                "models": config["models"],
                "sweep": config.get("sweep", {}),
                "runs": curve_runs(),
                "eval_steps": rc.eval_steps(config),
                "benchmarks": BENCHES,
            }
        ),
    shell:
        "$RLSCALING_CMD curves build --study-dir {params.study_dir} --params-json {params.cfg:q} -o {output} > {log} 2>&1"


rule fit:
    input:
        f"{S}/curves.parquet",
    output:
        f"{S}/fits/{{fit}}.json",
    log:
        f"{S}/logs/fit/{{fit}}.log",
    benchmark:
        f"{S}/benchmarks/fit/{{fit}}.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        args=fit_args,
    shell:
        "$RLSCALING_CMD fit {input} -o {output} {params.args} > {log} 2>&1"


# The law tournament (src/rlscaling/fit/compare.py): every law's out-of-sample R² / MAPE, in `rule all`
# (COMPARE_FILES; a few seconds on the default study). A law below its minimum data scores n/a.
rule compare:
    input:
        f"{S}/curves.parquet",
    output:
        json=f"{S}/compare.json",
        md=f"{S}/compare.md",
        figure=report(f"{S}/figures/compare.png", caption="../report/compare.rst", category="Figures"),
    log:
        f"{S}/logs/compare.log",
    benchmark:
        f"{S}/benchmarks/compare.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        args=compare_args,
    shell:
        "$RLSCALING_CMD compare {input} -o {output.json} --markdown {output.md} --figure {output.figure} "
        "{params.args} > {log} 2>&1"


# Compute allocation (src/rlscaling/fit/allocate/): the best rollouts per prompt against
# compute, the cost of data reuse and the optimal pre-training / RL split, for studies that sweep
# rollouts_per_prompt / reuse_tau / pretrain_tokens over >= 3 values (workflow/presets/tiny-rollouts.yaml,
# tiny-reuse.yaml, tiny-split.yaml); in `rule all` for those studies.
rule allocate:
    input:
        f"{S}/curves.parquet",
    output:
        json=f"{S}/allocate/{{analysis}}.json",
        figure=f"{S}/figures/allocate_{{analysis}}.png",
    log:
        f"{S}/logs/allocate/{{analysis}}.log",
    benchmark:
        f"{S}/benchmarks/allocate/{{analysis}}.tsv"
    wildcard_constraints:
        analysis="rollouts|reuse|split",
    conda:
        "../../envs/analysis.yaml"
    params:
        args=allocate_args,
    shell:
        "$RLSCALING_CMD allocate {wildcards.analysis} {input} -o {output.json} --figure {output.figure} "
        "{params.args} > {log} 2>&1"


# Which RL recipe scales better (src/rlscaling/fit/recipe_compare.py): ScaleRL's sigmoid per recipe and
# size, the differences from the sweep's first recipe with verdicts, and the early-fit check; in
# `rule all` for studies that sweep recipe (RECIPE_FILES; workflow/presets/tiny-recipes.yaml).
rule compare_recipes:
    input:
        f"{S}/curves.parquet",
    output:
        json=f"{S}/recipes.json",
        curves=report(RECIPE_FIGURES[0], caption="../report/recipes.rst", category="Figures"),
        efficiency=report(RECIPE_FIGURES[1], caption="../report/recipes.rst", category="Figures"),
    log:
        f"{S}/logs/compare_recipes.log",
    benchmark:
        f"{S}/benchmarks/compare_recipes.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        args=compare_recipes_args,
        figures=lambda w, output: os.path.dirname(output.curves),
    shell:
        "$RLSCALING_CMD compare-recipes {input} -o {output.json} --figures {params.figures} {params.args} "
        "> {log} 2>&1"


# The largest size's curve predicted from the smaller ones with 80% / 95% intervals, against its
# truth (src/rlscaling/fit/predict_cli.py; summary.md's prediction section). Too few sizes: the JSON
# says why (undetermined), the study goes on.
rule predict:
    input:
        f"{S}/curves.parquet",
    output:
        json=PREDICT_FILE,
        figure=f"{S}/figures/prediction.png",
    log:
        f"{S}/logs/predict.log",
    benchmark:
        f"{S}/benchmarks/predict.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        args=predict_args,
    shell:
        "$RLSCALING_CMD predict {input} -o {output.json} --figure {output.figure} {params.args} > {log} 2>&1"
