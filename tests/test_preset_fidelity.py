"""The reproduction presets train as the public studies did: the verl overrides each preset generates
equal the public launch scripts' values on every row of the fidelity tables in docs/guides/fidelity.md.
A row either holds the public value or is listed with our value and the reason it differs; a change
that drifts from either fails here.

Public sources (read from the repositories, never guessed):
- Tan et al. 2025 (arXiv 2509.25300), tanzelin430/Mathematical-Reasoning-RL-Scaling-Law,
  scripts/train/run_grpo_qwen2.5_{0.5b,1.5b,3B,7b,14B,32B,72B}_math_full_cl.sh. The 7B values are the
  full-curriculum run's script (commit ac56942: 8 GPUs, 1 epoch of the 53,904 problems); the script at
  HEAD is the tau = 100 data-reuse run (512 sampled problems x 100 epochs on 4 GPUs), otherwise the same.
  Their verl is a vendored 0.3.1.dev fork (Reasoning360); values the scripts leave unset are its
  defaults (verl/trainer/config/ppo_trainer.yaml in that repo).
- josancamon19/rl-scaling-laws, train.sh at c764728 (named train_qwen3_gsm8k_grpo.sh until 6a9793a),
  the script that produced its results (the later train.py, 963188f, came after them), on verl 0.5.0
  (uv.lock); values it leaves unset are verl 0.5.0's defaults.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

import rlscaling.config as rc
import verl_harness
from rlscaling.train.verl import overrides as O
from rlscaling.train.verl import settings

from test_verl_overrides import preset_config, segment

A = "actor_rollout_ref.actor"
R = "actor_rollout_ref.rollout"

# ---------------------------------------------------------------------------------------------------
# Tan et al.: 7B (run_grpo_qwen2.5_7b_math_full_cl.sh). key -> the public value, as our override text.
TAN_7B = {
    "algorithm.adv_estimator": "grpo",
    "algorithm.use_kl_in_reward": "false",
    "algorithm.norm_adv_by_std_in_grpo": "true",  # their verl's default
    "data.train_batch_size": "512",
    "data.max_prompt_length": "2048",
    "data.max_response_length": "4096",
    "data.filter_overlong_prompts": "true",
    "data.shuffle": "false",
    f"{R}.n": "8",
    f"{A}.ppo_mini_batch_size": "128",
    f"{A}.ppo_epochs": "1",  # default
    f"{A}.optim.lr": "1e-06",
    f"{A}.optim.lr_warmup_steps": "0",
    f"{A}.optim.lr_scheduler_type": "constant",  # optim.warmup_style=constant in their verl
    f"{A}.optim.weight_decay": "0.1",
    f"{A}.optim.clip_grad": "1.0",  # actor.grad_clip=1.0 (0.9.1's FSDP engine clips with optim.clip_grad)
    f"{A}.use_kl_loss": "true",
    f"{A}.kl_loss_coef": "0.001",
    f"{A}.kl_loss_type": "low_var_kl",
    f"{A}.clip_ratio_low": "0.2",
    f"{A}.clip_ratio_high": "0.2",
    f"{A}.entropy_coeff": "0.0",
    f"{A}.loss_agg_mode": "token-mean",  # default
    f"{A}.shuffle": "false",  # default
    f"{A}.use_dynamic_bsz": "true",
    f"{A}.ppo_max_token_len_per_gpu": "73728",  # (2048 + 4096) x 12
    f"{R}.log_prob_max_token_len_per_gpu": "86016",  # (2048 + 4096) x 14
    f"{A}.fsdp_config.param_offload": "false",
    f"{A}.fsdp_config.optimizer_offload": "false",
    "actor_rollout_ref.ref.fsdp_config.param_offload": "false",
    "actor_rollout_ref.model.use_remove_padding": "true",
    "actor_rollout_ref.model.enable_gradient_checkpointing": "true",
    f"{R}.name": "vllm",
    f"{R}.temperature": "1.0",
    f"{R}.tensor_model_parallel_size": "1",
    f"{R}.gpu_memory_utilization": "0.7",
    f"{R}.max_num_seqs": "64",
    f"{R}.max_num_batched_tokens": "8192",  # default
    f"{R}.val_kwargs.temperature": "0.7",
    f"{R}.val_kwargs.n": "1",
    f"{R}.val_kwargs.do_sample": "true",
    f"{R}.val_kwargs.top_p": "1.0",
    f"{R}.val_kwargs.top_k": "-1",
    "trainer.n_gpus_per_node": "8",
    "trainer.nnodes": "1",
    "trainer.test_freq": "1",
    "trainer.val_before_train": "true",
}

# rows where we differ on purpose: key -> (public, ours); the reasons are in the fidelity tables
TAN_DIFFERENT = {
    "data.truncation": ("right", "error"),  # overlong prompts are filtered first: never applies
    "trainer.total_epochs": ("1", str(O.TOTAL_EPOCHS)),  # 105 steps end the run (total_training_steps)
    "trainer.save_freq": ("10", "5"),  # resumable segments of 5 steps
    "trainer.max_actor_ckpt_to_keep": ("1", "2"),
    "trainer.resume_mode": ("auto", "disable"),  # first segment; later ones resume_path
    "trainer.logger": ("[console,wandb]", "[console,file]"),
}

# public values that equal verl 0.9.1's defaults, so we leave them unset (checked against verl's config)
TAN_VERL_DEFAULTS = {
    f"{R}.top_p": 1.0,
    f"{R}.top_k": -1,
    f"{R}.enforce_eager": False,
    f"{A}.ulysses_sequence_parallel_size": 1,
    f"{A}.clip_ratio_c": 3.0,
    f"{A}.optim.min_lr_ratio": 0.0,
    f"{A}.optim.betas": [0.9, 0.999],
    f"{A}.fsdp_config.fsdp_size": -1,
    "trainer.critic_warmup": 0,
    "trainer.balance_batch": True,
}

# every size: (GPUs per node, nodes, rollout TP, vLLM memory, actor tokens/GPU, rollout log-prob tokens/GPU)
TAN_SIZES_PUBLIC = {
    "0.5B": (4, 1, 1, 0.65, 73728, 86016),
    "1.5B": (4, 1, 1, 0.65, 73728, 86016),
    "3B": (4, 1, 1, 0.6, 49152, 61440),
    "7B": (8, 1, 1, 0.7, 73728, 86016),
    "14B": (8, 1, 1, 0.65, 49152, 61440),
}
# 32B / 72B: the repo's scripts are test runs at 32 / 256 prompts per step (the paper's curves are 105
# steps of 512); we keep 512 x 8 and their node counts, TP and memory fractions, with offloading in place
# of Ulysses SP 8 (32B) and the 72B script's SGLang TP 8 x PP 4 with micro-batches of 1
TAN_SIZES_OURS = {
    "32B": (8, 2, 8, 0.8, 16384, None),
    "72B": (8, 4, 8, 0.7, 16384, None),
}

# ---------------------------------------------------------------------------------------------------
# Qwen3 GSM8K (train.sh @ c764728 + verl 0.5.0 defaults); 4B (every size has the same settings)
QWEN3 = {
    "algorithm.adv_estimator": "grpo",
    "algorithm.use_kl_in_reward": "false",
    "algorithm.norm_adv_by_std_in_grpo": "true",  # 0.5.0 default
    "data.train_batch_size": "512",
    "data.max_prompt_length": "512",
    "data.max_response_length": "512",
    "data.shuffle": "true",  # 0.5.0 default: a new seeded order every epoch
    "data.truncation": "error",  # 0.5.0 default
    f"{R}.n": "3",
    f"{A}.ppo_mini_batch_size": "512",
    f"{A}.ppo_epochs": "1",
    f"{A}.optim.lr": "1e-06",
    f"{A}.optim.lr_warmup_steps": "0",  # 0.5.0: -1 with ratio 0.0, i.e. none
    f"{A}.optim.lr_scheduler_type": "constant",  # 0.5.0 warmup_style=constant
    f"{A}.optim.weight_decay": "0.01",  # 0.5.0 default
    f"{A}.optim.clip_grad": "1.0",  # 0.5.0 actor.grad_clip default
    f"{A}.use_kl_loss": "true",
    f"{A}.kl_loss_coef": "0.001",
    f"{A}.kl_loss_type": "low_var_kl",
    f"{A}.clip_ratio_low": "0.2",  # 0.5.0 default
    f"{A}.clip_ratio_high": "0.2",  # 0.5.0 default
    f"{A}.entropy_coeff": "0.0",
    f"{A}.loss_agg_mode": "token-mean",  # 0.5.0 default
    f"{A}.shuffle": "false",
    f"{A}.use_dynamic_bsz": "false",  # 0.5.0 default
    f"{A}.ppo_micro_batch_size_per_gpu": "64",
    f"{R}.log_prob_micro_batch_size_per_gpu": "64",
    "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": "64",
    f"{A}.fsdp_config.param_offload": "false",
    f"{A}.fsdp_config.optimizer_offload": "false",
    "actor_rollout_ref.model.enable_gradient_checkpointing": "true",
    f"{R}.name": "vllm",
    f"{R}.temperature": "1.0",
    f"{R}.tensor_model_parallel_size": "1",
    f"{R}.gpu_memory_utilization": "0.3",
    f"{R}.max_num_seqs": "1024",  # 0.5.0 default
    f"{R}.max_num_batched_tokens": "8192",  # 0.5.0 default
    f"{R}.val_kwargs.temperature": "0.0",  # 0.5.0 default: greedy validation
    f"{R}.val_kwargs.n": "1",
    f"{R}.val_kwargs.do_sample": "false",
    f"{R}.val_kwargs.top_p": "1.0",
    f"{R}.val_kwargs.top_k": "-1",
    "trainer.n_gpus_per_node": "8",
    "trainer.nnodes": "1",
    "trainer.val_before_train": "true",  # 0.5.0 default
}

QWEN3_DIFFERENT = {
    "data.filter_overlong_prompts": ("false", "true"),  # no GSM8K prompt reaches 512 tokens
    "actor_rollout_ref.model.use_remove_padding": ("false", "true"),  # same logits, no padding
    "trainer.test_freq": ("4", "1"),  # their 14B validated every step too
    "trainer.total_epochs": ("4", str(O.TOTAL_EPOCHS)),  # 56 steps = 4 x 14 end the run
    "trainer.save_freq": ("50", "8"),
    "trainer.resume_mode": ("disable", "disable"),  # first segment; later ones resume_path
    "trainer.logger": ("[console,wandb]", "[console,file]"),
    "data.seed": ("1", "0"),  # 0.5.0's sampler seed default 1; ours the run's seed
}

QWEN3_VERL_DEFAULTS = {
    f"{R}.top_p": 1.0,
    f"{R}.top_k": -1,
    f"{R}.enforce_eager": False,  # train.sh sets False explicitly
    f"{R}.dtype": "bfloat16",  # train.sh sets bfloat16 explicitly
    f"{A}.clip_ratio_c": 3.0,
    f"{A}.optim.betas": [0.9, 0.999],
    "trainer.critic_warmup": 0,
}


def generated(name: str, size: str, tmp_path: Path, monkeypatch, *overlays: str) -> dict[str, str]:
    cfg = preset_config(name, tmp_path, monkeypatch, *overlays)
    run = next(r for r in rc.runs(cfg) if r.size == size)
    return O.as_dict(O.build(segment(settings.train_params(cfg, run))))


def check_rows(ov: dict[str, str], public: dict[str, str], different: dict[str, tuple[str, str]]) -> None:
    wrong = {k: (ov.get(k), want) for k, want in public.items() if ov.get(k) != want}
    assert not wrong, f"(ours, public) where the preset drifted from the public script: {wrong}"
    ours = {k: (ov.get(k), o) for k, (_, o) in different.items() if ov.get(k) != o}
    assert not ours, f"(generated, documented) where a documented difference changed: {ours}"


@pytest.mark.parametrize("overlays", [(), ("tan2025-qwen25-guru-instruct",)], ids=["base", "instruct"])
def test_tan_7b_overrides_equal_the_paper_script(tmp_path, monkeypatch, overlays):
    ov = generated("tan2025-qwen25-guru", "7B", tmp_path, monkeypatch, *overlays)
    check_rows(ov, TAN_7B, TAN_DIFFERENT)
    assert not set(TAN_VERL_DEFAULTS) & set(ov), sorted(set(TAN_VERL_DEFAULTS) & set(ov))


@pytest.mark.parametrize("size", [*TAN_SIZES_PUBLIC, *TAN_SIZES_OURS])
def test_tan_hardware_and_batching_per_size(tmp_path, monkeypatch, size):
    ov = generated("tan2025-qwen25-guru", size, tmp_path, monkeypatch)
    gpus, nodes, tp, mem, actor, logprob = {**TAN_SIZES_PUBLIC, **TAN_SIZES_OURS}[size]
    assert ov["trainer.n_gpus_per_node"] == str(gpus) and ov["trainer.nnodes"] == str(nodes)
    assert ov[f"{R}.tensor_model_parallel_size"] == str(tp)
    assert ov[f"{R}.gpu_memory_utilization"] == str(mem)
    assert ov[f"{A}.ppo_max_token_len_per_gpu"] == str(actor)
    assert ov.get(f"{R}.log_prob_max_token_len_per_gpu") == (str(logprob) if logprob else None)
    # the step itself is the paper's at every size
    for key in ("data.train_batch_size", f"{R}.n", f"{A}.ppo_mini_batch_size", f"{A}.optim.weight_decay"):
        assert ov[key] == TAN_7B[key], (size, key)
    assert ov[f"{R}.val_kwargs.temperature"] == "0.7" and ov[f"{R}.val_kwargs.do_sample"] == "true"


def test_tan_evaluation_samples_as_the_papers_validation(tmp_path, monkeypatch):
    cfg = preset_config("tan2025-qwen25-guru", tmp_path, monkeypatch)
    ev, tr = cfg["evaluation"], cfg["training"]
    val = tr["verl"]["validation"]
    assert ev["greedy"] is False and val["do_sample"] is True
    assert ev["temperature"] == val["temperature"] == 0.7
    assert ev["top_p"] == val["top_p"] == 1.0
    assert ev["max_response_tokens"] == tr["max_response_tokens"] == 4096
    assert "heldout" in ev["benchmarks"] and cfg["fit"]["bench"] == "heldout"


def test_qwen3_overrides_equal_the_studys_script(tmp_path, monkeypatch):
    ov = generated("qwen3-gsm8k", "4B", tmp_path, monkeypatch)
    check_rows(ov, QWEN3, QWEN3_DIFFERENT)
    assert not set(QWEN3_VERL_DEFAULTS) & set(ov), sorted(set(QWEN3_VERL_DEFAULTS) & set(ov))


@pytest.mark.parametrize("size", ["0.6B", "1.7B", "4B", "8B", "14B"])
def test_qwen3_every_size_on_one_8_gpu_node_with_tp_1(tmp_path, monkeypatch, size):
    ov = generated("qwen3-gsm8k", size, tmp_path, monkeypatch)
    for key in (
        "trainer.n_gpus_per_node",
        "trainer.nnodes",
        f"{R}.tensor_model_parallel_size",
        f"{R}.gpu_memory_utilization",
        f"{A}.ppo_micro_batch_size_per_gpu",
    ):
        assert ov[key] == QWEN3[key], (size, key)


def test_qwen3_56_steps_are_4_epochs_of_14_full_batches():
    # verl drops the last partial batch: 7,473 GSM8K training problems give 14 batches of 512 per epoch
    cfg = yaml.safe_load((Path(__file__).parents[1] / "workflow/presets/qwen3-gsm8k.yaml").read_text())
    assert cfg["training"]["total_steps"] == 4 * (7473 // cfg["training"]["prompts_per_step"])


def test_qwen3_evaluation_samples_as_the_studys_validation(tmp_path, monkeypatch):
    cfg = preset_config("qwen3-gsm8k", tmp_path, monkeypatch)
    ev, tr = cfg["evaluation"], cfg["training"]
    val = tr["verl"]["validation"]
    assert ev["greedy"] is True and val["do_sample"] is False and val["temperature"] == 0.0
    assert ev["n_samples"] == val["n"] == 1
    assert ev["max_response_tokens"] == tr["max_response_tokens"] == 512


@pytest.fixture(scope="module")
def verl_defaults():
    """verl 0.9.1's own flattened trainer config, from the engines environment."""
    python = verl_harness.verl_python()
    if python is None:
        pytest.skip("no verl environment (scripts/install_engines_venv.sh)")
    where = subprocess.run(
        [str(python), "-c", "import verl, os, json; print(json.dumps(os.path.dirname(verl.__file__)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(json.loads(where)) / "trainer" / "config" / "_generated_ppo_trainer.yaml"
    return yaml.safe_load(path.read_text())


def lookup(cfg: dict, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


@pytest.mark.verl
@pytest.mark.parametrize(
    "rows", [TAN_VERL_DEFAULTS, QWEN3_VERL_DEFAULTS], ids=["tan2025-qwen25-guru", "qwen3-gsm8k"]
)
def test_public_values_we_leave_unset_are_verl_091_defaults(verl_defaults, rows):
    wrong = {k: (lookup(verl_defaults, k), v) for k, v in rows.items() if lookup(verl_defaults, k) != v}
    assert not wrong, f"(verl 0.9.1 default, public value): {wrong}"


# ---------------------------------------------------------------------------------------------------
# the settings the tables needed (training.verl): unset, they change no study's overrides


NEW_KEYS = (
    f"{A}.optim.weight_decay",
    f"{A}.optim.clip_grad",
    f"{R}.max_num_seqs",
    f"{R}.val_kwargs.top_k",
    f"{R}.log_prob_max_token_len_per_gpu",
)


def test_unset_pins_leave_verls_defaults_and_the_curriculum_order():
    from test_verl_overrides import default_verl_params

    ov = O.as_dict(O.build(segment(default_verl_params())))
    assert not set(NEW_KEYS) & set(ov)
    assert ov["data.shuffle"] == "false"
    assert ov[f"{R}.val_kwargs.do_sample"] == "false" and ov[f"{R}.val_kwargs.n"] == "1"


def test_pins_become_their_overrides():
    from test_verl_overrides import default_verl_params

    p = default_verl_params()
    p["verl"].update(
        weight_decay=0.1,
        grad_clip=0.5,
        max_num_seqs=64,
        log_prob_max_token_len_per_gpu=40000,
        data_shuffle=True,
        validation={"n": 4, "temperature": 0.7, "top_p": 1.0, "top_k": -1, "do_sample": True},
    )
    ov = O.as_dict(O.build(segment(p)))
    assert [ov[k] for k in NEW_KEYS] == ["0.1", "0.5", "64", "-1", "40000"]
    assert "actor_rollout_ref.ref.log_prob_max_token_len_per_gpu" not in ov  # follows the actor's
    assert ov["data.shuffle"] == "true"
    assert ov[f"{R}.val_kwargs.do_sample"] == "true" and ov[f"{R}.val_kwargs.n"] == "4"


def test_log_prob_budget_applies_only_under_dynamic_batch_size():
    from test_verl_overrides import default_verl_params

    p = default_verl_params()
    p["verl"].update(use_dynamic_bsz=False, log_prob_max_token_len_per_gpu=40000)
    assert f"{R}.log_prob_max_token_len_per_gpu" not in O.as_dict(O.build(segment(p)))


def test_do_sample_false_is_greedy_with_one_sample_whatever_the_temperature():
    from test_verl_overrides import default_verl_params

    p = default_verl_params()
    p["verl"]["validation"] = {"n": 4, "temperature": 0.7, "top_p": 1.0, "top_k": None, "do_sample": False}
    ov = O.as_dict(O.build(segment(p)))
    assert ov[f"{R}.val_kwargs.do_sample"] == "false" and ov[f"{R}.val_kwargs.n"] == "1"


def test_sampling_at_temperature_zero_is_refused():
    from rlscaling.errors import UserError
    from test_verl_overrides import default_verl_params

    p = default_verl_params()
    p["verl"]["validation"] = {"n": 1, "temperature": 0.0, "top_p": 1.0, "top_k": None, "do_sample": True}
    with pytest.raises(UserError, match="do_sample"):
        O.build(segment(p))


def test_the_schema_accepts_the_pins_and_refuses_bad_values():
    from rlscaling.errors import UserError

    ok = settings.resolve(
        {
            "weight_decay": 0.1,
            "grad_clip": 1.0,
            "max_num_seqs": 64,
            "data_shuffle": True,
            "log_prob_max_token_len_per_gpu": 8192,
            "validation": {"top_k": -1, "do_sample": True, "temperature": 0.7},
        }
    )
    assert ok["validation"] == {"n": 1, "temperature": 0.7, "top_p": 1.0, "top_k": -1, "do_sample": True}
    for bad in (
        {"weight_decay": -0.1},
        {"grad_clip": 0},
        {"max_num_seqs": 0},
        {"data_shuffle": "yes"},
        {"validation": {"top_k": -2}},
        {"validation": {"do_sample": "true"}},
    ):
        with pytest.raises(UserError):
            settings.resolve(bad)
