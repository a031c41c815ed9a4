"""The resolved `training.verl` settings of one run, and the train-segment params the Snakefile passes.

`training.verl` in the config holds only what a study changes; `DEFAULTS` fills the rest (the schema
declares no defaults there, so trl studies keep an empty `verl` section and their params never change
when a verl default does). `sizes.<size>` overrides any key for one size. GPUs per node and nodes come
from the size's `resources.train` unless set explicitly. A run's segments see only their own size's
resolved settings, so tuning one size never reruns another.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from rlscaling.errors import UserError
from rlscaling.resources import ClusterShape, cluster_shape
from rlscaling.schema import subschema, validate_section

DEFAULTS: dict[str, Any] = {
    "python": None,
    "rollout_engine": "vllm",
    "tensor_parallel_size": 1,
    "gpu_memory_utilization": 0.6,
    "ppo_mini_batch_size": None,
    "ppo_epochs": 1,
    "use_dynamic_bsz": True,
    "max_token_len_per_gpu": None,
    "micro_batch_size_per_gpu": 4,
    "kl_loss_type": "low_var_kl",
    "clip_ratio_high": None,
    "loss_agg_mode": "token-mean",
    "gradient_checkpointing": True,
    "param_offload": False,
    "optimizer_offload": False,
    "test_freq": 0,
    "val_files": [],
    "validation": {"n": 1, "temperature": 0.0, "top_p": 1.0},
    "save_freq": 0,
    "keep_checkpoints": 2,
    "hf_export": "checkpoint",
    "use_v1": True,
    "logger": ["console", "file"],
    "ray_num_cpus": None,
    "n_gpus_per_node": None,
    "nnodes": None,
    "launcher": None,
    "env": {},
    "overrides": [],
}


@functools.lru_cache(maxsize=1)
def _verl_schema() -> dict[str, Any]:
    return subschema("training", "verl")


def _validate(settings: dict[str, Any], where: str) -> None:
    validate_section(settings, _verl_schema(), where)


def resolve(
    verl: dict[str, Any] | None, size: str | None = None, shape: ClusterShape | None = None
) -> dict[str, Any]:
    """Complete verl settings for `size`: DEFAULTS <- training.verl <- training.verl.sizes[size], with
    n_gpus_per_node / nnodes from `shape` where unset. Raises UserError naming a bad key."""
    verl = copy.deepcopy(verl or {})
    per_size = verl.pop("sizes", {}) or {}
    out = copy.deepcopy(DEFAULTS)
    for source, where in (
        (verl, "training.verl"),
        (per_size.get(size, {}) if size else {}, f"training.verl.sizes.{size}"),
    ):
        for key, value in source.items():
            if key not in DEFAULTS:
                raise UserError(f"{where}.{key}: not a verl setting (known: {sorted(DEFAULTS)})")
            if key == "validation" and isinstance(value, dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = copy.deepcopy(value)
        _validate(out, where)
    if shape is not None:
        if out["n_gpus_per_node"] is None and shape.gpus_per_node > 0:
            out["n_gpus_per_node"] = shape.gpus_per_node
        if out["nnodes"] is None:
            out["nnodes"] = shape.nodes
        if out["ray_num_cpus"] is None and shape.cpus_per_task > 1:
            out["ray_num_cpus"] = shape.cpus_per_task
    return out


def check(config: dict[str, Any]) -> None:
    """Config-level checks of training.verl (for rlscaling.config.check): per-size sections name real
    sizes and hold valid settings. Raises UserError naming the key."""
    verl = config["training"].get("verl") or {}
    sizes = config["models"]["sizes"]
    for size in verl.get("sizes", {}) or {}:
        if size not in sizes:
            raise UserError(f"training.verl.sizes.{size}: no such size under models.sizes ({sorted(sizes)})")
    if config["training"].get("engine", "trl") == "verl" or verl:
        for size in sizes:
            resolve(verl, size)


def train_params(config: dict[str, Any], run: Any) -> dict[str, Any]:
    """The params of `run`'s training segments (what the Snakefile passes as --params-json).

    trl runs: exactly `run.train_params()`. verl runs: the same, with `verl` replaced by the run's
    resolved settings (its size's overrides and cluster shape applied, `sizes` removed)."""
    params = run.train_params()
    if params.get("engine", "trl") != "verl":
        return params
    params["verl"] = resolve(params.get("verl"), run.size, cluster_shape(config, run.size))
    return params
