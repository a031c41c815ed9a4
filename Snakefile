# rlscaling: RL post-training scaling-law studies, end to end.
#   data -> pretrain (tiny family) -> GRPO segments -> evaluation of every checkpoint
#   -> curves.parquet -> scaling-law fits -> figures + summary.md (+ snakemake --report)
# All logic lives in the `rlscaling` package; rules only call its CLI. Names, paths, input functions
# and helpers are in workflow/rules/common.smk; each stage's rules in workflow/rules/<stage>.smk.

from snakemake.logging import logger
from snakemake.utils import min_version, validate

min_version("9.0")

import rlscaling.config as rc
from rlscaling.errors import UserError


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")
try:
    rc.check(config)
except UserError as err:
    raise WorkflowError(f"config: {err}")
# valid but implausible settings (e.g. a learning rate far outside the usual range): said, never refused
for message in rc.warnings(config):
    logger.warning(f"config: warning: {message}")

# Experiment tracking (opt-in, config `tracking`): the settings reach every job through the environment
# (RLSCALING_TRACKING), not as params: tracking changes no output, so switching it on reruns nothing.
# A cluster job parses this file again in its own process and exports them there. See rlscaling.tracking.
from rlscaling.tracking import Settings as TrackingSettings

TrackingSettings.from_config(config, rc.study_dir(config)).export()


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/report.smk"


localrules:
    all,
    curves,
    run_metrics,
    fit,
    compare,
    compare_recipes,
    predict,
    figures,
    report,


rule all:
    input:
        f"{S}/summary.md",
        f"{S}/checks.json",
        f"{S}/curves.parquet",
        FIT_FILES,
        FIGURE_FILES,
        ALLOCATE_FILES,
        COMPARE_FILES,
        RECIPE_FILES,
        PREDICT_FILE,
