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
    "weight_decay": None,
    "grad_clip": None,
    "log_prob_max_token_len_per_gpu": None,
    "max_num_seqs": None,
    "data_shuffle": False,
    "gradient_checkpointing": True,
    "param_offload": False,
    "optimizer_offload": False,
    "test_freq": 0,
    "val_files": [],
    "validation": {"n": 1, "temperature": 0.0, "top_p": 1.0, "top_k": None, "do_sample": None},
    "save_freq": 0,
    "keep_checkpoints": 2,
    "hf_export": "checkpoint",
    "use_v1": True,
    "device": "auto",
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


# verl's CPU mode (training.verl.device: cpu): one logical GPU on one node, vLLM's CPU build as the
# rollout. verl's transfer-queue actors need more logical CPUs than a 2-core machine reports (it hangs
# after printing its config with 2), so Ray is told there are at least CPU_RAY_NUM_CPUS.
CPU_RAY_NUM_CPUS = 8
# on vLLM's CPU backend gpu_memory_utilization is a fraction of host RAM: verl's GPU default fails on a
# busy machine, 0.1 works (the KV cache itself is VLLM_CPU_KVCACHE_SPACE GiB)
CPU_MEMORY_FRACTION = 0.1


def for_device(verl: dict[str, Any], gpus: int) -> dict[str, Any]:
    """Resolved settings with `device` decided for a node with `gpus` visible GPUs: auto -> cpu without
    GPUs, cuda with them. cpu mode runs on one logical GPU of one node. Raises UserError for cpu on a
    node with GPUs (CPU mode is for CI and laptops, never for a GPU node) and for cuda without GPUs."""
    out = copy.deepcopy(verl)
    device = out.get("device") or "auto"
    if device == "auto":
        device = "cuda" if gpus > 0 else "cpu"
    if device == "cpu" and gpus > 0:
        raise UserError(
            f"training.verl.device: cpu on a node with {gpus} visible GPU(s); verl's CPU mode is for "
            "machines without GPUs (use cuda or auto)"
        )
    if device == "cuda" and gpus == 0 and out.get("n_gpus_per_node") is None:
        raise UserError(
            "training.verl.device: cuda, but no GPU is visible to this job (set resources.train."
            "gpus_per_node, or training.verl.device: cpu to run verl's CPU mode)"
        )
    out["device"] = device
    if device == "cpu":
        out.update(
            n_gpus_per_node=1,
            nnodes=1,
            tensor_parallel_size=1,
            rollout_engine="vllm",
            gpu_memory_utilization=CPU_MEMORY_FRACTION,
        )
        out["ray_num_cpus"] = max(int(out.get("ray_num_cpus") or 0), CPU_RAY_NUM_CPUS)
    return out
