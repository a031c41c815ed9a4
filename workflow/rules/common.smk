# Everything the rules share: the study's names and paths, the input functions and the helpers that
# turn the config into params and resources. Rules (workflow/rules/*.smk) hold rules only.

import json
import os
import re
import sys

import rlscaling.config as rc
from rlscaling.base_cache import export as export_base_model_cache
from rlscaling.errors import UserError
from rlscaling.figures.names import figure_names
from rlscaling.fit.laws import PAPER_LAWS
from rlscaling.resources import rule_resources
from rlscaling.training_health import export as export_training_health
from rlscaling.evaluate.memo import PLAN_ENV as EVAL_MEMO_PLAN
from rlscaling.train.verl.settings import train_params

# The rules run `$RLSCALING_CMD <stage> ...`: this Python's `-m rlscaling`, unless the environment
# names another install (cluster environments, conda-deployed rules; see docs/guides/cluster.md).
# Exported here, so the shell of every job sees it: local jobs inherit it, and a cluster job parses
# this file again in its own process.
os.environ.setdefault("RLSCALING_CMD", f"{sys.executable} -m rlscaling")
# The base-model cache (config base_model_cache; rlscaling.base_cache), for `rlscaling pretrain`: through
# the environment, not params, since it changes no output and switching it must rerun nothing.
export_base_model_cache(rc.base_model_cache(config))
# The training-health checks (config training.health; rlscaling.training_health), for `rlscaling train`'s
# stop: through the environment, not params, since they change no trained result. The flags themselves
# are written by run_metrics, whose params do hold the settings.
export_training_health(config["training"]["health"])

S = rc.study_dir(config)
RUNS = {r.name: r for r in rc.runs(config)}
SIZES = config["models"]["sizes"]
# base models: key -> {size, replicate, seed, pretrain}; the key is the size, then `/pretrain_tokens-{T}`
# with a pre-training sweep, then `/rep{k}` with replicates
MODELS = rc.base_models(config)
REPLICATED = rc.n_replicates(config) > 1
TINY = config["models"]["family"] == "tiny"
BENCHES = config["evaluation"]["benchmarks"]
# what one evaluation job depends on (the evaluate rule's params)
EVAL_PARAMS = {
    **rc.evaluation_params(config),
    "seed": config["seed"],
    "scorers": {b: config["benchmarks"][b].get("scorer") for b in BENCHES},
}
# A trl segment evaluates the checkpoint it has just written, in its own process, and the evaluate job
# copies the result when its inputs are the same (rlscaling.evaluate.memo). Through the environment,
# not params: the checkpoint does not depend on it, so changing evaluation settings retrains nothing.
if config["training"]["engine"] == "trl" and EVAL_PARAMS["engine"] == "hf":
    os.environ[EVAL_MEMO_PLAN] = json.dumps(
        {"params": EVAL_PARAMS, "bench": [f"{S}/data/bench/{b}.parquet" for b in BENCHES]}
    )


wildcard_constraints:
    run="|".join(sorted(RUNS, key=len, reverse=True)) or "NONE",
    size="|".join(sorted(SIZES, key=len, reverse=True)),
    model="|".join(re.escape(m) for m in sorted(MODELS, key=len, reverse=True)),
    step=r"\d{6}",
    bench="|".join(BENCHES),


# ---- files of each stage ---------------------------------------------------------------------
CORPUS = f"{S}/data/pretrain_corpus.parquet"
# every tau a run trains with: data.reuse_taus, a reuse_tau sweep, and training.reuse_tau
REUSE_TAUS = sorted(
    set(config["data"]["reuse_taus"])
    | set(config.get("sweep", {}).get("reuse_tau", []))
    | {config["training"].get("reuse_tau", 1)}
)
REUSE_FILES = [f"{S}/data/train_tau{t}.parquet" for t in REUSE_TAUS if t != 1]
# a run's prompt-length check of its train file against its max_prompt_tokens (rule prompt_lengths)
PROMPT_LENGTHS = f"{S}/data/prompt_lengths/{{run}}.json"
EVAL_FILES = [
    f"{S}/eval/{run}/step_{step:06d}/{bench}.json"
    for run in RUNS
    for step in rc.eval_steps(config)
    for bench in BENCHES
]
FIT_FILES = expand(f"{S}/fits/{{fit}}.json", fit=rc.fit_targets(config))
FIGURE_NAMES = figure_names(config)
FIGURE_FILES = [f"{S}/figures/{name}.{fmt}" for name in FIGURE_NAMES for fmt in config["figures"]["formats"]]
# compute allocation (rlscaling allocate): an answer per sweep dimension with >= 3 values
ALLOCATE_DIMENSIONS = {"rollouts": "rollouts_per_prompt", "reuse": "reuse_tau", "split": "pretrain_tokens"}
ALLOCATIONS = [
    a for a, key in ALLOCATE_DIMENSIONS.items() if len((config.get("sweep") or {}).get(key, [])) >= 3
]
ALLOCATE_FILES = [f"{S}/allocate/{a}.json" for a in ALLOCATIONS]
# the law tournament (rlscaling compare): every study
COMPARE_FILES = [f"{S}/compare.json", f"{S}/compare.md"]
# the recipe comparison (rlscaling compare-recipes): studies that sweep recipe over >= 2 values
RECIPE_FIGURES = [f"{S}/figures/recipe_curves.png", f"{S}/figures/recipe_asymptote_efficiency.png"]
RECIPE_SWEEP = (config.get("sweep") or {}).get("recipe", [])
RECIPE_FILES = [f"{S}/recipes.json", *RECIPE_FIGURES] if len(RECIPE_SWEEP) >= 2 else []
# the largest size predicted from the smaller ones, with intervals (rlscaling predict): every study
PREDICT_FILE = f"{S}/prediction.json"


