# rlscaling: RL post-training scaling-law studies, end to end.
#   data -> pretrain (tiny family) -> GRPO segments -> evaluation of every checkpoint
#   -> curves.parquet -> scaling-law fits -> figures + summary.md (+ snakemake --report)
# All logic lives in the `rlscaling` package; rules only call its CLI.

import json
import os
import sys

from snakemake.utils import min_version, validate

min_version("9.0")

import rlscaling.config as rc
from rlscaling.errors import UserError
from rlscaling.resources import rule_resources
from rlscaling.train.verl.settings import train_params


configfile: "config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")
try:
    rc.check(config)
except UserError as err:
    raise WorkflowError(f"config: {err}")

# the command every rule calls; RLSCALING_CMD lets cluster environments use their own install
RLSCALING = os.environ.get("RLSCALING_CMD", f"{sys.executable} -m rlscaling")
S = rc.study_dir(config)
RUNS = {r.name: r for r in rc.runs(config)}
SIZES = config["models"]["sizes"]
TINY = config["models"]["family"] == "tiny"
BENCHES = config["evaluation"]["benchmarks"]
SEG = config["training"]["segment_steps"]


def as_json(obj):
    """Compact, key-sorted JSON: Snakemake compares params textually to decide reruns."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def step_dir(run, step):
    return f"{S}/runs/{run}/step_{int(step):06d}"


def base_model(size):
    """Input path of a size's base model (tiny: built here; hub: a path or id, not a workflow file)."""
    return f"{S}/models/{size}/base" if TINY else SIZES[size]["path"]


def checkpoint(run, step):
    """Path of the checkpoint of `run` at `step` (step 0 is the base model)."""
    return base_model(RUNS[run].size) if int(step) == 0 else step_dir(run, step)


def checkpoint_input(run, step):
    """The checkpoint as a workflow input: none for a hub base model (a hub id or an outside path)."""
    return [] if (int(step) == 0 and not TINY) else [checkpoint(run, step)]


def resources_for(family, wildcard=None):
    """Snakemake resources of a rule family (light / pretrain / train / evaluate) from the config's
    `resources` and the sizes' overrides (rlscaling.resources). `wildcard` names the wildcard
    that gives the job's size: "run" or "size" (None: no per-size values)."""
    size_of = {"run": lambda w: RUNS[w.run].size, "size": lambda w: w.size, None: None}[wildcard]
    try:
        return rule_resources(config, family, size_of)
    except UserError as err:
        raise WorkflowError(f"config: {err}")


_SEGMENT_PARAMS = {}


def segment_params(run):
    """A run's training-segment params (verl runs: settings resolved for the run's size), computed once."""
    if run not in _SEGMENT_PARAMS:
        _SEGMENT_PARAMS[run] = train_params(config, RUNS[run])
    return _SEGMENT_PARAMS[run]


wildcard_constraints:
    run="|".join(sorted(RUNS, key=len, reverse=True)) or "NONE",
    size="|".join(sorted(SIZES, key=len, reverse=True)),
    step=r"\d{6}",
    bench="|".join(BENCHES),


include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/report.smk"


localrules: all, curves, run_metrics, fit, figures, report


rule all:
    input:
        f"{S}/summary.md",
        f"{S}/curves.parquet",
        expand(f"{S}/fits/{{fit}}.json", fit=rc.fit_targets(config)),
        FIGURE_FILES,
