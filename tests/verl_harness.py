"""Checks that run verl's own code (inside an environment with verl 0.9.1; see
scripts/install_engines_venv.sh). The tests call them through a subprocess; each reads a JSON request and
writes a JSON answer, so the main environment never imports verl.

    python tests/verl_harness.py compose REQUEST.json ANSWER.json
        {"make_model"?: DIR, "sets": {name: [override, ...]}}
        -> {name: {"errors", "missing", "type_errors", "added", "values"}}
        Composes every override set against verl/trainer/config/ppo_trainer.yaml with hydra (struct mode:
        an unknown key is an error), lists mandatory values (???) left unset in the parts of the config
        the run uses, compares each overridden value's type with verl's default, resolves every
        interpolation, runs verl's validate_config and builds every verl dataclass config (`_target_`).

    python tests/verl_harness.py reward REQUEST.json ANSWER.json
        {"make_model"?: DIR, "cases": {name: {"overrides": [...], "samples": [{data_source, response,
        ground_truth, extra_info}]}}} -> {name: [{"reward_score", "reward_extra_info", "manager",
        "decoded"}]}: verl's RewardLoopWorker built from the composed config (its manager comes from
        load_reward_manager, which reads reward.custom_reward_function), then compute_score_batch on a
        DataProto of the samples, tokenized with the model's own tokenizer.

    python tests/verl_harness.py filelog REQUEST.json ANSWER.json
        {"path": OUT.jsonl, "steps": [{step, prompt_lengths, response_lengths, scores, max_prompt,
        max_response, timing, actor, n_gpus, val?: {data_sources, acc}}]}
        Writes a JSONL through verl's Tracking(default_backend=["file"]) (FileLogger), with each step's
        metrics computed by verl's own compute_data_metrics / compute_timing_metrics /
        compute_throughout_metrics and the v1 trainer's validation-metric naming.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

def verl_python() -> Path | None:
    """An interpreter with verl for the checks: $RLSCALING_ENGINES_PYTHON, else the project's
    .venv-engines (`make engines-venv`), else None."""
    from rlscaling.environments import ENGINES_PYTHON_ENV, engines_venv_python

    configured = os.environ.get(ENGINES_PYTHON_ENV)
    if configured:
        c = Path(configured)
        return c if c.is_file() and os.access(c, os.X_OK) else None
    return engines_venv_python()


def run(
    command: str,
    request: dict[str, Any],
    workdir: str | Path,
    python: str | Path | None = None,
    timeout: float = 600,
) -> Any:
    """Run one check in the verl environment from any environment: write the request, run
    `python tests/verl_harness.py COMMAND`, return the answer. Raises RuntimeError with the output's
    tail when the check itself fails."""
    import subprocess

    python = python or verl_python()
    if python is None:
        raise RuntimeError(
            "no verl environment (run make engines-venv or set RLSCALING_ENGINES_PYTHON)"
        )
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    req, ans = workdir / f"{command}.request.json", workdir / f"{command}.answer.json"
    req.write_text(json.dumps(request))
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_MODE": "disabled",
    }
    proc = subprocess.run(
        [str(python), str(Path(__file__).resolve()), command, str(req), str(ans)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
        env=env,
    )
    if proc.returncode != 0 or not ans.is_file():
        raise RuntimeError(
            f"tests/verl_harness.py {command} failed ({proc.returncode}):\n{proc.stderr[-6000:]}"
        )
    return json.loads(ans.read_text())


# parts of verl's config that a GRPO run with a rule-based reward never builds
UNUSED_SUBTREES = ("reward.reward_model.", "distillation.", "critic.", "reward_model.")


def _config_dir() -> str:
    import verl.trainer.config as cfg

    return os.path.dirname(cfg.__file__)


def _compose(overrides: list[str]):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=_config_dir(), version_base=None):
        return compose("ppo_trainer", overrides=list(overrides))


def _missing(cfg) -> list[str]:
    from omegaconf import DictConfig, ListConfig, OmegaConf

    out = []

    def walk(node, prefix):
        if isinstance(node, DictConfig):
            for key in node.keys():
                path = f"{prefix}{key}"
                if OmegaConf.is_missing(node, key):
                    out.append(path)
                    continue
                try:
                    child = node._get_node(key)
                except Exception:
                    continue
                if isinstance(child, (DictConfig, ListConfig)):
                    walk(child, path + ".")
        elif isinstance(node, ListConfig):
            for i in range(len(node)):
                if OmegaConf.is_missing(node, i):
                    out.append(f"{prefix}{i}")

    walk(cfg, "")
    return [p for p in out if not p.startswith(UNUSED_SUBTREES)]


# overrides whose type legitimately differs from verl's default: the dataset takes one path or a list
ACCEPTS_LIST = ("data.train_files", "data.val_files")


def _type_errors(default, cfg, overrides: list[str]) -> tuple[list[str], list[str]]:
    """(type errors, keys added with `+`) of an override set against verl's default config."""
    from omegaconf import DictConfig, OmegaConf

    errors, added = [], []
    for item in overrides:
        key = item.partition("=")[0].lstrip("+~")
        if item.startswith("+"):
            added.append(key)
            parts = key.split(".")
            for i in range(len(parts) - 1, 0, -1):  # the nearest ancestor verl defines must be a mapping
                anc = OmegaConf.select(default, ".".join(parts[:i]), default="__absent__")
                if anc != "__absent__":
                    if not isinstance(anc, DictConfig):
                        errors.append(f"{key}: {'.'.join(parts[:i])} is not a mapping in verl's config")
                    break
            continue
        old = OmegaConf.select(default, key, throw_on_missing=False)
        new = OmegaConf.select(cfg, key, throw_on_missing=False)
        if old is None or new is None:
            continue
        old_t = type(OmegaConf.to_container(old) if OmegaConf.is_config(old) else old)
        new_t = type(OmegaConf.to_container(new) if OmegaConf.is_config(new) else new)
        numeric = {int, float}
        if old_t is new_t or ({old_t, new_t} <= numeric) or (key in ACCEPTS_LIST and new_t is list):
            continue
        errors.append(
            f"{key}: verl's default is {old_t.__name__}, the override gives {new_t.__name__} ({new!r})"
        )
    return errors, added


