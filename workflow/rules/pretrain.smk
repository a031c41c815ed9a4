# Stage 2 (tiny family only): a tokenizer built from the pre-training corpus, then each base model
# pre-trained from scratch to models/{model}/base (HF format) + models/{model}/pretrain.json, where
# {model} is the size, then /pretrain_tokens-{T} for a pre-training sweep's variant (sweep.pretrain_tokens),
# then /rep{k} for replicate k (seed + 1000 k) when the study has replicates.


rule tokenizer:
    input:
        corpus=CORPUS,
    output:
        directory(f"{S}/models/tokenizer"),
    log:
        f"{S}/logs/tokenizer.log",
    benchmark:
        f"{S}/benchmarks/tokenizer.tsv"
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        **resources_for("light"),
    params:
        cfg=as_json({"vocab_size": config.get("pretrain", {}).get("vocab_size", 512)}),
    shell:
        "$RLSCALING_CMD tokenizer --corpus {input.corpus} --params-json {params.cfg:q} --out {output} > {log} 2>&1"


rule pretrain:
    input:
        corpus=CORPUS,
        tokenizer=f"{S}/models/tokenizer",
    output:
        model=directory(f"{S}/models/{{model}}/base"),
        record=f"{S}/models/{{model}}/pretrain.json",
    log:
        f"{S}/logs/pretrain/{{model}}.log",
    benchmark:
        f"{S}/benchmarks/pretrain/{{model}}.tsv"
    priority: chain_priority("model")
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        **resources_for("pretrain", "model"),
    params:
        cfg=lambda w: as_json(
            {
                "arch": SIZES[MODELS[w.model]["size"]],
                "pretrain": MODELS[w.model]["pretrain"],
                "seed": MODELS[w.model]["seed"],
                "size": MODELS[w.model]["size"],
            }
        ),
    shell:
        "$RLSCALING_CMD pretrain --corpus {input.corpus} --tokenizer {input.tokenizer}"
        " --params-json {params.cfg:q} --threads {threads}"
        " --out {output.model} --record {output.record} > {log} 2>&1"
