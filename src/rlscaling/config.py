"""Study configuration: schema validation, semantic checks and the study plan.

The same code serves the Snakefile (which also runs Snakemake's own `validate`) and the CLI
(`rlscaling plan --config config.yaml`). A study is:

- sizes: the model family (tiny sizes pre-trained here, or hub models given by path / id);
- sweep: optional variant dimensions (seed, reward, rollouts_per_prompt, lr, reuse_tau, recipe, ...);
- replicates: independent repeats of every run, each with its own base model (tiny family) and seeds;
- runs = sizes x sweep x replicates; each run is trained in segments of `training.segment_steps` RL
  steps, cut further at every `evaluation.extra_steps` step, and the checkpoints at 0 (the base model),
  multiples of `evaluation.every_steps`, the extra steps and the final step are evaluated on every
  benchmark.

Errors name the offending key, e.g. `training.segment_steps: 50 is longer than training.total_steps (40)`.
"""

from __future__ import annotations

import copy
import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rlscaling.errors import UserError
from rlscaling.schema import load_schema, validate_section
from rlscaling.schema import errors as schema_errors


# sweep dimensions and the config section they override
SWEEP_KEYS = {
    "seed": "training",
    "reward": "training",
    "rollouts_per_prompt": "training",
    "prompts_per_step": "training",
    "lr": "training",
    "kl_coef": "training",
    "reuse_tau": "training",
    "recipe": "training",
    "pretrain_tokens": "pretrain",
}
# sweep dimensions of the base model (tiny family): sweep key -> the `pretrain` setting it sets. A run
# with such a value trains from its own base model, keyed by the size and these values
# (models/{size}/pretrain_tokens-{T}/), so changing one variant reruns only what depends on it
PRETRAIN_SWEEP_KEYS = {"pretrain_tokens": "tokens"}


# replicate k of a study with seed s pre-trains with seed s + k * REPLICATE_SEED_STRIDE and trains with
# the run's seed + k * REPLICATE_SEED_STRIDE (far from the seed + j of pretrain.seed_candidates)
REPLICATE_SEED_STRIDE = 1000


@dataclass(frozen=True)
class Run:
    """One RL training run: a model size trained with one setting of the sweep dimensions, in one
    replicate. `model` names its base model (a key of base_models(): the size, or `{size}/rep{k}`)."""

    name: str
    size: str
    variant: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    replicate: int = 0
    model: str = ""

    def train_params(self) -> dict[str, Any]:
        """Training settings that determine a segment's result (total_steps excluded on purpose:
        raising it must not invalidate earlier segments; health too: the checks change no result, and
        reach a segment through the environment, rlscaling.training_health.ENVIRONMENT)."""
        params = {k: v for k, v in self.training.items() if k not in ("total_steps", "health")}
        params["size"] = self.size
        params["run"] = self.name
        return params


# --------------------------------------------------------------------------------------------------
# loading and validation


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """Schema validation (with defaults filled in) then semantic checks. Returns a new dict."""
    config = copy.deepcopy(config)
    errors = schema_errors(config, load_schema(), defaults=True)
    if errors:
        lines = [f"{path or '(top level)'}: {message}" for path, message in errors[:10]]
        raise UserError("config does not match workflow/schemas/config.schema.yaml:\n  " + "\n  ".join(lines))
    check(config)
    return config