def _dataclass_errors(cfg, use_reference_policy: bool) -> list[str]:
    """Build the dataclass configs the way verl's workers do (engine_workers.py, trainer_base.py):
    model (HFModelConfig reads the model's config.json), actor, reference (after verl's own key
    renames), rollout and its checkpoint engine, algorithm."""
    import copy

    from omegaconf import OmegaConf, open_dict

    from verl.utils.config import omega_conf_to_dataclass

    errors = []
    nodes = [
        "actor_rollout_ref.model",
        "actor_rollout_ref.actor",
        "actor_rollout_ref.rollout",
        "actor_rollout_ref.rollout.checkpoint_engine",
        "algorithm",
    ]
    for path in nodes:
        try:
            omega_conf_to_dataclass(OmegaConf.select(cfg, path))
        except Exception as err:
            errors.append(f"{path}: {type(err).__name__}: {err}")
    if use_reference_policy:
        arr = copy.deepcopy(cfg.actor_rollout_ref)
        try:
            with open_dict(arr.ref):
                arr.ref.ppo_mini_batch_size = arr.actor.ppo_mini_batch_size
                arr.ref.ppo_micro_batch_size = arr.ref.pop("log_prob_micro_batch_size", None)
                arr.ref.ppo_micro_batch_size_per_gpu = arr.ref.pop("log_prob_micro_batch_size_per_gpu", None)
                arr.ref.use_dynamic_bsz = arr.ref.pop("log_prob_use_dynamic_bsz", False)
                arr.ref.ppo_max_token_len_per_gpu = arr.ref.pop("log_prob_max_token_len_per_gpu", None)
            omega_conf_to_dataclass(arr.ref)
        except Exception as err:
            errors.append(f"actor_rollout_ref.ref: {type(err).__name__}: {err}")
    return errors


