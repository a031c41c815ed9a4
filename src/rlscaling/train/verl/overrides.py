"""Hydra overrides of `python -m verl.trainer.main_ppo` (verl 0.9.1) for one GRPO training segment.

`build(segment)` maps our settings onto verl's config (verl/trainer/config/ppo_trainer.yaml):

    GRPO              algorithm.adv_estimator=grpo, no critic, no KL in the reward (KL is a loss term:
                      actor.use_kl_loss when kl_coef > 0)
    recipe            rlscaling.train.recipes: algorithm.norm_adv_by_std_in_grpo, clip_ratio(_low/_high),
                      entropy_coeff, loss_agg_mode always; policy_loss.loss_mode, loss_scale_factor,
                      algorithm.filter_groups, algorithm.rollout_correction only when the recipe needs them
                      (the default recipe's overrides are the ones verl ran before recipes existed)
    batch             data.train_batch_size = prompts_per_step, rollout.n = rollouts_per_prompt,
                      actor.ppo_mini_batch_size = verl.ppo_mini_batch_size or prompts_per_step
    optimisation      actor.optim.lr, constant schedule after lr_warmup_steps (independent of the total
                      steps, so a segment never depends on training.total_steps), kl_loss_coef /
                      kl_loss_type
    lengths           data.max_prompt_length / max_response_length, dynamic batch size with a token budget
    rollout           vllm or sglang, tensor parallel size, memory utilisation, temperature, seed;
                      validation sampling in rollout.val_kwargs (temperature 0 = greedy, or do_sample);
                      optional pins (emitted only when set): optim.weight_decay, optim.clip_grad (the
                      clip verl 0.9.1's FSDP engine applies), max_num_seqs, val_kwargs.top_k, the
                      log-prob token budget
    data order        data.shuffle=false: prompts in file order (the curriculum); the dataloader state is
                      part of verl's checkpoint, so segments continue where the last one stopped
                      (verl.data_shuffle: true reshuffles every epoch, seeded, as verl's default does)
    reward            reward.custom_reward_function.path/name = rlscaling/rewards/verl_reward.py
                      compute_score, with reward_kwargs.method = training.reward. (0.9.1 reads the reward
                      section; its legacy top-level `custom_reward_function` is never set here.)
    segments          trainer.total_training_steps = the segment's last step k; trainer.resume_mode =
                      resume_path from global_step_{k - segment_steps} (disable for the first segment);
                      checkpoints with hf_model in actor.checkpoint.save_contents at the segment's end
                      (and every verl.save_freq steps); an absolute trainer.default_local_dir
    logging           trainer.logger = console + file (never wandb unless asked); the file logger's path
                      is VERL_FILE_LOGGER_PATH, one file per job (verl truncates it on open), set in the
                      environment and in the Ray job's runtime_env.env_vars (the logger runs in an actor)
    cluster           trainer.n_gpus_per_node / nnodes; ray_kwargs.ray_init.num_cpus on one node (fixed on
                      Slurm; across nodes the launcher gives Ray its CPU count)
    switches          trainer.use_v1 explicitly

Everything is a plain function of its inputs (no verl import), so the tests compose every generated set
against verl's real config in verl's environment (tests/verl_harness.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from rlscaling.errors import UserError
from rlscaling.train import recipes
from rlscaling.train.metrics import rollouts_per_step

# verl's loop runs while epoch < total_epochs; total_training_steps is what ends a segment. A large epoch
# count lets the dataloader wrap around (data reuse) without ever being the limit.
TOTAL_EPOCHS = 100_000
_PLAIN = re.compile(r"^[A-Za-z0-9_./:@+\-]+$")
_NOT_PLAIN = re.compile(r"^(true|false|null|nan|inf|-?[0-9].*)$", re.IGNORECASE)


@dataclass(frozen=True)
class Segment:
    """Everything one training segment's verl run depends on.

    `params` is the run's training params with `verl` resolved (rlscaling.train.verl.settings.resolve);
    `first` / `last` are global steps (the segment trains (first, last]); `resume_from` is the verl
    checkpoint folder `.../global_step_{n}` to resume from, None to start from the base model.
    """

    params: dict[str, Any]
    model_path: str
    train_files: list[str]
    val_files: list[str]
    ckpt_dir: str
    first: int
    last: int
    resume_from: str | None
    reward_path: str
    project: str = "rlscaling"
    experiment: str = "run"
    log_path: str | None = None
    extra: list[str] = field(default_factory=list)


def value(v: Any) -> str:
    """A Python value as a hydra override value: bools and null lowercase, lists in brackets, strings
    quoted unless plain (paths and ids stay readable), numbers as repr."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(value(x) for x in v) + "]"
    s = str(v)
    if _PLAIN.match(s) and not _NOT_PLAIN.match(s):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def token_budget(params: dict[str, Any]) -> int:
    """Tokens per GPU micro-batch under dynamic batch size: verl.max_token_len_per_gpu, else
    max(16384, 2 x (max prompt + max response)) so one full sequence always fits."""
    v = params["verl"]
    if v.get("max_token_len_per_gpu"):
        budget = int(v["max_token_len_per_gpu"])
    else:
        budget = max(16384, 2 * (int(params["max_prompt_tokens"]) + int(params["max_response_tokens"])))
    need = int(params["max_prompt_tokens"]) + int(params["max_response_tokens"])
    if budget < need:
        raise UserError(
            f"training.verl.max_token_len_per_gpu: {budget} is less than one sequence "
            f"(max_prompt_tokens + max_response_tokens = {need})"
        )
    return budget