def load(path: str | Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read a YAML config, apply nested overrides, validate. Raises UserError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {path} does not exist")
    with open(path) as fh:
        config = yaml.safe_load(fh) or {}
    if overrides:
        config = deep_merge(config, overrides)
    return validate(config)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def check(config: dict[str, Any]) -> None:
    """Semantic checks the schema cannot express. Raises UserError naming the key."""
    tr = config["training"]
    if tr["segment_steps"] > tr["total_steps"]:
        raise UserError(
            f"training.segment_steps: {tr['segment_steps']} is longer than training.total_steps "
            f"({tr['total_steps']})"
        )
    if tr["total_steps"] % tr["segment_steps"] != 0:
        raise UserError(
            f"training.total_steps: {tr['total_steps']} is not a multiple of training.segment_steps "
            f"({tr['segment_steps']})"
        )
    cache = base_model_cache(config)
    if cache and os.path.normpath(cache) == os.path.normpath(study_dir(config)):
        raise UserError(
            f"study: '{config['study']}' is the base-model cache's folder ({cache}); name the study "
            "otherwise or set base_model_cache to another folder"
        )
    ev = config["evaluation"]
    for k in ev["pass_k"]:
        if k > ev["n_samples"]:
            raise UserError(
                f"evaluation.pass_k: k={k} is larger than evaluation.n_samples ({ev['n_samples']}); "
                "the unbiased pass@k estimator needs k <= n"
            )
    if ev["every_steps"] % tr["segment_steps"] != 0:
        raise UserError(
            f"evaluation.every_steps: {ev['every_steps']} is not a multiple of training.segment_steps "
            f"({tr['segment_steps']}); checkpoints exist only at segment boundaries"
        )
    late = [s for s in ev.get("extra_steps", []) if s > tr["total_steps"]]
    if late:
        raise UserError(
            f"evaluation.extra_steps: {late} after training.total_steps ({tr['total_steps']}); a step "
            "is evaluated only when the run gets there"
        )
    for bench in ev["benchmarks"]:
        if bench not in config["benchmarks"]:
            raise UserError(
                f"evaluation.benchmarks: '{bench}' is not defined under benchmarks "
                f"(defined: {sorted(config['benchmarks'])})"
            )
    for name, spec in config["benchmarks"].items():
        p = spec.get("path")
        if p and spec.get("source", "parquet") == "parquet" and not _resolve(p).exists():
            raise UserError(f"benchmarks.{name}.path: file {p} does not exist")
    data = config["data"]
    if data["source"] == "parquet":
        for i, p in enumerate(data["parquet"]["train_files"]):
            if not _resolve(p).exists():
                raise UserError(f"data.parquet.train_files[{i}]: file {p} does not exist")
        for i, p in enumerate(data["parquet"].get("heldout_files") or []):
            if not _resolve(p).exists():
                raise UserError(f"data.parquet.heldout_files[{i}]: file {p} does not exist")
    family = config["models"]["family"]
    for name, spec in config["models"]["sizes"].items():
        if family == "hub" and "path" not in spec:
            raise UserError(f"models.sizes.{name}: a hub family needs `path` (local dir or hub id)")
        if family == "tiny" and "hidden_size" not in spec:
            raise UserError(f"models.sizes.{name}: a tiny family needs the architecture (hidden_size, ...)")
    _check_size_overrides(config)
    for key in config.get("sweep", {}):
        if key not in SWEEP_KEYS:
            raise UserError(f"sweep.{key}: not a sweep dimension (allowed: {sorted(SWEEP_KEYS)})")
        if key in PRETRAIN_SWEEP_KEYS and config["models"]["family"] != "tiny":
            raise UserError(
                f"sweep.{key}: a pre-training sweep needs models.family tiny (hub base models are given, "
                "not pre-trained here; give each pre-training variant as its own hub size)"
            )
    from rlscaling.train.verl import settings as verl_settings

    verl_settings.check(config)
    from rlscaling import config_checks

    config_checks.check(config, _checks_plan(config))  # settings that would fail a later job


def _checks_plan(config: dict[str, Any]) -> Any:
    """What rlscaling.config_checks needs of the study plan."""
    from rlscaling import config_checks

    return config_checks.Plan(
        runs=runs(config),
        eval_steps=eval_steps(config),
        pretrain={size: pretrain_settings(config, size) for size in config["models"]["sizes"]},
        sweep_sections=SWEEP_KEYS,
        sweep_settings=PRETRAIN_SWEEP_KEYS,
    )


def warnings(config: dict[str, Any]) -> list[str]:
    """Valid but implausible settings of a checked config (rlscaling.config_checks.warnings), each naming
    its key; printed by the workflow and `rlscaling plan`, never an error."""
    from rlscaling import config_checks

    return config_checks.warnings(config, _checks_plan(config))


def _check_size_overrides(config: dict[str, Any]) -> None:
    """training.sizes and pretrain.sizes: every size exists, and every override is a valid value of
    its section's key."""
    sizes = config["models"]["sizes"]
    for section in ("training", "pretrain"):
        props = load_schema()["properties"][section]["properties"]
        for size, overrides in ((config.get(section) or {}).get("sizes") or {}).items():
            if size not in sizes:
                raise UserError(
                    f"{section}.sizes.{size}: no such size under models.sizes (sizes: {list(sizes)})"
                )
            _check_overrides(overrides, props, f"{section}.sizes.{size}", section)


def _check_overrides(overrides: dict[str, Any], props: dict[str, Any], where_size: str, section: str) -> None:
    for key, value in overrides.items():
        where = f"{where_size}.{key}"
        if key not in props or key == "sizes":
            raise UserError(f"{where}: not a {section} setting")
        validate_section(value, props[key], where)


def pretrain_settings(config: dict[str, Any], size: str) -> dict[str, Any]:
    """The pre-training settings of one size: `pretrain`, then its `pretrain.sizes` overrides (so a
    size's pretrain job depends only on its own resolved values)."""
    pretrain = copy.deepcopy(config.get("pretrain") or {})
    per_size = pretrain.pop("sizes", None) or {}
    pretrain.update(per_size.get(size, {}))
    return pretrain


def _resolve(p: str | Path) -> Path:
    p = Path(p).expanduser()
    return p if p.is_absolute() else Path.cwd() / p


# --------------------------------------------------------------------------------------------------
# the plan


def n_replicates(config: dict[str, Any]) -> int:
    """The study's number of replicates (`replicates`, default 1)."""
    return int(config.get("replicates") or 1)


def replicate_seed(seed: int, replicate: int) -> int:
    """The seed replicate k uses where replicate 0 uses `seed`."""
    return int(seed) + int(replicate) * REPLICATE_SEED_STRIDE


def model_key(
    config: dict[str, Any], size: str, replicate: int, pretrain_variant: dict[str, Any] | None = None
) -> str:
    """The base model of `size` in `replicate`, pre-trained with the sweep values `pretrain_variant`
    (PRETRAIN_SWEEP_KEYS): the folder under models/. `{size}`, then `/{key}-{value}` per pre-training
    sweep value (e.g. `s/pretrain_tokens-500000`), then `/rep{k}` when the study has replicates that
    pre-train their own (replicate_base_models: own). A hub family's base models are given: always
    `{size}`."""
    if config["models"]["family"] != "tiny":
        return size
    parts = [size] + [f"{k}-{_fmt(v)}" for k, v in (pretrain_variant or {}).items()]
    if n_replicates(config) > 1 and config.get("replicate_base_models", "own") == "own":
        parts.append(f"rep{int(replicate)}")
    return "/".join(parts)


def pretrain_variants(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The study's pre-training sweep settings (sweep keys of PRETRAIN_SWEEP_KEYS), as variant dicts in
    config order; [{}] without such a sweep."""
    sweep = config.get("sweep") or {}
    keys = [k for k in sweep if k in PRETRAIN_SWEEP_KEYS]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(sweep[k] for k in keys))]


def base_models(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every base model of the study, model key -> {size, replicate, seed (pre-training), pretrain (its
    resolved pre-training settings: `pretrain`, the size's overrides, then its sweep values)}, in config
    order (sizes, then pre-training variants, then replicates)."""
    out: dict[str, dict[str, Any]] = {}
    for size in config["models"]["sizes"]:
        for variant in pretrain_variants(config):
            settings = pretrain_settings(config, size)
            settings.update({PRETRAIN_SWEEP_KEYS[k]: v for k, v in variant.items()})
            for k in range(n_replicates(config)):
                key = model_key(config, size, k, variant)
                seed = replicate_seed(config["seed"], k)
                out.setdefault(key, {"size": size, "replicate": k, "seed": seed, "pretrain": settings})
    return out


def runs(config: dict[str, Any]) -> list[Run]:
    """All runs of the study: sizes x sweep x replicates, in config order. Run names are `{size}`
    without a sweep, else `{size}__{key}-{value}__...` (keys in config order), and `__rep-{k}` after
    them when the study has replicates > 1. A run's training settings are the config's `training`,
    then its size's `training.sizes` overrides, then its sweep values; replicate k adds
    k * REPLICATE_SEED_STRIDE to the seed."""
    sweep = config.get("sweep") or {}
    keys = list(sweep)
    reps = n_replicates(config)
    out = []
    for size in config["models"]["sizes"]:
        for values in itertools.product(*(sweep[k] for k in keys)) if keys else [()]:
            for k in range(reps):
                variant = dict(zip(keys, values, strict=True))
                pretrain_variant = {key: v for key, v in variant.items() if key in PRETRAIN_SWEEP_KEYS}
                training = copy.deepcopy(config["training"])
                per_size = training.pop("sizes", None) or {}
                training.setdefault("seed", config["seed"])
                training.update(per_size.get(size, {}))
                training.update({key: v for key, v in variant.items() if key not in PRETRAIN_SWEEP_KEYS})
                _tie_prompts_to_rollouts(training, size)
                parts = [size] + [f"{key}-{_fmt(v)}" for key, v in variant.items()]
                if reps > 1:
                    training["seed"] = replicate_seed(training["seed"], k)
                    parts.append(f"rep-{k}")
                out.append(
                    Run(
                        name="__".join(parts),
                        size=size,
                        variant=variant,
                        training=training,
                        replicate=k,
                        model=model_key(config, size, k, pretrain_variant),
                    )
                )
    return out


def _tie_prompts_to_rollouts(training: dict[str, Any], size: str) -> None:
    """training.rollouts_per_step R (optional): prompts_per_step = R / rollouts_per_prompt, so runs of
    a rollouts_per_prompt sweep generate the same rollouts per step (compute-matched at equal steps).
    The key is resolved here and never reaches the trainer."""
    total = training.pop("rollouts_per_step", None)
    if total is None:
        return
    n = int(training["rollouts_per_prompt"])
    if total % n:
        raise UserError(
            f"training.rollouts_per_step: {total} is not a multiple of rollouts_per_prompt {n} (size {size})"
        )
    training["prompts_per_step"] = total // n


def _fmt(v: Any) -> str:
    return str(v).replace("/", "_").replace(" ", "")


def run_by_name(config: dict[str, Any], name: str) -> Run:
    for r in runs(config):
        if r.name == name:
            return r
    raise UserError(f"no run named {name!r} in this config")


def checkpoint_steps(config: dict[str, Any]) -> list[int]:
    """Steps at which a checkpoint exists: 0 (the base model), seg, 2*seg, ..., total, and every
    `evaluation.extra_steps` step (a segment ends there too: segments of any length give the same
    result as one uninterrupted run, so extra steps add checkpoints without changing the others)."""
    tr = config["training"]
    extra = config["evaluation"].get("extra_steps", [])
    return sorted(set(range(0, tr["total_steps"] + 1, tr["segment_steps"])) | set(extra))


def previous_checkpoint_step(config: dict[str, Any], step: int) -> int:
    """The checkpoint step a segment ending at `step` trains from (0: the base model)."""
    earlier = [s for s in checkpoint_steps(config) if s < step]
    if not earlier or step not in checkpoint_steps(config):
        raise UserError(f"step {step}: not a checkpoint step of this study ({checkpoint_steps(config)})")
    return earlier[-1]


def eval_steps(config: dict[str, Any]) -> list[int]:
    """Checkpoint steps that are evaluated: 0, every `evaluation.every_steps`, every
    `evaluation.extra_steps` step (e.g. log-spaced early steps, which give the power-law fits of L
    against C a wider span of log C), and the final step."""
    ev = config["evaluation"]
    steps = [s for s in checkpoint_steps(config) if s % ev["every_steps"] == 0]
    final = config["training"]["total_steps"]
    return sorted(set(steps) | set(ev.get("extra_steps", [])) | {final})


# evaluation keys that say which checkpoints are evaluated on what, not how one is evaluated
EVAL_SCHEDULE_KEYS = ("benchmarks", "every_steps", "extra_steps")


def evaluation_params(config: dict[str, Any]) -> dict[str, Any]:
    """The evaluation settings one evaluation job depends on: `evaluation` without its schedule
    (EVAL_SCHEDULE_KEYS), so that changing which steps are evaluated reruns no evaluation."""
    return {k: v for k, v in config["evaluation"].items() if k not in EVAL_SCHEDULE_KEYS}


def study_dir(config: dict[str, Any]) -> str:
    return f"{config['results_dir']}/{config['study']}"


def base_model_cache(config: dict[str, Any]) -> str | None:
    """The base-model cache folder (rlscaling.base_cache) of `base_model_cache`: true (default) is
    {results_dir}/base_models, a string is that folder, false is no cache."""
    value = config.get("base_model_cache", True)
    if value is True:
        return f"{config['results_dir']}/base_models"
    return value or None


def fit_targets(config: dict[str, Any]) -> list[str]:
    """Names `{law}__{x}__{scenario}` of the fits the study makes."""
    fit = config["fit"]
    return [f"{law}__{x}__{sc}" for law in fit["laws"] for x in fit["x"] for sc in fit["scenarios"]]