def compose_check(overrides: list[str], default=None) -> dict[str, Any]:
    """Compose one override set and check it (see the module doc)."""
    from omegaconf import OmegaConf

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    answer: dict[str, Any] = {"errors": [], "missing": [], "type_errors": [], "values": {}}
    try:
        cfg = _compose(overrides)
    except Exception as err:
        answer["errors"].append(f"compose: {type(err).__name__}: {err}")
        return answer
    default = default if default is not None else _compose(["actor_rollout_ref.rollout.name=vllm"])
    answer["missing"] = _missing(cfg)
    answer["type_errors"], answer["added"] = _type_errors(default, cfg, overrides)
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except Exception as err:
        answer["errors"].append(f"resolve: {type(err).__name__}: {err}")
    for item in overrides:
        key = item.partition("=")[0].lstrip("+~")
        val = OmegaConf.select(cfg, key, throw_on_missing=False)
        answer["values"][key] = OmegaConf.to_container(val, resolve=True) if OmegaConf.is_config(val) else val
    use_ref, use_critic = bool(need_reference_policy(cfg)), bool(need_critic(cfg))
    answer["use_reference_policy"], answer["use_critic"] = use_ref, use_critic
    try:
        validate_config(cfg, use_reference_policy=use_ref, use_critic=use_critic)
    except Exception as err:
        answer["errors"].append(f"validate_config: {type(err).__name__}: {err}")
    answer["errors"].extend(f"dataclass {e}" for e in _dataclass_errors(cfg, use_ref))
    return answer


def _byte_tokenizer():
    """A byte-level BPE tokenizer without merges: one token per byte, Qwen2-style pre-tokenizer and
    decoder, so AutoTokenizer's Qwen2Tokenizer rebuild of the saved files encodes the same way and
    every text round-trips through decode."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<unk>"]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate(specials + alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>"
    )


def reward_check(overrides: list[str], samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Score samples the way verl 0.9.1's v1 trainer does (see the module doc): a RewardLoopWorker built
    from the composed config (its tokenizer is the model's, its manager comes from load_reward_manager,
    which reads reward.custom_reward_function), then compute_score_batch on a DataProto of the samples.
    main_ppo does not migrate the legacy top-level custom_reward_function, and neither does this."""
    import asyncio

    import numpy as np
    import torch

    from verl import DataProto
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker

    worker = RewardLoopWorker(_compose(overrides))
    tokenizer = worker.input_tokenizer
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    prompt_ids = tokenizer("question?", add_special_tokens=False)["input_ids"]
    encoded = [tokenizer(s["response"], add_special_tokens=False)["input_ids"] + [eos] for s in samples]
    width = max(len(e) for e in encoded) + 2  # right padding after each response, as verl's rollout does
    responses = torch.full((len(samples), width), pad, dtype=torch.long)
    for i, ids in enumerate(encoded):
        responses[i, : len(ids)] = torch.tensor(ids)
    prompts = torch.tensor([prompt_ids] * len(samples))
    mask = torch.cat([torch.ones_like(prompts), (responses != pad).long()], dim=1)
    data = DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": responses,
            "attention_mask": mask,
            "input_ids": torch.cat([prompts, responses], dim=1),
        },
        non_tensors={
            "data_source": np.array([s["data_source"] for s in samples], dtype=object),
            "reward_model": np.array(
                [{"ground_truth": s["ground_truth"], "style": "rule"} for s in samples], dtype=object
            ),
            "extra_info": np.array([dict(s.get("extra_info") or {}) for s in samples], dtype=object),
        },
    )
    outputs = asyncio.get_event_loop().run_until_complete(worker.compute_score_batch(data))
    manager = type(worker.reward_manager).__name__
    return [
        {
            "reward_score": o["reward_score"],
            "reward_extra_info": o["reward_extra_info"],
            "manager": manager,
            "decoded": tokenizer.decode(encoded[i][:-1]),
        }
        for i, o in enumerate(outputs)
    ]


# the product's architecture (rlscaling.models: Qwen3), head size 32 (vLLM's CPU attention serves >= 32)
TINY_ARCH = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
             "num_key_value_heads": 1, "head_dim": 32}  # fmt: skip


def make_tiny_model(path: str) -> str:
    """A tiny Qwen3 model folder (rlscaling.models' config, generation config, byte-level tokenizer with a
    chat template) for verl's HFModelConfig to read; no weights (verl's config objects never load them)."""
    from transformers import GenerationConfig

    from rlscaling import models

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    tok = _byte_tokenizer()
    config = models.model_config(TINY_ARCH, tok, max_position_embeddings=8192, where="make_tiny_model")
    config.architectures = ["Qwen3ForCausalLM"]
    config.save_pretrained(out)
    GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id).save_pretrained(out)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    tok.save_pretrained(out)
    return str(out)


