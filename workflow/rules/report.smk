# Stage 7: figures (PNG + PDF, captioned in `snakemake --report`), summary.md and its verdicts as
# checks.json (pass / FAIL / undetermined per claim; an undetermined identification runs a small power
# simulation of the study's own noise, some seconds).


rule figures:
    input:
        curves=f"{S}/curves.parquet",
        fits=FIT_FILES,
    output:
        [
            (
                report(f"{S}/figures/{name}.{fmt}", caption=f"../report/{name}.rst", category="Figures")
                if fmt == "png"
                else f"{S}/figures/{name}.{fmt}"
            )
            for name in FIGURE_NAMES
            for fmt in config["figures"]["formats"]
        ],
    log:
        f"{S}/logs/figures.log",
    benchmark:
        f"{S}/benchmarks/figures.tsv"
    conda:
        "../../envs/analysis.yaml"
    params:
        cfg=as_json({"figures": config["figures"], "fit": config["fit"], "names": FIGURE_NAMES}),
        out_dir=lambda w, output: os.path.dirname(output[0]),
    shell:
        "$RLSCALING_CMD figures --curves {input.curves} --fits {input.fits} --params-json {params.cfg:q}"
        " --out-dir {params.out_dir} > {log} 2>&1"


rule report:
    input:
        curves=f"{S}/curves.parquet",
        fits=FIT_FILES,
        pretrain=pretrain_records(),
        data_report=f"{S}/data/report.json",
        figures=FIGURE_FILES,  # summary.md links the figures that exist
        compare=f"{S}/compare.md",  # summary.md includes the law tournament's tables
        prediction=PREDICT_FILE,  # and the largest size's predicted interval against its truth
    output:
        summary=report(f"{S}/summary.md", caption="../report/summary.rst", category="Summary"),
        checks=f"{S}/checks.json",  # the verdicts, machine-readable: `rlscaling report --check S`
    log:
        f"{S}/logs/report.log",
    conda:
        "../../envs/analysis.yaml"
    params:
        study_dir=lambda w, output: os.path.dirname(output.summary),
        where=" ".join(sweep_where()),
    shell:
        "$RLSCALING_CMD report --study-dir {params.study_dir} --curves {input.curves} --fits {input.fits}"
        " {params.where} -o {output.summary} --checks-json {output.checks} > {log} 2>&1"