# ---- helpers ---------------------------------------------------------------------------------
def as_json(obj):
    """Compact, key-sorted JSON: Snakemake compares params textually to decide reruns."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def train_file(tau):
    """The training parquet of data-reuse factor `tau` (1: the curriculum itself)."""
    return f"{S}/data/train.parquet" if int(tau) == 1 else f"{S}/data/train_tau{int(tau)}.parquet"


def step_dir(run, step):
    return f"{S}/runs/{run}/step_{int(step):06d}"


def base_model(model):
    """Input path of a base model, by its MODELS key (tiny: built here, models/{size}[/rep{k}]/base;
    hub: a path or id, not a workflow file)."""
    return f"{S}/models/{model}/base" if TINY else SIZES[MODELS[model]["size"]]["path"]


def pretrain_records():
    """Every base model's pre-training record (tiny family; none for hub models)."""
    return [f"{S}/models/{m}/pretrain.json" for m in MODELS] if TINY else []


def curve_runs():
    """The runs as `rlscaling curves build` reads them: size and variant, plus replicate and base
    model key when the study has replicates (one replicate: today's params, unchanged)."""
    return {
        r.name: {"size": r.size, "variant": r.variant}
        | ({"replicate": r.replicate} if REPLICATED else {})
        | ({"model": r.model} if r.model != r.size else {})
        for r in RUNS.values()
    }


def checkpoint(run, step):
    """Path of the checkpoint of `run` at `step` (step 0 is the base model)."""
    return base_model(RUNS[run].model) if int(step) == 0 else step_dir(run, step)


def checkpoint_input(run, step):
    """The checkpoint as a workflow input: none for a hub base model (a hub id or an outside path)."""
    return [] if (int(step) == 0 and not TINY) else [checkpoint(run, step)]


def resources_for(family, wildcard=None):
    """Snakemake resources of a rule family (light / pretrain / train / evaluate) from the config's
    `resources` and the sizes' overrides (rlscaling.resources). `wildcard` names the wildcard
    that gives the job's size: "run", "size" or "model" (None: no per-size values)."""
    size_of = {
        "run": lambda w: RUNS[w.run].size,
        "size": lambda w: w.size,
        "model": lambda w: MODELS[w.model]["size"],
        None: None,
    }[wildcard]
    try:
        return rule_resources(config, family, size_of)
    except UserError as err:
        raise WorkflowError(f"config: {err}")


# the sizes cheapest first: tiny sizes by hidden_size² · layers (their cost per token), hub sizes in the
# order the config lists them (smallest first by convention)
SIZE_ORDER = (
    sorted(SIZES, key=lambda s: SIZES[s].get("hidden_size", 0) ** 2 * SIZES[s].get("num_hidden_layers", 0))
    if TINY
    else list(SIZES)
)


def chain_priority(wildcard, chain=True):
    """Snakemake priority of a job: the critical path first. The largest size's chain (pre-training,
    then its GRPO segments) is the study's longest, so a job's priority grows with its size's rank in
    SIZE_ORDER; a chain job (pre-training, a segment) outranks an evaluation of the same size, since
    it unlocks the next segment. `wildcard` names the wildcard that gives the size (run / model)."""
    size_of = {"run": lambda w: RUNS[w.run].size, "model": lambda w: MODELS[w.model]["size"]}[wildcard]
    return lambda w: 2 * SIZE_ORDER.index(size_of(w)) + (1 if chain else 0)


_SEGMENT_PARAMS = {}


def segment_params(run, step):
    """The params of `run`'s segment ending at `step` (verl runs: settings resolved for the run's size,
    computed once per run): segment_steps is that segment's length, since evaluation.extra_steps cuts
    segments short."""
    if run not in _SEGMENT_PARAMS:
        _SEGMENT_PARAMS[run] = train_params(config, RUNS[run])
    return {
        **_SEGMENT_PARAMS[run],
        "segment_steps": int(step) - rc.previous_checkpoint_step(config, int(step)),
    }