def check_shape(params: dict[str, Any]) -> None:
    """Batch / GPU arithmetic verl would reject at start-up (after minutes of queueing)."""
    v = params["verl"]
    n_gpus = int(v["n_gpus_per_node"] or 0) * int(v["nnodes"] or 1)
    if n_gpus < 1:
        raise UserError(
            "training.verl.n_gpus_per_node: the verl engine needs GPUs; set resources.train.gpus_per_node "
            "(or training.verl.n_gpus_per_node)"
        )
    tp = int(v["tensor_parallel_size"])
    if tp > int(v["n_gpus_per_node"]) or int(v["n_gpus_per_node"]) % tp:
        raise UserError(
            f"training.verl.tensor_parallel_size: {tp} must divide the GPUs per node ({v['n_gpus_per_node']})"
        )
    prompts = int(params["prompts_per_step"])
    mini = int(v["ppo_mini_batch_size"] or prompts)
    if mini > prompts or prompts % mini:
        raise UserError(
            f"training.verl.ppo_mini_batch_size: {mini} must divide training.prompts_per_step ({prompts})"
        )
    rollouts = rollouts_per_step(params)
    if rollouts % n_gpus:
        raise UserError(
            f"training.prompts_per_step x rollouts_per_prompt = {rollouts} rollouts per step do not split "
            f"evenly over {n_gpus} GPUs"
        )
    if (mini * int(params["rollouts_per_prompt"])) % n_gpus:
        raise UserError(
            f"training.verl.ppo_mini_batch_size: {mini} prompts x {params['rollouts_per_prompt']} rollouts "
            f"per update do not split evenly over {n_gpus} GPUs"
        )


