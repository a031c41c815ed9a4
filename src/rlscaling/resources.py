"""Cluster resources: the config's `resources` section -> Snakemake resources for profiles/slurm.

Config (schema: workflow/schemas/config.schema.yaml, `resources` and `models.sizes.<size>.resources`):

    resources:
      default:  {partition: cpu, account: myproj, runtime: 30, mem_mb: 4000, cpus_per_task: 1}
      light:    {...}                      # data, tokenizer
      pretrain: {...}
      train:    {partition: gpu, gpus_per_node: 8, cpus_per_task: 64, mem_mb: 512000, runtime: 240}
      evaluate: {partition: gpu, gpus_per_node: 1, cpus_per_task: 8, mem_mb: 64000, runtime: 60}
    models:
      sizes:
        72B: {path: ..., resources: {train: {nodes: 4, runtime: 720}, evaluate: {gpus_per_node: 8}}}

A job's spec is `default` <- the family's entry <- the size's entry (later wins, key by key). It becomes
the resources snakemake-executor-plugin-slurm (2.8) reads:

    partition -> slurm_partition     account -> slurm_account     qos, constraint, slurm_extra as is
    runtime   -> runtime (minutes; x retry_runtime_factor^(attempt-1) on retries, default 1.5)
    mem_mb, cpus_per_task -> as is (per node)     nodes -> nodes (always set; 1 = single node)
    gpus_per_node = G > 0 on one node   -> gpu=G (+ gpu_model=gpu_type): sbatch --gpus=G and the job
                                           step's srun --gpus=G
    gpus_per_node = G > 0 on N > 1 nodes -> gres=gpu[:type]:G (per node), tasks=N, tasks_per_gpu=0, and
                                           mpi=srun: the plugin then runs the job's command directly in
                                           the batch step (no srun wrapper holding the nodes), where
                                           scripts/ray_slurm_launch.sh starts one Ray node per host with
                                           its own srun steps; tasks_per_gpu=0 stops the plugin adding
                                           --ntasks-per-gpu.

Unset values are left out, so a local run (no profile) sees only `gpu` (and mem_mb / runtime), and a
cluster default (partition, account) comes from the profile's default-resources.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rlscaling.errors import UserError
from rlscaling.schema import subschema, validate_section

FAMILIES = ("light", "pretrain", "train", "evaluate")
DEFAULT_RETRY_RUNTIME_FACTOR = 1.5
_KEYS = (
    "partition",
    "account",
    "qos",
    "constraint",
    "gpus_per_node",
    "gpu_type",
    "nodes",
    "cpus_per_task",
    "mem_mb",
    "runtime",
    "retry_runtime_factor",
    "slurm_extra",
)
# every Snakemake resource a family may set (so rules can declare them all; None values are dropped)
RESOURCE_NAMES = (
    "slurm_partition",
    "slurm_account",
    "qos",
    "constraint",
    "runtime",
    "mem_mb",
    "cpus_per_task",
    "nodes",
    "gpu",
    "gpu_model",
    "gres",
    "tasks",
    "tasks_per_gpu",
    "mpi",
    "slurm_extra",
)


@dataclass(frozen=True)
class ClusterShape:
    """Where one training segment runs: nodes x GPUs per node, and CPUs per node."""

    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 1

    @property
    def n_gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@functools.lru_cache(maxsize=1)
def _family_schema() -> dict[str, Any]:
    return subschema("resources", "$defs/family")


def _check_spec(spec: Any, where: str) -> dict[str, Any]:
    """A family spec checked against the schema's resources.$defs.family; UserError names the key."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise UserError(f"{where}: expected a mapping of resources, got {spec!r}")
    validate_section(spec, _family_schema(), where)
    return dict(spec)