def prompt_length_check(run):
    """What rule prompt_lengths checks for `run`, its train file, its tokenizer (the tiny family's, else
    the size's base model: a hub path or id, not a workflow file), its max_prompt_tokens, and the config
    key that sets it (the size's override, else training.max_prompt_tokens)."""
    r = RUNS[run]
    override = "max_prompt_tokens" in ((config["training"].get("sizes") or {}).get(r.size) or {})
    return {
        "file": train_file(r.training["reuse_tau"]),
        "tokenizer": f"{S}/models/tokenizer" if TINY else SIZES[r.size]["path"],
        "limit": int(r.training["max_prompt_tokens"]),
        "key": f"training.sizes.{r.size}.max_prompt_tokens" if override else "training.max_prompt_tokens",
    }


# ---- input functions and params of rules -----------------------------------------------------
def prompt_lengths_input(w):
    """The first segment of a run waits for the run's prompt-length check (rule prompt_lengths), so a
    limit that would cut prompts is refused before any training. A run whose first segment was trained
    before the check existed (its output is there, the check's file is not) keeps its recorded inputs:
    it is not retrained."""
    if rc.previous_checkpoint_step(config, int(w.step)) != 0:
        return []
    lengths = PROMPT_LENGTHS.format(run=w.run)
    if os.path.exists(step_dir(w.run, w.step)) and not os.path.exists(lengths):
        return []
    return [lengths]


def previous_checkpoint(w):
    """Input of a training segment: the checkpoint it continues from (none for a hub base model)."""
    return checkpoint_input(w.run, rc.previous_checkpoint_step(config, int(w.step)))


def sweep_where(law=None):
    """`--where key=first value` per sweep dimension. Grouping, never pooling: `rlscaling fit` refuses
    curves of one size that differ in a column, so a sweep (reward, rollouts_per_prompt, pretrain_tokens,
    ...; seeds are replicates) is fitted, and summary.md judged, on its first value (the reuse law fits
    across reuse_tau: that dimension is its own, never filtered to one value)."""
    return [
        f"--where {key}={values[0]}"
        for key, values in (config.get("sweep") or {}).items()
        if key != "seed" and len(values) > 1 and not (law == "reuse" and key == "reuse_tau")
    ]


def fit_args(w):
    """Command-line arguments of `rlscaling fit` for the target {law}__{x}__{scenario}."""
    law, x, scenario = w.fit.split("__")
    f = config["fit"]
    args = [
        f"--law {law}",
        f"--x {x}",
        f"--scenario {scenario}",
        f"--where bench={f['bench']}",
        f"--bootstrap {f['bootstrap']}",
        f"--seed {config['seed']}",
        f"--min-step {f['min_step']}",
    ]
    args += sweep_where(law)
    if f["objective"] != "default":
        args.append(f"--objective {f['objective']}")
    if scenario == "intra" and f["fit_steps"]:
        args.append(f"--fit-steps {f['fit_steps']}")
    if scenario == "inter":
        held = f["holdout_N"] or [list(SIZES)[-1]]
        args.append("--holdout-size " + " ".join(held))
        if f.get("anchor_points", 0) and law in PAPER_LAWS:
            args.append(f"--anchor-points {f['anchor_points']}")
    return " ".join(args)


def allocate_args(w):
    """`rlscaling allocate` on the study's main benchmark; runs compute-matched by
    training.rollouts_per_step are compared at equal steps."""
    f = config["fit"]
    args = [f"--where bench={f['bench']}", f"--bootstrap {f['bootstrap']}", f"--seed {config['seed']}"]
    if w.analysis == "rollouts" and config["training"].get("rollouts_per_step"):
        args.append("--x step")
    return " ".join(args)


def compare_recipes_args(w):
    """`rlscaling compare-recipes` on the study's main benchmark, against the sweep's first recipe; the
    other sweep dimensions at their first value (as the fits)."""
    f = config["fit"]
    args = [
        f"--where bench={f['bench']}",
        f"--reference {config['sweep']['recipe'][0]}",
        f"--bootstrap {f['bootstrap']}",
        f"--seed {config['seed']}",
    ]
    return " ".join(args + [a for a in sweep_where() if not a.startswith("--where recipe=")])


def predict_args(w):
    """`rlscaling predict` of the largest size on the study's main benchmark (its first x), anchored
    on its first evaluated point; undetermined (not an error) where the study has too few sizes."""
    f = config["fit"]
    args = [
        f"--target-size {list(SIZES)[-1]}",
        f"--x {f['x'][0]}",
        f"--where bench={f['bench']}",
        f"--min-step {max(int(f['min_step']), 1)}",
        f"--bootstrap {max(int(f['bootstrap']), 20)}",
        f"--seed {config['seed']}",
        "--anchor-points 1",
        "--undetermined-ok",
    ]
    return " ".join(args + sweep_where())


def compare_args(w):
    """`rlscaling compare` on the study's main benchmark; curves that must not be pooled (a sweep's
    variants) become separate groups of the tournament."""
    return f"--where bench={config['fit']['bench']} --min-step {config['fit']['min_step']}"