def build(seg: Segment) -> list[str]:
    """The hydra overrides (`key=value` strings, in a stable order) of one segment's verl run."""
    p = seg.params
    v = p["verl"]
    check_shape(p)
    if seg.last <= seg.first:
        raise UserError(f"--step {seg.last}: the segment must end after it starts (step {seg.first})")
    seed = int(p["seed"])
    prompts = int(p["prompts_per_step"])
    n = int(p["rollouts_per_prompt"])
    kl = float(p["kl_coef"])
    # the recipe (rlscaling.train.recipes): keys every run sets, and keys only a non-default knob adds
    recipe, recipe_extra = recipes.verl_overrides(p)
    dynamic = bool(v["use_dynamic_bsz"])
    test_freq = int(v["test_freq"])
    val = v["validation"]
    if val.get("do_sample") is not None:
        if val["do_sample"] and float(val["temperature"]) == 0.0:
            raise UserError("training.verl.validation: do_sample true needs a temperature above 0")
        val_greedy = not val["do_sample"]
    else:
        val_greedy = float(val["temperature"]) == 0.0
    seg_len = seg.last - seg.first
    save_freq = int(v["save_freq"]) if int(v["save_freq"]) > 0 else seg_len
    loggers = list(dict.fromkeys([*v["logger"], "file"]))
    if not seg.val_files and test_freq > 0:
        raise UserError(
            "training.verl.test_freq: in-training validation needs validation files (verl.val_files)"
        )
    save_contents = ["model", "optimizer", "extra"] + (["hf_model"] if v["hf_export"] == "checkpoint" else [])
    a = "actor_rollout_ref.actor"
    r = "actor_rollout_ref.rollout"
    o: list[tuple[str, Any]] = [
        # algorithm: GRPO, KL as a loss term
        ("algorithm.adv_estimator", "grpo"),
        ("algorithm.norm_adv_by_std_in_grpo", recipe["algorithm.norm_adv_by_std_in_grpo"]),
        ("algorithm.use_kl_in_reward", False),
        # data: curriculum order, lengths
        ("data.train_files", list(seg.train_files)),
        ("data.val_files", list(seg.val_files or seg.train_files[:1])),
        ("data.prompt_key", "prompt"),
        ("data.reward_fn_key", "data_source"),
        ("data.train_batch_size", prompts),
        ("data.max_prompt_length", int(p["max_prompt_tokens"])),
        ("data.max_response_length", int(p["max_response_tokens"])),
        ("data.shuffle", bool(v.get("data_shuffle", False))),
        ("data.seed", seed),
        ("data.filter_overlong_prompts", True),
        ("data.truncation", "error"),
        # model: the base model for every segment (it is also the KL reference); weights come from the
        # resumed checkpoint after the first segment
        ("actor_rollout_ref.model.path", seg.model_path),
        ("actor_rollout_ref.model.enable_gradient_checkpointing", bool(v["gradient_checkpointing"])),
        ("actor_rollout_ref.model.use_remove_padding", True),
        # actor
        (f"{a}.optim.lr", float(p["lr"])),
        (f"{a}.optim.lr_scheduler_type", "constant"),
        (f"{a}.optim.lr_warmup_steps", int(p.get("warmup_steps", 0))),
        (f"{a}.optim.lr_warmup_steps_ratio", 0.0),
        (f"{a}.ppo_mini_batch_size", int(v["ppo_mini_batch_size"] or prompts)),
        (f"{a}.ppo_epochs", int(v["ppo_epochs"])),
        (f"{a}.shuffle", False),
        (f"{a}.data_loader_seed", seed),
        (f"{a}.use_dynamic_bsz", dynamic),
    ]
    if dynamic:
        o.append((f"{a}.ppo_max_token_len_per_gpu", token_budget(p)))
        if v.get("log_prob_max_token_len_per_gpu"):
            # the rollout's (old-policy) log-prob pass; the reference's follows the actor's, as in verl
            o.append((f"{r}.log_prob_max_token_len_per_gpu", int(v["log_prob_max_token_len_per_gpu"])))
    else:
        mb = int(v["micro_batch_size_per_gpu"])
        o += [
            (f"{a}.ppo_micro_batch_size_per_gpu", mb),
            (f"{r}.log_prob_micro_batch_size_per_gpu", mb),
            ("actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu", mb),
        ]
    o += [
        (f"{a}.clip_ratio", recipe[f"{a}.clip_ratio"]),
        (f"{a}.clip_ratio_low", recipe[f"{a}.clip_ratio_low"]),
        (f"{a}.clip_ratio_high", recipe[f"{a}.clip_ratio_high"]),
        (f"{a}.entropy_coeff", recipe[f"{a}.entropy_coeff"]),
        (f"{a}.loss_agg_mode", recipe[f"{a}.loss_agg_mode"]),
        (f"{a}.use_kl_loss", kl > 0),
        (f"{a}.kl_loss_coef", kl),
        (f"{a}.kl_loss_type", v["kl_loss_type"]),
        (f"{a}.fsdp_config.param_offload", bool(v["param_offload"])),
        (f"{a}.fsdp_config.optimizer_offload", bool(v["optimizer_offload"])),
        (f"{a}.fsdp_config.seed", seed),
        (f"{a}.checkpoint.save_contents", save_contents),
        (f"{a}.checkpoint.load_contents", ["model", "optimizer", "extra"]),
        ("actor_rollout_ref.ref.fsdp_config.param_offload", bool(v["param_offload"])),
        # rollout
        (f"{r}.name", v["rollout_engine"]),
        (f"{r}.n", n),
        (f"{r}.temperature", float(p.get("temperature", 1.0))),
        (f"{r}.tensor_model_parallel_size", int(v["tensor_parallel_size"])),
        (f"{r}.gpu_memory_utilization", float(v["gpu_memory_utilization"])),
        (
            f"{r}.max_num_batched_tokens",
            max(8192, int(p["max_prompt_tokens"]) + int(p["max_response_tokens"])),
        ),
        (f"{r}.seed", seed),
        (f"{r}.val_kwargs.n", 1 if val_greedy else int(val["n"])),
        (f"{r}.val_kwargs.do_sample", not val_greedy),
        (f"{r}.val_kwargs.temperature", float(val["temperature"])),
        (f"{r}.val_kwargs.top_p", float(val["top_p"])),
        # reward: our scorer, through the 0.9.1 reward section
        ("reward.custom_reward_function.path", seg.reward_path),
        ("reward.custom_reward_function.name", "compute_score"),
        ("+reward.custom_reward_function.reward_kwargs.method", p["reward"]),
        # trainer: one segment
        ("trainer.use_v1", bool(v["use_v1"])),
        ("trainer.logger", loggers),
        # verl passes the project to wandb.init, over WANDB_PROJECT: the tracker's (rlscaling.tracking) wins
        ("trainer.project_name", (v.get("env") or {}).get("WANDB_PROJECT") or seg.project),
        ("trainer.experiment_name", seg.experiment),
        ("trainer.n_gpus_per_node", int(v["n_gpus_per_node"])),
        ("trainer.nnodes", int(v["nnodes"] or 1)),
        ("trainer.total_epochs", TOTAL_EPOCHS),
        ("trainer.total_training_steps", int(seg.last)),
        ("trainer.save_freq", save_freq),
        ("trainer.test_freq", test_freq if test_freq > 0 else -1),
        ("trainer.val_before_train", test_freq > 0 and seg.first == 0 and seg.resume_from is None),
        ("trainer.log_val_generations", 0),
        ("trainer.default_local_dir", seg.ckpt_dir),
        ("trainer.max_actor_ckpt_to_keep", v["keep_checkpoints"]),
        ("trainer.resume_mode", "resume_path" if seg.resume_from else "disable"),
    ]
    o += list(recipe_extra.items())
    # settings a study may pin (a public script's values); null leaves verl's default and adds nothing
    for key, setting, cast in (
        (f"{a}.optim.weight_decay", v.get("weight_decay"), float),
        (f"{a}.optim.clip_grad", v.get("grad_clip"), float),
        (f"{r}.max_num_seqs", v.get("max_num_seqs"), int),
        (f"{r}.val_kwargs.top_k", val.get("top_k"), int),
    ):
        if setting is not None:
            o.append((key, cast(setting)))
    if seg.resume_from:
        o.append(("trainer.resume_from_path", seg.resume_from))
    if v.get("ray_num_cpus") and int(v["nnodes"] or 1) == 1:
        # one node: verl starts Ray itself, with a fixed CPU count (not the whole machine's). Across
        # nodes the launcher starts Ray with --num-cpus and verl connects, where num_cpus is refused.
        o.append(("ray_kwargs.ray_init.num_cpus", int(v["ray_num_cpus"])))
    if seg.log_path:
        # the file logger lives in verl's TaskRunner (a Ray actor, possibly on another node): the path
        # goes to every Ray worker through the job's runtime environment, not only the driver's
        o.append(("+ray_kwargs.ray_init.runtime_env.env_vars.VERL_FILE_LOGGER_PATH", str(seg.log_path)))
    worker_env = {**plugin_environment(v), **{str(k): str(x) for k, x in (v.get("env") or {}).items()}}
    for key, val in sorted(worker_env.items()):
        # verl's workers and vLLM servers are Ray actors: they get our plugin, the CPU mode's variables
        # and training.verl.env (e.g. the tracker's run id, rlscaling.tracking) through the job's runtime
        # environment as well as the driver's environment
        o.append((f"+ray_kwargs.ray_init.runtime_env.env_vars.{key}", val))
    if v.get("device") == "cpu":
        o += cpu_overrides(p)
    out = [f"{k}={value(x)}" for k, x in o]
    return out + list(v.get("overrides") or []) + list(seg.extra)