def family_spec(config: dict[str, Any], family: str, size: str | None = None) -> dict[str, Any]:
    """The merged resource spec of `family` (for `size` when given): default <- family <- size."""
    if family not in FAMILIES:
        raise UserError(f"resources: unknown rule family {family!r} (one of {list(FAMILIES)})")
    res = config.get("resources") or {}
    spec = _check_spec(res.get("default"), "resources.default")
    spec.update(_check_spec(res.get(family), f"resources.{family}"))
    if size is not None:
        sizes = config["models"]["sizes"]
        if size not in sizes:
            raise UserError(f"models.sizes: no size named {size!r}")
        per_size = sizes[size].get("resources") or {}
        for fam in per_size:
            if fam not in FAMILIES:
                raise UserError(
                    f"models.sizes.{size}.resources.{fam}: not a rule family (one of {list(FAMILIES)})"
                )
        spec.update(_check_spec(per_size.get(family), f"models.sizes.{size}.resources.{family}"))
    nodes = int(spec.get("nodes", 1))
    if nodes > 1 and family != "train":
        raise UserError(
            f"resources.{family}.nodes: {nodes}; only training runs across nodes (Ray), "
            "evaluation and the other families use one node"
        )
    if nodes > 1 and not spec.get("gpus_per_node"):
        raise UserError(f"resources.{family}.nodes: {nodes} nodes need gpus_per_node > 0")
    return spec


def snakemake_resources(spec: dict[str, Any], attempt: int = 1) -> dict[str, Any]:
    """Snakemake resources of one job from its merged spec (see the module doc). Pure."""
    out: dict[str, Any] = {}
    if spec.get("partition"):
        out["slurm_partition"] = str(spec["partition"])
    if spec.get("account"):
        out["slurm_account"] = str(spec["account"])
    for key in ("qos", "constraint", "slurm_extra"):
        if spec.get(key):
            out[key] = str(spec[key])
    if spec.get("runtime"):
        factor = float(spec.get("retry_runtime_factor", DEFAULT_RETRY_RUNTIME_FACTOR))
        out["runtime"] = int(round(int(spec["runtime"]) * factor ** max(int(attempt) - 1, 0)))
    for key in ("mem_mb", "cpus_per_task"):
        if spec.get(key):
            out[key] = int(spec[key])
    nodes = int(spec.get("nodes", 1))
    out["nodes"] = nodes
    gpus = int(spec.get("gpus_per_node", 0) or 0)
    gpu_type = spec.get("gpu_type")
    if gpus > 0 and nodes == 1:
        out["gpu"] = gpus
        if gpu_type:
            out["gpu_model"] = str(gpu_type)
    elif gpus > 0:
        out["gres"] = f"gpu:{gpu_type}:{gpus}" if gpu_type else f"gpu:{gpus}"
        out["tasks"] = nodes
        out["tasks_per_gpu"] = 0
        out["mpi"] = "srun"
    return out


def job_resources(
    config: dict[str, Any], family: str, size: str | None = None, attempt: int = 1
) -> dict[str, Any]:
    """Snakemake resources of one job of `family` (for `size`), attempt `attempt`."""
    return snakemake_resources(family_spec(config, family, size), attempt)


def rule_resources(
    config: dict[str, Any], family: str, size_of: Callable[[Any], str] | None = None
) -> dict[str, Callable[..., Any]]:
    """The `resources:` of a rule of `family`: name -> callable(wildcards, attempt).

    `size_of(wildcards)` gives the job's size (e.g. `lambda w: RUNS[w.run].size`), or None for rules
    without one. Every name any size could need is declared; a job's callable returns None for the
    names its size does not use, and Snakemake drops those. Bad specs raise UserError at parse time.
    Values are computed once per (size, attempt): Snakemake evaluates resources many times per job.
    """
    config = copy.deepcopy(config)
    sizes = list(config["models"]["sizes"]) if size_of is not None else [None]
    names: list[str] = []
    for size in sizes:
        for name in job_resources(config, family, size, attempt=1):
            if name not in names:
                names.append(name)

    @functools.cache
    def cached(size: str | None, attempt: int) -> dict[str, Any]:
        return job_resources(config, family, size, attempt)

    def resource(name: str) -> Callable[..., Any]:
        def value(wildcards: Any, attempt: int = 1) -> Any:
            size = size_of(wildcards) if size_of is not None else None
            return cached(size, int(attempt)).get(name)

        return value

    return {name: resource(name) for name in names}


def cluster_shape(config: dict[str, Any], size: str) -> ClusterShape:
    """Nodes, GPUs per node and CPUs per node of `size`'s training jobs (resources.train)."""
    spec = family_spec(config, "train", size)
    return ClusterShape(
        nodes=int(spec.get("nodes", 1)),
        gpus_per_node=int(spec.get("gpus_per_node", 0) or 0),
        cpus_per_task=int(spec.get("cpus_per_task", 1)),
    )