def _step_metrics(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import torch

    from verl import DataProto
    from verl.trainer.ppo.metric_utils import (
        compute_data_metrics,
        compute_throughout_metrics,
        compute_timing_metrics,
    )

    pl, rl, scores = spec["prompt_lengths"], spec["response_lengths"], spec["scores"]
    n, mp, mr = len(pl), int(spec["max_prompt"]), int(spec["max_response"])
    prompts = torch.ones((n, mp), dtype=torch.long)
    responses = torch.ones((n, mr), dtype=torch.long)
    attention = torch.zeros((n, mp + mr), dtype=torch.long)
    response_mask = torch.zeros((n, mr), dtype=torch.float32)
    token_scores = torch.zeros((n, mr), dtype=torch.float32)
    for i in range(n):
        attention[i, mp - pl[i] : mp] = 1  # left-padded prompt
        attention[i, mp : mp + rl[i]] = 1
        response_mask[i, : rl[i]] = 1
        token_scores[i, max(rl[i] - 1, 0)] = float(scores[i])
    batch = DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": responses,
            "attention_mask": attention,
            "response_mask": response_mask,
            "token_level_scores": token_scores,
            "token_level_rewards": token_scores.clone(),
            "advantages": torch.zeros_like(token_scores),
            "returns": torch.zeros_like(token_scores),
        },
        meta_info={"global_token_num": [int(attention[i].sum()) for i in range(n)]},
    )
    metrics: dict[str, Any] = {"training/global_step": spec["step"], "training/epoch": 0}
    metrics.update(compute_data_metrics(batch=batch, use_critic=False))
    metrics.update(compute_timing_metrics(batch=batch, timing_raw=dict(spec["timing"])))
    metrics.update(
        compute_throughout_metrics(batch=batch, timing_raw=dict(spec["timing"]), n_gpus=int(spec["n_gpus"]))
    )
    metrics.update(spec.get("actor") or {})
    val = spec.get("val")
    if val:
        from verl.trainer.ppo.v1.trainer_base import PPOTrainer

        srcs = list(val["data_sources"])
        uids = [f"u{i}" for i in range(len(srcs))]
        infos = {"acc": list(map(float, val["acc"])), "score": list(map(float, val["acc"]))}
        metrics.update(PPOTrainer._val_metrics_update(None, np.array(srcs, dtype=object), uids, infos, []))
    return metrics


def filelog_check(
    path: str, steps: list[dict[str, Any]], project: str = "rlscaling", experiment: str = "run"
) -> dict[str, Any]:
    """Write `steps` through verl's Tracking(file) to `path` (see the module doc)."""
    os.environ["VERL_FILE_LOGGER_PATH"] = str(path)
    from verl.utils.tracking import Tracking

    tracking = Tracking(project_name=project, experiment_name=experiment, default_backend=["file"], config={})
    logged = []
    for spec in steps:
        metrics = _step_metrics(spec) if "prompt_lengths" in spec else dict(spec["data"])
        tracking.log(data=metrics, step=int(spec["step"]))
        logged.append(sorted(metrics))
    tracking.finish()
    return {"path": str(path), "keys": logged}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] not in ("compose", "reward", "filelog"):
        print(
            "usage: python tests/verl_harness.py {compose,reward,filelog} REQUEST.json ANSWER.json",
            file=sys.stderr,
        )
        return 2
    cmd, req_path, ans_path = argv
    req = json.loads(Path(req_path).read_text())
    try:
        if cmd == "compose":
            if req.get("make_model"):
                make_tiny_model(req["make_model"])
            default = _compose(["actor_rollout_ref.rollout.name=vllm"])
            answer: Any = {name: compose_check(ovr, default) for name, ovr in req["sets"].items()}
        elif cmd == "reward":
            if req.get("make_model"):
                make_tiny_model(req["make_model"])
            answer = {
                name: reward_check(case["overrides"], case["samples"]) for name, case in req["cases"].items()
            }
        else:
            answer = filelog_check(
                req["path"], req["steps"], req.get("project", "rlscaling"), req.get("experiment", "run")
            )
    except Exception:
        traceback.print_exc()
        return 1
    Path(ans_path).write_text(json.dumps(answer, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