PLUGIN_MODULE = "rlscaling.train.verl.plugin"
# vLLM's CPU backend reserves its KV cache in host RAM (GiB)
CPU_KVCACHE_GIB = 1


def plugin_environment(v: dict[str, Any]) -> dict[str, str]:
    """Environment variables of every verl process: our plugin module (always; rlscaling.train.verl.plugin)
    and, in CPU mode, the device switches of the plugin and of vLLM's CPU build."""
    env = {"VERL_USE_EXTERNAL_MODULES": PLUGIN_MODULE}
    if v.get("device") == "cpu":
        env.update(
            RLSCALING_VERL_DEVICE="cpu",
            VLLM_TARGET_DEVICE="cpu",
            VLLM_CPU_KVCACHE_SPACE=str(CPU_KVCACHE_GIB),
        )
    return env


def cpu_overrides(params: dict[str, Any]) -> list[tuple[str, Any]]:
    """verl's CPU mode (training.verl.device: cpu; for CI and laptops): CPU device, one logical Ray GPU,
    FSDP2 (FSDP1 passes a CUDA device id), sdpa attention (flash-attention is CUDA-only), no
    torch.compile, an eager vLLM without sleep mode, single workers, fp32 everywhere (the tiny base
    models are fp32; CPUs have no fast bf16 path that verl uses), and no Ray dashboard (its ~10
    processes cost a 2-core segment ~17 of ~191 s and 1.6 GB of RSS, measured on the engines study)."""
    a = "actor_rollout_ref.actor"
    r = "actor_rollout_ref.rollout"
    ref = "actor_rollout_ref.ref"
    return [
        ("trainer.device", "cpu"),
        ("+ray_kwargs.ray_init.num_gpus", 1),
        ("+ray_kwargs.ray_init.include_dashboard", False),
        (f"{a}.strategy", "fsdp2"),
        (f"{a}.fsdp_config.strategy", "fsdp2"),
        (f"{ref}.strategy", "fsdp2"),
        (f"{ref}.fsdp_config.strategy", "fsdp2"),
        (f"{a}.use_torch_compile", False),
        (f"{a}.fsdp_config.use_torch_compile", False),
        (f"{ref}.fsdp_config.use_torch_compile", False),
        (f"{a}.fsdp_config.dtype", "float32"),
        (f"{ref}.fsdp_config.dtype", "float32"),
        ("+actor_rollout_ref.model.override_config.attn_implementation", "sdpa"),
        (f"{r}.dtype", "float32"),
        (f"{r}.enforce_eager", True),
        (f"+{r}.enable_sleep_mode", False),
        (f"{r}.free_cache_engine", False),
        (f"{r}.agent.num_workers", 1),
        ("transfer_queue.backend.SimpleStorage.num_data_storage_units", 1),
        ("reward.num_workers", 1),
        ("data.dataloader_num_workers", 0),
    ]


def as_dict(overrides: list[str]) -> dict[str, str]:
    """key -> raw value text of `key=value` overrides (a leading + or ~ is kept on the key)."""
    out = {}
    for item in overrides:
        key, _, val = item.partition("=")
        out[key] = val
    return out


def command(python: str, overrides: list[str]) -> list[str]:
    """argv of the trainer: `python -m verl.trainer.main_ppo <overrides...>`."""
    return [python, "-m", "verl.trainer.main_ppo", *overrides]


def merger_command(python: str, actor_dir: str, target_dir: str) -> list[str]:
    """argv that merges an FSDP actor checkpoint into an HF folder (verl.model_merger)."""
    return [
        python,
        "-m",
        "verl.model_merger",
        "merge",
        "--backend",
        "fsdp",
        "--local_dir",
        actor_dir,
        "--target_dir",
        target_dir,
    ]


def dumps(overrides: list[str]) -> str:
    """The overrides as a JSON list (what the composition check reads)."""
    return json.dumps(overrides)
