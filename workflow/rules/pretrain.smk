# Stage 2 (tiny family only): a tokenizer built from the pre-training corpus, then each size
# pre-trained from scratch to models/{size}/base (HF format) + models/{size}/pretrain.json.


rule tokenizer:
    input:
        corpus=CORPUS,
    output:
        directory(f"{S}/models/tokenizer"),
    params:
        cfg=as_json({"vocab_size": config.get("pretrain", {}).get("vocab_size", 512)}),
    conda:
        "../../envs/cpu.yaml"
    log:
        f"{S}/logs/tokenizer.log",
    benchmark:
        f"{S}/benchmarks/tokenizer.tsv"
    threads: 1
    resources:
        **resources_for("light"),
    shell:
        "$RLSCALING_CMD tokenizer --corpus {input.corpus} --params-json {params.cfg:q} --out {output} > {log} 2>&1"


rule pretrain:
    input:
        corpus=CORPUS,
        tokenizer=f"{S}/models/tokenizer",
    output:
        model=directory(f"{S}/models/{{size}}/base"),
        record=f"{S}/models/{{size}}/pretrain.json",
    params:
        cfg=lambda w: as_json({"arch": SIZES[w.size], "pretrain": rc.pretrain_settings(config, w.size),
                               "seed": config["seed"], "size": w.size}),
    conda:
        "../../envs/cpu.yaml"
    log:
        f"{S}/logs/pretrain/{{size}}.log",
    benchmark:
        f"{S}/benchmarks/pretrain/{{size}}.tsv"
    threads: 1
    resources:
        **resources_for("pretrain", "size"),
    shell:
        "$RLSCALING_CMD pretrain --corpus {input.corpus} --tokenizer {input.tokenizer}"
        " --params-json {params.cfg:q} --threads {threads}"
        " --out {output.model} --record {output.record} > {log} 2>&1"
